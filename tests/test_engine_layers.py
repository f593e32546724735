"""Each layer kind answers the graph's questions itself: rows, outputs, ring, scratch, MACs, its C struct.

A small graph of the card's layout (three convs, a padded 3x3 stride-2 max pool, four convs, the two 1x1
pooling convs) with random int8 weights: no convert, no TFLite (fast)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mcu_toolkit.emit import cwrite
from mcu_toolkit.emit.c_engine import LAYER_FIELDS, model_c
from mcu_toolkit.engine.arith import quantize_multiplier
from mcu_toolkit.engine.graph import EngineGraph, Quant
from mcu_toolkit.engine.layers import Conv, MaxPool
from mcu_toolkit.engine.layout import macros, ring_layout
from mcu_toolkit.engine.mirror import Engine
from mcu_toolkit.engine.tail import Head
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.model.wav2small import Wav2Small, Wav2SmallConfig, float_macs

C, MELS = 4, 10
F = (MELS + 2 - 3) // 2 + 1


def _conv(rng, tensor: int, cin: int, width: int, k: int = 3) -> Conv:
    mult, shift = zip(*(quantize_multiplier(float(m)) for m in rng.uniform(0.002, 0.02, C)))
    return Conv(tensor, k, k, cin, C, width, rng.integers(-128, 128, (C, k, k, cin), dtype=np.int8),
                rng.integers(-2000, 2000, C).astype(np.int32), np.array(mult, np.int64), np.array(shift, np.int64),
                -128, -128, -128, 127)


@pytest.fixture(scope="module")
def engine() -> Engine:
    rng = np.random.default_rng(1)
    pool = MaxPool(3, 3, 3, 2, 2, C, MELS, F, 1, 1, 1, 1, -128, -128, 127)
    layers = (_conv(rng, 0, 1, MELS), _conv(rng, 1, C, MELS), _conv(rng, 2, C, MELS), pool,
              *(_conv(rng, t, C, F) for t in range(4, 8)))
    lin, sof = _conv(rng, 8, C, F, 1), _conv(rng, 9, C, F, 1)
    g = EngineGraph(Quant(0.5, 0), layers, lin, sof, Quant(0.02, 0), Quant(0.1, 0), MELS, C, F, 7)
    head = Head(rng.standard_normal((3, C * (F + C))).astype(np.float32), np.zeros(3, np.float32))
    return Engine.build(g, head)


@pytest.mark.parametrize("frames", [1, 2, 3, 8, 41])
def test_rows_and_int8_outputs_are_what_the_mirror_writes(engine, frames):
    x = np.random.default_rng(frames).integers(-128, 128, (frames, MELS), dtype=np.int8)
    written = engine.trunk(x)
    rows = frames
    for layer in engine.graph.layers:
        rows = layer.out_rows(rows)
        assert written[layer.tensor].shape == (rows, layer.out_width, layer.out_channels)
    assert engine.graph.int8_outputs(frames) == sum(v.size for v in written.values())


def test_a_window_too_short_for_the_pool_is_refused(engine):
    bare = MaxPool(3, 3, 3, 2, 2, C, MELS, F, 0, 0, 1, 1, -128, -128, 127)  # no rows of padding: needs 3
    g = engine.graph
    short = dataclasses.replace(engine, graph=dataclasses.replace(g, layers=(*g.layers[:3], bare, *g.layers[4:])))
    assert bare.out_rows(2) == 0 and bare.out_rows(3) == 1
    with pytest.raises(ToolkitError, match="too short"):
        short.features(np.zeros((2, MELS), np.int8))


def test_the_ring_holds_each_layers_kh_input_rows(engine):
    # three convs on 10 mels (1, then 4 channels), the pool on 10 x 4, four convs on 5 x 4
    assert ring_layout(engine.graph) == [0, 30, 150, 270, 390, 450, 510, 570, 630]
    m = macros(engine.graph)
    assert m["W2S_ENGINE_RING_BYTES"] == 630 and m["W2S_ENGINE_MAX_KH"] == 3
    # the widest scratch: a 3x3 conv's kh widened rows of 4 channels over 10 + 2 columns, plus one
    assert m["W2S_ENGINE_WIDE"] == (MELS + 2) * 3 * C + 1 == max(layer.scratch for layer in engine.graph.layers)
    # the 4-channel convs run Winograd on the DSP cores (their own unrolled shape), so the direct kernels are
    # unrolled for the first conv's (9 taps of 1 channel: 5 pairs, a pixel 3 apart)
    assert [layer.winograd for layer in engine.graph.layers] == [False, True, True, False] + [True] * 4
    assert m["W2S_ENGINE_HOT_PAIRS"] == 5 and m["W2S_ENGINE_HOT_STRIDE"] == 3
    assert (m["W2S_ENGINE_WINO_CIN"], m["W2S_ENGINE_WINO_KH"], m["W2S_ENGINE_WINO_COUT"]) == (C, 3, C)


@pytest.mark.parametrize("frames", [1, 2, 7, 999])
def test_the_graphs_macs_are_the_float_models(engine, frames):
    """The engine's graph and the float model of the same shape count the same MACs, with no formula of
    the card's layers: each layer's own, then the tail's weighting, Gram and head."""
    assert engine.graph.macs(frames) == float_macs(Wav2Small(Wav2SmallConfig(channels=C, n_mels=MELS)), frames)
    assert engine.graph.layers[3].macs(frames) == 0


