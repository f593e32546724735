"""Build and run the C front end (host gcc, sanitizers, Cortex-M4 in QEMU) for the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

import cbuild
from helpers import WINDOW
from mcu_toolkit.dsp import fixed
from mcu_toolkit.emit.c_frontend import frontend_files

HARNESS = cbuild.C_DIR / "fe_harness.c"
WARN = ("-Wconversion", "-Wshadow")  # stricter than the engine's: the front end is all integer arithmetic
QUANT = fixed.InputQuant.from_scale(0.4702, 85)  # a realistic model input quantisation


def write_sources(d: Path) -> list[Path]:
    """The emitted front end in d; its .c files."""
    return cbuild.c_files(cbuild.write(frontend_files(fixed.tables(), None, WINDOW), d))


def build_host(d: Path, extra: list[str] = (), name: str = "fe_host") -> Path:
    return cbuild.build([*write_sources(d), HARNESS], d / name, flags=[*WARN, *extra], includes=[d])


def build_m4(d: Path, core: str = cbuild.QEMU_CORE) -> Path:
    """The harness for an emulated core (cbuild.MACHINES); the Cortex-M55 build takes the Helium loops."""
    return cbuild.build([*write_sources(d), HARNESS], d / "fe_m4.elf", core, flags=WARN, includes=[d])


def run(exe: Path, pcm: np.ndarray, work: Path, seed: int = 1, timeout: float = 120, core: str = cbuild.QEMU_CORE):
    """Run a harness (an .elf: on QEMU) on pcm; return (db_q7 (frames, mels) int16, int8, offset, stderr)."""
    work.mkdir(parents=True, exist_ok=True)
    inp, out = work / "in.s16", work / "out.bin"
    np.asarray(pcm, dtype=np.int16).tofile(inp)
    args = [str(inp), str(out), str(QUANT.mult), str(QUANT.zero_point), str(seed)]
    if exe.suffix == ".elf":
        r = cbuild.run_qemu(exe, args, timeout=timeout, core=core)
    else:
        r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise cbuild.CFailed(f"harness failed ({r.returncode}): {r.stderr[-2000:]}")
    raw = out.read_bytes()
    frames = int(np.frombuffer(raw[:4], np.uint32)[0])
    offset = int(np.frombuffer(raw[4:8], np.int32)[0])
    mels = fixed.tables().n_mels
    db = np.frombuffer(raw[8:8 + frames * mels * 2], np.int16).reshape(frames, mels)
    q = np.frombuffer(raw[8 + frames * mels * 2:], np.int8).reshape(frames, mels)
    return db, q, offset, r.stderr


def python_reference(pcm: np.ndarray):
    db = fixed.window_logmel_q7(np.asarray(pcm, dtype=np.int16))
    return db, fixed.quantize_s8(db, QUANT)


def adversarial_signals(speech: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    n = WINDOW
    t = np.arange(n)
    quiet = speech[:n].astype(np.float64)
    quiet = quiet / max(np.abs(quiet).max(), 1) * 32767 * 10 ** (-60 / 20)
    square = np.where((t // 80) % 2 == 0, 32767, -32768)
    lsb = rng.integers(-1, 2, n)
    impulse = np.zeros(n)
    impulse[12345] = 32767
    return {
        "silence": np.zeros(n),
        "dc_offset": np.full(n, 9000.0),
        "dc_plus_speech": np.clip(speech[:n] * 0.5 + 12000, -32768, 32767),
        "full_scale_square": square,
        "negative_full_scale": np.full(n, -32768.0),
        "clipped_speech": np.clip(speech[:n].astype(np.float64) * 40, -32768, 32767),
        "white_noise_0dbfs": rng.integers(-32768, 32768, n),
        "impulse": impulse,
        "quiet_speech_-60dbfs": np.round(quiet),
        "quiet_speech_-50dbfs": np.round(quiet * 10 ** (10 / 20)),
        "lsb_noise": lsb,
        "dc_plus_lsb_noise": lsb - 20000,
        "dc_step": np.where(t < n // 2, 1000, -1000),
        "extreme_offset_swing": np.where((t // 7) % 5 == 0, 32767, -32768),
        "odd_length": speech[: n + 17],
        "short_63": speech[:63],
        "short_64": speech[:64],
        "short_95": speech[:95],
        "empty": np.zeros(0),
        # 15 s of full-scale noise: its prenorm sums pass 2^64, so the 128-bit path runs (and fits QEMU)
        "long_window_15s": rng.integers(-32768, 32768, 240000),
    }
