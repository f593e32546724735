"""The engine's Helium (MVE) kernels on a Cortex-M55 (QEMU's mps3-an547) equal the numpy mirror bit for bit, and a
Helium build keeps only the int8 weights it reads. Synthetic engines (tests/synthetic_engine.py: no convert), so
this runs in the fast lane; test_device_m55.py holds the real qemu-m55 image against the host."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import cbuild
import engine_build as eb
from mcu_toolkit.emit.c_engine import engine_files
from mcu_toolkit.engine.layout import bias_zp_s32, run_s8, weights_s8
from helpers import needs_arm, needs_arm_gcc
from synthetic_engine import SHAPES, synthetic_engine

M55 = "cortex-m55"


@pytest.fixture(scope="module")
def m55_builds(tmp_path_factory):
    if cbuild.missing(*cbuild.ARM_TOOLS):
        pytest.skip(cbuild.missing(*cbuild.ARM_TOOLS))
    return {(shape, rounding): eb.build(synthetic_engine(shape, rounding),
                                        tmp_path_factory.mktemp(f"{shape}_{rounding}"), M55)
            for shape in SHAPES for rounding in ("double", "single")}


@needs_arm
@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_cortex_m55_helium_equals_the_mirror(m55_builds, shape, rounding, tmp_path):
    """Saturating extremes, random windows, a 1-frame one: the same sums, block exponents and float bits; the
    shapes reach odd widths (an odd pixel's twin), 5 = 3 + 2 and 13 = 3 + 3 + 3 + 2 + 2 channel groups, left
    shifts, a zero multiplier, ReLU, ReLU6 and none, and the max pool's padding."""
    e = synthetic_engine(shape, rounding)
    rng = np.random.default_rng(13)
    windows = eb.extremes(30, e.graph.n_mels) + [rng.integers(-128, 128, (t, e.graph.n_mels), dtype=np.int8)
                                                 for t in (1, 2, 5, 64)]
    got, state = eb.run_m4(m55_builds[shape, rounding], windows, eb.columns(e), tmp_path, core=M55)
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(winograd=False)  # a Helium build has no Winograd rows


def test_folded_bias_gives_tflms_sums():
    """sum w * (x - zp) + bias == sum w * x + bias_zp_s32 on every output channel, with padding taps at zp; the int8
    weights are the field in the interleaved order, zero-padded to whole vectors."""
    e = synthetic_engine("13ch_9mels")
    conv = e.graph.layers[0]
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (5, conv.kh, conv.kw, conv.cin))
    x[0] = conv.in_zero  # an all-padding field
    w = conv.weights.astype(np.int64)
    want = np.einsum("nhwc,ohwc->no", x - conv.in_zero, w) + conv.bias
    got = np.einsum("nhwc,ohwc->no", x, w) + bias_zp_s32(conv)
    np.testing.assert_array_equal(got, want)
    ws = weights_s8(conv).reshape(conv.cout, run_s8(conv))
    assert run_s8(conv) % 16 == 0 and not ws[:, conv.kh * conv.kw * conv.cin:].any()
    np.testing.assert_array_equal(ws[:, :conv.kh * conv.kw * conv.cin],
                                  conv.weights.transpose(0, 2, 1, 3).reshape(conv.cout, -1))


@needs_arm_gcc
@pytest.mark.parametrize("core", ["cortex-m4f", M55])
def test_each_build_keeps_only_the_weights_its_kernels_read(core, tmp_path):
    """The generated model: int8 weights and folded biases in a Helium build, int16 weights in the others, and
    neither keeps the x86 layout."""
    src = cbuild.write(engine_files(synthetic_engine("5ch_8mels")), tmp_path / "engine")
    (obj,) = cbuild.objects([src / "w2s_engine_model.c"], tmp_path, core, includes=[src])
    syms = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True, check=True).stdout
    helium = core == M55
    assert ("layer0_weights_s8" in syms) == helium and ("layer0_bias_zp_s32" in syms) == helium
    assert ("layer0_weights_s16" in syms) == (not helium)
    assert "x86" not in syms  # the x86 kernels' blocks and packed weights: x86 builds only
