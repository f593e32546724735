"""The schedule the firmware runs, as firmware/speed.py models it, and what w2s_budget.h says of it (fast: no
convert; a report is stood in for by the few fields the estimate reads)."""

import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from mcu_toolkit.cores import CORES
from mcu_toolkit.firmware import speed
from mcu_toolkit.firmware.boards import BOARDS, Budget
from mcu_toolkit.firmware.generate import budget_h
from mcu_toolkit.firmware.speed import Schedule, schedule

import cbuild
from helpers import needs_arm_gcc, run_cli

MARGIN = 7 / 8


def test_margin_is_seven_eighths_and_its_q8_is_224():
    assert speed.MARGIN == MARGIN and speed.MARGIN_Q8 == 224


def test_a_board_with_cycles_to_spare_is_pipelined():
    """E 300 M + Fw 10 M cycles per 2 s window at 480 MHz: 310 M <= 2 x 480 M x 7/8 = 840 M."""
    s = schedule(300e6, 10e6, 2.0, 480e6, MARGIN, step_cycles=300e3)
    assert s.pipelined and s.kind == "pipelined" and s.skip_s == 0.0
    assert (s.period_s, s.coverage) == (2.0, 1.0)
    assert s.latency_s == pytest.approx(300e6 / (480e6 - 5e6))  # the engine gets what the front end leaves
    assert s.cpu_load == pytest.approx(310e6 / 960e6)
    assert s.burst_s == pytest.approx(300e3 / 480e6) and s.ring_s == 0.128 and s.burst_fits


def test_a_board_too_slow_on_average_is_duty_cycled():
    """At 100 MHz: 310 M > 175 M, so 1.35 s are skipped after each window (the engine at the full clock), then
    the rest (165 M) runs at 100 M - 5 M cycles a second while the next window is collected."""
    s = schedule(300e6, 10e6, 2.0, 100e6, MARGIN, step_cycles=300e3)
    assert not s.pipelined and s.kind == "duty-cycled"
    assert s.skip_s == pytest.approx(1.35) and s.period_s == pytest.approx(3.35)
    assert s.coverage == pytest.approx(2 / 3.35)
    assert s.latency_s == pytest.approx(1.35 + 165e6 / 95e6)
    assert s.cpu_load == pytest.approx(310e6 / 335e6)
    assert s.burst_s == pytest.approx(3e-3)


def test_the_boundary_is_pipelined_and_one_cycle_more_is_not():
    at = schedule(165e6, 10e6, 2.0, 100e6, MARGIN)  # 175 M == 2 x 100 M x 7/8
    assert at.pipelined and at.coverage == 1.0 and at.cpu_load == pytest.approx(0.875)
    assert at.latency_s == pytest.approx(165e6 / 95e6)
    over = schedule(165e6 + 1, 10e6, 2.0, 100e6, MARGIN)
    assert not over.pipelined and over.skip_s == pytest.approx(1e-8) and over.coverage < 1.0


def test_the_skip_ends_when_the_engine_does_even_if_the_front_end_alone_is_over_the_margin():
    """w2s_app.c starts the next window once the queue is empty, whatever the front end costs."""
    s = schedule(50e6, 190e6, 2.0, 100e6, MARGIN)
    assert s.skip_s == pytest.approx(0.5) and s.latency_s == pytest.approx(0.5)
    assert s.frontend_load == pytest.approx(0.95)


def _report(window_s=2.0, macs=120e6, outputs=1e6, frames=999):
    """The fields the estimate reads (macs and int8 outputs per window, the window, its frames)."""
    return SimpleNamespace(macs=macs, window_seconds=window_s, frames_per_window=frames,
                           engine=SimpleNamespace(int8_outputs_per_window=outputs))


def test_the_estimate_is_the_cores_instruction_rates_times_its_cycles_per_instruction():
    r, m4 = _report(), CORES["cortex-m4f"].rates
    v = speed.verdict(BOARDS["stm32h743"], r, "w2s")
    e = (r.macs * m4.engine_per_mac + 1e6 * m4.engine_per_output) * m4.cycles_per_instruction
    assert v.engine_cycles == round(e) and v.frontend_cycles == round(m4.frontend_per_s * 2 * m4.cycles_per_instruction)
    assert v.schedule == schedule(e, m4.frontend_per_s * 2 * m4.cycles_per_instruction, 2.0, 480e6,
                                     step_cycles=m4.longest_step_per_frame * 999 * m4.cycles_per_instruction)


