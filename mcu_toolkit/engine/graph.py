"""Read the engine's layers out of the int8 TFLite: weights, biases, zero points and multipliers.

The trunk is what the engine runs bit-exact with TFLM: a chain of 3x3 CONV_2D (SAME, stride 1,
ReLU or none) and PAD + MAX_POOL_2D, up to the two 1x1 CONV_2D that read the same tensor: `lin`
(the values) and `sof` (the attention logits, the one REDUCE_MAX reads). Everything after them is the
tail, which the engine computes exactly instead (see tail.py). Any other layout is refused with
one line: the engine is generated for what mcu-toolkit's exporter makes, not for any graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CheckFailed
from .arith import quantize_multiplier
from .layers import Conv, Layer, MaxPool


@dataclass(frozen=True)
class Quant:
    scale: float                # float32, as stored
    zero: int


@dataclass(frozen=True)
class EngineGraph:
    input: Quant
    layers: tuple[Layer, ...]   # in order
    lin: Conv                   # 1x1: the pooled values
    sof: Conv                   # 1x1: the attention logits
    lin_quant: Quant
    sof_quant: Quant
    n_mels: int
    channels: int               # C: channels of lin/sof
    pooled_mels: int            # F: width of lin/sof

    features_tensor: int         # what lin and sof read: the last layer's output (or the input)

    @property
    def trunk_tensors(self) -> list[int]:
        return [layer.tensor for layer in self.layers] + [self.lin.tensor, self.sof.tensor]

    def _per_layer(self, frames: int, count) -> tuple[int, int]:
        """(sum of count(layer, its input rows) over the trunk, lin and sof; the rows lin and sof read)."""
        rows, total = frames, 0
        for layer in self.layers:
            total += count(layer, rows)
            rows = layer.out_rows(rows)
        return total + count(self.lin, rows) + count(self.sof, rows), rows

    def int8_outputs(self, frames: int) -> int:
        """int8 values the trunk writes for a window of `frames` rows, lin and sof included."""
        return self._per_layer(frames, lambda layer, rows: layer.int8_outputs(rows))[0]

    def winograd_macs(self, frames: int) -> int:
        """The direct-convolution MACs of the convs the DSP cores compute with Winograd (engine/winograd.py)."""
        return self._per_layer(frames, lambda layer, rows: layer.macs(rows) if layer.winograd else 0)[0]

    def macs(self, frames: int) -> int:
        """Multiply-accumulates per window: the layers, lin and sof, then the tail's weighting (one per pooled
        value and row), Gram (C x F x C) and head (3 x C(F + C))."""
        macs, rows = self._per_layer(frames, lambda layer, rows: layer.macs(rows))
        c, f = self.channels, self.pooled_mels
        return macs + rows * c * f + c * f * c + 3 * c * (f + c)


class _Reader:
    def __init__(self, tflite: bytes):
        from ai_edge_litert import schema_py_generated as schema

        self.s = schema
        try:
            self.m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
            self.g = self.m.subgraphs[0]
        except Exception as e:  # a flatbuffer that does not parse
            raise CheckFailed(f"the int8 TFLite does not parse: {e}")
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.ops = []
        for op in self.g.operators:
            code = self.m.operatorCodes[op.opcodeIndex]
            self.ops.append((names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?"), op))

    def tensor(self, i: int):
        return self.g.tensors[i]

    def shape(self, i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.tensor(i).shape)

    def data(self, i: int, dtype) -> np.ndarray:
        buf = self.m.buffers[self.tensor(i).buffer].data
        if buf is None:
            raise CheckFailed(f"tensor {i} has no constant data")
        return np.frombuffer(bytes(bytearray(buf)), dtype=dtype).reshape(self.shape(i))

    def quant(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensor(i).quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            raise CheckFailed(f"tensor {i} is not quantised: not a full-int8 model")
        return np.asarray(q.scale, dtype=np.float32), np.asarray(q.zeroPoint, dtype=np.int64)

    def q1(self, i: int) -> Quant:
        scale, zero = self.quant(i)
        return Quant(float(scale[0]), int(zero[0]))

    def consumers(self, t: int) -> list[tuple[str, object]]:
        return [(name, op) for name, op in self.ops if t in list(op.inputs)]

    def act_range(self, fused: int, out: int) -> tuple[int, int]:
        zero, scale = self.q1(out).zero, self.q1(out).scale
        a = self.s.ActivationFunctionType
        if fused == a.NONE:
            return -128, 127
        if fused == a.RELU:
            return max(-128, zero), 127
        if fused == a.RELU6:  # TFLM: TfLiteRound(6.0f / scale), float32, half away from zero
            return max(-128, zero), min(127, zero + int(np.floor(np.float32(6.0) / np.float32(scale) + 0.5)))
        raise CheckFailed(f"unsupported fused activation {fused}")


def _conv(r: _Reader, op) -> Conv:
    if len(op.inputs) < 3 or int(op.inputs[2]) < 0:
        raise CheckFailed("the engine needs CONV_2D with a bias")
    x, w, b = (int(i) for i in op.inputs[:3])
    out = int(op.outputs[0])
    o = op.builtinOptions
    if (o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor) != (1, 1, 1, 1):
        raise CheckFailed("the engine supports stride-1, undilated CONV_2D only")
    cout, kh, kw, cin = r.shape(w)
    if o.padding != r.s.Padding.SAME and (kh, kw) != (1, 1):
        raise CheckFailed("the engine supports SAME-padded CONV_2D only")
    in_q, w_scale = r.q1(x), r.quant(w)[0]
    out_q = r.q1(out)
    if len(w_scale) == 1:
        w_scale = np.repeat(w_scale, cout)
    mult, shift = zip(*(quantize_multiplier(float(np.float64(in_q.scale) * np.float64(ws) / np.float64(out_q.scale)))
                        for ws in w_scale))
    act_min, act_max = r.act_range(o.fusedActivationFunction, out)
    return Conv(out, kh, kw, cin, cout, r.shape(x)[2], r.data(w, np.int8).copy(), r.data(b, np.int32).copy(),
                np.array(mult, dtype=np.int64), np.array(shift, dtype=np.int64), in_q.zero, out_q.zero,
                act_min, act_max)


def _same_pads(size: int, out: int, k: int, stride: int) -> tuple[int, int]:
    """TFLM's SAME padding (before, after); out-of-image taps are ignored, the same as padding with -128."""
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _pool(r: _Reader, pad_op, pool_op) -> MaxPool:
    """PAD + VALID MAX_POOL_2D (what the exporter makes), or a MAX_POOL_2D of its own padding. SAME padding
    depends on the input's static size, so an engine built from it is for the bundle's window length."""
    o = pool_op.builtinOptions
    x = int((pad_op if pad_op is not None else pool_op).inputs[0])
    out = int(pool_op.outputs[0])
    _, t_in, w_in, ch = r.shape(x)
    _, t_out, w_out, _ = r.shape(out)
    lo, hi = r.act_range(o.fusedActivationFunction, out)
    if pad_op is not None:
        if len(pad_op.inputs) > 2:
            raise CheckFailed("the engine supports PAD with the zero point as its value only")
        if o.padding != r.s.Padding.VALID:
            raise CheckFailed("the engine supports PAD before a VALID MAX_POOL_2D only")
        pad_t = int(pad_op.inputs[1])
        pads = r.data(pad_t, np.int64 if r.tensor(pad_t).type == r.s.TensorType.INT64 else np.int32).reshape(4, 2)
        return _checked(MaxPool(out, o.filterHeight, o.filterWidth, o.strideH, o.strideW, ch, w_in, w_out,
                                int(pads[1, 0]), int(pads[1, 1]), int(pads[2, 0]), int(pads[2, 1]),
                                r.q1(int(pad_op.outputs[0])).zero, lo, hi))
    if o.padding == r.s.Padding.SAME:
        (top, bottom), (left, right) = (_same_pads(t_in, t_out, o.filterHeight, o.strideH),
                                        _same_pads(w_in, w_out, o.filterWidth, o.strideW))
    else:
        top = bottom = left = right = 0
    return _checked(MaxPool(out, o.filterHeight, o.filterWidth, o.strideH, o.strideW, ch, w_in, w_out,
                            top, bottom, left, right, -128, lo, hi))


