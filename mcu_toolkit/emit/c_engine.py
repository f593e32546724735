"""Emit the streaming engine: its hand-written C and the generated model (layers, tables, head).

The layers come from the int8 TFLite (engine/graph.py), the exp table from the logits' quantisation
(engine/tail.py), the head from the float model. Floats are written with 9 significant digits,
which gives back the same float32.
"""

from __future__ import annotations

from importlib import resources as ilr

import numpy as np

from ..engine import c_source_names
from ..engine.graph import EngineGraph
from ..engine.layers import Layer
from ..engine.layout import macros, ring_layout, wino_layout, x86_blocks
from ..engine.mirror import Engine
from ..engine.tail import Head, tail_macros
from .c_model import GENERATED
from .cwrite import array, braced, define, f32, sizeof, struct_init

SOURCES = c_source_names()
CODE = tuple(n for n in SOURCES if n.endswith(".c"))  # the hand-written .c files: the engine's code
MODEL_FILES = ("w2s_engine_model.h", "w2s_engine_model.c")


def engine_sources() -> dict[str, str]:
    base = ilr.files("mcu_toolkit.engine") / "c"
    return {name: (base / name).read_text() for name in SOURCES}


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
        "W2S_ENGINE_WINO_CIN": "input channels of the Winograd convs that do most MACs: their kernels are unrolled",
        "W2S_ENGINE_WINO_KH": "and their kernel rows",
        "W2S_ENGINE_WINO_COUT": "and their output channels",
        "W2S_ENGINE_WINO_RING": "int16: the Winograd convs' kh rows of transformed vectors (absent: none)",
        "W2S_ENGINE_WIDE": "int16 scratch: the widest conv's kh widened input rows (or a pool's or the pooling's row)",
    }
    defines = "\n".join(define(k, v, comments[k], unsigned=True) for k, v in macros(g).items())
    defines += "\n\n/* The exact tail's constants (engine/tail.py). */" + "".join(
        "\n" + define(k, v, c) for k, (v, c) in tail_macros().items())
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


# w2s_layer_s8_t's fields (w2s_engine_layer.h), in order: the unsigned ones get a u suffix.
LAYER_FIELDS = {"kind": False, "kh": True, "kw": True, "sh": True, "sw": True, "cin": True, "cout": True,
                "width": True, "out_width": True, "pad_top": True, "pad_bottom": True, "pad_left": True,
                "in_zero": False, "out_zero": False, "act_min": False, "act_max": False, "weights_s16": False,
                "run": True, "bias_s32": False, "mult_q31": False, "shift": False, "ring_offset": True,
                "weights_s8": False, "run_s8": True, "bias_zp_s32": False,
                "wino_s16": False, "wino_offset": True}


# A kernel family's own arrays (Layer.c_guards) are compiled only where that family runs; elsewhere the field
# is a null pointer, through these (w2s_engine_layer.h decides W2S_ENGINE_MVE).
GUARD_MACROS = """/* Each build keeps the weights its kernels read: int8 for Helium (W2S_ENGINE_MVE), int16 for the
   others. */
#if W2S_ENGINE_MVE
#define W2S_IF_MVE(a) (a)
#define W2S_IF_NOT_MVE(a) 0
#else
#define W2S_IF_MVE(a) 0
#define W2S_IF_NOT_MVE(a) (a)
#endif

"""
_GUARD_WRAP = {"W2S_ENGINE_MVE": "W2S_IF_MVE", "!W2S_ENGINE_MVE": "W2S_IF_NOT_MVE"}

# The x86 kernels' layout (layout.x86_blocks) exists in x86 builds only: w2s_layer_s8_t has its fields there alone,
# so that no other core's structs or flash grow.
X86_GUARD = "W2S_ENGINE_X86"
X86_ALIGN = """#if W2S_ENGINE_X86 && defined(__GNUC__)
#define W2S_X86_ALIGNED __attribute__((aligned(64))) /* a vector load never straddles a cache line */
#else
#define W2S_X86_ALIGNED
#endif

"""


def _has_x86(layer: Layer) -> bool:
    return layer.x86_packed


def _layer_init(name: str, layer: Layer, ring_offset: int, wino_offset: int = 0) -> str:
    fields = layer.c_fields(name, ring_offset, wino_offset)
    unknown = set(fields) - set(LAYER_FIELDS)
    assert not unknown, f"not in w2s_layer_s8_t: {unknown}"
    guards = layer.c_guards(name)
    value = lambda v: f"{_GUARD_WRAP[guards[v]]}({v})" if v in guards else str(v)  # noqa: E731
    text = struct_init({k: f"{fields[k]}u" if unsigned else value(fields[k])
                        for k, unsigned in LAYER_FIELDS.items() if k in fields})
    if not _has_x86(layer):
        return text
    x86 = "".join(f"    .x86_{f} = {name}_x86_{f},\n" for f in ("blocks", "w_s16", "w_s8"))
    return text[:-1] + f"#if {X86_GUARD}\n{x86}#endif\n}}"


