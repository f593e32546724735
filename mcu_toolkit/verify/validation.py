"""`validate`: CCC drift of the deployed pipeline against the float model, as a regression gate.

The float model is the bundle's float trunk (model.onnx, onnxruntime) after the float front end;
the deployed pipeline is the bundle's front end (fixed-point) and then either the w2s engine or the int8 model on
the TFLM interpreter. On the host the front end and the engine are the device's own C, compiled for this machine
(native.py; their numpy mirrors where no C compiler builds them, the same numbers); on an emulated board, its real
firmware image. Clips are cut into the bundle's windows as the device runs them, and streamed a block of
windows at a time; a clip's value is the mean over its windows. Live on the emulated Cortex-M4 (a clock given),
the image hears each clip as a microphone at that clock would deliver it, and a clip's value is the mean over
the windows it analysed (both models run on exactly those samples).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import bundle as bundle_mod
from ..audio import audio_seconds, cut_windows, list_audio, load_audio, peak_dbfs
from ..environ import environ_set
from ..errors import CheckFailed, ToolkitError
from ..lifetime import child_group
from ..outputs import atomic_write, check_file_target, check_folder_target, starts_with, within
from .ccc import ccc_or_nan, negligible_spread
from .. import spec
from ..spec import OUTPUT_NAMES

DIMS = OUTPUT_NAMES
VALIDATE_NEEDS = ("model_int8.tflite", "model.onnx", "report.json")
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class ValidationResult:
    files: list[str]
    float_out: np.ndarray          # (files, 3)
    deployed_out: np.ndarray       # (files, 3)
    ccc_vs_float: dict[str, float]
    mean_abs_err: dict[str, float]
    max_abs_err: dict[str, float]
    labels: np.ndarray | None = None
    ccc_float_vs_labels: dict[str, float] | None = None
    ccc_deployed_vs_labels: dict[str, float] | None = None
    min_ccc: float | None = None
    max_drift: float | None = None
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    engine: str = "w2s"
    device: str = "host"
    device_windows: int | None = None     # qemu-m4: window outputs compared with the host engine
    device_differing: int | None = None   # ... and how many of them differ in any bit
    frontend: str = "fixed"               # the bundle's front end: "fixed", or "float" (--frontend float)
    live: dict | None = None              # qemu-m4 with a clock: device.live_figures

    @property
    def ccc(self) -> dict[str, float]:
        """What the gate applies --min-ccc to: deployed vs labels if given, else deployed vs float."""
        return self.ccc_deployed_vs_labels if self.labels is not None else self.ccc_vs_float

    @property
    def drift(self) -> dict[str, float]:
        """With labels: float CCC - deployed CCC. Without: 1 - CCC(deployed, float)."""
        if self.labels is not None:
            return {d: self.ccc_float_vs_labels[d] - self.ccc_deployed_vs_labels[d] for d in DIMS}
        return {d: 1.0 - self.ccc_vs_float[d] for d in DIMS}

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        per_file = []
        for i, f in enumerate(self.files):
            row = {"file": f, "float": dict(zip(DIMS, map(float, self.float_out[i]))),
                   "deployed": dict(zip(DIMS, map(float, self.deployed_out[i])))}
            if self.labels is not None:
                row["label"] = dict(zip(DIMS, map(float, self.labels[i])))
            per_file.append(row)
        return {
            "files": len(self.files),
            "ccc_deployed_vs_float": self.ccc_vs_float,
            "mean_abs_err": self.mean_abs_err,
            "max_abs_err": self.max_abs_err,
            "ccc_float_vs_labels": self.ccc_float_vs_labels,
            "ccc_deployed_vs_labels": self.ccc_deployed_vs_labels,
            "drift": self.drift,
            "min_ccc": self.min_ccc,
            "max_drift": self.max_drift,
            "passed": self.passed,
            "failures": self.failures,
            "warnings": self.warnings,
            "engine": self.engine,
            "device": self.device,
            "frontend": self.frontend,
            "device_windows": self.device_windows,
            "device_differing_from_host": self.device_differing,
            "live": self.live,
            "per_file": per_file,
        }


# ---- the per-file work (also run in worker processes) ----------------------------------------

def _float_session(path: Path):
    """The float trunk in onnxruntime. Its telemetry stays off: on, onnxruntime leaves a session file (.ses) in
    $TMPDIR, written when it is imported and when a session is created."""
    with environ_set(ORT_DISABLE_TELEMETRY="1"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        try:
            return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception types: a file it cannot load
            why = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:200]
            raise ToolkitError(f"bundle {path.parent}: {path.name} cannot be loaded by onnxruntime ({why})")


def _stamp(path: str) -> tuple:
    """What says a bundle's model files are the ones read before (a convert --force may replace them)."""
    return tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in (os.stat(Path(path) / n) for n in
                                                       ("model_int8.tflite", "engine_head.json", "report.json")
                                                       if (Path(path) / n).is_file()))


