"""The chain: `convert()` reads as the algorithm, one named call per stage, each returning a small dataclass.
The package docstring (convert/__init__.py) says what runs where and when."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import resources
from ..bundle import Bundle, Report, earlier_bundle_or_empty
from ..environ import environ_set
from ..export.tflite import TfWorker
from ..lifetime import child_group
from ..outputs import check_dir_target
from ..progress import Progress
from .. import spec
from ..spec import SAMPLE_RATE, WINDOW_DEFAULT_S
from ..verify.deployed import eval_imports
from ..verify.pool import EvalPool
from .proof import prove_on_tflm, tflm_eta_s
from .report import bundle_files, make_report
from .stages import (Quantized, calibration_features, check_inputs, check_options, export_onnx, quantize_eta_s,
                     while_quantizing)

STEPS = 5


class Timings(dict):
    """Seconds per stage, as report.json's timings_s."""

    def __init__(self):
        super().__init__()
        self.t0 = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str):
        t = time.perf_counter()
        yield
        self[name] = round(time.perf_counter() - t, 2)

    def total(self) -> dict:
        return {**self, "total": round(time.perf_counter() - self.t0, 2)}


@dataclass
class ConvertResult:
    out: Path
    report: Report
    passed: bool
    messages: list[str] = field(default_factory=list)


def check_out(out, force: bool, checkpoint, calibration, eval_audio) -> Path:
    """--out: replaced only with --force, only an earlier bundle (or an empty folder), and never an input."""
    inputs = {"the checkpoint": checkpoint or resources.default_checkpoint(),
              "the --calibration folder": calibration or resources.default_calibration_dir(),
              "the --eval folder": eval_audio or resources.default_eval_dir()}
    return check_dir_target(out, force, inputs=inputs, ours=earlier_bundle_or_empty, what="an earlier convert bundle")


def _compiler_notes() -> list[str]:
    """Said on the console, not in the report: the bundle is the same with or without a C compiler."""
    from ..verify import native

    return [native.NO_COMPILER] if native.compiler() is None else []


def convert(checkpoint: str | os.PathLike | None = None, *, calibration: str | os.PathLike | None = None,
            eval_audio: str | os.PathLike | None = None, out: str | os.PathLike = "mcu_out",
            window_seconds: float = WINDOW_DEFAULT_S, frontend: str = "fixed", force: bool = False,
            min_ccc: float | None = None, verbose: bool = False, progress: bool = True,
            jobs: int = 1) -> ConvertResult:
    """Run the whole chain and write the bundle atomically into `out`.

    jobs > 1 starts that many spawned processes while TensorFlow quantises; they run the evaluation beside
    this process. A script calling this must then guard its top level with `if __name__ == "__main__":`, as
    multiprocessing requires."""
    t = Timings()
    out = check_out(out, force, checkpoint, calibration, eval_audio)
    check_options(window_seconds, frontend)
    # The TensorFlow child starts first: its seconds of importing overlap everything up to the ONNX export.
    with child_group(), contextlib.ExitStack() as stack:  # the run's children go last, gcc and cc1 included
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="mcu_toolkit_work_"))
        worker = stack.enter_context(TfWorker(Path(work), verbose))
        # native code's TMPDIR: onnxruntime leaves a session file (.ses) there when first imported, and it
        # belongs with the work folder, which goes at the end
        stack.enter_context(environ_set(TMPDIR=work))
        import torch

        from ..export.tflite import check_float_tflite

        torch.set_num_threads(1)  # a 10 k-parameter model: more threads only spin against the TensorFlow child
        inp = check_inputs(checkpoint, calibration, eval_audio, window_seconds, frontend)
        p = Progress(progress, STEPS)
        p.step(f"{inp.label}: {inp.model.trainable_parameters():,} params; audio: {len(inp.cal)} calibration, "
               f"{len(inp.ev)} evaluation files")
        for note in inp.messages + _compiler_notes():
            p.note(note)
        with t.stage("audio_and_frontend"):
            feats = calibration_features(inp)
        t["audio_and_frontend"] = round(time.perf_counter() - t.t0, 2)  # includes loading the inputs

        p.step(f"exporting the trunk to ONNX for a {inp.window / SAMPLE_RATE:g} s window ({inp.frames} frames)")
        with t.stage("onnx"):
            ex = export_onnx(inp, feats)
        p.step(f"onnx2tf + one int8 conversion, calibrated on {len(feats)} windows "
               f"(~{quantize_eta_s(len(feats), inp.frames):.0f} s)")
        with t.stage("onnx2tf"):
            worker.submit(ex.onnx, feats.transpose(0, 2, 3, 1).copy(), spec.ONNX_INPUT_NAME)
            # the evaluation's workers start now, while this process waits for TensorFlow anyway
            pool = stack.enter_context(EvalPool(jobs, eval_imports)) if jobs > 1 else None
            while_quantizing(inp, ex, feats)
            p.release()  # the float model passed its checks: the steps so far can show
            tflite = worker.int8()
            inp.messages.extend(worker.notes)
        p.step(f"proving the model on TFLM: ops, arena, evaluation (~{tflm_eta_s(inp):.0f} s)")
        with t.stage("tflm"):
            pr = prove_on_tflm(tflite, inp, feats, p, pool)
        with t.stage("float_tflite"):  # the child wrote it while TFLM ran
            tflite_float = worker.float32()
            q = Quantized(tflite, tflite_float, check_float_tflite(tflite_float, ex.onnx, feats[:4]))

    p.step(f"writing bundle to {out}")
    report = make_report(inp, feats, ex, q, pr, min_ccc, t.total())
    Bundle.write(out, bundle_files(inp, ex, q, pr), report, force)
    return ConvertResult(out=out, report=report, passed=report.passed, messages=inp.messages)
