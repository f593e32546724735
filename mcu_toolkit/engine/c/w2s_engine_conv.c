/* w2s_engine_conv: the conv row kernels (see w2s_engine_kernels.h). */
#include <string.h>

#include "w2s_engine_model.h" /* W2S_ENGINE_HOT_PAIRS, _STRIDE: the unrolled kernels' shape */
#include "w2s_engine_requant.h"

#define W2S_WINO_TILE 4u   /* Winograd F(4,3): output columns per tile */
#define W2S_WINO_POINTS 6u /* and transform points (input columns) per tile */

/* The general path of requantize_s8, in the file of its callers and not inline: inlined into each call, the
 * portable build ran 0.7% more instructions; from another file, 0.9% (bench_device_speed). */
int32_t w2s_engine_requantize_q31(int32_t acc, int32_t mult_q31, int shift)
{
#if W2S_SINGLE_ROUNDING
    const int total = 31 - shift;
    return (int32_t)(((int64_t)acc * mult_q31 + ((int64_t)1 << (total - 1))) >> total);
#else
    /* gemmlowp: SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT */
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const int32_t a = (int32_t)((uint32_t)acc << left);
    const int64_t ab = (int64_t)a * mult_q31;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    const int32_t high = (a == INT32_MIN && mult_q31 == INT32_MIN) ? INT32_MAX : (int32_t)((ab + nudge) / ((int64_t)1 << 31));
    const int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
    const int32_t remainder = high & mask;
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + (remainder > threshold ? 1 : 0);
#endif
}

/* A block's sums acc[2c + p] (pixel p, output channel g + c, c < r) into o[p * cout + g + c]: a call of its
 * own, so that the requantisation has the registers to itself. */
W2S_NOINLINE static void requant_2xr(const requant_t *qp, const int32_t *acc, size_t g, size_t r, int8_t *o)
{
#ifdef W2S_SMMULR
    if (qp->fast != FAST_NONE) {
        const int32_t *mult = qp->mult + g;
        const int8_t *shift = qp->shift + g;
        const int32_t zero = qp->out_zero;
        const size_t cout = qp->cout;
        const int32_t *const end = acc + 2u * r;
        o += g;
/* one loop per kind: a test of the kind inside the loop costs the loop its registers */
#define W2S_REQUANT_BLOCK(requant)                                          \
    for (; acc < end; acc += 2, o++, mult++, shift++) {                     \
        const int32_t m = *mult;                                            \
        const int right1 = -*shift - 1;                                     \
        const int8_t v0 = requant(acc[0], m, right1, zero);                 \
        const int8_t v1 = requant(acc[1], m, right1, zero);                 \
        o[0] = v0;                                                          \
        o[cout] = v1;                                                       \
    }
        if (qp->fast == FAST_RELU) {
            W2S_REQUANT_BLOCK(relu_requant_s8)
        } else {
            W2S_REQUANT_BLOCK(full_requant_s8)
        }
#undef W2S_REQUANT_BLOCK
        return;
    }
#endif
    const requant_t q = *qp; /* a copy: the int8 stores may alias anything */
    for (size_t c = g; c < g + r; c++, acc += 2) {
        const int32_t m = q.mult[c];
        const int sh = q.shift[c];
        const int8_t v0 = requantize_s8(q, acc[0], m, sh);
        const int8_t v1 = requantize_s8(q, acc[1], m, sh);
        o[c] = v0;
        o[q.cout + c] = v1;
    }
}

#if W2S_ENGINE_DSP && defined(__GNUC__)
/* the DSP instructions GCC does not form from C: a byte-lane sign extension after a rotation, and the
 * two half-word packs */
static inline uint32_t sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline uint32_t pkhbt_lsl16(uint32_t lo, uint32_t hi) /* lo's low half, then hi's low half */
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

static inline uint32_t pkhtb_asr16(uint32_t hi, uint32_t lo) /* lo's high half, then hi's high half */
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}
#define W2S_WIDEN_ASM 1
#endif

/* n int8 values -> int16 with the zero point taken out */
static inline void widen_run(const int8_t *src, size_t n, int32_t zero, int16_t *out)
{
    size_t i = 0;
#if W2S_ENGINE_DSP
    /* four values a turn: sign-extend the even and the odd bytes, take the zero point out of both halves
     * (|x - zero| <= 255: no wrap), and interleave them back into order */
    const int32_t zz = (int32_t)((uint32_t)(uint16_t)zero * 0x00010001u);
    for (; i + 4u <= n; i += 4u) {
        uint32_t v;
        memcpy(&v, src + i, sizeof v);
#ifdef W2S_WIDEN_ASM
        const uint32_t even = (uint32_t)__ssub16(__sxtb16((int32_t)v), zz);
        const uint32_t odd = (uint32_t)__ssub16((int32_t)sxtb16_ror8(v), zz);
        const uint32_t lo = pkhbt_lsl16(even, odd), hi = pkhtb_asr16(odd, even);
#else
        const uint32_t even = (uint32_t)__ssub16(__sxtb16((int32_t)v), zz);
        const uint32_t odd = (uint32_t)__ssub16(__sxtb16((int32_t)((v >> 8) | (v << 24))), zz);
        const uint32_t lo = (even & 0xFFFFu) | (odd << 16), hi = (odd & 0xFFFF0000u) | (even >> 16);
#endif
        memcpy(out + i, &lo, sizeof lo);
        memcpy(out + i + 2u, &hi, sizeof hi);
    }
#endif
    for (; i < n; i++) {
        out[i] = (int16_t)(src[i] - zero);
    }
}

