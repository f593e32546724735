"""firmware: budgets, generated projects, and the portable pipeline bit-exact in QEMU."""

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import mcu_toolkit
from mcu_toolkit import resources
from mcu_toolkit.audio import cut_windows, load_audio
from mcu_toolkit.cores import CORES
from mcu_toolkit.emit import c_engine
from mcu_toolkit.engine.mirror import Engine
from mcu_toolkit.engine.tail import Head
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.firmware.boards import BOARDS, check
from mcu_toolkit.firmware.generate import firmware
from mcu_toolkit.dsp import fixed
from mcu_toolkit.verify import tflm
from mcu_toolkit.verify.deployed import engine_window

import cbuild
from helpers import FRAMES, MELS, ROOT, WINDOW, needs_arm, run_cli

pytestmark = pytest.mark.slow
CPUS = {name: CORES[name].flags for name in ("cortex-m4f", "cortex-m7", "cortex-m33")}  # the boards' FPU cores
needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("arm-none-eabi-g++") is None,
                                 reason="needs cmake and g++-arm-none-eabi")
CLIP = resources.default_eval_dir() / "syn_003_en_f1_s135_p26_g4.flac"  # two 2 s windows
REAL_CLIP = resources.default_eval_dir() / "real_arctic_a0009_6dB.flac"  # a recording: one 2 s window
BOARD_PROJECTS = tuple(BOARDS)  # every board has a w2s project; TFLM ones: see `projects`
TFLM_FILES = ("model_data.h", "model_data.c", "model_ops.h", "w2s_model.h", "w2s_model.cc")
ENGINE_FILES = (*c_engine.SOURCES, *c_engine.MODEL_FILES, "w2s_infer.h", "w2s_infer.c")
RENDERED = (".txt", ".md", ".cc", ".c", ".h", ".yml", "", ".defaults", ".cmake")  # generate.py fills these


def test_budget_refuses_what_does_not_fit(bundle):
    with pytest.raises(ToolkitError, match=r"nucleo-f411re cannot hold .* RAM \d+ KiB \(arena \d+ KiB\) > 128 KiB; "
                                           r"try --window-seconds 0\.\d+"):
        check(BOARDS["nucleo-f411re"], bundle.report, engine="tflm")
    with pytest.raises(ToolkitError, match="or --psram"):
        check(BOARDS["esp32-s3"], bundle.report, engine="tflm")
    # the H7's data RAM is its 512 KiB AXI SRAM (one block the DMA reaches): the 2 s arena (~760 KiB) cannot fit
    with pytest.raises(ToolkitError, match=r"stm32h743 cannot hold .* > 512 KiB; try --window-seconds 1\.\d+"):
        check(BOARDS["stm32h743"], bundle.report, engine="tflm")
    for ok, psram in (("esp32-s3", True), ("host", False)):
        assert check(BOARDS[ok], bundle.report, psram, engine="tflm").fits
    for ok in BOARD_PROJECTS:  # the w2s engine (the default) needs no arena: the 2 s window fits every board
        assert check(BOARDS[ok], bundle.report).fits, ok


