"""The C requantisation (with its shortcuts) against TFLM's arithmetic in Python, over every shift TFLM can
produce, zero multipliers, ReLU floors and wrapping left shifts; both rounding modes (fast: no convert)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcu_toolkit.engine.arith import multiply_by_quantized_multiplier

ROOT = Path(__file__).resolve().parent.parent
FAKE_MODEL_H = """#ifndef W2S_ENGINE_MODEL_H
#define W2S_ENGINE_MODEL_H
#include "w2s_engine_layer.h"
#define W2S_ENGINE_LAYERS 1u
#define W2S_ENGINE_N_MELS 4u
#define W2S_ENGINE_CHANNELS 2u
#define W2S_ENGINE_POOLED_MELS 2u
#define W2S_ENGINE_COLUMNS 4u
#define W2S_ENGINE_HEAD_FEATURES 8u
#define W2S_ENGINE_OUTPUTS 3u
#define W2S_ENGINE_RING_BYTES 12u
#define W2S_ENGINE_TAIL_ROW 4u
#define W2S_ENGINE_MAX_KH 3u
#define W2S_ENGINE_WIDE 32u
#endif
"""


def _cases(n: int = 20000) -> np.ndarray:
    rng = np.random.default_rng(17)
    shift = rng.integers(-31, 31, n)
    mult = rng.integers(1 << 30, 1 << 31, n)
    mult[rng.random(n) < 0.03] = 0
    acc = np.where(rng.random(n) < 0.5, rng.integers(-300_000, 300_000, n), rng.integers(-(1 << 31), 1 << 31, n))
    zero = rng.integers(-128, 128, n)
    relu = rng.random(n) < 0.6
    lo = np.where(relu, np.maximum(zero, -128), -128)
    return np.stack([acc, mult, shift, zero, lo, np.full(n, 127)], axis=1)


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_c_requantisation_equals_tflms_arithmetic(tmp_path, rounding):
    (tmp_path / "w2s_engine_model.h").write_text(FAKE_MODEL_H)
    exe = tmp_path / "requant"
    flags = ["-DW2S_SINGLE_ROUNDING=1"] if rounding == "single" else []
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-fsanitize=undefined",
                    "-fno-sanitize-recover=all", *flags, "-I", str(tmp_path), "-I", str(ROOT / "mcu_toolkit/engine/c"),
                    str(ROOT / "tests/c/requant_harness.c"), "-o", str(exe)], check=True)
    cases = _cases()
    if rounding == "single":  # TFLM's single rounding takes shifts -31..30 and no left-shift wrap
        cases = cases[(cases[:, 2] <= 0)]
    text = "\n".join(" ".join(str(int(v)) for v in row) for row in cases) + "\n"
    r = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True)
    got = np.array([int(v) for v in r.stdout.split()])
    acc, mult, shift, zero, lo, hi = cases.T
    want = np.clip(multiply_by_quantized_multiplier(acc, mult, shift, rounding) + zero, lo, hi)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, cases[bad[:5]].tolist()
