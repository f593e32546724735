"""Build and run the C front end (host gcc, sanitizers, Cortex-M4 in QEMU) for the tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from mcu_toolkit.cores import M4F, STRICT_C
from mcu_toolkit.dsp import fixed
from mcu_toolkit.emit.c_frontend import frontend_files

HERE = Path(__file__).resolve().parent / "c"
STRICT = [*STRICT_C, "-Wconversion", "-Wshadow"]
QUANT = fixed.InputQuant.from_scale(0.4702, 85)  # a realistic model input quantisation


def write_sources(d: Path) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in frontend_files(fixed.tables(), None, 32000).items():
        (d / name).write_text(text)
    shutil.copy(HERE / "fe_harness.c", d / "fe_harness.c")
    return [d / "w2s_frontend.c", d / "w2s_frontend_tables.c", d / "fe_harness.c"]


def build_host(d: Path, extra: list[str] = (), name: str = "fe_host") -> Path:
    srcs = write_sources(d)
    exe = d / name
    subprocess.run(["gcc", *STRICT, "-O2", *extra, "-I", str(d), *map(str, srcs), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


def build_m4(d: Path) -> Path:
    srcs = write_sources(d)
    elf = d / "fe_m4.elf"
    subprocess.run(["arm-none-eabi-gcc", *M4F, *STRICT, "-O2", "--specs=rdimon.specs", "-T", str(HERE / "m4.ld"),
                    "-I", str(d), str(HERE / "m4_startup.c"), *map(str, srcs), "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    return elf


def run(cmd_prefix: list[str], pcm: np.ndarray, work: Path, seed: int = 1, timeout: float = 120):
    """Run a harness on pcm; return (db_q7 (frames, mels) int16, int8, offset)."""
    work.mkdir(parents=True, exist_ok=True)
    inp, out = work / "in.s16", work / "out.bin"
    np.asarray(pcm, dtype=np.int16).tofile(inp)
    args = [str(inp), str(out), str(QUANT.mult), str(QUANT.zero_point), str(seed)]
    r = subprocess.run(cmd_prefix(args) if callable(cmd_prefix) else [*cmd_prefix, *args],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"harness failed ({r.returncode}): {r.stderr[-2000:]}")
    raw = out.read_bytes()
    frames = int(np.frombuffer(raw[:4], np.uint32)[0])
    offset = int(np.frombuffer(raw[4:8], np.int32)[0])
    mels = fixed.tables().n_mels
    db = np.frombuffer(raw[8:8 + frames * mels * 2], np.int16).reshape(frames, mels)
    q = np.frombuffer(raw[8 + frames * mels * 2:], np.int8).reshape(frames, mels)
    return db, q, offset, r.stderr


def qemu_prefix(elf: Path):
    def prefix(args):
        return ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                "-semihosting-config", "enable=on,target=native,arg=fe_m4," + ",".join(f"arg={a}" for a in args),
                "-kernel", str(elf)]
    return prefix


def python_reference(pcm: np.ndarray):
    db = fixed.window_logmel_q7(np.asarray(pcm, dtype=np.int16))
    return db, fixed.quantize_s8(db, QUANT)


def adversarial_signals(speech: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    n = 32000
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
