"""Audio in: formats, downmix, resampling, windows."""

import numpy as np
import pytest
import soundfile as sf

from mcu_toolkit.audio import cut_windows, list_audio, load_audio, to_pcm16
from mcu_toolkit.errors import ToolkitError


def _tone(sr, seconds, hz):
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _peak_hz(x, sr=16000):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * sr / len(x)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_formats(tmp_path, fmt):
    p = tmp_path / f"a.{fmt}"
    sf.write(p, _tone(16000, 1.0, 1000), 16000)
    x = load_audio(p)
    assert x.dtype == np.float32 and len(x) == 16000
    assert abs(_peak_hz(x) - 1000) < 5


def test_stereo_is_downmixed(tmp_path):
    left, right = _tone(16000, 0.5, 440), _tone(16000, 0.5, 2000)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 16000)
    x = load_audio(tmp_path / "s.wav")
    np.testing.assert_allclose(x, (left + right) / 2, atol=1e-4)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_resampled_to_16k_keeps_pitch(tmp_path, sr):
    sf.write(tmp_path / "r.wav", _tone(sr, 1.0, 1500), sr)
    x = load_audio(tmp_path / "r.wav")
    assert abs(len(x) - 16000) <= 1
    assert abs(_peak_hz(x) - 1500) < 5
    # anti-aliased: a 10 kHz tone (above the new 8 kHz Nyquist) must not fold back to 6 kHz
    if sr == 44100:
        sf.write(tmp_path / "hi.wav", _tone(sr, 1.0, 10000), sr)
        assert np.max(np.abs(load_audio(tmp_path / "hi.wav")[1000:-1000])) < 0.5 * 10 ** (-40 / 20)


def test_corrupt_and_empty(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEjunkjunk")
    with pytest.raises(ToolkitError, match="cannot read audio file .*bad.wav"):
        load_audio(tmp_path / "bad.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(ToolkitError, match="empty"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(ToolkitError, match="no audio files"):
        list_audio(_empty(tmp_path))


def _empty(tmp_path):
    d = tmp_path / "empty_dir"
    d.mkdir()
    (d / "notes.txt").write_text("not audio")
    return d


def test_windows():
    x = np.arange(70000, dtype=np.float32)
    w, padded = cut_windows(x, 32000)
    assert not padded and len(w) == 2 and w[1][0] == 32000  # tail of 6000 samples dropped
    w, padded = cut_windows(x[:1000], 32000)
    assert padded and len(w) == 1 and len(w[0]) == 32000 and w[0][999] == 999 and w[0][1000] == 0


def test_pcm16_saturates():
    assert to_pcm16(np.array([1.5, -1.5, 0.5], np.float32)).tolist() == [32767, -32768, 16384]


def test_hidden_audio_files_are_skipped_with_a_note(tmp_path):
    """macOS leaves ._clip.wav (an AppleDouble resource fork, not audio) beside each copied clip."""
    sf.write(tmp_path / "clip.wav", _tone(16000, 0.5, 440), 16000)
    (tmp_path / "._clip.wav").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (tmp_path / ".take2.flac").write_bytes(b"editor's temporary")
    notes = []
    assert list_audio(tmp_path, notes) == [tmp_path / "clip.wav"]
    assert notes == [f"skipped 2 hidden file(s) in {tmp_path} (names starting with '.'), e.g. ._clip.wav"]
    assert list_audio(tmp_path) == [tmp_path / "clip.wav"]  # without a list to note in: skipped all the same
