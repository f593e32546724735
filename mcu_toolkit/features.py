"""`features`: the log-mel one audio file gives, window by window, as the device computes it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .audio import cut_windows, load_audio, to_pcm16
from .dsp import fixed, float_ref
from .outputs import atomic_write
from .spec import WINDOW_DEFAULT_S, check_window


def features(audio: str | os.PathLike, *, use_float: bool = False, window_seconds: float = WINDOW_DEFAULT_S,
             n_mels: int = 26) -> np.ndarray:
    """(windows, frames, mels): int16 dB Q7 from the fixed-point front end (divide by 128 for dB),
    or with use_float float32 dB from the model's float front end."""
    window = check_window(window_seconds)
    windows, _ = cut_windows(load_audio(audio), window)
    if use_float:
        return np.stack([float_ref.logmel_float(w, n_mels) for w in windows]).astype(np.float32)
    t = fixed.tables(n_mels)
    return np.stack([fixed.window_logmel_q7(to_pcm16(w), t) for w in windows])


def save_npy(array: np.ndarray, out: str | os.PathLike, force: bool = False) -> Path:
    buf = io.BytesIO()
    np.save(buf, array)
    return atomic_write(buf.getvalue(), out, force)
