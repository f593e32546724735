"""The options several commands share, defined once with their validation (pip-tools style)."""

from __future__ import annotations

import math
import os

import click

from .errors import exit_codes_epilog
from .spec import WINDOW_DEFAULT_S, WINDOW_MAX_S, WINDOW_MIN_S  # noqa: F401 (re-exported: one range)

ARENA_KIB_PER_SECOND = 380  # TFLM arena growth per second of window (README, bench_boards: 386 at 1 s)


class FiniteFloat(click.ParamType):
    """A float that is not NaN or Inf, optionally within [lo, hi] (click.FloatRange lets NaN through)."""

    name = "number"

    def __init__(self, lo: float | None = None, hi: float | None = None):
        self.lo, self.hi = lo, hi

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            x = value
        else:
            try:
                x = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value} is not a finite number", param, ctx)
        if (self.lo is not None and x < self.lo) or (self.hi is not None and x > self.hi):
            lo = "-inf" if self.lo is None else f"{self.lo:g}"
            hi = "inf" if self.hi is None else f"{self.hi:g}"
            self.fail(f"{x:g} is not in the range [{lo}, {hi}]", param, ctx)
        return x


def epilog(extra: str = "") -> str:
    return (extra + "\n\n" if extra else "") + exit_codes_epilog()


force = click.option("--force", is_flag=True, help="Replace existing output.")
quiet = click.option("--quiet", is_flag=True, help="No progress output.")
JOBS_MAX = 1024
NOTES: list[str] = []  # said once the command has run: a failing command stays one line


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, as a container or taskset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cap_jobs(ctx, param, value: int) -> int:
    cores = usable_cores()
    if value > cores:  # more workers than cores only compete for them, each with a model's memory
        NOTES.append(f"--jobs {value} is more than the {cores} core(s) this process may use; running {cores}")
        return cores
    return value


def jobs(default: int = 1, what: str = "Worker processes."):
    return click.option("--jobs", type=click.IntRange(1, JOBS_MAX), default=default, show_default=True, metavar="N",
                        callback=_cap_jobs, help=f"{what} At most the usable cores.")
min_ccc = click.option("--min-ccc", type=FiniteFloat(-1.0, 1.0), default=None, metavar="X",
                       help="Fail (exit 1) if any dimension's CCC is below X, in [-1, 1].")
# the live qemu-f411 image's SysTick holds a 256-sample block of up to 2^24 ticks: clock / CPI <= 6241 MHz
clock_mhz = click.option("--clock-mhz", type=FiniteFloat(1.0, 3000.0), default=None, metavar="MHZ",
                         help="Run the device live: its samples arrive at 16 kHz of a board at this clock "
                              "(--device qemu-m4 only; 1 to 3000).")
cpi = click.option("--cpi", type=FiniteFloat(0.5, 10.0), default=None, metavar="X",
                   help="The live board's cycles per instruction (with --clock-mhz; 0.5 to 10; default 1.32, "
                        "the Cortex-M4 cycle model's: bench_device_speed.py --cycles).")
max_drift = click.option("--max-drift", type=FiniteFloat(0.0, None), default=None, metavar="X",
                         help="Fail (exit 1) if any dimension drifts more than X (>= 0).")


def out(help_text: str, default: str | None = None, metavar: str = "DIR"):
    return click.option("--out", default=default, required=default is None, show_default=default is not None,
                        metavar=metavar, help=help_text)


def window_seconds(help_text: str, lo: float = WINDOW_MIN_S, hi: float = WINDOW_MAX_S,
                   default: float | None = WINDOW_DEFAULT_S):
    return click.option("--window-seconds", type=FiniteFloat(lo, hi), default=default,
                        show_default=default is not None, metavar="S",
                        help=f"{help_text} From {lo:g} to {hi:g} s" + ("." if default is not None
                                                                      else f"; default {WINDOW_DEFAULT_S:g}."))
