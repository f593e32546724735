"""Exact integer Winograd F(4,3) along the mel axis for the 3-column convs (w2s_engine_conv.c's wino path).

Four output columns (a tile) come from six input columns: V = B^T d per (kernel row, input channel), the
weights U = G' g with G' = diag(4, 6, 6, 24, 24, 1) G (integers), M_k = sum over (row, channel) of U_k V_k,
and A'^T M = 24 x the direct sum, A' = A diag(6, 4, 4, 1, 1, 24): the division by 24 is exact. The kernel
rows (time) stay direct sums. d = x - zero point with zeros in the padding, as the direct kernels.

Whether a layer may use it is proved here from its own weights (winograd_bounds): every transformed operand
fits int16 (SMLAD's halves) and every sum the C forms fits int32; where a bound fails the layer stays direct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .layers import Conv
    from .mirror import Engine

TILE = 4      # output columns per tile
POINTS = 6    # transform points (input columns per tile)
SCALE = 24    # A'^T M = SCALE x the direct sum

BT = np.array([[4, 0, -5, 0, 1, 0],
               [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0],
               [0, 4, 0, -5, 0, 1]], dtype=np.int64)
G_INT = np.array([[1, 0, 0], [-1, -1, -1], [-1, 1, -1], [1, 2, 4], [1, -2, 4], [0, 0, 1]], dtype=np.int64)
AT_INT = np.array([[6, 4, 4, 1, 1, 0],
                   [0, 4, -4, 2, -2, 0],
                   [0, 4, 4, 4, 4, 0],
                   [0, 4, -4, 8, -8, 24]], dtype=np.int64)

# Every value the C's input transform forms (w2s_engine_conv.c wino_input), as coefficients of d0..d5: its
# int16 lanes must not wrap.
INPUT_TERMS = np.array([
    [1, 0, -1, 0, 0, 0], [2, 0, -2, 0, 0, 0], [4, 0, -4, 0, 0, 0],      # t = d0 - d2, 2t, 4t
    [0, 0, -1, 0, 1, 0],                                                # f = d4 - d2
    [0, 1, 1, 0, 0, 0], [0, 2, 2, 0, 0, 0], [0, 4, 4, 0, 0, 0],         # a = d1 + d2, 2a, 4a
    [0, 1, -1, 0, 0, 0], [0, 2, -2, 0, 0, 0], [0, 4, -4, 0, 0, 0],      # b = d1 - d2, 2b, 4b
    [0, 0, 0, 1, 1, 0], [0, 0, 0, -1, 1, 0],                            # c = d4 + d3, e = d4 - d3
    [0, -1, 0, 1, 0, 0], [0, -2, 0, 2, 0, 0], [0, -4, 0, 4, 0, 0],      # h = d3 - d1, 2h, 4h
    [0, 0, 0, -1, 0, 1],                                                # d5 - d3
    *BT,                                                                # V0 .. V5
], dtype=np.int64)

INT16_MAX = (1 << 15) - 1
INT32_MAX = (1 << 31) - 1


@dataclass(frozen=True)
class WinogradBounds:
    """The largest magnitudes the C forms for one conv, from its weights and its input's int8 range."""

    input: int        # |V| and the input transform's intermediates (int16)
    weight: int       # |U| (int16)
    sum: int          # |M_k| and its partial sums (int32)
    output: int       # |A'^T M| and its partial sums (int32)
    total: int        # |direct sum + bias| after the division (int32)

    @property
    def ok(self) -> bool:
        return (self.input <= INT16_MAX and self.weight <= INT16_MAX and self.sum <= INT32_MAX
                and self.output <= INT32_MAX and self.total <= INT32_MAX)


MIN_CIN = 4  # below, the transforms cost more than the MACs they save (1 -> 13 on the M4: 11.2 M against 7.8 M)


def eligible(c: Conv) -> bool:
    """The shape the C's Winograd path computes (three kernel columns, one padding column on the left), with
    enough input channels to pay for the transforms."""
    return c.kw == 3 and c.pad_left == 1 and c.cin >= MIN_CIN


def transform_weights(c: Conv) -> np.ndarray:
    """U (6, cout, kh, cin): G' applied along the kernel columns of the OHWI weights."""
    return np.einsum("kx,ohxi->kohi", G_INT, c.weights.astype(np.int64))