def test_a_layer_added_to_the_float_model_is_counted():
    import torch

    m = Wav2Small(Wav2SmallConfig(channels=C, n_mels=MELS))
    before = float_macs(m, 99)
    m.vgg7.l7 = torch.nn.Sequential(m.vgg7.l7, torch.nn.Conv2d(C, C, 3, padding=1, groups=C))  # a depthwise conv
    assert float_macs(m, 99) - before == 50 * F * C * 9  # 50 rows after the pool, 9 taps per output


def test_every_kind_fills_only_fields_of_the_c_struct(engine):
    text = model_c(engine)
    for layer in (*engine.graph.layers, engine.graph.lin):
        assert set(layer.c_fields("x", 0)) <= set(LAYER_FIELDS)
    assert text.count(".kind = W2S_LAYER_CONV,") == 9 and text.count(".kind = W2S_LAYER_MAXPOOL,") == 1
    assert "        .ring_offset = 270u,\n    },\n" in text  # the pool's, designated, nested in the array


def test_cwrite_writes_c_literals():
    values = (0.1, 1, -2.5, 1e-10, 3e38)
    assert [cwrite.f32(v) for v in values] == ["0.100000001f", "1.0f", "-2.5f", "1.00000001e-10f", "3.00000001e+38f"]
    assert all(np.float32(float(cwrite.f32(v)[:-1])) == np.float32(v) for v in values)  # the same float32 back
    assert cwrite.define("N", 5, "count", unsigned=True) == "#define N 5u /* count */"
    assert cwrite.define("Z", -3, "zero", width=12) == "#define Z (-3) /* zero */"
    assert cwrite.define("Z", -3, "zero", width=16) == "#define Z (-3)   /* zero */"
    assert cwrite.array("int8_t", "a", np.arange(5), 2) == \
        "static const int8_t a[5] = {\n    0, 1,\n    2, 3,\n    4,\n};\n"
    assert cwrite.array("uint8_t", "b", np.eye(2, dtype=np.uint8), static=False) == \
        "const uint8_t b[2][2] = {\n    {1, 0},\n    {0, 1},\n};\n"
    assert cwrite.struct_init({"a": "1u", "s": cwrite.struct_init({"b": "x"})}) == \
        "{\n    .a = 1u,\n    .s = {\n        .b = x,\n    },\n}"
    assert [cwrite.sizeof(t) for t in ("int8_t", "uint16_t", "int32_t", "float")] == [1, 2, 4, 4]


def test_the_layer_fields_are_the_c_structs():
    """c_engine.LAYER_FIELDS (names, order, which are unsigned) is read from w2s_engine_layer.h's w2s_layer_s8_t."""
    import re
    from importlib import resources

    header = (resources.files("mcu_toolkit.engine") / "c" / "w2s_engine_layer.h").read_text()
    body = re.search(r"typedef struct \{((?:(?!typedef struct).)*?)\} w2s_layer_s8_t;", header, re.S).group(1)
    # the x86 build's own fields, emitted under their guard (c_engine._layer_init), are not LAYER_FIELDS
    x86 = re.search(r"#if W2S_ENGINE_X86\n(.*?)#endif\n", body, re.S)
    assert x86 and re.findall(r"\*(x86_\w+);", x86.group(1)) == ["x86_blocks", "x86_w_s16", "x86_w_s8"]
    body = body.replace(x86.group(0), "")
    fields = {}
    for decl in re.sub(r"/\*.*?\*/", "", body, flags=re.S).split(";")[:-1]:
        ctype, names = re.match(r"\s*((?:const )?\w+ \**)(.*)", decl).groups()
        fields.update((n.strip().lstrip("*"), ctype.startswith("uint")) for n in names.split(","))
    assert fields == LAYER_FIELDS and list(fields) == list(LAYER_FIELDS)
