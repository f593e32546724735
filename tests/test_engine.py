"""The w2s streaming engine: bit-exact with TFLM through the trunk, C = numpy mirror everywhere, portable.

Oracles: the tflite-micro wheel with kPreserveAllTensors for every trunk tensor (not LiteRT, which rounds
differently), the numpy mirror for the C on the host, and the C on the host for the mirror's streaming
claims (any window length, one state size). One real convert (the session's `bundle`)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcu_toolkit.audio import cut_windows
from mcu_toolkit.cores import CORES
from mcu_toolkit.emit.c_engine import CODE, engine_files
from mcu_toolkit.engine import arith
from mcu_toolkit.engine.mirror import Engine
from mcu_toolkit.engine.tail import Head
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.verify import tflm
from mcu_toolkit.verify.deployed import device_input_s8
from mcu_toolkit.verify.trunk_check import compare_trunk, tflm_trunk_tensors

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "c" / "engine_harness.c"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off"]


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


def _extremes(frames: int, mels: int) -> list[np.ndarray]:
    alt = np.where((np.arange(frames)[:, None] + np.arange(mels)[None]) % 2 == 0, 127, -128).astype(np.int8)
    return [np.full((frames, mels), -128, np.int8), np.full((frames, mels), 127, np.int8), alt]


def test_trunk_equals_tflm_on_every_tensor(engine, tflite, heldout, bundle):
    """...and TFLM on the model's tail alone, fed with the engine's features (what convert's evaluation
    runs), gives the whole model's int8 outputs on TFLM."""
    frames, mels = bundle.report.frames_per_window, bundle.report.n_mels
    rng = np.random.default_rng(3)
    windows = _real_windows(heldout, bundle) + _extremes(frames, mels) + \
        [rng.integers(-128, 128, (frames, mels), dtype=np.int8)]
    tail = tflm.TflmModel(tflm.tail_model(tflite, engine.graph.features_tensor), arena_size=8 << 20)
    assert tuple(tail.input["shape"]) == (1, *engine.features(windows[0]).shape)
    check = compare_trunk(tflite, engine, windows, tail)
    assert check["differing"] == 0 and check["tensors"] == 10 and check["values"] > 10_000_000
    assert check["tail_outputs_differing"] == 0
    assert bundle.report.engine["trunk_vs_tflm"]["differing"] == 0
    assert bundle.report.engine["trunk_vs_tflm"]["tail_outputs_differing"] == 0


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


def test_weight_groups_are_the_same_in_c_and_python(engine, tmp_path):
    """The C kernels and the emitted weights must agree on how output channels are grouped, for any
    channel count a checkpoint may bring (13 = 4 + 3 + 3 + 3; 16 = four fours; 5 = 4 + 1)."""
    from mcu_toolkit.engine.layout import channel_groups

    for name, text in engine_files(engine).items():
        (tmp_path / name).write_text(text)
    (tmp_path / "groups.c").write_text(
        '#include <stdio.h>\n#include "w2s_engine_conv.c"\n'
        "int main(void) { for (size_t n = 1; n <= 64; n++) { for (size_t g = 0, r; g < n; g += r) {\n"
        '  r = group_size(n, g); printf("%zu ", r); } printf("\\n"); } return 0; }\n')
    exe = tmp_path / "groups"
    subprocess.run(["gcc", *STRICT, "-I", str(tmp_path), str(tmp_path / "groups.c"), "-o", str(exe)], check=True)
    got = [[int(v) for v in line.split()] for line in subprocess.run([str(exe)], capture_output=True, text=True,
                                                                         check=True).stdout.splitlines()]
    want = [channel_groups(n) for n in range(1, 65)]
    assert got == want
    assert want[12] == [4, 3, 3, 3] and want[15] == [4, 4, 4, 4] and want[4] == [4, 1]
    assert all(sum(g) == n for n, g in enumerate(want, 1))


