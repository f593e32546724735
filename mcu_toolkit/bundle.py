"""What a convert bundle is: its files, and how a folder is recognised as one.

Defined once here; `convert` writes these files, `validate` and `firmware` open them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .errors import ToolkitError

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
            raise ToolkitError(f"bundle {p} lacks {name}; re-run mcu-toolkit convert")
    return p


def read_report(bundle: Path) -> dict:
    try:
        return json.loads((bundle / "report.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ToolkitError(f"bundle {bundle}: report.json is not valid JSON ({e.__class__.__name__})")


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