def _mirror(path: str):
    """The bundle's engine as its numpy mirror (from model_int8.tflite and engine_head.json), or None: no head.
    Read once per process and bundle: the host pipeline is emitted from it too."""
    return _mirror_of(path, _stamp(path))


@lru_cache(maxsize=4)
def _mirror_of(path: str, stamp: tuple):
    from ..engine.mirror import Engine
    from ..engine.tail import Head

    p = Path(path)
    if not (p / "engine_head.json").is_file():
        return None
    head = Head.from_json((p / "engine_head.json").read_text(), f"bundle {p}: engine_head.json")
    return Engine.from_tflite((p / "model_int8.tflite").read_bytes(), head)


@lru_cache(maxsize=4)
def _compiled(path: str, stamp: tuple, engine: str, frontend_kind: str, window_samples: int, frames: int) -> tuple:
    """(native.HostPipeline or None, notes): built or found in the cache once per process and bundle (convert
    built the same library: deployed.pipeline_frontend)."""
    from . import native
    from .deployed import pipeline_frontend

    eng = _mirror(path)
    if eng is None or (engine != "w2s" and frontend_kind != "fixed"):
        return None, []  # no engine (TFLM's front end runs in numpy), or nothing it would speed up
    notes: list[str] = []
    return native.load(eng, pipeline_frontend(eng, frontend_kind, window_samples), frames, notes), notes


def _host_pipeline(b, engine: str, notes: list[str] | None = None):
    """The compiled pipeline for this bundle (native.py), or None: no C compiler that builds it (a note says
    so), or nothing it would speed up (TFLM with a float front end)."""
    r = b.report
    host, said = _compiled(str(b.path), _stamp(str(b.path)), engine, r.frontend_kind, r.window_samples,
                           r.frames_per_window)
    if notes is not None:
        notes += said
    return host


def _file_models(bundle: str, engine: str = "w2s", elf: str | None = None, clock=None, device: str = "host") -> dict:
    """What _run_file needs, built once per process: the report, the deployed model step (the compiled pipeline
    on the host, else the mirror or TFLM), the float trunk."""
    b = bundle_mod.Bundle.open(bundle, VALIDATE_NEEDS + (("engine_head.json",) if engine == "w2s" else ()))
    report = b.report
    host = _host_pipeline(b, engine) if device == "host" else None
    if engine == "w2s":
        dev = _mirror(str(b.path))
    else:
        from .tflm import TflmModel

        dev = TflmModel((b.path / "model_int8.tflite").read_bytes(), arena_size=report.arena_bytes)
    return dict(report=report, engine=engine, dev=dev, elf=elf, clock=clock, device=device, host=host,
                ort=_float_session(b.path / "model.onnx"))


def _on_device(elf: str, windows: list[np.ndarray], clock=None, device: str = "qemu-m4"):
    """The windows through the device's image, as one WAV of exactly those windows (live: heard at `clock`)."""
    from ..audio import to_pcm16
    from .device import DEVICES, run_image, write_wav

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        write_wav(wav, np.concatenate([to_pcm16(w) for w in windows]))
        return run_image(Path(elf), wav, clock, DEVICES[device])


def _differing(device: np.ndarray, host: list[np.ndarray]) -> int:
    """Windows whose outputs differ in any bit between the device and the host engine."""
    return sum(int(np.any(d.view(np.uint32) != np.asarray(h, dtype=np.float32).view(np.uint32)))
               for d, h in zip(device, host))