def _checked(p: MaxPool) -> MaxPool:
    """The streaming order needs a layer's top padding to complete no row by itself."""
    if p.pad_top >= p.kh:
        raise CheckFailed(f"a max pool padded {p.pad_top} rows on top of a {p.kh}-row kernel")
    return p


def _read_conv(r: _Reader, op) -> tuple[Conv, object]:
    return _conv(r, op), op


def _read_pad(r: _Reader, op) -> tuple[MaxPool, object]:
    nxt = r.consumers(int(op.outputs[0]))
    if len(nxt) != 1 or nxt[0][0] != "MAX_POOL_2D":
        raise CheckFailed("PAD is supported only before MAX_POOL_2D")
    return _pool(r, op, nxt[0][1]), nxt[0][1]


def _read_pool(r: _Reader, op) -> tuple[MaxPool, object]:
    return _pool(r, None, op), op


# A trunk op's name -> its reader: (the layer, the last op it takes, whose output the next layer reads).
READERS = {"CONV_2D": _read_conv, "PAD": _read_pad, "MAX_POOL_2D": _read_pool}


def read_graph(tflite: bytes) -> EngineGraph:
    """The engine's layers from the int8 TFLite; one line naming what is not supported otherwise."""
    r = _Reader(tflite)
    if len(r.g.inputs) != 1:
        raise CheckFailed("the engine needs a model with one input")
    t = int(r.g.inputs[0])
    shape = r.shape(t)
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 1:
        raise CheckFailed(f"unexpected model input shape {shape}")
    layers = []
    while True:
        users = r.consumers(t)
        if len(users) == 2 and all(n == "CONV_2D" for n, _ in users):
            break
        if len(users) != 1:
            raise CheckFailed(f"tensor {t} feeds {len(users)} ops; the engine cannot follow the trunk")
        name, op = users[0]
        if name not in READERS:
            raise CheckFailed(f"the engine does not support {name} in the trunk")
        layer, op = READERS[name](r, op)
        layers.append(layer)
        t = int(op.outputs[0])
    a, b = (_conv(r, op) for _, op in users)
    if (a.kh, a.kw, b.kh, b.kw) != (1, 1, 1, 1):
        raise CheckFailed("the pooling's two convolutions must be 1x1")
    a_max = any(n == "REDUCE_MAX" for n, _ in r.consumers(a.tensor))
    b_max = any(n == "REDUCE_MAX" for n, _ in r.consumers(b.tensor))
    if a_max == b_max:
        raise CheckFailed("cannot tell the attention logits from the values (no single REDUCE_MAX)")
    sof, lin = (a, b) if a_max else (b, a)
    return EngineGraph(r.q1(int(r.g.inputs[0])), tuple(layers), lin, sof, r.q1(lin.tensor), r.q1(sof.tensor),
                       shape[2], lin.cout, lin.width, t)
