"""The exact, streamable pooling tail: softmax over time from integer sums, then Gram and head.

sum_t v_t * softmax_t(d) = sum_t v_t e^(d_t - c) / sum_t e^(d_t - c) for any c, and the logits d are
int8, so e^d has 256 values: a table of (Q29 mantissa, binary exponent) per int8 logit. Each
column (time series of one mel x channel) keeps two int64 sums on one block exponent B, the
largest exponent seen so far (an online softmax in integers):

    x = EXP[q]; if x > B: both sums >>= min(x - B, 63), B = x     (arithmetic shifts)
    m = MANT[q] >> min(B - x, 31);  S0 += m;  S1 += m * (lin_q - lin_zero)

Plain integer arithmetic in a fixed frame order: the same sums in numpy, host C and on a Cortex-M,
however the audio is chunked. y = lin_scale * S1 / S0 (B cancels), then Gram and head once per
window in float32, every sum in index order (no FMA contraction: the C is built -ffp-contract=off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CheckFailed, ToolkitError

# The tail's constants, here and (tail_macros) in the engine's generated header: the C uses the same names.
MANT_BITS = 29          # mantissa in [2^29, 2^30): 30 significant bits
MAX_SHIFT = 63          # the int64 sums' shift stays defined; by 63 they are 0 or -1 already
MANT_MAX_SHIFT = 31     # the int32 mantissa's shift stays defined; by 30 or more it is 0 already
EXP_SENTINEL = -32768   # B (int16) before a window's first frame, whose shift of the (still 0) sums is capped


def tail_macros() -> dict[str, tuple[int, str]]:
    """The tail's constants as the engine's model header defines them: C name -> (value, comment)."""
    return {
        "W2S_ENGINE_MANT_BITS": (MANT_BITS, f"exp_mant_q29: e^logit = mant * 2^(exp - {MANT_BITS})"),
        "W2S_ENGINE_MAX_SHIFT": (MAX_SHIFT, "the longest shift of a column's int64 sums"),
        "W2S_ENGINE_MANT_MAX_SHIFT": (MANT_MAX_SHIFT, "the longest shift of an int32 mantissa"),
        "W2S_ENGINE_EXP_SENTINEL": (EXP_SENTINEL, "a column's block exponent before its first row"),
    }


@dataclass(frozen=True)
class ExpTable:
    mant_q29: np.ndarray  # (256,) int64, indexed by q + 128
    exp: np.ndarray       # (256,) int64


def exp_table(scale: float, zero: int) -> ExpTable:
    """e^(scale * (q - zero)) = mant_q29[q+128] * 2^(exp[q+128] - 29) for every int8 q."""
    if not (0 < scale < 80):
        raise CheckFailed(f"attention logit scale {scale:g} is outside what the exp table covers")
    mant, exp = [], []
    for q in range(-128, 128):
        v = float(np.float64(scale) * (q - zero)) / math.log(2.0)
        e = math.floor(v)
        m = int(math.floor(2.0 ** (v - e) * (1 << MANT_BITS) + 0.5))
        if m == 1 << (MANT_BITS + 1):
            m, e = 1 << MANT_BITS, e + 1
        mant.append(m)
        exp.append(e)
    return ExpTable(np.array(mant, dtype=np.int64), np.array(exp, dtype=np.int64))


@dataclass(frozen=True)
class Head:
    """adv = Linear(C * (F + C) -> 3), float32, from the float model (features: [y | y y^T] per channel).

    silence: the float model's output for a window with no variance (a muted microphone, a stuck ADC):
    prenorm makes it all zeros, so every such window has this one answer, which the device returns
    without running the trunk. The front end makes every value of such a window its floor, floor_s8
    in the model's input; the int8 trunk, fed that, was 0.04 off in arousal. None: an older bundle."""

    weight: np.ndarray    # (3, C * (F + C)) float32
    bias: np.ndarray      # (3,) float32
    silence: np.ndarray | None = None   # (3,) float32
    floor_s8: int | None = None

    def to_json(self) -> str:
        """Shortest decimal of each float32: json gives back the same float32."""
        import json

        as_list = lambda a: [float(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]  # noqa: E731
        d = {"shape": list(self.weight.shape), "weight": as_list(self.weight), "bias": as_list(self.bias)}
        if self.silence is not None:
            d.update(silence=as_list(self.silence), floor_s8=int(self.floor_s8))
        return json.dumps(d) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> "Head":
        import json

        try:
            d = json.loads(text)
            w = np.array(d["weight"], dtype=np.float32).reshape(d["shape"])
            b = np.array(d["bias"], dtype=np.float32).reshape(3)
            silence = np.array(d["silence"], dtype=np.float32).reshape(3) if "silence" in d else None
            floor = int(d["floor_s8"]) if silence is not None else None
        except (ValueError, KeyError, TypeError) as e:
            raise ToolkitError(f"{where} is malformed ({e.__class__.__name__}); re-run mcu-toolkit convert")
        finite = np.all(np.isfinite(w)) and np.all(np.isfinite(b)) and (silence is None or np.all(np.isfinite(silence)))
        if w.ndim != 2 or w.shape[0] != 3 or not finite or not (floor is None or -128 <= floor <= 127):
            raise ToolkitError(f"{where} is malformed; re-run mcu-toolkit convert")
        return cls(w, b, silence, floor)


def _asr(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    return x >> np.minimum(s, MAX_SHIFT)


def pooled_sums(lin_q: np.ndarray, sof_q: np.ndarray, lin_zero: int, table: ExpTable) -> tuple[np.ndarray, ...]:
    """(S0, S1, B) per column after every frame of a window: (T, J) int8 values and logits in.

    Vectorised, yet the same integers as the frame-by-frame recurrence: shifts happen only on rows
    where some column's B grows, and between those rows the sums are plain integer sums.
    """
    q = sof_q.astype(np.int64) + 128
    x = table.exp[q]
    b = np.maximum.accumulate(x, axis=0)
    m = table.mant_q29[q] >> np.minimum(b - x, MANT_MAX_SHIFT)
    a0, a1 = m, m * (lin_q.astype(np.int64) - lin_zero)
    grow = np.zeros_like(b)
    grow[1:] = b[1:] - b[:-1]
    starts = [0] + [int(t) for t in np.nonzero((grow > 0).any(axis=1))[0] if t > 0]
    s0 = np.zeros(x.shape[1], dtype=np.int64)
    s1 = np.zeros(x.shape[1], dtype=np.int64)
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(x)
        s0 = _asr(s0, grow[s]) + a0[s:e].sum(axis=0)
        s1 = _asr(s1, grow[s]) + a1[s:e].sum(axis=0)
    return s0, s1, b[-1]


def _sum_in_order(p: np.ndarray) -> np.ndarray:
    """Sum over the last axis as the C does: acc = 0.0f; acc = acc + p[i] for i in order (float32)."""
    zero = np.zeros(p.shape[:-1] + (1,), dtype=np.float32)
    return np.add.accumulate(np.concatenate([zero, p], axis=-1), axis=-1)[..., -1]


def head_f32(s0: np.ndarray, s1: np.ndarray, lin_scale: float, channels: int, pooled_mels: int,
             head: Head) -> np.ndarray:
    """(3,) float32 from the sums of columns j = f * C + c, in the C's order of operations."""
    f32 = np.float32
    y = (s1.astype(f32) / s0.astype(f32)) * f32(lin_scale)
    y = y.reshape(pooled_mels, channels).T                            # (C, F)
    gram = _sum_in_order(y[:, None, :] * y[None, :, :])               # (C, C)
    feats = np.concatenate([y, gram], axis=1).reshape(-1)
    return _sum_in_order(head.weight * feats[None, :]) + head.bias
