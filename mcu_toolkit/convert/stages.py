"""The stages before the TFLite exists: check what the user named, the front end's features, the ONNX export,
and what runs while the TensorFlow child quantises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import resources
from ..audio import Windowed, list_audio, load_windows, peak_dbfs
from ..dsp.fixed import MAX_WINDOW_SAMPLES
from ..errors import ToolkitError
from .. import spec
from ..spec import SAMPLE_RATE, check_window


@dataclass
class Inputs:
    """Everything the user handed us, checked: the model, the audio cut into windows, the float outputs."""

    model: object                 # Wav2Small
    label: str                    # the checkpoint as report.json names it
    window: int                   # samples
    frames: int
    frontend: str
    cal: list[Windowed]
    ev: list[Windowed]
    eval_dir: Path
    messages: list[str]
    float_out: np.ndarray | None = None   # (eval files, 3): the float model on the evaluation set
    eval_dbs: list | None = None          # each evaluation window through the device front end


@dataclass
class Exported:  # onnx_err: filled in while TensorFlow runs
    onnx: bytes
    gram_scale: float
    onnx_err: float


@dataclass
class Quantized:
    tflite: bytes
    tflite_float: bytes
    tf_err: float


def check_options(window_seconds: float, frontend: str) -> None:
    check_window(window_seconds)
    if frontend not in spec.FRONTENDS:
        raise ToolkitError(f"--frontend must be one of {', '.join(spec.FRONTENDS)}, got {frontend}")
    if frontend == "fixed" and window_seconds * SAMPLE_RATE > MAX_WINDOW_SAMPLES:
        raise ToolkitError(f"the fixed-point front end handles windows up to {MAX_WINDOW_SAMPLES / SAMPLE_RATE:g} s; "
                           "use a shorter --window-seconds or --frontend float")


def _short_clips_note(items, what: str) -> str | None:
    short = [w.path.name for w in items if w.padded]
    if not short:
        return None
    listed = ", ".join(short[:5]) + (f" (+{len(short) - 5} more)" if len(short) > 5 else "")
    return f"{len(short)} {what} clip(s) shorter than one window were zero-padded: {listed}"


def check_inputs(checkpoint, calibration, eval_audio, window_seconds: float, frontend: str) -> Inputs:
    """Everything the user can get wrong in what they name, before the first progress line: bad input is
    one line, no work. What the float model makes of the audio is checked later (check_float_model)."""
    from ..model import load_checkpoint
    from ..verify.deployed import fixed_tables

    check_options(window_seconds, frontend)  # cheap, and this stage may run on its own
    model = load_checkpoint(Path(checkpoint) if checkpoint else resources.default_checkpoint())
    window = int(round(window_seconds * SAMPLE_RATE))
    eval_dir = Path(eval_audio) if eval_audio else resources.default_eval_dir()
    cal_dir = Path(calibration) if calibration else resources.default_calibration_dir()
    skipped: list[str] = []
    cal_files = list_audio(cal_dir, skipped)
    eval_files = list_audio(eval_dir, skipped)
    if len(eval_files) < 2:
        raise ToolkitError(f"evaluation audio {eval_dir} has {len(eval_files)} file; CCC needs at least 2")
    cal, ev = load_windows(cal_files, window), load_windows(eval_files, window)
    if frontend == "fixed":
        fixed_tables(model.config.n_mels)  # a mel count the fixed front end cannot do is bad input
    label = str(checkpoint) if checkpoint else "embedded default (wav2small_reference)"
    notes = [n for n in (*skipped, _silent_clips_note(cal, cal_dir), _short_clips_note(cal, "calibration"),
                         _short_clips_note(ev, "evaluation")) if n]
    return Inputs(model, label, window, model.config.frames(window), frontend, cal, ev, eval_dir, notes)


SILENT_PEAK_DBFS = -70.0  # about 10 LSB of 16-bit PCM: what the device hears of such a clip is quantisation noise


def _silent_clips_note(cal: list[Windowed], cal_dir: Path) -> str | None:
    """Silent calibration clips give int8 ranges that do not fit speech (an all-silent set: TFLM CCC 0.11):
    refused when every clip is silent, a warning naming them when some are."""
    floor = 10 ** (SILENT_PEAK_DBFS / 20)
    silent = [c.path.name for c in cal if max(float(np.max(np.abs(w))) for w in c.windows) < floor]
    if len(silent) == len(cal):
        raise ToolkitError(f"calibration audio {cal_dir} is silent: no clip peaks above {SILENT_PEAK_DBFS:g} dBFS, "
                           "and int8 ranges calibrated on it would not fit speech")
    if not silent:
        return None
    listed = ", ".join(silent[:5]) + (f" (+{len(silent) - 5} more)" if len(silent) > 5 else "")
    return (f"warning: {len(silent)} of {len(cal)} calibration clip(s) are silent or nearly (peak under "
            f"{SILENT_PEAK_DBFS:g} dBFS) and calibrate the int8 ranges on nothing: {listed}")


def check_float_model(inp: Inputs) -> None:
    """The float model on the evaluation set (inp.float_out), and whether it is worth deploying and the set
    can measure it: NaN, a constant output, or a set it cannot tell apart stop here."""
    import torch

    from ..verify.deployed import float_clip_outputs
    from ..verify.sanity import check_float_outputs, probe_signals

    inp.float_out = float_clip_outputs(inp.model, inp.ev)
    with torch.no_grad():
        probe_out = inp.model(torch.from_numpy(np.stack(probe_signals(inp.window)))).numpy()
    check_float_outputs(inp.float_out, probe_out, str(inp.eval_dir))


def calibration_features(inp: Inputs) -> np.ndarray:
    """(windows, 1, T, mels) float32 dB: what the device's front end makes of the calibration audio."""
    from ..verify.deployed import frontend_db

    return frontend_db(inp.model, [w for c in inp.cal for w in c.windows], inp.frontend)


