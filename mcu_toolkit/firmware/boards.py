"""Boards, their limits, and whether a bundle fits: the budget check runs before anything is generated.

With the w2s engine (the default): flash = engine code and data + front end (measured) + an estimate
for the board support code; RAM = the engine's state (exact, any window) + the front end's window store
(exact, 68 B per frame) + the audio ring and DMA buffers (exact) + an allowance for stacks and the HAL.
With TFLM: flash adds the flatbuffer and an estimate for TFLM's kernels; RAM the TFLM arena (measured,
with margin) and the int8 window buffer.
The estimates are stated in the generated budget header, so a firmware engineer can replace them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import spec
from ..bundle import Report
from ..cores import CORES
from ..errors import ToolkitError

KIB = 1024
# The common/ files a board's project takes besides the portable ones (generate.py): a microphone board
# implements board.h's five functions and runs w2s_app; a bare-metal one also takes its main, w2s_main.c.
MICROPHONE = ("board.h", "w2s_app.h", "w2s_app.c")
BARE_METAL = MICROPHONE + ("w2s_main.c",)
WAV_READER = ("w2s_wav.h", "w2s_wav.c")  # the boards that read a WAV file instead


@dataclass(frozen=True)
class Board:
    name: str
    core: str            # a key of cores.CORES: the CPU's name, its compiler flags and its speed data
    flash: int | None    # None: not a constraint (host)
    ram: int | None
    template: str
    note: str
    template_values: dict = field(default_factory=dict)  # the template's {{KEYS}} only this board fills
    engines: tuple[str, ...] = spec.ENGINES              # the first is the default
    mhz: int | None = None                              # CPU clock; None: no schedule (host, emulator)
    psram: int = 0                                      # bytes of PSRAM --psram may give TFLM's arena
    common: tuple[str, ...] = BARE_METAL                # see MICROPHONE

    def __post_init__(self):
        if self.core not in CORES:  # a misspelt core would silently skip the flags and the schedule
            raise ValueError(f"board {self.name}: unknown core {self.core!r}; cores.CORES has {', '.join(CORES)}")


def stm32(hal_define: str, linker_script: str, dma_width: str, pin_sd: str) -> dict:
    """The stm32 template's {{KEYS}} for a part: its family and start-up file follow from its HAL define."""
    family = hal_define[:7]  # STM32F411xE -> STM32F4
    return {"FAMILY": family, "FAMILY_LC": family.lower(), "FAMILY_SHORT": family[5:], "HAL_DEFINE": hal_define,
            "STARTUP": f"startup_{hal_define.lower()}.s", "LINKER_SCRIPT": linker_script, "DMA_WIDTH": dma_width,
            "PIN_SD": pin_sd}


def esp32(target: str, chip: str, mhz: int, sck: str, ws: str, sd: str) -> dict:
    """The esp32 template's {{KEYS}} for a chip: its ESP-IDF target, clock and the INMP441's GPIOs."""
    return {"IDF_TARGET": target, "CHIP": chip, "CPU_MHZ": mhz, "PIN_SCK": sck, "PIN_WS": ws, "PIN_SD": sd}