def _build_harness(engine: Engine, tmp: Path, *defines: str) -> Path:
    for name, text in engine_files(engine).items():
        (tmp / name).write_text(text)
    exe = tmp / "harness"
    subprocess.run(["gcc", *STRICT, "-O2", *defines, "-I", str(tmp), *[str(tmp / n) for n in CODE],
                    str(tmp / "w2s_engine_model.c"), str(HARNESS), "-o", str(exe)], check=True)
    return exe


def _pack(windows: list[np.ndarray]) -> bytes:
    return b"".join(struct.pack("<I", len(w)) + w.tobytes() for w in windows)


def _run_harness(exe: Path, windows: list[np.ndarray], columns: int):
    lines = subprocess.run([str(exe)], input=_pack(windows), capture_output=True, check=True).stdout.decode()
    return _parse(lines.splitlines(), windows, columns)


def _parse(lines: list[str], windows: list[np.ndarray], columns: int):
    out, i = [], 0
    for _ in windows:
        head = lines[i].split()
        sums = np.array([[int(v) for v in ln.split()] for ln in lines[i + 1:i + 1 + columns]])
        out.append((int(head[0]), np.array([int(h, 16) for h in head[1:]], dtype=np.uint32), sums))
        i += 1 + columns
    return out, int(lines[i].split()[1])


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_host_c_equals_the_mirror_bit_for_bit(engine, heldout, bundle, tmp_path, rounding):
    """Every window length from 1 frame up, saturating extremes, real speech: the same sums and float bits."""
    e = Engine(engine.graph, engine.head, engine.table, rounding)
    exe = _build_harness(e, tmp_path, *(["-DW2S_SINGLE_ROUNDING=1"] if rounding == "single" else []))
    mels = bundle.report.n_mels
    rng = np.random.default_rng(5)
    windows = _real_windows(heldout, bundle) + _extremes(40, mels) + \
        [rng.integers(-128, 128, (t, mels), dtype=np.int8) for t in (1, 2, 3, 4, 7, 250)]
    got, state = _run_harness(exe, windows, e.graph.channels * e.graph.pooled_mels)
    for w, (rows, bits, sums) in zip(windows, got):
        s0, s1, b = e.sums(w)
        assert rows == (len(w) - 1) // 2 + 1
        np.testing.assert_array_equal(sums[:, 0], s0)
        np.testing.assert_array_equal(sums[:, 1], s1)
        np.testing.assert_array_equal(sums[:, 2], b)
        np.testing.assert_array_equal(bits, e.run(w).view(np.uint32))
    assert state == e.state_bytes(pointer=8)


def test_int8_outputs_count_what_the_trunk_writes(engine):
    """report.engine's int8_outputs_per_window (the real-time estimate's second term) is every value the
    trunk's layers write, lin and sof included, for any window length."""
    for frames in (1, 2, 7, 64, 999):
        written = engine.trunk(np.zeros((frames, engine.graph.n_mels), dtype=np.int8))
        assert engine.int8_outputs(frames) == sum(v.size for v in written.values())


def test_state_is_the_same_for_any_window_length(engine, tmp_path):
    """One compiled engine runs 0.5 s and 60 s windows (30,000 frames) with the same state: the sums of the
    long window still match the mirror (no overflow), and sizeof(w2s_engine_t) is a constant of the model."""
    exe = _build_harness(engine, tmp_path)
    rng = np.random.default_rng(11)
    mels = engine.graph.n_mels
    windows = [rng.integers(-128, 128, (f, mels), dtype=np.int8) for f in (249, 999, 4999, 29999)]
    got, state = _run_harness(exe, windows, engine.graph.channels * engine.graph.pooled_mels)
    for w, (_, bits, sums) in zip(windows, got):
        s0, s1, _ = engine.sums(w)
        np.testing.assert_array_equal(sums[:, 0], s0)
        np.testing.assert_array_equal(sums[:, 1], s1)
        np.testing.assert_array_equal(bits, engine.run(w).view(np.uint32))
    assert state == engine.state_bytes(pointer=8)  # the 32-bit figure: test_engine_compiles_clean_for_every_cortex_m


M4_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")


