"""TFLM's int8 requantisation, in numpy: the integers the reference kernels compute.

The tflite-micro wheel rounds twice (gemmlowp): SaturatingRoundingDoublingHighMul, then
RoundingDivideByPOT. Single rounding (tflite-micro#3252) is the other mode; both are here, as in
the C (W2S_SINGLE_ROUNDING).
"""

from __future__ import annotations

import math

import numpy as np

ROUNDING_MODES = ("double", "single")


def quantize_multiplier(m: float) -> tuple[int, int]:
    """(Q31 multiplier, shift) for a real multiplier, as TFLM's QuantizeMultiplier (double precision)."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = int(math.floor(abs(q) * (1 << 31) + 0.5)) * (1 if q > 0 else -1)  # round half away from zero
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return q_fixed, shift


def _trunc_div_pow2(x: np.ndarray, bits: int) -> np.ndarray:
    """x / 2^bits rounded toward zero, as C's integer division."""
    return np.where(x >= 0, x >> bits, -((-x) >> bits))


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: round half away from zero."""
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                                     rounding: str = "double") -> np.ndarray:
    """int32 acc * (mult / 2^31) * 2^shift, rounded as TFLM does; int64 arrays in and out."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if rounding == "single":
        total = 31 - shift
        return (acc * mult + (np.int64(1) << (total - 1))) >> total
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    a = ((acc << left) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap, as the C's int32 multiply
    ab = a * mult
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    high = _trunc_div_pow2(ab + nudge, 31)
    return rounding_divide_by_pot(high, right)