def test_cli_refusal_is_one_line_and_writes_nothing(bundle, tmp_path):
    r = run_cli("firmware", "--board", "nucleo-f411re", "--engine", "tflm", "--bundle", str(bundle.out),
                "--out", str(tmp_path / "fw"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "128 KiB" in r.stderr
    assert not (tmp_path / "fw").exists()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 0.2 s convert: TFLM's arena fits the F411 and the H7."""
    from mcu_toolkit.convert import convert

    return convert(out=tmp_path_factory.mktemp("small") / "b", window_seconds=0.2, progress=False)


def test_a_shorter_window_fits_the_f411(small, tmp_path):
    out, b = firmware("nucleo-f411re", tmp_path / "fw", bundle=small.out, engine="tflm")  # TFLM's arena must fit
    assert b.fits and b.ram_used <= 128 * 1024
    assert "#define W2S_RAM_LIMIT 131072u" in (out / "w2s" / "w2s_budget.h").read_text()
    assert min(b.ccc.values()) >= 0.95, b.ccc  # the F411's window must still give a usable model


def test_firmware_warns_about_a_bundle_with_a_low_ccc(bundle, tmp_path):
    weak = tmp_path / "weak"
    shutil.copytree(bundle.out, weak)
    report = json.loads((weak / "report.json").read_text())
    report["ccc"]["dominance"] = 0.31
    (weak / "report.json").write_text(json.dumps(report))
    r = run_cli("firmware", "--board", "host", "--bundle", str(weak), "--out", str(tmp_path / "fw"))
    assert r.returncode == 0 and (tmp_path / "fw" / "w2s").is_dir()
    assert "warning:" in r.stderr and "dominance CCC 0.310" in r.stderr
    r = run_cli("firmware", "--board", "host", "--bundle", str(bundle.out), "--out", str(tmp_path / "fw2"))
    assert r.returncode == 0 and "tracks the float model poorly" not in r.stderr


def test_low_ccc_warnings_name_the_path_they_are_about(tmp_path):
    """An untrained model with far-off BatchNorm statistics: the w2s engine tracks float (CCC > 0.99), TFLM's
    int8 does not (README: CCC 0.13 / -0.01 / 0.42). convert warns once for TFLM only; firmware warns for a
    TFLM project and not for a w2s one (it used to read the w2s figures for both)."""
    import sys

    from mcu_toolkit.model import save_checkpoint

    sys.path.insert(0, str(ROOT / "scripts"))
    from make_variant_checkpoints import random_bn  # the benchmark's own untrained variant

    save_checkpoint(random_bn(13, 9), tmp_path / "ckpt")
    r = run_cli("convert", str(tmp_path / "ckpt"), "--out", str(tmp_path / "b"), "--quiet")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert min(report["ccc"].values()) >= 0.9 and min(report["tflm"]["ccc"].values()) < 0.9, report
    warnings = [line for line in r.stderr.splitlines() if "tracks the float model poorly" in line]
    worst = min(report["tflm"]["ccc"], key=report["tflm"]["ccc"].get)
    assert warnings == [f"warning: this bundle's int8 model tracks the float model poorly ({worst} CCC "
                        f"{report['tflm']['ccc'][worst]:.3f} on held-out audio, TFLM path)"], r.stderr
    r = run_cli("firmware", "--board", "host", "--engine", "tflm", "--bundle", str(tmp_path / "b"),
                "--out", str(tmp_path / "fw_tflm"))
    assert r.returncode == 0 and f"poorly ({worst} CCC" in r.stderr and "TFLM path)" in r.stderr, r.stderr
    r = run_cli("firmware", "--board", "host", "--bundle", str(tmp_path / "b"), "--out", str(tmp_path / "fw_w2s"))
    assert r.returncode == 0 and "poorly" not in r.stderr, r.stderr


@pytest.fixture(scope="module")
def projects(bundle, small, tmp_path_factory):
    """(board, engine): every board with the default engine (w2s), and the TFLM projects (the H7's from the 0.2 s
    bundle: a 2 s arena does not fit its 512 KiB AXI SRAM)."""
    root = tmp_path_factory.mktemp("fw")
    out = {(b, "w2s"): firmware(b, root / b, bundle=bundle.out)[0] for b in BOARD_PROJECTS}
    for b in ("host", "stm32h743", "esp32-s3"):
        out[b, "tflm"] = firmware(b, root / (b + "-tflm"), bundle=(small if b == "stm32h743" else bundle).out,
                                  psram=bool(BOARDS[b].psram), engine="tflm")[0]
    return out


def _rendered_text(board, project):
    """The board's template files as generated (not what a build left there)."""
    template = resources.firmware_templates_root() / BOARDS[board].template
    return "".join((project / p.relative_to(template)).read_text() for p in sorted(template.rglob("*"))
                   if p.is_file() and p.suffix in RENDERED)


def test_generated_projects_have_what_they_promise(projects):
    h7 = projects["stm32h743", "tflm"]
    for f in ("CMakeLists.txt", "cmake/arm-none-eabi.cmake", "w2s/w2s_main.c", "w2s/w2s_app.c", "w2s/board.h",
              "src/board_stm32.c", "README.md", "w2s/w2s_budget.h", "w2s/model_data.c", "w2s/w2s_pipeline.c",
              "w2s/w2s_status.h", "w2s/w2s_model.h", "w2s/w2s_model.cc"):
        assert (h7 / f).is_file(), f
    assert "#define W2S_USE_TFLM 1" in (h7 / "w2s/w2s_budget.h").read_text()
    assert not any((h7 / "w2s" / f).exists() for f in ENGINE_FILES)
    text = "".join(p.read_text() for p in h7.rglob("*") if p.is_file() and p.suffix in (".txt", ".md", ".cc", ".c"))
    assert "{{" not in text
    assert "DWT->CYCCNT" in (h7 / "src/board_stm32.c").read_text()
    assert 'set(W2S_ENGINE "tflm")' in (h7 / "CMakeLists.txt").read_text()
    esp = projects["esp32-s3", "tflm"]
    assert "espressif/esp-tflite-micro" in (esp / "w2s_tflm/idf_component.yml").read_text()
    assert 'if("tflm" STREQUAL "tflm")' in (esp / "CMakeLists.txt").read_text()  # adds w2s_tflm/ to the build
    esp_main = (esp / "main/main.cc").read_text()
    assert "esp_cpu_get_cycle_count" in esp_main
    # every microphone board: its DMA -> ring buffer; w2s_app: ring -> pipeline -> model; the ring keeps filling
    # during Invoke
    assert "w2s_ring_write" in esp_main and "xTaskCreatePinnedToCore" in esp_main and "w2s_app_poll" in esp_main
    assert "w2s_ring_write" in (h7 / "src/board_stm32.c").read_text() and not (h7 / "src/main.cc").exists()
    assert "256 ms" in (esp / "README.md").read_text() and "w2s_app_poll" in (h7 / "w2s/w2s_main.c").read_text()
    assert not (esp / "w2s/w2s_main.c").exists()  # ESP-IDF's app_main is the ESP32-S3's (main/main.cc)
    assert "{{" not in "".join(p.read_text() for p in esp.rglob("*") if p.is_file() and p.suffix in (".md", ".cc"))
    assert "CONFIG_SPIRAM=y" in (esp / "sdkconfig.defaults").read_text()
    assert "| SD | PC2 (I2S2_SDI) |" in (h7 / "README.md").read_text()  # the H7 receives on SDI (MISO)
    assert "| SD | PC3 (I2S2_SD) |" in (projects["nucleo-f411re", "w2s"] / "README.md").read_text()


@pytest.mark.parametrize("board", BOARD_PROJECTS)
def test_default_engine_projects_need_no_tflm(projects, board):
    project = projects[board, "w2s"]
    w2s = project / "w2s"
    assert "#define W2S_USE_TFLM 0" in (w2s / "w2s_budget.h").read_text()
    assert [f for f in TFLM_FILES if (w2s / f).exists()] == []
    assert [f for f in ENGINE_FILES if not (w2s / f).is_file()] == []
    text = _rendered_text(board, project)
    template = BOARDS[board].template
    emulated = template in ("qemu-f411", "qemu-rv32", "qemu-m55")  # w2s only, as their Makefiles build it
    assert "{{" not in text and ("Engine: w2s" in (project / "README.md").read_text()) == (not emulated)
    if template == "esp32":
        assert "esp-tflite-micro" not in (project / "main/idf_component.yml").read_text()
        assert 'if("w2s" STREQUAL "tflm")' in (project / "CMakeLists.txt").read_text()  # w2s_tflm/ stays out
        assert "-ffp-contract=off" in (project / "main/CMakeLists.txt").read_text()
    elif template == "host":
        assert "ENGINE = w2s" in (project / "Makefile").read_text()
    elif emulated:
        assert "-ffp-contract=off" in (project / "Makefile").read_text()
    elif template == "stm32":
        assert 'set(W2S_ENGINE "w2s")' in (project / "CMakeLists.txt").read_text()
    else:  # nrf52, rp2350: w2s only, every w2s/*.c built with the float tail's flag
        cmake = (project / "CMakeLists.txt").read_text()
        assert "w2s/*.c" in cmake and "-ffp-contract=off" in cmake and "tflm" not in cmake.lower()
    if "board.h" in BOARDS[board].common:  # the schedule's verdict, as the project prints it at start-up
        note = re.search(r'^#define W2S_SCHEDULE_NOTE "(.*)"$', (w2s / "w2s_budget.h").read_text(), re.M).group(1)
        assert note.replace("\\?", "?") in (project / "README.md").read_text()


@needs_arm
@pytest.mark.parametrize("engine", ["w2s", "tflm"])
@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_portable_c_compiles_for_cortex_m(projects, cpu, engine, tmp_path):
    w2s = projects["stm32h743", engine] / "w2s"
    (tmp_path / "budget.c").write_text(BUDGET_C)
    cbuild.objects([*cbuild.c_files(w2s), tmp_path / "budget.c"], tmp_path, cpu, includes=[w2s])


BUDGET_C = """#include "w2s_budget.h"
const char *const w2s_note = W2S_SCHEDULE_NOTE;
const unsigned long w2s_schedule[2] = {W2S_ENGINE_CYCLES_EST, W2S_SCHEDULE_MARGIN_Q8};
"""


@pytest.mark.parametrize("board", [b for b in BOARD_PROJECTS if CORES[BOARDS[b].core].flags])
def test_each_boards_portable_c_compiles_with_its_cores_flags(projects, board, tmp_path):
    """Everything in a board's w2s/ (its main, the app, the engine, the budget header's schedule) with -Wall
    -Wextra -Werror for the board's own core, with its own compiler (arm-none-eabi-gcc, riscv64-unknown-elf-gcc);
    the board's own C needs its SDK (HAL, nrfx, pico-sdk) and is not built here."""
    if (why := cbuild.missing(CORES[BOARDS[board].core].compiler)) is not None:
        pytest.skip(why)
    w2s = projects[board, "w2s"] / "w2s"
    (tmp_path / "budget.c").write_text(BUDGET_C)
    objs = cbuild.objects([*cbuild.c_files(w2s), tmp_path / "budget.c"], tmp_path, BOARDS[board].core,
                          includes=[w2s])
    assert len(objs) == len(cbuild.c_files(w2s)) + 1


H7_CUBE = ("Drivers/CMSIS/Device/ST/STM32H7xx/Source/Templates/gcc/startup_stm32h743xx.s",
           "Drivers/CMSIS/Device/ST/STM32H7xx/Source/Templates/system_stm32h7xx.c",
           "Drivers/STM32H7xx_HAL_Driver/Src/stm32h7xx_hal.c", "Drivers/STM32H7xx_HAL_Driver/Src/stm32h7xx_hal_i2s.c",
           "Drivers/STM32H7xx_HAL_Driver/Src/stm32h7xx_hal_msp_template.c")  # empty stand-ins: names only


@needs_cmake
def test_stm32_project_compiles_without_tflm(projects, tmp_path):
    """The w2s project's CMake needs no TFLM_DIR; main.cc and w2s/ compile with its flags (board_stm32.c needs
    the HAL, so it and the link are left out). It compiles the STM32Cube package's HAL sources, start-up file and
    SystemInit and the user's cubemx/ files (it compiled no HAL and linked a script it did not ship), and
    refuses to configure without them. The tflm project still stops without TFLM_DIR."""
    def configure(project, build, cube):
        return subprocess.run(["cmake", "-S", str(project), "-B", str(build), "-G", "Unix Makefiles",
                               f"-DCMAKE_TOOLCHAIN_FILE={project / 'cmake/arm-none-eabi.cmake'}",
                               f"-DSTM32_CUBE_DIR={cube}", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"],
                              capture_output=True, text=True)

    project = tmp_path / "h7"
    shutil.copytree(projects["stm32h743", "w2s"], project)
    (tmp_path / "empty").mkdir()
    r = configure(project, tmp_path / "build0", tmp_path / "empty")
    assert r.returncode != 0 and "startup_stm32h743xx.s" in r.stderr, r.stderr
    for f in H7_CUBE:
        (tmp_path / "cube" / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "cube" / f).write_text("")
    r = configure(project, tmp_path / "build1", tmp_path / "cube")
    assert r.returncode != 0 and "cubemx/ needs" in r.stderr, r.stderr
    (project / "cubemx" / "stm32h7xx_hal_conf.h").write_text("")
    (project / "cubemx" / "clock.c").write_text("")
    r = configure(project, tmp_path / "build", tmp_path / "cube")
    assert r.returncode == 0, r.stdout + r.stderr
    commands = json.loads((tmp_path / "build" / "compile_commands.json").read_text())
    compiled = sorted(Path(c["file"]).name for c in commands)
    assert {"w2s_main.c", "w2s_app.c", "board_stm32.c", "w2s_infer.c", "w2s_engine.c"} <= set(compiled), compiled
    assert {"stm32h7xx_hal.c", "stm32h7xx_hal_i2s.c", "system_stm32h7xx.c", "startup_stm32h743xx.s",
            "clock.c"} <= set(compiled) and "stm32h7xx_hal_msp_template.c" not in compiled, compiled
    assert not any(n.startswith(("model_data", "w2s_model")) for n in compiled), compiled
    link = (tmp_path / "build" / "CMakeFiles" / "w2s_stm32h743.elf.dir" / "link.txt").read_text()
    assert f"-T{project}/ld/STM32H743ZITx_FLASH.ld" in link and (project / "ld/STM32H743ZITx_FLASH.ld").is_file()
    for c in commands:
        if Path(c["file"]).name == "board_stm32.c" or not Path(c["file"]).is_relative_to(project) or \
                Path(c["file"]).parent.name == "cubemx":
            continue
        assert "-ffp-contract=off" in c["command"] and "tflite-micro" not in c["command"]
        r = subprocess.run([*shlex.split(c["command"]), "-Werror"], cwd=c["directory"], capture_output=True,
                           text=True)
        assert r.returncode == 0, f"{Path(c['file']).name}: {r.stderr}"
    r = configure(projects["stm32h743", "tflm"], tmp_path / "build_tflm", tmp_path / "cube")
    assert r.returncode != 0 and "TFLM_DIR" in r.stderr, r.stderr


def _flat(cmake_message: str) -> str:
    """CMake's message as one line: it wraps long ones and puts two spaces after a full stop."""
    return " ".join(cmake_message.split())


NRFX_FILES = ("drivers/src/nrfx_pdm.c", "drivers/src/nrfx_uarte.c", "mdk/system_nrf52840.c",
              "mdk/gcc_startup_nrf52840.S")  # empty stand-ins: names only


@needs_cmake
def test_nrf52_project_configures_and_compiles_its_own_sources(projects, tmp_path):
    """The nrf52840 CMake project refuses to configure without nrfx and CMSIS (or with folders that are not
    them), then compiles w2s/, its board file and nrfx's PDM and UARTE drivers, start-up and SystemInit, and links
    its own script; w2s/ compiles with its flags and -Werror (the board file needs nrfx)."""
    def configure(build, *defs):
        return subprocess.run(["cmake", "-S", str(project), "-B", str(tmp_path / build), "-G", "Unix Makefiles",
                               f"-DCMAKE_TOOLCHAIN_FILE={project / 'cmake/arm-none-eabi.cmake'}",
                               "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", *defs], capture_output=True, text=True)

    project = tmp_path / "nrf"
    shutil.copytree(projects["nrf52840", "w2s"], project)
    r = configure("b0")
    assert r.returncode != 0 and "set -DNRFX_DIR=... and -DCMSIS_DIR=..." in _flat(r.stderr), r.stderr
    (tmp_path / "nrfx").mkdir(), (tmp_path / "cmsis").mkdir()
    r = configure("b1", f"-DNRFX_DIR={tmp_path / 'nrfx'}", f"-DCMSIS_DIR={tmp_path / 'cmsis'}")
    assert r.returncode != 0 and "nrfx_pdm.c is missing" in _flat(r.stderr), r.stderr
    for f in (*(f"nrfx/{n}" for n in NRFX_FILES), "cmsis/CMSIS/Core/Include/core_cm4.h"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
    r = configure("build", f"-DNRFX_DIR={tmp_path / 'nrfx'}", f"-DCMSIS_DIR={tmp_path / 'cmsis'}")
    assert r.returncode == 0, r.stdout + r.stderr
    commands = json.loads((tmp_path / "build" / "compile_commands.json").read_text())
    compiled = {Path(c["file"]).name for c in commands}
    assert {"w2s_main.c", "w2s_app.c", "board_nrf52.c", "w2s_engine.c", "nrfx_pdm.c", "nrfx_uarte.c",
            "system_nrf52840.c", "gcc_startup_nrf52840.S"} <= compiled, compiled
    link = (tmp_path / "build" / "CMakeFiles" / "w2s_nrf52840.elf.dir" / "link.txt").read_text()
    assert f"-T{project}/ld/nrf52840.ld" in link
    for c in commands:
        if Path(c["file"]).parent != project / "w2s":
            continue
        assert "-ffp-contract=off" in c["command"] and "-mcpu=cortex-m4" in c["command"]
        r = subprocess.run([*shlex.split(c["command"]), "-Werror"], cwd=c["directory"], capture_output=True,
                           text=True)
        assert r.returncode == 0, f"{Path(c['file']).name}: {r.stderr}"


@needs_cmake
def test_rp2350_project_asks_for_the_pico_sdk(projects, tmp_path):
    """Without the pico-sdk the rp2350 project stops at its import, before project(), with one clear message;
    a folder that is not the SDK is named."""
    project = projects["rp2350", "w2s"]
    r = subprocess.run(["cmake", "-S", str(project), "-B", str(tmp_path / "b0")], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "PICO_SDK_PATH"})
    assert r.returncode != 0 and "set -DPICO_SDK_PATH=... or the PICO_SDK_PATH environment variable" in _flat(r.stderr)
    r = subprocess.run(["cmake", "-S", str(project), "-B", str(tmp_path / "b1"), f"-DPICO_SDK_PATH={tmp_path}"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "does not hold the pico-sdk" in _flat(r.stderr), r.stderr
    cmake = (project / "CMakeLists.txt").read_text()
    assert cmake.index("include(pico_sdk_import.cmake)") < cmake.index("project(") < cmake.index("pico_sdk_init()")
    assert "pico_generate_pio_header" in cmake and "src/i2s_mic.pio" in cmake


def _h7_branch(c_text: str) -> str:
    """The H7 side of board_stm32.c's `#if defined(STM32H743xx)` blocks."""
    return "".join(re.findall(r"#if defined\(STM32H743xx\)\n(.*?)(?:#else|#endif)", c_text, re.S))


@needs_arm
def test_h7_board_layer_is_the_h7s(projects, tmp_path):
    """By reading, the H7 board code was the F411's. Its structural facts now: the DMA buffer in .dma_buffer,
    32-byte aligned, in 32-bit words read as right-aligned 24-bit samples (the F4 reads the high half-word of a
    pair), D-cache clean/invalidate around the DMA, caches on; the shipped linker script puts .dma_buffer, .data
    and .bss in AXI SRAM (a linked Cortex-M7 stub shows where), never in the DTCM the DMA cannot reach."""
    project = projects["stm32h743", "w2s"]
    h7 = _h7_branch((project / "src/board_stm32.c").read_text())
    assert 'static uint32_t dma_buf[DMA_WORDS] __attribute__((section(".dma_buffer"), aligned(32)));' in h7
    assert "(int16_t)(uint16_t)(words[2u * i] >> 8)" in h7 and "words[4u * i]" not in h7
    assert "SCB_InvalidateDCache_by_Addr" in h7 and "SCB_CleanInvalidateDCache_by_Addr" in h7
    assert "SCB_EnableDCache();" in h7 and "DMA_MDATAALIGN_WORD" in h7
    assert sorted(p.name for p in (project / "ld").iterdir()) == ["STM32H743ZITx_FLASH.ld"]
    for board in ("nucleo-f411re", "nucleo-f446re"):  # each part keeps its own script only
        want = BOARDS[board].template_values["LINKER_SCRIPT"]
        assert sorted(p.name for p in (projects[board, "w2s"] / "ld").iterdir()) == [want], board

    stub = tmp_path / "stub.c"
    stub.write_text("#include <stdint.h>\n"
                    "uint32_t dma_buf[1024] __attribute__((section(\".dma_buffer\"), aligned(32)));\n"
                    "uint8_t big_bss[300000];\nint data_word = 7;\nextern uint32_t _estack;\n"
                    "void Reset_Handler(void) { big_bss[0] = (uint8_t)dma_buf[0] + (uint8_t)data_word; for (;;) {} }\n"
                    "__attribute__((section(\".isr_vector\"), used)) const void *vectors[2] = "
                    "{ &_estack, (const void *)Reset_Handler };\n")
    elf = cbuild.build([stub], tmp_path / "stub.elf", "cortex-m7", ld_script=project / "ld/STM32H743ZITx_FLASH.ld")
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
    at = {name: int(addr, 16) for addr, _, name in (line.split() for line in nm.splitlines() if len(line.split()) == 3)}
    axi = range(0x24000000, 0x24000000 + 512 * 1024)
    assert at["dma_buf"] in axi and at["dma_buf"] % 32 == 0
    assert at["big_bss"] in axi and at["data_word"] in axi
    assert at["_estack"] == 0x20000000 + 128 * 1024 and at["vectors"] == 0x08000000


def test_host_template_builds_and_matches_python(projects, bundle, tmp_path):
    """The tflm host project without TFLM_DIR: the front end only, its int8 windows bit-exact with Python."""
    host = projects["host", "tflm"]
    r = subprocess.run(["make", "-C", str(host)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "model_data.c" in r.stdout and "w2s_engine" not in r.stdout
    pcm, _ = sf.read(CLIP, dtype="int16")
    sf.write(tmp_path / "clip.wav", pcm, 16000, subtype="PCM_16")
    r = subprocess.run([str(host / "w2s_host"), str(tmp_path / "clip.wav"), str(tmp_path / "f.s8")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "2 window(s)" in r.stdout, r.stdout + r.stderr
    got = np.fromfile(tmp_path / "f.s8", np.int8).reshape(-1, FRAMES, MELS)
    assert np.array_equal(got, _python_windows(bundle, pcm))


def _milli(x: np.float32) -> str:
    """w2s_format_adv_f32's thousandths: the float32 output times 1000 in double, rounded half away from zero."""
    m = float(np.float32(x)) * 1000.0
    v = int(m - 0.5 if m < 0 else m + 0.5)
    return f"{'-' if v < 0 else ''}{abs(v) // 1000}.{abs(v) % 1000:03d}"


def test_host_engine_matches_the_mirror_bit_for_bit(projects, bundle, tmp_path):
    """The default host project: make, then each window's three float32 outputs == the numpy mirror's, bit for bit."""
    host = projects["host", "w2s"]
    r = subprocess.run(["make", "-C", str(host)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "-ffp-contract=off" in r.stdout and "w2s_infer.c" in r.stdout and "model_data" not in r.stdout
    engine = Engine.from_tflite((bundle.out / "model_int8.tflite").read_bytes(),
                                Head.from_json((bundle.out / "engine_head.json").read_text(), "head"))
    total = 0
    for clip in (CLIP, REAL_CLIP):
        pcm, rate = sf.read(clip, dtype="int16")
        assert rate == 16000
        wav = tmp_path / (clip.stem + ".wav")
        sf.write(wav, pcm, 16000, subtype="PCM_16")
        r = subprocess.run([str(host / "w2s_host"), str(wav), str(tmp_path / "f.s8")], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        windows, _ = cut_windows(load_audio(wav), bundle.report.window_samples)
        want = [engine_window(engine, w, "fixed", bundle.report.n_mels) for w in windows]
        got = [tuple(int(h, 16) for h in m.groups())
               for m in re.finditer(r"^  bits ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})$", r.stdout, re.M)]
        assert got == [tuple(int(b) for b in w.view(np.uint32)) for w in want], (clip.name, r.stdout)
        lines = re.findall(r"^window (\d+): A=(\S+) D=(\S+) V=(\S+) t=\d+us$", r.stdout, re.M)
        assert lines == [(str(i + 1), *map(_milli, w)) for i, w in enumerate(want)], (clip.name, r.stdout)
        if clip == CLIP:  # FEATURES.s8: the rows the engine received, the same as TFLM's input
            got_s8 = np.fromfile(tmp_path / "f.s8", np.int8).reshape(-1, FRAMES, MELS)
            assert np.array_equal(got_s8, _python_windows(bundle, pcm))
        total += len(want)
    assert total == 3


# board.h on the host: the "DMA" is a thread that writes a raw PCM file into the ring in 512-sample blocks as
# room frees up (nothing is dropped); board_print prints, and stops the program after the file's last window.
HOST_BOARD_C = """#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "model_config.h"
#include "w2s_budget.h"

static int16_t g_pcm[1u << 20];
static uint32_t g_samples, g_windows, g_cycles;
static w2s_ring_t *g_ring;
static pthread_t g_dma;

static void *dma(void *unused)
{
    (void)unused;
    for (uint32_t off = 0, n; off < g_samples; off += n) {
        n = g_samples - off < 512u ? g_samples - off : 512u;
        while (W2S_RING_SAMPLES - w2s_ring_count(g_ring) < n) {
            sched_yield();
        }
        (void)w2s_ring_write(g_ring, g_pcm + off, n);
    }
    return NULL;
}

w2s_status_t board_init(void)
{
    FILE *f = fopen(getenv("W2S_PCM"), "rb");
    if (f == NULL) {
        return W2S_ERR_OPEN;
    }
    g_samples = (uint32_t)fread(g_pcm, sizeof g_pcm[0], sizeof g_pcm / sizeof g_pcm[0], f);
    g_windows = g_samples / W2S_WINDOW_SAMPLES;
    fclose(f);
    return g_windows > 0u ? W2S_OK : W2S_ERR_SIZE;
}

w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    g_ring = ring;
    return pthread_create(&g_dma, NULL, dma, NULL) == 0 ? W2S_OK : W2S_ERR_DEVICE;
}

uint32_t board_cycles(void) { return g_cycles += 1000u; }
uint32_t board_cpu_hz(void) { return 4000000000u; } /* fast enough for every window: the DMA thread never drops */

void board_print(const char *line)
{
    puts(line);
    fflush(stdout);
    if (strncmp(line, "schedule:", 9) == 0) {
        return; /* the start-up line */
    }
    if (line[0] != 'A' || --g_windows == 0u) {
        exit(line[0] == 'A' ? 0 : 1);
    }
}
"""


def test_bare_metal_main_matches_the_mirror_bit_for_bit(projects, bundle, tmp_path):
    """The main every bare-metal board runs (w2s/w2s_main.c, w2s_app.c) on the host, the microphone a thread
    writing a clip into the ring: each window's line is the mirror's A/D/V, and the model step's time."""
    w2s = projects["stm32h743", "w2s"] / "w2s"
    (tmp_path / "board_host.c").write_text(HOST_BOARD_C)
    exe = cbuild.build([*cbuild.c_files(w2s), tmp_path / "board_host.c"], tmp_path / "main",
                       flags=["-ffp-contract=off", "-pthread"], includes=[w2s])
    engine = Engine.from_tflite((bundle.out / "model_int8.tflite").read_bytes(),
                                Head.from_json((bundle.out / "engine_head.json").read_text(), "head"))
    for clip in (CLIP, REAL_CLIP):
        pcm, _ = sf.read(clip, dtype="int16")
        pcm.tofile(tmp_path / "in.s16")
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120,
                           env={"W2S_PCM": str(tmp_path / "in.s16")})
        assert r.returncode == 0, r.stdout + r.stderr
        sf.write(tmp_path / "clip.wav", pcm, 16000, subtype="PCM_16")
        windows, _ = cut_windows(load_audio(tmp_path / "clip.wav"), bundle.report.window_samples)
        want = [engine_window(engine, w, "fixed", bundle.report.n_mels) for w in windows]
        lines = r.stdout.splitlines()
        assert lines[0].startswith("schedule: ")
        got = [re.fullmatch(r"(.*) t=(\d+)us latency=(\d+)ms", line).groups() for line in lines[1:]]
        assert [a for a, _, _ in got] == ["A={} D={} V={}".format(*map(_milli, w)) for w in want], r.stdout
        # the engine's time, summed over the steps the pipelined schedule spread the window over
        assert all(int(t) >= 1 for _, t, _ in got), r.stdout


def _python_windows(bundle, pcm):
    q = fixed.InputQuant.from_scale(bundle.report.input_quant["scale"], bundle.report.input_quant["zero_point"])
    return np.stack([fixed.quantize_s8(fixed.window_logmel_q7(pcm[i:i + WINDOW]), q)
                     for i in range(0, len(pcm) - WINDOW + 1, WINDOW)])


@needs_arm
def test_pipeline_on_cortex_m4_in_qemu_matches_python_and_validate(projects, bundle, tmp_path):
    w2s = projects["host", "tflm"] / "w2s"  # the portable C every board shares, from the 2 s bundle
    elf = cbuild.build([cbuild.C_DIR / "pipeline_harness.c", *cbuild.c_files(w2s)], tmp_path / "pipe.elf",
                       cbuild.QEMU_CORE, includes=[w2s])
    pcm, _ = sf.read(CLIP, dtype="int16")
    pcm.tofile(tmp_path / "in.s16")

    dev = tflm.TflmModel((bundle.out / "model_int8.tflite").read_bytes(), bundle.report.arena_bytes)
    want = _python_windows(bundle, pcm)
    outs = [dev.run_int8(w.reshape(1, FRAMES, MELS, 1)) for w in want]
    first = [str(int(v)) for v in outs[0]]
    args = [str(tmp_path / "in.s16"), str(tmp_path / "out.s8"), "512", "97", *first]
    r = cbuild.run_qemu(elf, args)
    assert "windows 2 dropped 0" in r.stdout
    got = np.fromfile(tmp_path / "out.s8", np.int8).reshape(-1, FRAMES, MELS)
    assert np.array_equal(got, want)  # ring buffer + pipeline on the M4 == Python, bit for bit

    # The model step on those features (TFLM, as the device runs it) gives what validate reports.
    adv = np.mean([(o.astype(np.float32) - dev.out_zero) * dev.out_scale for o in outs], axis=0)
    res = mcu_toolkit.validate(bundle.out, _single(tmp_path), engine="tflm")  # validate's default is w2s
    np.testing.assert_allclose(res.deployed_out[0], adv, rtol=0, atol=1e-6)

    # and the UART line the firmware prints for the first window
    milli = [((int(q) - dev.out_zero) * round(dev.out_scale * 1000 * 65536) + 32768) >> 16 for q in outs[0]]
    expect = "A={} D={} V={}".format(*[f"{'-' if m < 0 else ''}{abs(m) // 1000}.{abs(m) % 1000:03d}" for m in milli])
    assert re.search(re.escape(expect) + r" t=0us", r.stdout), (expect, r.stdout)


def _single(tmp_path):
    d = tmp_path / "one_clip"
    d.mkdir(exist_ok=True)
    shutil.copy(CLIP, d)
    shutil.copy(CLIP, d / ("copy_" + CLIP.name))  # CCC needs two files; the outputs per file are what we compare
    return d


def _budget_defines(project: Path) -> dict:
    return dict(re.findall(r"^#define (W2S_\w+) (.*)$", (project / "w2s" / "w2s_budget.h").read_text(), re.M))


def test_firmware_prints_the_schedule_and_refuses_no_slow_board(bundle, tmp_path):
    """The F411 at 100 MHz cannot run every window (it was refused): it gets the duty-cycled schedule, stated in
    one line; the H743 is pipelined; the ESP32-S3 has no figure. The line is the project's W2S_SCHEDULE_NOTE,
    with the cycles and the margin w2s_app.c plans with. The old --allow-dropped-audio is accepted with a note."""
    seen = {}
    for board in ("nucleo-f411re", "stm32h743", "esp32-s3"):
        r = run_cli("firmware", "--board", board, "--bundle", str(bundle.out), "--out", str(tmp_path / board))
        assert r.returncode == 0 and r.stderr == "", r.stderr
        line = r.stdout.splitlines()[1]
        d = _budget_defines(tmp_path / board)
        assert d["W2S_SCHEDULE_NOTE"] == f'"{line}"' and d["W2S_SCHEDULE_MARGIN_Q8"] == "224u", d
        seen[board] = line, int(d["W2S_ENGINE_CYCLES_EST"].rstrip("u"))
    f411, h7, esp = seen["nucleo-f411re"], seen["stm32h743"], seen["esp32-s3"]
    assert re.fullmatch(r"schedule: duty-cycled at 100 MHz: one 2 s window in every \d\.\d s: \d\d% of the audio; "
                        r"each answer \d\.\d s after its window ends \(estimated: 1\.32 cycles per instruction, "
                        r"margin 1/8\)", f411[0]), f411
    assert h7[0].startswith("schedule: pipelined: CPU load 0.") and "at 480 MHz" in h7[0], h7
    assert f411[1:] == h7[1:] and f411[1] > 100e6  # the same core's figures
    assert esp == ("schedule: not known: no cycle figure for Xtensa LX7 here; the project prints each window's "
                   "cycles and latency", 0)
    r = run_cli("firmware", "--board", "nucleo-f411re", "--bundle", str(bundle.out), "--out", str(tmp_path / "old"),
                "--allow-dropped-audio")
    assert r.returncode == 0 and r.stdout.splitlines()[1] == f411[0]
    assert r.stderr.splitlines() == ["note: --allow-dropped-audio is no longer needed: a board too slow for every "
                                     "window gets a duty-cycled schedule (whole windows, clean gaps) instead of a "
                                     "refusal; ignored"], r.stderr


def at_window(report, seconds: float):
    """The report scaled to another window, as largest_window_that_fits estimates: what grows with the window
    (MACs, int8 outputs, window store, arena) per frame."""
    import dataclasses

    from mcu_toolkit import spec

    frames = spec.frames(round(seconds * spec.SAMPLE_RATE))
    ratio = frames / report.frames_per_window
    scale = lambda x, keys: dataclasses.replace(  # noqa: E731
        x, **{k: round(getattr(x, k) * ratio) for k in keys if getattr(x, k) is not None})
    return dataclasses.replace(
        report, window_seconds=seconds, frames_per_window=frames, macs=round(report.macs * ratio),
        arena_bytes=round(report.arena_bytes * ratio),
        engine=scale(report.engine, ("int8_outputs_per_window", "frontend_store_bytes")),
        frontend=scale(report.frontend, ("window_buffer_bytes",)))


def test_budget_advice_names_a_window_that_fits(bundle):
    """A 10 s bundle on the F411 was told that no window passes the real-time check; speed no longer refuses, so
    it is told to convert for a window that fits, and every advised window fits at that window."""
    long = at_window(bundle.report, 10.0)
    with pytest.raises(ToolkitError, match=r"nucleo-f411re cannot hold .*; convert for a shorter window: mcu-toolkit "
                                           r"convert --window-seconds \d\.\d+ --out DIR"):
        check(BOARDS["nucleo-f411re"], long, bundle="B10")
    advised = 0
    for name, board in BOARDS.items():
        for engine in board.engines:
            try:
                check(board, long, bundle="B10", engine=engine)
                continue
            except ToolkitError as err:
                m = re.search(r"--window-seconds ([\d.]+)", str(err))
            if m is not None:
                assert check(board, at_window(bundle.report, float(m.group(1))), engine=engine).fits, (name, engine)
                advised += 1
    assert advised >= 4


def test_firmware_converts_for_a_slow_board_instead_of_refusing_it(bundle, tmp_path, monkeypatch):
    """Without --bundle, firmware converts the embedded model first; the F411 used to be refused before that
    convert (it cannot run every window). Now it is converted (here: the session's bundle stands in for the
    convert) and generated, duty-cycled."""
    import mcu_toolkit.convert

    calls = []

    def fake_convert(out, window_seconds, progress):
        calls.append(window_seconds)
        return bundle

    monkeypatch.setattr(mcu_toolkit.convert, "convert", fake_convert)
    out, b = firmware("nucleo-f411re", tmp_path / "fw")
    assert calls == [2.0] and (out / "w2s" / "w2s_budget.h").is_file()
    assert b.verdict.schedule is not None and not b.verdict.schedule.pipelined
    assert 0.5 < b.verdict.schedule.coverage < 1.0


def test_schedule_estimate_follows_the_measured_rate(bundle):
    from mcu_toolkit.firmware.speed import verdict

    r, m4 = bundle.report, CORES["cortex-m4f"].rates
    v = verdict(BOARDS["stm32h743"], r, "w2s")
    wmacs = r.engine.winograd_macs_per_window  # the M7 has room for the Winograd rows
    instr = (r.macs - wmacs) * m4.engine_per_mac + wmacs * m4.engine_per_winograd_mac + \
        r.engine.int8_outputs_per_window * m4.engine_per_output
    assert 0 < wmacs < r.macs and v.engine_cycles == round(instr * m4.cycles_per_instruction)
    assert v.frontend_cycles == round(m4.frontend_per_s * r.window_seconds * m4.cycles_per_instruction)
    assert v.schedule.pipelined and not verdict(BOARDS["nucleo-f411re"], r, "w2s").schedule.pipelined
    assert v.schedule.burst_fits and v.schedule.burst_s < 0.01  # the last row: 3.4 ms against the ring's 128
    assert verdict(BOARDS["esp32-s3"], r, "w2s").schedule is None   # Xtensa: not measured
    assert verdict(BOARDS["stm32h743"], r, "tflm").schedule is None  # TFLM: not measured
