"""ONNX -> full-integer int8 TFLite with onnx2tf, run as a subprocess.

onnx2tf is loud and imports TensorFlow; a child process keeps both out of the user's way
and out of our memory. Calibration data is fed explicitly with -cind (onnx2tf #222: without it
calibration silently falls back to image data).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..errors import ToolkitError

# TF/oneDNN/hash settings that make the float calibration pass repeatable.
_DETERMINISTIC_ENV = {
    "PYTHONHASHSEED": "0",
    "TF_DETERMINISTIC_OPS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "CUDA_VISIBLE_DEVICES": "-1",
    "OMP_NUM_THREADS": "1",
}


def onnx2tf_command(onnx_path: Path, out_dir: Path, cal_npy: Path, input_name: str) -> list[str]:
    exe = shutil.which("onnx2tf")
    base = [exe] if exe else [sys.executable, "-c", "import onnx2tf.onnx2tf as m; m.main()"]
    return base + [
        "-i", str(onnx_path), "-o", str(out_dir),
        "-oiqt", "-qt", "per-channel",
        "-cind", input_name, str(cal_npy), "[[[[0.]]]]", "[[[[1.]]]]",
        "-b", "1", "-n",
    ]


def run_killable(cmd: list[str], **popen_kwargs) -> int:
    """Run a child in its own process group; if we are interrupted or terminated, the whole group goes too
    (onnx2tf would otherwise keep running as an orphan)."""
    proc = subprocess.Popen(cmd, start_new_session=True, **popen_kwargs)
    try:
        return proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def convert_to_int8(onnx_path: Path, calibration_nhwc: np.ndarray, work: Path, input_name: str,
                    verbose: bool = False) -> tuple[bytes, bytes]:
    """Bytes of onnx2tf's *_full_integer_quant.tflite (int8 input and output) and *_float32.tflite."""
    if calibration_nhwc.dtype != np.float32 or calibration_nhwc.ndim != 4:
        raise ValueError("calibration data must be float32 NHWC")
    cal = work / "calibration_nhwc.npy"
    np.save(cal, calibration_nhwc)
    out_dir = work / "tf"
    cmd = onnx2tf_command(onnx_path, out_dir, cal, input_name)
    # TMPDIR: whatever onnx2tf and TensorFlow leave behind goes with the work folder
    env = {**os.environ, **_DETERMINISTIC_ENV, "TMPDIR": str(work)}
    log = work / "onnx2tf.log"
    with open(log, "w") as f:
        returncode = run_killable(cmd, env=env, cwd=work, stdout=None if verbose else f,
                                  stderr=None if verbose else subprocess.STDOUT)
    tfl = out_dir / f"{onnx_path.stem}_full_integer_quant.tflite"
    tfl_float = out_dir / f"{onnx_path.stem}_float32.tflite"
    if returncode != 0 or not tfl.is_file() or not tfl_float.is_file():
        tail = ""
        if not verbose:
            lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            tail = f": {lines[-1][:200]}" if lines else ""
        raise ToolkitError(f"onnx2tf failed (exit {returncode}){tail}; rerun with --verbose", exit_code=3)
    return tfl.read_bytes(), tfl_float.read_bytes()


def check_float_tflite(tflite_float: bytes, onnx_bytes: bytes, inputs_nchw: np.ndarray, atol: float = 1e-3) -> float:
    """onnx2tf's float32 TFLite against onnxruntime: catches layout mistakes in the conversion
    (it can mistranslate transposes when two dimensions have the same size)."""
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
        raise ToolkitError(f"onnx2tf's float TFLite disagrees with ONNX: max abs error {worst:.3g} > {atol}",
                           exit_code=3)
    return worst
