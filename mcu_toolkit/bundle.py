"""What a convert bundle is: its files, and how a folder is recognised as one.

Defined once here; `convert` writes these files, `validate` and `firmware` open them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .engine import c_source_names
from .errors import ToolkitError
from .spec import WINDOW_MAX_S
from .outputs import empty_or, staged_dir
from .spec import HOP, N_FFT, SAMPLE_RATE, frames

# The engine's hand-written C is whatever engine/c holds; these say what the main files are.
ENGINE_HELP = {
    "w2s_engine.h": "the streaming int8 engine (C99, no TFLM): bit-exact with TFLM through the trunk",
    "w2s_engine_kernels.h": "its row kernels, one file per layer kind (private to the engine's .c files)",
    "w2s_engine_layer.h": "the plain structs of its generated model",
}
# name -> what it holds; --help and the README's table are made from the same facts
FILES = {
    "model_int8.tflite": "the int8 model (int8 in, int8 out), proven on TFLM",
    "model_float32.tflite": "onnx2tf's float TFLite (for validate --layers)",
    "model.onnx": "the float trunk the int8 model came from",
    "model_data.h": "the model as a 16-byte aligned const array (stays in flash)",
    "model_data.c": "",
    "model_ops.h": "MicroMutableOpResolver with exactly the model's ops (C++, TFLM)",
    "model_config.h": "arena size, input shape, quantisation, window, frames",
    "w2s_frontend.h": "the fixed-point log-mel front end (C99; fixed front end only)",
    "w2s_frontend.c": "",
    "w2s_frontend_tables.h": "its tables and the int8 input quantiser",
    "w2s_frontend_tables.c": "",
    **{name: ENGINE_HELP.get(name, "") for name in c_source_names()},
    "w2s_engine_model.h": "the model for the engine: layers from model_int8.tflite, exp table, head",
    "w2s_engine_model.c": "",
    "engine_head.json": "the float head of the engine's exact tail (validate rebuilds the engine from it)",
    "report.json": "every figure (sizes, arena, ops, CCC, versions)",
    "report.md": "the same, for a person",
}
REPORTS = ("report.json", "report.md")
HASHED = tuple(n for n in FILES if n not in REPORTS)  # report.json records each one's sha256
C_FILES = tuple(n for n in FILES if n.endswith((".h", ".c")))
FRONTEND_FILES = tuple(n for n in C_FILES if n.startswith("w2s_frontend"))
CHECKPOINT_MARK = "model.safetensors"
LFS_POINTER = b"version https://git-lfs.github.com/spec/"  # what a clone without git-lfs holds instead


def files_help() -> str:
    """The bundle's file list for --help, grouped as .h/.c pairs."""
    names = [n for n in FILES if not (n.endswith(".c") and n[:-2] + ".h" in FILES)]
    return ", ".join(n[:-2] + ".{h,c}" if n.endswith(".h") and n[:-2] + ".c" in FILES else n for n in names)


def is_bundle_dir(p: Path) -> bool:
    """A folder that holds any bundle file and no checkpoint."""
    return p.is_dir() and not (p / CHECKPOINT_MARK).exists() and any((p / n).exists() for n in FILES)


def open_bundle(path: str | os.PathLike, needs: tuple[str, ...] = ("model_int8.tflite", "report.json")) -> Path:
    """The bundle folder, once every file in `needs` is there; one line naming the first one missing."""
    p = Path(path)
    if not p.is_dir():
        raise ToolkitError(f"bundle folder not found: {p}")
    for name in needs:
        if not (p / name).is_file():
            why = ("; it was converted with --frontend float, and firmware needs the fixed front end"
                   if name in FRONTEND_FILES else "; re-run mcu-toolkit convert")
            raise ToolkitError(f"bundle {p} lacks {name}{why}")
        _refuse_lfs_pointer(p, name)
    return p


def _refuse_lfs_pointer(p: Path, name: str) -> None:
    with open(p / name, "rb") as f:
        if f.read(len(LFS_POINTER)) == LFS_POINTER:
            raise ToolkitError(f"bundle {p}: {name} is a Git LFS pointer, not the file itself; run git lfs pull "
                               "where it came from")


