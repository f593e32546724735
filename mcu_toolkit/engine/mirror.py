"""The engine in numpy: the same integers as the C, a whole window at a time.

The C streams row by row; here each layer runs over the whole window, which gives the same values
(a row's output depends only on its receptive field). Convolutions are float BLAS matmuls, exact
because every product and partial sum is an integer below 2^24 (float32) or 2^53 (float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from .arith import multiply_by_quantized_multiplier
from ..errors import CheckFailed, ToolkitError
from .graph import Conv, EngineGraph, MaxPool, read_graph
from .layout import state_bytes
from .tail import ExpTable, Head, exp_table, head_f32, pooled_sums


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


@dataclass(frozen=True)
class Engine:
    graph: EngineGraph
    head: Head
    table: ExpTable
    rounding: str = "double"

    @classmethod
    def build(cls, graph: EngineGraph, head: Head, rounding: str = "double") -> "Engine":
        want = (3, graph.channels * (graph.pooled_mels + graph.channels))
        if head.weight.shape != want:
            raise CheckFailed(f"the head has shape {head.weight.shape}; the int8 model's pooling needs {want}")
        return cls(graph, head, exp_table(graph.sof_quant.scale, graph.sof_quant.zero), rounding)

    @classmethod
    def from_tflite(cls, tflite: bytes, head: Head) -> "Engine":
        return cls.build(read_graph(tflite), head)

    def int8_outputs(self, frames: int) -> int:
        """int8 values the trunk writes for a window of `frames` rows (lin and sof included): each is one
        requantisation, and the next layer widens it. The device's time per window follows them and the MACs."""
        rows, total = frames, 0
        for layer in self.graph.layers:
            if isinstance(layer, MaxPool):
                rows = (rows + layer.pad_top + layer.pad_bottom - layer.kh) // layer.sh + 1
                total += rows * layer.out_width * layer.channels
            else:
                total += rows * layer.width * layer.cout
        return total + sum(rows * c.width * c.cout for c in (self.graph.lin, self.graph.sof))

    def state_bytes(self, pointer: int = 4) -> int:
        """sizeof(w2s_engine_t): the engine's whole RAM besides the stack (layout.state_bytes)."""
        return state_bytes(self.graph, pointer)

    def _layers(self, x_s8: np.ndarray, out: dict | None = None) -> np.ndarray:
        x = np.asarray(x_s8, dtype=np.int8)[:, :, None]
        for layer in self.graph.layers:
            if isinstance(layer, MaxPool) and len(x) + layer.pad_top + layer.pad_bottom < layer.kh:
                raise ToolkitError(f"a window of {len(x_s8)} frames is too short for the engine's pooling")
            x = conv_s8(layer, x, self.rounding) if isinstance(layer, Conv) else maxpool_s8(layer, x)
            if out is not None:
                out[layer.tensor] = x
        return x

    def features(self, x_s8: np.ndarray) -> np.ndarray:
        """(T', W, C) int8: the tensor both pooling convolutions read (`graph.features_tensor`)."""
        return self._layers(x_s8)

    def trunk(self, x_s8: np.ndarray) -> dict[int, np.ndarray]:
        """Every trunk tensor for one window of int8 log-mel (T, mels): TFLite tensor index -> (T', W, C)."""
        out = {}
        x = self._layers(x_s8, out)
        for c in (self.graph.lin, self.graph.sof):
            out[c.tensor] = conv_s8(c, x, self.rounding)
        return out

    def run_features(self, f: np.ndarray) -> np.ndarray:
        """(3,) float32 from the features tensor on: the two pooling convolutions, the exact tail, the head."""
        g = self.graph
        lin, sof = conv_s8(g.lin, f, self.rounding), conv_s8(g.sof, f, self.rounding)
        s0, s1, _ = pooled_sums(lin.reshape(len(lin), -1), sof.reshape(len(sof), -1), g.lin_quant.zero, self.table)
        return head_f32(s0, s1, g.lin_quant.scale, g.channels, g.pooled_mels, self.head)

    def sums(self, x_s8: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = self.graph
        t = self.trunk(x_s8)
        lin, sof = t[g.lin.tensor], t[g.sof.tensor]
        return pooled_sums(lin.reshape(len(lin), -1), sof.reshape(len(sof), -1), g.lin_quant.zero, self.table)

    def silent(self, x_s8: np.ndarray) -> bool:
        """Every input value at the front end's floor: a window with no variance (Head.silence), which the
        pipeline (w2s_infer.c; verify/deployed.py) answers without the engine. run() is the engine alone."""
        return self.head.silence is not None and bool(np.all(np.asarray(x_s8) == self.head.floor_s8))

    def run(self, x_s8: np.ndarray) -> np.ndarray:
        """(3,) float32 arousal, dominance, valence for one window of int8 log-mel (T, mels)."""
        return self.run_features(self.features(x_s8))
