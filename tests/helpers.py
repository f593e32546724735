"""Helpers shared by tests (imported as `from helpers import ...`; conftest puts tests/ on sys.path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from mcu_toolkit import spec
import pytest

import cbuild

ROOT = Path(__file__).resolve().parent.parent
# The default window, from spec.py: a test that changes with the default reads these, never 32000 or 999.
WINDOW = spec.check_window(spec.WINDOW_DEFAULT_S)   # samples
FRAMES = spec.frames(WINDOW)                        # log-mel frames per window
MELS = spec.N_MELS
DATA = Path(__file__).resolve().parent / "data"
needs_arm = pytest.mark.skipif(cbuild.missing(*cbuild.ARM_TOOLS) is not None,
                               reason=str(cbuild.missing(*cbuild.ARM_TOOLS)))  # builds for and boots a Cortex-M4
needs_arm_gcc = pytest.mark.skipif(cbuild.missing("arm-none-eabi-gcc") is not None,
                                   reason=str(cbuild.missing("arm-none-eabi-gcc")))  # compiles for Cortex-M only


def run_cli(*args, cwd=None, timeout=600, env=None):
    """The installed console script if present, else the package module: exactly what users run."""
    exe = shutil.which("mcu-toolkit")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "mcu_toolkit.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def card_dft_kernels(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The STFT kernels as the model card's code builds them: powers of a complex root of unity times a
    periodic Hann window, first n/2+1 rows, float64 -> float32."""
    t, k = np.meshgrid(np.arange(n), np.arange(n))
    hann = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n) / n))
    m = (np.exp(-2j * np.pi / n) ** (t * k) * hann[None, :])[: n // 2 + 1]
    return np.real(m).astype(np.float32), np.imag(m).astype(np.float32)


def card_state_dict(weights: dict, channels: int = 13) -> dict:
    """A state dict in the card's exact layout and shapes from the trainable tensors in `weights`
    (card keys). The frozen buffers are made the card's way: amin shape (1,), librosa's mel matrix,
    num_batches_tracked int64 scalars."""
    import torch

    re, im = card_dft_kernels()
    sd = {k: torch.as_tensor(v) for k, v in weights.items()}
    sd["vgg7.spectrogram_extractor.conv_real.weight"] = torch.from_numpy(re[:, None, :])
    sd["vgg7.spectrogram_extractor.conv_imag.weight"] = torch.from_numpy(im[:, None, :])
    sd["vgg7.logmel_extractor.melW"] = torch.from_numpy(np.ascontiguousarray(
        np.load(DATA / "librosa_mel_sr16000_nfft64_nmels26.npy")))
    sd["vgg7.logmel_extractor.amin"] = torch.tensor([1e-10])
    for i in range(1, 8):
        sd[f"vgg7.l{i}.norm.num_batches_tracked"] = torch.tensor(12345, dtype=torch.int64)
    return sd


# What a transformers-style save adds to config.json: fields the toolkit must ignore.
CARD_CONFIG = {
    "architectures": ["Wav2Small"], "model_type": "wav2small", "torch_dtype": "float32",
    "transformers_version": "4.46.0", "id2label": {"0": "arousal", "1": "dominance", "2": "valence"},
    "label2id": {"arousal": 0, "dominance": 1, "valence": 2}, "half_mel": 13, "n_fft": 64, "n_time": 64,
    "hidden": 13, "hop_length": 32, "sampling_rate": 16000,
}


def write_card_checkpoint(folder: Path, sd: dict) -> Path:
    """config.json + model.safetensors, as a Hugging Face save of the card's class would lay them out."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(CARD_CONFIG, indent=2))
    return folder


def trainable(sd: dict) -> dict:
    """Only the tensors a training run changes (no frozen front end, no num_batches_tracked)."""
    return {k: v for k, v in sd.items()
            if not k.startswith(("vgg7.spectrogram_extractor", "vgg7.logmel_extractor"))
            and not k.endswith("num_batches_tracked")}


def tree(path: Path) -> set[str]:
    """Every file and folder under `path` (relative), to prove a failed command left nothing behind."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}
