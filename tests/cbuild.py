"""Build C for the tests and benchmarks and run it: on the host, on a Cortex-M4 in QEMU, or on aarch64 in
user-mode QEMU (qemu-aarch64: a static Linux executable, run as the host's are).

The one home of their gcc and qemu-system-arm command lines. Flags come from mcu_toolkit.cores (STRICT_C,
CORES). A core's executable links the tests' start-up code and linker script with newlib's semihosting
(rdimon), for QEMU's mps2-an386 (a Cortex-M4F): files and argv come from the host. Benchmarks import this
module with tests/ on sys.path, as they import fe_build.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mcu_toolkit.cores import CORES, STRICT_C

C_DIR = Path(__file__).resolve().parent / "c"
HOST = "host"
QEMU_CORE = "cortex-m4f"  # what mps2-an386 emulates
ARM_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")
AARCH64 = "aarch64"  # a Linux executable for user-mode QEMU: the NEON kernels (w2s_engine_conv_neon.c)
AARCH64_TOOLS = ("aarch64-linux-gnu-gcc", "qemu-aarch64")
ICOUNT = ("-icount", "shift=0,align=off,sleep=off")  # 1 instruction = 1 ns of virtual time: counts, not speed
# The QEMU machine each core's ELF runs on, and its tests' linker script (m4_startup.c serves both: it enables
# CP10/CP11, which the M55's Helium instructions need as the FPU does)
MACHINES = {"cortex-m4f": (("-M", "mps2-an386"), "m4.ld"),
            "cortex-m55": (("-M", "mps3-an547", "-cpu", "cortex-m55"), "m55.ld")}


class CFailed(RuntimeError):
    """A compile, link or run that failed; the message holds the command's stderr."""


def missing(*tools: str) -> str | None:
    """Why a build or run needing tools cannot happen here (a skip reason), or None."""
    absent = [t for t in tools if shutil.which(t) is None]
    return f"needs {' and '.join(absent)} (.ci/run installs them)" if absent else None


def write(files: Mapping[str, str], folder: Path) -> Path:
    """Write emitted files (name -> text) into folder; returns folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def c_files(folder: Path) -> list[Path]:
    """Every .c in folder: a generator's whole output, however many files it splits the C into."""
    return sorted(folder.glob("*.c"))


def unity(folder: Path, *harness: Path) -> str:
    """C text of one translation unit: every .c of folder, then harness: a harness reaches their static
    functions however the generator splits the C into files."""
    return "".join(f'#include "{p}"\n' for p in [*c_files(folder), *harness])


def _cc(target: str, opt: str, flags: Sequence[str], includes: Iterable[Path]) -> list[str]:
    cc = (["gcc"] if target == HOST else ["aarch64-linux-gnu-gcc"] if target == AARCH64
          else [CORES[target].compiler, *CORES[target].flags])
    return [*cc, *STRICT_C, opt, *flags, *(f"-I{d}" for d in includes)]


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise CFailed(f"{what} failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-4000:]}")


def build(sources: Iterable[Path], out: Path, target: str = HOST, *, opt: str = "-O2", flags: Sequence[str] = (),
          includes: Iterable[Path] = (), ld_script: Path | None = None) -> Path:
    """Compile and link sources into out: an executable for the host, or for a core of CORES an ELF for QEMU
    (or, with a board's ld_script, a bare link: no start-up code, no C library). Strict C99 (-Wall -Wextra
    -Werror) plus flags."""
    cmd = _cc(target, opt, flags, includes)
    if ld_script is not None:
        cmd += ["-nostartfiles", "-nostdlib", "-T", str(ld_script)]
    elif target == AARCH64:
        cmd += ["-static"]  # qemu-aarch64 needs no sysroot for it
    elif target != HOST:
        cmd += ["--specs=rdimon.specs", "-T", str(C_DIR / MACHINES.get(target, MACHINES[QEMU_CORE])[1]),
                str(C_DIR / "m4_startup.c")]
    _run([*cmd, *map(str, sources), "-o", str(out)], f"building {out.name}")
    return out


def command(exe: Path) -> list[str]:
    """How to run a built executable: itself, or an aarch64 one under qemu-aarch64 (on another host)."""
    with open(exe, "rb") as f:
        machine = int.from_bytes(f.read(20)[18:20], "little")  # ELF e_machine
    return ["qemu-aarch64", str(exe)] if machine == 183 and platform.machine() != "aarch64" else [str(exe)]


def objects(sources: Iterable[Path], out_dir: Path, target: str = HOST, *, opt: str = "-O2",
            flags: Sequence[str] = (), includes: Iterable[Path] = ()) -> list[Path]:
    """Compile each source alone (-c) into out_dir/<stem>.o; returns the objects."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd, objs = _cc(target, opt, flags, includes), []
    for src in sources:
        objs.append(out_dir / (Path(src).stem + ".o"))
        _run([*cmd, "-c", str(src), "-o", str(objs[-1])], f"compiling {Path(src).name} for {target}")
    return objs


def semihosting(args: Sequence[str] | None, argv0: str) -> str:
    """QEMU's -semihosting-config value: argv as arg= entries, each comma doubled (QEMU ends a value at one).
    The program gets them as one command line that newlib splits at spaces: an argument with one is refused."""
    argv = [] if args is None else [argv0, *map(str, args)]
    if any(" " in a for a in argv):
        raise ValueError(f"newlib splits the semihosting command line at spaces: {argv}")
    return ",".join(["enable=on", "target=native", *(f"arg={a.replace(',', ',,')}" for a in argv)])


def run_qemu(elf: Path, args: Sequence[str] | None = None, *, icount: bool = False, timeout: float = 300,
             check: bool = True, core: str = QEMU_CORE) -> subprocess.CompletedProcess:
    """Run elf on mps2-an386 with argv [elf's stem, *args] (args None: no argv at all); its semihosting
    stdout and exit code come back. icount: count instructions (benchmarks). check: raise CFailed on a
    non-zero exit. core: the machine (MACHINES) the ELF was built for."""
    cmd = ["qemu-system-arm", *MACHINES[core][0], "-nographic", "-monitor", "none", "-serial", "none",
           *(ICOUNT if icount else ()), "-semihosting-config", semihosting(args, elf.stem), "-kernel", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise CFailed(f"{elf.name} on QEMU exited {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r
