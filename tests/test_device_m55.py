"""The qemu-m55 image on an emulated Cortex-M55 (QEMU's mps3-an547, Helium kernels): it links into the AN547's ITCM
and DTCM, its outputs equal the host engine's bit for bit (validate --device qemu-m55), and the engine's
instruction rate firmware's schedule assumes for the M55 (cores.QEMU_M55) is what it executes."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from mcu_toolkit import resources
from mcu_toolkit.verify.device import DEVICES, build_image, run_image, write_wav

M55 = DEVICES["qemu-m55"]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(any(shutil.which(t) is None for t in M55.tools), reason="no arm-none-eabi-gcc/QEMU")]
KIB = 1024


def test_image_links_into_the_an547_tcms(bundle, tmp_path):
    elf = build_image(bundle.out, tmp_path, device=M55)
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {ln.split()[-1]: int(ln.split()[0], 16) for ln in out.splitlines() if len(ln.split()) == 3}
    assert syms["__stack"] <= 0x20000000 + 512 * KIB and syms["__ram_free"] >= 256 * KIB
    assert "w2s_conv_row_mve_s8" in syms  # the Helium kernels, not only the DSP ones
    size = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True).stdout
    text = next(int(ln.split()[1]) for ln in size.splitlines() if ln.startswith(".text"))
    assert text < 512 * KIB


def test_m55_device_equals_host_engine_bit_for_bit(bundle, tmp_path):
    """validate --device qemu-m55 on 3 held-out clips: every window's three float32 outputs identical."""
    from mcu_toolkit.verify.validation import validate

    audio = tmp_path / "clips"
    audio.mkdir()
    for f in sorted(resources.default_eval_dir().glob("syn_00[3-5]*.flac")):
        shutil.copy(f, audio / f.name)
    res = validate(bundle.out, audio, device="qemu-m55")
    assert res.device == "qemu-m55" and res.device_windows >= 3
    assert res.device_differing == 0 and res.passed
    host = validate(bundle.out, audio)
    assert (res.deployed_out == host.deployed_out).all()


def test_m55_instruction_counts_follow_the_schedules_rate(bundle, tmp_path):
    from mcu_toolkit.cores import CORES
    from mcu_toolkit.firmware.speed import engine_instructions_per_s

    elf = build_image(bundle.out, tmp_path, device=M55)
    wav = tmp_path / "noise.wav"
    write_wav(wav, (np.random.default_rng(0).normal(size=bundle.report.window_samples) * 3000).astype(np.int16))
    run = run_image(elf, wav, device=M55)
    assert len(run.outputs) == 1 and np.all(np.isfinite(run.outputs))
    helium_state = bundle.report.engine.state_bytes - bundle.report.engine.winograd_bytes  # no Winograd rows
    assert run.engine_state == helium_state and 512 < run.stack_high_water < 8 * KIB
    assert len(run.profile_kinstr) == 9 and sum(run.profile_kinstr) <= run.engine_kinstr[0] + 1
    per_window = engine_instructions_per_s(bundle.report, CORES["cortex-m55"].rates) * bundle.report.window_seconds
    assert run.engine_kinstr[0] * 1000 == pytest.approx(per_window, rel=0.10)
    # Helium does the same work in far fewer instructions than the M4's SMLAD kernels
    assert run.engine_kinstr[0] * 1000 < 0.3 * engine_instructions_per_s(bundle.report) * bundle.report.window_seconds
