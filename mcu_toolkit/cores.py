"""The cores boards run on: each one's compiler flags and speed data, defined once, and what a C file costs.

Boards (firmware/boards.py), tests and benchmarks take their flags from here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .lifetime import in_group, track

STRICT_C = ("-std=c99", "-Wall", "-Wextra", "-Werror")


@dataclass(frozen=True)
class InstrRates:
    """The pipeline's instructions per second of audio on a core, as measured (firmware/speed.py uses them)."""
    engine_per_mac: float          # the w2s engine: per MAC ...
    engine_per_output: float       # ... plus per int8 output (requantisation, the next layer's widening, loops)
    engine_per_mac_overall: float  # for a bundle that does not report its outputs: the default model's rate
    frontend_per_s: float          # the front end, per second of audio (does not depend on the model)
    cycles_per_instruction: float  # the pipeline's, from a QEMU trace costed with the core's TRM timings
    longest_step_per_frame: float  # the longest stretch between two reads of the ring, per frame of the window
    measured_on: str = "cortex-m4f"  # the core (a key of CORES) they were measured on; others borrow them
    engine_per_winograd_mac: float | None = None  # a Winograd conv's MAC (at its direct count) instead of
                                                  # engine_per_mac; None: not measured, engine_per_mac


# Instruction counts of the qemu-f411 image on QEMU's Cortex-M4 with -icount (-O2, the SMLAD kernels): the
# engine's two rates fitted on six models of 8 to 16 channels and 20 to 32 mels built direct (every conv direct,
# as a board without room for the Winograd rows gets), and the rate of a Winograd conv's MAC (counted as its direct
# MACs) on the same models as firmware builds them, the two held; each model within 9% (bench_speed_model.py;
# the default model: 1.0% over). The front end from bench_device_speed.py; the cycles per instruction from
# bench_device_speed.py --cycles (the Cortex-M4's TRM timings; for the M7, which can dual-issue, an estimate).
# The longest stretch between two ring reads is the chunk that completes a window: the front end's finish (0.88 M
# instructions) and the int8 queue (0.61 M), 1.49 M on the default model's 999 frames (the live qemu-f411 image's
# longest_step_us at CPI 1); the window's last engine row (the head) is 1.22 M. Both grow about with the frames.
QEMU_M4 = InstrRates(engine_per_mac=0.802, engine_per_output=57.8, engine_per_mac_overall=1.18,
                     frontend_per_s=4.56e6, cycles_per_instruction=1.32, longest_step_per_frame=1489.0,
                     engine_per_winograd_mac=0.405)

# The qemu-rv32 image (rv32imc, -O2, the portable C with its 2 x r blocks in one pass: no dual MAC, a multiply and
# an add per MAC) on qemu-system-riscv32 -M virt -icount shift=0, counted with minstret: the engine's two rates
# fitted as the M4's, on the same six models, each within 4% (bench_rv32.py --fit; the default model: 250 M per
# second of audio, estimated 243 M); the front end 6.55 M per second at 26 mels (6.2 M at 20, 6.8 M at 32).
# Cycles per instruction: an estimate, 1.0 for the ESP32-C3's in-order single-issue core (not measured: loads,
# taken branches, divisions and the flash cache add cycles on a real C3). The longest stretch between two ring
# reads: the front end's window-completing chunk measured on this image (0.84 M instructions) plus the M4's int8
# queue (0.61 M; there is no live rv32 image), per frame.
QEMU_RV32 = InstrRates(engine_per_mac=3.011, engine_per_output=70.3, engine_per_mac_overall=4.03,
                       frontend_per_s=6.55e6, cycles_per_instruction=1.0, longest_step_per_frame=1451.0,
                       measured_on="rv32imc")

# The qemu-m55 image on QEMU's mps3-an547 with -icount (-O2, the Helium kernels of w2s_engine_conv_mve.c; SysTick
# counts 32 ticks per 1,000 instructions there): the engine's two rates fitted on the default and five random
# models of 8 to 16 channels and 20 to 32 mels, each within 14% (the default: 16.95 M measured, 5% under the fit),
# the front end's Helium loops 3.02 M per second of audio at 26 mels (2.75 M at 20, 3.17 M at 32), by `python
# benchmarks/bench_m55.py --fit`. The longest step between two ring reads is the M4's figure (its front end is
# slower: an upper bound here). The cycles per instruction are an estimate, not measured: the M55 executes a
# 128-bit vector instruction in two beats on its 64-bit datapath and overlaps the beats of neighbouring ones; no
# cycle model of it here.
QEMU_M55 = InstrRates(engine_per_mac=0.084, engine_per_output=15.7, engine_per_mac_overall=0.274,
                      frontend_per_s=3.02e6, cycles_per_instruction=1.5, longest_step_per_frame=1489.0,
                      measured_on="cortex-m55")


