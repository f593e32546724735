"""Load and validate Wav2Small checkpoints: HF-style folder, bare .safetensors, or a .pt state_dict.

Every failure is a ToolkitError naming the problem; nothing here executes pickled code
(`torch.load(..., weights_only=True)` only).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import torch

from ..errors import ToolkitError
from .wav2small import Wav2Small, Wav2SmallConfig

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


def _read_pt(path: Path) -> dict:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ToolkitError(f"cannot read checkpoint {path}: {first[:160]}")
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
    expected = Wav2Small(cfg).state_dict()
    missing = set(expected) - set(sd)
    extra = set(sd) - set(expected)
    if missing:
        raise ToolkitError(f"checkpoint is missing keys: {_short(missing)}")
    if extra:
        raise ToolkitError(f"checkpoint has unexpected keys: {_short(extra)}")
    for k, ref in expected.items():
        if tuple(sd[k].shape) != tuple(ref.shape):
            raise ToolkitError(
                f"checkpoint tensor {k} has shape {tuple(sd[k].shape)}, expected {tuple(ref.shape)}")
    for k, v in sd.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ToolkitError(f"checkpoint tensor {k} contains NaN or Inf")
    return cfg


def load_checkpoint(path: str | os.PathLike) -> Wav2Small:
    """Read, validate and build an eval-mode Wav2Small."""
    sd, _ = read_state_dict(path)
    cfg = validate_state_dict(sd)
    model = Wav2Small(cfg)
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in sd.items()}, strict=True)
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
