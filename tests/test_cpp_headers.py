"""The shipped C builds as promised: its headers from C++, the ring in C99 and C11, the templates as files.

The ESP32-S3's main and the model step (w2s_model.cc) are C++. A C function declared without extern "C" gets
a mangled name in the C++ caller, and the link fails with an undefined reference. A C object (the model
array, the front-end tables) keeps its plain name under g++ either way, so the linker cannot see a missing
guard there; the C++ files below redeclare every object a header declares inside extern "C", and a header
that gave it C++ linkage is then a compile error ("conflicting declaration ... with 'C' linkage").
The parts that need a vendor SDK or TFLM are compiled against small stand-ins (stubs below), so that a
template that is not valid C or C++ as a file, or ignores a status, fails here. Fast: no convert, no QEMU.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

import cbuild
from mcu_toolkit.cores import CORES, M4F, STRICT_C
from mcu_toolkit.dsp import fixed
from mcu_toolkit.emit import c_frontend, c_model
from mcu_toolkit.firmware.boards import BOARDS, Budget
from mcu_toolkit.firmware.generate import budget_h

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "firmware_templates"
FRONTEND_H = ROOT / "mcu_toolkit" / "dsp" / "c" / "w2s_frontend.h"
HAND_WRITTEN = [*sorted((TEMPLATES / "common").glob("*.h")), FRONTEND_H]

WINDOW = 3200  # 0.2 s: small buffers, real frame count
FRAMES = (WINDOW - 64) // 32 + 1
# Bare metal links with the C driver: the C++ file needs nothing from libstdc++ (no exceptions, RTTI
# or new), and Debian's arm-none-eabi toolchain ships libstdc++ only in a separate package.
TOOLCHAINS = {
    "host": {"cc": "gcc", "cxx": "g++", "ld": "g++", "flags": [], "link": []},
    "cortex-m4": {"cc": "arm-none-eabi-gcc", "cxx": "arm-none-eabi-g++", "ld": "arm-none-eabi-gcc",
                  "flags": list(M4F),
                  "link": ["--specs=nano.specs", "--specs=nosys.specs"]},
}
C_FLAGS = [*STRICT_C, "-O1"]
WARN_FLAGS = [f for f in C_FLAGS if not f.startswith("-std=")]  # for the builds that pick their own standard
CXX_FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-O1", "-fno-exceptions", "-fno-rtti"]

# Stands in for board_stm32.c (which needs the HAL): C, so board.h's guards are exercised too.
BOARD_STUB_C = """#include <stdio.h>

#include "board.h"

static uint32_t cycles;
w2s_status_t board_init(void) { return W2S_OK; }
w2s_status_t board_start_audio(w2s_ring_t *ring) { (void)ring; return W2S_OK; }
uint32_t board_cycles(void) { return cycles += 1000u; }
uint32_t board_cpu_hz(void) { return 1000000u; }
void board_print(const char *line) { puts(line); }
"""

# What a board's main does, minus TFLM: at least one call into every hand-written header.
MAIN_CC = """// Calls into every hand-written C header from C++, as the board mains do.
#include <stdio.h>  // not <cstdio>: Debian's arm-none-eabi-g++ has no C++ library headers

#include "board.h"
#include "model_config.h"
#include "w2s_budget.h"
#include "w2s_format.h"
#include "w2s_frontend.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"
#include "w2s_status.h"

// Objects: a header that gave one of these C++ linkage makes this a compile error.
extern "C" {
@PINS@
}

static int16_t g_ring_storage[W2S_RING_SAMPLES];
static int16_t g_frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
static int32_t g_dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
static int8_t g_input_s8[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];

