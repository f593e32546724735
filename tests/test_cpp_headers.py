"""The shipped C headers work from C++: the board mains and the host model runner are C++.

A C function declared without extern "C" gets a mangled name in the C++ caller, and the link fails
with an undefined reference. A C object (the model array, the front-end tables) keeps its plain name
under g++ either way, so the linker cannot see a missing guard there; the C++ files below redeclare
every object a header declares inside extern "C", and a header that gave it C++ linkage is then a
compile error ("conflicting declaration ... with 'C' linkage"). Fast: no convert, no QEMU.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mcu_toolkit.emit import c_frontend, c_model
from mcu_toolkit.firmware.boards import BOARDS, Budget
from mcu_toolkit.firmware.generate import budget_h
from mcu_toolkit.dsp import fixed

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "firmware_templates"
FRONTEND_H = ROOT / "mcu_toolkit" / "dsp" / "c" / "w2s_frontend.h"
HAND_WRITTEN = [*sorted((TEMPLATES / "common").glob("*.h")), FRONTEND_H, TEMPLATES / "stm32" / "src" / "board.h"]

WINDOW = 3200  # 0.2 s: small buffers, real frame count
FRAMES = (WINDOW - 64) // 32 + 1
# Bare metal links with the C driver: the C++ file needs nothing from libstdc++ (no exceptions, RTTI
# or new), and Debian's arm-none-eabi toolchain ships libstdc++ only in a separate package.
TOOLCHAINS = {
    "host": {"cc": "gcc", "cxx": "g++", "ld": "g++", "flags": [], "link": []},
    "cortex-m4": {"cc": "arm-none-eabi-gcc", "cxx": "arm-none-eabi-g++", "ld": "arm-none-eabi-gcc",
                  "flags": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
                  "link": ["--specs=nano.specs", "--specs=nosys.specs"]},
}
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"]
CXX_FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-O1", "-fno-exceptions", "-fno-rtti"]

# Stands in for board_stm32.c (which needs the HAL): C, so board.h's guards are exercised too.
BOARD_STUB_C = """#include <stdio.h>

#include "board.h"

static uint32_t cycles;
int board_init(void) { return 0; }
int board_start_audio(void) { return 0; }
uint32_t board_cycles(void) { return cycles += 1000u; }
uint32_t board_cpu_hz(void) { return 1000000u; }
void board_print(const char *line) { puts(line); }
"""

# What main.cc does, minus TFLM: at least one call into every hand-written header.
MAIN_CC = """// Calls into every hand-written C header from C++, as the board mains do.
#include <stdio.h>  // not <cstdio>: Debian's arm-none-eabi-g++ has no C++ library headers

#include "board.h"
#include "model_config.h"
#include "w2s_budget.h"
#include "w2s_format.h"
#include "w2s_frontend.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"

// Objects: a header that gave one of these C++ linkage makes this a compile error.
extern "C" {
@PINS@
}