def test_no_cycle_figure_no_clock_or_tflm_says_so_in_one_line():
    esp = speed.verdict(BOARDS["esp32-s3"], None, "w2s")  # Xtensa: no figure, whatever the model
    assert esp.schedule is None and (esp.engine_cycles, esp.frontend_cycles) == (0, 0)
    assert esp.note.startswith("schedule: not known: no cycle figure for Xtensa LX7")
    tflm = speed.verdict(BOARDS["stm32h743"], None, "tflm")
    assert tflm.schedule is None and tflm.engine_cycles == 0 and tflm.note.startswith("TFLM: not measured here")
    qemu = speed.verdict(BOARDS["qemu-f411"], _report(), "w2s")  # cycles known, the clock is the live build's
    assert qemu.schedule is None and qemu.engine_cycles > 0 and "no fixed clock" in qemu.note
    host = speed.verdict(BOARDS["host"], None, "w2s")
    assert host.schedule is None and host.note == "schedule: none: host reads a WAV file, no microphone to keep up with"
    assert all("\n" not in v.note for v in (esp, tflm, qemu, host))


def test_verdict_lines_say_the_schedule_and_what_it_is_estimated_from():
    r = _report()
    h7 = speed.verdict(BOARDS["stm32h743"], r, "w2s").note
    assert re.fullmatch(r"schedule: pipelined: CPU load 0\.\d\d at 480 MHz; each window's answer \d\.\d s after it "
                        r"ends \(estimated: the Cortex-M4F's 1\.32 cycles per instruction, taken for the Cortex-M7, "
                        r"margin 1/8\)", h7), h7
    f411 = speed.verdict(BOARDS["nucleo-f411re"], _report(macs=160e6), "w2s").note
    assert re.fullmatch(r"schedule: duty-cycled at 100 MHz: one 2 s window in every \d\.\d s: \d\d% of the audio; "
                        r"each answer \d\.\d s after its window ends \(estimated: 1\.32 cycles per instruction, "
                        r"margin 1/8\)", f411), f411
    assert "taken for the Cortex-M33" in speed.verdict(BOARDS["rp2350"], r, "w2s").note


def test_a_step_longer_than_half_the_ring_is_a_warning():
    v = speed.Verdict(schedule(300e6, 10e6, 2.0, 100e6, step_cycles=30e6), 1, 1, "n")
    assert v.schedule.burst_s == pytest.approx(0.3) and not v.schedule.burst_fits
    assert ("the window's end (the front end's finish and the int8 queue) takes about 300 ms, more than half the "
            "audio ring (128 ms)" in v.warning)
    assert speed.Verdict(schedule(300e6, 10e6, 2.0, 100e6, step_cycles=300e3), 1, 1, "n").warning is None


NOTE_C = r"""#include <stdio.h>
#include "w2s_budget.h"
int main(void)
{
    unsigned long e = W2S_ENGINE_CYCLES_EST;
    printf("%lu %u\n%s\n", e, W2S_SCHEDULE_MARGIN_Q8, W2S_SCHEDULE_NOTE);
    return 0;
}
"""


def _defines(text: str) -> dict:
    return dict(re.findall(r"^#define (W2S_(?:ENGINE_CYCLES_EST|SCHEDULE_\w+)) (.*)$", text, re.M))


@pytest.mark.parametrize(("board", "engine"), [("stm32h743", "w2s"), ("nucleo-f411re", "w2s"), ("esp32-s3", "w2s"),
                                               ("stm32h743", "tflm")])
