"""Load and validate Wav2Small checkpoints: HF-style folder, bare .safetensors, or a .pt state_dict.

Every failure is a ToolkitError naming the problem; nothing here executes pickled code
(`torch.load(..., weights_only=True)` only).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import ToolkitError
from ..spec import MEL_AMIN, N_FFT
from .wav2small import Wav2Small, Wav2SmallConfig, dft_kernels, slaney_mel_matrix

_REQUIRED_FOR_SHAPES = (
    "vgg7.l1.conv.weight",
    "vgg7.spectrogram_extractor.conv_real.weight",
    "vgg7.logmel_extractor.melW",
)


def _short(keys) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - 4} more)" if len(keys) > 4 else ""
    return ", ".join(keys[:4]) + more


def _read_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises several types for corrupt headers
        raise ToolkitError(f"cannot read checkpoint {path}: not a valid safetensors file ({e.__class__.__name__})")


def _looks_pickled(path: Path, message: str) -> bool:
    """A torch zip or a raw pickle that weights_only refused (rather than bytes that are neither)."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(1)
    return zipfile.is_zipfile(path) or head == b"\x80" or "safe_globals" in message


def _read_pt(path: Path) -> dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own advice (weights_only=False) is the wrong advice here
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if not _looks_pickled(path, str(e)):
            raise ToolkitError(f"cannot read checkpoint {path}: not a PyTorch state_dict file")
        # weights_only=True refuses anything but tensors and plain containers
        raise ToolkitError(f"refusing to unpickle code from {path}; save a state_dict with safetensors "
                           "or torch.save(model.state_dict())")
    except Exception as e:
        raise ToolkitError(f"cannot read checkpoint {path}: not a PyTorch state_dict file ({e.__class__.__name__})")
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if set(obj) == {wrapper} and isinstance(obj[wrapper], dict):
                obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise ToolkitError(f"cannot read checkpoint {path}: expected a state_dict, found {type(obj).__name__}")
    return obj


def read_state_dict(path: str | os.PathLike) -> tuple[dict, dict]:
    """Return (state_dict, config.json contents or {}) without validating the tensors."""
    p = Path(path)
    if not p.exists():
        raise ToolkitError(f"checkpoint not found: {p}")
    config: dict = {}
    if p.is_dir():
        weights = p / "model.safetensors"
        if not weights.is_file():
            raise ToolkitError(f"checkpoint folder {p} has no model.safetensors")
        cfg_file = p / "config.json"
        if cfg_file.is_file():
            try:
                config = json.loads(cfg_file.read_text())
            except (ValueError, UnicodeDecodeError) as e:
                raise ToolkitError(f"cannot read {cfg_file}: invalid JSON ({e})")
        return _read_safetensors(weights), config
    if p.suffix == ".safetensors":
        return _read_safetensors(p), config
    if p.suffix in (".pt", ".pth", ".bin"):
        return _read_pt(p), config
    raise ToolkitError(f"unsupported checkpoint {p}: use a folder, .safetensors or .pt")


# Buffers the card's code saves in its own shapes, or that some exports leave out.
AMIN_KEY = "vgg7.logmel_extractor.amin"
AMIN = MEL_AMIN
_SCALAR_ALIASES = (1,)  # torch.tensor([1e-10]) in the card's code: shape (1,) for a scalar


def _optional(key: str) -> bool:
    return key == AMIN_KEY or key.endswith(".num_batches_tracked")


def _shape_ok(key: str, got: tuple, want: tuple) -> bool:
    return got == want or (_optional(key) and want == () and got == _SCALAR_ALIASES)


def _max_diff(name: str, got: torch.Tensor, ref: np.ndarray) -> tuple[float, tuple]:
    d = np.abs(got.detach().double().numpy().reshape(ref.shape) - ref)
    idx = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(d[idx]), tuple(int(i) for i in idx)