/* A conv's kh input rows as int16, zero point out, interleaved by column: padded column xp holds kh * cin
 * values (row 0's channels, then row 1's, ...). An output pixel's whole receptive field, columns x to
 * x + kw - 1, is then one contiguous run that a kernel reads in one loop. Padding columns are zeros (the
 * same sums as TFLM skipping out-of-image taps), and one more zero follows for a pair read past the end. */
void w2s_conv_widen_s16(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out)
{
#if W2S_ENGINE_MVE
    w2s_conv_widen_mve_s8(layer, rows, (int8_t *)out); /* Helium: int8 in the same scratch */
    return;
#endif
#if W2S_ENGINE_X86
    w2s_conv_widen_x86_s16(layer, rows, out);
    return;
#endif
#if W2S_ENGINE_NEON
    w2s_conv_widen_neon_s16(layer, rows, out); /* aarch64: w2s_engine_conv_neon.c */
    return;
#endif
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin;
    const int32_t zero = layer->in_zero; /* read once: the int16 stores may alias the layer */
    for (size_t xp = 0; xp < cols; xp++) {
        if (xp < left || xp - left >= width) {
            memset(out + xp * step, 0, step * sizeof *out);
        }
    }
    for (size_t ky = 0; ky < kh; ky++) {
        const int8_t *src = rows[ky];
        int16_t *dst = out + left * step + ky * cin;
        for (size_t x = 0; x < width; x++, src += cin, dst += step) {
            widen_run(src, cin, zero, dst);
        }
    }
    out[cols * step] = 0;
}

/* The weights come in groups of output channels: fours, then threes (13 = 4 + 3 + 3 + 3, so that no
 * channel is left to a slow kernel), then whatever cannot be split so (1, 2 or 5 channels: a four and
 * the rest). Within a group: by tap pair over the receptive field (kernel column, row, channel: the
 * widened rows' order), then by channel. A kernel reads its group's weights straight through, and each
 * pair of input taps meets the whole group's weights in a row. */
#define W2S_GROUP 4u


#if W2S_ENGINE_DSP
static uint32_t pair(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* LDR: the DSP cores allow unaligned word loads */
    return v;
}

/* One pair of taps of two pixels (x0, x1: loaded pairs) into a group's sums a0.. (channel-major, pixel
 * minor), with the group's r weights for that pair at w: each weight pair is loaded once for both pixels. */
#define W2S_MAC_2XR(x0, x1, w, r)                        \
    do {                                                 \
        uint32_t wv_ = pair(w);                          \
        a0 = __smlad((x0), wv_, a0);                     \
        a1 = __smlad((x1), wv_, a1);                     \
        wv_ = pair((w) + 2);                             \
        a2 = __smlad((x0), wv_, a2);                     \
        a3 = __smlad((x1), wv_, a3);                     \
        wv_ = pair((w) + 4);                             \
        a4 = __smlad((x0), wv_, a4);                     \
        a5 = __smlad((x1), wv_, a5);                     \
        if ((r) == 4u) {                                 \
            wv_ = pair((w) + 6);                         \
            a6 = __smlad((x0), wv_, a6);                 \
            a7 = __smlad((x1), wv_, a7);                 \
        }                                                \
    } while (0)
/* the sums live in registers for the whole dot product, starting from the group's biases (acc[2c + p]:
 * channel c, pixel p) */
#define W2S_SUMS_IN(r)                                                                                    \
    int32_t a0 = bias[0], a1 = bias[0], a2 = bias[1], a3 = bias[1], a4 = bias[2], a5 = bias[2];          \
    int32_t a6 = (r) == 4u ? bias[3] : 0, a7 = a6
#define W2S_SUMS_OUT(r)                                                                                   \
    do {                                                                                                  \
        acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5;                     \
        if ((r) == 4u) {                                                                                  \
            acc[6] = a6, acc[7] = a7;                                                                     \
        }                                                                                                 \
    } while (0)

/* The block kernels are one body each, for a group of r = 4 or 3 channels: r is a constant where the body is
 * inlined (dot_2x4, dot_2x3), so each compiles to the code of its own width. */
#if defined(__GNUC__)
#define W2S_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define W2S_ALWAYS_INLINE inline
#endif

/* acc[2c + p] += pixels p (x, x + stride) by a group's channels c: 2r sums in registers (with r = 3, no
 * register to spare). */
static W2S_ALWAYS_INLINE void dot_2xr(const int16_t *x, size_t stride, const int16_t *w, size_t pairs,
                                      const int32_t *bias, int32_t *acc, const size_t r)
{
    W2S_SUMS_IN(r);
    const int16_t *xa = x, *xb = x + stride;
    for (const int16_t *const end = w + 2u * r * pairs; w < end; w += 2u * r, xa += 2, xb += 2) {
        const uint32_t x0 = pair(xa), x1 = pair(xb);
        W2S_MAC_2XR(x0, x1, w, r);
    }
    W2S_SUMS_OUT(r);
}

/* The block kernels stay calls: inlined, they leave the requantisation around them short of registers. */
W2S_NOINLINE static void dot_2x4(const int16_t *x, size_t stride, const int16_t *w, size_t pairs,
                                 const int32_t *bias, int32_t acc[8])
{
    dot_2xr(x, stride, w, pairs, bias, acc, 4u);
}

W2S_NOINLINE static void dot_2x3(const int16_t *x, size_t stride, const int16_t *w, size_t pairs,
                                 const int32_t *bias, int32_t acc[6])
{
    dot_2xr(x, stride, w, pairs, bias, acc, 3u);
}

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
/* A block kernel fully unrolled for a shape known at compile time (pairs, the pixel step): the second pixel
 * and every weight are immediate offsets, and the loop needs no pointer, counter or compare: 0.9
 * instructions per MAC instead of 1.1. Same sums. */