def _build_m4(engine: Engine, tmp: Path, *defines: str) -> Path:
    for name, text in engine_files(engine).items():
        (tmp / name).write_text(text)
    elf = tmp / "engine_m4.elf"
    subprocess.run(["arm-none-eabi-gcc", *CORES["cortex-m4f"], *STRICT, "-O2", *defines, "--specs=rdimon.specs",
                    "-T", str(ROOT / "tests/c/m4.ld"), "-I", str(tmp), str(ROOT / "tests/c/m4_startup.c"),
                    *[str(tmp / n) for n in CODE], str(tmp / "w2s_engine_model.c"), str(HARNESS), "-o", str(elf)],
                   check=True)
    return elf


def _run_m4(elf: Path, windows: list[np.ndarray], columns: int, tmp: Path):
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.bin").write_bytes(_pack(windows))
    subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                    "-semihosting-config", f"enable=on,target=native,arg=h,arg={tmp / 'in.bin'},arg={tmp / 'out.txt'}",
                    "-kernel", str(elf)], check=True, timeout=300)
    return _parse((tmp / "out.txt").read_text().splitlines(), windows, columns)


@pytest.fixture(scope="module")
def m4_builds(engine, tmp_path_factory):
    """The engine on a Cortex-M4: the DSP (SMLAD) kernels the core selects, and the portable C."""
    if any(shutil.which(t) is None for t in M4_TOOLS):
        pytest.skip("no arm-none-eabi-gcc / qemu-system-arm")
    return {kind: _build_m4(engine, tmp_path_factory.mktemp(kind), *flags)
            for kind, flags in (("dsp", ()), ("portable", ("-DW2S_ENGINE_PORTABLE",)))}


def _check_against_mirror(engine: Engine, windows, got) -> None:
    for w, (_, bits, sums) in zip(windows, got):
        s0, s1, b = engine.sums(w)
        np.testing.assert_array_equal(sums[:, 0], s0)
        np.testing.assert_array_equal(sums[:, 1], s1)
        np.testing.assert_array_equal(sums[:, 2], b)
        np.testing.assert_array_equal(bits, engine.run(w).view(np.uint32))


def test_cortex_m4_dsp_and_portable_equal_the_mirror(engine, m4_builds, heldout, bundle, tmp_path):
    """SIMD = portable = mirror on a Cortex-M4 (QEMU): speech, saturating extremes, random, short windows."""
    mels = engine.graph.n_mels
    rng = np.random.default_rng(9)
    windows = _real_windows(heldout, bundle, 2) + _extremes(30, mels) + \
        [rng.integers(-128, 128, (t, mels), dtype=np.int8) for t in (1, 2, 5, 64)]
    for kind, elf in m4_builds.items():
        got, _ = _run_m4(elf, windows, engine.graph.channels * engine.graph.pooled_mels, tmp_path / kind)
        _check_against_mirror(engine, windows, got)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), lo=st.integers(-128, 127), span=st.integers(0, 255),
       frames=st.integers(1, 120))
def test_cortex_m4_dsp_equals_the_mirror_on_generated_inputs(engine, m4_builds, tmp_path_factory, seed, lo, span,
                                                             frames):
    """Generated inputs, narrow or wide value ranges pinned to either end of int8 (saturation included)."""
    rng = np.random.default_rng(seed)
    hi = min(127, lo + span)
    windows = [rng.integers(lo, hi + 1, (frames, engine.graph.n_mels), dtype=np.int8) for _ in range(3)]
    got, _ = _run_m4(m4_builds["dsp"], windows, engine.graph.channels * engine.graph.pooled_mels,
                     tmp_path_factory.mktemp("gen"))
    _check_against_mirror(engine, windows, got)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("core", list(CORES))
