"""Where the embedded default checkpoint, calibration audio and firmware templates live.

After `pip install .` they sit inside the package; in a checkout they sit at the repo root.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _first(*candidates: Path) -> Path:
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]


def default_checkpoint() -> Path:
    return _PKG / "assets" / "wav2small_reference"


def calibration_audio_root() -> Path:
    return _first(_PKG / "calibration_audio", _PKG.parent / "calibration_audio")


def default_calibration_dir() -> Path:
    return calibration_audio_root() / "calibration"


def default_eval_dir() -> Path:
    return calibration_audio_root() / "heldout"


def firmware_templates_root() -> Path:
    return _first(_PKG / "firmware_templates", _PKG.parent / "firmware_templates")
