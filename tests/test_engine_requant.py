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


def _fast_cases(n: int = 30000) -> np.ndarray:
    """Sums of either sign within the fast path's bound, right shifts (small ones make rounding ties common;
    a multiplier of 2^30 makes ties in the high multiply: odd sums), ReLU and full-range activations; biases
    just inside and just outside requant_of's limit for a long receptive field; a few non-negative shifts
    that the fast path must leave to the general one. Columns: acc mult shift zero lo hi bias run."""
    rng = np.random.default_rng(23)
    run = np.where(rng.random(n) < 0.5, 2, 118)
    headroom = (1 << 30) - run * 128 * 255
    edge = rng.random(n)
    bias = np.where(edge < 0.1, (headroom - 1) * rng.choice([-1, 1], n),
                    np.where(edge < 0.15, headroom * rng.choice([-1, 1], n), 0))
    shift = np.where(rng.random(n) < 0.5, rng.integers(-4, 0, n), rng.integers(-31, 0, n))
    shift[rng.random(n) < 0.03] = rng.integers(0, 8, 1)[0]
    mult = rng.integers(1 << 30, 1 << 31, n)
    mult[rng.random(n) < 0.2] = 1 << 30
    bound = (1 << 30) - 1
    acc = np.where(rng.random(n) < 0.6, rng.integers(-300_000, 300_000, n), rng.integers(-bound, bound + 1, n))
    zero = rng.integers(-128, 128, n)
    relu = rng.random(n) < 0.5
    lo = np.where(relu, zero, -128)
    return np.stack([acc, mult, shift, zero, lo, np.full(n, 127), bias, run], axis=1)


def test_dsp_block_requantisation_on_a_cortex_m4_equals_tflms_arithmetic(tmp_path):
    """requant_2xr as a Cortex-M4 runs it (QEMU): SMMULR's rounding of negative products, the half-away
    rounding shift and the USAT/SSAT clamps give TFLM's integers, on both pixels of a block."""
    import shutil

    from mcu_toolkit.cores import CORES

    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("no arm-none-eabi-gcc / qemu-system-arm")
    (tmp_path / "w2s_engine_model.h").write_text(FAKE_MODEL_H)
    elf = tmp_path / "requant_m4.elf"
    subprocess.run(["arm-none-eabi-gcc", *CORES["cortex-m4f"].flags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
                    "--specs=rdimon.specs", "-T", str(ROOT / "tests/c/m4.ld"), "-I", str(tmp_path),
                    "-I", str(ROOT / "mcu_toolkit/engine/c"), str(ROOT / "tests/c/m4_startup.c"),
                    str(ROOT / "tests/c/requant_m4_harness.c"), "-o", str(elf)], check=True)
    cases = _fast_cases()
    (tmp_path / "in.txt").write_text("\n".join(" ".join(str(int(v)) for v in row) for row in cases) + "\n")
    subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                    "-semihosting-config",
                    f"enable=on,target=native,arg=h,arg={tmp_path / 'in.txt'},arg={tmp_path / 'out.txt'}",
                    "-kernel", str(elf)], check=True, timeout=300)
    got = np.array([[int(v) for v in line.split()] for line in (tmp_path / "out.txt").read_text().splitlines()])
    acc, mult, shift, zero, lo, hi, bias, run = cases.T
    want = np.clip(multiply_by_quantized_multiplier(acc, mult, shift, "double") + zero, lo, hi)
    assert got.shape == (len(cases), 3)
    fast = got[:, 2] != 0  # 1: the ReLU fast path, 2: the full-range one, 0: the general path
    allowed = (shift < 0) & (np.abs(bias) < (1 << 30) - run * 128 * 255)
    assert np.array_equal(fast, allowed) and fast.mean() > 0.8
    bad = np.nonzero((got[:, 0] != want) | (got[:, 1] != want))[0]
    assert bad.size == 0, cases[bad[:5]].tolist()
