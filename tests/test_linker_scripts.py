"""The boards' own linker scripts, each with a linked stub for the board's core (fast: no convert, no SDK): the
vectors at the start of flash, .data and .bss in the RAM the board's budget counts, the stack at its top, and
a program too big for that RAM refused at link time."""

import subprocess

import pytest

import cbuild
from helpers import needs_arm_gcc
from mcu_toolkit import resources
from mcu_toolkit.firmware.boards import BOARDS, KIB

TEMPLATES = resources.firmware_templates_root()
# board -> (its linker script, flash origin, RAM origin); the lengths are the board's budget limits
SCRIPTS = {
    "nucleo-f411re": ("stm32/ld/STM32F411RETx_FLASH.ld", 0x08000000, 0x20000000),
    "nucleo-f446re": ("stm32/ld/STM32F446RETx_FLASH.ld", 0x08000000, 0x20000000),
    "nrf52840": ("nrf52/ld/nrf52840.ld", 0x00000000, 0x20000000),
}

# What a start-up file gives the script: the vectors (.isr_vector), and for nrfx's MDK a .stack and a .heap.
STUB = """#include <stdint.h>
uint8_t big_bss[@BSS@];
int data_word = 7;
__attribute__((section(".stack"), used)) static uint8_t stack_space[8192];
__attribute__((section(".heap"), used)) static uint8_t heap_space[8192];
extern uint32_t _estack, __StackTop;
void Reset_Handler(void) { big_bss[0] = (uint8_t)data_word; for (;;) { } }
__attribute__((section(".isr_vector"), used)) const void *vectors[2] = { @TOP@, (const void *)Reset_Handler };
"""


def _link(board: str, tmp_path, bss: int):
    script, _, _ = SCRIPTS[board]
    top = "&__StackTop" if board == "nrf52840" else "&_estack"
    src = tmp_path / "stub.c"
    src.write_text(STUB.replace("@BSS@", str(bss)).replace("@TOP@", top))
    return cbuild.build([src], tmp_path / "stub.elf", BOARDS[board].core, ld_script=TEMPLATES / script)


@needs_arm_gcc
@pytest.mark.parametrize("board", sorted(SCRIPTS))
def test_linker_script_places_vectors_data_and_bss_in_the_boards_memory(board, tmp_path):
    _, flash, ram = SCRIPTS[board]
    b = BOARDS[board]
    elf = _link(board, tmp_path, 64 * KIB)
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    at = {name: int(addr, 16) for addr, _, name in (line.split() for line in nm.splitlines() if len(line.split()) == 3)}
    assert at["vectors"] == flash
    assert all(ram <= at[s] < ram + b.ram for s in ("big_bss", "data_word")), at
    assert at.get("_estack", at.get("__StackTop")) == ram + b.ram
    sections = subprocess.run(["arm-none-eabi-objdump", "-h", str(elf)], capture_output=True, text=True,
                              check=True).stdout
    data = next(line.split() for line in sections.splitlines() if line.split()[1:2] == [".data"])
    lma = int(data[4], 16)
    assert flash <= lma < flash + b.flash  # .data's initial values are in flash, copied at start-up


@needs_arm_gcc
@pytest.mark.parametrize("board", sorted(SCRIPTS))
def test_linker_script_refuses_a_program_over_the_boards_ram(board, tmp_path):
    with pytest.raises(cbuild.CFailed, match="overflow"):
        _link(board, tmp_path, BOARDS[board].ram)
