"""The engine in numpy: the same integers as the C, a whole window at a time.

The C streams row by row; here each layer runs its kernel (layers.py) over the whole window, which gives
the same values (a row's output depends only on its receptive field).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CheckFailed, ToolkitError
from .graph import EngineGraph, read_graph
from .layout import state_bytes
from .tail import ExpTable, Head, exp_table, head_f32, pooled_sums


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
        return self.graph.int8_outputs(frames)

    def state_bytes(self, pointer: int = 4, winograd: bool = True) -> int:
        """sizeof(w2s_engine_t): the engine's whole RAM besides the stack (layout.state_bytes; winograd: a DSP
        core's build, with the Winograd convs' transformed rows)."""
        return state_bytes(self.graph, pointer, winograd)

    def _layers(self, x_s8: np.ndarray, out: dict | None = None) -> np.ndarray:
        x = np.asarray(x_s8, dtype=np.int8)[:, :, None]
        for layer in self.graph.layers:
            if layer.out_rows(len(x)) < 1:
                raise ToolkitError(f"a window of {len(x_s8)} frames is too short for the engine's pooling")
            x = layer.run(x, self.rounding)
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
            out[c.tensor] = c.run(x, self.rounding)
        return out

    def run_features(self, f: np.ndarray) -> np.ndarray:
        """(3,) float32 from the features tensor on: the two pooling convolutions, the exact tail, the head."""
        g = self.graph
        lin, sof = g.lin.run(f, self.rounding), g.sof.run(f, self.rounding)
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