int main() {
  if (board_init() != W2S_OK) return 1;
  w2s_ring_t ring;
  if (w2s_ring_init(&ring, g_ring_storage, W2S_RING_SAMPLES) != W2S_OK) return 1;
  w2s_pipeline_t pipe;
  if (w2s_pipeline_init(&pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins_q7, g_input_s8,
                        W2S_FRAMES_PER_WINDOW) != W2S_OK) {
    return 1;
  }
  if (board_start_audio(&ring) != W2S_OK) return 1;
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
                     board_cycles() / (board_cpu_hz() / 1000000u)) != W2S_OK) return 3;
  board_print(line);
  if (w2s_format_adv(line, 20, adv, 0, 655360, 0) != W2S_ERR_SIZE) return 4;
  if (w2s_format_dropped(line, sizeof line, 7u + w2s_ring_dropped(&ring)) != W2S_OK) return 5;
  board_print(line);
  printf("windows=%u db_q7(100)=%ld dequant=%ld %s\\n", windows, (long)w2s_frontend_db_q7(100u),
         (long)w2s_format_dequantize_milli(3, 1, 65536000 /* scale 1 */), w2s_status_str(W2S_ERR_SIZE));
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
    (d / "w2s_budget.h").write_text(budget_h(Budget(BOARDS["stm32h743"], 1, 1, None, None, {}), False, "tflm"))
    (d / "board_stub.c").write_text(BOARD_STUB_C)
    return d


def toolchain(name: str) -> dict:
    tc = TOOLCHAINS[name]
    if shutil.which(tc["cxx"]) is None or shutil.which(tc["cc"]) is None:
        pytest.skip(f"{tc['cxx']} is not installed")
    return tc


