"""Does a board keep up with the audio? The w2s schedule the firmware runs (common/w2s_app.c), as a pure function.

Per window of W s at a clock of C Hz, with E the engine's cycles per window and Fw the front end's:
- a completed window's rows are queued and the engine starts on them; the next window's audio is collected
  (its front end runs at the microphone's pace) once the engine's remaining cycles + Fw fit in W*C*MARGIN;
  until then the audio is read and skipped, and the engine has the whole clock;
- so after each window s = max(0, E + Fw - W*C*MARGIN) / C seconds are skipped: pipelined if s == 0 (every
  sample, one answer every W s), duty-cycled otherwise (one whole W s window every W + s s, never a partial
  one); while collecting, the engine gets what the front end leaves (C - Fw/W).
E and Fw are estimates: a core's instruction rates (cores.py, instruction counts of the qemu-f411 image on
QEMU's Cortex-M4) times its cycles per instruction (a QEMU trace costed with the Cortex-M4 TRM's timings). They
leave out flash wait states, unaligned loads and bus contention with the audio DMA: MARGIN keeps 1/8 of the
clock for them. The projects print each window's real cycles and latency, and the firmware replaces E with the
last window's measured cycles as soon as it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .. import spec
from ..bundle import Report
from ..cores import CORES, InstrRates
from .boards import RING_SAMPLES, Board

MARGIN = Fraction(7, 8)  # the share of a window's cycles the schedule plans to use
MARGIN_Q8 = int(MARGIN * 256)  # as w2s_app.c reads it: W2S_SCHEDULE_MARGIN_Q8 / 256
RING_HALF_S = RING_SAMPLES / 2 / spec.SAMPLE_RATE  # the longest stretch between two ring reads may take
# What w2s/w2s_budget.h calls the schedule's figures; common/w2s_app.c reads them.
ENGINE_CYCLES_EST = "W2S_ENGINE_CYCLES_EST"      # u32: the engine's cycles per window, 0u when not known
SCHEDULE_MARGIN_Q8 = "W2S_SCHEDULE_MARGIN_Q8"    # MARGIN_Q8
SCHEDULE_NOTE = "W2S_SCHEDULE_NOTE"              # the verdict in one line, printed at start-up


@dataclass(frozen=True)
class Schedule:
    """What the schedule gives for one window length at one clock (times in seconds)."""
    pipelined: bool
    skip_s: float      # audio skipped after each window (0: pipelined)
    period_s: float    # one window's audio in every period_s
    coverage: float    # window / period: the share of the audio analysed
    latency_s: float   # from the end of a window's audio to its answer
    cpu_load: float    # average, at most 1
    burst_s: float     # the longest stretch between two ring reads (a window's finish and int8 queue)
    ring_s: float      # ... which must stay under this (half the ring)
    frontend_load: float  # the front end's share of the clock while it collects: 1 or more cannot keep up

    @property
    def kind(self) -> str:
        return "pipelined" if self.pipelined else "duty-cycled"

    @property
    def burst_fits(self) -> bool:
        return self.burst_s < self.ring_s


def schedule(engine_cycles: float, frontend_cycles: float, window_s: float, clock_hz: float,
             margin: float = MARGIN, step_cycles: float = 0.0, ring_s: float = RING_HALF_S) -> Schedule:
    """The schedule w2s_app.c runs, from E and Fw (cycles per window), W, C and the margin. `step_cycles`: the
    longest stretch between two reads of the ring (a window's finish and queue), which half the ring must absorb."""
    budget = window_s * clock_hz * float(margin)
    # collecting starts once the rest fits, and in any case when the engine is done
    skip = min(engine_cycles, max(0.0, engine_cycles + frontend_cycles - budget)) / clock_hz
    period = window_s + skip
    share = clock_hz - frontend_cycles / window_s  # the engine's cycles per second while the front end collects
    rest = engine_cycles - skip * clock_hz
    latency = skip + (rest / share if share > 0 else (0.0 if rest == 0 else float("inf")))
    return Schedule(pipelined=skip == 0.0, skip_s=skip, period_s=period, coverage=window_s / period,
                    latency_s=latency, cpu_load=min(1.0, (engine_cycles + frontend_cycles) / (period * clock_hz)),
                    burst_s=step_cycles / clock_hz, ring_s=ring_s,
                    frontend_load=frontend_cycles / (window_s * clock_hz))


@dataclass(frozen=True)
class Verdict:
    """A board's schedule for a bundle, and what w2s_budget.h says of it."""
    schedule: Schedule | None  # None: no cycle figure or no clock
    engine_cycles: int         # per window, for w2s_budget.h; 0: not known
    frontend_cycles: int
    note: str                  # the verdict in one line (firmware prints it, the project prints it at start-up)

    @property
    def warning(self) -> str | None:
        """What the schedule cannot help: the ring drops samples whatever it does."""
        s = self.schedule
        if s is not None and s.frontend_load >= 1:
            return (f"warning: the front end alone needs {s.frontend_load:.1f} times the clock: the ring will drop "
                    "samples")
        if s is not None and not s.burst_fits:
            return (f"warning: the window's end (the front end's finish and the int8 queue) takes about "
                    f"{s.burst_s * 1e3:.0f} ms, more than half the audio ring ({s.ring_s * 1e3:.0f} ms): the ring "
                    "will drop samples between two reads")
        return None


def engine_instructions_per_s(report: Report, rates: InstrRates = CORES["cortex-m4f"].rates,
                              winograd: bool = True) -> float:
    """The w2s engine's instructions per second of audio at `rates`, estimated from the model's shape; winograd:
    the build computes the convs the report marks with Winograd (a DSP core with room for their rows)."""
    macs = report.macs / report.window_seconds
    outputs = report.engine.int8_outputs_per_window if report.engine is not None else None
    if outputs is None:
        return macs * rates.engine_per_mac_overall
    wmacs = (getattr(report.engine, "winograd_macs_per_window", None) or 0) / report.window_seconds if winograd else 0.0
    per_wmac = rates.engine_per_mac if rates.engine_per_winograd_mac is None else rates.engine_per_winograd_mac
    return ((macs - wmacs) * rates.engine_per_mac + wmacs * per_wmac
            + outputs / report.window_seconds * rates.engine_per_output)


def _cycles(cycles: float) -> int:
    return round(cycles)  # over 2^32 (a window over ~30 s), C99 types "...u" as unsigned long long


def verdict(board: Board, report: Report, engine: str, winograd: bool = True) -> Verdict:
    """The schedule of `report`'s model on `board` with `engine`, and its one-line note."""
    if engine != "w2s":
        return Verdict(None, 0, 0, "TFLM: not measured here (TFLM cannot be built here); the project prints "
                                   "each window's cycles")
    core = CORES[board.core]
    if core.rates is None and board.mhz is None:  # the host: a WAV file, as fast as it runs
        return Verdict(None, 0, 0, f"schedule: none: {board.name} reads a WAV file, no microphone to keep up with")
    if core.rates is None:
        return Verdict(None, 0, 0, f"schedule: not known: no cycle figure for {core.cpu} here; the project "
                                   "prints each window's cycles and latency")
    rates, w = core.rates, report.window_seconds
    e = engine_instructions_per_s(report, rates, winograd) * w * rates.cycles_per_instruction
    fw = rates.frontend_per_s * w * rates.cycles_per_instruction
    if board.mhz is None:
        return Verdict(None, _cycles(e), _cycles(fw), f"schedule: {board.name} has no fixed clock: the engine "
                                                f"{e / 1e6:.0f} M and the front end {fw / 1e6:.1f} M cycles per "
                                                f"{w:g} s window ({basis(board)})")
    step = rates.longest_step_per_frame * report.frames_per_window * rates.cycles_per_instruction
    s = schedule(e, fw, w, board.mhz * 1e6, step_cycles=step)
    return Verdict(s, _cycles(e), _cycles(fw), line(s, board, w))


def basis(board: Board) -> str:
    """Where the cycle figures come from, in a few words."""
    core = CORES[board.core]
    cpi = core.rates.cycles_per_instruction
    measured = CORES[core.rates.measured_on].cpu
    whose = "" if measured == core.cpu else f"the {measured}'s "
    taken = "" if measured == core.cpu else f", taken for the {core.cpu}"
    return f"estimated: {whose}{cpi:g} cycles per instruction{taken}, margin {1 - MARGIN}"


def line(s: Schedule, board: Board, window_s: float) -> str:
    """The verdict in one line."""
    if s.pipelined:
        return (f"schedule: pipelined: CPU load {s.cpu_load:.2f} at {board.mhz} MHz; each window's answer "
                f"{_seconds(s.latency_s)} after it ends ({basis(board)})")
    return (f"schedule: duty-cycled at {board.mhz} MHz: one {window_s:g} s window in every {s.period_s:.1f} s: "
            f"{s.coverage:.0%} of the audio; each answer {_seconds(s.latency_s)} after its window ends "
            f"({basis(board)})")


def _seconds(x: float) -> str:
    return f"{x:.1f} s" if x >= 0.1 else f"{x * 1e3:.0f} ms"
