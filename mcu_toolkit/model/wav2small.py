"""Wav2Small (audeering card layout): prenorm -> STFT-as-conv -> Slaney log-mel -> Vgg7 -> A/D/V.

Widths are not hard-coded: `Wav2SmallConfig.from_state_dict` reads them from
tensor shapes, so the 13-channel card model and wider variants share one class.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..dsp.mel import dft_kernels, periodic_hann, slaney_mel_matrix  # noqa: F401  (re-exported)
from .. import spec
from ..spec import OUTPUT_NAMES  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Wav2SmallConfig:
    channels: int = 13
    n_mels: int = spec.N_MELS
    n_fft: int = spec.N_FFT
    hop: int = spec.HOP
    sample_rate: int = spec.SAMPLE_RATE

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def pooled_mels(self) -> int:
        # MaxPool2d(3, stride 2, padding 1)
        return (self.n_mels + 2 - 3) // 2 + 1

    @property
    def head_features(self) -> int:
        return self.channels * (self.pooled_mels + self.channels)

    def frames(self, n_samples: int) -> int:
        """STFT frames for n samples: no centring, no padding."""
        if n_samples < self.n_fft:
            return 0
        return (n_samples - self.n_fft) // self.hop + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, sd: dict) -> "Wav2SmallConfig":
        w = sd["vgg7.l1.conv.weight"]
        stft = sd["vgg7.spectrogram_extractor.conv_real.weight"]
        mel = sd["vgg7.logmel_extractor.melW"]
        n_fft = int(stft.shape[-1])
        return cls(channels=int(w.shape[0]), n_mels=int(mel.shape[1]), n_fft=n_fft, hop=n_fft // 2)


class _SpectrogramExtractor(nn.Module):
    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        re, im = dft_kernels(n_fft)
        with torch.no_grad():
            self.conv_real.weight.copy_(torch.from_numpy(re[:, None, :].astype(np.float32)))
            self.conv_imag.weight.copy_(torch.from_numpy(im[:, None, :].astype(np.float32)))
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):  # (B, N) -> power (B, bins, frames)
        x = x[:, None, :]
        return self.conv_real(x) ** 2 + self.conv_imag(x) ** 2


class _LogmelExtractor(nn.Module):
    def __init__(self, cfg: Wav2SmallConfig):
        super().__init__()
        mel = slaney_mel_matrix(cfg.sample_rate, cfg.n_fft, cfg.n_mels)
        self.register_buffer("melW", torch.from_numpy(mel))
        self.register_buffer("amin", torch.tensor(spec.MEL_AMIN))

    def forward(self, power):  # (B, bins, T) -> (B, 1, T, mels)
        mel = torch.matmul(power.transpose(1, 2), self.melW)
        return (10.0 * torch.log10(torch.clamp(mel, min=self.amin)))[:, None]


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


class Vgg7(nn.Module):
    def __init__(self, cfg: Wav2SmallConfig):
        super().__init__()
        c = cfg.channels
        self.spectrogram_extractor = _SpectrogramExtractor(cfg.n_fft, cfg.hop)
        self.logmel_extractor = _LogmelExtractor(cfg)
        self.l1 = _Block(1, c)
        self.l2 = _Block(c, c)
        self.l3 = _Block(c, c)
        self.maxpool_A = nn.MaxPool2d(3, stride=2, padding=1)
        self.l4 = _Block(c, c)
        self.l5 = _Block(c, c)
        self.l6 = _Block(c, c)
        self.l7 = _Block(c, c)
        self.lin = nn.Conv2d(c, c, 1)
        self.sof = nn.Conv2d(c, c, 1)

    def logmel(self, wav):
        return self.logmel_extractor(self.spectrogram_extractor(wav))

    def trunk(self, x, int8_friendly: bool = False, gram_scale: float = 1.0):  # (B, 1, T, mels) -> (B, C*(F+C))
        if not int8_friendly:
            y = self.pooled(x)
            y = torch.cat([y, torch.bmm(y, y.transpose(1, 2))], dim=2)
            return y.reshape(y.shape[0], -1)
        x = self.convs(x)
        y = _softmax_pool_int8_friendly(self.lin(x), self.sof(x))
        b, c, f = y.shape
        # Gram as a 4D matmul: onnx2tf 1.28 mistranslates the 3D bmm(y, y^T) when C == F.
        y4 = y.reshape(b, 1, c, f)
        gram = torch.matmul(y4, y4.transpose(2, 3)).reshape(b, c, c)
        if gram_scale != 1.0:
            # A full-width constant, not a scalar: onnx2tf 1.28.8 fails on Mul by a scalar here.
            gram = gram * torch.full((1, 1, c), gram_scale)
        return torch.cat([y, gram], dim=2).reshape(b, -1)

    def convs(self, x):  # (B, 1, T, mels) -> (B, C, T/2, F)
        return self.l7(self.l6(self.l5(self.l4(self.maxpool_A(self.l3(self.l2(self.l1(x))))))))

    def pooled(self, x):  # (B, 1, T, mels) -> (B, C, F), the float reference form
        x = self.convs(x)
        return (self.lin(x) * torch.softmax(self.sof(x), dim=2)).sum(dim=2)


def _softmax_pool_int8_friendly(values, logits):
    """sum_t values * softmax_t(logits), rewritten so int8 keeps its precision.

    Over ~500 frames each softmax weight is about 0.002, below the 1/256 step of an int8 SOFTMAX
    output, which costs the trained reference model ~0.25 CCC. Unnormalised weights
    e = exp(logits - max) lie in (0, 1] and quantise well; exp(d) is computed as
    sigmoid(d) / (1 - sigmoid(d)) because TFLM has int8 LOGISTIC and DIV but no int8 EXP.
    Identical in float.
    """
    d = logits - logits.amax(dim=2, keepdim=True)
    sg = torch.sigmoid(d)
    e = sg / (1.0 - sg)
    # Means, not sums: the same ratio, with int8 ranges that do not grow with the window length.
    y = (values * e).mean(dim=2, keepdim=True) / e.mean(dim=2, keepdim=True)  # (B, C, 1, F)
    # An explicit 4D -> 3D reshape makes onnx2tf return to ONNX (B, C, F) order here rather than
    # keep its own (B, F, C), which it then mixes up when C == F (13 == 13 in the card model).
    return y.reshape(y.shape[0], y.shape[1], y.shape[3])


def prenorm(wav: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Zero mean, unit RMS per utterance, statistics over valid samples only."""
    if mask is None:
        wav = wav - wav.mean(dim=1, keepdim=True)
        return wav / torch.sqrt((wav ** 2).mean(dim=1, keepdim=True) + spec.PRENORM_EPS)
    m = mask.to(wav.dtype)
    n = m.sum(dim=1, keepdim=True).clamp(min=1.0)
    wav = (wav - (wav * m).sum(dim=1, keepdim=True) / n) * m
    return wav / torch.sqrt((wav ** 2).sum(dim=1, keepdim=True) / n + spec.PRENORM_EPS)