LOGMEL_WINDOWS = 4  # the float log-mel's windows a call: as fast as 32 here, and an eighth of the memory


def _float_outputs(sess, windows, n_mels: int) -> list[np.ndarray]:
    """The float model on each window: the float log-mel, then the float trunk, one window a run (batches of 4 to
    64 windows were 10-35% slower per window here, and gave the same bits: benchmarks/bench_validate.py)."""
    from ..dsp import float_ref

    windows, out = np.asarray(windows), []
    for i in range(0, len(windows), LOGMEL_WINDOWS):
        logmel = float_ref.logmel_float_windows(windows[i:i + LOGMEL_WINDOWS], n_mels).astype(np.float32)
        out += [sess.run(None, {"logmel": x[None, None]})[0][0] for x in logmel]
    return out


def _deployed_block(m: dict, block: np.ndarray) -> list[np.ndarray]:
    """The deployed outputs of a block of consecutive windows (k, samples), on the host."""
    from ..audio import to_pcm16
    from .deployed import db_to_s8, deployed_window, device_db, engine_window, tflm_step

    report, dev, host = m["report"], m["dev"], m["host"]
    kind, n_mels = report.frontend_kind, report.n_mels
    if host is not None and m["engine"] == "w2s":
        if kind == "fixed":
            return list(host.windows_f32(to_pcm16(block)))
        q = dev.graph.input
        return list(host.engine_f32(np.stack([db_to_s8(device_db(w, kind, n_mels), kind, q.scale, q.zero)
                                              for w in block])))
    if host is not None:  # TFLM, with the compiled front end
        return [tflm_step(dev, x) for x in host.input_s8(to_pcm16(block))]
    if m["engine"] == "w2s":
        return [engine_window(dev, w, kind, n_mels) for w in block]
    return [deployed_window(dev, w, kind, n_mels) for w in block]


def _run_file(m: dict, path: str) -> tuple:
    """(float, deployed) means over the file's windows, the device's differing windows (qemu-m4), windows,
    the live run's bookkeeping (qemu-m4 with a clock; else None), and the clip's peak in dBFS."""
    if m["elf"] is not None:
        return _run_file_on_device(m, path)
    from ..audio import WindowStream

    stream = WindowStream(path, m["report"].window_samples)
    f_out, d_out = [], []
    for block in stream:  # a block of windows at a time: memory flat in the file's length
        f_out += _float_outputs(m["ort"], block, m["report"].n_mels)
        d_out += _deployed_block(m, block)
    return (np.mean(f_out, axis=0), np.mean(np.array(d_out, dtype=np.float64), axis=0), 0, len(f_out), None,
            stream.peak_dbfs)


def _run_file_on_device(m: dict, path: str) -> tuple:
    """_run_file on an emulated board: the whole clip through its image. Live, the windows are the ones the
    device analysed, wherever in the clip a gap put them."""
    from .deployed import engine_window

    report, sess, dev = m["report"], m["ort"], m["dev"]
    x = load_audio(path)
    windows, _ = cut_windows(x, report.window_samples)
    run = _on_device(m["elf"], windows, m["clock"], m["device"])
    if run.live is not None:
        clip, n = np.concatenate(windows), report.window_samples
        windows = [clip[s:s + n] for s in run.live.starts]
        if not windows:
            raise CheckFailed(f"{Path(path).name}: the device analysed no whole window at "
                              f"{m['clock'].mhz:g} MHz (every window had a gap)")
    if len(run.outputs) != len(windows):
        raise CheckFailed(f"the device returned {len(run.outputs)} windows for {len(windows)}")
    f_out = _float_outputs(sess, windows, report.n_mels)
    host = [engine_window(dev, w, report.frontend_kind, report.n_mels) for w in windows]
    return (np.mean(f_out, axis=0), np.mean(np.array(run.outputs, dtype=np.float64), axis=0),
            _differing(run.outputs, host), len(windows), run.live, peak_dbfs(x))


# ---- inputs ------------------------------------------------------------------------------------

