"""`features`: the log-mel one audio file gives, window by window, as the device computes it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, cut_windows, load_audio, to_pcm16
from .errors import ToolkitError
from .dsp import fixed, float_ref
from .outputs import atomic_write
from .spec import WINDOW_MAX_S, WINDOW_MIN_S


def features(audio: str | os.PathLike, *, use_float: bool = False, window_seconds: float = 2.0,
             n_mels: int = 26) -> np.ndarray:
    """(windows, frames, mels): int16 dB Q7 from the fixed-point front end (divide by 128 for dB),
    or with use_float float32 dB from the model's float front end."""
    if not WINDOW_MIN_S <= window_seconds <= WINDOW_MAX_S:  # NaN fails too
        raise ToolkitError(f"--window-seconds must be between {WINDOW_MIN_S:g} and {WINDOW_MAX_S:g}")
    window = int(round(window_seconds * SAMPLE_RATE))
    windows, _ = cut_windows(load_audio(audio), window)
    if use_float:
        return np.stack([float_ref.logmel_float(w, n_mels) for w in windows]).astype(np.float32)
    t = fixed.tables(n_mels)
    return np.stack([fixed.window_logmel_q7(to_pcm16(w), t) for w in windows])


def save_npy(array: np.ndarray, out: str | os.PathLike, force: bool = False) -> Path:
    buf = io.BytesIO()
    np.save(buf, array)
    return atomic_write(buf.getvalue(), out, force)
