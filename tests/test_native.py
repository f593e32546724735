"""The compiled host pipeline (mcu_toolkit/verify/native.py): the mirror's integers and floats, bit for bit, through
ctypes; built once into a cache that concurrent workers share; the mirror when no compiler can build it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcu_toolkit import resources
from mcu_toolkit.audio import WindowStream, cut_windows, load_audio, to_pcm16
from mcu_toolkit.verify import native
from mcu_toolkit.verify.deployed import device_input_s8, engine_window

pytestmark = pytest.mark.skipif(native.compiler() is None, reason="needs a C compiler (cc or gcc)")


@pytest.fixture(scope="module")
def compiled(bundle, tmp_path_factory):
    """(the mirror Engine, the compiled pipeline, the report) for the default bundle, in a private cache."""
    from mcu_toolkit import bundle as bundle_mod
    from mcu_toolkit.verify.validation import _host_pipeline

    b = bundle_mod.Bundle.open(bundle.out)
    root = tmp_path_factory.mktemp("cache")
    os.environ["MCU_TOOLKIT_CACHE"] = str(root)
    try:
        host = _host_pipeline(b, "w2s")
    finally:
        del os.environ["MCU_TOOLKIT_CACHE"]
    from mcu_toolkit.engine.mirror import Engine
    from mcu_toolkit.engine.tail import Head

    engine = Engine.from_tflite((b.path / "model_int8.tflite").read_bytes(),
                                Head.from_json((b.path / "engine_head.json").read_text(), "head"))
    return engine, host, b.report


def _windows(report, count=12):
    """Held-out windows, loud and quiet, and a silent one (the float model's answer, no engine run)."""
    out = []
    for f in sorted(resources.default_eval_dir().glob("*.flac"))[::5]:
        out += cut_windows(load_audio(f), report.window_samples)[0][:2]
    return np.stack(out[:count - 1] + [np.zeros(report.window_samples, np.float32)])


@pytest.mark.slow  # a real convert
def test_the_compiled_pipeline_is_the_mirror_bit_for_bit(compiled):
    engine, host, report = compiled
    assert host is not None
    ws = _windows(report)
    q = engine.graph.input
    want_s8 = np.stack([device_input_s8(w, "fixed", report.n_mels, q.scale, q.zero) for w in ws])
    want = np.stack([engine_window(engine, w, "fixed", report.n_mels) for w in ws]).astype(np.float32)
    np.testing.assert_array_equal(host.input_s8(to_pcm16(ws)), want_s8)
    np.testing.assert_array_equal(host.windows_f32(to_pcm16(ws)).view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(host.engine_f32(want_s8).view(np.uint32), want.view(np.uint32))
    assert np.array_equal(want[-1], engine.head.silence)  # the silent window took w2s_infer.c's early answer
    from mcu_toolkit.verify.deployed import feature_rows

    shape = (feature_rows(engine.graph, report.frames_per_window), engine.graph.pooled_mels, engine.graph.channels)
    feats, answers = host.features_s8(want_s8, shape)
    np.testing.assert_array_equal(answers.view(np.uint32), want.view(np.uint32))
    for f, x in zip(feats, want_s8):
        np.testing.assert_array_equal(f, engine.features(x))


@pytest.mark.slow  # a real convert
def test_the_compiled_front_end_is_fixed_py_bit_for_bit(bundle):
    from mcu_toolkit.dsp import fixed
    from mcu_toolkit.verify.deployed import host_frontend, window_dbs_q7

    report = bundle.report
    ws = _windows(report)
    assert host_frontend(report.n_mels, report.window_samples) is not None
    got = window_dbs_q7(list(ws), report.n_mels)
    t = fixed.tables(report.n_mels)
    for g, w in zip(got, ws):
        np.testing.assert_array_equal(g, fixed.window_logmel_q7(to_pcm16(w), t))


@pytest.mark.slow  # a real convert
def test_a_wrong_frame_count_is_refused_not_read_past(compiled):
    engine, host, report = compiled
    ws = _windows(report, 2)
    bad = native.HostPipeline(host.lib, host.frames + 1, host.n_mels)
    with pytest.raises(Exception, match="refused a window"):
        bad.windows_f32(to_pcm16(ws))


_BUILD = """
import sys
from pathlib import Path
from mcu_toolkit.verify import native
files = {"w2s_host.c": "int w2s_host_engine_f32(void);\\nint w2s_host_engine_f32(void) { return %s; }\\n"}
print(native.build(files, native.compiler(), Path(sys.argv[1])))
"""


def test_concurrent_workers_build_the_library_once(tmp_path):
    """Two processes racing for the same key: one compiles, the other waits on the lock and loads its library;
    a later call finds it in the cache; another source is another key."""
    code = _BUILD % "7"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    paths = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(paths) == 1
    lib = Path(paths.pop())
    mtime = lib.stat().st_mtime_ns
    assert native.build({"w2s_host.c": "int w2s_host_engine_f32(void);\nint w2s_host_engine_f32(void) { return 7; }\n"},
                        native.compiler(), tmp_path) == lib and lib.stat().st_mtime_ns == mtime
    other = subprocess.run([sys.executable, "-c", _BUILD % "8", str(tmp_path)], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert other != str(lib)
    assert not [p for p in tmp_path.rglob("*") if p.is_dir() and p.name.startswith("tmp")]  # no temporaries left


@pytest.mark.slow
@pytest.mark.parametrize("why", ["none", "broken"])
def test_without_a_compiler_validate_runs_the_mirror_with_a_note(bundle, tmp_path, monkeypatch, why):
    from mcu_toolkit.verify.validation import _compiled, validate

    clips = sorted(resources.default_eval_dir().glob("*.flac"))[:3]
    folder = tmp_path / "clips"
    folder.mkdir()
    for c in clips:
        (folder / c.name).write_bytes(c.read_bytes())
    fast = validate(bundle.out, folder)
    if why == "none":
        monkeypatch.setattr(native, "compiler", lambda: None)
    else:
        monkeypatch.setattr(native, "compiler", lambda: ("false", "a compiler that fails"))
        monkeypatch.setenv("MCU_TOOLKIT_CACHE", str(tmp_path / "cache"))
    _compiled.cache_clear()  # validate builds the pipeline once per process and bundle
    try:
        slow = validate(bundle.out, folder)
    finally:
        _compiled.cache_clear()
    note = [w for w in slow.warnings if "numpy mirror" in w]
    assert len(note) == 1 and ("no C compiler" in note[0] if why == "none" else "failed" in note[0]), slow.warnings
    assert np.array_equal(fast.deployed_out, slow.deployed_out) and np.array_equal(fast.float_out, slow.float_out)
    assert json.dumps(fast.ccc_vs_float) == json.dumps(slow.ccc_vs_float)


def test_streamed_windows_are_load_audios_cut(tmp_path):
    """WindowStream decodes a block at a time, and gives cut_windows' windows of the whole clip (the partial last
    window dropped, a short clip padded), and the whole clip's peak."""
    import soundfile as sf

    rng = np.random.default_rng(3)
    for n, name in ((16000 * 7 + 123, "long.wav"), (5000, "short.wav")):
        x = (rng.standard_normal((n, 2)) * 3000).astype(np.int16)
        sf.write(tmp_path / name, x, 16000, subtype="PCM_16")
        whole = load_audio(tmp_path / name)
        want, padded = cut_windows(whole, 8000)
        s = WindowStream(tmp_path / name, 8000, block=3)
        got = np.concatenate(list(s))
        np.testing.assert_array_equal(got, np.stack(want))
        assert s.padded == padded and s.peak == float(np.max(np.abs(whole)))


def test_the_float_log_mel_of_a_block_is_each_windows_bit_for_bit():
    """validate computes the float reference's log-mel a block of windows at a time: the same bits as a call per
    window (the float CCC baseline and every JSON depend on them)."""
    from mcu_toolkit.dsp.float_ref import logmel_float, logmel_float_windows

    rng = np.random.default_rng(5)
    ws = [cut_windows(load_audio(f), 32000)[0][0] for f in sorted(resources.default_eval_dir().glob("*.flac"))[:6]]
    ws += [rng.standard_normal(32000).astype(np.float32) * 0.3, np.zeros(32000, np.float32)]
    got = logmel_float_windows(np.stack(ws), 26)
    for g, w in zip(got, ws):
        np.testing.assert_array_equal(g.view(np.uint64), logmel_float(w, 26).view(np.uint64))
