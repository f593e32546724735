"""ONNX -> full-integer int8 TFLite: onnx2tf for ONNX -> TensorFlow, then one calibrated int8 conversion.

Both run in a child process of our own interpreter (`sys.executable -m mcu_toolkit.export.tf_worker`),
never an `onnx2tf` found on PATH, which may belong to another environment. The child keeps TensorFlow's
noise and memory out of the user's way, starts importing while the parent still works, and is killed
with its whole process group if we are interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import ToolchainFailed
from ..lifetime import die_with_parent

# TF/oneDNN/hash/thread settings that make the conversion byte-identical run to run.
_DETERMINISTIC_ENV = {
    "PYTHONHASHSEED": "0",
    "TF_DETERMINISTIC_OPS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "CUDA_VISIBLE_DEVICES": "-1",
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
}


def wait_killable(proc: subprocess.Popen) -> int:
    """Wait for a child started with start_new_session=True; if we are interrupted or terminated, its whole
    process group goes too (onnx2tf and TensorFlow would otherwise run on as orphans)."""
    try:
        return proc.wait()
    except BaseException:
        kill_group(proc)
        raise


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def simplify_onnx(onnx_bytes: bytes, work: Path) -> bytes:
    """onnxsim three times, as onnx2tf does, but in this process (torch is already loaded here, which
    onnxsim imports): onnx2tf runs the `onnxsim` found on PATH, so a venv that was not activated
    silently skipped it and gave another TFLite (at the time, 25,496 B instead of 25,528 B)."""
    import io

    import onnxsim

    from ..verify.tflm import captured_native_stderr

    path = work / "model_simplified.onnx"
    path.write_bytes(onnx_bytes)
    argv = sys.argv
    try:
        with contextlib.redirect_stdout(io.StringIO()), captured_native_stderr():  # its report table
            for _ in range(3):
                sys.argv = ["onnxsim", str(path), str(path)]
                try:
                    onnxsim.main()
                except SystemExit as e:
                    if e.code not in (None, 0):
                        raise ToolchainFailed(f"onnxsim failed (exit {e.code})")
    finally:
        sys.argv = argv
    return path.read_bytes()


class TfWorker:
    """The TensorFlow child: started early (it spends seconds importing), given one job, then gone."""

    def __init__(self, work: Path, verbose: bool = False):
        self.work, self.verbose, self.out = work, verbose, work / "tf"
        self.calibration: np.ndarray | None = None  # the parent calibrates half of it (export/calibration.py)
        self.notes: list[str] = []  # what the user should know about how the conversion ran
        self.log = open(work / "tf_worker.log", "w")
        # TMPDIR: whatever TensorFlow leaves behind goes with the work folder. PYTHONPATH: this very
        # package, also when it runs from a checkout (python cli.py) rather than an install.
        pkg_root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, **_DETERMINISTIC_ENV, "TMPDIR": str(work), "PYTHONPATH": path}
        self.proc = subprocess.Popen([sys.executable, "-m", "mcu_toolkit.export.tf_worker"], stdin=subprocess.PIPE,
                                     stdout=None if verbose else self.log,
                                     stderr=None if verbose else subprocess.STDOUT,
                                     env=env, cwd=work, start_new_session=True, text=True,
                                     preexec_fn=functools.partial(die_with_parent, os.getpid()))

    def __enter__(self) -> "TfWorker":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            kill_group(self.proc)
        self.log.close()

    def submit(self, onnx_bytes: bytes, calibration_nhwc: np.ndarray, input_name: str) -> None:
        """Hand the child its one job and return: the parent has other work while TensorFlow runs."""
        if calibration_nhwc.dtype != np.float32 or calibration_nhwc.ndim != 4:
            raise ValueError("calibration data must be float32 NHWC")
        shutil.rmtree(self.out, ignore_errors=True)  # no earlier job's files: the child polls for names
        (self.work / "model.onnx").write_bytes(simplify_onnx(onnx_bytes, self.work))
        np.save(self.work / "calibration_nhwc.npy", calibration_nhwc)
        self.calibration = calibration_nhwc
        job = {"onnx": str(self.work / "model.onnx"), "calibration": str(self.work / "calibration_nhwc.npy"),
               "input": input_name, "out": str(self.out)}
        with contextlib.suppress(BrokenPipeError):  # a child that died early is reported when waited for
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.close()

    def int8(self) -> bytes:
        """The full-int8 TFLite (int8 input and output), as soon as the child has written it; it goes on
        with the float TFLite meanwhile. While waiting, this process calibrates its half of the windows."""
        from .calibration import help_child

        path = self.out / "model_full_integer_quant.tflite"
        settled = self.calibration is None
        while not path.is_file():
            if not settled:
                why = help_child(self.out, self.calibration)
                settled = why is not None
                if why:
                    self.notes.append(f"the calibration ran in the TensorFlow child alone ({why[:160]}): "
                                      "slower, the same model")
            if self.proc.poll() is not None and not path.is_file():
                self._failed(self.proc.returncode)
            time.sleep(0.01)
        return path.read_bytes()

    def float32(self) -> bytes:
        """The float TFLite, once the child has finished."""
        code = wait_killable(self.proc)
        path = self.out / "model_float32.tflite"
        if code != 0 or not path.is_file():
            self._failed(code)
        return path.read_bytes()

    def _failed(self, code: int):
        raise ToolchainFailed(f"onnx2tf/TensorFlow failed (exit {code}){self._tail()}; rerun with --verbose")

    def _tail(self) -> str:
        if self.verbose:
            return ""
        self.log.flush()
        lines = [ln.strip() for ln in (self.work / "tf_worker.log").read_text(errors="replace").splitlines()
                 if ln.strip()]
        return f": {lines[-1][:200]}" if lines else ""


def check_float_tflite(tflite_float: bytes, onnx_bytes: bytes, inputs_nchw: np.ndarray, atol: float = 1e-3) -> float:
    """The float32 TFLite (converted from onnx2tf's Keras model) against onnxruntime: catches layout mistakes
    in onnx2tf's translation (it can mistranslate transposes when two dimensions have the same size)."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from ..verify.tflm import captured_native_stderr

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    with captured_native_stderr():  # LiteRT announces its XNNPACK delegate on stderr
        it = Interpreter(model_content=tflite_float)
        it.allocate_tensors()
    name = sess.get_inputs()[0].name
    worst = 0.0
    for x in inputs_nchw:
        ref = sess.run(None, {name: x[None].astype(np.float32)})[0].ravel()
        it.set_tensor(it.get_input_details()[0]["index"], x.transpose(1, 2, 0)[None].astype(np.float32))
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"]).ravel()
        worst = max(worst, float(np.max(np.abs(ref - got))))
    if worst > atol:
        raise ToolchainFailed(f"onnx2tf's float TFLite disagrees with ONNX: max abs error {worst:.3g} > {atol}")
    return worst