class Wav2Small(nn.Module):
    def __init__(self, cfg: Wav2SmallConfig = Wav2SmallConfig()):
        super().__init__()
        self.config = cfg
        self.vgg7 = Vgg7(cfg)
        self.adv = nn.Linear(cfg.head_features, 3)

    def float_logmel(self, wav, mask=None):
        """Waveform (B, N) -> log-mel (B, 1, frames, mels): the part the device runs in fixed point."""
        return self.vgg7.logmel(prenorm(wav, mask))

    def trunk(self, logmel, int8_friendly: bool = False, gram_scale: float = 1.0):
        """Log-mel -> (B, 3) arousal, dominance, valence: the part that gets quantised.

        gram_scale (a power of two, int8-friendly form only) scales the Gram features and divides
        their head weights by the same factor: exactly the same outputs in float.
        """
        features = self.vgg7.trunk(logmel, int8_friendly, gram_scale)
        if gram_scale == 1.0:
            return self.adv(features)
        c, f = self.config.channels, self.config.pooled_mels
        is_gram = (torch.arange(c * (f + c)) % (f + c)) >= f
        w = torch.where(is_gram, self.adv.weight / gram_scale, self.adv.weight)
        return torch.nn.functional.linear(features, w, self.adv.bias)

    def forward(self, wav, mask=None):
        return self.trunk(self.float_logmel(wav, mask))

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class Trunk(nn.Module):
    """The exportable half, with its pooling in the int8-friendly (float-identical) form."""

    def __init__(self, model: Wav2Small, gram_scale: float = 1.0):
        super().__init__()
        self.model = model
        self.gram_scale = gram_scale

    def forward(self, logmel):
        return self.model.trunk(logmel, int8_friendly=True, gram_scale=self.gram_scale)


def balanced_gram_scale(model: Wav2Small, logmels: torch.Tensor) -> float:
    """Power of two that brings the Gram features to the pooled features' range.

    int8 CONCAT gives both one scale. At short windows the Gram entries reach ~10x the pooled
    values (0.2 s: 13.3 vs 1.5), which leaves the pooled half a few int8 steps and wrecks the model.
    """
    with torch.no_grad():
        y = model.vgg7.pooled(logmels)
        y_max = float(y.abs().max())
        g_max = float(torch.bmm(y, y.transpose(1, 2)).abs().max())
    if y_max == 0.0 or g_max == 0.0 or not np.isfinite(y_max * g_max):  # a dead model: the float checks refuse it
        return 1.0
    return float(2.0 ** int(np.clip(np.round(np.log2(y_max / g_max)), -8, 8)))


def _op_macs(name: str, args: tuple, out) -> int:
    """Multiply-accumulates of one op by its shapes: a convolution (any size; groups are in the weight's
    shape), a linear layer, a matrix product, or a product of two tensors (one per output); others 0."""
    if name in ("conv1d", "conv2d", "conv3d"):
        return out.numel() * math.prod(args[1].shape[1:])
    if name in ("linear", "matmul", "bmm", "mm"):
        return out.numel() * args[1 if name == "linear" else 0].shape[-1]
    if name in ("mul", "__mul__", "__rmul__") and all(isinstance(a, torch.Tensor) and a.ndim for a in args[:2]):
        return out.numel()
    return 0


class _MacCount(TorchFunctionMode):
    # A function mode, not a dispatch mode (FlopCounterMode): those import torch._dynamo, ~1.5 s.
    macs = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.macs += _op_macs(getattr(func, "__name__", ""), args, out)
        return out


def float_macs(model: Wav2Small, frames: int) -> int:
    """Multiply-accumulates of the exported trunk for one window of `frames` rows, counted while it runs: every
    convolution, linear layer and matrix product by its shapes, and every product of two tensors (the
    pooling's weighting), so a new layer is counted without a formula. The same count as the engine's
    graph.macs."""
    count = _MacCount()
    training = model.training
    try:
        with count, torch.no_grad():
            Trunk(model.eval())(torch.zeros(1, 1, frames, model.config.n_mels))
    finally:
        model.train(training)
    return count.macs