static int16_t g_ring_storage[W2S_RING_SAMPLES];
static int16_t g_frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
static int32_t g_dc_bins[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
static int8_t g_input_s8[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];

int main() {
  if (board_init() != 0) return 1;
  w2s_ring_t ring;
  if (w2s_ring_init(&ring, g_ring_storage, W2S_RING_SAMPLES) != 0) return 1;
  w2s_pipeline_t pipe;
  w2s_pipeline_init(&pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins, g_input_s8, W2S_FRAMES_PER_WINDOW);
  if (board_start_audio() != 0) return 1;
  int16_t chunk[256];
  for (int i = 0; i < 256; i++) chunk[i] = (int16_t)((i % 32) * 1000 - 16000);  // a 500 Hz sawtooth
  unsigned windows = 0, fed = 0;
  while (fed < W2S_WINDOW_SAMPLES) {
    if (w2s_ring_write(&ring, chunk, 256) != 256 || w2s_ring_count(&ring) != 256) return 2;
    uint32_t got = w2s_ring_read(&ring, chunk, 256);
    size_t off = 0;
    while (off < got) {
      size_t used = 0;
      windows += (unsigned)w2s_pipeline_feed(&pipe, chunk + off, got - off, &used);
      off += used;
    }
    fed += got;
  }
  w2s_frontend_state_t st;
  w2s_frontend_window_start(&st);
  char line[96];
  const int8_t adv[3] = {10, -5, 100};
  if (w2s_format_adv(line, sizeof line, adv, 0, 655360 /* scale 0.01 */,
                     board_cycles() / (board_cpu_hz() / 1000000u)) != 33) return 3;
  board_print(line);
  printf("windows=%u db_q7(100)=%ld dequant=%ld\\n", windows, (long)w2s_db_q7(100u),
         (long)w2s_dequantize_milli(3, 1, 65536000 /* scale 1 */));
  return 0;
}
"""

# Per generated header: every object it declares, redeclared with C linkage and referenced.
GENERATED_CC = """#include "@HEADER@"

extern "C" {
@PINS@
}

int main() {
  const void *const volatile used[] = {@REFS@nullptr};  // volatile: the linker must resolve each one
  int missing = 0;
  for (unsigned i = 0; i + 1 < sizeof used / sizeof used[0]; i++) missing += used[i] == nullptr;
  return missing;
}
"""
GENERATED = {  # header -> the C files that define what it declares
    "model_data.h": ["model_data.c"],
    "model_config.h": [],  # macros only: nothing to link
    "w2s_frontend_tables.h": ["w2s_frontend_tables.c"],
}
_OBJECT = re.compile(r"^extern[ \t]+(?!\"C\")([^;(\n]*?)\b(\w+)[ \t]*((?:\[[^\]\n]*\][ \t]*)*);", re.M)


def object_pins(header_text: str) -> tuple[str, list[str]]:
    """The header's extern object declarations (not functions), and their names."""
    decls = [m.group(0) for m in _OBJECT.finditer(header_text)]
    return "\n".join(decls), [m.group(2) for m in _OBJECT.finditer(header_text)]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """Every header and C file a generated project gets (TFLM's model_ops.h aside), with a made-up bundle."""
    d = tmp_path_factory.mktemp("w2s")
    for h in HAND_WRITTEN:
        shutil.copy(h, d / h.name)
    for c in (TEMPLATES / "common").glob("*.c"):
        shutil.copy(c, d / c.name)
    quant = fixed.InputQuant.from_scale(0.4702, 85)
    for name, text in c_frontend.frontend_files(fixed.tables(26), quant, WINDOW).items():
        (d / name).write_text(text)
    (d / "model_data.h").write_text(c_model.model_data_h())
    (d / "model_data.c").write_text(c_model.model_data_c(bytes(range(32))))
    (d / "model_config.h").write_text(c_model.model_config_h(c_model.BundleConfig(
        arena_bytes=4096, arena_bytes_measured=3000, sample_rate=16000, window_samples=WINDOW, frames=FRAMES,
        n_mels=26, input_shape=(1, FRAMES, 26, 1), input_scale=0.4702, input_zero_point=85,
        output_scale=0.01, output_zero_point=0)))
    (d / "w2s_budget.h").write_text(budget_h(Budget(BOARDS["stm32h743"], 1, 1, None, None, {}), False))
    (d / "board_stub.c").write_text(BOARD_STUB_C)
    return d


def toolchain(name: str) -> dict:
    tc = TOOLCHAINS[name]
    if shutil.which(tc["cxx"]) is None or shutil.which(tc["cc"]) is None:
        pytest.skip(f"{tc['cxx']} is not installed")
    return tc


def compile_and_link(tc: dict, src: Path, cc_text: str, c_files: list[str], out: Path) -> Path:
    """C files with the C compiler (C99), the C++ file with the C++ compiler, then one link."""
    out.mkdir(parents=True, exist_ok=True)
    objs = []
    for name in c_files:
        obj = out / (Path(name).stem + ".o")
        r = subprocess.run([tc["cc"], *tc["flags"], *C_FLAGS, "-I", str(src), "-c", str(src / name), "-o", str(obj)],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{tc['cc']} {name}:\n{r.stderr}"
        objs.append(str(obj))
    cc = out / "uses_headers.cc"
    cc.write_text(cc_text)
    r = subprocess.run([tc["cxx"], *tc["flags"], *CXX_FLAGS, "-I", str(src), "-c", str(cc), "-o", str(out / "cc.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"{tc['cxx']} {cc.name}:\n{r.stderr}"
    exe = out / "uses_headers.elf"
    r = subprocess.run([tc["ld"], *tc["flags"], *tc["link"], str(out / "cc.o"), *objs, "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"link:\n{r.stderr}"
    return exe


def main_cc(src: Path) -> str:
    pins = [object_pins((src / h.name).read_text())[0] for h in HAND_WRITTEN]
    return MAIN_CC.replace("@PINS@", "\n".join(p for p in pins if p))


MAIN_C_FILES = ["w2s_ring.c", "w2s_pipeline.c", "w2s_format.c", "w2s_frontend.c", "w2s_frontend_tables.c",
                "board_stub.c"]


def test_every_shipped_header_links_from_cpp_on_host(sources, tmp_path):
    exe = compile_and_link(toolchain("host"), sources, main_cc(sources), MAIN_C_FILES, tmp_path)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    # one window of 3200 samples; 10*log10(100) = 20 dB = 2560 in Q7; (3 - 1) * 1.0 = 2.000
    assert r.stdout.splitlines() == ["A=0.100 D=-0.050 V=1.000 t=1000us", "windows=1 db_q7(100)=2560 dequant=2000"]


def test_every_shipped_header_links_from_cpp_for_cortex_m4(sources, tmp_path):
    exe = compile_and_link(toolchain("cortex-m4"), sources, main_cc(sources), MAIN_C_FILES, tmp_path)
    assert exe.stat().st_size > 0


GENERATED_CASES = [pytest.param(h, tc, id=f"{h}-{tc}") for h in GENERATED for tc in TOOLCHAINS]


@pytest.mark.parametrize(("header", "tc_name"), GENERATED_CASES)
def test_generated_header_gives_c_linkage_to_what_it_declares(sources, tmp_path, header, tc_name):
    tc = toolchain(tc_name)
    pins, names = object_pins((sources / header).read_text())
    assert bool(names) == bool(GENERATED[header]), f"{header}: declares {names}; update GENERATED"
    cc = (GENERATED_CC.replace("@HEADER@", header).replace("@PINS@", pins)
          .replace("@REFS@", "".join(f"(const void *)&{n}, " for n in names)))
    exe = compile_and_link(tc, sources, cc, GENERATED[header], tmp_path)
    if tc_name == "host":
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
