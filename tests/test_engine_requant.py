"""The C requantisation (with its shortcuts) against TFLM's arithmetic in Python, over every shift TFLM can
produce, zero multipliers, ReLU floors and wrapping left shifts; both rounding modes (fast: no convert)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import cbuild
from helpers import needs_arm
from mcu_toolkit.emit.c_engine import engine_files
from mcu_toolkit.engine.arith import multiply_by_quantized_multiplier
from synthetic_engine import synthetic_engine


@pytest.fixture(scope="module")
def engine_src(tmp_path_factory) -> Path:
    """A synthetic engine's emitted files: the harnesses are built on all of its C (cbuild.unity)."""
    return cbuild.write(engine_files(synthetic_engine("5ch_8mels")), tmp_path_factory.mktemp("engine"))


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
def test_c_requantisation_equals_tflms_arithmetic(engine_src, tmp_path, rounding):
    flags = ["-fsanitize=undefined", "-fno-sanitize-recover=all"]
    flags += ["-DW2S_SINGLE_ROUNDING=1"] if rounding == "single" else []
    (tmp_path / "requant.c").write_text(cbuild.unity(engine_src, cbuild.C_DIR / "requant_harness.c"))
    exe = cbuild.build([tmp_path / "requant.c"], tmp_path / "requant", flags=flags, includes=[engine_src])
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


@needs_arm
def test_dsp_block_requantisation_on_a_cortex_m4_equals_tflms_arithmetic(engine_src, tmp_path):
    """requant_2xr as a Cortex-M4 runs it (QEMU): SMMULR's rounding of negative products, the half-away
    rounding shift and the USAT/SSAT clamps give TFLM's integers, on both pixels of a block."""
    (tmp_path / "requant_m4.c").write_text(cbuild.unity(engine_src, cbuild.C_DIR / "requant_m4_harness.c"))
    elf = cbuild.build([tmp_path / "requant_m4.c"], tmp_path / "requant_m4.elf", cbuild.QEMU_CORE,
                       includes=[engine_src])
    cases = _fast_cases()
    (tmp_path / "in.txt").write_text("\n".join(" ".join(str(int(v)) for v in row) for row in cases) + "\n")
    cbuild.run_qemu(elf, [str(tmp_path / "in.txt"), str(tmp_path / "out.txt")])
    got = np.array([[int(v) for v in line.split()] for line in (tmp_path / "out.txt").read_text().splitlines()])
    acc, mult, shift, zero, lo, hi, bias, run = cases.T
    want = np.clip(multiply_by_quantized_multiplier(acc, mult, shift, "double") + zero, lo, hi)
    assert got.shape == (len(cases), 3)
    fast = got[:, 2] != 0  # 1: the ReLU fast path, 2: the full-range one, 0: the general path
    allowed = (shift < 0) & (np.abs(bias) < (1 << 30) - run * 128 * 255)
    assert np.array_equal(fast, allowed) and fast.mean() > 0.8
    bad = np.nonzero((got[:, 0] != want) | (got[:, 1] != want))[0]
    assert bad.size == 0, cases[bad[:5]].tolist()