BOARDS = {b.name: b for b in (
    Board("nucleo-f411re", "cortex-m4f", 512 * KIB, 128 * KIB, "stm32", "STM32F411RE, 100 MHz",
          stm32("STM32F411xE", "STM32F411RETx_FLASH.ld", "Half Word", "PC3 (I2S2_SD)"), mhz=100),
    # an F4 as the F411: the same HAL family, I2S2 on DMA1 and pins (AF5); 180 MHz needs the over-drive (CubeMX)
    Board("nucleo-f446re", "cortex-m4f", 512 * KIB, 128 * KIB, "stm32", "STM32F446RE, 180 MHz",
          stm32("STM32F446xx", "STM32F446RETx_FLASH.ld", "Half Word", "PC3 (I2S2_SD)"), mhz=180),
    # RAM: the 512 KiB AXI SRAM, where the project's linker script puts .data/.bss (the largest block the DMA
    # reaches; a buffer cannot span SRAM1-3 and it, and the DMA cannot reach the DTCM that holds the stack).
    Board("stm32h743", "cortex-m7", 2048 * KIB, 512 * KIB, "stm32",
          "STM32H743, 480 MHz; RAM: the 512 KiB AXI SRAM (stack and heap in the 128 KiB DTCM)",
          stm32("STM32H743xx", "STM32H743ZITx_FLASH.ld", "Word", "PC2 (I2S2_SDI)"), mhz=480),
    Board("esp32-s3", "xtensa-lx7", 8192 * KIB, 512 * KIB, "esp32",
          "ESP32-S3, 240 MHz, 512 KB SRAM; with TFLM, --psram puts the arena in 8 MB PSRAM", mhz=240,
          psram=8192 * KIB, common=MICROPHONE, template_values=esp32("esp32s3", "ESP32-S3", 240, "41", "42", "2")),
    Board("nrf52840", "cortex-m4f", 1024 * KIB, 256 * KIB, "nrf52",
          "nRF52840 (the Arduino Nano 33 BLE Sense's), 64 MHz; its PDM microphone; nrfx", engines=("w2s",), mhz=64),
    Board("rp2350", "cortex-m33", 4096 * KIB, 520 * KIB, "rp2350",
          "the Raspberry Pi Pico 2's RP2350, 150 MHz; an INMP441 read by PIO; pico-sdk",
          engines=("w2s",), mhz=150),
    Board("host", "host", None, None, "host", "reads a WAV file", common=WAV_READER),
    Board("qemu-f411", "cortex-m4f", 512 * KIB, 128 * KIB, "qemu-f411",
          "the nucleo-f411re firmware with a WAV file (semihosting) for a microphone; linked for the F411's "
          "memory map, run on QEMU's netduinoplus2 (cd OUT && make run WAV=clip.wav)", engines=("w2s",),
          common=WAV_READER + MICROPHONE[:3]),
    # ESP32-C3: one RV32IMC core, no FPU (the float tail in soft float); 400 KB SRAM (16 KB of it the cache)
    Board("esp32-c3", "rv32imc", 4096 * KIB, 400 * KIB, "esp32",
          "ESP32-C3, 160 MHz, 400 KB SRAM, 4 MB flash; one RISC-V core", mhz=160, engines=("w2s",),
          common=MICROPHONE, template_values=esp32("esp32c3", "ESP32-C3", 160, "4", "5", "6")),
    Board("qemu-rv32", "rv32imc", 4096 * KIB, 400 * KIB, "qemu-rv32",
          "the ESP32-C3's pipeline with a WAV file (semihosting) for a microphone; linked for its 4 MiB flash and "
          "400 KiB SRAM, run on QEMU's riscv32 virt (cd OUT && make run WAV=clip.wav)", engines=("w2s",),
          common=WAV_READER),
    Board("qemu-m55", "cortex-m55", 512 * KIB, 512 * KIB, "qemu-m55",
          "the pipeline on QEMU's mps3-an547 (Cortex-M55, Helium kernels) with a WAV file (semihosting) for a "
          "microphone; code in the 512 KiB ITCM, data in the 512 KiB DTCM (cd OUT && make run WAV=clip.wav)",
          engines=("w2s",), common=WAV_READER),
    # RAM: the HP core's 1 MiB DTCM (SRAM3); flash: the 5.5 MB MRAM (Alif's published figures)
    Board("alif-e7", "cortex-m55", 5632 * KIB, 1024 * KIB, "alif",
          "the Alif Ensemble E7's Cortex-M55 high-performance core, 400 MHz, Helium; an INMP441 on I2S; Alif's DFP "
          "(CMSIS-Driver SAI and USART)", engines=("w2s",), mhz=400),
)}


