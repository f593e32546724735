"""Wav2Small in PyTorch, split into the front end and the trunk that gets quantised."""

from .wav2small import Wav2Small, Wav2SmallConfig, Trunk
from .checkpoint import load_checkpoint, save_checkpoint

__all__ = ["Wav2Small", "Wav2SmallConfig", "Trunk", "load_checkpoint", "save_checkpoint"]