def calibrated_levels(clips: list[Windowed]) -> list[float]:
    """[lowest, highest] peak level of the calibration clips, dBFS (validate warns outside it); the silent
    clips convert warned about have no level, and only silent clips give []."""
    peaks = [p for p in (peak_dbfs(np.concatenate(c.windows)) for c in clips) if p >= SILENT_PEAK_DBFS]
    return [round(min(peaks), 1), round(max(peaks), 1)] if peaks else []


def _spread(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them if n <= k)."""
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def export_onnx(inp: Inputs, feats: np.ndarray) -> Exported:
    import torch

    from ..export.onnx_export import export_trunk_onnx
    from ..model.wav2small import balanced_gram_scale

    gram_scale = balanced_gram_scale(inp.model, torch.from_numpy(feats[_spread(len(feats), 64)]))
    return Exported(export_trunk_onnx(inp.model, inp.frames, gram_scale), gram_scale, float("nan"))


def while_quantizing(inp: Inputs, ex: Exported, feats: np.ndarray) -> None:
    """What needs no TFLite, run while the TensorFlow child quantises: the float model and its checks,
    ONNX against torch, and the evaluation windows through the device front end."""
    from ..export.onnx_export import check_onnx_parity
    from ..verify.deployed import clip_dbs

    check_float_model(inp)
    ex.onnx_err = check_onnx_parity(ex.onnx, inp.model, feats[:4])
    inp.eval_dbs = clip_dbs(inp.ev, inp.frontend, inp.model.config.n_mels)


def quantize_eta_s(windows: int, frames: int) -> float:
    """What the TensorFlow child needs after the ONNX, measured on the 2-core CI machine: ~2 s (onnxsim,
    onnx2tf, the converter), plus calibration at ~21 ms per 2 s window, shared by two processes."""
    return 2.0 + windows * frames * 1.2e-5
