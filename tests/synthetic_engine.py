"""Tiny engines for the fast lane: random int8 layers with real Q31 multipliers, built in Python (no TFLite,
no convert), emitted through the real generator. Their shapes reach the kernels' branches that the
default model's does not: odd channel counts (5 = 4 + 1 and 13 = 4 + 3 + 3 + 3 channel groups), odd and even
widths, ReLU, ReLU6 and no activation, right shifts and left shifts (multipliers above 1), a zero multiplier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcu_toolkit.engine.arith import quantize_multiplier
from mcu_toolkit.engine.graph import Conv, EngineGraph, MaxPool, Quant
from mcu_toolkit.engine.mirror import Engine
from mcu_toolkit.engine.tail import Head

INPUT = Quant(0.4702, 85)  # a realistic model input quantisation


@dataclass(frozen=True)
class ConvSpec:
    cout: int
    act: str = "relu"        # relu | relu6 | none
    loud: bool = False       # some channels' multipliers above 1 (shift > 0) and one of 0


@dataclass(frozen=True)
class PoolSpec:
    k: int = 3
    stride: int = 2
    pad: int = 1             # on every side, as the exporter's PAD before a VALID MAX_POOL_2D


@dataclass(frozen=True)
class Shape:
    n_mels: int
    layers: tuple            # ConvSpec | PoolSpec, in order; lin and sof (1x1) follow with the last width


SHAPES = {
    "5ch_8mels": Shape(8, (ConvSpec(5), ConvSpec(5, "none", loud=True), PoolSpec(), ConvSpec(5, "relu6"))),
    "13ch_9mels": Shape(9, (ConvSpec(13), PoolSpec(), ConvSpec(13, "relu6", loud=True), ConvSpec(13))),
}


def _multipliers(rng, n: int, taps: int, loud: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel real multipliers that keep a random layer's outputs inside int8 mostly, as calibration
    does; loud: a third above 1 (left shifts, saturating) and one of 0."""
    m = 40.0 / (np.sqrt(taps) * 70.0 * 73.0) * np.exp(rng.uniform(-1.0, 1.0, n))
    if loud:
        m[: max(1, n // 3)] = rng.uniform(1.0, 3.0, max(1, n // 3))
        m[-1] = 0.0
    mult, shift = zip(*(quantize_multiplier(float(v)) for v in m))
    return np.array(mult, dtype=np.int64), np.array(shift, dtype=np.int64)


def _act(rng, act: str) -> tuple[int, int, int]:
    """(out_zero, act_min, act_max) of a fused activation, as graph.py reads them."""
    if act == "none":
        return int(rng.integers(-20, 21)), -128, 127
    zero = int(rng.integers(-128, -100))
    hi = 127 if act == "relu" else min(127, zero + int(rng.integers(40, 120)))  # ReLU6: round(6 / scale)
    return zero, zero, hi


def _conv(rng, tensor: int, k: int, cin: int, cout: int, width: int, in_zero: int, act: str, loud=False) -> Conv:
    mult, shift = _multipliers(rng, cout, k * k * cin, loud)
    zero, lo, hi = _act(rng, act)
    return Conv(tensor=tensor, kh=k, kw=k, cin=cin, cout=cout, width=width,
                weights=rng.integers(-127, 128, (cout, k, k, cin), dtype=np.int8),
                bias=rng.normal(0, 800, cout).astype(np.int32), mult=mult, shift=shift, in_zero=in_zero,
                out_zero=zero, act_min=lo, act_max=hi)


def synthetic_graph(shape: Shape, seed: int = 0) -> EngineGraph:
    rng = np.random.default_rng(seed)
    layers, cin, width, zero = [], 1, shape.n_mels, INPUT.zero
    for i, spec in enumerate(shape.layers):
        if isinstance(spec, PoolSpec):
            out_width = (width + 2 * spec.pad - spec.k) // spec.stride + 1
            layers.append(MaxPool(tensor=10 + i, kh=spec.k, kw=spec.k, sh=spec.stride, sw=spec.stride, channels=cin,
                                  width=width, out_width=out_width, pad_top=spec.pad, pad_bottom=spec.pad,
                                  pad_left=spec.pad, pad_right=spec.pad, pad_value=zero, act_min=-128, act_max=127))
            width = out_width
        else:
            layers.append(_conv(rng, 10 + i, 3, cin, spec.cout, width, zero, spec.act, spec.loud))
            cin, zero = spec.cout, layers[-1].out_zero
    lin = _conv(rng, 100, 1, cin, cin, width, zero, "none")
    sof = _conv(rng, 101, 1, cin, cin, width, zero, "none")
    return EngineGraph(input=INPUT, layers=tuple(layers), lin=lin, sof=sof, lin_quant=Quant(0.05, lin.out_zero),
                       sof_quant=Quant(0.11, sof.out_zero), n_mels=shape.n_mels, channels=cin, pooled_mels=width,
                       features_tensor=layers[-1].tensor)


def synthetic_engine(name: str | Shape, rounding: str = "double", seed: int = 0) -> Engine:
    """SHAPES[name] (or a Shape) with random weights and a random head (with a silence answer, as a real bundle
    has)."""
    g = synthetic_graph(SHAPES[name] if isinstance(name, str) else name, seed)
    rng = np.random.default_rng(seed + 1)
    head = Head(rng.normal(0, 0.1, (3, g.channels * (g.pooled_mels + g.channels))).astype(np.float32),
                rng.normal(0, 0.1, 3).astype(np.float32), rng.normal(0, 0.1, 3).astype(np.float32), -128)
    return Engine.build(g, head, rounding)
