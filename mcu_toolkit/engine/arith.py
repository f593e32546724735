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


def multiply_by_quantized_multiplier(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                                     rounding: str = "double") -> np.ndarray:
    """int32 acc * (mult / 2^31) * 2^shift, rounded as TFLM does; int64 arrays in and out.

    mult is positive (the per-channel scales are), so both gemmlowp steps round half away from zero
    and can run on |acc| with the sign put back at the end: the same integers, in fewer passes.
    """
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if np.any(mult < 0):
        raise ValueError("negative requantisation multiplier")
    if rounding == "single":
        total = 31 - shift
        return (acc * mult + (np.int64(1) << (total - 1))) >> total
    if np.any(shift > 0):
        acc = ((acc << np.maximum(shift, 0)) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap, as the C
    right = np.maximum(-shift, 0)
    neg = acc < 0
    # SaturatingRoundingDoublingHighMul: (ab + nudge) / 2^31, truncated toward zero
    high = (np.abs(acc) * mult + ((1 << 30) - neg)) >> 31
    # RoundingDivideByPOT: round half away from zero
    out = (high + ((np.int64(1) << right) >> 1)) >> right
    return np.where(neg, -out, out)