def test_engine_compiles_clean_for_every_cortex_m(engine, tmp_path, core):
    for name, text in engine_files(engine).items():
        (tmp_path / name).write_text(text)
    for src in (*CODE, "w2s_engine_model.c"):
        subprocess.run(["arm-none-eabi-gcc", *CORES[core], *STRICT, "-Os", "-c", str(tmp_path / src), "-o",
                        str(tmp_path / (src + ".o"))], check=True)
    # the state's size on a 32-bit core, from the compiler itself
    (tmp_path / "size.c").write_text('#include "w2s_engine.h"\n'
                                     f"typedef char check[sizeof(w2s_engine_t) == {engine.state_bytes()} ? 1 : -1];\n"
                                     "int w2s_size_probe;\n")
    subprocess.run(["arm-none-eabi-gcc", *CORES[core], *STRICT, "-c", str(tmp_path / "size.c"), "-I", str(tmp_path),
                    "-o", str(tmp_path / "size.o")], check=True)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
def test_reported_code_size_counts_every_engine_file(engine, bundle):
    """report.engine's code size (the board budgets' engine flash) is the .text of every hand-written engine .c,
    summed: the streaming and tail, and each layer kind's kernels."""
    import json

    from mcu_toolkit.cores import code_bytes
    from mcu_toolkit.emit.c_engine import engine_code_sources

    files, sources = engine_code_sources(engine)
    each = [code_bytes(files, s) for s in sources]
    assert sources == ("w2s_engine.c", "w2s_engine_conv.c", "w2s_engine_maxpool.c")
    assert all(n > 100 for n in each), each  # each file holds code: 1124, 7912, 374 B today
    reported = json.loads((bundle.out / "report.json").read_text())["engine"]["code_bytes_cortex_m4_Os"]
    assert code_bytes(files, sources) == sum(each) == reported


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


def test_engine_headers_link_from_cpp(bundle, tmp_path):
    common = ROOT / "firmware_templates" / "common"
    for f in ("w2s_infer.h", "w2s_infer.c", "w2s_pipeline.h", "w2s_pipeline.c", "w2s_status.h"):
        shutil.copy(common / f, tmp_path / f)
    for f in bundle.out.iterdir():
        if f.suffix in (".h", ".c"):
            shutil.copy(f, tmp_path / f.name)
    (tmp_path / "main.cc").write_text(CXX_MAIN)
    objs = []
    for src in (*CODE, "w2s_engine_model.c", "w2s_infer.c", "w2s_pipeline.c", "w2s_frontend.c",
                "w2s_frontend_tables.c"):
        objs.append(str(tmp_path / (src + ".o")))
        subprocess.run(["gcc", *STRICT, "-c", str(tmp_path / src), "-o", objs[-1]], check=True)
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), str(tmp_path / "main.cc"),
                    *objs, "-o", str(tmp_path / "main")], check=True)
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0


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
    assert r.engine["available"] and r.engine["trunk_vs_tflm"]["differing"] == 0
    assert r.engine["trunk_vs_tflm"]["values"] > 100_000
    assert (tmp_path / "b" / "w2s_engine_model.c").exists()
    if any(shutil.which(t) is None for t in M4_TOOLS):
        return
    b = tmp_path / "b"
    engine = Engine.from_tflite((b / "model_int8.tflite").read_bytes(),
                                Head.from_json((b / "engine_head.json").read_text(), "head"))
    rng = np.random.default_rng(4)
    windows = _extremes(40, 25) + [rng.integers(-128, 128, (t, 25), dtype=np.int8) for t in (1, 3, 120)]
    for kind, flags in (("dsp", ()), ("portable", ("-DW2S_ENGINE_PORTABLE",))):
        (tmp_path / kind).mkdir()
        elf = _build_m4(engine, tmp_path / kind, *flags)
        got, _ = _run_m4(elf, windows, engine.graph.channels * engine.graph.pooled_mels, tmp_path / f"{kind}_run")
        _check_against_mirror(engine, windows, got)


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
    assert r.tflm["evaluated_as"] == "the whole int8 model on TFLM"
    assert any("TFLM ran the whole model" in m for m in r.messages)
    assert r.tflm["ccc"] == bundle.report.tflm["ccc"] and r.ccc == bundle.report.ccc
    assert "tail on TFLM" in bundle.report.tflm["evaluated_as"]
