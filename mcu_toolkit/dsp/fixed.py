"""Fixed-point log-mel front end: the integer reference, bit-exact with w2s_frontend.c.

Every value is an integer in int64/uint64 numpy arrays; arithmetic and rounding mirror the C line
for line. Number formats are in the names:

    pcm             int16 samples
    a, s            the frame's offset (its rounded mean) and block exponent: d = (pcm - a) << s fills
                    16 bits, so a quiet frame keeps the precision of a loud one
    v               windowed samples: (d * hann_q15 + 2^7) >> 8, PCM units x 2^(7+s)
    z, Z            32-point complex FFT of (v[2n], v[2n+1]); no scaling, growth fits int32
    x2              2 * X[k], the 64-point real spectrum, int32, PCM units x 2^(7+s)
    power           (x2.re^2 + x2.im^2) >> 12  ==  |X_float|^2 * 2^(34+2s)
    mel_acc         sum_k power[k] * mel_u_q11[m][k]  (uint64)
    *_db_q7         decibels in Q7 (1/128 dB); 2^(2s) comes off exactly, as 2s in the Q16 log2

Level independence: scaling the input by 2^k scales d by 2^k (up to the offset's rounding), which s
takes back, so the spectrum keeps the same number of bits and only the exponent moves. The offset makes
a constant input exact: its d is zero, where Hann and twiddle rounding would otherwise leak a DC into
every bin, and prenorm's 1e-7 floor would lift that leakage by up to 70 dB.

Wav2Small's prenorm is applied exactly, once the window is complete:
  - the gain is one additive offset in dB, -10*log10(var(x / 32768) + 1e-7), from exact sums;
  - the mean is a constant, and a constant changes only bins 0 and 1 of a periodic-Hann frame.
    No mel filter of the card model mixes those bins with others, so each frame keeps X[0] and X[1]
    (three int32) and the mels built from them are finished with the exact window mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import spec
from .mel import slaney_mel_matrix

N_FFT, HOP, N_BINS = spec.N_FFT, spec.HOP, spec.N_BINS
HANN_SHIFT = 8          # v = (pcm * hann_q15 + 2^7) >> 8
TWIDDLE_BITS = 30       # Q30 twiddles
POWER_SHIFT = 12        # power = (2X)^2 >> 12
MEL_WEIGHT_BITS = 11    # weights relative to each filter's peak, Q11: sums fit uint64
DB_PER_LOG2_Q16 = 197283  # round(10*log10(2) * 2^16)
FLOOR_DB_Q7 = -12800    # -100 dB: Wav2Small clamps mel power at 1e-10
RAW_FLOOR_DB_Q7 = -32768  # mel_acc == 0: no energy at all
QUANT_SHIFT = 24
PRENORM_EPS = spec.PRENORM_EPS
PRENORM_EPS_INV = round(1 / PRENORM_EPS)  # an integer: the C divides by it
MAX_WINDOW_SAMPLES = 960000  # 60 s: N sum(x^2) and sum(x)^2 < 2^72 (the C's 128-bit prenorm sums)
# A constant c added to a frame moves 2X[0] by 2^8 * 32 * c and 2X[1] by 2^8 * (-16) * c (times 2^s).
DC_GAIN_BIN0 = 1 << 13
DC_GAIN_BIN1 = -(1 << 12)
# int32 a frame keeps for the window's mean: Re 2X[0], Re 2X[1], Im 2X[1] (X[0] is real), in the frame's
# units, and the frame's offset and exponent packed as (a & 0xFFFF) | s << 16
DC_BINS = 4
FRAME_LOG2 = N_FFT.bit_length() - 1  # the offset is (sum + N_FFT / 2) >> log2(N_FFT)
BLOCK_BITS = 16         # |d| < 2^16: d * hann_q15 + 2^7 still fits int32
DC_VALUE_BITS = 30      # window-end DC bins are brought under 2^30 before squaring


@dataclass(frozen=True)
class Tables:
    n_mels: int
    hann_q15: np.ndarray      # (64,)
    bitrev5: np.ndarray       # (32,)
    tw32_re_q30: np.ndarray   # (16,) cos(2 pi k / 32)
    tw32_im_q30: np.ndarray   # (16,) -sin(2 pi k / 32)
    tw64_re_q30: np.ndarray   # (33,) cos(2 pi k / 64)
    tw64_im_q30: np.ndarray   # (33,) -sin(2 pi k / 64)
    mel_first_bin: np.ndarray  # (mels,)
    mel_n_bins: np.ndarray    # (mels,) 0 for an empty filter
    mel_u_q11: np.ndarray     # (mels, width) weight / peak weight, Q11
    mel_db_q7: np.ndarray     # (mels,) 10log10(peak / 2^11 / 2^34), Q7
    mel_is_dc: np.ndarray     # (mels,) 1 if the filter uses only bins 0..1 (finished per window)
    log2_q16: np.ndarray      # (257,) log2(1 + i/256), Q16


@lru_cache(maxsize=4)
def tables(n_mels: int = 26, sample_rate: int = 16000) -> Tables:
    n = np.arange(N_FFT)
    hann = np.round((0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)) * 32768).astype(np.int64)
    bitrev = np.array([int(f"{i:05b}"[::-1], 2) for i in range(32)], dtype=np.int64)
    k16, k33 = np.arange(16), np.arange(33)
    q30 = float(1 << TWIDDLE_BITS)
    mel = slaney_mel_matrix(sample_rate, N_FFT, n_mels).astype(np.float64)  # (33, mels)
    first, count, peak, is_dc = [], [], [], []
    for m in range(n_mels):
        nz = np.nonzero(mel[:, m] > 0)[0]
        if len(nz) == 0:  # n_fft 64 leaves some low Slaney filters between bins: always the floor
            first.append(0), count.append(0), peak.append(1.0), is_dc.append(0)
            continue
        first.append(int(nz[0]))
        count.append(int(nz[-1] - nz[0] + 1))
        peak.append(float(mel[:, m].max()))
        is_dc.append(int(nz[-1] <= 1))
        if nz[0] <= 1 < nz[-1] or (nz[0] == 0 and nz[-1] > 1):
            raise ValueError(f"mel filter {m} mixes bins 0-1 with higher bins; fixed-point prenorm "
                             "supports only configurations where it does not")
    width = max(max(count), 1)
    u = np.zeros((n_mels, width), dtype=np.int64)
    for m in range(n_mels):
        u[m, :count[m]] = np.round(mel[first[m]:first[m] + count[m], m] / peak[m] * (1 << MEL_WEIGHT_BITS))
    # |2X| <= 2 sum|v| < 2^29, so a bin's power is below 2^59 >> 12 (the window-end DC bins: 2^61 >> 12)
    if width * (1 << MEL_WEIGHT_BITS) * (2 ** 61 / (1 << POWER_SHIFT)) >= 2 ** 64:
        raise ValueError("mel accumulation could overflow uint64")
    mel_db = np.round((10 * np.log10(np.array(peak)) - 10 * np.log10(2.0) * (MEL_WEIGHT_BITS + 46 - POWER_SHIFT))
                      * 128).astype(np.int64)
    log2 = np.round(np.log2(1 + np.arange(257) / 256) * 65536).astype(np.int64)
    return Tables(
        n_mels=n_mels, hann_q15=hann, bitrev5=bitrev,
        tw32_re_q30=np.round(np.cos(2 * np.pi * k16 / 32) * q30).astype(np.int64),
        tw32_im_q30=np.round(-np.sin(2 * np.pi * k16 / 32) * q30).astype(np.int64),
        tw64_re_q30=np.round(np.cos(2 * np.pi * k33 / 64) * q30).astype(np.int64),
        tw64_im_q30=np.round(-np.sin(2 * np.pi * k33 / 64) * q30).astype(np.int64),
        mel_first_bin=np.array(first, dtype=np.int64), mel_n_bins=np.array(count, dtype=np.int64),
        mel_u_q11=u, mel_db_q7=mel_db, mel_is_dc=np.array(is_dc, dtype=np.int64), log2_q16=log2,
    )


def _bit_length(s: np.ndarray) -> np.ndarray:
    """floor(log2(s)) + 1 for uint64 s, exactly (float64 would round large values)."""
    s = s.astype(np.uint64)
    n = np.zeros(s.shape, dtype=np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        big = (s >> np.uint64(shift)) != 0
        s = np.where(big, s >> np.uint64(shift), s)
        n += shift * big
    return n + (s != 0)


def log2_q16(s: np.ndarray, t: Tables | None = None) -> np.ndarray:
    """log2(s) in Q16 for uint64 s >= 1, from its exponent and top 17 bits (log2_q16 in C)."""
    t = t or tables()
    s = np.asarray(s, dtype=np.uint64)
    e = _bit_length(s) - 1                                   # floor(log2 s), 0..63
    up = np.maximum(16 - e, 0).astype(np.uint64)
    down = np.maximum(e - 16, 0).astype(np.uint64)
    m = ((s << up) >> down).astype(np.int64)                 # mantissa in [2^16, 2^17)
    idx = (m >> 8) & 255
    frac = m & 255
    lo, hi = t.log2_q16[idx], t.log2_q16[idx + 1]
    return e * 65536 + lo + (((hi - lo) * frac + 128) >> 8)


def db_q7_of_log2(log2: np.ndarray) -> np.ndarray:
    """10*log10(2) * log2, Q16 -> dB Q7, rounded half up."""
    return (np.asarray(log2, dtype=np.int64) * DB_PER_LOG2_Q16 + (1 << 24)) >> 25


def db_q7(s: np.ndarray, t: Tables | None = None) -> np.ndarray:
    """10*log10(s) in Q7 for uint64 s >= 1 (w2s_frontend_db_q7 in C). Max error about 0.004 dB."""
    return db_q7_of_log2(log2_q16(s, t))


def db_q7_int(x: int, t: Tables | None = None) -> int:
    """db_q7 of any positive Python int (the C's 128-bit path): only the exponent and the top 17 bits
    matter, so a value above 2^64 is shifted down by k bits and k * 65536 added to its log2."""
    if x < 1 << 64:
        return int(db_q7(np.array([x], dtype=np.uint64), t)[0])
    k = x.bit_length() - 64
    t = t or tables()
    top = x >> k
    e = top.bit_length() - 1
    m = top >> (e - 16)
    idx, frac = (m >> 8) & 255, m & 255
    lo, hi = int(t.log2_q16[idx]), int(t.log2_q16[idx + 1])
    log2 = (e + k) * 65536 + lo + (((hi - lo) * frac + 128) >> 8)
    return (log2 * DB_PER_LOG2_Q16 + (1 << 24)) >> 25


def _fft32(re: np.ndarray, im: np.ndarray, t: Tables) -> tuple[np.ndarray, np.ndarray]:
    """Radix-2 DIT over the last axis, Q30 twiddles, round half up."""
    re, im = re[:, t.bitrev5].copy(), im[:, t.bitrev5].copy()
    rnd = 1 << (TWIDDLE_BITS - 1)
    size = 2
    while size <= 32:
        half, step = size // 2, 32 // size
        for j in range(half):
            wr, wi = int(t.tw32_re_q30[j * step]), int(t.tw32_im_q30[j * step])
            a = np.arange(j, 32, size)
            b = a + half
            br, bi = re[:, b], im[:, b]
            tr = (br * wr - bi * wi + rnd) >> TWIDDLE_BITS
            ti = (br * wi + bi * wr + rnd) >> TWIDDLE_BITS
            ar, ai = re[:, a], im[:, a]
            re[:, a], im[:, a] = ar + tr, ai + ti
            re[:, b], im[:, b] = ar - tr, ai - ti
        size *= 2
    return re, im


def frame_blocks(pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame's offset a, exponent s and block d = (pcm - a) << s: int64 (frames,), (frames,),
    (frames, 64). a is the frame's mean rounded half up; s makes max|d| fill [2^15, 2^16)."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16:
        raise TypeError("pcm must be int16")
    n_frames = (len(pcm) - N_FFT) // HOP + 1 if len(pcm) >= N_FFT else 0
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    x = pcm.astype(np.int64)[idx].reshape(n_frames, N_FFT)
    a = (x.sum(axis=1) + (1 << (FRAME_LOG2 - 1))) >> FRAME_LOG2
    d = x - a[:, None]
    s = BLOCK_BITS - _bit_length(np.abs(d).max(axis=1, initial=0).astype(np.uint64))
    return a, s, d << s[:, None]


def spectrum_x2(d: np.ndarray, t: Tables | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(re, im) of 2*X[k], k = 0..32, of every frame's block d (frame_blocks): int64 (frames, 33)."""
    t = t or tables()
    v = (d * t.hann_q15 + (1 << (HANN_SHIFT - 1))) >> HANN_SHIFT
    zr, zi = _fft32(v[:, 0::2], v[:, 1::2], t)
    k = np.arange(N_BINS)
    ar, ai = zr[:, k % 32], zi[:, k % 32]
    br, bi = zr[:, (32 - k) % 32], -zi[:, (32 - k) % 32]        # conj(Z[32-k])
    er, ei = ar + br, ai + bi                                   # 2 E[k]
    orr, oi = ai - bi, -(ar - br)                               # 2 O[k] = -j (A - B)
    rnd = 1 << (TWIDDLE_BITS - 1)
    wr, wi = t.tw64_re_q30, t.tw64_im_q30
    xr = er + ((orr * wr - oi * wi + rnd) >> TWIDDLE_BITS)
    xi = ei + ((orr * wi + oi * wr + rnd) >> TWIDDLE_BITS)
    return xr, xi


def _mels_db_q7(xr: np.ndarray, xi: np.ndarray, exponent: np.ndarray, t: Tables, which: np.ndarray) -> np.ndarray:
    """Raw dB Q7 of the mels in `which`; each frame's power is in units of 2^(2 exponent), taken off in the
    log2. A mel with no energy, or below what int16 dB Q7 holds, is RAW_FLOOR_DB_Q7."""
    power = ((xr * xr).astype(np.uint64) + (xi * xi).astype(np.uint64)) >> np.uint64(POWER_SHIFT)
    out = np.zeros((len(power), t.n_mels), dtype=np.int64)
    for m in np.nonzero(which)[0]:
        f, c = int(t.mel_first_bin[m]), int(t.mel_n_bins[m])
        acc = (power[:, f:f + c] * t.mel_u_q11[m, :c].astype(np.uint64)).sum(axis=1, dtype=np.uint64)
        log2 = log2_q16(np.maximum(acc, np.uint64(1)), t) - 2 * exponent * 65536
        db = np.maximum(db_q7_of_log2(log2) + t.mel_db_q7[m], RAW_FLOOR_DB_Q7)
        out[:, m] = np.where(acc == 0, RAW_FLOOR_DB_Q7, db)
    return out


def dc_corrections(n: int, total: int) -> tuple[np.ndarray, np.ndarray]:
    """The window mean mu = total / n as floor(mu) and, per exponent s and DC gain G, the fraction
    round(G * 2^s * (mu - floor(mu))): (floor_mu, frac (2, BLOCK_BITS + 1)). A frame's bin moves by
    G * 2^s * (a - mu) = G * 2^s * (a - floor_mu) - frac[bin, s], exactly but for that one rounding."""
    floor_mu, rem = divmod(total, n)
    frac = np.array([[round_div(g * rem << s, n) for s in range(BLOCK_BITS + 1)]
                     for g in (DC_GAIN_BIN0, DC_GAIN_BIN1)], dtype=np.int64)
    return floor_mu, frac


def round_shift(v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """v / 2^r rounded half up (r >= 0), int64."""
    half = np.where(r > 0, np.left_shift(1, np.maximum(r - 1, 0)), 0)
    return (v + half) >> r


def _dc_mels_db_q7(dc: np.ndarray, n: int, total: int, t: Tables) -> np.ndarray:
    """The DC mels of every frame, finished with the window's mean: dc is (frames, DC_BINS) as pushed."""
    a = (dc[:, 3] & 0xFFFF) - ((dc[:, 3] & 0x8000) << 1)      # int16 from the low half
    s = dc[:, 3] >> 16
    floor_mu, frac = dc_corrections(n, total)
    base = (a - floor_mu) << s
    v = np.stack([dc[:, 0] + DC_GAIN_BIN0 * base - frac[0, s],
                  dc[:, 1] + DC_GAIN_BIN1 * base - frac[1, s],
                  dc[:, 2]], axis=1)
    r = np.maximum(_bit_length(np.abs(v).max(axis=1).astype(np.uint64)) - DC_VALUE_BITS, 0)
    v = round_shift(v, r[:, None])
    xr = np.zeros((len(dc), N_BINS), dtype=np.int64)
    xi = np.zeros_like(xr)
    xr[:, 0], xr[:, 1], xi[:, 1] = v[:, 0], v[:, 1], v[:, 2]
    return _mels_db_q7(xr, xi, s - r, t, t.mel_is_dc == 1)


def push_frames(pcm: np.ndarray, t: Tables | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What w2s_frontend_push_s16 writes for every frame: raw dB Q7 (frames, mels) with the DC mels 0, and
    the DC words (frames, DC_BINS)."""
    t = t or tables()
    a, s, d = frame_blocks(pcm)
    xr, xi = spectrum_x2(d, t)
    raw = np.where(t.mel_is_dc == 1, 0, _mels_db_q7(xr, xi, s, t, t.mel_is_dc == 0))
    dc = np.stack([xr[:, 0], xr[:, 1], xi[:, 1], (a & 0xFFFF) | (s << 16)], axis=1)
    return raw, dc


REF30_DB_Q7 = 11560     # round(10*log10(2^30) * 128)


def prenorm_eps(n: int) -> int:
    """1e-7 * N^2 * 2^30, rounded: prenorm's variance floor in units of N^2 * var(int16)."""
    return (n * n * (1 << 30) + PRENORM_EPS_INV // 2) // PRENORM_EPS_INV


def window_offset_q7(n: int, total: int, total_sq: int, t: Tables | None = None) -> int:
    """Prenorm as a dB offset, -10*log10(var(x/32768) + 1e-7) in Q7, from exact window sums:
    10*log10(N^2 * 2^30) - 10*log10(N * sum(x^2) - sum(x)^2 + eps)."""
    if not 0 < n <= MAX_WINDOW_SAMPLES:
        raise ValueError(f"window of {n} samples: need 1..{MAX_WINDOW_SAMPLES}")
    d = n * total_sq - total * total + prenorm_eps(n)   # Python ints: exact at any length
    ref = int(db_q7(np.array([n * n], dtype=np.uint64), t)[0]) + REF30_DB_Q7
    return ref - db_q7_int(d, t)


def round_div(a: int, b: int) -> int:
    """a / b rounded half away from zero, b > 0 (as the C does, without relying on / of negatives)."""
    q = (abs(a) + b // 2) // b
    return q if a >= 0 else -q


def window_stats(pcm: np.ndarray) -> tuple[int, int, int]:
    """(N, sum, sum of squares) of int16 samples, as w2s_frontend_state_t accumulates them."""
    x = np.asarray(pcm, dtype=np.int64)
    return len(x), int(x.sum()), int((x * x).sum())


def window_logmel_q7(pcm: np.ndarray, t: Tables | None = None,
                     stats: tuple[int, int, int] | None = None) -> np.ndarray:
    """One model window (int16) -> normalised log-mel in dB Q7, (frames, mels) int16.

    Equals what w2s_frontend_push_s16 + w2s_frontend_finish_window produce on the device.
    `stats` overrides the window's own (N, sum, sum_sq), e.g. with the previous window's in
    streaming mode.
    """
    t = t or tables()
    pcm = np.asarray(pcm)
    raw, dc = push_frames(pcm, t)
    if raw.shape[0] == 0:
        return np.zeros((0, t.n_mels), dtype=np.int16)
    n, total, total_sq = stats if stats is not None else window_stats(pcm)
    raw = np.where(t.mel_is_dc == 1, _dc_mels_db_q7(dc, n, total, t), raw)
    offset = window_offset_q7(n, total, total_sq, t)
    return np.clip(raw + offset, FLOOR_DB_Q7, 32767).astype(np.int16)


@dataclass(frozen=True)
class InputQuant:
    """int8 model input from dB Q7: q = ((db_q7 * mult + 2^23) >> 24) + zero_point, saturated."""
    mult: int
    zero_point: int

    @classmethod
    def from_scale(cls, scale: float, zero_point: int) -> "InputQuant":
        return cls(mult=int(round(2.0 ** QUANT_SHIFT / (128.0 * scale))), zero_point=int(zero_point))


def quantize_s8(db_q7: np.ndarray, q: InputQuant) -> np.ndarray:
    v = ((db_q7.astype(np.int64) * q.mult + (1 << (QUANT_SHIFT - 1))) >> QUANT_SHIFT) + q.zero_point
    return np.clip(v, -128, 127).astype(np.int8)