def _x86_arrays(name: str, layer: Layer) -> str:
    """A conv's x86 blocks and packed weights, in an x86 build only."""
    if not _has_x86(layer):
        return ""
    blocks, w16, w8 = x86_blocks(layer)
    aligned = lambda text: text.replace(" = {", " W2S_X86_ALIGNED = {", 1)  # noqa: E731
    inits = [struct_init({k: braced_row(v) if isinstance(v, np.ndarray) else f"{v}u" if k in ("g0", "n")
                          else str(v) for k, v in b.items()}) for b in blocks]
    return (f"#if {X86_GUARD}\n" + aligned(array("int16_t", f"{name}_x86_w_s16", w16, 16))
            + aligned(array("int8_t", f"{name}_x86_w_s8", w8, 32))
            + f"static const w2s_x86_block_t {name}_x86_blocks[{len(blocks)}] W2S_X86_ALIGNED = {braced(inits)};\n"
            + "#endif\n\n")


def braced_row(values: np.ndarray) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def _layer_arrays(name: str, layer: Layer) -> str:
    arrays = layer.c_arrays(name)
    if not arrays:
        return ""
    guards = layer.c_guards(name)
    text = lambda a: f"#if {guards[a[1]]}\n{array(*a)}#endif\n" if a[1] in guards else array(*a)  # noqa: E731
    return (f"/* {name}: {layer.describe()} (TFLite tensor {layer.tensor}) */\n"
            + "".join(text(a) for a in arrays) + "\n")


def model_c(engine: Engine) -> str:
    g, head, table = engine.graph, engine.head, engine.table
    named = [(f"layer{k}", layer) for k, layer in enumerate(g.layers)] + [("lin", g.lin), ("sof", g.sof)]
    parts = [GENERATED, '#include "w2s_engine_model.h"\n\n', GUARD_MACROS, X86_ALIGN]
    parts += [_layer_arrays(name, layer) + _x86_arrays(name, layer) for name, layer in named]
    parts.append(f"/* e^(logit) for int8 logits q = -128..127: scale {g.sof_quant.scale:.9g}, zero point "
                 f"{g.sof_quant.zero} */\n")
    parts.append(array("int32_t", "exp_mant_q29", table.mant_q29, 6))
    parts.append(array("int16_t", "exp_exp", table.exp, 16) + "\n")
    parts.append("/* the head, float32 from the float model: features [y | y y^T] per channel */\n")
    parts.append(array("float", "head_weight_f32", head.weight.reshape(-1), 6, f32))
    parts.append(array("float", "head_bias_f32", head.bias, 3, f32) + "\n")
    if head.silence is not None:
        values = ", ".join(f32(v) for v in head.silence)
        parts.append(f"const float g_w2s_engine_silence_f32[W2S_ENGINE_OUTPUTS] = {{{values}}};\n\n")
    inits = [_layer_init(name, layer, at, wino) for (name, layer), at, wino
             in zip(named[:len(g.layers)], ring_layout(g), wino_layout(g))]
    parts.append(f"static const w2s_layer_s8_t layers[{len(g.layers)}] = {braced(inits)};\n\n")
    model = struct_init({"layers": "layers", "n_layers": f"{len(g.layers)}u", "lin": _layer_init("lin", g.lin, 0),
                         "sof": _layer_init("sof", g.sof, 0), "exp_mant_q29": "exp_mant_q29",
                         "exp_exp": "exp_exp", "lin_scale": f32(g.lin_quant.scale),
                         "head_weight_f32": "head_weight_f32", "head_bias_f32": "head_bias_f32"})
    parts.append(f"const w2s_engine_model_t g_w2s_engine_model = {model};\n")
    return "".join(parts)


def data_bytes(engine: Engine) -> int:
    """Flash of the generated model: weights, biases, multipliers, shifts, exp table, head, layer structs. The
    int16 weights' build (every core but Helium's, whose int8 weights and biases are smaller)."""
    g = engine.graph
    arrays = sum(sizeof(ctype) * values.size for layer in (*g.layers, g.lin, g.sof)
                 for ctype, name, values, _ in layer.c_arrays("") if layer.c_guards("").get(name) != "W2S_ENGINE_MVE")
    layer_struct = 76  # w2s_layer_s8_t on a 32-bit core
    return arrays + 256 * 6 + 4 * (engine.head.weight.size + 3) + layer_struct * (len(g.layers) + 2) + 40


def engine_files(engine: Engine) -> dict[str, str]:
    return {**engine_sources(), "w2s_engine_model.h": model_h(engine.graph, engine.head),
            "w2s_engine_model.c": model_c(engine)}


def engine_code_sources(engine: Engine) -> tuple[dict[str, str], tuple[str, ...]]:
    """What the engine's code size is measured on: its files, and the hand-written .c among them."""
    return engine_files(engine), CODE