static W2S_ALWAYS_INLINE void dot_2xr_unrolled(const int16_t *x, const size_t stride, const int16_t *w,
                                               const int32_t *bias, int32_t *acc, const size_t r, const size_t pairs)
{
    W2S_SUMS_IN(r);
#pragma GCC unroll 128
    for (size_t i = 0; i < pairs; i++) {
        const uint32_t x0 = pair(x + 2u * i), x1 = pair(x + stride + 2u * i);
        W2S_MAC_2XR(x0, x1, w + 2u * r * i, r);
    }
    W2S_SUMS_OUT(r);
}

#if defined(W2S_ENGINE_HOT_PAIRS)
#define W2S_HOT 1
/* the direct convs that do most of the MACs (W2S_ENGINE_HOT_PAIRS, _STRIDE) */
W2S_NOINLINE static void dot_2x4_hot(const int16_t *x, const int16_t *w, const int32_t *bias, int32_t acc[8])
{
    dot_2xr_unrolled(x, W2S_ENGINE_HOT_STRIDE, w, bias, acc, 4u, W2S_ENGINE_HOT_PAIRS);
}

W2S_NOINLINE static void dot_2x3_hot(const int16_t *x, const int16_t *w, const int32_t *bias, int32_t acc[6])
{
    dot_2xr_unrolled(x, W2S_ENGINE_HOT_STRIDE, w, bias, acc, 3u, W2S_ENGINE_HOT_PAIRS);
}
#endif

#if defined(W2S_ENGINE_WINO_CIN) && W2S_ENGINE_WINOGRAD
#define W2S_WINO_HOT 1
#define W2S_WINO_LANES (W2S_ENGINE_WINO_CIN + (W2S_ENGINE_WINO_CIN & 1u))
#define W2S_ENGINE_WINO_PAIRS (W2S_WINO_LANES / 2u)
/* The Winograd convs that do most of the MACs (W2S_ENGINE_WINO_CIN channels, W2S_ENGINE_WINO_KH rows): two tiles' vectors of one point, a tile apart in each kept row, from zero. */
#define W2S_WINO_TSTRIDE (6u * 2u * W2S_ENGINE_WINO_PAIRS)
#define W2S_WINO_USTRIDE (W2S_ENGINE_WINO_COUT * W2S_ENGINE_WINO_KH * W2S_WINO_LANES) /* weights per point */
static W2S_ALWAYS_INLINE void dot_2xr_rows(const int16_t *const *rows, size_t off, const int16_t *w, int32_t *acc,
                                           const size_t r)
{
    static const int32_t bias[4] = {0, 0, 0, 0}; /* from zero: the bias comes after the division */
    W2S_SUMS_IN(r);
#pragma GCC unroll 8
    for (size_t ky = 0; ky < W2S_ENGINE_WINO_KH; ky++) {
        const int16_t *x = rows[ky] + off;
#pragma GCC unroll 128
        for (size_t i = 0; i < W2S_ENGINE_WINO_PAIRS; i++) {
            const uint32_t x0 = pair(x + 2u * i), x1 = pair(x + W2S_WINO_TSTRIDE + 2u * i);
            W2S_MAC_2XR(x0, x1, w + 2u * r * (ky * W2S_ENGINE_WINO_PAIRS + i), r);
        }
    }
    W2S_SUMS_OUT(r);
}

W2S_NOINLINE static void dot_2x4_wino(const int16_t *const *rows, size_t off, const int16_t *u,
                                  int32_t m[W2S_WINO_POINTS][8])
{
    for (size_t k = 0; k < W2S_WINO_POINTS; k++) {
        dot_2xr_rows(rows, off + k * W2S_WINO_LANES, u + k * W2S_WINO_USTRIDE, m[k], 4u);
    }
}

W2S_NOINLINE static void dot_2x3_wino(const int16_t *const *rows, size_t off, const int16_t *u,
                                  int32_t m[W2S_WINO_POINTS][8])
{
    for (size_t k = 0; k < W2S_WINO_POINTS; k++) {
        dot_2xr_rows(rows, off + k * W2S_WINO_LANES, u + k * W2S_WINO_USTRIDE, m[k], 3u);
    }
}

/* a last tile alone: acc[2c] = its sums */
static W2S_ALWAYS_INLINE void dot_1xr_rows(const int16_t *const *rows, size_t off, const int16_t *w, int32_t *acc,
                                           const size_t r)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma GCC unroll 8
    for (size_t ky = 0; ky < W2S_ENGINE_WINO_KH; ky++) {
        const int16_t *x = rows[ky] + off;
#pragma GCC unroll 128
        for (size_t i = 0; i < W2S_ENGINE_WINO_PAIRS; i++) {
            const uint32_t x0 = pair(x + 2u * i);
            const int16_t *wi = w + 2u * r * (ky * W2S_ENGINE_WINO_PAIRS + i);
            a0 = __smlad(x0, pair(wi), a0);
            a1 = __smlad(x0, pair(wi + 2), a1);
            a2 = __smlad(x0, pair(wi + 4), a2);
            if (r == 4u) {
                a3 = __smlad(x0, pair(wi + 6), a3);
            }
        }
    }
    acc[0] = a0, acc[2] = a1, acc[4] = a2;
    if (r == 4u) {
        acc[6] = a3;
    }
}

W2S_NOINLINE static void dot_1x4_wino(const int16_t *const *rows, size_t off, const int16_t *u,
                                  int32_t m[W2S_WINO_POINTS][8])
{
    for (size_t k = 0; k < W2S_WINO_POINTS; k++) {
        dot_1xr_rows(rows, off + k * W2S_WINO_LANES, u + k * W2S_WINO_USTRIDE, m[k], 4u);
    }
}

