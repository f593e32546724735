"""The w2s streaming engine: bit-exact with TFLM through the trunk, C = numpy mirror everywhere, portable.

Oracles: the tflite-micro wheel with kPreserveAllTensors for every trunk tensor (not LiteRT, which rounds
differently), the numpy mirror for the C on the host, and the C on the host for the mirror's streaming
claims. One real convert (the session's `bundle`); test_engine_c.py holds the C against the mirror on
synthetic engines in the fast lane (any window length, one state size, every core, C++ linkage)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cbuild
import engine_build as eb
from helpers import needs_arm_gcc
from mcu_toolkit.audio import cut_windows
from mcu_toolkit.engine import arith
from mcu_toolkit.engine.mirror import Engine
from mcu_toolkit.engine.tail import Head
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.verify import tflm
from mcu_toolkit.verify.deployed import device_input_s8
from mcu_toolkit.verify.trunk_check import compare_trunk, tflm_trunk_tensors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(bundle) -> Engine:
    b = bundle.out
    return Engine.from_tflite((b / "model_int8.tflite").read_bytes(),
                              Head.from_json((b / "engine_head.json").read_text(), "head"))


@pytest.fixture(scope="module")
def tflite(bundle) -> bytes:
    return (bundle.out / "model_int8.tflite").read_bytes()


def _real_windows(heldout, bundle, n: int = 3) -> list[np.ndarray]:
    r = bundle.report
    q = r.input_quant
    out = []
    for wav in heldout[1][:n]:
        w = cut_windows(wav, r.window_samples)[0][0]
        out.append(device_input_s8(w, "fixed", r.n_mels, q["scale"], q["zero_point"]))
    return out


def test_trunk_equals_tflm_on_every_tensor(engine, tflite, heldout, bundle):
    """...and TFLM on the model's tail alone, fed with the engine's features (what convert's evaluation
    runs), gives the whole model's int8 outputs on TFLM."""
    frames, mels = bundle.report.frames_per_window, bundle.report.n_mels
    rng = np.random.default_rng(3)
    windows = _real_windows(heldout, bundle) + eb.extremes(frames, mels) + \
        [rng.integers(-128, 128, (frames, mels), dtype=np.int8)]
    tail = tflm.TflmModel(tflm.tail_model(tflite, engine.graph.features_tensor), arena_size=8 << 20)
    assert tuple(tail.input["shape"]) == (1, *engine.features(windows[0]).shape)
    check = compare_trunk(tflite, engine, windows, tail)
    assert check["differing"] == 0 and check["tensors"] == 10 and check["values"] > 10_000_000
    assert check["tail_outputs_differing"] == 0
    assert bundle.report.engine.trunk_vs_tflm["differing"] == 0
    assert bundle.report.engine.trunk_vs_tflm["tail_outputs_differing"] == 0


def test_a_tail_that_does_not_split_the_model_is_refused(engine, tflite):
    with pytest.raises(ToolkitError, match="does not split the model"):
        tflm.tail_model(tflite, engine.graph.lin.tensor)  # sof still reads the features tensor