def _compile(cmd: list[str], name: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{cmd[0]} {name}:\n{r.stderr}"


def compile_and_link(tc: dict, src: Path, cc_text: str | None, c_files: list[str], out: Path, *,
                     cxx_files: tuple[Path, ...] = (), includes: tuple[Path, ...] = (),
                     defines: tuple[str, ...] = ()) -> Path:
    """C files (names in src) with the C compiler (C99), cc_text and cxx_files with the C++ compiler, one link."""
    out.mkdir(parents=True, exist_ok=True)
    inc = [f"-I{d}" for d in (src, *includes)] + [f"-D{d}" for d in defines]
    objs = []
    for name in c_files:
        objs.append(out / (Path(name).stem + ".o"))
        _compile([tc["cc"], *tc["flags"], *C_FLAGS, *inc, "-c", str(src / name), "-o", str(objs[-1])], name)
    cxx = list(cxx_files)
    if cc_text is not None:
        cxx.append(out / "uses_headers.cc")
        cxx[-1].write_text(cc_text)
    for f in cxx:
        objs.append(out / (f.stem + "_cc.o"))
        _compile([tc["cxx"], *tc["flags"], *CXX_FLAGS, *inc, "-c", str(f), "-o", str(objs[-1])], f.name)
    exe = out / "uses_headers.elf"
    r = subprocess.run([tc["ld"], *tc["flags"], *tc["link"], *map(str, objs), "-o", str(exe)],
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
    assert r.stdout.splitlines() == ["A=0.100 D=-0.050 V=1.000 t=1000us", "warning: 7 samples dropped",
                                     "windows=1 db_q7(100)=2560 dequant=2000 buffer too small"]


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


# --- The templates that need TFLM or a vendor SDK, against stand-ins ---------------------------------------

TFLM_OPS = ["CONV_2D", "FULLY_CONNECTED", "MEAN"]  # the made-up model's ops, for model_ops.h
TFLM_RESOLVER_STUB = """// Stand-in for TFLM's resolver (tests only): the types and the Add* calls model_ops.h makes.
#ifndef TFLM_STUB_RESOLVER_H
#define TFLM_STUB_RESOLVER_H
#include <stddef.h>
#include <stdint.h>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteInt8 = 9 } TfLiteType;
typedef union { int8_t* int8; } TfLitePtrUnion;
typedef struct { TfLiteType type; size_t bytes; TfLitePtrUnion data; } TfLiteTensor;
namespace tflite {
struct Model {};
inline const Model* GetModel(const void*) { static const Model model = {}; return &model; }
template <unsigned int N>
class MicroMutableOpResolver {
 public:
@ADDS@
 private:
  TfLiteStatus Add() { return ++count_ <= N ? kTfLiteOk : kTfLiteError; }
  unsigned int count_ = 0;
};
}  // namespace tflite
#endif
"""
# Input STUB_INPUT_BYTES int8, output 3 int8 in the arena; Invoke writes {10, -5, int8(sum of the input)}.
TFLM_INTERPRETER_STUB = """// Stand-in for TFLM's interpreter (tests only).
#ifndef TFLM_STUB_INTERPRETER_H
#define TFLM_STUB_INTERPRETER_H
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
namespace tflite {
class MicroInterpreter {
 public:
  template <class Resolver>
  MicroInterpreter(const Model*, Resolver&, uint8_t* arena, size_t bytes) : arena_(arena), bytes_(bytes) {}
  TfLiteStatus AllocateTensors() {
    if (bytes_ < STUB_INPUT_BYTES + 3) return kTfLiteError;
    in_ = {kTfLiteInt8, STUB_INPUT_BYTES, {reinterpret_cast<int8_t*>(arena_)}};
    out_ = {kTfLiteInt8, 3, {reinterpret_cast<int8_t*>(arena_) + STUB_INPUT_BYTES}};
    return kTfLiteOk;
  }
  TfLiteTensor* input(size_t) { return &in_; }
  TfLiteTensor* output(size_t) { return &out_; }
  TfLiteStatus Invoke() {
    int sum = 0;
    for (size_t i = 0; i < in_.bytes; i++) sum += in_.data.int8[i];
    out_.data.int8[0] = 10;
    out_.data.int8[1] = -5;
    out_.data.int8[2] = static_cast<int8_t>(sum);
    return kTfLiteOk;
  }
 private:
  uint8_t* arena_;
  size_t bytes_;
  TfLiteTensor in_ = {}, out_ = {};
};
}  // namespace tflite
#endif
"""
HAL_STUB = """/* Stand-in for the STM32 HAL and CMSIS names board_stm32.c uses (tests only: compiles, does not link). */
#include <stdint.h>
typedef enum { HAL_OK = 0, HAL_ERROR = 1 } HAL_StatusTypeDef;
@PART@
typedef struct { int unused; } UART_HandleTypeDef;
typedef struct { volatile uint32_t DEMCR; } CoreDebug_Type;
typedef struct { volatile uint32_t CTRL; volatile uint32_t CYCCNT; } DWT_Type;
#define CoreDebug ((CoreDebug_Type *)0xE000EDF0u)
#define DWT ((DWT_Type *)0xE0001000u)
#define CoreDebug_DEMCR_TRCENA_Msk (1u << 24)
#define DWT_CTRL_CYCCNTENA_Msk 1u
HAL_StatusTypeDef HAL_Init(void);
HAL_StatusTypeDef HAL_I2S_Receive_DMA(I2S_HandleTypeDef *hi2s, uint16_t *data, uint16_t size);
HAL_StatusTypeDef HAL_UART_Transmit(UART_HandleTypeDef *huart, const uint8_t *data, uint16_t size, uint32_t timeout);
uint32_t HAL_RCC_GetHCLKFreq(void);
"""
# Every STM32 board's part, its family's HAL header (as board_stm32.c includes it) and its core.
STM32_BOARDS = {b.template_values["HAL_DEFINE"]: b for b in BOARDS.values() if b.template == "stm32"}
STM32_PARTS = {part: f"{b.template_values['FAMILY_LC']}xx_hal.h" for part, b in STM32_BOARDS.items()}
HAL_FAMILY_STUB = {  # what differs: the H7's DMA handle, its counter and the Cortex-M7 cache calls (CMSIS)
    "STM32F4": "typedef struct { int unused; } I2S_HandleTypeDef;",
    "STM32H7": """typedef struct { uint32_t MemDataAlignment; } DMA_InitTypeDef;
typedef struct { DMA_InitTypeDef Init; } DMA_HandleTypeDef;
typedef struct { DMA_HandleTypeDef *hdmarx; } I2S_HandleTypeDef;
#define DMA_MDATAALIGN_WORD 0x00004000u
uint32_t stub_dma_counter(const DMA_HandleTypeDef *hdma);
#define __HAL_DMA_GET_COUNTER(h) stub_dma_counter(h)
void SCB_EnableICache(void);
void SCB_EnableDCache(void);
void SCB_InvalidateDCache_by_Addr(volatile void *addr, int32_t dsize);
void SCB_CleanInvalidateDCache_by_Addr(volatile void *addr, int32_t dsize);""",
}


@pytest.fixture(scope="module")
def stubs(sources, tmp_path_factory) -> Path:
    """TFLM and HAL stand-ins, and the made-up model's model_ops.h (into sources)."""
    d = tmp_path_factory.mktemp("stubs")
    micro = d / "tensorflow" / "lite" / "micro"
    micro.mkdir(parents=True)
    adds = "\n".join(f"  TfLiteStatus {c_model.RESOLVER_METHODS[op]}() {{ return Add(); }}" for op in TFLM_OPS)
    (micro / "micro_mutable_op_resolver.h").write_text(TFLM_RESOLVER_STUB.replace("@ADDS@", adds))
    (micro / "micro_interpreter.h").write_text(TFLM_INTERPRETER_STUB)
    for part, header in STM32_PARTS.items():
        family = STM32_BOARDS[part].template_values["FAMILY"]
        (d / header).write_text(HAL_STUB.replace("@PART@", HAL_FAMILY_STUB[family]))
    (sources / "model_ops.h").write_text(c_model.model_ops_h(TFLM_OPS))
    return d


def _tflm_build(sources: Path, stubs: Path, tmp_path: Path, cxx: list[Path], c_files: list[str]) -> Path:
    shutil.copy(TEMPLATES / "common" / "w2s_model.cc", sources / "w2s_model.cc")
    return compile_and_link(toolchain("host"), sources, None, c_files, tmp_path,
                            cxx_files=(sources / "w2s_model.cc", *cxx), includes=(stubs,),
                            defines=(f"STUB_INPUT_BYTES={FRAMES * 26}", "W2S_WITH_TFLM"))


def test_host_main_runs_the_model_step_on_each_window(sources, stubs, tmp_path):
    """host/main.c (C) -> w2s_model.cc (C++) -> TFLM: the window the pipeline wrote is what the model reads."""
    shutil.copy(TEMPLATES / "host" / "main.c", sources / "host_main.c")
    exe = _tflm_build(sources, stubs, tmp_path, [], [*MAIN_C_FILES[:-1], "model_data.c", "w2s_wav.c", "host_main.c"])
    pcm = np.random.default_rng(3).normal(0, 3000, 2 * WINDOW + 700).clip(-32768, 32767).astype(np.int16)
    with wave.open(str(tmp_path / "in.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(pcm.tobytes())
    r = subprocess.run([str(exe), str(tmp_path / "in.wav"), str(tmp_path / "f.s8")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    quant = fixed.InputQuant.from_scale(0.4702, 85)
    want = [fixed.quantize_s8(fixed.window_logmel_q7(pcm[i:i + WINDOW]), quant) for i in (0, WINDOW)]
    assert np.array_equal(np.fromfile(tmp_path / "f.s8", np.int8).reshape(2, FRAMES, 26), np.stack(want))
    sums = [(int(w.astype(np.int64).sum()) + 128) % 256 - 128 for w in want]  # the stub's V: int8 sum, wrapped
    lines = [f"window {i + 1}: A=0.100 D=-0.050 V={'-' if x < 0 else ''}{abs(x) * 10 // 1000}.{abs(x) * 10 % 1000:03d}"
             " t=0us" for i, x in enumerate(sums)]  # scale 0.01: thousandths = 10 q
    assert r.stdout.splitlines() == [*lines, f"2 window(s) of {FRAMES} frames x 26 mels"], (r.stdout, sums)


# A board whose microphone (a thread) gives one window, a block at a time, then floods the ring (100 samples more
# than it holds) and stops the program at the third line: the schedule's note, the window's, then the warning
# about the dropped samples.
BOARD_WINDOW_STUB_C = """#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "board.h"
#include "model_config.h"
#include "w2s_budget.h"

static uint32_t cycles, lines;
static int16_t pcm[W2S_WINDOW_SAMPLES], flood[W2S_RING_SAMPLES + 100u];
static pthread_t dma;

/* The DMA: the window in blocks as the ring has room, then, once the app has read it all, the flood. */
static void *capture(void *arg)
{
    w2s_ring_t *ring = arg;
    for (uint32_t sent = 0; sent < W2S_WINDOW_SAMPLES;) {
        uint32_t n = W2S_WINDOW_SAMPLES - sent < 256u ? W2S_WINDOW_SAMPLES - sent : 256u;
        if (w2s_ring_count(ring) + n <= W2S_RING_SAMPLES) sent += w2s_ring_write(ring, pcm + sent, n);
    }
    while (w2s_ring_count(ring) > 0u) {
    }
    (void)w2s_ring_write(ring, flood, W2S_RING_SAMPLES + 100u);
    return NULL;
}
w2s_status_t board_init(void) { return W2S_OK; }
w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    FILE *f = fopen(getenv("W2S_STUB_PCM"), "rb");
    size_t n = f == NULL ? 0u : fread(pcm, sizeof pcm[0], W2S_WINDOW_SAMPLES, f);
    if (n != W2S_WINDOW_SAMPLES) return W2S_ERR_DEVICE;
    fclose(f);
    return pthread_create(&dma, NULL, capture, ring) == 0 ? W2S_OK : W2S_ERR_DEVICE;
}
uint32_t board_cycles(void) { return cycles += 1000u; }
uint32_t board_cpu_hz(void) { return 1000000u; }
void board_print(const char *line)
{
    puts(line);
    fflush(stdout);
    if (++lines == 3u) exit(0);
}
"""


def test_bare_metal_main_prints_each_window_and_the_dropped_samples(sources, stubs, tmp_path):
    """common/w2s_main.c and w2s_app.c with TFLM (a stand-in) on a board: the schedule's note at start-up; the
    window the microphone gave goes through the pipeline into the model, its line is printed with the model's
    time and latency, then the ring's drop."""
    (sources / "board_window_stub.c").write_text(BOARD_WINDOW_STUB_C)
    exe = _tflm_build(sources, stubs, tmp_path, [], [*MAIN_C_FILES[:-1], "model_data.c", "w2s_app.c", "w2s_main.c",
                                                      "board_window_stub.c"])
    pcm = np.random.default_rng(5).normal(0, 3000, WINDOW).clip(-32768, 32767).astype(np.int16)
    pcm.tofile(tmp_path / "in.s16")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30,
                       env={"W2S_STUB_PCM": str(tmp_path / "in.s16")})
    assert r.returncode == 0, r.stdout + r.stderr
    want = [_schedule_note(sources), _stand_in_line(pcm) + " latency=1ms", "warning: 100 samples dropped"]
    assert r.stdout.splitlines() == want, r.stdout


def _schedule_note(sources: Path) -> str:
    """The line every board prints at start-up: the schedule firmware stated (w2s_budget.h)."""
    return re.search(r'#define W2S_SCHEDULE_NOTE "(.*)"', (sources / "w2s_budget.h").read_text()).group(1)


def _stand_in_line(pcm: np.ndarray) -> str:
    """A board's line for one window through TFLM's stand-in (V: the int8 sum of its input, wrapped), timed 1000 us."""
    x = int(fixed.quantize_s8(fixed.window_logmel_q7(pcm), fixed.InputQuant.from_scale(0.4702, 85))
            .astype(np.int64).sum() + 128) % 256 - 128
    return f"A=0.100 D=-0.050 V={'-' if x < 0 else ''}{abs(x) * 10 // 1000}.{abs(x) * 10 % 1000:03d} t=1000us"


# Stand-in for the ESP-IDF names esp32/main/main.cc uses (tests only). The I2S driver gives pcm_s16 (a
# 24-bit sample in the top of each 32-bit slot) 256 samples a read, then blocks; the capture task is a thread;
# vTaskDelay, called when the ring is empty, ends the program once the driver has nothing more.
ESP_IDF_STUB_H = """#pragma once
#include <stddef.h>
#include <stdint.h>
typedef int esp_err_t;
#define ESP_OK 0
#define CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ 1
#define MALLOC_CAP_SPIRAM 1
#define MALLOC_CAP_INTERNAL 2
#define MALLOC_CAP_8BIT 4
#define portMAX_DELAY 0xFFFFFFFFu
#define pdPASS 1
#define configMAX_PRIORITIES 25
enum { GPIO_NUM_2 = 2, GPIO_NUM_4 = 4, GPIO_NUM_5 = 5, GPIO_NUM_6 = 6, GPIO_NUM_41 = 41, GPIO_NUM_42 = 42,
       I2S_GPIO_UNUSED = -1 };
#define portNUM_PROCESSORS 2
enum { I2S_NUM_0, I2S_ROLE_MASTER, I2S_DATA_BIT_WIDTH_32BIT, I2S_SLOT_MODE_MONO, I2S_STD_SLOT_LEFT };
typedef struct i2s_channel *i2s_chan_handle_t;
typedef struct { int id, role; } i2s_chan_config_t;
typedef struct { uint32_t rate; } i2s_std_clk_config_t;
typedef struct { int width, mode, slot_mask; } i2s_std_slot_config_t;
typedef struct { int mclk, bclk, ws, dout, din; struct { int mclk_inv; } invert_flags; } i2s_std_gpio_config_t;
typedef struct { i2s_std_clk_config_t clk_cfg; i2s_std_slot_config_t slot_cfg; i2s_std_gpio_config_t gpio_cfg; }
    i2s_std_config_t;
#define I2S_CHANNEL_DEFAULT_CONFIG(id, role) {id, role}
#define I2S_STD_CLK_DEFAULT_CONFIG(rate) {rate}
#define I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(width, mode) {width, mode, 0}
typedef void (*TaskFunction_t)(void *);
extern "C" {
esp_err_t i2s_new_channel(const i2s_chan_config_t *cfg, i2s_chan_handle_t *tx, i2s_chan_handle_t *rx);
esp_err_t i2s_channel_init_std_mode(i2s_chan_handle_t h, const i2s_std_config_t *cfg);
esp_err_t i2s_channel_enable(i2s_chan_handle_t h);
esp_err_t i2s_channel_read(i2s_chan_handle_t h, void *dst, size_t size, size_t *bytes, uint32_t timeout);
const char *esp_err_to_name(esp_err_t err);
uint32_t esp_cpu_get_cycle_count(void);
void *heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
int xTaskCreatePinnedToCore(TaskFunction_t fn, const char *name, uint32_t stack, void *arg, unsigned prio,
                            void *handle, int core);
void vTaskDelay(uint32_t ticks);
}
"""
ESP_IDF_STUB_CC = """#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "esp_stub.h"

static int16_t pcm_s16[STUB_SAMPLES];
static size_t given;
static volatile int done;
static uint32_t cycles;

esp_err_t i2s_new_channel(const i2s_chan_config_t *, i2s_chan_handle_t *, i2s_chan_handle_t *rx) {
  FILE *f = fopen(getenv("W2S_STUB_PCM"), "rb");
  if (f == nullptr || fread(pcm_s16, sizeof pcm_s16[0], STUB_SAMPLES, f) != STUB_SAMPLES) return 1;
  fclose(f);
  *rx = nullptr;
  return ESP_OK;
}
esp_err_t i2s_channel_init_std_mode(i2s_chan_handle_t, const i2s_std_config_t *) { return ESP_OK; }
esp_err_t i2s_channel_enable(i2s_chan_handle_t) { return ESP_OK; }
esp_err_t i2s_channel_read(i2s_chan_handle_t, void *dst, size_t size, size_t *bytes, uint32_t) {
  size_t n = size / 4 < STUB_SAMPLES - given ? size / 4 : STUB_SAMPLES - given;
  if (n == 0) {  // the last block is in the ring: nothing more arrives
    done = 1;
    for (;;) pause();
  }
  for (size_t i = 0; i < n; i++) static_cast<int32_t *>(dst)[i] = static_cast<int32_t>(pcm_s16[given + i]) * 65536;
  given += n;
  *bytes = n * 4;
  return ESP_OK;
}
const char *esp_err_to_name(esp_err_t) { return "ESP_FAIL"; }
uint32_t esp_cpu_get_cycle_count(void) { return cycles += 1000u; }
void *heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t) { return aligned_alloc(alignment, size); }
static void *run(void *task) {
  reinterpret_cast<TaskFunction_t>(task)(nullptr);
  return nullptr;
}
int xTaskCreatePinnedToCore(TaskFunction_t fn, const char *, uint32_t, void *, unsigned, void *, int) {
  pthread_t t;
  return pthread_create(&t, nullptr, run, reinterpret_cast<void *>(fn)) == 0 ? pdPASS : 0;
}
void vTaskDelay(uint32_t) {
  if (done) exit(0);
  usleep(100);
}
extern "C" void app_main(void);
int main() { app_main(); }  // ESP-IDF's start-up calls app_main
"""


@pytest.mark.parametrize("board", ["esp32-s3", "esp32-c3"])
def test_esp32_main_runs_against_a_stand_in_for_esp_idf(sources, stubs, tmp_path, board):
    """esp32/main/main.cc, with the chip's pins: board.h's five functions with ESP-IDF (a stand-in), app_main and the
    capture task around w2s_app and TFLM (a stand-in): the window the microphone gave is the window's line."""
    from mcu_toolkit.firmware.generate import _render

    idf = tmp_path / "idf"
    for h in ("driver/i2s_std.h", "esp_cpu.h", "esp_err.h", "esp_heap_caps.h", "freertos/FreeRTOS.h",
              "freertos/task.h", "sdkconfig.h"):
        (idf / h).parent.mkdir(parents=True, exist_ok=True)
        (idf / h).write_text('#include "esp_stub.h"\n')
    (idf / "esp_stub.h").write_text(ESP_IDF_STUB_H)
    (tmp_path / "esp_stub.cc").write_text(ESP_IDF_STUB_CC)
    pcm = np.random.default_rng(7).normal(0, 3000, WINDOW).clip(-32768, 32767).astype(np.int16)
    pcm.tofile(tmp_path / "in.s16")
    shutil.copy(TEMPLATES / "common" / "w2s_model.cc", sources / "w2s_model.cc")
    main_cc = tmp_path / "main.cc"
    main_cc.write_text(_render((TEMPLATES / "esp32" / "main" / "main.cc").read_text(), BOARDS[board].template_values))
    exe = compile_and_link(toolchain("host"), sources, None, [*MAIN_C_FILES[:-1], "model_data.c", "w2s_app.c"],
                           tmp_path / "build", cxx_files=(sources / "w2s_model.cc", main_cc, tmp_path / "esp_stub.cc"),
                           includes=(stubs, idf), defines=(f"STUB_INPUT_BYTES={FRAMES * 26}", f"STUB_SAMPLES={WINDOW}"))
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30,
                       env={"W2S_STUB_PCM": str(tmp_path / "in.s16")})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [_schedule_note(sources), _stand_in_line(pcm) + " latency=1ms"], r.stdout


@pytest.mark.parametrize("part", sorted(STM32_PARTS))
def test_board_stm32_compiles_as_a_file(sources, stubs, tmp_path, part):
    board_c = TEMPLATES / "stm32" / "src" / "board_stm32.c"
    cmd = [toolchain("host")["cc"], *C_FLAGS, f"-I{sources}", f"-I{stubs}", "-c", str(board_c),
           "-o", str(tmp_path / "b.o")]
    _compile([*cmd, f"-D{part}"], board_c.name)
    r = subprocess.run(cmd, capture_output=True, text=True)  # no part defined: a clear stop, not a HAL error
    assert r.returncode != 0 and "define the STM32 part" in r.stderr, r.stderr
    core = STM32_BOARDS[part].core
    if shutil.which("arm-none-eabi-gcc"):  # and for the part's own core
        _compile(["arm-none-eabi-gcc", *CORES[core].flags, *C_FLAGS, f"-I{sources}", f"-I{stubs}", f"-D{part}", "-c",
                  str(board_c), "-o", str(tmp_path / "b_arm.o")], board_c.name)


@pytest.mark.parametrize("std", ["c99", "c11"])
def test_ring_orders_samples_across_threads(sources, tmp_path, std):
    """C99 takes the __atomic builtins, C11 <stdatomic.h>; ThreadSanitizer reports any unordered access (it
    does for the volatile-only ring this replaced)."""
    exe = tmp_path / "ring_stress"
    _compile([toolchain("host")["cc"], f"-std={std}", *WARN_FLAGS, "-pedantic", "-g", "-fsanitize=thread",
              f"-I{sources}", str(Path(__file__).parent / "c" / "ring_stress.c"), str(sources / "w2s_ring.c"),
              "-o", str(exe), "-lpthread"], "ring_stress.c")
    r = subprocess.run([str(exe), "200000"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ThreadSanitizer" not in r.stderr, r.stderr[-3000:]
    assert r.stdout.strip() == "ok 200000 dropped 10"
    if cbuild.missing("arm-none-eabi-gcc") is None:  # the C11 path for the target too (C99 is in test_firmware)
        cbuild.objects([sources / "w2s_ring.c"], tmp_path / "m4", "cortex-m4f", opt="-O1",
                       flags=[f"-std={std}", "-pedantic"], includes=[sources])  # the later -std wins
