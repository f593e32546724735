"""Float log-mel exactly as Wav2Small computes it (prenorm, Hann STFT power, Slaney mel, 10*log10)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..spec import HOP, MEL_AMIN, N_FFT, PRENORM_EPS
from .mel import periodic_hann, slaney_mel_matrix


@lru_cache(maxsize=8)
def _tables(n_mels: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The window and the mel matrix: built once, not per window (validate runs thousands)."""
    hann, mel = periodic_hann(N_FFT), slaney_mel_matrix(sample_rate, N_FFT, n_mels).astype(np.float64)
    for a in (hann, mel):
        a.flags.writeable = False
    return hann, mel


def logmel_float(x: np.ndarray, n_mels: int = 26, sample_rate: int = 16000) -> np.ndarray:
    """(frames, n_mels) float64 log-mel in dB of one window or utterance (float samples in [-1, 1))."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    x = x / np.sqrt(np.mean(x ** 2) + PRENORM_EPS)
    frames = 1 + (len(x) - N_FFT) // HOP
    if frames < 1:  # shorter than one frame: no frame, as before the strided view (which refuses it)
        return np.zeros((0, n_mels))
    hann, mel_matrix = _tables(n_mels, sample_rate)
    framed = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:frames]  # x[idx] without the gather
    power = np.abs(np.fft.rfft(framed * hann, axis=1)) ** 2
    mel = power @ mel_matrix
    return 10.0 * np.log10(np.maximum(mel, MEL_AMIN))


def logmel_float_windows(windows: np.ndarray, n_mels: int = 26, sample_rate: int = 16000) -> np.ndarray:
    """(k, frames, n_mels): logmel_float of each row of `windows` (k, samples), the same operations on the last axis,
    so the same bits (tests/test_native.py holds them equal); a third faster than a call per window."""
    x = np.asarray(windows, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    x = x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + PRENORM_EPS)
    frames = 1 + (x.shape[1] - N_FFT) // HOP
    hann, mel_matrix = _tables(n_mels, sample_rate)
    framed = np.lib.stride_tricks.sliding_window_view(x, N_FFT, axis=1)[:, ::HOP][:, :frames]
    power = np.abs(np.fft.rfft(framed * hann, axis=-1)) ** 2
    mel = power @ mel_matrix
    return 10.0 * np.log10(np.maximum(mel, MEL_AMIN))
