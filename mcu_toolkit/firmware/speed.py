"""Can a board keep up with the audio? The pipeline's instructions per second of audio against its clock.

A board's core (cores.py) gives the rates: instruction counts of the qemu-f411 image on QEMU's Cortex-M4
with -icount (benchmarks/bench_device_speed.py, -O2, the SMLAD kernels), not cycles: a real core needs more cycles
than instructions (flash wait states, multi-cycle loads and multiplies), so the check asks for HEADROOM
and stays an estimate. The generated projects print the cycles each window really takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bundle import Report
from ..cores import CORES, InstrRates
from ..errors import ToolkitError
from .boards import Board

# A board keeps up if the instruction count fits in half its clock. QEMU counts instructions; a real core
# spends more cycles on them (flash wait states: 3 on an F411 at 100 MHz; two-cycle loads), and the audio
# DMA and its interrupts share the bus: issue 12's budget is 50 M instructions per second for a 100 MHz F411.
HEADROOM = 2.0


@dataclass(frozen=True)
class Speed:
    instr_per_audio_s: float | None   # None: no measured figure for this core or engine
    clock_hz: float | None
    note: str

    @property
    def real_time(self) -> bool | None:
        if self.instr_per_audio_s is None or self.clock_hz is None:
            return None
        return self.instr_per_audio_s * HEADROOM <= self.clock_hz


def engine_instructions_per_s(report: Report, rates: InstrRates = CORES["cortex-m4f"].rates) -> float:
    """The w2s engine's instructions per second of audio at `rates`, estimated from the model's shape."""
    macs = report.macs / report.window_seconds
    outputs = report.engine.int8_outputs_per_window if report.engine is not None else None
    if outputs is None:
        return macs * rates.engine_per_mac_overall
    return macs * rates.engine_per_mac + outputs / report.window_seconds * rates.engine_per_output


def speed(board: Board, report: Report, engine: str) -> Speed:
    return _speed(board, engine, lambda rates: engine_instructions_per_s(report, rates))


def default_model_speed(board: Board, engine: str, window_seconds: float) -> Speed:
    """The embedded model's estimate before converting it (firmware without --bundle): its MACs counted on the
    float model (the number convert reports) at the default model's overall rate per MAC (measured on it)."""
    def engine_instr(rates: InstrRates) -> float:
        from .. import resources
        from ..model import load_checkpoint
        from ..model.wav2small import float_macs

        model = load_checkpoint(resources.default_checkpoint())
        frames = model.config.frames(round(window_seconds * model.config.sample_rate))
        return float_macs(model, frames) / window_seconds * rates.engine_per_mac_overall

    return _speed(board, engine, engine_instr)


def _speed(board: Board, engine: str, engine_instr) -> Speed:
    clock = None if board.mhz is None else board.mhz * 1e6
    if engine != "w2s":
        return Speed(None, clock, "TFLM's speed is not measured here (TFLM cannot be built here): measure the "
                                  "cycles the project prints")
    core = CORES[board.core]
    if core.rates is None:
        return Speed(None, clock, f"no instruction count for {core.cpu}: measure the cycles the project prints")
    need = engine_instr(core.rates) + core.rates.frontend_per_s
    where = "" if clock is None else (f"; {need / clock:.2f} of {board.mhz} MHz at one instruction per cycle, "
                                      f"against at most 1/{HEADROOM:g}")
    return Speed(need, clock, f"about {need / 1e6:.0f} M instructions per second of audio{where} (an instruction "
                              "count from QEMU's Cortex-M4, not cycles: a real core needs more cycles, and the "
                              "audio DMA shares the bus; the project prints each window's cycles)")


def check_real_time(board: Board, report: Report, engine: str, allow_dropped_audio: bool) -> Speed:
    """The estimate; refused (one line) when the instruction count does not fit in 1/HEADROOM of the clock."""
    return refuse_if_slow(board, speed(board, report, engine), allow_dropped_audio)


def refuse_if_slow(board: Board, s: Speed, allow_dropped_audio: bool) -> Speed:
    if s.real_time is False and not allow_dropped_audio:
        raise ToolkitError(f"{board.name} cannot keep up with the audio in real time: it needs {s.note}, and "
                           "would drop audio between windows; use a faster board, or pass --allow-dropped-audio "
                           "to generate it anyway")
    return s