def test_budget_h_writes_the_schedules_four_macros(board, engine, tmp_path):
    """Pipelined, duty-cycled, no figure, TFLM: the figures, 224u and the note as a C string the compiler reads back
    as the same text."""
    v = speed.verdict(BOARDS[board], _report(macs=160e6), engine)
    assert (v.schedule is not None) == (engine == "w2s" and board != "esp32-s3")
    text = budget_h(Budget(BOARDS[board], 1, 1, None, None, {}, verdict=v), False, engine)
    d = _defines(text)
    assert d == {"W2S_ENGINE_CYCLES_EST": f"{v.engine_cycles}u",
                 "W2S_SCHEDULE_MARGIN_Q8": "224u", "W2S_SCHEDULE_NOTE": d["W2S_SCHEDULE_NOTE"]}
    assert (v.engine_cycles > 0) == (v.schedule is not None) and v.engine_cycles < 2 ** 32
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    (tmp_path / "w2s_budget.h").write_text(text)
    (tmp_path / "note.c").write_text(NOTE_C)
    exe = cbuild.build([tmp_path / "note.c"], tmp_path / "note", includes=[tmp_path])
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert out == f"{v.engine_cycles} 224\n{v.note}\n"


def test_cycles_over_32_bits_stay_exact(tmp_path):
    """A 60 s window's engine takes over 2^32 cycles: the macro keeps the figure (C99 types "...u" as wide as it
    needs), and w2s_app.c keeps it in 64 bits."""
    v = speed.verdict(BOARDS["stm32h743"], _report(window_s=60.0, macs=60 * 61e6, outputs=30e6, frames=29999), "w2s")
    assert v.engine_cycles > 2 ** 32
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    (tmp_path / "w2s_budget.h").write_text(budget_h(Budget(BOARDS["stm32h743"], 1, 1, None, None, {}, verdict=v),
                                                    False, "w2s"))
    (tmp_path / "note.c").write_text(NOTE_C.replace("unsigned long e", "unsigned long long e").replace("%lu", "%llu"))
    exe = cbuild.build([tmp_path / "note.c"], tmp_path / "note", includes=[tmp_path])
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == str(v.engine_cycles)


@needs_arm_gcc
@pytest.mark.parametrize("core", sorted({b.core for b in BOARDS.values()
                                         if CORES[b.core].rates and CORES[b.core].rates.measured_on == "cortex-m4f"}))
def test_every_core_with_the_m4s_rates_runs_the_smlad_kernels(core):
    """The rates are the SMLAD kernels' (measured on the M4): each core that takes them must define
    __ARM_FEATURE_DSP with its flags (gcc's cortex-m33 does, as cortex-m33+nodsp would not)."""
    r = subprocess.run(["arm-none-eabi-gcc", *CORES[core].flags, "-dM", "-E", "-x", "c", "/dev/null"],
                       capture_output=True, text=True, check=True)
    assert "#define __ARM_FEATURE_DSP 1" in r.stdout, core


def test_the_old_flag_is_hidden_from_the_help():
    r = run_cli("firmware", "--help")
    assert r.returncode == 0 and "--allow-dropped-audio" not in r.stdout
    flat = " ".join(r.stdout.split())
    assert "duty-cycled" in flat and "flash wait states, unaligned loads and bus contention (the DMA)" in flat


def test_schedule_is_a_frozen_value():
    s = schedule(1e6, 1e6, 1.0, 1e8)
    with pytest.raises(AttributeError):
        s.skip_s = 1.0  # type: ignore[misc]
    assert isinstance(s, Schedule)


def test_a_project_written_without_a_verdict_gets_one(tmp_path, monkeypatch):
    """verify/device.py writes the qemu-f411 image's project from a bare budget: its w2s_budget.h still carries
    the core's cycle estimates (the live build plans its first window with them), not zeros."""
    from mcu_toolkit.firmware import generate

    monkeypatch.setattr(generate.shutil, "copy", lambda *args: None)  # no bundle files: only what is generated
    report = _report()
    report.n_mels, report.arena_bytes = 26, 0
    generate._write_project(tmp_path, BOARDS["qemu-f411"], tmp_path / "no-bundle", report,
                            Budget(BOARDS["qemu-f411"], 1, 1, None, None, {}), False)
    d = _defines((tmp_path / "w2s" / "w2s_budget.h").read_text())
    want = speed.verdict(BOARDS["qemu-f411"], report, "w2s")
    assert d["W2S_ENGINE_CYCLES_EST"] == f"{want.engine_cycles}u" and want.engine_cycles > 0
    assert "no fixed clock" in d["W2S_SCHEDULE_NOTE"]
