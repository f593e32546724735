"""The cycle model: hand-written Cortex-M4 instruction runs costed with the TRM's timings, a hand-written trace
parsed, and (slow) the real qemu-f411 image traced, its instruction counts equal to QEMU -icount's."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from mcu_toolkit.verify.cycles import M4, Timing, block_cycles, cost, parse_trace, pipeline


def test_alu_and_dsp_multiplies_take_one_cycle():
    assert block_cycles(["adds r3, #1", "smlad r2, r4, sb, r2", "smlal r0, r1, r2, r3", "mla r0, r1, r2, r3",
                         "usat ip, #8, ip, asr #1", "it ne"]) == 6


def test_back_to_back_loads_take_n_plus_one():
    loads = ["ldr r4, [r0, #0x40]", "ldr.w r8, [r0, #0x8e]", "ldr.w sb, [r1, #0xc0]"]
    assert block_cycles(loads[:1]) == 2
    assert block_cycles(loads) == 4
    assert block_cycles(["ldr r4, [r0]", "smlad r2, r4, r5, r2", "ldr r5, [r1]"]) == 5  # not back to back


def test_a_load_whose_address_is_the_last_load_does_not_pipeline():
    assert block_cycles(["ldr r1, [r0]", "ldr r2, [r1]"]) == 4


def test_an_address_just_computed_waits_a_cycle():
    assert block_cycles(["add.w r5, r5, #8", "ldr r3, [r5]"]) == 4
    assert block_cycles(["add.w r5, r5, #8", "ldr r3, [r6]"]) == 3


def test_stores_take_one_cycle_with_an_immediate_offset_two_with_a_register():
    assert block_cycles(["strb ip, [r0, #1]!"]) == 1
    assert block_cycles(["str r1, [r2, r3]"]) == 2


def test_multiple_transfers_take_one_plus_n():
    assert block_cycles(["push {r4, r5, r6, lr}"]) == 5
    assert block_cycles(["pop.w {r4, r5, r6, r7, r8, pc}"]) == 7
    assert block_cycles(["ldrd r2, r3, [r0]"]) == 3
    assert block_cycles(["vpush {d8, d9}"]) == 5


def test_divisions_and_fp_use_the_stated_values():
    assert block_cycles(["udiv r0, r1, r2"]) == M4.divide == 12
    assert block_cycles(["sdiv r0, r1, r2"], Timing(divide=2)) == 2
    assert block_cycles(["vdiv.f32 s0, s1, s2", "vmla.f32 s0, s1, s2", "vadd.f32 s0, s1, s2"]) == 14 + 3 + 1


def test_conditional_branches_cost_one_the_refill_is_the_traces():
    assert block_cycles(["cmp r1, r7", "bne #0x8003a04"]) == 2
    assert block_cycles(["bls #0x8000100", "bl #0x80063fc", "cbz r0, #0x80001"]) == 3
    assert block_cycles(["bic r0, r0, r1", "bics r0, r1"]) == 2


LOG = b"""----------------
IN: main
0x08000100:  2001       movs     r0, #1
0x08000102:  f000 f801  bl       #0x8000108

Trace 0: 0x7f0000000100 [00000000/08000100/00000010/ff000200] main
----------------
IN: feed
0x08000108:  6801       ldr      r1, [r0]
0x0800010a:  6842       ldr      r2, [r0, #4]
0x0800010c:  3901       subs     r1, #1
0x0800010e:  d1fb       bne      #0x8000108

Trace 0: 0x7f0000000200 [00000000/08000108/00000010/ff000200] feed
Trace 0: 0x7f0000000200 [00000000/08000108/00000010/ff000200] feed
Trace 0: 0x7f0000000200 [00000000/08000108/00000010/ff000200] feed
Stopped execution of TB chain before 0x7f0000000200 [08000108] feed
Trace 0: 0x7f0000000200 [00000000/08000108/00000010/ff000200] feed
----------------
IN: main
0x08000110:  4770       bx       lr

Trace 0: 0x7f0000000300 [00000000/08000110/00000010/ff000200] main
Trace 0: 0x7f0000000100 [00000000/08000100/00000010/ff000200] main
"""


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_a_trace_is_counted_per_part_and_branch_whatever_the_chunks(chunk):
    trace = parse_trace(io.BytesIO(LOG), {0x08000108: "frontend"}, range(0x08000100, 0x08000114), chunk)
    assert trace.blocks[0x08000108].end == 0x08000110
    # the stopped entry is dropped; the loop branched back twice, then fell through; the last block is left out
    assert trace.runs == {("other", 0x08000100, True): 1, ("frontend", 0x08000108, True): 2,
                          ("frontend", 0x08000108, False): 1, ("other", 0x08000110, True): 1}
    parts = cost(trace)
    loop = 3 + 1 + 1    # two pipelined loads, subs, bne
    assert parts["frontend"].instructions == 12
    assert parts["frontend"].cycles == 3 * loop + 2 * M4.refill
    assert parts["frontend"].refills == 2 * M4.refill
    assert pipeline({**parts, "engine": parts["frontend"]})["pipeline"].cycles == 2 * parts["frontend"].cycles


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="no arm-none-eabi-gcc/QEMU")
def test_the_traced_image_runs_the_instructions_icount_counts(bundle, tmp_path):
    from mcu_toolkit import resources
    from mcu_toolkit.audio import list_audio, load_audio, to_pcm16
    from mcu_toolkit.verify.cycles import trace_image
    from mcu_toolkit.verify.device import build_image, run_image, write_wav

    elf = build_image(bundle.out, tmp_path)
    wav = tmp_path / "clip.wav"
    write_wav(wav, to_pcm16(load_audio(list_audio(resources.default_eval_dir())[-1])[:bundle.report.window_samples]))
    counted = run_image(elf, wav)
    parts = pipeline(cost(trace_image(elf, wav)))
    # icount's per-part counts include the timer reads around the calls: within 0.1%
    assert parts["frontend"].instructions == pytest.approx(1000 * counted.frontend_kinstr[0], rel=1e-3)
    assert parts["engine"].instructions == pytest.approx(1000 * counted.engine_kinstr[0], rel=1e-3)
    assert np.isfinite(parts["pipeline"].per_instruction)
    assert 1.2 < parts["pipeline"].per_instruction < 1.5