@dataclass(frozen=True)
class Core:
    cpu: str                     # the name projects and messages print
    flags: tuple[str, ...]       # `compiler`'s; () where the project's toolchain picks them (ESP-IDF, host)
    rates: InstrRates | None     # None: no instruction count for this core (its schedule says so)
    tflm_arch: str | None = None  # TFLM's TARGET_ARCH, for the projects that build TFLM
    compiler: str = "arm-none-eabi-gcc"  # the gcc that takes `flags`
    link_flags: tuple[str, ...] = ()     # the link's, where they differ from `flags` (rv32imc: no _zicsr multilib)

    @property
    def size_tool(self) -> str:
        return self.compiler.removesuffix("gcc") + "size"


CORES = {
    "cortex-m0plus": Core("Cortex-M0+", ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"), None),
    "cortex-m4f": Core("Cortex-M4F", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
                       QEMU_M4, "cortex-m4+fp"),
    # the M7 and the M33 run the same Thumb-2 + DSP code as the M4 the counts come from (gcc's cortex-m33
    # defines __ARM_FEATURE_DSP: the SMLAD kernels); their cycles per instruction are the M4's, an estimate
    "cortex-m7": Core("Cortex-M7", ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
                      QEMU_M4, "cortex-m7+fpu"),
    "cortex-m33": Core("Cortex-M33", ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
                       QEMU_M4),
    "xtensa-lx7": Core("Xtensa LX7", (), None),
    "host": Core("Linux", (), None),
    # the ESP32-C3/C6 class: the portable C kernels, soft float (ilp32), picolibc (Debian's riscv gcc has no C
    # library of its own); zicsr for the minstret counter, which the link must not name (no such multilib)
    "rv32imc": Core("RV32IMC", ("-march=rv32imc_zicsr", "-mabi=ilp32", "--specs=picolibc.specs"), QEMU_RV32,
                    compiler="riscv64-unknown-elf-gcc",
                    link_flags=("-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs")),
    # Helium (MVE): gcc defines __ARM_FEATURE_MVE, so the engine takes its int8 VMLADAVA kernels
    # (w2s_engine_conv_mve.c); the front end runs its Thumb-2 + DSP C as on the M4
    "cortex-m55": Core("Cortex-M55", ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"), QEMU_M55),
}
CORTEX_M = tuple(name for name, c in CORES.items() if c.flags and c.compiler == "arm-none-eabi-gcc")
M4F = CORES["cortex-m4f"].flags


def code_bytes(files: dict[str, str], sources: str | tuple[str, ...], core: str = "cortex-m4f",
               opt: str = "-Os") -> int | None:
    """.text bytes of `sources` (some of `files`, name -> text) compiled for `core`, summed; None without
    the core's compiler (arm-none-eabi-gcc for the Cortex-M) or if one fails to compile."""
    gcc, size = shutil.which(CORES[core].compiler), shutil.which(CORES[core].size_tool)
    if not gcc or not size:
        return None
    names = (sources,) if isinstance(sources, str) else sources
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            (Path(d) / name).write_text(text)
        # gcc -c writes each object into the working directory, d; gcc's own temporary files go in d too:
        # the caller's TMPDIR may be a folder about to be removed
        r = subprocess.run([gcc, *CORES[core].flags, opt, "-std=c99", "-c", *names], cwd=d, capture_output=True,
                           env={**os.environ, "TMPDIR": d}, **in_group())
        if r.returncode != 0:
            return None
        objs = [str(Path(n).with_suffix(".o")) for n in names]
        out = subprocess.run([size, "-A", *objs], cwd=d, capture_output=True, text=True, **in_group()).stdout
        text = [int(t) for t in re.findall(r"^\.text\s+(\d+)", out, re.M)]
        return sum(text) if len(text) == len(names) else None


# Compiles on threads: gcc is a process of its own, so the caller goes on meanwhile.
_COMPILES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="code_bytes")


def code_bytes_soon(files: dict[str, str], sources: str | tuple[str, ...], core: str = "cortex-m4f",
                    opt: str = "-Os") -> Future:
    """code_bytes, as a Future; a run's group (lifetime.child_group) waits for it, and kills its gcc on a stop."""
    return track(_COMPILES.submit(code_bytes, files, sources, core, opt))
