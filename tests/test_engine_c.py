"""The engine's C equals its numpy mirror bit for bit: on the host (both roundings), and on a Cortex-M4 in QEMU
with the DSP kernels and with the portable C. Synthetic engines (tests/synthetic_engine.py: no convert), so
this runs in the fast lane; test_engine.py holds the real bundle against TFLM."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cbuild
import engine_build as eb
import fe_build
from mcu_toolkit.cores import CORTEX_M
from mcu_toolkit.emit.c_engine import engine_files
from mcu_toolkit.engine.layers import Conv
from mcu_toolkit.engine.layout import channel_groups
from helpers import ROOT, needs_arm, needs_arm_gcc
from synthetic_engine import SHAPES, ConvSpec, PoolSpec, Shape, synthetic_engine


def _random(engine, frames, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, (t, engine.graph.n_mels), dtype=np.int8) for t in frames]


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_host_c_equals_the_mirror_bit_for_bit(shape, rounding, tmp_path):
    """Windows from 1 frame up, saturating extremes: the same sums, block exponents and float bits; and
    sizeof(w2s_engine_t) on a 64-bit host is the layout's."""
    e = synthetic_engine(shape, rounding)
    exe = eb.build(e, tmp_path)
    windows = eb.extremes(40, e.graph.n_mels) + _random(e, (1, 2, 3, 4, 7, 250), 5)
    got, state = eb.run_host(exe, windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(pointer=8, winograd=False)


# Beyond SHAPES, for the x86 kernels' other branches: 3 output channels (one group: left to the portable C),
# 3 and 30 input channels (the widening one value at a time; 270 taps, past the VNNI int8 path's 256), 30 and
# 17 outputs (two 16-lane blocks, a last group of 3 read from before its start)
X86_SHAPES = {**SHAPES, "3_30_17ch_11mels": Shape(11, (ConvSpec(3), ConvSpec(30, "none", loud=True), PoolSpec(),
                                                      ConvSpec(17, "relu6")))}


@pytest.mark.parametrize("kind", sorted(eb.X86_BUILDS))
@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("shape", sorted(X86_SHAPES))
def test_host_x86_kernels_equal_the_mirror_bit_for_bit(shape, rounding, kind, tmp_path):
    """The AVX2 and AVX-512 VNNI builds (w2s_engine_conv_x86.c) give the mirror's sums and float bits: the
    saturating extremes, random windows from 1 frame up; skipped where the CPU lacks the instructions."""
    if eb.x86_missing(kind):
        pytest.skip(eb.x86_missing(kind))
    e = synthetic_engine(X86_SHAPES[shape], rounding)
    exe = eb.build(e, tmp_path, cbuild.HOST, *eb.X86_BUILDS[kind][0])
    assert eb.has_symbol(exe, "w2s_conv_row_x86_s8")  # the x86 kernels, not the portable C
    windows = eb.extremes(40, e.graph.n_mels) + _random(e, (1, 2, 3, 4, 7, 250), 7)
    got, state = eb.run_host(exe, windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(pointer=8, winograd=False)


def test_state_is_the_same_for_any_window_length(tmp_path):
    """One compiled engine runs windows of 0.5 s to 60 s (30,000 frames) with the same state: the sums of
    the long window still match the mirror (no overflow)."""
    e = synthetic_engine("5ch_8mels")
    windows = _random(e, (249, 999, 4999, 29999), 11)
    got, state = eb.run_host(eb.build(e, tmp_path), windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(pointer=8, winograd=False)


@pytest.fixture(scope="module")
def m4_builds(tmp_path_factory):
    """Each synthetic engine on a Cortex-M4: the DSP (SMLAD) kernels the core selects, and the portable C."""
    if cbuild.missing(*cbuild.ARM_TOOLS):
        pytest.skip(cbuild.missing(*cbuild.ARM_TOOLS))
    return {(shape, kind): eb.build(synthetic_engine(shape), tmp_path_factory.mktemp(f"{shape}_{kind}"),
                                    cbuild.QEMU_CORE, *flags)
            for shape in SHAPES for kind, flags in eb.BUILDS.items()}


@needs_arm
@pytest.mark.parametrize("kind", sorted(eb.BUILDS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_cortex_m4_equals_the_mirror(m4_builds, shape, kind, tmp_path):
    """SIMD = portable = mirror on a Cortex-M4 (QEMU): saturating extremes, random, short windows."""
    e = synthetic_engine(shape)
    windows = eb.extremes(30, e.graph.n_mels) + _random(e, (1, 2, 5, 64), 9)
    got, state = eb.run_m4(m4_builds[shape, kind], windows, eb.columns(e), tmp_path)
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(winograd=kind == "dsp")


@needs_arm
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), lo=st.integers(-128, 127), span=st.integers(0, 255),
       frames=st.integers(1, 120))
def test_cortex_m4_dsp_equals_the_mirror_on_generated_inputs(m4_builds, tmp_path_factory, seed, lo, span, frames):
    """Generated inputs, narrow or wide value ranges pinned to either end of int8 (saturation included)."""
    e = synthetic_engine("13ch_9mels")
    rng = np.random.default_rng(seed)
    hi = min(127, lo + span)
    windows = [rng.integers(lo, hi + 1, (frames, e.graph.n_mels), dtype=np.int8) for _ in range(3)]
    got, _ = eb.run_m4(m4_builds["13ch_9mels", "dsp"], windows, eb.columns(e), tmp_path_factory.mktemp("gen"))
    eb.check_against_mirror(e, windows, got)


def test_weight_groups_are_the_same_in_c_and_python(tmp_path):
    """The C kernels and the emitted weights must agree on how output channels are grouped, for any
    channel count a checkpoint may bring (13 = 4 + 3 + 3 + 3; 16 = four fours; 5 = 4 + 1)."""
    src = cbuild.write(engine_files(synthetic_engine("5ch_8mels")), tmp_path / "engine")
    (tmp_path / "groups.c").write_text(
        cbuild.unity(src) + '#include <stdio.h>\n'
        "int main(void) { for (size_t n = 1; n <= 64; n++) { for (size_t g = 0, r; g < n; g += r) {\n"
        '  r = w2s_group_size(n, g); printf("%zu ", r); } printf("\\n"); } return 0; }\n')
    exe = cbuild.build([tmp_path / "groups.c"], tmp_path / "groups", includes=[src])
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    want = [channel_groups(n) for n in range(1, 65)]
    assert [[int(v) for v in line.split()] for line in out.splitlines()] == want
    assert want[12] == [4, 3, 3, 3] and want[15] == [4, 4, 4, 4] and want[4] == [4, 1]
    assert all(sum(g) == n for n, g in enumerate(want, 1))


@needs_arm_gcc
@pytest.mark.parametrize("core", CORTEX_M)
def test_engine_compiles_clean_for_every_cortex_m(tmp_path, core):
    """Every emitted file, -Os as boards build it; and sizeof(w2s_engine_t) on a 32-bit core, from the
    compiler itself, is the layout's (with the Winograd convs' rows on the cores with the DSP extension)."""
    e = synthetic_engine("13ch_9mels")
    src = cbuild.write(engine_files(e), tmp_path / "engine")
    from mcu_toolkit.firmware.boards import dsp_core

    winograd = dsp_core(core)  # the SMLAD cores; Helium (M55) keeps its own int8 kernels, M0+ the portable C
    (tmp_path / "size.c").write_text('#include "w2s_engine.h"\n'
                                     f"typedef char check[sizeof(w2s_engine_t) == {e.state_bytes(winograd=winograd)}"
                                     " ? 1 : -1];\n"
                                     "int w2s_size_probe;\n")
    cbuild.objects([*cbuild.c_files(src), tmp_path / "size.c"], tmp_path / "obj", core, opt="-Os",
                   flags=eb.FLAGS, includes=[src])


CXX_MAIN = """// Every engine header from C++: a missing extern "C" guard is a link error (functions) or a compile
// error (the model object, redeclared here with C linkage).
#include "w2s_engine.h"
#include "w2s_engine_layer.h"
#include "w2s_engine_model.h"
#include "w2s_infer.h"

extern "C" {
extern const w2s_engine_model_t g_w2s_engine_model;
}

static w2s_engine_t engine;

int main() {
  int8_t row[W2S_ENGINE_N_MELS] = {0};
  float out[W2S_ENGINE_OUTPUTS];
  w2s_engine_window_start(&engine, &g_w2s_engine_model);
  for (int t = 0; t < 5; t++) w2s_engine_push_s8(&engine, row);
  if (w2s_engine_window_end_f32(&engine, out) != 3u) return 1;
  w2s_pipeline_t pipe = {};
  return w2s_infer_window_f32(&pipe, &engine, out) == W2S_ERR_ARG ? 0 : 2;
}
"""


def test_engine_headers_link_from_cpp(tmp_path):
    common = ROOT / "firmware_templates" / "common"
    for f in ("w2s_infer.h", "w2s_infer.c", "w2s_pipeline.h", "w2s_pipeline.c", "w2s_status.h"):
        shutil.copy(common / f, tmp_path / f)
    cbuild.write(engine_files(synthetic_engine("13ch_9mels")), tmp_path)
    fe_build.write_sources(tmp_path)
    (tmp_path / "main.cc").write_text(CXX_MAIN)
    objs = cbuild.objects(cbuild.c_files(tmp_path), tmp_path / "obj", flags=eb.FLAGS, includes=[tmp_path])
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), str(tmp_path / "main.cc"),
                    *objs, "-o", str(tmp_path / "main")], check=True)
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_host_winograd_c_equals_the_mirror_bit_for_bit(shape, rounding, tmp_path):
    """The Winograd F(4,3) arithmetic in plain C (W2S_ENGINE_WINOGRAD_C) gives the direct convs' integers: 9 and
    5 mel columns (partial last tiles, an odd tile count), 8 and 4 (whole tiles); the first conv (one input
    channel) stays direct."""
    e = synthetic_engine(shape, rounding)
    assert [layer.winograd for layer in e.graph.layers if isinstance(layer, Conv)] == [False, True, True]
    exe = eb.build(e, tmp_path, cbuild.HOST, "-DW2S_ENGINE_WINOGRAD_C")
    windows = eb.extremes(40, e.graph.n_mels) + _random(e, (1, 2, 3, 4, 7, 250), 6)
    got, state = eb.run_host(exe, windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(pointer=8)
