"""The float output line: thousandths rounded half away from zero in double, so float sums cannot round
0.49999997 up (fast: one small C build)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import cbuild

ROOT = Path(__file__).resolve().parent.parent
HARNESS = r"""
#include <stdio.h>
#include "w2s_format.h"
int main(void) {
    const float cases[][3] = {{0.00049999997f, 0.0005f, -0.0005f}, {8388.609f, -1.2345f, 0.0f}};
    char line[96];
    for (unsigned i = 0; i < 2; i++) {
        if (w2s_format_adv_f32(line, sizeof line, cases[i], 7u) != W2S_OK) return 1;
        puts(line);
    }
    return w2s_format_adv_f32(line, 10, cases[0], 0u) == W2S_ERR_SIZE ? 0 : 2;
}
"""


def test_float_line_rounds_in_double(tmp_path):
    common = ROOT / "firmware_templates" / "common"
    (tmp_path / "h.c").write_text(HARNESS)
    exe = cbuild.build([tmp_path / "h.c", common / "w2s_format.c"], tmp_path / "h", opt="-O0", includes=[common])
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines() == ["A=0.000 D=0.001 V=-0.001 t=7us", "A=8388.609 D=-1.235 V=0.000 t=7us"]


@pytest.mark.parametrize("x,want", [(0.00049999997, 0), (0.0005, 1), (-1.2345, -1235)])
def test_python_twin_agrees(x, want):
    import numpy as np

    m = float(np.float32(x)) * 1000.0
    assert int(m - 0.5 if m < 0 else m + 0.5) == want
