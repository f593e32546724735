"""The device in the loop: an emulated board's firmware image, run in QEMU on each file.

Each `validate --device` is one entry of DEVICES: the firmware board whose project it builds (qemu-m4: the
image `firmware --board qemu-f411` generates, built with arm-none-eabi-gcc) and the QEMU machine it runs on
(qemu-system-arm -M netduinoplus2, a Cortex-M4F) with -icount shift=0; qemu-rv32: the `firmware --board qemu-rv32`
image (rv32imc, riscv64-unknown-elf-gcc with picolibc) on qemu-system-riscv32 -M virt. The image prints each
window's three float32 outputs as bit patterns, so the host can check them bit for bit.

Live (`make live`, w2s_live.elf): the samples arrive from SysTick at 16 kHz of the emulated board's time for a
clock and cycles per instruction, and the image reports what a board would: dropped samples, windows with a
gap inside (not analysed), its CPU load and each window's latency.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cores import CORES
from ..errors import ExitCode, ToolkitError
from ..lifetime import in_group

QEMU_TIMEOUT_S = 600
_BITS = re.compile(r"^\s*bits ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})\s+kinstr frontend (\d+) engine (\d+)", re.M)
_SUMMARY = re.compile(r"^summary: windows (\d+) samples (\d+) kinstr frontend (\d+) engine (\d+) "
                      r"stack_high_water (\d+) B engine_state (\d+) B", re.M)
_PROFILE = re.compile(r"^profile: (layer|pool) (\d+) kinstr (\d+)", re.M)
_START = re.compile(r"^\s*bits .* start (\d+) latency_us (\d+)$", re.M)
_LIVE = re.compile(r"^live: windows_total (\d+) windows_analysed (\d+) partial_windows (\d+) dropped_samples (\d+) "
                   r"busy_us (\d+) span_us (\d+) latency_us_max (\d+) windows_cut (\d+) longest_step_us (\d+) "
                   r"ring_peak (\d+)", re.M)


@dataclass(frozen=True)
class Device:
    """One `validate --device`: the firmware board it builds, and the emulator that runs the image."""
    name: str
    board: str                  # firmware --board: the project built for it
    cpu: str                    # what it emulates, in messages
    chip: str                   # the part whose memory map the image is linked for, in messages
    tools: tuple[str, ...]      # needed on PATH
    apt: str                    # the Debian packages that give them
    qemu: tuple[str, ...]       # the emulator and its machine
    live: bool = False          # it has `make live` (--clock-mhz)
    specs: tuple[str, ...] = ()  # gcc spec files the compiler must find (a C library packaged apart from it)


ARM_APT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm make"
DEVICES = {d.name: d for d in (
    Device("qemu-m4", "qemu-f411", "Cortex-M4", "F411", ("arm-none-eabi-gcc", "make", "qemu-system-arm"), ARM_APT,
           ("qemu-system-arm", "-M", "netduinoplus2"), live=True),
    Device("qemu-rv32", "qemu-rv32", "RV32IMC", "ESP32-C3",
           ("riscv64-unknown-elf-gcc", "make", "qemu-system-riscv32"),
           "apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc make",
           # picolibc writes stdout as semihosting console output, which QEMU sends to stderr unless told
           ("qemu-system-riscv32", "-M", "virt", "-bios", "none", "-chardev", "stdio,id=w2s", "-semihosting-config",
            "chardev=w2s"), specs=("picolibc.specs",)),
)}


def _gcc_prints(gcc: str, *args: str) -> str:
    return subprocess.run([gcc, *args], capture_output=True, text=True, **in_group()).stdout.strip()


def check_tools(device: Device = DEVICES["qemu-m4"]) -> None:
    missing = [t for t in device.tools if shutil.which(t) is None]
    if not missing:  # gcc prints a spec file's full path when it finds it, else the bare name
        missing = [s for s in device.specs
                   if not Path(_gcc_prints(device.tools[0], f"-print-file-name={s}")).is_absolute()]
    if missing:
        raise ToolkitError(f"--device {device.name} needs {', '.join(missing)} ({device.apt})",
                           exit_code=ExitCode.TOOLCHAIN)


@dataclass
class DeviceRun:
    outputs: np.ndarray           # (windows, 3) float32, as the device computed them
    frontend_kinstr: list[int]    # per window, thousands of instructions
    engine_kinstr: list[int]
    stack_high_water: int
    engine_state: int
    profile_kinstr: list[int]     # per trunk layer, then the pooling
    live: LiveRun | None = None   # a live run's bookkeeping


@dataclass(frozen=True)
class Clock:
    """The emulated board a live run stands for: its clock and cycles per instruction (by default the Cortex-M4
    cycle model's, cores.py)."""
    mhz: float
    cpi: float = CORES["cortex-m4f"].rates.cycles_per_instruction


@dataclass
class LiveRun:
    clock: Clock
    starts: list[int]             # each analysed window's first sample in the WAV
    windows_total: int            # whole windows the audio held
    windows_analysed: int
    partial_windows: int          # windows with a gap inside: reported, not analysed (the app restarts them: 0)
    dropped_samples: int
    windows_cut: int              # windows the app restarted because the ring dropped samples inside them
    busy_us: int                  # emulated time not asleep waiting for the microphone
    span_us: int                  # emulated time from the microphone's start to the end
    latency_ms_max: float         # end of a window's audio to its output line
    longest_step_ms: float        # the app's longest stretch between two reads of the ring (under half of it)
    ring_peak: int                # the most samples ever waiting in the ring (it holds W2S_RING_SAMPLES)

    def figures(self) -> dict:
        return live_figures(self.clock, [self])


def live_figures(clock: Clock, runs: list[LiveRun]) -> dict:
    """validate's `live` object: the runs of every file, summed (latency: the worst)."""
    total, analysed = sum(r.windows_total for r in runs), sum(r.windows_analysed for r in runs)
    span = sum(r.span_us for r in runs)
    return {"clock_mhz": clock.mhz, "cycles_per_instruction": clock.cpi,
            "dropped_samples": sum(r.dropped_samples for r in runs),
            "partial_windows": sum(r.partial_windows for r in runs),
            "windows_cut": sum(r.windows_cut for r in runs), "windows_total": total,
            "windows_analysed": analysed, "coverage": analysed / total if total else None,
            "cpu_load": sum(r.busy_us for r in runs) / span if span else None,
            "latency_ms_max": max((r.latency_ms_max for r in runs), default=None),
            "longest_step_ms": max((r.longest_step_ms for r in runs), default=None),
            "ring_peak": max((r.ring_peak for r in runs), default=None)}


def check_fits(bundle, device: Device = DEVICES["qemu-m4"]) -> None:
    """The device's board budget, the one `firmware --board` checks, before any build: a bundle that cannot
    fit is bad input for this device (exit 2), named in one line, not a linker error after a build."""
    from ..firmware.boards import BOARDS, KIB, budget, largest_window_that_fits

    board = BOARDS[device.board]
    b = budget(board, bundle.report)
    if b.fits:
        return
    over = [f"{what} {used / KIB:.0f} KiB > {limit / KIB:.0f} KiB" for what, used, limit in
            (("flash", b.flash_used, b.flash_limit), ("RAM", b.ram_used, b.ram_limit)) if used > limit]
    hint = largest_window_that_fits(b, bundle.report)
    raise ToolkitError(f"--device {device.name}: this {bundle.report.window_seconds:g} s bundle does not fit the "
                       f"{device.chip}: "
                       + ", ".join(over) + f" (the front end's window store is "
                       f"{b.parts['frontend_window_buffers'] / KIB:.0f} KiB); "
                       + (f"convert with --window-seconds {hint:g} or less (estimated)" if hint else
                          "no window of 0.1 s or more fits"), exit_code=ExitCode.BAD_INPUT)


def _build_failure(output: str) -> str:
    """The line that says why make failed: the linker's overflow or the first error, not make's own last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for key in ("overflowed by", "error:", "Error"):
        hit = next((ln for ln in lines if key in ln), None)
        if hit is not None:
            return hit
    return lines[-1] if lines else "no output"


def build_image(bundle: Path, work: Path, opt: str = "-O2", extra_cflags: str = "", live: bool = False,
                device: Device = DEVICES["qemu-m4"]) -> Path:
    """Generate the device's board project for the bundle in work/ and build it (live: w2s_live.elf); the ELF's
    path."""
    from ..firmware.boards import BOARDS, budget
    from ..firmware.generate import _open_fixed_bundle, _write_project

    check_tools(device)
    b = _open_fixed_bundle(bundle, "w2s")  # one line naming a missing file (a --frontend float bundle)
    check_fits(b, device)
    board = BOARDS[device.board]
    proj = work / board.name
    proj.mkdir(parents=True)
    _write_project(proj, board, b.path, b.report, budget(board, b.report), False)
    target = "w2s_live.elf" if live else "w2s.elf"
    r = subprocess.run(["make", "-s", f"OPT={opt}", f"EXTRA_CFLAGS={extra_cflags}", target], cwd=proj,
                       capture_output=True, text=True, **in_group())
    if r.returncode != 0:
        raise ToolkitError(f"building the {board.name} image failed: {_build_failure(r.stderr + r.stdout)[:200]}",
                           exit_code=ExitCode.TOOLCHAIN)
    return proj / target


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


def qemu_opt_value(text: str) -> str:
    """A value inside a QEMU option list: a comma would end it, and is written ",," (QEMU's escape)."""
    return text.replace(",", ",,")


def run_image(elf: Path, wav: Path, clock: Clock | None = None, device: Device = DEVICES["qemu-m4"]) -> DeviceRun:
    """Run the image on one WAV file in QEMU; what it printed, parsed. The firmware takes the WAV path as
    everything after the first space of the semihosting command line (live: after the clock and CPI), so
    spaces need no escape. A live image (clock given) sleeps in WFI between blocks: sleep=off makes QEMU's
    clock jump to the next SysTick instead of waiting in real time."""
    words = ["w2s.elf"] if clock is None else [elf.name, f"{clock.mhz:g}", f"{clock.cpi:g}"]
    cmd = [*device.qemu, "-nographic", "-monitor", "none", "-serial", "none",
           "-icount", "shift=0" if clock is None else "shift=0,sleep=off", "-semihosting-config",
           "enable=on,target=native," + ",".join(f"arg={w}" for w in words) + f",arg={qemu_opt_value(str(wav))}",
           "-kernel", str(elf)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=QEMU_TIMEOUT_S, stdin=subprocess.DEVNULL,
                           **in_group())
    except subprocess.TimeoutExpired:
        raise ToolkitError(f"QEMU did not finish {wav.name} in {QEMU_TIMEOUT_S} s", exit_code=ExitCode.CHECK_FAILED)
    summary = _SUMMARY.search(r.stdout)
    if r.returncode != 0 or summary is None:
        last = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["no output"]
        raise ToolkitError(f"the {device.board} image failed on {wav.name}: {last[0][:400]}",
                           exit_code=ExitCode.CHECK_FAILED)
    rows = _BITS.findall(r.stdout)
    bits = np.array([[int(h, 16) for h in row[:3]] for row in rows], dtype=np.uint32).reshape(-1, 3)
    run = DeviceRun(bits.view(np.float32), [int(row[3]) for row in rows], [int(row[4]) for row in rows],
                    int(summary.group(5)), int(summary.group(6)),
                    [int(k) for _, _, k in _PROFILE.findall(r.stdout)])
    if clock is not None:
        run.live = _live_run(clock, r.stdout, len(rows), wav)
    return run


def _live_run(clock: Clock, stdout: str, rows: int, wav: Path) -> LiveRun:
    live, starts = _LIVE.search(stdout), _START.findall(stdout)
    if live is None or len(starts) != rows:
        raise ToolkitError(f"the live qemu-f411 image printed no live summary on {wav.name} (is it w2s_live.elf?)",
                           exit_code=ExitCode.CHECK_FAILED)
    total, analysed, partial, dropped, busy, span, latency, cut, step, peak = map(int, live.groups())
    return LiveRun(clock, [int(s) for s, _ in starts], total, analysed, partial, dropped, cut, busy, span,
                   latency / 1000, step / 1000, peak)
