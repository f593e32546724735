"""The engine's layout: how the C lays out a graph's weights, its ring of input rows and its state.

The facts both the emitter (emit/c_engine.py: the generated model header and arrays) and the mirror (the
state's size) need, so that engine/ never imports emit/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # layers.py reads its per-conv facts here
    from .graph import EngineGraph
    from .layers import Conv


def tap_run(c: Conv) -> int:
    """int16 weights per output channel: the whole kh x kw x cin receptive field, rounded up to even (a zero
    weight pads it) so that the DSP kernels read whole pairs."""
    n = c.kh * c.kw * c.cin
    return n + n % 2


def wide_len(c: Conv) -> int:
    """int16 values of a conv's widened input (w2s_conv_widen_s16): its kh rows interleaved by padded
    column, kh * cin values each, plus one zero that the last pair may read."""
    return (c.width + c.kw - 1) * c.kh * c.cin + 1


MVE_VECTOR = 16  # int8 lanes of a Helium (MVE) vector


def run_s8(c: Conv) -> int:
    """int8 weights per output channel for the Helium kernels: the receptive field rounded up to whole 16-byte
    vectors (zero weights pad it, so the input taps they meet never count)."""
    n = c.kh * c.kw * c.cin
    return -(-n // MVE_VECTOR) * MVE_VECTOR


def wide_s8_len(c: Conv) -> int:
    """Bytes of a conv's int8 interleaved input (w2s_engine_conv_mve.c), plus the vector the last pixel's
    zero-weight tail may read past it."""
    return (c.width + c.kw - 1) * c.kh * c.cin + MVE_VECTOR


def weights_s8(c: Conv) -> np.ndarray:
    """The Helium kernels' int8 weights: each output channel's receptive field as (kernel column, row, input
    channel), the interleaved rows' order, zero-padded to run_s8, channel after channel."""
    w = np.zeros((c.cout, run_s8(c)), dtype=np.int8)
    w[:, :c.kh * c.kw * c.cin] = c.weights.transpose(0, 2, 1, 3).reshape(c.cout, -1)  # OHWI -> (O, kx, ky, I)
    return w.reshape(-1)


def bias_zp_s32(c: Conv) -> np.ndarray:
    """bias - in_zero * sum(w) per channel: the Helium kernels sum raw int8 products, so the zero point comes
    out once here (padding taps hold in_zero, so they add w * in_zero - in_zero * w = 0, as TFLM's skipped
    taps). Refused if it leaves int32."""
    sums = c.weights.reshape(c.cout, -1).astype(np.int64).sum(axis=1)
    b = c.bias.astype(np.int64) - int(c.in_zero) * sums
    if np.abs(b).max(initial=0) >= 1 << 31:
        raise ValueError("bias - in_zero * sum(w) leaves int32")
    return b.astype(np.int32)


def channel_groups(cout: int) -> list[int]:
    """Output channels per weight group, as w2s_engine_conv.c's group_size: fours, then threes (13 = 4 + 3 + 3 + 3),
    then what cannot be split so (1, 2, 5: fours and the rest)."""
    threes = (4 - cout % 4) % 4
    threes = 0 if 3 * threes > cout else threes
    fours = (cout - 3 * threes) // 4
    rest = cout - 4 * fours - 3 * threes
    return [4] * fours + [3] * threes + ([rest] if rest else [])