def _box_max(coeffs: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """max |coeffs . d| over d in [lo, hi]^n (lo <= 0 <= hi: the zero padding is inside)."""
    up = np.maximum(coeffs * lo, coeffs * hi).sum(axis=-1)
    down = np.minimum(coeffs * lo, coeffs * hi).sum(axis=-1)
    return np.maximum(up, -down)


def winograd_bounds(c: Conv, lo: int = -128, hi: int = 127) -> WinogradBounds:
    """Prove the C's Winograd arithmetic exact for this conv: inputs x in [lo, hi] (int8), d = x - in_zero."""
    dlo, dhi = min(lo - c.in_zero, 0), max(hi - c.in_zero, 0)
    v = _box_max(BT, dlo, dhi)                                      # (6,) per transform point
    u = transform_weights(c)
    m = (np.abs(u).reshape(POINTS, c.cout, -1).sum(axis=2) * v[:, None])  # (6, cout)
    out = (np.abs(AT_INT) @ m)                                      # (4, cout): every partial sum is below
    direct = np.abs(c.weights.astype(np.int64)).reshape(c.cout, -1).sum(axis=1) * max(-dlo, dhi)
    return WinogradBounds(int(_box_max(INPUT_TERMS, dlo, dhi).max()), int(np.abs(u).max()), int(m.max()),
                          int(out.max()), int((direct + np.abs(c.bias.astype(np.int64))).max()))


def uses_winograd(c: Conv) -> bool:
    return eligible(c) and winograd_bounds(c).ok


def lanes(cin: int) -> int:
    """int16 lanes per transformed vector of one input row: cin rounded up to even (a zero-weight lane)."""
    return cin + cin % 2


def lane_of_channel(cin: int) -> np.ndarray:
    """Where each input channel sits in a vector: in fours as SXTB16 splits a word (lanes 0, 1 = channels 0, 2;
    lanes 2, 3 = channels 1, 3), the rest in order."""
    lane = np.arange(cin)
    whole = 4 * (cin // 4)
    lane[:whole] = (lane[:whole] // 4) * 4 + np.array([0, 2, 1, 3])[lane[:whole] % 4]
    return lane


def tiles(c: Conv) -> int:
    """Tiles a row keeps: ceil(width / 4) (the last may reach past the row: zero padding)."""
    return -(-c.width // TILE)


def tile_stride(c: Conv) -> int:
    return POINTS * lanes(c.cin)


def ring_len(c: Conv) -> int:
    """int16 of its rows of transformed vectors in the state: kh rows x tiles x 6 points x lanes."""
    return c.kh * tiles(c) * tile_stride(c)


def scratch_len(c: Conv) -> int:
    """int16 scratch of the input transform: one int8 row with its padding columns (4 * tiles + 2 of them)."""
    return -(-(TILE * tiles(c) + 2) * c.cin // 2)


def weights_s16(c: Conv) -> np.ndarray:
    """U in the kernels' order: by transform point k, then in the direct weights' output-channel groups
    (layout.channel_groups), each group by (pair of (row, lane), channel) as layout.weights_s16."""
    from .layout import channel_groups

    u = transform_weights(c)                                                # (6, cout, kh, cin)
    padded = np.zeros((POINTS, c.cout, c.kh, lanes(c.cin)), dtype=np.int64)
    padded[..., lane_of_channel(c.cin)] = u
    run = c.kh * lanes(c.cin)
    padded = padded.reshape(POINTS, c.cout, run)
    parts = []
    for k in range(POINTS):
        g = 0
        for r in channel_groups(c.cout):
            parts.append(padded[k, g:g + r].reshape(r, run // 2, 2).transpose(1, 0, 2).reshape(-1))
            g += r
    out = np.concatenate(parts)
    assert np.abs(out).max(initial=0) <= INT16_MAX
    return out.astype(np.int16)


def conv_sums(c: Conv, x: np.ndarray) -> np.ndarray:
    """The C's Winograd arithmetic in numpy: (T, W, cin) int8 -> (T, W, cout) int64 sums without bias, which
    equal the direct conv's (tests hold them against it)."""
    t, w, _ = x.shape
    tiles = -(-w // TILE)
    d = np.pad(x.astype(np.int64) - c.in_zero,
               ((c.pad_top, c.kh - 1 - c.pad_top), (1, TILE * tiles + 1 - w), (0, 0)))
    cols = np.stack([d[:, TILE * i:TILE * i + POINTS] for i in range(tiles)], axis=1)   # (T+, tiles, 6, cin)
    v = np.einsum("kj,atjc->atkc", BT, cols)                                          # (T+, tiles, 6, cin)
    u = transform_weights(c)                                                           # (6, cout, kh, cin)
    rows = np.stack([v[ky:ky + t] for ky in range(c.kh)], axis=2)                     # (T, tiles, kh, 6, cin)
    m = np.einsum("tyhkc,kohc->tyko", rows, u)                                         # (T, tiles, 6, cout)
    s = np.einsum("ik,tyko->tyio", AT_INT, m)                                          # (T, tiles, 4, cout)
    assert np.all(s % SCALE == 0)
    return (s // SCALE).reshape(t, TILE * tiles, c.cout)[:, :w]


def direct(engine: Engine) -> Engine:
    """The same engine with every conv direct: its generated model has no Winograd weights, and its state no
    transformed rows (a board whose RAM budget has no room for them; firmware/boards.budget)."""
    import dataclasses

    layers = tuple(layer.direct() for layer in engine.graph.layers)
    return dataclasses.replace(engine, graph=dataclasses.replace(engine.graph, layers=layers))


def rows_bytes(engine: Engine) -> int:
    """What the Winograd convs add to sizeof(w2s_engine_t) on a DSP core: their transformed rows (a build without
    them, or the direct engine, has exactly this much less)."""
    return engine.state_bytes() - engine.state_bytes(winograd=False)