def summary(b: Board) -> str:
    """The board in one line, for the firmware help: its core, limits and engines, then its note."""
    facts = [CORES[b.core].cpu]
    if b.flash is not None:
        facts.append(f"{b.flash // KIB} KiB flash, {b.ram // KIB} KiB RAM")
    if b.psram:
        facts.append(f"--psram: {b.psram // KIB} KiB PSRAM")
    if len(b.engines) == 1:
        facts.append(f"{b.engines[0]} engine only")
    return f"{b.name} ({', '.join(facts)}): {b.note}"


TFLM_FLASH_ESTIMATE = 120 * KIB   # TFLM core + ~14 int8 kernels (CMSIS-NN/ESP-NN), -Os; an estimate
APP_FLASH_ESTIMATE = 40 * KIB     # HAL/IDF drivers, printf, start-up; an estimate
RAM_ALLOWANCE = 24 * KIB          # stacks, TFLM interpreter objects, HAL state; an estimate
RING_SAMPLES = 4096               # audio ring: 256 ms at 16 kHz
DMA_SAMPLES = 512                 # double-buffered DMA halves


@dataclass(frozen=True)
class Budget:
    board: Board
    flash_used: int
    ram_used: int
    flash_limit: int | None
    ram_limit: int | None
    parts: dict
    ccc: dict = field(default_factory=dict)  # the generated engine's CCC against float on held-out audio
    verdict: object = None                   # speed.Verdict: the schedule, once firmware has estimated it
    winograd: bool = True                    # False: its RAM has no room for the Winograd convs' rows, the
                                             # project's engine model is generated direct (generate.py)

    @property
    def fits(self) -> bool:
        return all(lim is None or used <= lim for used, lim in ((self.flash_used, self.flash_limit),
                                                               (self.ram_used, self.ram_limit)))


def _engine_parts(report: Report, engine: str) -> dict:
    """The model step's share: TFLM (arena, flatbuffer, library estimate) or the w2s engine (exact)."""
    if engine == "tflm":
        return {"model_flash": report.tflite_bytes, "tflm_flash_estimate": TFLM_FLASH_ESTIMATE,
                "arena": report.arena_bytes,
                "frontend_window_buffers": report.frontend.window_buffer_bytes or 0}
    e = report.engine
    if e is None:
        raise ToolkitError("this bundle has no w2s engine (converted by an older mcu-toolkit); convert it again, "
                           "or use --engine tflm")
    if not e.available:
        raise ToolkitError(f"this bundle has no w2s engine ({e.reason}); use --engine tflm")
    return {"engine_data_flash": e.data_bytes, "engine_code_flash": e.code_bytes_cortex_m4_Os or 8 * KIB,
            "engine_state": e.state_bytes, "frontend_window_buffers": e.frontend_store_bytes}


def budget(board: Board, report: Report, psram: bool = False, engine: str = "w2s") -> Budget:
    fe = report.frontend
    fe_flash = (fe.code_bytes_cortex_m4_Os or 2048) + (fe.table_bytes or 0)
    parts = {
        **_engine_parts(report, engine),
        "frontend_flash": fe_flash,
        "app_flash_estimate": APP_FLASH_ESTIMATE,
        "frontend_state": fe.state_bytes or 0,
        "audio_ring": RING_SAMPLES * 2,
        "dma_buffers": DMA_SAMPLES * 2 * 2,
        "ram_allowance_estimate": RAM_ALLOWANCE,
    }
    ram_limit = board.ram
    rows = (getattr(report.engine, "winograd_bytes", None) or 0) if engine == "w2s" else 0
    winograd = rows > 0 and dsp_core(board.core)
    if rows and not winograd:  # built without Winograd (no DSP extension): no rows in its state
        parts["engine_state"] -= rows
    flash = sum(v for k, v in parts.items() if k.endswith(("_flash", "_flash_estimate")))
    ram = sum(v for k, v in parts.items() if not k.endswith(("_flash", "_flash_estimate")))
    if winograd and ram_limit is not None and ram > ram_limit and ram - rows <= ram_limit:
        parts["engine_state"] -= rows  # the Winograd rows do not fit: every conv direct
        ram -= rows
        winograd = False
    if psram and not board.psram:
        with_psram = ", ".join(b.name for b in BOARDS.values() if b.psram)
        raise ToolkitError(f"--psram applies to {with_psram} only, not {board.name}")
    if psram and engine == "w2s":
        raise ToolkitError("--psram puts the TFLM arena in PSRAM and applies to --engine tflm; the w2s engine "
                           "needs no arena, and its window store stays in internal SRAM")
    if psram:
        ram_limit = board.ram + board.psram
    return Budget(board, flash, ram, board.flash, ram_limit, parts, engine_ccc(report, engine), winograd=winograd)


