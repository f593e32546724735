#!/usr/bin/env python3
"""How accurate would a cheaper front-end number format be? A design study for issue 12's q15 front end.

    python benchmarks/bench_frontend_formats.py [--json PATH]

Each candidate computes the 64-point power spectrum of every frame of the embedded calibration and
evaluation audio (2 s windows) in integers, exactly as its format would on the device, and then goes through
the same Q11 mel weights as the shipped front end. The result is compared with the same mel weights on a
float64 FFT. The error is in dB, over speech frames: frames within 60 dB of the loudest frame of their window.

- shipped:    the front end as it is (Q7 data, Q30 twiddles, 64-bit products): `fixed.spectrum_x2`
- q15_block:  a per-frame block exponent (max in [2^14, 2^15)), q15 data and twiddles, every radix-2
              stage halved with rounding (CMSIS-DSP's arm_cfft_q15 style)
- q15_bfp_*:  block floating point: the same block exponent and q15 data, each butterfly output rounded once
              (the twiddle products exact, as SMUAD/SMUSD give them), a stage halved per frame only as far as
              needed, and the split into 33 bins kept in 32 bits. How "needed" is decided (_fft32_bfp):
              bound (one pass, never overflows), sat (assume growth 2, saturate), exact (a second pass)
- q31_tw15:   the shipped Q7 data in 32 bits, no scaling, q15 twiddles (products rounded >> 15): one 32x16
              or 32x32 high-half multiply per product on a Cortex-M4 instead of a 64-bit SMULL chain

Not project code: none of these formats is used by the toolkit; they only tell which one can meet
issue 12's bounds (MAE <= 0.02 dB, p99 <= 0.1 dB).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import emit  # noqa: E402

from mcu_toolkit import resources  # noqa: E402
from mcu_toolkit.audio import cut_windows, list_audio, load_audio, to_pcm16  # noqa: E402
from mcu_toolkit.dsp import fixed  # noqa: E402

T = fixed.tables()
N, HOP = fixed.N_FFT, fixed.HOP
HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)
K = np.arange(33)


def _q15(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.round(x * 32768), 32767).astype(np.int64)


TW32 = np.exp(-2j * np.pi * np.arange(16) / 32)
TW64 = np.exp(-2j * np.pi * K / 64)
W32R, W32I, W64R, W64I = _q15(TW32.real), _q15(TW32.imag), _q15(TW64.real), _q15(TW64.imag)


def _rshift(x: np.ndarray, s: int) -> np.ndarray:
    """Arithmetic shift right with rounding."""
    return (x + (1 << (s - 1))) >> s


def _fft32(re: np.ndarray, im: np.ndarray, halve: bool) -> tuple[np.ndarray, np.ndarray]:
    """32-point radix-2 DIT on bit-reversed (frames, 32) int64 input, q15 twiddles; `halve`: each stage >> 1."""
    re, im = re.copy(), im.copy()
    size = 2
    while size <= 32:
        half, step = size // 2, 32 // size
        for j in range(half):
            wr, wi = W32R[j * step], W32I[j * step]
            for a in range(j, 32, size):
                b = a + half
                if j == 0 and not halve:
                    tr, ti = re[:, b], im[:, b]  # twiddle 1: exact
                else:
                    tr = _rshift(re[:, b] * wr - im[:, b] * wi, 15)
                    ti = _rshift(re[:, b] * wi + im[:, b] * wr, 15)
                ar, ai = re[:, a].copy(), im[:, a].copy()
                re[:, a], im[:, a], re[:, b], im[:, b] = ar + tr, ai + ti, ar - tr, ai - ti
                if halve:
                    for v in (re, im):
                        v[:, a], v[:, b] = _rshift(v[:, a], 1), _rshift(v[:, b], 1)
        size *= 2
    return re, im


def _fft32_bfp(re: np.ndarray, im: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """32-point radix-2 DIT, q15 data and twiddles, a stage at a time at 2^15 (the twiddle products exact, as
    SMUAD/SMUSD give them), each output then rounded back to q15 once, with the stage's halving (per frame):

    - "bound": the fewest halvings for which the inputs' largest magnitude times the stage's worst growth fits
      (2 for the stages whose twiddles are 1 and -j, 1 + sqrt(2) after): one pass, never overflows;
    - "sat":   the same with growth 2 for every stage, and saturation where that is not enough (QADD16-style);
    - "exact": the fewest halvings for which the stage's actual outputs fit: a second pass over the stage.

    Returns the halvings per frame."""
    halvings = np.zeros(len(re), dtype=np.int64)
    size = 2
    while size <= 32:
        half, step = size // 2, 32 // size
        wide_re, wide_im = np.zeros_like(re), np.zeros_like(im)
        for j in range(half):
            k = j * step
            for a in range(j, 32, size):
                b = a + half
                if k == 0:
                    tr, ti = re[:, b] << 15, im[:, b] << 15
                elif k == 8:
                    tr, ti = im[:, b] << 15, -re[:, b] << 15
                else:
                    tr = re[:, b] * W32R[k] - im[:, b] * W32I[k]
                    ti = re[:, b] * W32I[k] + im[:, b] * W32R[k]
                ar, ai = re[:, a] << 15, im[:, a] << 15
                wide_re[:, a], wide_re[:, b], wide_im[:, a], wide_im[:, b] = ar + tr, ar - tr, ai + ti, ai - ti
        if rule == "exact":
            big = np.maximum(np.abs(wide_re).max(axis=1), np.abs(wide_im).max(axis=1))
            fits = lambda h: ((big + (1 << (14 + h))) >> (15 + h)) <= 32767  # noqa: E731
        else:
            growth = 2.0 if size <= 4 or rule == "sat" else 1.0 + np.sqrt(2.0)
            big = np.maximum(np.abs(re).max(axis=1), np.abs(im).max(axis=1)) * growth
            fits = lambda h: big <= (32767 << h)  # noqa: E731
        h = np.zeros(len(re), dtype=np.int64)
        while not np.all(fits(h)):
            h += ~fits(h)
        halvings += h
        rnd, sh = (1 << (14 + h))[:, None], (15 + h)[:, None]
        re = np.clip((wide_re + rnd) >> sh, -32768, 32767)
        im = np.clip((wide_im + rnd) >> sh, -32768, 32767)
        size *= 2
    return re, im, halvings


def _split(zr: np.ndarray, zi: np.ndarray, halve: bool) -> tuple[np.ndarray, np.ndarray]:
    """The packed 32-point transform -> 2X[k], k = 0..32 (halved with rounding if `halve`)."""
    ar, ai = zr[:, K % 32], zi[:, K % 32]
    br, bi = zr[:, (32 - K) % 32], -zi[:, (32 - K) % 32]
    er, ei, orr, oi = ar + br, ai + bi, ai - bi, br - ar
    xr = er + _rshift(orr * W64R - oi * W64I, 15)
    xi = ei + _rshift(orr * W64I + oi * W64R, 15)
    return (_rshift(xr, 1), _rshift(xi, 1)) if halve else (xr, xi)


def _frames(pcm: np.ndarray) -> np.ndarray:
    n = (len(pcm) - N) // HOP + 1
    return np.arange(N)[None] + HOP * np.arange(n)[:, None]


def power_q15_block(pcm: np.ndarray) -> np.ndarray:
    x = pcm.astype(np.float64)[_frames(pcm)] * HANN
    s = 14 - np.floor(np.log2(np.maximum(np.abs(x).max(axis=1), 1e-9))).astype(np.int64)
    v = np.clip(np.round(x * (2.0 ** s)[:, None]), -32768, 32767).astype(np.int64)
    zr, zi = _fft32(v[:, 0::2][:, T.bitrev5], v[:, 1::2][:, T.bitrev5], halve=True)
    xr, xi = _split(zr, zi, halve=True)
    scale = 2.0 ** (-s + 6)  # the block exponent, five halved stages and the halved split: back to 2X
    return (xr * xr + xi * xi).astype(np.float64) * (scale ** 2)[:, None]


def _power_q15_bfp(pcm: np.ndarray, rule: str) -> np.ndarray:
    x = pcm.astype(np.float64)[_frames(pcm)] * HANN
    s = 14 - np.floor(np.log2(np.maximum(np.abs(x).max(axis=1), 1e-9))).astype(np.int64)
    v = np.clip(np.round(x * (2.0 ** s)[:, None]), -32768, 32767).astype(np.int64)
    zr, zi, halvings = _fft32_bfp(v[:, 0::2][:, T.bitrev5], v[:, 1::2][:, T.bitrev5], rule)
    xr, xi = _split(zr, zi, halve=False)  # 32-bit: at most 4.9 x 2^15
    scale = 2.0 ** (halvings - s)
    return (xr * xr + xi * xi).astype(np.float64) * (scale ** 2)[:, None]


def power_q31_tw15(pcm: np.ndarray) -> np.ndarray:
    v = (pcm.astype(np.int64)[_frames(pcm)] * T.hann_q15 + (1 << (fixed.HANN_SHIFT - 1))) >> fixed.HANN_SHIFT
    zr, zi = _fft32(v[:, 0::2][:, T.bitrev5], v[:, 1::2][:, T.bitrev5], halve=False)
    xr, xi = _split(zr, zi, halve=False)
    return (xr * xr + xi * xi).astype(np.float64) * 2.0 ** -14  # Q7 amplitude -> 2X


def power_shipped(pcm: np.ndarray) -> np.ndarray:
    xr, xi = fixed.spectrum_x2(pcm, T)
    return (xr * xr + xi * xi).astype(np.float64) * 2.0 ** -14


def power_float(pcm: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.rfft(pcm.astype(np.float64)[_frames(pcm)] * HANN, axis=1) * 2) ** 2


def mel_db(power: np.ndarray) -> np.ndarray:
    """(frames, mels) dB through the shipped Q11 weights; NaN for the DC and empty filters."""
    out = np.full((len(power), T.n_mels), np.nan)
    for m in range(T.n_mels):
        f, c = int(T.mel_first_bin[m]), int(T.mel_n_bins[m])
        if c and not T.mel_is_dc[m]:
            out[:, m] = 10 * np.log10(np.maximum((power[:, f:f + c] * T.mel_u_q11[m, :c]).sum(axis=1), 1e-12))
    return out


FORMATS = {"shipped": power_shipped, "q15_block": power_q15_block,
           **{f"q15_bfp_{rule}": (lambda pcm, rule=rule: _power_q15_bfp(pcm, rule))
              for rule in ("bound", "sat", "exact")},
           "q31_tw15": power_q31_tw15}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    errs: dict[str, list] = {k: [] for k in FORMATS}
    for d in (resources.default_calibration_dir(), resources.default_eval_dir()):
        for f in list_audio(d):
            for w in cut_windows(load_audio(f), 32000)[0]:
                pcm = to_pcm16(w)
                ref = mel_db(power_float(pcm))
                speech = np.nanmax(ref, axis=1) > np.nanmax(ref) - 60
                valid = ~np.isnan(ref[speech])
                for name, fn in FORMATS.items():
                    errs[name].append(np.abs(mel_db(fn(pcm)) - ref)[speech][valid])
    out = {"note": "dB error against a float64 FFT through the same Q11 mel weights, speech frames; "
                   "issue 12's bounds: MAE <= 0.02 dB, p99 <= 0.1 dB"}
    for name, e in errs.items():
        e = np.concatenate(e)
        out[name] = {"values": int(e.size), "mae_db": round(float(e.mean()), 5),
                     "p99_db": round(float(np.percentile(e, 99)), 4), "max_db": round(float(e.max()), 3)}
    emit(out, args.json)


if __name__ == "__main__":
    main()
