"""`convert`: checkpoint -> ONNX -> onnx2tf int8 TFLite -> proof on TFLM -> C bundle.

`convert()` is the library entry point; the CLI is a thin shell over it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from . import resources
from .audio import SAMPLE_RATE, list_audio, load_windows
from .bundle import json_text
from .errors import CheckFailed, ToolkitError
from .outputs import check_dir_target, staged_dir
from .emit import c_frontend, c_model, report as report_mod
from .emit.c_frontend import frontend_report
from .dsp.fixed import MAX_WINDOW_SAMPLES, InputQuant
from .verify.ccc import UndefinedCCC, ccc_per_dim
from .spec import OUTPUT_NAMES

VERSIONED_PACKAGES = ("mcu-toolkit", "torch", "numpy", "onnx", "onnxruntime", "onnx2tf", "onnxsim",
                      "onnx-graphsurgeon", "sng4onnx", "tensorflow", "tf-keras", "ai-edge-litert",
                      "tflite-micro", "safetensors", "soundfile", "scipy")
DIMS = OUTPUT_NAMES


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class Progress:
    """Step lines and bars on stderr; silent when disabled (tests, --quiet)."""

    def __init__(self, enabled: bool, total_steps: int):
        self.enabled, self.total, self.n, self.t0 = enabled, total_steps, 0, time.perf_counter()

    def step(self, text: str) -> None:
        self.n += 1
        if self.enabled:
            print(f"[{self.n}/{self.total}] {text}", file=sys.stderr, flush=True)

    def bar(self, total: int, desc: str):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"      {desc}", disable=not self.enabled, leave=False,
                    file=sys.stderr, unit="file", dynamic_ncols=True)

    def note(self, text: str) -> None:
        if self.enabled:
            print(f"      {text}", file=sys.stderr, flush=True)


@dataclass
class ConvertResult:
    out: Path
    report: dict
    passed: bool
    messages: list[str] = field(default_factory=list)


def _short_clips_note(items, what: str) -> str | None:
    short = [w.path.name for w in items if w.padded]
    if not short:
        return None
    listed = ", ".join(short[:5]) + (f" (+{len(short) - 5} more)" if len(short) > 5 else "")
    return f"{len(short)} {what} clip(s) shorter than one window were zero-padded: {listed}"


def _spread(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them if n <= k)."""
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def convert(checkpoint: str | os.PathLike | None = None, *, calibration: str | os.PathLike | None = None,
            eval_audio: str | os.PathLike | None = None, out: str | os.PathLike = "mcu_out",
            window_seconds: float = 2.0, frontend: str = "fixed", force: bool = False,
            min_ccc: float | None = None, verbose: bool = False, progress: bool = True) -> ConvertResult:
    """Run the whole chain and write the bundle atomically into `out`."""
    import torch

    from .export.onnx_export import INPUT_NAME, check_onnx_parity, export_trunk_onnx
    from .export.tflite import check_float_tflite, convert_to_int8
    from .model import load_checkpoint
    from .model.wav2small import balanced_gram_scale, trunk_macs
    from .verify import tflm
    from .verify.deployed import FRONTENDS, deployed_clip_outputs, fixed_tables, float_clip_outputs, frontend_db
    from .verify.sanity import check_float_outputs, probe_signals

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    out = check_dir_target(out, force)
    if not (0.1 <= window_seconds <= 60):
        raise ToolkitError(f"--window-seconds must be between 0.1 and 60, got {window_seconds}")
    if frontend not in FRONTENDS:
        raise ToolkitError(f"--frontend must be one of {', '.join(FRONTENDS)}, got {frontend}")
    if frontend == "fixed" and window_seconds * SAMPLE_RATE > MAX_WINDOW_SAMPLES:
        raise ToolkitError(f"the fixed-point front end handles windows up to {MAX_WINDOW_SAMPLES / SAMPLE_RATE:g} s; "
                           "use a shorter --window-seconds or --frontend float")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ckpt = Path(checkpoint) if checkpoint else resources.default_checkpoint()
    cal_dir = Path(calibration) if calibration else resources.default_calibration_dir()
    eval_dir = Path(eval_audio) if eval_audio else resources.default_eval_dir()
    # Everything the user can get wrong is checked before the first progress line,
    # so bad input ends in exactly one line on stderr.
    model = load_checkpoint(ckpt)
    cfg = model.config
    window = int(round(window_seconds * SAMPLE_RATE))
    frames = cfg.frames(window)
    cal_files, eval_files = list_audio(cal_dir), list_audio(eval_dir)
    if len(eval_files) < 2:
        raise ToolkitError(f"evaluation audio {eval_dir} has {len(eval_files)} file; CCC needs at least 2")
    cal = load_windows(cal_files, window)
    ev = load_windows(eval_files, window)
    tables = fixed_tables(cfg.n_mels) if frontend == "fixed" else None
    # A model worth deploying, and a set that can measure it, before any expensive work.
    f_out = float_clip_outputs(model, ev)
    with torch.no_grad():
        probe_out = model(torch.from_numpy(np.stack(probe_signals(window)))).numpy()
    check_float_outputs(f_out, probe_out, str(eval_dir))

    p = Progress(progress, 5)
    messages: list[str] = []
    p.step(f"{ckpt.name}: {model.trainable_parameters():,} params; audio: {len(cal)} calibration, "
           f"{len(ev)} evaluation files")
    for note in (_short_clips_note(cal, "calibration"), _short_clips_note(ev, "evaluation")):
        if note:
            messages.append(note)
            p.note(note)
    cal_feats = frontend_db(model, [w for c in cal for w in c.windows], frontend)
    timings["audio_and_frontend"] = time.perf_counter() - t_start

    p.step(f"exporting the trunk to ONNX for a {window_seconds:g} s window ({frames} frames)")
    t = time.perf_counter()
    gram_scale = balanced_gram_scale(model, torch.from_numpy(cal_feats[_spread(len(cal_feats), 64)]))
    onnx_bytes = export_trunk_onnx(model, frames, gram_scale)
    onnx_err = check_onnx_parity(onnx_bytes, model, cal_feats[:4])
    timings["onnx"] = time.perf_counter() - t

    with staged_dir(out, force) as tmp:
        work = Path(tempfile.mkdtemp(prefix="mcu_toolkit_work_"))
        try:
            p.step(f"onnx2tf: full-int8 TFLite, calibrated on {len(cal_feats)} windows (~15 s)")
            t = time.perf_counter()
            onnx_path = work / "model.onnx"
            onnx_path.write_bytes(onnx_bytes)
            tfl, tfl_float = convert_to_int8(onnx_path, cal_feats.transpose(0, 2, 3, 1).copy(), work,
                                             INPUT_NAME, verbose)
            tf_err = check_float_tflite(tfl_float, onnx_bytes, cal_feats[:4])
            timings["onnx2tf"] = time.perf_counter() - t
        finally:
            shutil.rmtree(work, ignore_errors=True)

        p.step("proving the model on TFLM: ops, arena, evaluation")
        t = time.perf_counter()
        ops = tflm.model_ops(tfl)
        probe = tflm.TflmModel(tfl, arena_size=64 * 1024 * 1024)
        q0 = probe.quantize(cal_feats[0].transpose(1, 2, 0))
        arena_measured = tflm.measure_arena(tfl, q0)
        arena = tflm.arena_with_margin(arena_measured)
        dev = tflm.TflmModel(tfl, arena_size=arena)
        with p.bar(len(ev), "TFLM") as bar:
            q_out = deployed_clip_outputs(model, dev, ev, frontend, bar)
        try:
            ccc = ccc_per_dim(q_out, f_out)
        except UndefinedCCC as e:
            raise CheckFailed(f"cannot measure drift on {eval_dir}: {e}")
        if not all(np.isfinite(v) for v in ccc.values()):
            raise CheckFailed(f"int8-vs-float CCC is not a number on {eval_dir}: {ccc}")
        timings["tflm"] = time.perf_counter() - t

        p.step(f"writing bundle to {out}")
        report = {
            "checkpoint": str(ckpt) if checkpoint else "embedded default (wav2small_reference)",
            "model": {**cfg.to_dict(), "params": model.trainable_parameters(),
                      "params_with_frozen_frontend": sum(x.numel() for x in model.parameters())},
            "params": model.trainable_parameters(),
            "macs": trunk_macs(cfg, frames),
            "gram_scale": gram_scale,  # power of two on the Gram features, undone in the head (float-identical)
            "window_seconds": window / SAMPLE_RATE,
            "window_samples": window,
            "frames_per_window": frames,
            "input_shape": list(dev.input["shape"].tolist()),
            "input_quant": {"scale": dev.in_scale, "zero_point": dev.in_zero},
            "output_quant": {"scale": dev.out_scale, "zero_point": dev.out_zero},
            "tflite_bytes": len(tfl),
            "onnx_bytes": len(onnx_bytes),
            "onnx_max_abs_err_vs_torch": onnx_err,
            "tflite_float_max_abs_err_vs_onnx": tf_err,
            "arena_bytes": arena,
            "arena_bytes_measured": arena_measured,
            "ops": ops,
            "frontend": frontend_report(tables, window, frames) if tables is not None else
                        {"kind": "float", "note": "calibration and drift use the model's float log-mel; "
                                                  "the bundle has no device front end"},
            "calibration": {"files": len(cal), "windows": int(len(cal_feats)),
                            "padded_files": [c.path.name for c in cal if c.padded]},
            "eval_files": len(ev),
            "eval_file_names": [c.path.name for c in ev],
            "drift": {k: round(1.0 - v, 6) for k, v in ccc.items()},
            "eval_padded_files": [c.path.name for c in ev if c.padded],
            "ccc": {k: round(v, 6) for k, v in ccc.items()},
            "mean_abs_err": {k: round(float(np.mean(np.abs(q_out[:, i] - f_out[:, i]))), 6)
                             for i, k in enumerate(DIMS)},
            "max_abs_err": {k: round(float(np.max(np.abs(q_out[:, i] - f_out[:, i]))), 6)
                            for i, k in enumerate(DIMS)},
            "min_ccc": min_ccc,
            "versions": package_versions(),
            "messages": messages,
        }
        passed = min_ccc is None or all(v >= min_ccc for v in ccc.values())
        report["passed"] = passed
        timings["total"] = time.perf_counter() - t_start
        report["timings_s"] = {k: round(v, 2) for k, v in timings.items()}

        config = c_model.BundleConfig(
            arena_bytes=arena, arena_bytes_measured=arena_measured, sample_rate=SAMPLE_RATE,
            window_samples=window, frames=frames, n_mels=cfg.n_mels,
            input_shape=tuple(int(d) for d in dev.input["shape"]), input_scale=dev.in_scale,
            input_zero_point=dev.in_zero, output_scale=dev.out_scale, output_zero_point=dev.out_zero)
        files = {
            "model_int8.tflite": tfl,
            "model_float32.tflite": tfl_float,
            "model.onnx": onnx_bytes,
            "model_data.h": c_model.model_data_h(),
            "model_data.c": c_model.model_data_c(tfl),
            "model_ops.h": c_model.model_ops_h(ops),
            "model_config.h": c_model.model_config_h(config),
            **(c_frontend.frontend_files(tables, InputQuant.from_scale(dev.in_scale, dev.in_zero), window)
               if tables is not None else {}),
            "report.json": json_text(report),
            "report.md": report_mod.markdown(report),
        }
        for name, data in files.items():
            (tmp / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return ConvertResult(out=out, report=report, passed=passed, messages=messages)