def _sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_files(p: Path, report: "Report") -> list[str]:
    """Every bundle file present is the one this report's convert wrote: a changed, corrupt or swapped-in
    file (another convert's model, an LFS pointer) is one line naming it. Returns notes for the user."""
    present = [n for n in HASHED if (p / n).is_file()]
    for name in present:
        _refuse_lfs_pointer(p, name)
    if report.sha256:
        for name in present:
            if name not in report.sha256:
                raise ToolkitError(f"bundle {p}: {name} was not written by this bundle's convert (report.json "
                                   "records no sha256 for it); remove it or re-run mcu-toolkit convert")
            if _sha256_of(p / name) != report.sha256[name]:
                raise ToolkitError(f"bundle {p}: {name} is not the file this bundle's convert wrote (its sha256 "
                                   "differs from report.json's): changed, corrupt, or from another convert; "
                                   "re-run mcu-toolkit convert")
        return []
    # a bundle from before the hashes: its recorded sizes still catch most swaps
    for name, size in (("model_int8.tflite", report.tflite_bytes), ("model.onnx", report.onnx_bytes)):
        if name in present and (p / name).stat().st_size != size:
            raise ToolkitError(f"bundle {p}: {name} has {(p / name).stat().st_size} B where report.json says "
                               f"{size} B: changed, corrupt, or from another convert; re-run mcu-toolkit convert")
    return [f"bundle {p} predates per-file hashes in report.json: only its models' sizes could be checked "
            "against it; re-run mcu-toolkit convert to have every file checked"]


