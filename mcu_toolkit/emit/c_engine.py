"""Emit the streaming engine: its hand-written C and the generated model (layers, tables, head).

The layers come from the int8 TFLite (engine/graph.py), the exp table from the logits' quantisation
(engine/tail.py), the head from the float model. Floats are written with 9 significant digits,
which gives back the same float32.
"""

from __future__ import annotations

from importlib import resources as ilr

import numpy as np

from ..engine.graph import Conv, EngineGraph, MaxPool
from ..engine.mirror import Engine
from ..engine.tail import Head
from .c_model import GENERATED

SOURCES = ("w2s_engine_layer.h", "w2s_engine.h", "w2s_engine.c")
MODEL_FILES = ("w2s_engine_model.h", "w2s_engine_model.c")


def engine_sources() -> dict[str, str]:
    base = ilr.files("mcu_toolkit.engine") / "c"
    return {name: (base / name).read_text() for name in SOURCES}


def _f32(x) -> str:
    s = f"{float(np.float32(x)):.9g}"
    return s + ("f" if ("." in s or "e" in s) else ".0f")


def _array(ctype: str, name: str, values, per_line: int = 16, fmt=str) -> str:
    vals = [fmt(v) for v in np.asarray(values).reshape(-1)]
    rows = ["    " + ", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line)]
    return f"static const {ctype} {name}[{len(vals)}] = {{\n" + "\n".join(rows) + "\n};\n"


def tap_run(c: Conv) -> int:
    """int16 weights per output channel: the whole kh x kw x cin receptive field, rounded up to even (a zero
    weight pads it) so that the DSP kernels read whole pairs."""
    n = c.kh * c.kw * c.cin
    return n + n % 2


def wide_len(c: Conv) -> int:
    """int16 values of a conv's widened input (w2s_engine.c widen_rows): its kh rows interleaved by padded
    column, kh * cin values each, plus one zero that the last pair may read."""
    return (c.width + c.kw - 1) * c.kh * c.cin + 1


def channel_groups(cout: int) -> list[int]:
    """Output channels per weight group, as w2s_engine.c's group_size: fours, then threes (13 = 4 + 3 + 3 + 3),
    then what cannot be split so (1, 2, 5: fours and the rest)."""
    threes = (4 - cout % 4) % 4
    threes = 0 if 3 * threes > cout else threes
    fours = (cout - 3 * threes) // 4
    rest = cout - 4 * fours - 3 * threes
    return [4] * fours + [3] * threes + ([rest] if rest else [])


def weights_s16(c: Conv) -> np.ndarray:
    """The int16 weights in the kernels' order: each output channel's receptive field as (kernel column, row,
    input channel), the widened rows' order, padded with a zero to even length; then regrouped by output
    channels (channel_groups) as (tap pair, channel), so that one pair of input taps meets a whole group's
    weights in a row."""
    w = np.zeros((c.cout, tap_run(c)), dtype=np.int16)
    w[:, :c.kh * c.kw * c.cin] = c.weights.transpose(0, 2, 1, 3).reshape(c.cout, -1)  # OHWI -> (O, kx, ky, I)
    groups, g = [], 0
    for r in channel_groups(c.cout):
        groups.append(w[g:g + r].reshape(r, tap_run(c) // 2, 2).transpose(1, 0, 2).reshape(-1))
        g += r
    return np.concatenate(groups)


def ring_layout(g: EngineGraph) -> list[int]:
    """Each trunk layer's offset in the state's ring of input rows, and the total at the end."""
    offsets, at = [], 0
    for layer in g.layers:
        offsets.append(at)
        cin = layer.cin if isinstance(layer, Conv) else layer.channels
        at += layer.kh * layer.width * cin
    return offsets + [at]


def macros(g: EngineGraph) -> dict[str, int]:
    ring = ring_layout(g)
    return {
        "W2S_ENGINE_LAYERS": len(g.layers),
        "W2S_ENGINE_N_MELS": g.n_mels,
        "W2S_ENGINE_CHANNELS": g.channels,
        "W2S_ENGINE_POOLED_MELS": g.pooled_mels,
        "W2S_ENGINE_COLUMNS": g.channels * g.pooled_mels,
        "W2S_ENGINE_HEAD_FEATURES": g.channels * (g.pooled_mels + g.channels),
        "W2S_ENGINE_OUTPUTS": 3,
        "W2S_ENGINE_RING_BYTES": ring[-1],
        "W2S_ENGINE_TAIL_ROW": g.pooled_mels * g.lin.cin,
        "W2S_ENGINE_MAX_KH": max(layer.kh for layer in g.layers),
        **hot_shape(g),
        "W2S_ENGINE_WIDE": max([wide_len(c) for c in g.layers if isinstance(c, Conv)]
                               + [p.width * p.channels for p in g.layers if isinstance(p, MaxPool)]
                               + [g.pooled_mels * g.lin.cin + 1]),
    }


HOT_MAX_PAIRS = 128  # beyond this an unrolled kernel costs more flash than it saves time


def hot_shape(g: EngineGraph) -> dict[str, int]:
    """The conv shape (tap pairs, pixel step) that does most of the trunk's MACs; w2s_engine.c compiles its
    kernels fully unrolled for it, with the step as an immediate offset. {} when it would be too long."""
    macs: dict[tuple[int, int], int] = {}
    for c in g.layers:
        if isinstance(c, Conv):
            key = (tap_run(c) // 2, c.kh * c.cin)
            macs[key] = macs.get(key, 0) + c.width * c.cout * c.kh * c.kw * c.cin
    if not macs:
        return {}
    pairs, stride = max(macs, key=lambda k: (macs[k], k))
    return {"W2S_ENGINE_HOT_PAIRS": pairs, "W2S_ENGINE_HOT_STRIDE": stride} if pairs <= HOT_MAX_PAIRS else {}


def model_h(g: EngineGraph, head: Head | None = None) -> str:
    comments = {
        "W2S_ENGINE_LAYERS": "trunk layers before the pooling's 1x1 convolutions",
        "W2S_ENGINE_N_MELS": "int8 values per input frame",
        "W2S_ENGINE_CHANNELS": "C: channels of the pooled features",
        "W2S_ENGINE_POOLED_MELS": "F: mel columns after the max pool",
        "W2S_ENGINE_COLUMNS": "C * F: softmax-pooled columns",
        "W2S_ENGINE_HEAD_FEATURES": "C * (F + C): the head's inputs",
        "W2S_ENGINE_OUTPUTS": "arousal, dominance, valence",
        "W2S_ENGINE_RING_BYTES": "every layer's kh input rows: the trunk's whole state",
        "W2S_ENGINE_TAIL_ROW": "the trunk's last output row, bytes",
        "W2S_ENGINE_MAX_KH": "the tallest kernel",
        "W2S_ENGINE_HOT_PAIRS": "tap pairs per output of the convs that do most MACs: their kernels are unrolled",
        "W2S_ENGINE_HOT_STRIDE": "and the int16 step from one of their pixels to the next (kh * cin)",
        "W2S_ENGINE_WIDE": "int16 scratch: the widest conv's kh widened input rows (or a pool's or the pooling's row)",
    }
    defines = "\n".join(f"#define {k} {v}u /* {comments[k]} */" for k, v in macros(g).items())
    silence_define = silence_extern = ""
    if head is not None and head.silence is not None:
        silence_define = ("\n\n/* A window with no variance reaches the model as this code in every value; its\n"
                          "   answer, g_w2s_engine_silence_f32, is the float model's (w2s_infer.c returns it). */\n"
                          "#define W2S_ENGINE_HAS_SILENCE 1\n"
                          f"#define W2S_ENGINE_FLOOR_S8 ({head.floor_s8})")
        silence_extern = "extern const float g_w2s_engine_silence_f32[W2S_ENGINE_OUTPUTS];\n"
    return GENERATED + f"""#ifndef W2S_ENGINE_MODEL_H
#define W2S_ENGINE_MODEL_H

#include "w2s_engine_layer.h"

/* Sizes of the state (w2s_engine.h). None depends on the window length. */
{defines}{silence_define}

#ifdef __cplusplus
extern "C" {{
#endif

extern const w2s_engine_model_t g_w2s_engine_model;
{silence_extern}
#ifdef __cplusplus
}}
#endif

#endif /* W2S_ENGINE_MODEL_H */
"""


def _layer_init(name: str, layer, ring_offset: int) -> str:
    if isinstance(layer, Conv):
        return (f"{{W2S_LAYER_CONV, {layer.kh}u, {layer.kw}u, 1u, 1u, {layer.cin}u, {layer.cout}u, "
                f"{layer.width}u, {layer.width}u, {layer.pad_top}u, {layer.pad_bottom}u, {layer.pad_left}u, "
                f"{layer.in_zero}, {layer.out_zero}, {layer.act_min}, {layer.act_max}, "
                f"{name}_weights_s16, {tap_run(layer)}u, {name}_bias_s32, {name}_mult_q31, {name}_shift, "
                f"{ring_offset}u}}")
    p: MaxPool = layer
    return (f"{{W2S_LAYER_MAXPOOL, {p.kh}u, {p.kw}u, {p.sh}u, {p.sw}u, {p.channels}u, {p.channels}u, "
            f"{p.width}u, {p.out_width}u, {p.pad_top}u, {p.pad_bottom}u, {p.pad_left}u, "
            f"{p.pad_value}, 0, {p.act_min}, {p.act_max}, NULL, 0u, NULL, NULL, NULL, {ring_offset}u}}")


def _conv_arrays(name: str, c: Conv) -> str:
    weights = _array("int16_t", f"{name}_weights_s16", weights_s16(c), 20)
    return (f"/* {name}: {c.kh}x{c.kw} conv, {c.cin} -> {c.cout} channels (TFLite tensor {c.tensor}) */\n"
            + weights
            + _array("int32_t", f"{name}_bias_s32", c.bias, 8)
            + _array("int32_t", f"{name}_mult_q31", c.mult, 6)
            + _array("int8_t", f"{name}_shift", c.shift, 16) + "\n")


def model_c(engine: Engine) -> str:
    g, head, table = engine.graph, engine.head, engine.table
    offsets = ring_layout(g)
    parts = [GENERATED, '#include "w2s_engine_model.h"\n\n#include <stddef.h>\n\n']
    names = [f"layer{k}" for k in range(len(g.layers))]
    for name, layer in zip(names, g.layers):
        if isinstance(layer, Conv):
            parts.append(_conv_arrays(name, layer))
    parts += [_conv_arrays("lin", g.lin), _conv_arrays("sof", g.sof)]
    parts.append(f"/* e^(logit) for int8 logits q = -128..127: scale {g.sof_quant.scale:.9g}, zero point "
                 f"{g.sof_quant.zero} */\n")
    parts.append(_array("int32_t", "exp_mant_q29", table.mant_q29, 6))
    parts.append(_array("int16_t", "exp_exp", table.exp, 16) + "\n")
    parts.append("/* the head, float32 from the float model: features [y | y y^T] per channel */\n")
    parts.append(_array("float", "head_weight_f32", head.weight, 6, _f32))
    parts.append(_array("float", "head_bias_f32", head.bias, 3, _f32) + "\n")
    if head.silence is not None:
        values = ", ".join(_f32(v) for v in head.silence)
        parts.append(f"const float g_w2s_engine_silence_f32[W2S_ENGINE_OUTPUTS] = {{{values}}};\n\n")
    inits = ",\n    ".join(_layer_init(n, layer, o) for n, layer, o in zip(names, g.layers, offsets))
    parts.append(f"static const w2s_layer_s8_t layers[{len(g.layers)}] = {{\n    {inits},\n}};\n\n")
    parts.append(f"""const w2s_engine_model_t g_w2s_engine_model = {{
    layers,
    {len(g.layers)}u,
    {_layer_init("lin", g.lin, 0)},
    {_layer_init("sof", g.sof, 0)},
    exp_mant_q29,
    exp_exp,
    {_f32(g.lin_quant.scale)},
    head_weight_f32,
    head_bias_f32,
}};
""")
    return "".join(parts)


def data_bytes(engine: Engine) -> int:
    """Flash of the generated model: weights, biases, multipliers, shifts, exp table, head, layer structs."""
    g = engine.graph
    convs = [c for c in (*g.layers, g.lin, g.sof) if isinstance(c, Conv)]
    weights = sum(2 * weights_s16(c).size for c in convs)
    arrays = weights + sum(4 * c.bias.size + 4 * c.mult.size + c.shift.size for c in convs)
    layer_struct = 56  # w2s_layer_s8_t on a 32-bit core
    return arrays + 256 * 6 + 4 * (engine.head.weight.size + 3) + layer_struct * (len(g.layers) + 2) + 40


def engine_files(engine: Engine) -> dict[str, str]:
    return {**engine_sources(), "w2s_engine_model.h": model_h(engine.graph, engine.head),
            "w2s_engine_model.c": model_c(engine)}
