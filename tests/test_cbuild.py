"""The C build helper itself: a failed compile says which file and why, and QEMU hands a harness its argv
exactly, commas included, and refuses one with a space (fast: one small build each)."""

from __future__ import annotations

import pytest

import cbuild
from helpers import needs_arm

ECHO_ARGS = """#include <stdio.h>
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        printf("[%s]\\n", argv[i]);
    }
    return argc == 4 ? 0 : 3;
}
"""


def test_a_failed_compile_names_the_file_and_gives_gccs_message(tmp_path):
    (tmp_path / "bad.c").write_text("int f(int unused) { return 0; }\n")
    with pytest.raises(cbuild.CFailed, match=r"(?s)compiling bad\.c for host failed.*bad\.c:1:11: error: unused"):
        cbuild.objects([tmp_path / "bad.c"], tmp_path)  # -Wextra -Werror: the strict flags are on


@needs_arm
def test_qemu_passes_argv_with_its_commas_and_the_exit_code(tmp_path):
    (tmp_path / "echo.c").write_text(ECHO_ARGS)
    elf = cbuild.build([tmp_path / "echo.c"], tmp_path / "echo.elf", cbuild.QEMU_CORE)
    r = cbuild.run_qemu(elf, ["a,b", "c,,d", "/x/y=z"])
    assert r.stdout.splitlines() == ["[a,b]", "[c,,d]", "[/x/y=z]"]
    assert cbuild.run_qemu(elf, ["one"], check=False).returncode == 3
    with pytest.raises(cbuild.CFailed, match="echo.elf on QEMU exited 3"):
        cbuild.run_qemu(elf, ["one"])
    with pytest.raises(ValueError, match="newlib splits"):  # one command line, split at spaces
        cbuild.run_qemu(elf, ["/x y/z"])
