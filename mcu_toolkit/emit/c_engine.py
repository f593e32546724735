"""Emit the streaming engine: its hand-written C and the generated model (layers, tables, head).

The layers come from the int8 TFLite (engine/graph.py), the exp table from the logits' quantisation
(engine/tail.py), the head from the float model. Floats are written with 9 significant digits,
which gives back the same float32.
"""

from __future__ import annotations

from importlib import resources as ilr

import numpy as np

from ..engine.graph import Conv, EngineGraph, MaxPool
from ..engine.layout import macros, ring_layout, tap_run, weights_s16
from ..engine.mirror import Engine
from ..engine.tail import Head, tail_macros
from .c_model import GENERATED

SOURCES = ("w2s_engine_layer.h", "w2s_engine.h", "w2s_engine.c", "w2s_engine_kernels.h", "w2s_engine_requant.h",
           "w2s_engine_conv.c", "w2s_engine_maxpool.c")
CODE = tuple(n for n in SOURCES if n.endswith(".c"))  # the hand-written .c files: the engine's code
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
    defines += "\n\n/* The exact tail's constants (engine/tail.py). */" + "".join(
        f"\n#define {k} ({v}) /* {c} */" for k, (v, c) in tail_macros().items())
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


def engine_code_sources(engine: Engine) -> tuple[dict[str, str], tuple[str, ...]]:
    """What the engine's code size is measured on: its files, and the hand-written .c among them."""
    return engine_files(engine), CODE
