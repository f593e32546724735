"""The engine's layer kinds. Each kind is one unit: its parameters, its facts (ring, scratch, rows, outputs,
MACs), its numpy kernel and its C struct's fields, so that the graph, layout, mirror and emitter ask the
layer instead of testing its type. A new kind subclasses Layer here, gets a reader in graph.py's READERS
and a kernel in the C.

The mirror's kernels run a whole window at a time, which gives the C's values (a row's output depends only
on its receptive field). Convolutions are float BLAS matmuls, exact because every product and partial sum
is an integer below 2^24 (float32) or 2^53 (float64).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from .arith import multiply_by_quantized_multiplier
from . import winograd
from .layout import bias_zp_s32, run_s8, tap_run, weights_s8, weights_s16, wide_len, wide_s8_len

Symbol = str  # a C identifier (an array's name or an enum value) in a struct's fields


class Layer:
    """What every kind answers. Rows are time (frames), width is mel columns, as NHWC int8 rows."""

    tensor: int                 # output tensor index in the TFLite (for the TFLM comparison)
    kh: int
    width: int                  # input width
    out_width: int

    @property
    def ring_channels(self) -> int:
        """Channels of the input rows the engine keeps in its ring (kh of them)."""
        raise NotImplementedError

    @property
    def x86_packed(self) -> bool:
        """Whether an x86 build carries this layer's packed blocks (w2s_engine_conv_x86.c: convs of 4+ channels)."""
        return False

    @property
    def ring_bytes(self) -> int:
        return self.kh * self.width * self.ring_channels

    @property
    def scratch(self) -> int:
        """int16 values of scratch its C kernel needs (W2S_ENGINE_WIDE is the largest)."""
        raise NotImplementedError

    @property
    def out_channels(self) -> int:
        raise NotImplementedError

    def out_rows(self, rows: int) -> int:
        """Output rows for `rows` input rows (below 1: the window is too short for it)."""
        return rows

    def int8_outputs(self, rows: int) -> int:
        return self.out_rows(rows) * self.out_width * self.out_channels

    def macs(self, rows: int) -> int:
        """Multiply-accumulates for `rows` input rows."""
        return 0

    @property
    def unrolled_shape(self) -> tuple[int, int] | None:
        """(tap pairs, int16 step between pixels) of the C's unrollable conv kernel, None if it has none."""
        return None

    @property
    def winograd(self) -> bool:
        """The DSP cores compute it with exact Winograd F(4,3) (winograd.py)."""
        return False

    @property
    def wino_ring(self) -> int:
        """int16 of transformed input rows it keeps in the state (winograd.ring_len), 0 if none."""
        return 0

    def direct(self) -> Layer:
        """The layer without Winograd (winograd.direct)."""
        return self

    def run(self, x: np.ndarray, rounding: str = "double") -> np.ndarray:
        """The mirror's kernel: (T, W, C) int8 -> (T', W', C') int8, the C's values."""
        raise NotImplementedError

    def describe(self) -> str:
        """A few words for the generated C's comments."""
        raise NotImplementedError

    def c_arrays(self, name: str) -> list[tuple[str, Symbol, np.ndarray, int]]:
        """The constant arrays its struct points to: (C type, name, values, values per line)."""
        return []

    def c_guards(self, name: str) -> dict[Symbol, str]:
        """The arrays only one kernel family reads, by name: the preprocessor condition under which the generated
        C keeps each (the other family's build gets a null pointer and not the array's flash)."""
        return {}

    def c_fields(self, name: str, ring_offset: int, wino_offset: int = 0) -> dict[str, int | Symbol]:
        """w2s_layer_s8_t's fields (w2s_engine_layer.h) for this layer; the ones left out are zero or NULL."""
        raise NotImplementedError