def is_earlier_bundle(p: Path) -> bool:
    """What convert --force may replace: a folder whose report.json has every field a convert writes."""
    try:
        d = json.loads((p / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    required = [f.name for f in dataclasses.fields(Report) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    return isinstance(d, dict) and all(k in d for k in required)


earlier_bundle_or_empty = empty_or(is_earlier_bundle)


def _from_dict(cls, d: dict):
    """A nested figure of report.json: the keys it knows (an older or newer report may hold others, or fewer)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class FrontendFigures:
    """report.json's `frontend`: the fixed-point front end's formats, flash and RAM (kind "fixed"), or kind
    "float": no front end on the device. Field names are the JSON keys; a figure missing in an older report
    is None."""

    kind: str                                   # "fixed" or "float"
    note: str | None = None                     # float: what calibration and drift used instead
    format: dict | None = None                  # each stage's number format
    prenorm: str | None = None
    table_bytes: int | None = None              # flash
    code_bytes_cortex_m4_Os: int | None = None  # None: measured without arm-none-eabi-gcc
    flash_bytes: int | None = None
    state_bytes: int | None = None              # RAM, any window length
    window_buffer_bytes: int | None = None      # RAM, grows with the window
    ram_bytes: int | None = None
    window_samples: int | None = None

    def to_dict(self) -> dict:
        keep = (("kind", "note") if self.kind == "float" else
                [f.name for f in dataclasses.fields(self) if f.name != "note"])
        return {k: getattr(self, k) for k in keep}


@dataclass
class EngineFigures:
    """report.json's `engine`: the w2s engine's sizes and its trunk against TFLM, or (available false) why
    convert could not generate one."""

    name: str = "w2s"
    available: bool = True
    reason: str | None = None                   # why there is no engine
    state_bytes: int | None = None              # sizeof(w2s_engine_t): the same for every window length
    data_bytes: int | None = None               # its generated model, flash
    code_bytes_cortex_m4_Os: int | None = None  # None: measured without arm-none-eabi-gcc
    state_note: str | None = None
    int8_outputs_per_window: int | None = None  # the cycle estimate's second term (firmware/speed.py)
    frontend_store_bytes_per_frame: int | None = None
    frontend_store_bytes: int | None = None     # the front end's window store, RAM
    trunk_vs_tflm: dict | None = None           # windows, tensors, values, differing (int8 values)
    tail: str | None = None
    winograd_bytes: int | None = None           # of state_bytes: the Winograd convs' rows (DSP cores); 0: none
    winograd_macs_per_window: int | None = None  # of the MACs: the Winograd convs' (at their direct count)

    def to_dict(self) -> dict:
        keep = (("name", "available", "reason") if not self.available else
                [f.name for f in dataclasses.fields(self) if f.name != "reason"])
        return {k: getattr(self, k) for k in keep}


@dataclass
class TflmFigures:
    """report.json's `tflm`: the TFLM path's drift from the float model, beside the engine's (the report's own
    `ccc`, `drift`, ...)."""

    ccc: dict
    drift: dict | None = None
    mean_abs_err: dict | None = None
    max_abs_err: dict | None = None
    arena_bytes: int | None = None
    evaluated_as: str | None = None             # the whole model on TFLM, or its tail on the engine's features

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Report:
    """report.json, typed: every figure convert measured. Field names are the JSON keys."""

    checkpoint: str
    model: dict                  # the config read from the checkpoint, params, params_with_frozen_frontend
    macs: int                    # multiply-accumulates per window
    gram_scale: float            # power of two on the Gram features, undone in the head (float-identical)
    window_seconds: float
    window_samples: int
    frames_per_window: int
    input_shape: list
    input_quant: dict            # scale, zero_point
    output_quant: dict
    tflite_bytes: int
    onnx_bytes: int
    onnx_max_abs_err_vs_torch: float
    tflite_float_max_abs_err_vs_onnx: float
    arena_bytes: int             # with margin: what firmware allocates
    arena_bytes_measured: int
    ops: list
    frontend: FrontendFigures
    calibration: dict
    eval_files: int
    eval_file_names: list
    eval_padded_files: list
    ccc: dict                    # the deployed w2s engine vs float, per output (the gate's figures)
    drift: dict
    mean_abs_err: dict
    max_abs_err: dict
    min_ccc: float | None
    passed: bool
    versions: dict
    engine: EngineFigures | None = None  # None: a report from before the engine
    tflm: TflmFigures | None = None      # None: a report from before the TFLM path's figures
    messages: list = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)  # differs run to run; everything else is reproducible
    sha256: dict = field(default_factory=dict)     # every bundle file but the reports (HASHED): its sha256

    @property
    def n_mels(self) -> int:
        return int(self.model["n_mels"])

    @property
    def frontend_kind(self) -> str:
        return self.frontend.kind

    def to_json(self) -> str:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.update(frontend=self.frontend.to_dict(), engine=self.engine.to_dict() if self.engine else {},
                 tflm=self.tflm.to_dict() if self.tflm else {})
        return json_text(d)

    @classmethod
    def from_dict(cls, d: dict, where: str = "report.json") -> "Report":
        if not isinstance(d, dict):
            raise ToolkitError(f"{where} is not a JSON object")
        names = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        missing = [k for k in required if k not in d]
        if missing:
            raise ToolkitError(f"{where} lacks {missing[0]}; re-run mcu-toolkit convert")
        for key, inner, kind in (("model", "n_mels", int), ("frontend", "kind", str), ("ccc", None, None)):
            if not isinstance(d[key], dict) or (inner and not isinstance(d[key].get(inner), kind)):
                raise ToolkitError(f"{where}: {key} is malformed; re-run mcu-toolkit convert")
        _check_figures(d, where)
        kw = {k: d[k] for k in names if k in d}
        kw["frontend"] = _from_dict(FrontendFigures, d["frontend"])
        for key, figures in (("engine", EngineFigures), ("tflm", TflmFigures)):
            kw[key] = _from_dict(figures, d[key]) if d.get(key) else None  # {}: from before those figures
        return cls(**kw)


BYTES = (0, 2**31)  # a size in bytes that any of our targets could hold


def _check_figures(d: dict, where: str) -> None:
    """The figures validate and firmware compute with, each of its type and in range: a hand-edited or
    corrupt report.json is one line naming the field, not a traceback later."""
    def bad(key: str, v, want: str):
        raise ToolkitError(f"{where}: {key} is {json.dumps(v)[:40]}, not {want}; re-run mcu-toolkit convert")

    def number(obj: dict, key: str, lo: float, hi: float, integer: bool = True, optional: bool = False,
               name: str | None = None):
        v = obj.get(key)
        if v is None and optional:
            return None
        is_num = isinstance(v, int) if integer else isinstance(v, (int, float)) and math.isfinite(v)
        if isinstance(v, bool) or not is_num or not lo <= v <= hi:
            bad(name or key, v, f"{'an integer' if integer else 'a number'} in [{lo:g}, {hi:g}]")
        return v

    model, fe = d["model"], d["frontend"]
    n_fft = number(model, "n_fft", 2, 4096, optional=True, name="model.n_fft") or N_FFT
    hop = number(model, "hop", 1, 4096, optional=True, name="model.hop") or HOP
    number(model, "n_mels", 1, 1024, name="model.n_mels")
    n = number(d, "window_samples", n_fft, int(WINDOW_MAX_S * SAMPLE_RATE))
    if abs(number(d, "window_seconds", 0, WINDOW_MAX_S, integer=False) - n / SAMPLE_RATE) > 0.5 / SAMPLE_RATE:
        bad("window_seconds", d["window_seconds"], f"window_samples / {SAMPLE_RATE} = {n / SAMPLE_RATE:g}")
    if number(d, "frames_per_window", 1, n) != frames(n, n_fft, hop):
        bad("frames_per_window", d["frames_per_window"], f"the {frames(n, n_fft, hop)} frames of {n} samples")
    for key in ("arena_bytes", "tflite_bytes", "onnx_bytes"):
        number(d, key, *BYTES)
    number(d, "macs", 0, 2**53)
    if fe["kind"] not in ("fixed", "float"):
        bad("frontend.kind", fe["kind"], '"fixed" or "float"')
    for key in ("code_bytes_cortex_m4_Os", "table_bytes", "state_bytes", "window_buffer_bytes"):
        number(fe, key, *BYTES, optional=True, name=f"frontend.{key}")
    for k, v in d["ccc"].items():
        if v is not None:
            number(d["ccc"], k, -1.0, 1.0, integer=False, name=f"ccc.{k}")
    engine = d.get("engine", {})
    if not isinstance(engine, dict):
        bad("engine", engine, "an object")
    if engine and not isinstance(engine.get("available", True), bool):
        bad("engine.available", engine["available"], "true or false")
    if engine and engine.get("available", True):
        for key in ("state_bytes", "data_bytes", "frontend_store_bytes"):
            number(engine, key, *BYTES, name=f"engine.{key}")
        for key in ("code_bytes_cortex_m4_Os", "int8_outputs_per_window", "winograd_bytes",
                    "winograd_macs_per_window"):
            number(engine, key, 0, 2**53, optional=True, name=f"engine.{key}")
    tflm = d.get("tflm", {})
    if not isinstance(tflm, dict) or (tflm and not isinstance(tflm.get("ccc"), dict)):
        bad("tflm", tflm, "an object with a ccc object")
    hashes = d.get("sha256", {})
    if not isinstance(hashes, dict) or any(k not in HASHED or not isinstance(v, str)
                                           or not re.fullmatch("[0-9a-f]{64}", v) for k, v in hashes.items()):
        bad("sha256", hashes, "bundle file names and their sha256 in hex")


def read_report(bundle: Path) -> Report:
    _refuse_lfs_pointer(bundle, "report.json")
    try:
        data = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ToolkitError(f"bundle {bundle}: report.json is not valid JSON ({e.__class__.__name__})")
    return Report.from_dict(data, f"bundle {bundle}: report.json")


@dataclass
class Bundle:
    """A convert output folder and its report."""

    path: Path
    report: Report
    notes: list = field(default_factory=list)  # for the user: what could not be checked

    @classmethod
    def open(cls, path: str | os.PathLike, needs: tuple[str, ...] = ("model_int8.tflite", "report.json")) -> "Bundle":
        """The bundle, once `needs` are there and every file present is the one its convert wrote."""
        p = open_bundle(path, needs)
        report = read_report(p)
        return cls(p, report, check_files(p, report))

    @staticmethod
    def write(out: str | os.PathLike, files: dict[str, bytes | str], report: Report, force: bool) -> "Bundle":
        """All files plus report.json and report.md, atomically into `out` (replaced only with force)."""
        from .emit.report import markdown

        unknown = set(files) - set(HASHED)
        if unknown:
            raise ValueError(f"not bundle files: {sorted(unknown)}")
        blobs = {name: data if isinstance(data, bytes) else data.encode() for name, data in files.items()}
        report.sha256 = {name: hashlib.sha256(blobs[name]).hexdigest() for name in sorted(blobs)}
        with staged_dir(out, force, ours=earlier_bundle_or_empty) as stage:
            for name, data in {**blobs, "report.json": report.to_json(), "report.md": markdown(report)}.items():
                (stage / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return Bundle(Path(out), report)


def classify(path: str | os.PathLike) -> str:
    """'bundle' or 'checkpoint'; a folder that is neither is bad input."""
    p = Path(path)
    if not p.exists():
        raise ToolkitError(f"not found: {p}")
    if p.is_dir() and not (p / CHECKPOINT_MARK).exists():
        if is_bundle_dir(p):
            return "bundle"
        raise ToolkitError(f"{p} is neither a convert bundle (no model_int8.tflite) nor a checkpoint folder "
                           f"(no {CHECKPOINT_MARK})")
    return "checkpoint"


def json_text(obj) -> str:
    """Strict JSON: NaN and Inf become null, so report.json is always valid JSON."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj), indent=2, allow_nan=False) + "\n"
