"""RISC-V rv32imc, the ESP32-C3's core: the engine compiles clean for it; the qemu-rv32 image links for the C3's
memory and reports its instruction counts, stack and layers, and those counts are what the schedule assumes; the
esp32-c3 project is generated for its target and its w2s/ compiles for rv32imc; missing tools are named.
(Bit-equality with the host on the default and another model: tests/test_cores.py.)"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import cbuild
import engine_build as eb
from mcu_toolkit.cores import CORES
from mcu_toolkit.emit.c_engine import engine_files
from mcu_toolkit.errors import ExitCode, ToolkitError
from mcu_toolkit.firmware.boards import BOARDS, budget
from mcu_toolkit.verify.device import DEVICES, check_tools
from synthetic_engine import SHAPES, synthetic_engine

RV32 = DEVICES["qemu-rv32"]
KIB = 1024
needs_riscv_gcc = pytest.mark.skipif(cbuild.missing(CORES["rv32imc"].compiler) is not None,
                                     reason=str(cbuild.missing(CORES["rv32imc"].compiler)))
needs_rv32 = pytest.mark.skipif(cbuild.missing(*RV32.tools) is not None, reason=str(cbuild.missing(*RV32.tools)))


def test_missing_riscv_tools_are_named_with_their_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolkitError) as err:
        check_tools(RV32)
    assert str(err.value) == ("--device qemu-rv32 needs riscv64-unknown-elf-gcc, make, qemu-system-riscv32 (apt-get "
                              "install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc make)")
    assert err.value.exit_code == ExitCode.TOOLCHAIN


@needs_riscv_gcc
def test_a_missing_c_library_is_named_too():
    """The compiler is there but not its C library (picolibc is a package of its own): named, not a build error."""
    check_tools(RV32)  # here picolibc is installed
    with pytest.raises(ToolkitError, match=r"^--device qemu-rv32 needs no-such-libc\.specs \(apt-get install gcc-ri"):
        check_tools(dataclasses.replace(RV32, specs=("no-such-libc.specs",)))


@needs_riscv_gcc
def test_engine_compiles_clean_for_rv32imc(tmp_path):
    """Every emitted file, -Os, with riscv gcc and -Werror; sizeof(w2s_engine_t) on rv32 is the layout's."""
    e = synthetic_engine("13ch_9mels")
    src = cbuild.write(engine_files(e), tmp_path / "engine")
    state = e.state_bytes(winograd=False)  # no DSP extension: no Winograd rows
    (tmp_path / "size.c").write_text('#include "w2s_engine.h"\n'
                                     f"typedef char check[sizeof(w2s_engine_t) == {state} ? 1 : -1];\n"
                                     "int w2s_size_probe;\n")
    objs = cbuild.objects([*cbuild.c_files(src), tmp_path / "size.c"], tmp_path / "obj", "rv32imc", opt="-Os",
                          flags=eb.FLAGS, includes=[src])
    assert len(objs) == len(cbuild.c_files(src)) + 1


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_block_kernel_equals_the_mirror(shape, tmp_path):
    """rv32's 2 x r block kernel (W2S_ENGINE_BLOCK_2XR, on by default for RISC-V), forced on in a host build: the
    same sums and float bits as the mirror, on saturating extremes and random windows (in QEMU: test_cores.py)."""
    e = synthetic_engine(shape)
    exe = eb.build(e, tmp_path, cbuild.HOST, "-DW2S_ENGINE_BLOCK_2XR=1")
    rng = np.random.default_rng(3)
    windows = eb.extremes(30, e.graph.n_mels) + [rng.integers(-128, 128, (t, e.graph.n_mels), dtype=np.int8)
                                                 for t in (1, 2, 7, 64)]
    got, _ = eb.run_host(exe, windows, eb.columns(e))
    eb.check_against_mirror(e, windows, got)


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    out = subprocess.run([CORES["rv32imc"].size_tool, "-A", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    return {ln.split()[0]: (int(ln.split()[1]), int(ln.split()[2])) for ln in out.splitlines() if ln.startswith(".")}


@pytest.mark.slow
@needs_rv32
def test_image_fits_the_c3_and_its_counts_are_what_the_schedule_assumes(bundle, tmp_path):
    from mcu_toolkit.firmware.speed import engine_instructions_per_s
    from mcu_toolkit.verify.device import build_image, run_image, write_wav

    board = BOARDS["qemu-rv32"]
    elf = build_image(bundle.out, tmp_path, device=RV32)
    sec = _sections(elf)
    flash = sec[".init"][0] + sec[".text"][0] + sec[".data"][0]
    assert 32 * KIB < flash < board.flash
    ram_at = 0x80000000 + board.flash  # rv32.ld: the board's flash, then its SRAM
    in_ram = [(addr, size) for name, (size, addr) in sec.items() if name in (".data", ".bss", ".stack")]
    assert all(ram_at <= addr and addr + size <= ram_at + board.ram for addr, size in in_ram), in_ram
    assert sec[".stack"][0] == 8 * KIB
    wav = tmp_path / "noise.wav"
    write_wav(wav, (np.random.default_rng(0).normal(size=bundle.report.window_samples) * 3000).astype(np.int16))
    run = run_image(elf, wav, device=RV32)
    assert len(run.outputs) == 1 and np.all(np.isfinite(run.outputs))
    assert 512 < run.stack_high_water < 8 * KIB
    assert run.engine_state == budget(board, bundle.report).parts["engine_state"]  # no DSP: no Winograd rows
    assert len(run.profile_kinstr) == 9 and sum(run.profile_kinstr) <= run.engine_kinstr[0] + 1
    # the rates firmware's schedule takes for rv32imc (cores.py) are what this image executes
    rates, w = CORES["rv32imc"].rates, bundle.report.window_seconds
    assert run.engine_kinstr[0] * 1000 == pytest.approx(engine_instructions_per_s(bundle.report, rates) * w,
                                                        rel=0.10)
    assert run.frontend_kinstr[0] * 1000 == pytest.approx(rates.frontend_per_s * w, rel=0.05)


@pytest.mark.slow
@needs_rv32
def test_make_run_takes_a_wav_path_with_commas_and_spaces(bundle, tmp_path):
    from mcu_toolkit.verify.device import build_image, write_wav

    build_image(bundle.out, tmp_path, device=RV32)
    wav = tmp_path / "a, b" / "clip, 1.wav"
    wav.parent.mkdir()
    write_wav(wav, (np.random.default_rng(2).normal(size=bundle.report.window_samples) * 3000).astype(np.int16))
    r = subprocess.run(["make", "-s", "run", f"WAV={wav}"], cwd=tmp_path / "qemu-rv32", capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^summary: windows 1 samples \d+ kinstr frontend \d+ engine \d+", r.stdout, re.M), r.stdout


@pytest.mark.slow
def test_esp32_c3_project_is_generated_for_its_target(bundle, tmp_path):
    """firmware --board esp32-c3: the esp32 template for the C3 (IDF target, 160 MHz, its pins, the capture task
    on its one core), the schedule from the rv32imc rates, and its w2s/ compiled for rv32imc with -Werror."""
    from helpers import run_cli

    r = run_cli("firmware", "--board", "esp32-c3", "--bundle", str(bundle.out), "--out", str(tmp_path / "c3"))
    assert r.returncode == 0, r.stderr
    c3 = tmp_path / "c3"
    text = "".join(p.read_text() for p in c3.rglob("*") if p.is_file() and p.suffix in (".md", ".cc", ".txt", ""))
    assert "{{" not in text and "esp32s3" not in text and "ESP32-S3" not in text
    assert (c3 / "sdkconfig.defaults").read_text().startswith(
        'CONFIG_IDF_TARGET="esp32c3"\nCONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_160=y\n')
    main = (c3 / "main/main.cc").read_text()
    assert "#define PIN_SCK GPIO_NUM_4\n" in main and "portNUM_PROCESSORS - 1" in main
    assert "idf.py set-target esp32c3" in (c3 / "README.md").read_text()
    budget = (c3 / "w2s/w2s_budget.h").read_text()
    assert "#define W2S_RAM_LIMIT 409600u" in budget and "#define W2S_FLASH_LIMIT 4194304u" in budget
    note = re.search(r'^#define W2S_SCHEDULE_NOTE "(.*)"$', budget, re.M).group(1)
    assert re.match(r"schedule: (pipelined|duty-cycled) .*at 160 MHz.*1 cycles per instruction", note), note
    assert int(re.search(r"^#define W2S_ENGINE_CYCLES_EST (\d+)u", budget, re.M).group(1)) > 100e6
    if cbuild.missing(CORES["rv32imc"].compiler) is None:
        w2s = c3 / "w2s"
        (tmp_path / "budget.c").write_text('#include "w2s_budget.h"\nconst char *const w2s_note = '
                                           "W2S_SCHEDULE_NOTE;\n")
        objs = cbuild.objects([*cbuild.c_files(w2s), tmp_path / "budget.c"], tmp_path / "obj", "rv32imc",
                              includes=[w2s])
        assert len(objs) == len(cbuild.c_files(w2s)) + 1