@dataclass(frozen=True)
class Conv(Layer):
    """int8 2D convolution, stride 1, SAME padding (out-of-image taps = the input zero point)."""

    tensor: int
    kh: int
    kw: int
    cin: int
    cout: int
    width: int                  # input and output width (mel bins)
    weights: np.ndarray         # (cout, kh, kw, cin) int8
    bias: np.ndarray            # (cout,) int32
    mult: np.ndarray            # (cout,) Q31
    shift: np.ndarray           # (cout,)
    in_zero: int
    out_zero: int
    act_min: int
    act_max: int
    winograd_allowed: bool = True  # False: direct on every core (winograd.direct, a board's RAM budget)

    @property
    def x86_packed(self) -> bool:
        return self.cout >= 4  # fewer output channels stay on the portable C

    @property
    def pad_top(self) -> int:
        return (self.kh - 1) // 2

    @property
    def pad_bottom(self) -> int:
        return self.kh - 1 - self.pad_top

    @property
    def pad_left(self) -> int:
        return (self.kw - 1) // 2

    @property
    def ring_channels(self) -> int:
        return self.cin

    @cached_property
    def winograd(self) -> bool:
        """The DSP kernels compute it with exact Winograd F(4,3) (winograd.py proves it from the weights)."""
        return self.winograd_allowed and winograd.uses_winograd(self)

    @property
    def scratch(self) -> int:
        return max(wide_len(self), -(-wide_s8_len(self) // 2), winograd.scratch_len(self) if self.winograd else 0)

    @property
    def out_width(self) -> int:
        return self.width

    @property
    def out_channels(self) -> int:
        return self.cout

    def macs(self, rows: int) -> int:
        return rows * self.width * self.cout * self.kh * self.kw * self.cin

    @property
    def unrolled_shape(self) -> tuple[int, int]:
        return tap_run(self) // 2, self.kh * self.cin

    def run(self, x: np.ndarray, rounding: str = "double") -> np.ndarray:
        return conv_s8(self, x, rounding)

    def describe(self) -> str:
        return f"{self.kh}x{self.kw} conv, {self.cin} -> {self.cout} channels"

    def c_arrays(self, name: str) -> list[tuple[str, Symbol, np.ndarray, int]]:
        return [("int16_t", f"{name}_weights_s16", weights_s16(self), 20),
                ("int32_t", f"{name}_bias_s32", self.bias, 8),
                ("int32_t", f"{name}_mult_q31", self.mult, 6),
                ("int8_t", f"{name}_shift", self.shift, 16),
                ("int8_t", f"{name}_weights_s8", weights_s8(self), 16),
                ("int32_t", f"{name}_bias_zp_s32", bias_zp_s32(self), 8),
                *([("int16_t", f"{name}_wino_s16", winograd.weights_s16(self), 20)] if self.winograd else [])]

    def c_guards(self, name: str) -> dict[Symbol, str]:
        # Helium reads only the int8 weights; Winograd runs on the SMLAD path only
        return {f"{name}_weights_s16": "!W2S_ENGINE_MVE", f"{name}_weights_s8": "W2S_ENGINE_MVE",
                f"{name}_bias_zp_s32": "W2S_ENGINE_MVE", f"{name}_wino_s16": "!W2S_ENGINE_MVE"}

    @property
    def wino_ring(self) -> int:
        return winograd.ring_len(self) if self.winograd else 0

    def direct(self) -> Conv:
        return dataclasses.replace(self, winograd_allowed=False)

    def c_fields(self, name: str, ring_offset: int, wino_offset: int = 0) -> dict[str, int | Symbol]:
        return {"kind": "W2S_LAYER_CONV", "kh": self.kh, "kw": self.kw, "sh": 1, "sw": 1, "cin": self.cin,
                "cout": self.cout, "width": self.width, "out_width": self.width, "pad_top": self.pad_top,
                "pad_bottom": self.pad_bottom, "pad_left": self.pad_left, "in_zero": self.in_zero,
                "out_zero": self.out_zero, "act_min": self.act_min, "act_max": self.act_max,
                "weights_s16": f"{name}_weights_s16", "run": tap_run(self), "bias_s32": f"{name}_bias_s32",
                "mult_q31": f"{name}_mult_q31", "shift": f"{name}_shift", "ring_offset": ring_offset,
                "weights_s8": f"{name}_weights_s8", "run_s8": run_s8(self), "bias_zp_s32": f"{name}_bias_zp_s32",
                "wino_s16": f"{name}_wino_s16" if self.winograd else "NULL", "wino_offset": wino_offset}


@dataclass(frozen=True)
class MaxPool(Layer):
    """PAD (with pad_value) then a VALID int8 max pool."""

    tensor: int
    kh: int
    kw: int
    sh: int
    sw: int
    channels: int
    width: int                  # input width, before padding
    out_width: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    pad_value: int
    act_min: int
    act_max: int

    @property
    def ring_channels(self) -> int:
        return self.channels

    @property
    def scratch(self) -> int:
        return self.width * self.channels

    @property
    def out_channels(self) -> int:
        return self.channels

    def out_rows(self, rows: int) -> int:
        return (rows + self.pad_top + self.pad_bottom - self.kh) // self.sh + 1

    def run(self, x: np.ndarray, rounding: str = "double") -> np.ndarray:
        return maxpool_s8(self, x)

    def describe(self) -> str:
        return f"{self.kh}x{self.kw} max pool, stride {self.sh}x{self.sw}, {self.channels} channels"

    def c_fields(self, name: str, ring_offset: int, wino_offset: int = 0) -> dict[str, int | Symbol]:
        return {"kind": "W2S_LAYER_MAXPOOL", "kh": self.kh, "kw": self.kw, "sh": self.sh, "sw": self.sw,
                "cin": self.channels, "cout": self.channels, "width": self.width, "out_width": self.out_width,
                "pad_top": self.pad_top, "pad_bottom": self.pad_bottom, "pad_left": self.pad_left,
                "in_zero": self.pad_value, "act_min": self.act_min, "act_max": self.act_max,
                "ring_offset": ring_offset}


def _exact_dtype(c: Conv):
    bound = c.kh * c.kw * c.cin * 255 * 128
    return np.float32 if bound < (1 << 24) else np.float64


def conv_s8(c: Conv, x: np.ndarray, rounding: str = "double") -> np.ndarray:
    """(T, W, cin) int8 -> (T, W, cout) int8, as TFLM's per-channel CONV_2D."""
    t, w, _ = x.shape
    ph, pw = c.pad_top, c.pad_left
    xp = np.pad(x.astype(np.int64) - c.in_zero, ((ph, c.kh - 1 - ph), (pw, c.kw - 1 - pw), (0, 0)))
    dt = _exact_dtype(c)
    xp = np.ascontiguousarray(xp, dtype=dt)
    # row (t, x) of the im2col matrix: kh runs of kw * cin contiguous values, the OHWI weights' order
    s_t, s_x, s_c = xp.strides
    cols = as_strided(xp, shape=(t, w, c.kh, c.kw * c.cin), strides=(s_t, s_x, s_t, s_c)).reshape(t * w, -1)
    acc = (cols @ c.weights.reshape(c.cout, -1).T.astype(dt)).astype(np.int64) + c.bias
    if c.act_min >= c.out_zero and rounding == "double" and np.all(c.shift <= 0):
        # under a ReLU floor a non-positive sum lands on the floor: requantise max(acc, 0), no sign handling
        acc = np.maximum(acc, 0)
        high = (acc * c.mult + (1 << 30)) >> 31
        out = ((high + ((np.int64(1) << -c.shift) >> 1)) >> -c.shift) + c.out_zero
    else:
        out = multiply_by_quantized_multiplier(acc, c.mult, c.shift, rounding) + c.out_zero
    return np.clip(out, c.act_min, c.act_max).astype(np.int8).reshape(t, w, c.cout)


def maxpool_s8(p: MaxPool, x: np.ndarray) -> np.ndarray:
    xp = np.pad(x, ((p.pad_top, p.pad_bottom), (p.pad_left, p.pad_right), (0, 0)), constant_values=p.pad_value)
    win = sliding_window_view(xp, (p.kh, p.kw), axis=(0, 1))[::p.sh, ::p.sw]
    return np.clip(win.max(axis=(3, 4)), p.act_min, p.act_max).astype(np.int8)
