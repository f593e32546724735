"""Fixed-point front end: Python reference == C on the host == C on a Cortex-M4 (QEMU); no float;
no UB; accurate against the float front end."""

import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from mcu_toolkit.audio import to_pcm16
from mcu_toolkit.cores import M4F
from mcu_toolkit.dsp import fixed, float_ref

import fe_build

needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                               reason="needs gcc-arm-none-eabi and qemu-system-arm (.ci/run installs them)")


@pytest.fixture(scope="module")
def speech(heldout):
    _, wavs, _ = heldout
    return [to_pcm16(w) for w in wavs]


@pytest.fixture(scope="module")
def signals(speech):
    sig = {f"heldout_{i:02d}": s for i, s in enumerate(speech)}
    loud = max(speech, key=lambda s: np.abs(s).max())
    sig.update({k: np.asarray(v).astype(np.int16) for k, v in fe_build.adversarial_signals(loud).items()})
    return sig


@pytest.fixture(scope="module")
def host_exe(tmp_path_factory):
    return fe_build.build_host(tmp_path_factory.mktemp("fe_host"))


def _assert_same(name, got, want):
    db, q, _, _ = got
    want_db, want_q = want
    assert db.shape == want_db.shape, name
    assert np.array_equal(db, want_db), f"{name}: {np.count_nonzero(db != want_db)} dB values differ"
    assert np.array_equal(q, want_q), f"{name}: {np.count_nonzero(q != want_q)} int8 values differ"


def test_host_c_is_bit_exact(host_exe, signals, tmp_path):
    for i, (name, pcm) in enumerate(signals.items()):
        _assert_same(name, fe_build.run([str(host_exe)], pcm, tmp_path, seed=i), fe_build.python_reference(pcm))


@settings(max_examples=60, deadline=None)
@given(pcm=arrays(np.int16, st.integers(0, 4000)), seed=st.integers(0, 2 ** 31))
def test_host_c_is_bit_exact_on_random_input(host_exe, tmp_path_factory, pcm, seed):
    work = tmp_path_factory.mktemp("hyp")
    _assert_same("random", fe_build.run([str(host_exe)], pcm, work, seed=seed), fe_build.python_reference(pcm))


def test_chunking_does_not_matter(host_exe, speech, tmp_path):
    a = fe_build.run([str(host_exe)], speech[3], tmp_path, seed=1)
    b = fe_build.run([str(host_exe)], speech[3], tmp_path, seed=99)
    assert np.array_equal(a[0], b[0])


@needs_arm
@pytest.mark.slow  # one QEMU boot per signal
def test_cortex_m4_qemu_is_bit_exact(signals, tmp_path):
    elf = fe_build.build_m4(tmp_path / "m4")
    prefix = fe_build.qemu_prefix(elf)
    for i, (name, pcm) in enumerate(signals.items()):
        _assert_same(name, fe_build.run(prefix, pcm, tmp_path / "run", seed=i), fe_build.python_reference(pcm))


FLOAT_INSN = re.compile(r"\bv(add|sub|mul|div|mla|mls|nmul|neg|abs|sqrt|cvt|cmp|cmpe|mov|ldr|str|push|pop|fma|fms)"
                        r"(\.f32|\.f64|\.s32|\.u32)?\b")


@needs_arm
def test_no_floating_point_in_the_m4_object(tmp_path):
    srcs = fe_build.write_sources(tmp_path)
    soft = [f for f in M4F if not f.startswith(("-mfloat-abi=", "-mfpu="))] + ["-mfloat-abi=soft"]
    for abi, flags in (("hard", M4F), ("soft", soft)):
        for src in srcs[:2]:
            obj = tmp_path / f"{src.stem}_{abi}.o"
            subprocess.run(["arm-none-eabi-gcc", *flags, *fe_build.STRICT, "-O2", "-I", str(tmp_path), "-c", str(src),
                            "-o", str(obj)], check=True, capture_output=True, text=True)
            dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True, capture_output=True,
                                 text=True).stdout
            insns = [ln for ln in dis.splitlines() if FLOAT_INSN.search(ln.split(";")[0])]
            assert not insns, f"{src.name} ({abi}): floating-point instructions:\n" + "\n".join(insns[:5])
            syms = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True, capture_output=True,
                                  text=True).stdout
            helpers = re.findall(r"__aeabi_[fd]\w+|__aeabi_[il]2[fd]\w*|__(?:add|sub|mul|div)[sd]f3", syms)
            assert not helpers, f"{src.name} ({abi}): soft-float helpers {helpers}"
            assert not re.search(r"\b(log|log10|exp|sqrt|pow|malloc|free)f?\b", syms), syms


def test_no_undefined_behaviour_under_sanitizers(signals, tmp_path):
    exe = fe_build.build_host(tmp_path / "san", ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                                                 "-fno-omit-frame-pointer", "-g"], name="fe_san")
    rng = np.random.default_rng(7)
    cases = dict(signals)
    cases.update({f"random_{i}": rng.integers(-32768, 32768, int(rng.integers(0, 40000))).astype(np.int16)
                  for i in range(6)})
    for i, (name, pcm) in enumerate(cases.items()):
        db, q, _, err = fe_build.run([str(exe)], pcm, tmp_path / "run", seed=i)
        assert "runtime error" not in err and "AddressSanitizer" not in err, f"{name}: {err}"
        _assert_same(name, (db, q, 0, err), fe_build.python_reference(pcm))


def test_accuracy_against_the_float_front_end(speech):
    errs = []
    for pcm in speech:
        for start in range(0, max(len(pcm) - 32000, 0) + 1, 32000):
            w = pcm[start:start + 32000]
            fixed_db = fixed.window_logmel_q7(w) / 128.0
            float_db = float_ref.logmel_float(w / 32768.0)
            speech_frames = float_db.max(axis=1) > float_db.max() - 60
            errs.append(np.abs(fixed_db - float_db)[speech_frames].ravel())
    e = np.concatenate(errs)
    assert e.mean() <= 0.25, e.mean()
    assert np.percentile(e, 99) <= 1.0, np.percentile(e, 99)


def test_float_reference_matches_the_model(default_model, speech):
    import torch

    w = speech[0][:32000].astype(np.float32) / 32768.0
    with torch.no_grad():
        model_db = default_model.float_logmel(torch.from_numpy(w)[None])[0, 0].numpy()
    np.testing.assert_allclose(float_ref.logmel_float(w), model_db, atol=2e-3)


def test_db_q7_against_log10():
    x = np.unique(np.concatenate([np.arange(1, 5000), np.logspace(0, 18.9, 4000)]).astype(np.uint64))
    got = fixed.db_q7(x) / 128.0
    want = 10 * np.log10(x.astype(np.float64))
    assert np.max(np.abs(got - want)) < 0.01


def test_quantize_matches_float_rounding():
    q = fixed.InputQuant.from_scale(0.47, 85)
    db = np.arange(-12800, 4000, dtype=np.int64)
    want = np.clip(np.floor(db / 128.0 / 0.47 + 0.5) + 85, -128, 127)
    assert np.count_nonzero(fixed.quantize_s8(db, q) != want) <= len(db) * 0.001
