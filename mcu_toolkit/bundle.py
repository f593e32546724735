"""What a convert bundle is: its files, and how a folder is recognised as one.

Defined once here; `convert` writes these files, `validate` and `firmware` open them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ToolkitError
from .outputs import staged_dir

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
    "w2s_engine.h": "the streaming int8 engine (C99, no TFLM): bit-exact with TFLM through the trunk",
    "w2s_engine.c": "",
    "w2s_engine_layer.h": "the plain structs of its generated model",
    "w2s_engine_model.h": "the model for the engine: layers from model_int8.tflite, exp table, head",
    "w2s_engine_model.c": "",
    "engine_head.json": "the float head of the engine's exact tail (validate rebuilds the engine from it)",
    "report.json": "every figure (sizes, arena, ops, CCC, versions)",
    "report.md": "the same, for a person",
}
C_FILES = tuple(n for n in FILES if n.endswith((".h", ".c")))
FRONTEND_FILES = tuple(n for n in C_FILES if n.startswith("w2s_frontend"))
CHECKPOINT_MARK = "model.safetensors"


def files_help() -> str:
    """The bundle's file list for --help, grouped as .h/.c pairs."""
    names = [n for n in FILES if not (n.endswith(".c") and n[:-2] + ".h" in FILES)]
    return ", ".join(n[:-2] + ".{h,c}" if n[:-2] + ".c" in FILES else n for n in names)


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
    return p


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
    frontend: dict               # kind "fixed" (sizes, formats) or "float"
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
    engine: dict = field(default_factory=dict)  # the w2s engine: state bytes, trunk check against TFLM
    tflm: dict = field(default_factory=dict)    # the TFLM path's CCC and errors, side by side
    messages: list = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)  # differs run to run; everything else is reproducible

    @property
    def n_mels(self) -> int:
        return int(self.model["n_mels"])

    @property
    def frontend_kind(self) -> str:
        return self.frontend["kind"]

    def to_json(self) -> str:
        return json_text(dataclasses.asdict(self))

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
        return cls(**{k: d[k] for k in names if k in d})


def read_report(bundle: Path) -> Report:
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

    @classmethod
    def open(cls, path: str | os.PathLike, needs: tuple[str, ...] = ("model_int8.tflite", "report.json")) -> "Bundle":
        p = open_bundle(path, needs)
        return cls(p, read_report(p))

    @staticmethod
    def write(out: str | os.PathLike, files: dict[str, bytes | str], report: Report, force: bool) -> "Bundle":
        """All files plus report.json and report.md, atomically into `out` (replaced only with force)."""
        from .emit.report import markdown

        unknown = set(files) - set(FILES)
        if unknown:
            raise ValueError(f"not bundle files: {sorted(unknown)}")
        with staged_dir(out, force) as stage:
            for name, data in {**files, "report.json": report.to_json(), "report.md": markdown(report)}.items():
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
