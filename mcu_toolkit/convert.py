"""`convert`: checkpoint -> ONNX -> onnx2tf int8 TFLite -> proof on TFLM -> C bundle.

`convert()` reads as the chain: one named call per stage, each returning a small dataclass.
The CLI is a thin shell over it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from . import resources
from .audio import Windowed, list_audio, load_windows, peak_dbfs
from .bundle import Bundle, Report, earlier_bundle_or_empty
from .dsp.fixed import MAX_WINDOW_SAMPLES, InputQuant
from .environ import environ_set
from .errors import CheckFailed, ToolkitError
from .export.tflite import TfWorker
from .lifetime import child_group
from .outputs import check_dir_target
from .spec import OUTPUT_NAMES, SAMPLE_RATE, WINDOW_DEFAULT_S, check_window
from .verify.ccc import UndefinedCCC, ccc_per_dim
from .verify.deployed import FRONTENDS, EvalPool

VERSIONED_PACKAGES = ("mcu-toolkit", "torch", "numpy", "onnx", "onnxruntime", "onnx2tf", "onnxsim",
                      "onnx-graphsurgeon", "sng4onnx", "tensorflow", "tf-keras", "ai-edge-litert",
                      "tflite-micro", "safetensors", "soundfile", "scipy")
STEPS = 5


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class Progress:
    """Step lines and bars on stderr; silent when disabled (tests, --quiet).

    Held lines wait until release(): the float model's checks run while TensorFlow quantises, and a model
    they refuse must still end as one error line, with no progress before it."""

    def __init__(self, enabled: bool, total_steps: int):
        self.enabled, self.total, self.n = enabled, total_steps, 0
        self.held: list[str] | None = []

    def _print(self, line: str) -> None:
        if not self.enabled:
            return
        if self.held is not None:
            self.held.append(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for line in held:
            self._print(line)

    def step(self, text: str) -> None:
        self.n += 1
        self._print(f"[{self.n}/{self.total}] {text}")

    def bar(self, total: int, desc: str):
        from tqdm import tqdm

        # a bar only on a terminal: in a CI log its carriage returns make one endless line
        return tqdm(total=total, desc=f"      {desc}", disable=not (self.enabled and sys.stderr.isatty()), leave=False,
                    file=sys.stderr, unit="file", dynamic_ncols=True)

    def note(self, text: str) -> None:
        self._print(f"      {text}")


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


# ---- the stages ----------------------------------------------------------------------------------

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


@dataclass
class Proof:
    """Both deployed paths: the int8 model on TFLM (ops, arena) and the w2s engine generated from it
    (its trunk checked against TFLM's tensors), and how far each drifts from the float model."""

    ops: list[str]
    arena_measured: int
    arena: int
    dev: object                   # TflmModel with the recorded arena
    engine: object                # engine.mirror.Engine
    head_json: str
    trunk_check: dict             # the engine's trunk against TFLM's own tensors
    deployed_out: np.ndarray      # the w2s engine: what the gate and report.ccc use
    ccc: dict
    tflm_out: np.ndarray
    tflm_ccc: dict
    tflm_path: str = "the whole int8 model on TFLM"   # how the evaluation ran the TFLM path
    engine_code: object = None    # Futures: the engine's and the front end's code bytes, compiled while TFLM runs
    frontend_code: object = None


def _check_options(window_seconds: float, frontend: str) -> None:
    check_window(window_seconds)
    if frontend not in FRONTENDS:
        raise ToolkitError(f"--frontend must be one of {', '.join(FRONTENDS)}, got {frontend}")
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
    from .model import load_checkpoint
    from .verify.deployed import fixed_tables

    _check_options(window_seconds, frontend)  # cheap, and this stage may run on its own
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

    from .verify.deployed import float_clip_outputs
    from .verify.sanity import check_float_outputs, probe_signals

    inp.float_out = float_clip_outputs(inp.model, inp.ev)
    with torch.no_grad():
        probe_out = inp.model(torch.from_numpy(np.stack(probe_signals(inp.window)))).numpy()
    check_float_outputs(inp.float_out, probe_out, str(inp.eval_dir))


def calibration_features(inp: Inputs) -> np.ndarray:
    """(windows, 1, T, mels) float32 dB: what the device's front end makes of the calibration audio."""
    from .verify.deployed import frontend_db

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

    from .export.onnx_export import export_trunk_onnx
    from .model.wav2small import balanced_gram_scale

    gram_scale = balanced_gram_scale(inp.model, torch.from_numpy(feats[_spread(len(feats), 64)]))
    return Exported(export_trunk_onnx(inp.model, inp.frames, gram_scale), gram_scale, float("nan"))


def while_quantizing(inp: Inputs, ex: Exported, feats: np.ndarray) -> None:
    """What needs no TFLite, run while the TensorFlow child quantises: the float model and its checks,
    ONNX against torch, and the evaluation windows through the device front end."""
    from .export.onnx_export import check_onnx_parity
    from .verify.deployed import clip_dbs

    check_float_model(inp)
    ex.onnx_err = check_onnx_parity(ex.onnx, inp.model, feats[:4])
    inp.eval_dbs = clip_dbs(inp.ev, inp.frontend, inp.model.config.n_mels)


def _ccc_checked(out: np.ndarray, inp: Inputs, what: str) -> dict:
    try:
        ccc = ccc_per_dim(out, inp.float_out)
    except UndefinedCCC as e:
        raise CheckFailed(f"cannot measure drift on {inp.eval_dir}: {e}")
    if not all(np.isfinite(v) for v in ccc.values()):
        raise CheckFailed(f"{what}-vs-float CCC is not a number on {inp.eval_dir}: {ccc}")
    return ccc


def model_head(model):
    """The float head the engine's exact tail uses (adv, as trained: no Gram scaling)."""
    from .engine.tail import Head

    return Head(model.adv.weight.detach().numpy().astype(np.float32),
                model.adv.bias.detach().numpy().astype(np.float32))


def with_silence(engine, inp: Inputs):
    """The engine with the float model's answer to a window with no variance and the input code the front end
    gives every value of it (Head.silence): returned by the device without running the trunk."""
    import dataclasses

    import torch

    from .verify.deployed import device_input_s8

    silence = np.zeros(inp.window, dtype=np.float32)
    with torch.no_grad():
        answer = inp.model(torch.from_numpy(silence)[None]).numpy()[0].astype(np.float32)
    q = engine.graph.input
    codes = np.unique(device_input_s8(silence, inp.frontend, inp.model.config.n_mels, q.scale, q.zero))
    if len(codes) != 1:
        return engine
    return dataclasses.replace(engine, head=dataclasses.replace(engine.head, silence=answer, floor_s8=int(codes[0])))


def _engine_and_tail(tflite: bytes, head, inp: Inputs):
    """The w2s engine and the model's tail alone for TFLM (tflm.tail_model), or None for either: a graph the
    engine cannot run still gets the TFLM path (and the report says why there is no engine)."""
    from .engine.mirror import Engine
    from .verify import tflm

    try:
        engine = Engine.from_tflite(tflite, head)
    except Exception as e:  # any graph it cannot read: the TFLM path stays, and the report says why
        why = str(e) if isinstance(e, ToolkitError) else f"{e.__class__.__name__}: {e}"
        inp.messages.append(f"no w2s engine for this model ({why}); the bundle has the TFLM path only, and its "
                            "CCC is the gate's")
        return None, None, why
    try:
        return engine, tflm.tail_model(tflite, engine.graph.features_tensor), None
    except ToolkitError:  # the whole model on TFLM then: slower, and the same numbers
        return engine, None, None


def _trunk_and_tail(tflite: bytes, engine, tail: bytes | None, why: str | None, windows: list, arena: int,
                    inp: Inputs):
    """The engine's trunk against TFLM's tensors on `windows`, and TFLM on the model's tail alone: None when
    TFLM cannot load it or its outputs differ from the whole model's (the evaluation then runs the whole
    model on TFLM, and the report says so)."""
    from .verify import tflm
    from .verify.trunk_check import compare_trunk

    if engine is None:
        return {"differing": None, "reason": why}, None
    tail_dev = None
    if tail is not None:
        try:
            tail_dev = tflm.TflmModel(tail, arena_size=4 * arena)
        except ToolkitError:
            pass
    check = compare_trunk(tflite, engine, windows, tail_dev, tail_must_match=False)
    if tail is not None and (tail_dev is None or check.get("tail_outputs_differing")):
        inp.messages.append("TFLM on the model's tail alone did not give the whole model's outputs; "
                            "TFLM ran the whole model for the evaluation")
        tail_dev = None
    return check, tail_dev


def prove_on_tflm(tflite: bytes, inp: Inputs, feats: np.ndarray, progress: Progress, pool=None) -> Proof:
    """Ops, the smallest arena that runs, the engine's trunk against TFLM's tensors, and both deployed
    paths' CCC against the float model.

    TFLM's evaluation runs the model's tail on the engine's features, which are bit-identical to TFLM's
    trunk: checked here tensor by tensor on three windows (the first and the last calibration window, the
    first evaluation window), and the tail's outputs against the whole model's. A tail TFLM cannot load, or
    one that differs, is dropped and TFLM runs the whole model. With a pool, the evaluation runs there while
    this process measures the arena and checks the trunk, then takes the clips no worker has started."""
    from .verify import tflm
    from .verify.deployed import both_clip_outputs, db_to_s8, deployed_clip_outputs

    from .cores import code_bytes_soon
    from .emit.c_engine import engine_code_sources

    head = model_head(inp.model)
    engine, tail, why = _engine_and_tail(tflite, head, inp)
    if engine is not None:
        engine = with_silence(engine, inp)
        head = engine.head
    engine_code = code_bytes_soon(*engine_code_sources(engine)) if engine is not None else None
    frontend_code = frontend_code_soon(inp)
    head_json = head.to_json()
    engine_json = head_json if engine is not None else None
    futures = pool.submit(tflite, engine_json, inp.eval_dbs, inp.frontend, tail) if pool is not None else None
    ops = tflm.model_ops(tflite)
    probe = tflm.TflmModel(tflite, arena_size=64 * 1024 * 1024)
    x0 = probe.quantize(feats[0].transpose(1, 2, 0))
    arena_measured = tflm.measure_arena(tflite, x0)
    arena = tflm.arena_with_margin(arena_measured)
    dev = tflm.TflmModel(tflite, arena_size=arena)
    windows = []
    if engine is not None:
        last = probe.quantize(feats[-1].transpose(1, 2, 0))
        windows = [x0[0, :, :, 0], last[0, :, :, 0],
                   db_to_s8(inp.eval_dbs[0][0], inp.frontend, dev.in_scale, dev.in_zero)]
    trunk_check, tail_dev = _trunk_and_tail(tflite, engine, tail, why, windows, arena, inp)
    if tail is not None and tail_dev is None and futures is not None:  # the workers' tail path is void
        for f in futures:
            f.cancel()
        futures = pool.submit(tflite, engine_json, inp.eval_dbs, inp.frontend, None)
    with progress.bar(len(inp.ev), "TFLM + engine") as bar:
        if futures is not None:
            tflm_out, d_out = pool.collect(futures, bar, lambda i: both_clip_outputs(
                dev, engine, inp.eval_dbs[i], inp.frontend, tail_dev))
        else:
            tflm_out, d_out = deployed_clip_outputs(dev, engine, inp.eval_dbs, inp.frontend, bar, tail_dev)
    path = ("the model's tail on TFLM, fed with the w2s engine's features (bit-identical to TFLM's trunk on the "
            "checked windows; the tail's outputs equal the whole model's there)" if tail_dev is not None
            else "the whole int8 model on TFLM")
    return Proof(ops, arena_measured, arena, dev, engine, head_json, trunk_check, d_out,
                 _ccc_checked(d_out, inp, "engine"), tflm_out, _ccc_checked(tflm_out, inp, "TFLM"), path,
                 engine_code, frontend_code)


def frontend_code_soon(inp: Inputs):
    """The fixed front end's code bytes, compiled on a thread while TFLM runs (None: no device front end)."""
    from .cores import code_bytes_soon
    from .emit.c_frontend import frontend_code
    from .verify.deployed import fixed_tables

    return code_bytes_soon(*frontend_code(fixed_tables(inp.model.config.n_mels))) if inp.frontend == "fixed" else None


def quantize_eta_s(windows: int, frames: int) -> float:
    """What the TensorFlow child needs after the ONNX, measured on the 2-core CI machine: ~2 s (onnxsim,
    onnx2tf, the converter), plus calibration at ~21 ms per 2 s window, shared by two processes."""
    return 2.0 + windows * frames * 1.2e-5


def tflm_eta_s(inp: Inputs) -> float:
    """The arena and trunk checks (four whole-model invokes), then each evaluation window: the front end,
    the engine's mirror and TFLM on the tail, about 20,000 frames per second on the 2-core CI machine."""
    return 0.6 + sum(len(c.windows) for c in inp.ev) * inp.frames / 20000


def _errors(a: np.ndarray, b: np.ndarray, fn) -> dict:
    return {k: round(float(fn(np.abs(a[:, i] - b[:, i]))), 6) for i, k in enumerate(OUTPUT_NAMES)}


def make_report(inp: Inputs, feats, ex: Exported, q: Quantized, pr: Proof, min_ccc, timings: dict) -> Report:
    from .emit.c_frontend import frontend_report
    from .model.wav2small import trunk_macs
    from .verify.deployed import fixed_tables

    m, dev = inp.model, pr.dev
    fe = (frontend_report(fixed_tables(m.config.n_mels), inp.window, inp.frames, pr.frontend_code.result())
          if inp.frontend == "fixed" else
          {"kind": "float", "note": "calibration and drift use the model's float log-mel; "
                                    "the bundle has no device front end"})
    return Report(
        checkpoint=inp.label,
        model={**m.config.to_dict(), "params": m.trainable_parameters(),
               "params_with_frozen_frontend": sum(x.numel() for x in m.parameters())},
        macs=trunk_macs(m.config, inp.frames), gram_scale=ex.gram_scale,
        window_seconds=inp.window / SAMPLE_RATE, window_samples=inp.window, frames_per_window=inp.frames,
        input_shape=list(dev.input["shape"].tolist()),
        input_quant={"scale": dev.in_scale, "zero_point": dev.in_zero},
        output_quant={"scale": dev.out_scale, "zero_point": dev.out_zero},
        tflite_bytes=len(q.tflite), onnx_bytes=len(ex.onnx), onnx_max_abs_err_vs_torch=ex.onnx_err,
        tflite_float_max_abs_err_vs_onnx=q.tf_err, arena_bytes=pr.arena, arena_bytes_measured=pr.arena_measured,
        ops=pr.ops, frontend=fe,
        calibration={"files": len(inp.cal), "windows": int(len(feats)),
                     "padded_files": [c.path.name for c in inp.cal if c.padded],
                     "peak_dbfs": calibrated_levels(inp.cal)},
        eval_files=len(inp.ev), eval_file_names=[c.path.name for c in inp.ev],
        eval_padded_files=[c.path.name for c in inp.ev if c.padded],
        ccc={k: round(v, 6) for k, v in pr.ccc.items()}, drift={k: round(1.0 - v, 6) for k, v in pr.ccc.items()},
        mean_abs_err=_errors(pr.deployed_out, inp.float_out, np.mean),
        max_abs_err=_errors(pr.deployed_out, inp.float_out, np.max),
        engine=engine_report(pr, inp),
        tflm={"ccc": {k: round(v, 6) for k, v in pr.tflm_ccc.items()},
              "drift": {k: round(1.0 - v, 6) for k, v in pr.tflm_ccc.items()},
              "mean_abs_err": _errors(pr.tflm_out, inp.float_out, np.mean),
              "max_abs_err": _errors(pr.tflm_out, inp.float_out, np.max),
              "arena_bytes": pr.arena, "evaluated_as": pr.tflm_path},
        min_ccc=min_ccc, passed=min_ccc is None or all(v >= min_ccc for v in pr.ccc.values()),
        versions=package_versions(), messages=inp.messages, timings_s=timings)


def engine_report(pr: Proof, inp: Inputs) -> dict:
    from .dsp.fixed import DC_BINS
    from .emit.c_engine import data_bytes

    if pr.engine is None:
        return {"name": "w2s", "available": False, "reason": pr.trunk_check["reason"]}
    per_frame = inp.model.config.n_mels * 2 + DC_BINS * 4
    return {"name": "w2s", "available": True, "state_bytes": pr.engine.state_bytes(),
            "data_bytes": data_bytes(pr.engine),
            "code_bytes_cortex_m4_Os": pr.engine_code.result(),
            "state_note": "sizeof(w2s_engine_t): the same for every window length",
            "int8_outputs_per_window": pr.engine.int8_outputs(inp.frames),
            "frontend_store_bytes_per_frame": per_frame,
            "frontend_store_bytes": per_frame * inp.frames,
            "trunk_vs_tflm": pr.trunk_check,
            "tail": "exact: integer online-softmax sums over a 256-entry exp table, float32 Gram and head"}


def bundle_files(inp: Inputs, ex: Exported, q: Quantized, pr: Proof) -> dict[str, bytes | str]:
    """Every bundle file but the reports: the models and the C firmware needs."""
    from .emit import c_frontend, c_model
    from .verify.deployed import fixed_tables

    dev = pr.dev
    config = c_model.BundleConfig(
        arena_bytes=pr.arena, arena_bytes_measured=pr.arena_measured, sample_rate=SAMPLE_RATE,
        window_samples=inp.window, frames=inp.frames, n_mels=inp.model.config.n_mels,
        input_shape=tuple(int(d) for d in dev.input["shape"]), input_scale=dev.in_scale,
        input_zero_point=dev.in_zero, output_scale=dev.out_scale, output_zero_point=dev.out_zero)
    from .emit.c_engine import engine_files

    engine = {**engine_files(pr.engine), "engine_head.json": pr.head_json} if pr.engine is not None else {}
    files = {**engine,
             "model_int8.tflite": q.tflite, "model_float32.tflite": q.tflite_float, "model.onnx": ex.onnx,
             "model_data.h": c_model.model_data_h(), "model_data.c": c_model.model_data_c(q.tflite),
             "model_ops.h": c_model.model_ops_h(pr.ops), "model_config.h": c_model.model_config_h(config)}
    if inp.frontend == "fixed":
        quant = InputQuant.from_scale(dev.in_scale, dev.in_zero)
        files.update(c_frontend.frontend_files(fixed_tables(inp.model.config.n_mels), quant, inp.window))
    return files


def check_out(out, force: bool, checkpoint, calibration, eval_audio) -> Path:
    """--out: replaced only with --force, only an earlier bundle (or an empty folder), and never an input."""
    inputs = {"the checkpoint": checkpoint or resources.default_checkpoint(),
              "the --calibration folder": calibration or resources.default_calibration_dir(),
              "the --eval folder": eval_audio or resources.default_eval_dir()}
    return check_dir_target(out, force, inputs=inputs, ours=earlier_bundle_or_empty, what="an earlier convert bundle")


# ---- the chain -----------------------------------------------------------------------------------

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
    _check_options(window_seconds, frontend)
    # The TensorFlow child starts first: its seconds of importing overlap everything up to the ONNX export.
    with child_group(), contextlib.ExitStack() as stack:  # the run's children go last, gcc and cc1 included
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="mcu_toolkit_work_"))
        worker = stack.enter_context(TfWorker(Path(work), verbose))
        # native code's TMPDIR: onnxruntime leaves a session file (.ses) there when first imported, and it
        # belongs with the work folder, which goes at the end
        stack.enter_context(environ_set(TMPDIR=work))
        import torch

        from .export.onnx_export import INPUT_NAME
        from .export.tflite import check_float_tflite

        torch.set_num_threads(1)  # a 10 k-parameter model: more threads only spin against the TensorFlow child
        inp = check_inputs(checkpoint, calibration, eval_audio, window_seconds, frontend)
        p = Progress(progress, STEPS)
        p.step(f"{inp.label}: {inp.model.trainable_parameters():,} params; audio: {len(inp.cal)} calibration, "
               f"{len(inp.ev)} evaluation files")
        for note in inp.messages:
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
            worker.submit(ex.onnx, feats.transpose(0, 2, 3, 1).copy(), INPUT_NAME)
            # the evaluation's workers start now, while this process waits for TensorFlow anyway
            pool = stack.enter_context(EvalPool(jobs)) if jobs > 1 else None
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
