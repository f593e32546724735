"""--window-seconds: one documented range (spec.py) that every command takes, and all of it works: convert at
60 s checks the engine's trunk against every TFLM tensor, and the F411 image refuses that bundle up front."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mcu_toolkit import resources
from mcu_toolkit.dsp.fixed import MAX_WINDOW_SAMPLES
from mcu_toolkit.spec import SAMPLE_RATE, WINDOW_MAX_S, WINDOW_MIN_S

from helpers import run_cli

CLIP = resources.default_eval_dir() / "syn_003_en_f1_s135_p26_g4.flac"


def test_the_window_range_is_what_the_front_end_can_hold():
    assert (WINDOW_MIN_S, WINDOW_MAX_S) == (0.1, 60.0)
    assert WINDOW_MAX_S * SAMPLE_RATE <= MAX_WINDOW_SAMPLES


def test_features_takes_the_window_range_convert_takes(tmp_path):
    r = run_cli("features", str(CLIP), "--out", str(tmp_path / "f.npy"), "--window-seconds", "10")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "f.npy").shape == (1, 4999, 26)


@pytest.mark.parametrize("seconds", ["0.05", "60.5"])
def test_every_command_refuses_the_same_window_range(tmp_path, seconds):
    """Refused while the options are read: one line naming the range, before any work."""
    commands = (["features", str(CLIP), "--out", str(tmp_path / "f.npy")], ["convert", "--out", str(tmp_path / "b")],
                ["firmware", "--board", "host", "--out", str(tmp_path / "fw")])
    for cmd in commands:
        r = run_cli(*cmd, "--window-seconds", seconds)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (cmd[0], r.stderr)
        assert "not in the range [0.1, 60]" in r.stderr, (cmd[0], r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def bundle_60s(tmp_path_factory):
    """A real convert at the longest window, on 3 calibration and 3 held-out clips (about a minute)."""
    from mcu_toolkit.convert import convert

    d = tmp_path_factory.mktemp("w60")
    for sub, names in (("cal", sorted(resources.default_calibration_dir().glob("syn_03[4-6]*.flac"))),
                       ("ev", sorted(resources.default_eval_dir().glob("syn_00[3-5]*.flac")))):
        (d / sub).mkdir()
        for f in names:
            shutil.copy(f, d / sub / f.name)
    return convert(out=d / "bundle", window_seconds=60, calibration=d / "cal", eval_audio=d / "ev", progress=False)


@pytest.mark.slow
def test_convert_at_the_longest_window_checks_every_trunk_tensor(bundle_60s):
    """The kPreserveAllTensors arena is sized from the model (72.5 MB at 60 s); a fixed 64 MiB failed here."""
    rep = bundle_60s.report
    assert rep.window_seconds == 60 and rep.frames_per_window == 29999
    check = rep.engine.trunk_vs_tflm
    assert check["windows"] == 3 and check["differing"] == 0 and check["tail_outputs_differing"] == 0
    assert check["values"] > 3 * 29999 * 26 * 13 * 3  # the three full-resolution convolutions alone


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(t) is None for t in ("arm-none-eabi-gcc", "make", "qemu-system-arm")),
                    reason="no arm-none-eabi-gcc/QEMU")
def test_device_refuses_a_bundle_too_big_for_the_f411_before_building(bundle_60s, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for f in sorted(resources.default_eval_dir().glob("syn_00[3-4]*.flac")):
        shutil.copy(f, clips / f.name)
    r = run_cli("validate", str(bundle_60s.out), "--audio", str(clips), "--device", "qemu-m4", timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: --device qemu-m4: this 60 s bundle does not fit the F411: RAM ")
    from mcu_toolkit.dsp import fixed
    from mcu_toolkit.emit.c_frontend import window_buffer_bytes
    from mcu_toolkit.spec import frames

    store = window_buffer_bytes(fixed.tables(), frames(60 * SAMPLE_RATE)) / 1024
    assert "KiB > 128 KiB" in r.stderr and f"window store is {store:.0f} KiB" in r.stderr and "make" not in r.stderr