def check_frozen_frontend(sd: dict, cfg: Wav2SmallConfig) -> None:
    """The checkpoint's STFT kernels, mel matrix and amin must be what the device computes.

    The fixed-point front end and the float references are built from the card's definitions; a
    checkpoint carrying other ones would be converted and then scored against a different model.
    """
    re, im = dft_kernels(cfg.n_fft)
    refs = {
        "vgg7.spectrogram_extractor.conv_real.weight": re[:, None, :],
        "vgg7.spectrogram_extractor.conv_imag.weight": im[:, None, :],
        "vgg7.logmel_extractor.melW": slaney_mel_matrix(cfg.sample_rate, cfg.n_fft, cfg.n_mels).astype(np.float64),
    }
    for name, ref in refs.items():
        diff, at = _max_diff(name, sd[name], ref)
        # storage rounds the card's float64 values by a few ulps of the stored type (1e-7 of the peak in
        # float32, 1e-3 in float16); a different matrix is off by far more
        eps = float(torch.finfo(sd[name].dtype).eps) if sd[name].is_floating_point() else 0.0
        if diff > max(1e-4, 4 * eps) * float(np.abs(ref).max()):
            raise ToolkitError(f"checkpoint tensor {name} differs from the front end the device runs "
                               f"(largest difference {diff:.3g} at {list(at)}); only the card's frozen "
                               "STFT and Slaney mel front end is supported")
    if AMIN_KEY in sd:
        stored = sd[AMIN_KEY].reshape(-1)[0]
        amin = float(stored.double())
        as_stored = float(torch.tensor(AMIN, dtype=stored.dtype).double())  # float16 stores 1e-10 as 0
        if not (abs(amin - AMIN) <= 1e-3 * AMIN or amin == as_stored):
            raise ToolkitError(f"checkpoint tensor {AMIN_KEY} is {amin:.6g}; the device front end uses {AMIN:g}")


def validate_state_dict(sd: dict) -> Wav2SmallConfig:
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ToolkitError(f"checkpoint entries are not tensors: {_short(bad)}")
    absent = [k for k in _REQUIRED_FOR_SHAPES if k not in sd]
    if absent:
        raise ToolkitError(f"checkpoint is missing keys: {_short(absent)}")
    try:
        cfg = Wav2SmallConfig.from_state_dict(sd)
    except (IndexError, ValueError) as e:
        raise ToolkitError(f"checkpoint has malformed shape-defining tensors: {e}")
    if cfg.channels < 1 or cfg.n_mels < 1 or cfg.n_fft < 2:
        raise ToolkitError(f"checkpoint implies an empty model: {cfg}")
    if cfg.n_fft != N_FFT:
        raise ToolkitError(f"checkpoint's STFT has {cfg.n_fft} points; the device front end is the card's "
                           f"{N_FFT}-point STFT")
    expected = Wav2Small(cfg).state_dict()
    missing = {k for k in set(expected) - set(sd) if not _optional(k)}
    extra = set(sd) - set(expected)
    if missing:
        raise ToolkitError(f"checkpoint is missing keys: {_short(missing)}")
    if extra:
        raise ToolkitError(f"checkpoint has unexpected keys: {_short(extra)}")
    for k, ref in expected.items():
        if k in sd and not _shape_ok(k, tuple(sd[k].shape), tuple(ref.shape)):
            raise ToolkitError(
                f"checkpoint tensor {k} has shape {tuple(sd[k].shape)}, expected {tuple(ref.shape)}")
    for k, v in sd.items():
        if v.is_complex() or v.dtype == torch.bool:
            raise ToolkitError(f"checkpoint tensor {k} has dtype {v.dtype}; expected real numbers")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ToolkitError(f"checkpoint tensor {k} contains NaN or Inf")
    check_frozen_frontend(sd, cfg)
    return cfg


FROZEN_PREFIXES = ("vgg7.spectrogram_extractor.", "vgg7.logmel_extractor.")


def _as_model_state(sd: dict, model: Wav2Small) -> dict:
    """The checkpoint in the model's own shapes and dtypes. The frozen front end, already proven equal to
    the device's, keeps its exact values (a float16 checkpoint would round them, and store amin as 0);
    absent optional buffers keep their defaults."""
    own = model.state_dict()
    return {k: (sd[k].reshape(ref.shape).to(ref.dtype) if k in sd and not k.startswith(FROZEN_PREFIXES) else ref)
            for k, ref in own.items()}


def load_checkpoint(path: str | os.PathLike) -> Wav2Small:
    """Read, validate and build an eval-mode Wav2Small."""
    sd, _ = read_state_dict(path)
    cfg = validate_state_dict(sd)
    model = Wav2Small(cfg)
    model.load_state_dict(_as_model_state(sd, model), strict=True)
    return model.eval()


def save_checkpoint(model: Wav2Small, folder: str | os.PathLike, extra_config: dict | None = None) -> None:
    """Write config.json + model.safetensors (card layout) atomically into `folder`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    config = {"model_type": "wav2small", **model.config.to_dict(), **(extra_config or {})}
    if any(not math.isfinite(float(v.float().abs().max())) for v in sd.values() if v.numel()):
        raise ToolkitError("refusing to save a model with NaN or Inf weights")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        save_file(sd, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
        for name in ("model.safetensors", "config.json"):
            os.replace(os.path.join(tmp, name), folder / name)