def dsp_core(core: str) -> bool:
    """The core runs the SMLAD kernels, and with them the Winograd convs (w2s_engine.h: __ARM_FEATURE_DSP)."""
    return any(f in CORES[core].flags for f in ("-mcpu=cortex-m4", "-mcpu=cortex-m7", "-mcpu=cortex-m33"))


def engine_ccc(report: Report, engine: str) -> dict:
    """The CCC against float of the path a project runs: `ccc` is the w2s engine's, `tflm.ccc` TFLM's."""
    return dict(report.tflm.ccc if report.tflm else {}) if engine == "tflm" else dict(report.ccc or {})


def largest_window_that_fits(b: Budget, report: Report) -> float | None:
    """Window length (s, 0.05 s steps) at which the RAM would fit, scaling arena and buffers per frame.
    An estimate: the arena must be measured again by convert at that length."""
    if b.ram_limit is None:
        return None
    frames = report.frames_per_window
    growing = b.parts.get("arena", 0) + b.parts["frontend_window_buffers"]  # the engine's state does not grow
    per_frame = growing / frames
    fixed = b.ram_used - growing
    # 2% headroom: the arena grows a little faster than linearly (bench_boards.py: 1.15 s missed the
    # ESP32-S3 by a few bytes without it).
    max_frames = (0.98 * b.ram_limit - fixed) / per_frame
    seconds = ((max_frames - 1) * 32 + 64) / 16000
    best = int(seconds * 20) / 20
    return best if best >= 0.1 else None


def check(board: Board, report: Report, psram: bool = False, bundle: str | None = None,
          engine: str = "w2s") -> Budget:
    """The budget, or one line saying why it does not fit and what would (for a given bundle, a new convert).
    Speed does not refuse a board: a slow one gets the duty-cycled schedule (speed.py)."""
    b = budget(board, report, psram, engine)
    if b.fits:
        return b
    problems = []
    if b.flash_limit is not None and b.flash_used > b.flash_limit:
        problems.append(f"flash {b.flash_used / KIB:.0f} KiB > {b.flash_limit / KIB:.0f} KiB")
    if b.ram_limit is not None and b.ram_used > b.ram_limit:
        what = (f"arena {b.parts['arena'] / KIB:.0f} KiB" if "arena" in b.parts else
                f"front-end window store {b.parts['frontend_window_buffers'] / KIB:.0f} KiB")
        problems.append(f"RAM {b.ram_used / KIB:.0f} KiB ({what}) > {b.ram_limit / KIB:.0f} KiB")
    hint = largest_window_that_fits(b, report)
    if not hint:
        advice = "; no window of 0.1 s or more fits"
    elif bundle is not None:  # the bundle's window is fixed: the user must convert again
        advice = (f"; convert for a shorter window: mcu-toolkit convert --window-seconds {hint:g} --out DIR "
                  "(estimated), then --bundle DIR")
    else:
        advice = f"; try --window-seconds {hint:g} (estimated)"
    if board.psram and not psram and engine == "tflm":
        advice += ", or --psram"
    raise ToolkitError(f"{board.name} cannot hold this model with a {report.window_seconds:g} s window: "
                       + ", ".join(problems) + advice)