def read_labels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise ToolkitError(f"labels file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ToolkitError(f"labels file {p} is not UTF-8 text")
    out = {}
    reader = csv.DictReader(text.splitlines())
    need = {"file", *DIMS}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise ToolkitError(f"{p}: the header must be file,arousal,dominance,valence")
    for line, row in enumerate(reader, start=2):
        try:
            vals = np.array([float(row[d]) for d in DIMS])
        except (TypeError, ValueError):
            raise ToolkitError(f"{p}:{line}: not a number in {row}")
        if not np.all(np.isfinite(vals)):
            raise ToolkitError(f"{p}:{line}: label is NaN or Inf")
        name = Path(row["file"] or "").name
        if name in out:
            raise ToolkitError(f"{p}:{line}: a second row for {name}; each file needs exactly one label row")
        out[name] = vals
    return out


def _ccc_all(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {d: ccc_or_nan(a[:, i], b[:, i]) for i, d in enumerate(DIMS)}


def _convert_checkpoint(target: str | os.PathLike, tmp: Path, progress: bool) -> Path:
    from ..convert import convert

    return convert(target, out=tmp / "bundle", progress=progress).out


def _run_files(bundle: Path, files: list[Path], seconds: list[float], jobs: int, progress: bool,
               engine: str = "w2s", elf: Path | None = None, clock=None, device: str = "host") -> list[tuple]:
    """_run_file's tuple per file: in this process, and with jobs > 1 on jobs - 1 spawned workers too. This
    process takes files from the end while the workers take them from the front (EvalPool.collect), so it works
    while they start (a second or so of imports each). The bar counts seconds of audio, with the real-time
    factor."""
    from ..progress import AudioBar
    from .pool import EvalPool, one_blas_thread_here

    setup, paths = (str(bundle), engine, None if elf is None else str(elf), clock, device), [str(f) for f in files]
    with AudioBar(seconds, "validate", progress) as b, one_blas_thread_here():
        if jobs == 1:
            m, out = _file_models(*setup), []
            for p in paths:
                out.append(_run_file(m, p))
                b.update(1)
            return out
        with EvalPool(jobs - 1) as pool:  # stopped, the workers are killed: no waiting for files in flight
            futures = pool.submit(_file_models, setup, _run_file, paths)
            m = _file_models(*setup)
            return pool.collect(futures, b, lambda i: _run_file(m, paths[i]))


def _is_earlier_json(p: Path) -> bool:
    """What --json may replace: a JSON object with validate's figures (or an empty file)."""
    text = p.read_text(encoding="utf-8")
    if not text:
        return True
    d = json.loads(text)
    return isinstance(d, dict) and "ccc_deployed_vs_float" in d


def check_outputs(target: str | os.PathLike, *, json_path=None, plot_dir=None, layers: bool = False,
                  audio=None, labels=None) -> None:
    """What validate will write, and --layers' needs, checked before any work: nothing it writes may land in
    the bundle (or checkpoint) it reads, or replace an input or a file it did not write."""
    inputs = {"the bundle or checkpoint": target, "the --audio folder": audio, "the --labels file": labels}
    for option, path in (("--json", json_path), ("--plot", plot_dir)):
        if path and Path(target).is_dir() and within(path, target):
            raise ToolkitError(f"{option} {path} is inside {target}, which validate reads; choose another {option}")
    if json_path:
        check_file_target(json_path, force=True, what="--json file", inputs=inputs, ours=_is_earlier_json,
                          option="--json")
    if plot_dir:
        check_folder_target(plot_dir)  # files are added to it, never replaced but for our own images
        for d in DIMS:
            png = Path(plot_dir) / f"{d}.png"
            if png.exists():
                check_file_target(png, force=True, what="--plot image", ours=starts_with(PNG), option="--plot")
    if layers and bundle_mod.classify(target) != "bundle":
        raise ToolkitError("--layers needs a bundle folder (run mcu-toolkit convert first)")


def constant_label_warnings(labels: np.ndarray) -> list[str]:
    """Labels that do not vary: CCC against them is 0 for any model (or undefined), so --min-ccc and
    --max-drift say nothing about that dimension."""
    flat = [d for i, d in enumerate(DIMS) if negligible_spread(labels[:, i])]
    if not flat:
        return []
    return [f"the labels' {', '.join(flat)} {'is' if len(flat) == 1 else 'are'} constant over these {len(labels)} "
            "files: CCC against a constant is 0 or undefined whatever the model, so the gates on it say nothing. "
            "Check the labels file."]


def _spread_warnings(f_out: np.ndarray, n: int) -> list[str]:
    flat = [d for i, d in enumerate(DIMS) if negligible_spread(f_out[:, i])]
    if not flat:
        return []
    return [f"the float model's {', '.join(flat)} hardly vary over these {n} files, so CCC says little "
            "(near 0 or undefined); the mean and max errors still hold. Use more varied audio."]


LEVEL_MARGIN_DB = 3.0


def level_warnings(files: list[Path], peaks: list[float], calibration: dict) -> list[str]:
    """A warning when clips peak outside the levels the bundle was calibrated on (report.json's
    calibration.peak_dbfs; older bundles do not record them)."""
    levels = calibration.get("peak_dbfs")
    if not (isinstance(levels, list) and len(levels) == 2 and all(isinstance(v, (int, float)) for v in levels)):
        return []  # not recorded (an older bundle, or every calibration clip silent)
    lo, hi = levels
    out = [(p, f.name) for f, p in zip(files, peaks) if not lo - LEVEL_MARGIN_DB <= p <= hi + LEVEL_MARGIN_DB]
    if not out:
        return []
    p, name = min(out)
    return [f"{len(out)} of {len(files)} clips peak outside the calibrated levels ({lo:.1f} to {hi:.1f} dBFS), "
            f"e.g. {name} at {p:.1f} dBFS: the int8 ranges never saw them; add such clips to the calibration audio"]


def _live_clock(clock_mhz: float | None, cpi: float | None):
    """The board a live run stands for (device.Clock), or None: not live."""
    if cpi is not None and clock_mhz is None:
        raise ToolkitError("--cpi is the live run's cycles per instruction: it needs --clock-mhz")
    if clock_mhz is None:
        return None
    from .device import Clock

    return Clock(clock_mhz, Clock.cpi if cpi is None else cpi)


def _check_engine_device(engine: str, device: str, clock=None) -> None:
    if engine not in spec.ENGINES or device not in spec.DEVICES:
        raise ToolkitError(f"--engine must be one of {', '.join(spec.ENGINES)} and --device one of "
                           f"{', '.join(spec.DEVICES)}")
    if device == "host":
        if clock is not None:
            raise ToolkitError("--clock-mhz runs the firmware live on the emulated board: it needs --device qemu-m4")
        return
    from .device import DEVICES, check_tools

    if clock is not None and not DEVICES[device].live:
        live = ", ".join(d.name for d in DEVICES.values() if d.live)
        raise ToolkitError(f"--clock-mhz runs the firmware live on an emulated board: --device {device} has no live "
                           f"image ({live} has)")
    if engine != "w2s":
        raise ToolkitError(f"--device {device} runs the w2s engine; TFLM cannot be built here (--engine w2s)")
    check_tools(DEVICES[device])


def _given_bundle(target, engine: str, device: str, notes: list[str]) -> Path | None:
    """The bundle folder if `target` is one, checked for what the engine and device need; None: a checkpoint."""
    if bundle_mod.classify(target) != "bundle":
        return None
    b = bundle_mod.Bundle.open(target, VALIDATE_NEEDS)  # a broken report, or a file from elsewhere, is bad input
    notes += b.notes
    if engine == "w2s" and b.report.engine is not None and not b.report.engine.available:
        raise ToolkitError(f"this bundle has no w2s engine ({b.report.engine.reason}); use --engine tflm")
    if device != "host" and b.report.frontend_kind != "fixed":
        raise ToolkitError(f"--device {device} needs a bundle with the fixed-point front end (this one was "
                           "converted with --frontend float)")
    if device != "host":
        from .device import DEVICES, check_fits

        check_fits(b, DEVICES[device])
    return bundle_mod.open_bundle(b.path, ("engine_head.json",) if engine == "w2s" else ())  # report read once


def _device_figures(res: ValidationResult, results: list, clock=None) -> None:
    if clock is not None:
        from .device import live_figures

        res.live = live_figures(clock, [r[4] for r in results])
    res.device_windows = sum(r[3] for r in results)
    res.device_differing = sum(r[2] for r in results)
    if res.device_differing:
        from .device import DEVICES

        res.failures.append(f"the {DEVICES[res.device].cpu} image differs from the host engine in "
                            f"{res.device_differing} window output(s)")


def _prepare(bundle: Path, tmp: Path, engine: str, device: str, clock, notes: list[str]) -> Path | None:
    """The device's firmware image (None on the host), or on the host the compiled pipeline, built once here (a
    note if it cannot be) so that workers find it in the cache."""
    if device == "host":
        _host_pipeline(bundle_mod.Bundle.open(bundle, VALIDATE_NEEDS), engine, notes)
        return None
    from .device import DEVICES, build_image

    return build_image(bundle, tmp / "device", live=clock is not None, device=DEVICES[device])


def validate(bundle_or_checkpoint: str | os.PathLike, audio: str | os.PathLike, *,
             labels: str | os.PathLike | None = None, min_ccc: float | None = None,
             max_drift: float | None = None, jobs: int = 1, progress: bool = False, engine: str = "w2s",
             device: str = "host", clock_mhz: float | None = None, cpi: float | None = None) -> ValidationResult:
    """Compare the deployed pipeline with the float model on every file in `audio`.

    engine "w2s" (our streaming engine) or "tflm"; device "host" (the engine's C compiled for this machine, or
    its numpy mirror: the same numbers) or an emulated board ("qemu-m4": the qemu-f411 firmware image in QEMU),
    checked bit for bit against the host.
    clock_mhz (qemu-m4 only): the image runs live, its samples arriving at 16 kHz of a board at that clock
    and cycles per instruction (cpi, default 1); the result's `live` says what it dropped and analysed."""
    clock = _live_clock(clock_mhz, cpi)
    _check_engine_device(engine, device, clock)
    notes: list[str] = []
    files = list_audio(audio, notes)
    if len(files) < 2:
        raise ToolkitError(f"{audio} has {len(files)} audio file; CCC needs at least 2")
    label_map = read_labels(labels) if labels else None
    if label_map is not None:
        missing = [f.name for f in files if f.name not in label_map]
        if missing:
            raise ToolkitError(f"no label for {len(missing)} file(s), e.g. {missing[0]}")
    if jobs < 1:
        raise ToolkitError("--jobs must be at least 1")
    given = _given_bundle(bundle_or_checkpoint, engine, device, notes)
    seconds = [audio_seconds(f) for f in files]  # an unreadable or empty file is an input error before any work
    # every child in the run's group, and its temporary files in tmp: a stop leaves neither behind
    with tempfile.TemporaryDirectory() as tmp, child_group(), environ_set(TMPDIR=tmp):
        bundle = given or _convert_checkpoint(bundle_or_checkpoint, Path(tmp), progress)
        elf = _prepare(bundle, Path(tmp), engine, device, clock, notes)
        results = _run_files(bundle, files, seconds, jobs, progress, engine, elf, clock, device)
        report = bundle_mod.read_report(bundle)  # read here: a bundle converted from a checkpoint goes with tmp
    f_out = np.array([r[0] for r in results], dtype=np.float64)
    d_out = np.array([r[1] for r in results], dtype=np.float64)
    res = ValidationResult(
        files=[f.name for f in files], float_out=f_out, deployed_out=d_out,
        ccc_vs_float=_ccc_all(d_out, f_out),
        mean_abs_err={d: float(np.mean(np.abs(d_out[:, i] - f_out[:, i]))) for i, d in enumerate(DIMS)},
        max_abs_err={d: float(np.max(np.abs(d_out[:, i] - f_out[:, i]))) for i, d in enumerate(DIMS)},
        min_ccc=min_ccc, max_drift=max_drift,
        warnings=notes + _spread_warnings(f_out, len(files))
        + level_warnings(files, [r[5] for r in results], report.calibration),
        engine=engine, device=device, frontend=report.frontend_kind,
    )
    if device != "host":
        _device_figures(res, results, clock)
    if label_map is not None:
        res.labels = np.array([label_map[f] for f in res.files])
        res.warnings += constant_label_warnings(res.labels)
        res.ccc_float_vs_labels = _ccc_all(f_out, res.labels)
        res.ccc_deployed_vs_labels = _ccc_all(d_out, res.labels)
    for d in DIMS:
        # written so that a NaN (undefined) CCC or drift fails: NaN >= x is False
        if min_ccc is not None and not res.ccc[d] >= min_ccc:
            res.failures.append(f"{d}: CCC {_fmt(res.ccc[d])} < --min-ccc {min_ccc}")
        if max_drift is not None and not res.drift[d] <= max_drift:
            res.failures.append(f"{d}: drift {_fmt(res.drift[d])} > --max-drift {max_drift}")
    return res


def _fmt(x: float, width: int = 0) -> str:
    return f"{x:>{width}.4f}" if np.isfinite(x) else f"{'undefined':>{width}}"


def table(res: ValidationResult) -> str:
    head = f"{'dimension':<10} {'CCC dep/float':>13} {'mean |err|':>10} {'max |err|':>9}"
    if res.labels is not None:
        head += f" {'CCC float/lab':>13} {'CCC dep/lab':>11} {'drift':>8}"
    lines = [head, "-" * len(head)]
    for d in DIMS:
        row = f"{d:<10} {_fmt(res.ccc_vs_float[d], 13)} {res.mean_abs_err[d]:>10.4f} {res.max_abs_err[d]:>9.4f}"
        if res.labels is not None:
            row += (f" {_fmt(res.ccc_float_vs_labels[d], 13)} {_fmt(res.ccc_deployed_vs_labels[d], 11)}"
                    f" {_fmt(res.drift[d], 8)}")
        lines.append(row)
    gates = [g for g in (f"--min-ccc {res.min_ccc}" if res.min_ccc is not None else "",
                         f"--max-drift {res.max_drift}" if res.max_drift is not None else "") if g]
    verdict = "PASS" if res.passed else "FAIL"
    where = {"w2s": "the w2s engine", "tflm": "int8 on TFLM"}[res.engine]
    if res.device == "host":
        where += " on the host"
    else:
        from .device import DEVICES

        where += f" on an emulated {DEVICES[res.device].cpu} (QEMU)"
    front = ("fixed-point front end" if res.frontend == "fixed" else
             "float log-mel (a --frontend float bundle: no device front end)")
    lines.append(f"deployed = {front} -> {where}")
    if res.live is not None:
        lv = res.live
        lines.append(f"live at {lv['clock_mhz']:g} MHz, {lv['cycles_per_instruction']:g} cycles per instruction: "
                     f"{lv['windows_analysed']} of {lv['windows_total']} windows analysed "
                     f"({lv['partial_windows']} partial), {lv['dropped_samples']} samples dropped "
                     f"({lv['windows_cut']} windows restarted after them), "
                     f"CPU load {lv['cpu_load']:.2f}, latency up to {lv['latency_ms_max']:.0f} ms")
    if res.device_windows is not None:
        lines.append(f"device vs host engine: {res.device_differing} of {res.device_windows} window outputs differ")
    lines.append(f"{len(res.files)} files; gate {' '.join(gates) if gates else 'not set'}: {verdict}")
    return "\n".join(lines)


def plot(res: ValidationResult, folder: str | os.PathLike) -> list[Path]:
    """One PNG per dimension: deployed vs float, the identity line, the CCC in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, d in enumerate(DIMS):
        fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
        x, y = res.float_out[:, i], res.deployed_out[:, i]
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=1, label="identity")
        ax.scatter(x, y, s=14, color="tab:blue")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"float model {d}")
        ax.set_ylabel(f"deployed ({'w2s engine' if res.engine == 'w2s' else 'int8 on TFLM'}) {d}")
        ax.set_title(f"{d}: CCC {_fmt(res.ccc_vs_float[d])} ({len(x)} files)")
        ax.legend(loc="upper left", frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        plt.close(fig)
        out.append(atomic_write(buf.getvalue(), folder / f"{d}.png"))
    return out
