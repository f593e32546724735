"""Float log-mel exactly as Wav2Small computes it (prenorm, Hann STFT power, Slaney mel, 10*log10)."""

from __future__ import annotations

import numpy as np

from ..spec import HOP, MEL_AMIN, N_FFT, PRENORM_EPS
from .mel import periodic_hann, slaney_mel_matrix


def logmel_float(x: np.ndarray, n_mels: int = 26, sample_rate: int = 16000) -> np.ndarray:
    """(frames, n_mels) float64 log-mel in dB of one window or utterance (float samples in [-1, 1))."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    x = x / np.sqrt(np.mean(x ** 2) + PRENORM_EPS)
    frames = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * periodic_hann(N_FFT), axis=1)) ** 2
    mel = power @ slaney_mel_matrix(sample_rate, N_FFT, n_mels).astype(np.float64)
    return 10.0 * np.log10(np.maximum(mel, MEL_AMIN))
