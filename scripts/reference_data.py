"""Audio the project makes for itself: espeak-ng speech with controlled prosody, plus
measured prosody targets for the reference checkpoint.

Dev-time only (needs the Debian package espeak-ng). Nothing here runs inside `mcu-toolkit`.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SR = 16000

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I cannot believe you finished the whole project in a single afternoon.",
    "Turn left at the second traffic light and park behind the old library.",
    "We should leave now, or we will miss the last train home tonight.",
    "The weather report says heavy rain will arrive early tomorrow morning.",
    "Nobody told me the meeting had been moved to the other building.",
    "Would you like some tea, or do you prefer a glass of cold water?",
    "The children laughed and ran across the garden toward the fountain.",
    "Stop right there and put the box down on the table, slowly.",
    "Our results show a small but steady improvement over last year.",
    "I am so tired of waiting for the bus in the freezing wind.",
    "This is the best news I have heard in a very long time!",
    "Keep the door closed, the cat keeps trying to escape outside.",
    "Seven hundred people signed the letter before the deadline passed.",
    "Can you hear the music coming from the apartment upstairs?",
    "The engine made a strange noise and then stopped completely.",
    "Thank you for coming, it means a lot to all of us here.",
    "Measure twice and cut once, my grandfather always used to say.",
    "The museum opens at nine and closes at five on weekdays.",
    "Listen carefully, because I will only explain this one more time.",
    "A gentle breeze moved the curtains in the quiet evening light.",
    "Why did nobody check the numbers before sending the report?",
    "Fresh bread and warm soup were waiting for us in the kitchen.",
    "The pilot announced that we would land twenty minutes early.",
    "Honestly, I think we should start again from the very beginning.",
    "Bright red leaves covered the path through the autumn forest.",
    "Get out of the way, the truck is coming straight at us!",
    "She whispered the answer so that only her brother could hear.",
    "The committee will publish its final decision next Thursday.",
    "My phone battery died right in the middle of the conversation.",
    "Every small step forward still counts as progress in the end.",
    "He dropped the glass and it shattered across the tiled floor.",
    "Remember to water the plants while I am away on holiday.",
    "That was the funniest film I have seen in years.",
    "The river rose quickly after three days of constant rain.",
    "I told you a hundred times not to touch the controls.",
    "Snow fell silently over the sleeping village all night long.",
    "Could you please repeat the last part of your question?",
    "Winning the championship was a dream come true for the team.",
    "The lights flickered twice and then the whole street went dark.",
    "It is not fair that we always have to clean up after them.",
    "Soft music played while the guests found their seats.",
    "Run, run as fast as you can, the storm is almost here!",
    "The scientist carefully recorded each measurement in her notebook.",
    "I wonder what the city will look like in fifty years.",
    "Do not forget your keys, your wallet and your umbrella.",
    "The old clock on the wall struck midnight with a heavy chime.",
]

VOICES = [
    "en+m1", "en+m3", "en+m7", "en+f1", "en+f2", "en+f4",
    "en-us+m2", "en-us+f3", "en-gb-scotland+m4", "en-029+f5",
    "en-gb-x-rp+klatt2", "en-us+klatt4", "en+croak", "en+Alex", "en+grandma", "en+Andy",
]


@dataclass
class SynthParams:
    voice: str
    text: str
    speed: int      # words per minute
    pitch: int      # espeak 0..99
    gap: int        # extra pause between words, units of 10 ms
    peak_dbfs: float

    def tag(self) -> str:
        v = self.voice.replace("+", "_").replace("-", "")
        return f"{v}_s{self.speed}_p{self.pitch}_g{self.gap}"


def espeak(params: SynthParams) -> np.ndarray:
    """Synthesise with espeak-ng and return float32 audio at 16 kHz (unscaled)."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(
            ["espeak-ng", "-v", params.voice, "-s", str(params.speed), "-p", str(params.pitch),
             "-g", str(params.gap), "-w", f.name, params.text],
            check=True, capture_output=True)
        x, sr = sf.read(f.name, dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    return resample_poly(x, 160, 441) if sr == 22050 else resample_poly(x, SR, sr)


def finish(x: np.ndarray, peak_dbfs: float, rng: np.random.Generator, noise_dbfs: float = -72.0,
           floor_dbfs: float = -90.0) -> np.ndarray:
    """Peak-normalise, add a mic-like noise floor, and quantise to int16.

    The noise sits `noise_dbfs` below the peak but never under `floor_dbfs` (about 1 LSB rms, a MEMS
    microphone's self-noise), so quiet clips do not turn into digital silence.
    """
    x = x / max(np.max(np.abs(x)), 1e-9) * 10 ** (peak_dbfs / 20)
    noise_db = max(peak_dbfs + noise_dbfs, floor_dbfs)
    x = x + rng.standard_normal(len(x)) * 10 ** (noise_db / 20)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def random_params(rng: np.random.Generator, sentences=SENTENCES, voices=VOICES) -> SynthParams:
    return SynthParams(
        voice=str(rng.choice(voices)),
        text=" ".join(rng.choice(sentences, size=int(rng.integers(1, 3)), replace=False)),
        speed=int(rng.integers(100, 300)),
        pitch=int(rng.integers(5, 95)),
        gap=int(rng.integers(0, 25)),
        peak_dbfs=float(rng.uniform(-40, -3)),
    )


# ---- measured prosody targets -------------------------------------------------------------

def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    count = 1 + (len(x) - n) // hop
    idx = np.arange(n)[None, :] + hop * np.arange(count)[:, None]
    return x[idx]


def _f0_autocorr(frames: np.ndarray, sr: int = SR, fmin: float = 60, fmax: float = 400) -> np.ndarray:
    """Per-frame F0 from the normalised autocorrelation peak; NaN where unvoiced."""
    fr = frames - frames.mean(axis=1, keepdims=True)
    n = fr.shape[1]
    spec = np.fft.rfft(fr, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lo, hi = int(sr / fmax), int(sr / fmin)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    peak = ac[np.arange(len(ac)), lag]
    f0 = sr / lag
    f0[peak < 0.5] = np.nan
    return f0


def prosody(x: np.ndarray) -> dict:
    """Gain-independent prosody of one utterance (16 kHz)."""
    x = np.asarray(x, dtype=np.float64)
    x = x / max(np.sqrt(np.mean(x ** 2)), 1e-12)
    fr = _frames(x, 512, 160) * np.hanning(512)[None, :]
    power = np.abs(np.fft.rfft(fr, axis=1)) ** 2
    energy_db = 10 * np.log10(power.sum(axis=1) + 1e-12)
    active = energy_db > energy_db.max() - 35
    freqs = np.fft.rfftfreq(512, 1 / SR)
    centroid = (power[active] * freqs).sum(axis=1) / np.maximum(power[active].sum(axis=1), 1e-12)
    f0 = _f0_autocorr(_frames(x, 640, 160)[: len(active)][active[: len(_frames(x, 640, 160))]])
    f0 = f0[np.isfinite(f0)]
    return {
        "centroid_hz": float(np.mean(centroid)),
        "f0_hz": float(np.median(f0)) if len(f0) else 150.0,
        "active_fraction": float(active.mean()),
    }


def targets(x: np.ndarray) -> np.ndarray:
    """A/D/V stand-ins for the reference model, roughly in 0..1.

    arousal   <- spectral brightness (vocal effort),
    dominance <- low median pitch,
    valence   <- fluency (fraction of active frames).
    These are documented toolchain targets, not emotion labels.
    """
    p = prosody(x)
    return np.array([
        (p["centroid_hz"] - 1000.0) / 1000.0,
        (400.0 - p["f0_hz"]) / 300.0,
        (p["active_fraction"] - 0.2) / 0.8,
    ], dtype=np.float32)
