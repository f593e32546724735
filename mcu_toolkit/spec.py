"""The facts every part shares, defined once and torch-free: audio, STFT, mel, outputs.

Python reads them here; the C front end gets them generated into w2s_frontend_tables.h.
"""

from __future__ import annotations

SAMPLE_RATE = 16000            # Hz; Wav2Small's input rate
N_FFT = 64                     # STFT size (the card's frozen Conv1d kernels)
HOP = 32                       # STFT stride: 500 frames per second
N_BINS = N_FFT // 2 + 1        # one-sided spectrum
N_MELS = 26                    # the card's mel count (a checkpoint may carry another)
MEL_AMIN = 1e-10               # mel power floor before 10*log10 (the card's `amin`)
PRENORM_EPS = 1e-7             # prenorm: x / sqrt(mean(x^2) + eps)
OUTPUT_NAMES = ("arousal", "dominance", "valence")   # the head's three outputs, in order
WINDOW_MIN_S, WINDOW_MAX_S = 0.1, 60.0  # --window-seconds, every command (the front end's sums hold 60 s)
WINDOW_DEFAULT_S = 2.0                  # the model window when none is named

# The choices the commands offer, each first is the default.
ENGINES = ("w2s", "tflm")      # w2s: our streaming engine; tflm: the int8 flatbuffer on TFLite Micro
FRONTENDS = ("fixed", "float")  # fixed: the device's integer log-mel; float: the model's own
DEVICES = ("host", "qemu-m4", "qemu-rv32")  # where validate runs the deployed pipeline
ONNX_INPUT_NAME = "logmel"      # the trunk's one input, in the ONNX and (through onnx2tf) the TFLite


def check_window(seconds: float) -> int:
    """--window-seconds in samples, or a ToolkitError naming the range (NaN fails too): convert, features
    and firmware check it here."""
    from .errors import ToolkitError

    if not WINDOW_MIN_S <= seconds <= WINDOW_MAX_S:
        raise ToolkitError(f"--window-seconds must be between {WINDOW_MIN_S:g} and {WINDOW_MAX_S:g}, got {seconds}")
    return int(round(seconds * SAMPLE_RATE))


def frames(n_samples: int, n_fft: int = N_FFT, hop: int = HOP) -> int:
    """STFT frames for n samples: no centring, no padding."""
    return 0 if n_samples < n_fft else (n_samples - n_fft) // hop + 1
