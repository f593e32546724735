"""The shipped audio meets its brief, and every file's origin is recorded."""

import hashlib
import re

import numpy as np
import soundfile as sf

from mcu_toolkit import resources


def _files(split):
    return sorted((resources.calibration_audio_root() / split).glob("*.flac"))


def test_calibration_set_size_and_format():
    files = _files("calibration")
    assert len(files) >= 60
    total = 0.0
    peaks = []
    for f in files:
        info = sf.info(f)
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        total += info.duration
        x, _ = sf.read(f)
        peaks.append(20 * np.log10(np.max(np.abs(x))))
    assert total >= 120
    assert min(peaks) <= -35 and max(peaks) >= -6, "loudness must span about -40..-3 dBFS"


def test_voices_and_real_speech():
    names = [f.name for f in _files("calibration")]
    synth_voices = {re.match(r"syn_\d+_(.+?)_s\d+", n).group(1) for n in names if n.startswith("syn_")}
    real = [n for n in names if n.startswith("real_")]
    assert len(synth_voices) >= 6
    assert any("arctic" in n for n in real) and any("alsa" in n for n in real)


def test_heldout_is_separate():
    digest = lambda f: hashlib.sha256(sf.read(f, dtype="int16")[0].tobytes()).hexdigest()  # noqa: E731
    cal = {digest(f) for f in _files("calibration")}
    held = {digest(f) for f in _files("heldout")}
    assert len(held) >= 20 and not cal & held


def test_sources_md_lists_every_file_with_a_licence():
    root = resources.calibration_audio_root()
    text = (root / "SOURCES.md").read_text()
    rows = {m.group(1): m.group(3) for m in re.finditer(r"^\| (\S+) \| (.+?) \| (.+?) \|$", text, re.M)}
    for split in ("calibration", "heldout"):
        for f in _files(split):
            key = f"{split}/{f.name}"
            assert key in rows, f"{key} missing from SOURCES.md"
            assert rows[key].strip()
