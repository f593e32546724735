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


@dataclass(frozen=True)
class Conv:
    """int8 2D convolution, stride 1, SAME padding (out-of-image taps = the input zero point)."""

    tensor: int                 # output tensor index in the TFLite (for the TFLM comparison)
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

    @property
    def pad_top(self) -> int:
        return (self.kh - 1) // 2

    @property
    def pad_bottom(self) -> int:
        return self.kh - 1 - self.pad_top

    @property
    def pad_left(self) -> int:
        return (self.kw - 1) // 2


@dataclass(frozen=True)
class MaxPool:
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


@dataclass(frozen=True)
class Quant:
    scale: float                # float32, as stored
    zero: int


@dataclass(frozen=True)
class EngineGraph:
    input: Quant
    layers: tuple               # Conv | MaxPool, in order
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
        if name == "CONV_2D":
            layers.append(_conv(r, op))
        elif name == "PAD":
            nxt = r.consumers(int(op.outputs[0]))
            if len(nxt) != 1 or nxt[0][0] != "MAX_POOL_2D":
                raise CheckFailed("PAD is supported only before MAX_POOL_2D")
            layers.append(_pool(r, op, nxt[0][1]))
            op = nxt[0][1]
        elif name == "MAX_POOL_2D":
            layers.append(_pool(r, None, op))
        else:
            raise CheckFailed(f"the engine does not support {name} in the trunk")
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
