"""The engine on aarch64 (user-mode QEMU): the NEON conv rows (w2s_engine_conv_neon.c: SMLAL, and SDOT with the dot
product extension) and the portable C equal the numpy mirror bit for bit, on the synthetic engines (fast lane) and
the real bundle (slow lane); and the NEON file compiles to nothing, cleanly, where it does not run."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import cbuild
import engine_build as eb
from mcu_toolkit.emit.c_engine import engine_files
from mcu_toolkit.engine.layout import channel_groups
from mcu_toolkit.engine.mirror import Engine
from mcu_toolkit.engine.tail import Head
from synthetic_engine import SHAPES, ConvSpec, PoolSpec, Shape, synthetic_engine, synthetic_graph

needs_aarch64 = pytest.mark.skipif(cbuild.missing(*cbuild.AARCH64_TOOLS) is not None,
                                   reason=str(cbuild.missing(*cbuild.AARCH64_TOOLS)))
# NEON (the kernels aarch64 selects: SMLAL, or SDOT with the dot product extension) and the plain C they replace
KINDS = {"neon": (), "neon_dotprod": ("-march=armv8.2-a+dotprod",), "portable": ("-DW2S_ENGINE_PORTABLE",)}


# Other blocks of pixels and groups of channels: 16 channels (four fours, two whole 8-channel vectors a pixel) on 11
# then 6 columns (SDOT blocks of 8, 2 and 1; SMLAL 6 + 5); 7 channels (4 + 3, fewer than a vector) on 3 then 2
# columns, whose first conv's rows are too short for SDOT's vectors (its SMLAL fallback)
MORE = {"16ch_11mels": Shape(11, (ConvSpec(16), PoolSpec(), ConvSpec(16, "relu6", loud=True), ConvSpec(16))),
        "7ch_3mels": Shape(3, (ConvSpec(7), PoolSpec(), ConvSpec(7, "none", loud=True)))}


def _more_engine(name: str) -> Engine:
    g = synthetic_graph(MORE[name], 3)
    rng = np.random.default_rng(4)
    head = Head(rng.normal(0, 0.1, (3, g.channels * (g.pooled_mels + g.channels))).astype(np.float32),
                rng.normal(0, 0.1, 3).astype(np.float32), rng.normal(0, 0.1, 3).astype(np.float32), -128)
    return Engine.build(g, head, "double")


def _random(engine, frames, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, (t, engine.graph.n_mels), dtype=np.int8) for t in frames]


def check_aarch64(e: Engine, windows: list[np.ndarray], folder, flags: tuple[str, ...]) -> None:
    exe = eb.build(e, folder, cbuild.AARCH64, *flags)
    got, state = eb.run_host(exe, windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(pointer=8, winograd=False)  # aarch64 keeps every conv direct


@needs_aarch64
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_aarch64_equals_the_mirror_bit_for_bit(shape, rounding, kind, tmp_path):
    """Saturating extremes, random windows from 1 frame up: 5 channels (a four and a rest of one) and 13 (a four
    and three threes), 8 and 9 mels (blocks of 8 pixels, then 4, 2, 1), left shifts and a zero multiplier."""
    e = synthetic_engine(shape, rounding)
    windows = eb.extremes(40, e.graph.n_mels) + _random(e, (1, 2, 3, 4, 7, 250), 13)
    check_aarch64(e, windows, tmp_path, KINDS[kind])


@needs_aarch64
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("shape", sorted(MORE))
def test_aarch64_other_shapes_equal_the_mirror(shape, kind, tmp_path):
    e = _more_engine(shape)
    windows = eb.extremes(30, e.graph.n_mels) + _random(e, (1, 2, 9, 120), 23)
    check_aarch64(e, windows, tmp_path, KINDS[kind])


@needs_aarch64
@pytest.mark.parametrize("march", ["armv8-a", "armv8.2-a+dotprod"])
def test_aarch64_neon_at_o3_equals_the_mirror(march, tmp_path):
    """-O3 (other register allocation, other inlining), with and without the dot product: the same integers."""
    e = synthetic_engine("13ch_9mels")
    windows = eb.extremes(30, e.graph.n_mels) + _random(e, (1, 5, 64), 17)
    exe = eb.build(e, tmp_path, cbuild.AARCH64, "-O3", f"-march={march}")
    got, _ = eb.run_host(exe, windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)


@pytest.mark.slow
@needs_aarch64
def test_aarch64_real_bundle_equals_the_mirror(bundle, heldout, tmp_path):
    """The default model (26 then 13 mel columns, conv1 1 -> 13, the 13 -> 13 convs): speech, extremes, random."""
    from mcu_toolkit.audio import cut_windows
    from mcu_toolkit.verify.deployed import device_input_s8

    b, r = bundle.out, bundle.report
    e = Engine.from_tflite((b / "model_int8.tflite").read_bytes(),
                           Head.from_json((b / "engine_head.json").read_text(), "head"))
    q = r.input_quant
    speech = [device_input_s8(cut_windows(wav, r.window_samples)[0][0], "fixed", r.n_mels, q["scale"],
                              q["zero_point"]) for wav in heldout[1][:2]]
    windows = speech + eb.extremes(r.frames_per_window, r.n_mels) + _random(e, (1, 2, 7, 250), 19)
    for kind, flags in KINDS.items():
        check_aarch64(e, windows, tmp_path / kind, flags)


@needs_aarch64
def test_neon_weight_groups_are_the_same_as_python(tmp_path):
    """w2s_group_size, as the NEON build compiles it, for any channel count, is engine/layout.py's channel_groups (as
    test_engine_c.py holds it on the host)."""
    src = cbuild.write(engine_files(synthetic_engine("5ch_8mels")), tmp_path / "engine")
    (tmp_path / "groups.c").write_text(
        cbuild.unity(src) + '#include <stdio.h>\n'
        "int main(void) { for (size_t n = 1; n <= 64; n++) { for (size_t g = 0, r; g < n; g += r) {\n"
        '  r = w2s_group_size(n, g); printf("%zu ", r); } printf("\\n"); } return 0; }\n')
    exe = cbuild.build([tmp_path / "groups.c"], tmp_path / "groups", cbuild.AARCH64, includes=[src])
    out = subprocess.run(cbuild.command(exe), capture_output=True, text=True, check=True).stdout
    assert [[int(v) for v in line.split()] for line in out.splitlines()] == [channel_groups(n) for n in range(1, 65)]


@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m4f", "cortex-m55", "rv32imc", cbuild.HOST])
def test_neon_file_compiles_clean_where_it_does_not_run(target, tmp_path):
    """Whole-file-guarded: no empty translation unit (-Wpedantic) on the Cortex-M cores, RISC-V and x86."""
    from mcu_toolkit.cores import CORES

    compiler = "gcc" if target == cbuild.HOST else CORES[target].compiler
    if cbuild.missing(compiler):
        pytest.skip(cbuild.missing(compiler))
    src = cbuild.write(engine_files(synthetic_engine("13ch_9mels")), tmp_path / "engine")
    objs = cbuild.objects([src / "w2s_engine_conv_neon.c"], tmp_path / "obj", target, opt="-Os",
                          flags=("-Wpedantic",), includes=[src])
    assert objs[0].stat().st_size > 0
