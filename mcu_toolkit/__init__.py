"""mcu-toolkit: Wav2Small from checkpoint to int8 TFLite on TFLM, with the C bundle firmware needs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .verify.validation import ValidationResult

__version__ = "0.1.0"


def validate(bundle_or_checkpoint: str | os.PathLike, audio: str | os.PathLike, *,
             labels: str | os.PathLike | None = None, min_ccc: float | None = None,
             max_drift: float | None = None, jobs: int = 1, progress: bool = False, engine: str = "w2s",
             device: str = "host", clock_mhz: float | None = None, cpi: float | None = None) -> "ValidationResult":
    """The deployed pipeline against the float model on every file in `audio`: a ValidationResult with
    .ccc, .drift, .passed, .failures, .warnings. See mcu_toolkit.verify.validation.validate (imported on
    first call: `import mcu_toolkit` stays light)."""
    from .verify.validation import validate as _validate

    return _validate(bundle_or_checkpoint, audio, labels=labels, min_ccc=min_ccc, max_drift=max_drift, jobs=jobs,
                     progress=progress, engine=engine, device=device, clock_mhz=clock_mhz, cpi=cpi)
