"""Build and run the engine's C harness (tests/c/engine_harness.c: host, or a Cortex-M4 in QEMU) and hold its
outputs against the numpy mirror, for the synthetic engines and the real bundle's alike."""

from __future__ import annotations

import platform
import struct
import subprocess
from pathlib import Path

import numpy as np

import cbuild
from mcu_toolkit.emit.c_engine import engine_files
from mcu_toolkit.engine.mirror import Engine

HARNESS = cbuild.C_DIR / "engine_harness.c"
FLAGS = ("-ffp-contract=off",)  # the head's float sums in index order, as the mirror's
BUILDS = {"dsp": (), "portable": ("-DW2S_ENGINE_PORTABLE",),  # the Cortex-M4 kernels a core selects, the C,
          "direct": ("-DW2S_ENGINE_DIRECT",)}                      # and the DSP kernels without Winograd


# The x86-64 kernel families (w2s_engine_conv_x86.c, chosen at compile time): gcc flags, and the /proc/cpuinfo
# flags a CPU needs to run the result. avx2 turns AVX-512 off, so an AVX-512 machine runs the plain AVX2 code.
X86_BUILDS = {"avx2": (("-O3", "-mavx2", "-mfma", "-mno-avx512f"), {"avx2", "fma"}),
              "vnni": (("-O3", "-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"),
                       {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"})}


def x86_missing(kind: str) -> str | None:
    """Why this host cannot run X86_BUILDS[kind] (a skip reason), or None."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"an x86-64 build: this host is {platform.machine()}"
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return "no /proc/cpuinfo to read the CPU's flags from"
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}
    lacking = sorted(X86_BUILDS[kind][1] - flags)
    return f"the CPU lacks {', '.join(lacking)}" if lacking else None


def has_symbol(exe: Path, name: str) -> bool:
    """Whether exe defines the function name (which kernel family a build took)."""
    out = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    return any(line.split()[-1] == name for line in out.splitlines() if line.strip())


def rounding_flags(engine: Engine) -> tuple[str, ...]:
    return ("-DW2S_SINGLE_ROUNDING=1",) if engine.rounding == "single" else ()


def build(engine: Engine, folder: Path, target: str = cbuild.HOST, *flags: str) -> Path:
    """The harness around every emitted engine file, for the host (stdin/stdout) or QEMU (files)."""
    cbuild.write(engine_files(engine), folder)
    out = folder / ("harness" if target == cbuild.HOST else f"engine_{target}.elf")
    return cbuild.build([*cbuild.c_files(folder), HARNESS], out, target,
                        flags=[*FLAGS, *rounding_flags(engine), *flags], includes=[folder])


def pack(windows: list[np.ndarray]) -> bytes:
    return b"".join(struct.pack("<I", len(w)) + w.tobytes() for w in windows)


def run_host(exe: Path, windows: list[np.ndarray], columns: int):
    """((rows, output bits, per-column sums) per window, sizeof(w2s_engine_t)); aarch64 under qemu-aarch64."""
    lines = subprocess.run(cbuild.command(exe), input=pack(windows), capture_output=True, check=True).stdout.decode()
    return parse(lines.splitlines(), windows, columns)


def run_m4(elf: Path, windows: list[np.ndarray], columns: int, work: Path, core: str = cbuild.QEMU_CORE):
    work.mkdir(parents=True, exist_ok=True)
    (work / "in.bin").write_bytes(pack(windows))
    cbuild.run_qemu(elf, [str(work / "in.bin"), str(work / "out.txt")], core=core)
    return parse((work / "out.txt").read_text().splitlines(), windows, columns)


def parse(lines: list[str], windows: list[np.ndarray], columns: int):
    out, i = [], 0
    for _ in windows:
        head = lines[i].split()
        sums = np.array([[int(v) for v in ln.split()] for ln in lines[i + 1:i + 1 + columns]])
        out.append((int(head[0]), np.array([int(h, 16) for h in head[1:]], dtype=np.uint32), sums))
        i += 1 + columns
    return out, int(lines[i].split()[1])


def columns(engine: Engine) -> int:
    return engine.graph.channels * engine.graph.pooled_mels


def check_against_mirror(engine: Engine, windows: list[np.ndarray], got) -> None:
    """The C's pooled rows, per-column sums and block exponents, and its three float32 outputs, bit for bit."""
    for w, (rows, bits, sums) in zip(windows, got, strict=True):
        s0, s1, b = engine.sums(w)
        features = engine.features(w)
        assert rows == len(features)
        np.testing.assert_array_equal(sums[:, 0], s0)
        np.testing.assert_array_equal(sums[:, 1], s1)
        np.testing.assert_array_equal(sums[:, 2], b)
        np.testing.assert_array_equal(bits, engine.run_features(features).view(np.uint32))  # = engine.run(w)


def extremes(frames: int, mels: int) -> list[np.ndarray]:
    """Saturating windows: all -128, all 127, and a checkerboard of both."""
    alt = np.where((np.arange(frames)[:, None] + np.arange(mels)[None]) % 2 == 0, 127, -128).astype(np.int8)
    return [np.full((frames, mels), -128, np.int8), np.full((frames, mels), 127, np.int8), alt]