def test_single_rounding_is_a_different_mode(engine, tflite, heldout, bundle):
    """The switch is real: single rounding changes some int8 value that TFLM (double rounding) has."""
    x = _real_windows(heldout, bundle, 1)[0]
    single = Engine(engine.graph, engine.head, engine.table, rounding="single").trunk(x)
    theirs = tflm_trunk_tensors(tflite, x, list(single))
    assert any(np.count_nonzero(a != theirs[i].reshape(a.shape)) for i, a in single.items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(acc=st.integers(-(1 << 24), 1 << 24), mult=st.integers(1 << 30, (1 << 31) - 1), shift=st.integers(-31, 0))
def test_requantize_matches_gemmlowp_transcription(acc, mult, shift):
    left, right = max(shift, 0), max(-shift, 0)
    ab = acc * mult
    q = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    high = q >> 31 if q >= 0 else -((-q) >> 31)            # C's truncating division
    mask = (1 << right) - 1
    want = (high >> right) + (1 if (high & mask) > (mask >> 1) + (high < 0) else 0)
    assert left == 0
    assert int(arith.multiply_by_quantized_multiplier(np.array([acc]), mult, shift)[0]) == want


@pytest.mark.parametrize("kind", ["default", *sorted(eb.X86_BUILDS)])
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_host_c_equals_the_mirror_bit_for_bit(engine, heldout, bundle, tmp_path, rounding, kind):
    """Every window length from 1 frame up, saturating extremes, real speech: the same sums and float bits; with
    the host's default build and with the x86 kernels (AVX2, AVX-512 VNNI) where the CPU has them."""
    if kind != "default" and eb.x86_missing(kind):
        pytest.skip(eb.x86_missing(kind))
    e = Engine(engine.graph, engine.head, engine.table, rounding)
    mels = bundle.report.n_mels
    rng = np.random.default_rng(5)
    windows = _real_windows(heldout, bundle) + eb.extremes(40, mels) + \
        [rng.integers(-128, 128, (t, mels), dtype=np.int8) for t in (1, 2, 3, 4, 7, 250)]
    flags = () if kind == "default" else eb.X86_BUILDS[kind][0]
    got, state = eb.run_host(eb.build(e, tmp_path, cbuild.HOST, *flags), windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)
    assert state == e.state_bytes(pointer=8, winograd=False)


def test_int8_outputs_count_what_the_trunk_writes(engine):
    """report.engine's int8_outputs_per_window (the real-time estimate's second term) is every value the
    trunk's layers write, lin and sof included, for any window length."""
    for frames in (1, 2, 7, 64, 999):
        written = engine.trunk(np.zeros((frames, engine.graph.n_mels), dtype=np.int8))
        assert engine.int8_outputs(frames) == sum(v.size for v in written.values())


def test_report_macs_are_the_graphs_and_the_float_models(engine, bundle, default_model):
    """report.macs (the real-time estimate's first term) is the engine graph's count, and the float model's
    (firmware's estimate before any convert) is the same number."""
    from mcu_toolkit.model.wav2small import float_macs

    frames = bundle.report.frames_per_window
    assert bundle.report.macs == engine.graph.macs(frames) == float_macs(default_model, frames) == 123_882_577


@pytest.fixture(scope="module")
def m4_builds(engine, tmp_path_factory):
    """The engine on a Cortex-M4: the DSP (SMLAD) kernels the core selects, and the portable C."""
    if cbuild.missing(*cbuild.ARM_TOOLS):
        pytest.skip(cbuild.missing(*cbuild.ARM_TOOLS))
    return {kind: eb.build(engine, tmp_path_factory.mktemp(kind), cbuild.QEMU_CORE, *flags)
            for kind, flags in eb.BUILDS.items()}


def test_cortex_m4_dsp_and_portable_equal_the_mirror(engine, m4_builds, heldout, bundle, tmp_path):
    """SIMD = portable = mirror on a Cortex-M4 (QEMU): speech, saturating extremes, random, short windows."""
    mels = engine.graph.n_mels
    rng = np.random.default_rng(9)
    windows = _real_windows(heldout, bundle, 2) + eb.extremes(30, mels) + \
        [rng.integers(-128, 128, (t, mels), dtype=np.int8) for t in (1, 2, 5, 64)]
    for kind, elf in m4_builds.items():
        got, _ = eb.run_m4(elf, windows, eb.columns(engine), tmp_path / kind)
        eb.check_against_mirror(engine, windows, got)


@needs_arm_gcc
def test_reported_code_size_counts_every_engine_file(engine, bundle):
    """report.engine's code size (the board budgets' engine flash) is the .text of every hand-written engine .c,
    summed: the streaming and tail, and each layer kind's kernels."""
    import json

    from mcu_toolkit.cores import code_bytes
    from mcu_toolkit.emit.c_engine import engine_code_sources

    files, sources = engine_code_sources(engine)
    each = [code_bytes(files, s) for s in sources]
    assert sources == ("w2s_engine.c", "w2s_engine_conv.c", "w2s_engine_conv_mve.c", "w2s_engine_conv_neon.c",
                       "w2s_engine_conv_x86.c", "w2s_engine_maxpool.c")
    # each file holds code on the M4, but the Helium, NEON and x86 kernels, which compile to nothing there
    other = ("w2s_engine_conv_mve.c", "w2s_engine_conv_neon.c", "w2s_engine_conv_x86.c")
    assert all((n == 0) == (s in other) for s, n in zip(sources, each)), each
    reported = json.loads((bundle.out / "report.json").read_text())["engine"]["code_bytes_cortex_m4_Os"]
    assert code_bytes(files, sources) == sum(each) == reported


def test_an_odd_mel_count_converts_with_the_engine_bit_exact(tmp_path):
    """25 mels: onnx2tf emits a SAME max pool without the PAD (its padding depends on the window's size);
    the engine reads it, and convert's own check finds its trunk equal to TFLM's on every tensor. With 8
    channels and odd widths (25, then 13) the Cortex-M4 kernels take other shapes than the default's (their
    own unrolled size, two groups of four, a lone last pixel): the C on the M4 still equals the mirror."""
    import torch

    from mcu_toolkit.convert import convert
    from mcu_toolkit.model import Wav2Small, save_checkpoint
    from mcu_toolkit.model.wav2small import Wav2SmallConfig

    torch.manual_seed(5)
    save_checkpoint(Wav2Small(Wav2SmallConfig(channels=8, n_mels=25)).eval(), tmp_path / "ck")
    r = convert(tmp_path / "ck", out=tmp_path / "b", window_seconds=0.5, progress=False).report
    assert r.engine.available and r.engine.trunk_vs_tflm["differing"] == 0
    assert r.engine.trunk_vs_tflm["values"] > 100_000
    assert (tmp_path / "b" / "w2s_engine_model.c").exists()
    if cbuild.missing(*cbuild.ARM_TOOLS):
        return
    b = tmp_path / "b"
    engine = Engine.from_tflite((b / "model_int8.tflite").read_bytes(),
                                Head.from_json((b / "engine_head.json").read_text(), "head"))
    rng = np.random.default_rng(4)
    windows = eb.extremes(40, 25) + [rng.integers(-128, 128, (t, 25), dtype=np.int8) for t in (1, 3, 120)]
    for kind, flags in eb.BUILDS.items():
        elf = eb.build(engine, tmp_path / kind, cbuild.QEMU_CORE, *flags)
        got, _ = eb.run_m4(elf, windows, eb.columns(engine), tmp_path / f"{kind}_run")
        eb.check_against_mirror(engine, windows, got)


def test_a_tail_that_differs_from_the_whole_model_falls_back_to_the_whole_model(bundle, tmp_path, monkeypatch):
    """If TFLM on the tail alone ever disagreed with the whole model, the evaluation runs the whole model on
    TFLM instead (workers resubmitted), says so, and gives the same figures."""
    from mcu_toolkit import convert as conv
    from mcu_toolkit.verify import trunk_check

    real = trunk_check.compare_trunk

    def tail_disagrees(*args, **kwargs):
        return {**real(*args, **kwargs), "tail_outputs_differing": 1}

    monkeypatch.setattr(trunk_check, "compare_trunk", tail_disagrees)
    r = conv.convert(out=tmp_path / "b", progress=False, jobs=2).report
    assert r.tflm.evaluated_as == "the whole int8 model on TFLM"
    assert any("TFLM ran the whole model" in m for m in r.messages)
    assert r.tflm.ccc == bundle.report.tflm.ccc and r.ccc == bundle.report.ccc
    assert "tail on TFLM" in bundle.report.tflm.evaluated_as
