"""The virtual microphone: the qemu-f411 image live (w2s_live.elf), its samples arriving from SysTick at 16 kHz of
an emulated clock. The drop detector, bit-equality where nothing drops, and today's burst schedule measured."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from mcu_toolkit import resources
from mcu_toolkit.cores import CORES
from mcu_toolkit.audio import list_audio, load_audio, to_pcm16

from helpers import WINDOW, needs_arm, run_cli

CLIP_S = 24  # the live tests want clips of 20 s or more


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """Two 24 s clips of held-out speech, end to end (the held-out clips are at most 4.5 s)."""
    d = tmp_path_factory.mktemp("live_clips")
    audio = np.concatenate([load_audio(f) for f in list_audio(resources.default_eval_dir())
                            if f.name.startswith("syn_")])
    n = CLIP_S * 16000
    assert len(audio) >= 2 * n
    from mcu_toolkit.verify.device import write_wav

    for i in range(2):
        write_wav(d / f"long{i}.wav", to_pcm16(audio[i * n:(i + 1) * n]))
    return d


def test_clock_without_the_emulated_device_is_one_line_exit_2(tmp_path):
    r = run_cli("validate", str(tmp_path), "--audio", str(tmp_path), "--clock-mhz", "180")
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: --clock-mhz runs the firmware live on the emulated board: it needs "
                                "--device qemu-m4")


def test_cpi_needs_a_clock(tmp_path):
    r = run_cli("validate", str(tmp_path), "--audio", str(tmp_path), "--device", "qemu-m4", "--cpi", "1.3")
    assert r.returncode == 2 and "--cpi" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["nan", "0", "5000"])
def test_clock_out_of_range_is_refused(tmp_path, value):
    r = run_cli("validate", str(tmp_path), "--audio", str(tmp_path), "--device", "qemu-m4", "--clock-mhz", value)
    assert r.returncode == 2 and "--clock-mhz" in r.stderr


def _host_outputs(bundle, pcm: np.ndarray, starts: list[int]) -> np.ndarray:
    """The host engine (numpy mirror) on the windows starting at `starts` of the WAV the device heard."""
    from mcu_toolkit.engine.mirror import Engine
    from mcu_toolkit.engine.tail import Head
    from mcu_toolkit.verify.deployed import engine_window

    head = Head.from_json((bundle.out / "engine_head.json").read_text(), "engine_head.json")
    eng = Engine.from_tflite((bundle.out / "model_int8.tflite").read_bytes(), head)
    x = pcm.astype(np.float64) / 32768.0
    return np.array([engine_window(eng, x[s:s + WINDOW], "fixed", bundle.report.n_mels) for s in starts],
                    dtype=np.float32)


@pytest.mark.slow
@needs_arm
def test_a_tiny_ring_drops_and_no_window_keeps_a_gap(bundle, tmp_path, long_clips):
    """A 64-sample ring (4 ms), 16-sample blocks, at 300 MHz: each window's end (the front end's finish and the
    int8 queue, ~1.5 M instructions) outlasts the ring. The image must count the drops, the app must restart the
    window they cut, and mic_qemu's own check must find no analysed window with a gap: each equals the host
    engine on exactly the samples it says, bit for bit."""
    from mcu_toolkit.verify.device import Clock, build_image, run_image

    elf = build_image(bundle.out, tmp_path, extra_cflags="-DW2S_RING_SAMPLES=64 -DW2S_MIC_BLOCK_SAMPLES=16",
                      live=True)
    wav = long_clips / "long0.wav"
    live = (run := run_image(elf, wav, Clock(300))).live
    assert live.dropped_samples > 0 and live.windows_cut > 0 and live.partial_windows == 0
    assert live.windows_total == CLIP_S * 16000 // WINDOW
    assert 0 < live.windows_analysed < live.windows_total
    assert live.starts[0] == 0 and all(b - a >= WINDOW for a, b in zip(live.starts, live.starts[1:]))
    with wave.open(str(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    host = _host_outputs(bundle, pcm, live.starts)
    assert (run.outputs.view(np.uint32) == host.view(np.uint32)).all()


@pytest.mark.slow
@needs_arm
def test_180_mhz_keeps_every_window_bit_equal_to_the_host(bundle, long_clips):
    """An F446's clock at the cycle model's 1.35 cycles per instruction: the pipelined schedule spreads each
    window's 256 M engine cycles over the next window, so nothing drops and every window is analysed."""
    from mcu_toolkit.verify.validation import validate

    res = validate(bundle.out, long_clips, device="qemu-m4", clock_mhz=180)
    live = res.live
    assert live["cycles_per_instruction"] == CORES["cortex-m4f"].rates.cycles_per_instruction
    assert live["dropped_samples"] == 0 and live["partial_windows"] == 0 and live["windows_cut"] == 0
    assert live["windows_analysed"] == live["windows_total"] == 2 * CLIP_S * 16000 // WINDOW
    assert live["coverage"] == 1.0
    assert res.device_differing == 0 and res.passed
    host = validate(bundle.out, long_clips)
    assert (res.deployed_out == host.deployed_out).all()
    assert 0.45 < live["cpu_load"] < 0.7          # ~78 M instructions x 1.32 of 180 M cycles a second
    assert 1000 < live["latency_ms_max"] < 2000   # the answer comes during the next window
    assert live["ring_peak"] < 4096 * 3 // 4      # the ring never came near full: half, plus the longest stretch


@pytest.mark.slow
@needs_arm
def test_100_mhz_analyses_whole_windows_at_the_stated_coverage(bundle, long_clips, tmp_path):
    """The F411's clock cannot keep up on average: the duty-cycled schedule analyses whole windows with clean
    gaps between them, as many as `firmware` states for the nucleo-f411re (within one window), and each equals
    the host on its samples."""
    json_path = tmp_path / "live.json"
    r = run_cli("validate", str(bundle.out), "--audio", str(long_clips), "--device", "qemu-m4", "--clock-mhz",
                "100", "--json", str(json_path), "--quiet")
    assert r.returncode == 0, r.stderr
    d = json.loads(json_path.read_text())
    live = d["live"]
    assert set(live) == {"clock_mhz", "cycles_per_instruction", "dropped_samples", "partial_windows",
                         "windows_cut", "windows_total", "windows_analysed", "coverage", "cpu_load",
                         "latency_ms_max", "longest_step_ms", "ring_peak"}
    assert live["clock_mhz"] == 100
    assert live["cycles_per_instruction"] == CORES["cortex-m4f"].rates.cycles_per_instruction
    assert live["partial_windows"] == 0
    from mcu_toolkit.firmware.boards import BOARDS
    from mcu_toolkit.firmware.speed import verdict

    stated = verdict(BOARDS["nucleo-f411re"], bundle.report, "w2s").schedule.coverage
    assert abs(live["windows_analysed"] - stated * live["windows_total"]) <= 2  # one window per clip
    assert d["device_differing_from_host"] == 0 and d["device_windows"] == live["windows_analysed"]
    assert "live at 100 MHz" in r.stdout
