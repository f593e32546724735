"""Audio in: read, downmix, resample to 16 kHz, and cut into the windows the device runs."""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from .errors import ToolkitError
from .spec import SAMPLE_RATE

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def list_audio(folder: str | Path, notes: list[str] | None = None) -> list[Path]:
    """The audio files in `folder`, sorted. Hidden ones (a name starting with '.': macOS's ._clip.wav
    resource forks, editors' temporaries) are skipped, and `notes` gets a line saying how many."""
    d = Path(folder)
    if not d.is_dir():
        raise ToolkitError(f"audio folder not found: {d}")
    found = [p for p in d.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
    hidden = sorted(p.name for p in found if p.name.startswith("."))
    files = sorted(p for p in found if not p.name.startswith("."))
    if not files:
        raise ToolkitError(f"no audio files (.wav, .flac, .ogg) in {d}"
                           + (f" but {len(hidden)} hidden one(s) (names starting with '.')" if hidden else ""))
    if hidden and notes is not None:
        notes.append(f"skipped {len(hidden)} hidden file(s) in {d} (names starting with '.'), e.g. {hidden[0]}")
    return files


def _read_error(path, e: Exception) -> ToolkitError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
    return ToolkitError(f"cannot read audio file {path}: {msg}")


def audio_seconds(path: str | Path) -> float:
    """A file's length from its header alone (no decoding): an unreadable or empty file is an input error."""
    import soundfile as sf

    if not Path(path).is_file():
        raise ToolkitError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile's own error types for a file it cannot parse
        raise _read_error(path, e)
    if info.frames == 0:
        raise ToolkitError(f"audio file {path} is empty")
    return info.frames / info.samplerate


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 in [-1, 1) at `sample_rate`. Stereo is averaged; other rates are resampled
    with a polyphase Kaiser-windowed FIR (scipy.signal.resample_poly)."""
    import soundfile as sf

    if not Path(path).is_file():
        raise ToolkitError(f"audio file not found: {path}")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError/RuntimeError/TypeError for bad files
        raise _read_error(path, e)
    if x.shape[0] == 0:
        raise ToolkitError(f"audio file {path} is empty")
    x = x.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise ToolkitError(f"audio file {path} contains NaN or Inf samples")
    if sr != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(int(sr), sample_rate)
        x = resample_poly(x, sample_rate // g, int(sr) // g).astype(np.float32)
    return x


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """What the microphone driver hands the device: int16, saturating."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


@dataclass
class Windowed:
    path: Path
    windows: list[np.ndarray]  # each exactly window_samples long
    padded: bool               # True if the clip was shorter than one window and zero-padded


def cut_windows(x: np.ndarray, window_samples: int) -> tuple[list[np.ndarray], bool]:
    """Consecutive, non-overlapping windows, as the device runs them.

    A clip shorter than one window is zero-padded to one window. A longer clip's tail that does
    not fill a whole window is dropped, because the device would still be waiting for it.
    """
    if len(x) < window_samples:
        return [np.pad(x, (0, window_samples - len(x)))], True
    n = len(x) // window_samples
    return [x[i * window_samples:(i + 1) * window_samples] for i in range(n)], False


class WindowStream:
    """A clip's windows as cut_windows cuts them, decoded `block` windows at a time: memory stays flat however
    long the file. Iterate for (k, window_samples) float32 blocks; then `peak` is the clip's peak |sample| (the
    partial last window included) and `padded` says whether it was shorter than a window. A file at another rate
    is read whole and resampled as load_audio does (a polyphase filter over the whole clip)."""

    def __init__(self, path: str | Path, window_samples: int, block: int = 32):
        self.path, self.n, self.block = Path(path), window_samples, block
        self.peak, self.padded = 0.0, False

    def _chunks(self):
        import soundfile as sf

        try:
            f = sf.SoundFile(str(self.path))
        except Exception as e:
            raise _read_error(self.path, e)
        with f:
            if f.samplerate != SAMPLE_RATE:
                yield load_audio(self.path)
                return
            while True:
                try:
                    x = f.read(self.n * self.block, dtype="float32", always_2d=True)
                except Exception as e:
                    raise _read_error(self.path, e)
                if x.shape[0] == 0:
                    return
                x = x.mean(axis=1)
                if not np.all(np.isfinite(x)):
                    raise ToolkitError(f"audio file {self.path} contains NaN or Inf samples")
                yield x

    def __iter__(self):
        rest, seen = np.zeros(0, np.float32), 0
        for x in self._chunks():
            seen += len(x)
            self.peak = max(self.peak, float(np.max(np.abs(x))))
            x = np.concatenate([rest, x]) if len(rest) else x
            k = len(x) // self.n
            if k:
                yield x[:k * self.n].reshape(k, self.n)
            rest = x[k * self.n:]
        if seen == 0:
            raise ToolkitError(f"audio file {self.path} is empty")
        if seen < self.n:
            self.padded = True
            yield np.pad(rest, (0, self.n - len(rest)))[None]

    @property
    def peak_dbfs(self) -> float:
        return 20.0 * float(np.log10(self.peak)) if self.peak > 0 else float("-inf")


def load_windows(paths: list[Path], window_samples: int) -> list[Windowed]:
    out = []
    for p in paths:
        w, padded = cut_windows(load_audio(p), window_samples)
        out.append(Windowed(p, w, padded))
    return out


def peak_dbfs(x: np.ndarray) -> float:
    """A clip's peak level in dB full scale (float samples in [-1, 1)); -inf for digital silence."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return 20.0 * float(np.log10(peak)) if peak > 0 else float("-inf")


def at_peak_dbfs(x: np.ndarray, dbfs: float) -> np.ndarray:
    """x scaled to a peak level and quantised as a 16-bit microphone would give it (float, PCM steps)."""
    peak = float(np.max(np.abs(x)))
    y = x * (10 ** (dbfs / 20) / peak) if peak > 0 else x
    return to_pcm16(y).astype(np.float32) / 32768.0