W2S_NOINLINE static void dot_1x3_wino(const int16_t *const *rows, size_t off, const int16_t *u,
                                  int32_t m[W2S_WINO_POINTS][8])
{
    for (size_t k = 0; k < W2S_WINO_POINTS; k++) {
        dot_1xr_rows(rows, off + k * W2S_WINO_LANES, u + k * W2S_WINO_USTRIDE, m[k], 3u);
    }
}
#endif
#endif

/* acc[c] = bias[c] + one pixel by a full group (an odd last pixel) */
static void dot_1x4(const int16_t *x, const int16_t *w, size_t pairs, const int32_t *bias, int32_t acc[4])
{
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    const int16_t *const end = w + 2u * W2S_GROUP * pairs;
    while (w < end) {
        const uint32_t x0 = pair(x);
        a0 = __smlad(x0, pair(w), a0);
        a1 = __smlad(x0, pair(w + 2), a1);
        a2 = __smlad(x0, pair(w + 4), a2);
        a3 = __smlad(x0, pair(w + 6), a3);
        x += 2;
        w += 2u * W2S_GROUP;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* acc[c] = bias[c] + one pixel by a group of three */
static void dot_1x3(const int16_t *x, const int16_t *w, size_t pairs, const int32_t *bias, int32_t acc[3])
{
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2];
    for (const int16_t *const end = w + 6u * pairs; w < end; w += 6, x += 2) {
        const uint32_t x0 = pair(x);
        a0 = __smlad(x0, pair(w), a0);
        a1 = __smlad(x0, pair(w + 2), a1);
        a2 = __smlad(x0, pair(w + 4), a2);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
}

/* acc[p] += two pixels by one channel of another group, its pairs `wstride` int16 apart */
static void dot_2x1(const int16_t *x, size_t stride, const int16_t *w, size_t wstride, size_t pairs,
                    int32_t acc[2])
{
    int32_t a0 = acc[0], a1 = acc[1];
    const int16_t *xa = x, *xb = x + stride;
    for (size_t i = 0; i < pairs; i++) {
        const uint32_t wv = pair(w);
        a0 = __smlad(pair(xa), wv, a0);
        a1 = __smlad(pair(xb), wv, a1);
        xa += 2;
        xb += 2;
        w += wstride;
    }
    acc[0] = a0;
    acc[1] = a1;
}

static int32_t dot_1x1(const int16_t *x, const int16_t *w, size_t wstride, size_t pairs, int32_t acc)
{
    for (size_t i = 0; i < pairs; i++) {
        acc = __smlad(pair(x), pair(w), acc);
        x += 2;
        w += wstride;
    }
    return acc;
}
#else
/* Plain C (M0+, the host): two channels of a group at a time, their pairs `wstride` int16 apart; more sums
 * at once only spill registers without dual MACs */
static void dot_2x2(const int16_t *x, size_t stride, const int16_t *w, size_t wstride, size_t pairs, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int16_t *xa = x, *xb = x + stride;
    for (size_t i = 0; i < pairs; i++, xa += 2, xb += 2, w += wstride) {
        a0 += xa[0] * w[0] + xa[1] * w[1];
        a1 += xb[0] * w[0] + xb[1] * w[1];
        a2 += xa[0] * w[2] + xa[1] * w[3];
        a3 += xb[0] * w[2] + xb[1] * w[3];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static void dot_2x1(const int16_t *x, size_t stride, const int16_t *w, size_t wstride, size_t pairs,
                    int32_t acc[2])
{
    const int16_t *xa = x, *xb = x + stride;
    for (size_t i = 0; i < pairs; i++, xa += 2, xb += 2, w += wstride) {
        acc[0] += xa[0] * w[0] + xa[1] * w[1];
        acc[1] += xb[0] * w[0] + xb[1] * w[1];
    }
}

static void sums_from_bias(const int32_t *bias, size_t r, int32_t *acc)
{
    for (size_t c = 0; c < r; c++) {
        acc[2u * c] = acc[2u * c + 1u] = bias[c];
    }
}

/* RISC-V (31 registers, no dual MAC): a whole 2 x r block's sums, the two pixels' taps and the pointers stay in
 * registers, so each weight is loaded once for both pixels and each tap once for all r channels: 15% fewer
 * instructions than two 2 x 2 passes on rv32imc (bench_rv32.py). Same sums. With 8 low registers (M0+) it spills. */
#ifndef W2S_ENGINE_BLOCK_2XR
#if defined(__riscv)
#define W2S_ENGINE_BLOCK_2XR 1
#else
#define W2S_ENGINE_BLOCK_2XR 0
#endif
#endif

static inline void dot_2xr_block(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, const int32_t *bias,
                                 int32_t *acc, const size_t r)
{
    int32_t a0 = bias[0], a1 = bias[0], a2 = bias[1], a3 = bias[1], a4 = bias[2], a5 = bias[2];
    int32_t a6 = r == 4u ? bias[3] : 0, a7 = a6;
    const int16_t *xa = x, *xb = x + stride;
    for (const int16_t *const end = w + 2u * r * pairs; w < end; w += 2u * r, xa += 2, xb += 2) {
        const int32_t x0 = xa[0], x1 = xa[1], y0 = xb[0], y1 = xb[1];
        a0 += x0 * w[0] + x1 * w[1];
        a1 += y0 * w[0] + y1 * w[1];
        a2 += x0 * w[2] + x1 * w[3];
        a3 += y0 * w[2] + y1 * w[3];
        a4 += x0 * w[4] + x1 * w[5];
        a5 += y0 * w[4] + y1 * w[5];
        if (r == 4u) {
            a6 += x0 * w[6] + x1 * w[7];
            a7 += y0 * w[6] + y1 * w[7];
        }
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5;
    if (r == 4u) {
        acc[6] = a6, acc[7] = a7;
    }
}

static void dot_2x4(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, const int32_t *bias,
                    int32_t acc[8])
{
    if (W2S_ENGINE_BLOCK_2XR) {
        dot_2xr_block(x, stride, w, pairs, bias, acc, 4u);
        return;
    }
    sums_from_bias(bias, 4u, acc);
    dot_2x2(x, stride, w, 8u, pairs, acc);
    dot_2x2(x, stride, w + 4, 8u, pairs, acc + 4);
}

static void dot_2x3(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, const int32_t *bias,
                    int32_t acc[6])
{
    if (W2S_ENGINE_BLOCK_2XR) {
        dot_2xr_block(x, stride, w, pairs, bias, acc, 3u);
        return;
    }
    sums_from_bias(bias, 3u, acc);
    dot_2x2(x, stride, w, 6u, pairs, acc);
    dot_2x1(x, stride, w + 4, 6u, pairs, acc + 4);
}

static int32_t dot_1x1(const int16_t *x, const int16_t *w, size_t wstride, size_t pairs, int32_t acc)
{
    for (size_t i = 0; i < pairs; i++, x += 2, w += wstride) {
        acc += x[0] * w[0] + x[1] * w[1];
    }
    return acc;
}

static void dot_1x4(const int16_t *x, const int16_t *w, size_t pairs, const int32_t *bias, int32_t acc[4])
{
    for (size_t c = 0; c < W2S_GROUP; c++) {
        acc[c] = dot_1x1(x, w + 2u * c, 2u * W2S_GROUP, pairs, bias[c]);
    }
}

static void dot_1x3(const int16_t *x, const int16_t *w, size_t pairs, const int32_t *bias, int32_t acc[3])
{
    for (size_t c = 0; c < 3u; c++) {
        acc[c] = dot_1x1(x, w + 2u * c, 6u, pairs, bias[c]);
    }
}
#endif

/* The widened rows (w2s_conv_widen_s16) -> one output row, in blocks of two pixels by a group of output channels
 * that share every load. Integer sums: any order gives the same int32 as TFLM's. */
void w2s_conv_row_s8(const w2s_layer_s8_t *layer, const int16_t *wide, int8_t *out)
{
#if W2S_ENGINE_MVE
    w2s_conv_row_mve_s8(layer, (const int8_t *)wide, out);
    return;
#endif
#if W2S_ENGINE_X86
    if (w2s_conv_row_x86_s8(layer, wide, out)) {
        return;
    }
#endif
#if W2S_ENGINE_NEON
    w2s_conv_row_neon_s8(layer, wide, out); /* aarch64: w2s_engine_conv_neon.c */
    return;
#endif
    const size_t cout = layer->cout, pairs = layer->run / 2u;
    const size_t stride = (size_t)layer->kh * layer->cin; /* from one pixel's receptive field to the next */
    const requant_t q = requant_of(layer);
#ifdef W2S_HOT
    const int hot = pairs == W2S_ENGINE_HOT_PAIRS && stride == W2S_ENGINE_HOT_STRIDE;
#endif
    for (size_t x = 0; x < layer->width; x += 2u) {
        const int16_t *px = wide + x * stride;
        const int two = x + 1u < layer->width; /* an odd last pixel goes alone */
        int8_t *o = out + x * cout;
        for (size_t g = 0, r; g < cout; g += r) {
            const int16_t *w = layer->weights_s16 + g * layer->run;
            r = w2s_group_size(cout, g);
            if ((r == 4u || r == 3u) && two) {
                int32_t acc[8];
                const int32_t *const bias = layer->bias_s32 + g;
#ifdef W2S_HOT
                if (hot && r == 4u) {
                    dot_2x4_hot(px, w, bias, acc);
                } else if (hot) {
                    dot_2x3_hot(px, w, bias, acc);
                } else
#endif
                    if (r == 4u) {
                    dot_2x4(px, stride, w, pairs, bias, acc);
                } else {
                    dot_2x3(px, stride, w, pairs, bias, acc);
                }
                requant_2xr(&q, acc, g, r, o);
            } else if (r == 4u || r == 3u) {
                int32_t acc[4];
                if (r == 4u) {
                    dot_1x4(px, w, pairs, layer->bias_s32 + g, acc);
                } else {
                    dot_1x3(px, w, pairs, layer->bias_s32 + g, acc);
                }
                for (size_t c = 0; c < r; c++) {
                    o[g + c] = requantize_s8(q, acc[c], q.mult[g + c], q.shift[g + c]);
                }
            } else {
                for (size_t c = 0; c < r; c++) {
                    const uint32_t oc = (uint32_t)(g + c);
                    if (two) {
                        int32_t acc[2] = {layer->bias_s32[oc], layer->bias_s32[oc]};
                        dot_2x1(px, stride, w + 2u * c, 2u * r, pairs, acc);
                        const int8_t v0 = requantize_s8(q, acc[0], q.mult[oc], q.shift[oc]);
                        const int8_t v1 = requantize_s8(q, acc[1], q.mult[oc], q.shift[oc]);
                        o[oc] = v0;
                        o[cout + oc] = v1;
                    } else {
                        o[oc] = requantize_s8(q, dot_1x1(px, w + 2u * c, 2u * r, pairs, layer->bias_s32[oc]),
                                              q.mult[oc], q.shift[oc]);
                    }
                }
            }
        }
    }
}

#if W2S_ENGINE_WINOGRAD
/* Exact integer Winograd F(4,3) along the mel axis (engine/winograd.py, which proves each layer's bounds
 * from its weights and emits wino_s16 only where they hold). A tile is 4 output columns from 6 padded input
 * columns. Each input row is transformed once, as it arrives (V_k = B^T d per channel, d = x - zero point),
 * and kept for the kh output rows that read it (w2s_engine_t.wino_s16). An output row: M_k = U_k . V_k over
 * (kernel row, channel) in 2-tile x 4- or 3-channel blocks (SMLAD on the DSP cores), then A'^T M = 24 x the
 * direct sum, divided exactly, the bias, and the direct kernels' requantisation: the same int8 outputs. */

/* s / 24 for s a multiple of 24: >> 3 is exact, and 0xAAAAAAAB is 3^-1 mod 2^32 */
static inline int32_t wino_div24(int32_t s)
{
    return (int32_t)((uint32_t)(s >> 3) * 0xAAAAAAABu);
}

/* B^T d for the six columns' values d0..d5 (any of int32 or packed int16 pairs: OP adds or subtracts) */
#define W2S_WINO_BT(ADD, SUB, d0, d1, d2, d3, d4, d5, v)                                   \
    do {                                                                                  \
        const int32_t t_ = SUB(d0, d2), f_ = SUB(d4, d2), t2_ = ADD(t_, t_);               \
        const int32_t a_ = ADD(d1, d2), b_ = SUB(d1, d2), a2_ = ADD(a_, a_), b2_ = ADD(b_, b_); \
        const int32_t h_ = SUB(d3, d1), h2_ = ADD(h_, h_), h4_ = ADD(h2_, h2_);            \
        (v)[0] = ADD(ADD(t2_, t2_), f_);                                                  \
        (v)[1] = SUB(ADD(d4, d3), ADD(a2_, a2_));                                         \
        (v)[2] = ADD(SUB(d4, d3), ADD(b2_, b2_));                                         \
        (v)[3] = ADD(f_, h2_);                                                            \
        (v)[4] = SUB(f_, h2_);                                                            \
        (v)[5] = SUB(SUB(d5, d3), h4_);                                                   \
    } while (0)
#define W2S_ADD32(a, b) ((a) + (b))
#define W2S_SUB32(a, b) ((a) - (b))

/* lane of input channel c in a vector: fours as SXTB16 splits a word (engine/winograd.py lane_of_channel) */
static size_t wino_lane(size_t c, size_t cin)
{
    static const uint8_t order[4] = {0, 2, 1, 3};
    return c < (cin & ~(size_t)3u) ? (c & ~(size_t)3u) + order[c & 3u] : c;
}

#if W2S_ENGINE_DSP
/* one half (SXTB16's even or odd bytes) of four channels of the six columns u0..u5, zero point out, into the
 * six vectors' lane pair at v */
#ifdef W2S_WIDEN_ASM
#define W2S_SXTB16_HALF(u, odd) ((odd) ? (int32_t)sxtb16_ror8(u) : __sxtb16((int32_t)(u)))
#else
#define W2S_SXTB16_HALF(u, odd) __sxtb16((int32_t)((odd) ? (((u) >> 8) | ((u) << 24)) : (u)))
#endif
static W2S_ALWAYS_INLINE void wino_input_half(const uint32_t *u, const int odd, int32_t zz, const size_t lanes,
                                              int16_t *v)
{
    /* each once: GCC does not merge repeated SADD16/SSUB16 (they set the GE flags) */
    const int32_t d0 = __ssub16(W2S_SXTB16_HALF(u[0], odd), zz), d1 = __ssub16(W2S_SXTB16_HALF(u[1], odd), zz);
    const int32_t d2 = __ssub16(W2S_SXTB16_HALF(u[2], odd), zz), d3 = __ssub16(W2S_SXTB16_HALF(u[3], odd), zz);
    const int32_t d4 = __ssub16(W2S_SXTB16_HALF(u[4], odd), zz), d5 = __ssub16(W2S_SXTB16_HALF(u[5], odd), zz);
    int32_t o[6];
    W2S_WINO_BT(__sadd16, __ssub16, d0, d1, d2, d3, d4, d5, o);
    memcpy(v, &o[0], sizeof o[0]);
    memcpy(v + lanes, &o[1], sizeof o[1]);
    memcpy(v + 2u * lanes, &o[2], sizeof o[2]);
    memcpy(v + 3u * lanes, &o[3], sizeof o[3]);
    memcpy(v + 4u * lanes, &o[4], sizeof o[4]);
    memcpy(v + 5u * lanes, &o[5], sizeof o[5]);
}
#endif

/* One tile's vectors v[k * lanes + lane] from its six padded columns d + j * cin (int8), d = x - zero. Every
 * value fits int16 (winograd_bounds). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void wino_input_tile(const int8_t *d, const size_t cin, const size_t lanes, int32_t zero, int16_t *v)
{
    size_t c = 0;
#if W2S_ENGINE_DSP
    /* four channels a turn: SXTB16 splits each column's word into channels (0, 2) and (1, 3) */
    const int32_t zz = (int32_t)((uint32_t)(uint16_t)zero * 0x00010001u);
    for (; c + 4u <= cin; c += 4u) {
        uint32_t u[6];
        for (size_t j = 0; j < 6u; j++) {
            memcpy(&u[j], d + j * cin + c, sizeof u[j]);
        }
        wino_input_half(u, 0, zz, lanes, v + c);
        wino_input_half(u, 1, zz, lanes, v + c + 2u);
    }
#endif
    for (; c < cin; c++) {
        const int8_t *p = d + c;
        int32_t out[6];
        W2S_WINO_BT(W2S_ADD32, W2S_SUB32, p[0] - zero, p[cin] - zero, p[2u * cin] - zero, p[3u * cin] - zero,
                    p[4u * cin] - zero, p[5u * cin] - zero, out);
        const size_t lane = wino_lane(c, cin);
        for (size_t k = 0; k < 6u; k++) {
            v[k * lanes + lane] = (int16_t)out[k];
        }
    }
}

void w2s_conv_wino_input_s8(const w2s_layer_s8_t *layer, const int8_t *row, int8_t *padded, int16_t *v)
{
    const size_t cin = layer->cin, width = layer->width, tiles = (width + W2S_WINO_TILE - 1u) / W2S_WINO_TILE;
    const size_t lanes = cin + (cin & 1u), cols = W2S_WINO_TILE * tiles + 2u;
    const int32_t zero = layer->in_zero;
    /* the padding columns hold the zero point: d = 0 there, as TFLM skipping out-of-image taps */
    memset(padded, zero, cin);
    memcpy(padded + cin, row, width * cin);
    memset(padded + (width + 1u) * cin, zero, (cols - width - 1u) * cin);
#ifdef W2S_WINO_HOT
    if (cin == W2S_ENGINE_WINO_CIN) { /* the column step and the vectors' length as immediate offsets */
        for (size_t t = 0; t < tiles; t++) {
            wino_input_tile(padded + W2S_WINO_TILE * t * W2S_ENGINE_WINO_CIN, W2S_ENGINE_WINO_CIN, W2S_WINO_LANES,
                            zero, v + t * W2S_WINO_TSTRIDE);
        }
        return;
    }
#endif
    for (size_t t = 0; t < tiles; t++) {
        wino_input_tile(padded + W2S_WINO_TILE * t * cin, cin, lanes, zero, v + t * W2S_WINO_POINTS * lanes);
    }
}

/* m[k][2c + p] = U_k . V_k over the kh kept rows, for a group of r output channels (c) and nt = 1 or 2 tiles
 * (p) */
static void wino_sums(const int16_t *const *rows, size_t off, size_t lanes, size_t kh, size_t nt, const int16_t *u,
                      size_t ustride, size_t r, int32_t m[W2S_WINO_POINTS][8])
{
    const size_t tstride = W2S_WINO_POINTS * lanes, pairs = lanes / 2u;
#ifdef W2S_WINO_HOT
    if (pairs == W2S_ENGINE_WINO_PAIRS && kh == W2S_ENGINE_WINO_KH && ustride == W2S_WINO_USTRIDE &&
        (r == 4u || r == 3u)) { /* the six points in one call */
        if (nt == 2u && r == 4u) {
            dot_2x4_wino(rows, off, u, m);
        } else if (nt == 2u) {
            dot_2x3_wino(rows, off, u, m);
        } else if (r == 4u) {
            dot_1x4_wino(rows, off, u, m);
        } else {
            dot_1x3_wino(rows, off, u, m);
        }
        return;
    }
#endif
    for (size_t k = 0; k < W2S_WINO_POINTS; k++, off += lanes, u += ustride) {
        for (size_t c = 0; c < r; c++) {
            for (size_t p = 0; p < nt; p++) {
                int32_t acc = 0;
                for (size_t ky = 0; ky < kh; ky++) {
                    acc = dot_1x1(rows[ky] + off + p * tstride, u + ky * lanes * r + 2u * c, 2u * r, pairs, acc);
                }
                m[k][2u * c + p] = acc;
            }
        }
    }
}

/* The output transform of one tile p of a group's sums, channel c: A'^T M / 24 + bias, 4 pixels */
#define W2S_WINO_OUT(m, j, bias, y)                                             \
    do {                                                                        \
        const int32_t a_ = (m)[1][j] + (m)[2][j], b_ = (m)[1][j] - (m)[2][j];   \
        const int32_t s_ = (m)[3][j] + (m)[4][j], e_ = (m)[3][j] - (m)[4][j];   \
        (y)[0] = wino_div24(6 * (m)[0][j] + 4 * a_ + s_) + (bias);              \
        (y)[1] = wino_div24(4 * b_ + 2 * e_) + (bias);                          \
        (y)[2] = wino_div24(4 * (a_ + s_)) + (bias);                            \
        (y)[3] = wino_div24(4 * b_ + 8 * e_ + 24 * (m)[5][j]) + (bias);         \
    } while (0)

#if defined(W2S_SMMULR) && defined(W2S_WINO_HOT)
/* wino_out_s8 for whole tiles of the hot convs under a plain ReLU: r, nt and the pixel step are constants, so
 * every store is an immediate offset */
static W2S_ALWAYS_INLINE void wino_out_relu(int32_t m[W2S_WINO_POINTS][8], const size_t nt, const size_t r,
                                            const int32_t *bias, const int32_t *mult, const int8_t *shift,
                                            int32_t zero, int8_t *o)
{
    const size_t cout = W2S_ENGINE_WINO_COUT;
#pragma GCC unroll 4
    for (size_t c = 0; c < r; c++, o++) {
        const int32_t mu = mult[c];
        const int right1 = -shift[c] - 1;
#pragma GCC unroll 2
        for (size_t p = 0; p < nt; p++) {
            int32_t y[4];
            W2S_WINO_OUT(m, 2u * c + p, bias[c], y);
            int8_t *op = o + W2S_WINO_TILE * p * cout;
            op[0] = relu_requant_s8(y[0], mu, right1, zero);
            op[cout] = relu_requant_s8(y[1], mu, right1, zero);
            op[2u * cout] = relu_requant_s8(y[2], mu, right1, zero);
            op[3u * cout] = relu_requant_s8(y[3], mu, right1, zero);
        }
    }
}

W2S_NOINLINE static void wino_out_relu_2x4(int32_t m[W2S_WINO_POINTS][8], const int32_t *bias, const int32_t *mult,
                                           const int8_t *shift, int32_t zero, int8_t *o)
{
    wino_out_relu(m, 2u, 4u, bias, mult, shift, zero, o);
}

W2S_NOINLINE static void wino_out_relu_2x3(int32_t m[W2S_WINO_POINTS][8], const int32_t *bias, const int32_t *mult,
                                           const int8_t *shift, int32_t zero, int8_t *o)
{
    wino_out_relu(m, 2u, 3u, bias, mult, shift, zero, o);
}

W2S_NOINLINE static void wino_out_relu_1x4(int32_t m[W2S_WINO_POINTS][8], const int32_t *bias, const int32_t *mult,
                                           const int8_t *shift, int32_t zero, int8_t *o)
{
    wino_out_relu(m, 1u, 4u, bias, mult, shift, zero, o);
}

W2S_NOINLINE static void wino_out_relu_1x3(int32_t m[W2S_WINO_POINTS][8], const int32_t *bias, const int32_t *mult,
                                           const int8_t *shift, int32_t zero, int8_t *o)
{
    wino_out_relu(m, 1u, 3u, bias, mult, shift, zero, o);
}
#endif

/* A group's sums of nt tiles (m[k][2c + p]) -> its int8 outputs of the first `valid` pixels at o (pixel-major,
 * cout a pixel), each channel's multiplier read once for the tiles' pixels. */
static void wino_out_s8(const requant_t *qp, int32_t m[W2S_WINO_POINTS][8], size_t nt, size_t g, size_t r,
                        const int32_t *bias, size_t valid, int8_t *o)
{
    const size_t cout = qp->cout;
    o += g;
#ifdef W2S_SMMULR
    if (qp->fast != FAST_NONE) {
        const int32_t zero = qp->out_zero;
#ifdef W2S_WINO_HOT
        if (qp->fast == FAST_RELU && cout == W2S_ENGINE_WINO_COUT && valid == W2S_WINO_TILE * nt &&
            (r == 4u || r == 3u)) {
            const int32_t *mult = qp->mult + g;
            const int8_t *shift = qp->shift + g;
            if (nt == 2u && r == 4u) {
                wino_out_relu_2x4(m, bias, mult, shift, zero, o);
            } else if (nt == 2u) {
                wino_out_relu_2x3(m, bias, mult, shift, zero, o);
            } else if (r == 4u) {
                wino_out_relu_1x4(m, bias, mult, shift, zero, o);
            } else {
                wino_out_relu_1x3(m, bias, mult, shift, zero, o);
            }
            return;
        }
#endif
/* one loop per kind, as requant_2xr */
#define W2S_WINO_REQUANT(requant)                                                       \
        for (size_t c = 0; c < r; c++, o++) {                                          \
            const int32_t mult = qp->mult[g + c];                                      \
            const int right1 = -qp->shift[g + c] - 1;                                  \
            for (size_t p = 0; p < nt; p++) {                                          \
                int32_t y[4];                                                          \
                W2S_WINO_OUT(m, 2u * c + p, bias[c], y);                               \
                for (size_t i = W2S_WINO_TILE * p, j = 0; i < valid && j < 4u; i++, j++) { \
                    o[i * cout] = requant(y[j], mult, right1, zero);                   \
                }                                                                      \
            }                                                                          \
        }
        if (qp->fast == FAST_RELU) {
            W2S_WINO_REQUANT(relu_requant_s8)
        } else {
            W2S_WINO_REQUANT(full_requant_s8)
        }
#undef W2S_WINO_REQUANT
        return;
    }
#endif
    const requant_t q = *qp;
    for (size_t c = 0; c < r; c++) {
        for (size_t p = 0; p < nt; p++) {
            int32_t y[4];
            W2S_WINO_OUT(m, 2u * c + p, bias[c], y);
            for (size_t i = W2S_WINO_TILE * p, j = 0; i < valid && j < 4u; i++, j++) {
                o[i * cout + c] = requantize_s8(q, y[j], q.mult[g + c], q.shift[g + c]);
            }
        }
    }
}

void w2s_conv_wino_row_s8(const w2s_layer_s8_t *layer, const int16_t *const *vrows, int8_t *out)
{
    const size_t cout = layer->cout, width = layer->width, kh = layer->kh, lanes = layer->cin + (layer->cin & 1u);
    const size_t tiles = (width + W2S_WINO_TILE - 1u) / W2S_WINO_TILE, run = kh * lanes;
    const requant_t q = requant_of(layer);
    for (size_t t = 0; t < tiles; t += 2u) { /* tiles in pairs, a last odd one alone */
        const size_t nt = t + 1u < tiles ? 2u : 1u, x0 = W2S_WINO_TILE * t;
        const size_t valid = width - x0 < W2S_WINO_TILE * nt ? width - x0 : W2S_WINO_TILE * nt;
        int8_t *dst = out + x0 * cout;
        size_t room = valid;
#ifdef W2S_WINO_HOT
        /* tiles reaching past the row: their whole pixels into a buffer, the row's ones copied out */
        int8_t part[2u * W2S_WINO_TILE * W2S_ENGINE_WINO_COUT];
        if (valid < W2S_WINO_TILE * nt && cout == W2S_ENGINE_WINO_COUT) {
            dst = part;
            room = W2S_WINO_TILE * nt;
        }
#endif
        for (size_t g = 0, r; g < cout; g += r) {
            r = w2s_group_size(cout, g);
            int32_t m[W2S_WINO_POINTS][8];
            wino_sums(vrows, t * W2S_WINO_POINTS * lanes, lanes, kh, nt, layer->wino_s16 + g * run, cout * run, r, m);
            wino_out_s8(&q, m, nt, g, r, layer->bias_s32 + g, room, dst);
        }
        if (dst != out + x0 * cout) {
            memcpy(out + x0 * cout, dst, valid * cout);
        }
    }
}
#endif