def weights_s16(c: Conv) -> np.ndarray:
    """The int16 weights in the kernels' order: each output channel's receptive field as (kernel column, row,
    input channel), the widened rows' order, padded with a zero to even length; then regrouped by output
    channels (channel_groups) as (tap pair, channel), so that one pair of input taps meets a whole group's
    weights in a row."""
    w = np.zeros((c.cout, tap_run(c)), dtype=np.int16)
    w[:, :c.kh * c.kw * c.cin] = c.weights.transpose(0, 2, 1, 3).reshape(c.cout, -1)  # OHWI -> (O, kx, ky, I)
    groups, g = [], 0
    for r in channel_groups(c.cout):
        groups.append(w[g:g + r].reshape(r, tap_run(c) // 2, 2).transpose(1, 0, 2).reshape(-1))
        g += r
    return np.concatenate(groups)


def ring_layout(g: EngineGraph) -> list[int]:
    """Each trunk layer's offset in the state's ring of input rows, and the total at the end."""
    offsets, at = [], 0
    for layer in g.layers:
        offsets.append(at)
        at += layer.ring_bytes
    return offsets + [at]


def wino_layout(g: EngineGraph) -> list[int]:
    """Each trunk layer's offset in the state's rows of Winograd vectors (w2s_engine_t.wino_s16), and the total."""
    offsets, at = [], 0
    for layer in g.layers:
        offsets.append(at)
        at += layer.wino_ring
    return offsets + [at]


def macros(g: EngineGraph) -> dict[str, int]:
    ring = ring_layout(g)
    return {
        "W2S_ENGINE_LAYERS": len(g.layers),
        "W2S_ENGINE_N_MELS": g.n_mels,
        "W2S_ENGINE_CHANNELS": g.channels,
        "W2S_ENGINE_POOLED_MELS": g.pooled_mels,
        "W2S_ENGINE_COLUMNS": g.channels * g.pooled_mels,
        "W2S_ENGINE_HEAD_FEATURES": g.channels * (g.pooled_mels + g.channels),
        "W2S_ENGINE_OUTPUTS": 3,
        "W2S_ENGINE_RING_BYTES": ring[-1],
        "W2S_ENGINE_TAIL_ROW": g.pooled_mels * g.lin.cin,
        "W2S_ENGINE_MAX_KH": max(layer.kh for layer in g.layers),
        **hot_shape(g),
        "W2S_ENGINE_WIDE": max([layer.scratch for layer in g.layers] + [g.pooled_mels * g.lin.cin + 1]),
        **({"W2S_ENGINE_WINO_RING": wino_layout(g)[-1]} if wino_layout(g)[-1] else {}),
    }


HOT_MAX_PAIRS = 128  # beyond this an unrolled kernel costs more flash than it saves time


def hot_shape(g: EngineGraph) -> dict[str, int]:
    """The conv shape (tap pairs, pixel step) that does most of the trunk's MACs; w2s_engine_conv.c compiles its
    kernels fully unrolled for it, with the step as an immediate offset. {} when it would be too long. The
    Winograd convs (winograd.py) get their own: input channels, kh and output channels."""
    from .winograd import lanes

    macs: dict[tuple[int, int], int] = {}
    wino: dict[tuple[int, int, int], int] = {}
    for layer in g.layers:
        if layer.winograd:
            key = (layer.cin, layer.kh, layer.cout)
            wino[key] = wino.get(key, 0) + layer.macs(1)
        elif (key := layer.unrolled_shape) is not None:
            macs[key] = macs.get(key, 0) + layer.macs(1)
    out = {}
    if macs:
        pairs, stride = max(macs, key=lambda k: (macs[k], k))
        out |= {"W2S_ENGINE_HOT_PAIRS": pairs, "W2S_ENGINE_HOT_STRIDE": stride} if pairs <= HOT_MAX_PAIRS else {}
    if wino:
        cin, kh, cout = max(wino, key=lambda k: (wino[k], k))
        if lanes(cin) // 2 * kh <= HOT_MAX_PAIRS:
            out |= {"W2S_ENGINE_WINO_CIN": cin, "W2S_ENGINE_WINO_KH": kh, "W2S_ENGINE_WINO_COUT": cout}
    return out


def state_bytes(g: EngineGraph, pointer: int = 4, winograd: bool = True) -> int:
    """sizeof(w2s_engine_t) (w2s_engine.h's layout): the engine's whole RAM besides the stack; winograd: built with
    the Winograd convs (W2S_ENGINE_WINOGRAD: a DSP core, not W2S_ENGINE_PORTABLE or _DIRECT), which keep their
    transformed rows.

    It depends on the model only, never on the window length."""
    m = macros(g)
    up = lambda n, a: -(-n // a) * a  # noqa: E731
    j = m["W2S_ENGINE_COLUMNS"]
    size = up(pointer + m["W2S_ENGINE_RING_BYTES"] + m["W2S_ENGINE_TAIL_ROW"], 2) + 2 * m["W2S_ENGINE_WIDE"]
    size = up(size, 4) + 4 * m["W2S_ENGINE_LAYERS"]
    size = up(up(size, 8) + 16 * j + 2 * j, 4) + 8 + (2 * m.get("W2S_ENGINE_WINO_RING", 0) if winograd else 0)
    return up(size, 8)


X86_LANES = 16  # output channels of an x86 block (w2s_x86_block_t): one zmm, or two ymm, of int32 sums


def x86_blocks(c: Conv) -> tuple[list[dict[str, np.ndarray | int]], np.ndarray, np.ndarray]:
    """The x86 kernels' constants for a conv with cout >= 4 (w2s_x86_block_t: output channels 16 at a time,
    channel g0 + k in lane k), and their weights: int16 (block, tap pair, lane, 2) for the AVX2 path, int8 (block,
    tap quad, lane, 4) zero-padded for the VNNI path. Lanes of no channel are zeros."""
    run = tap_run(c)
    pairs, quads = run // 2, (run // 2 + 1) // 2
    field = np.zeros((c.cout, 4 * quads), dtype=np.int64)
    field[:, :c.kh * c.kw * c.cin] = c.weights.transpose(0, 2, 1, 3).reshape(c.cout, -1)
    blocks, w16, w8 = [], [], []
    for g0 in range(0, c.cout, X86_LANES):
        n = min(X86_LANES, c.cout - g0)
        pad = lambda v: np.pad(np.asarray(v[g0:g0 + n], dtype=np.int64), (0, X86_LANES - n))  # noqa: E731
        w = np.zeros((X86_LANES, 4 * quads), dtype=np.int64)
        w[:n] = field[g0:g0 + n]
        sh, mult, bias = pad(c.shift), pad(c.mult), pad(c.bias)
        right = np.maximum(-sh, 0)
        bias_u8 = bias - (c.in_zero + 128) * w.sum(axis=1)
        assert np.all(np.abs(bias_u8) < 2**31), "an x86 VNNI bias out of int32"
        blocks.append({"bias": bias, "bias_u8": bias_u8, "mult": mult,
                       "mult_odd": np.where(np.arange(X86_LANES) % 2 == 0, np.append(mult[1:], 0), 0).astype(np.int64),
                       "left": np.maximum(sh, 0), "right": right, "mask": (1 << right) - 1,
                       "right1": np.maximum(right - 1, 0), "g0": g0, "n": n,
                       "right_only": int(bool(np.all(right[:n] >= 1)))})
        w16.append(w[:, :run].reshape(X86_LANES, pairs, 2).transpose(1, 0, 2).reshape(-1))
        w8.append(w.reshape(X86_LANES, quads, 4).transpose(1, 0, 2).reshape(-1))
    return blocks, np.concatenate(w16).astype(np.int16), np.concatenate(w8).astype(np.int8)
