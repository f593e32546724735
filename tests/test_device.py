"""The real firmware image on an emulated Cortex-M4: qemu-f411 links for the F411, fits with room to spare,
and its outputs equal the host engine's bit for bit (validate --device qemu-m4)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mcu_toolkit.verify.device import DEVICES, build_image, run_image, write_wav

from helpers import WINDOW

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(any(shutil.which(t) is None for t in DEVICES["qemu-m4"].tools),
                                 reason="no arm-none-eabi-gcc/QEMU")]
KIB = 1024


def _symbol(elf: Path, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return next(int(ln.split()[0], 16) for ln in out.splitlines() if ln.split()[-1] == name)


def test_image_links_for_the_f411_and_leaves_12_kib(bundle, tmp_path):
    elf = build_image(bundle.out, tmp_path)
    size = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True).stdout
    sections = {ln.split()[0]: int(ln.split()[1]) for ln in size.splitlines() if ln.startswith(".")}
    flash = sections[".text"] + sections.get(".ARM.exidx", 0) + sections[".data"]
    assert flash < 512 * KIB
    # after data, bss, heap and an 8 KiB stack; the Winograd convs' rows take 14.8 KiB of the 24 KiB there was
    assert _symbol(elf, "__ram_free") >= 12 * KIB
    assert _symbol(elf, "__stack") <= 0x20000000 + 128 * KIB


def test_stack_and_instruction_counts_are_reported(bundle, tmp_path):
    import numpy as np

    elf = build_image(bundle.out, tmp_path)
    wav = tmp_path / "noise.wav"
    write_wav(wav, (np.random.default_rng(0).normal(size=bundle.report.window_samples) * 3000).astype(np.int16))
    run = run_image(elf, wav)
    assert len(run.outputs) == 1 and np.all(np.isfinite(run.outputs))
    assert 512 < run.stack_high_water < 8 * KIB
    assert run.engine_state == bundle.report.engine.state_bytes
    assert len(run.profile_kinstr) == 9 and sum(run.profile_kinstr) <= run.engine_kinstr[0] + 1
    assert run.frontend_kinstr[0] > 1000
    # the rate firmware's schedule estimate assumes is what this image really executes (within 10%)
    from mcu_toolkit.firmware.speed import engine_instructions_per_s

    per_window = engine_instructions_per_s(bundle.report) * bundle.report.window_seconds
    assert run.engine_kinstr[0] * 1000 == pytest.approx(per_window, rel=0.10)


def test_validate_on_the_device_takes_a_tmpdir_with_commas_and_spaces(bundle, tmp_path):
    """QEMU's -semihosting-config ends a value at a comma: the WAV path's commas are doubled."""
    import numpy as np

    from helpers import run_cli

    clips, tmp = tmp_path / "clips", tmp_path / "tmp, dir"
    clips.mkdir(), tmp.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        write_wav(clips / f"noise{i}.wav", (rng.normal(size=bundle.report.window_samples) * 3000).astype(np.int16))
    r = run_cli("validate", str(bundle.out), "--audio", str(clips), "--device", "qemu-m4", env={"TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stderr
    assert "device vs host engine: 0 of 2 window outputs differ" in r.stdout


def test_make_run_takes_a_wav_path_with_commas_and_spaces(bundle, tmp_path):
    import numpy as np

    build_image(bundle.out, tmp_path)
    wav = tmp_path / "a, b" / "clip, 1.wav"
    wav.parent.mkdir()
    write_wav(wav, (np.random.default_rng(2).normal(size=bundle.report.window_samples) * 3000).astype(np.int16))
    r = subprocess.run(["make", "-s", "run", f"WAV={wav}"], cwd=tmp_path / "qemu-f411", capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"summary: windows 1 samples {WINDOW} " in r.stdout
