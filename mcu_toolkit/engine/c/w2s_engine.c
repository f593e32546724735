/* w2s_engine.c: see w2s_engine.h. */
#include "w2s_engine.h"

#include <string.h>

#ifndef W2S_SINGLE_ROUNDING
#define W2S_SINGLE_ROUNDING 0
#endif

/* Dual 16-bit MACs (SMLAD) where the core has the DSP extension (M4, M7, M33 with DSP), unless
 * W2S_ENGINE_PORTABLE asks for the plain C; the arithmetic is the same, only the schedule changes. */
#if defined(__ARM_FEATURE_DSP) && !defined(W2S_ENGINE_PORTABLE)
#define W2S_ENGINE_DSP 1
#include <arm_acle.h>
#else
#define W2S_ENGINE_DSP 0
#endif

#define W2S_EXP_SENTINEL (-32768) /* the block exponent before a column's first row */

/* Each row kernel compiled on its own: inlined into one big function, their register allocation
 * depends on each other, and a change in one moves the others' instruction counts. */
#if defined(__GNUC__)
#define W2S_NOINLINE __attribute__((noinline))
#else
#define W2S_NOINLINE
#endif

#ifdef W2S_ENGINE_PROFILE
/* Per-layer time, for a board that provides the clock (qemu-f411: SysTick under QEMU -icount). */
extern uint32_t w2s_profile_ticks(void);
uint64_t g_w2s_engine_layer_ticks[W2S_ENGINE_LAYERS + 1]; /* the trunk's layers, then lin/sof + pooling */
#define PROFILE_START(t) const uint32_t t = w2s_profile_ticks()
#define PROFILE_END(t, k) (g_w2s_engine_layer_ticks[k] += (uint32_t)(w2s_profile_ticks() - (t)))
#else
#define PROFILE_START(t)
#define PROFILE_END(t, k)
#endif

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

static int8_t clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

static size_t row_bytes(const w2s_layer_s8_t *layer)
{
    return (size_t)layer->width * layer->cin;
}

/* the ring slot that holds (or will hold) the layer's input row number `row` */
static int8_t *ring_row(w2s_engine_t *e, uint32_t k, uint32_t row)
{
    const w2s_layer_s8_t *layer = &e->model->layers[k];
    return e->ring_s8 + layer->ring_offset + (size_t)(row % layer->kh) * row_bytes(layer);
}

#if W2S_ENGINE_DSP && !W2S_SINGLE_ROUNDING && defined(__GNUC__)
#define W2S_SMMULR 1
/* (acc * mult + 2^30) >> 31 for |acc| < 2^30: the rounded high word of (2 acc) * mult, one SMMULR
 * instead of a 64-bit product, its rounding and a 64-bit shift */
static inline int32_t rounding_high_mul(int32_t acc, int32_t mult)
{
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc * 2), "r"(mult));
    return high;
}
#endif

/* A layer's requantisation constants, copied once per row: through the layer pointer they would be read
 * again after every int8 store, which may alias anything. */
typedef struct {
    const int32_t *mult;
    const int8_t *shift;
    int32_t out_zero, act_min, act_max;
    int relu_floor; /* the activation's floor is at or above the zero point */
    size_t cout;
    int fast; /* FAST_RELU or FAST_FULL: every shift to the right and |sum| < 2^30, so SMMULR serves */
} requant_t;

enum { FAST_NONE, FAST_RELU, FAST_FULL }; /* FAST_RELU: floor at the zero point, ceiling 127; FULL: -128..127 */

static requant_t requant_of(const w2s_layer_s8_t *layer)
{
    requant_t q = {layer->mult_q31, layer->shift, layer->out_zero, layer->act_min, layer->act_max,
                   layer->act_min >= layer->out_zero, layer->cout, 0};
#ifdef W2S_SMMULR
    /* |sum| <= run * 128 * 255 + |bias| < 2^30 (an int8 weight may be -128) keeps 2 * sum in an int32 */
    const int64_t room = ((int64_t)1 << 30) - (int64_t)layer->run * 128 * 255;
    const int32_t headroom = room > 0 ? (int32_t)room : 0;
    q.fast = headroom == 0 ? FAST_NONE
             : (q.act_min == q.out_zero && q.act_max == 127) ? FAST_RELU
             : (q.act_min == -128 && q.act_max == 127) ? FAST_FULL : FAST_NONE;
    for (size_t c = 0; c < q.cout && q.fast != FAST_NONE; c++) {
        const int32_t b = layer->bias_s32[c];
        q.fast = (q.shift[c] < 0 && b < headroom && b > -headroom) ? q.fast : FAST_NONE;
    }
#endif
    return q;
}

/* TFLM's requantisation, zero point and activation, with two shortcuts that give the same integers:
 * under a ReLU floor a non-positive sum always lands on the floor (the multipliers are positive), and a
 * positive sum needs none of gemmlowp's sign handling. */
static inline int8_t requantize_s8(requant_t q, int32_t acc, int32_t mult, int shift)
{
    if (shift <= 0) {
        if (acc > 0) {
            const int64_t ab = (int64_t)acc * mult;
#if W2S_SINGLE_ROUNDING
            const int total = 31 - shift;
            const int32_t v = (int32_t)((ab + ((int64_t)1 << (total - 1))) >> total);
#else
            /* ab < 2^62, so high < 2^31; uint32 keeps high + half (<= 2^31 + 2^30) and shifts up to 31
             * defined, and the shift by a variable stays 32-bit (a 64-bit one is a library call on a Cortex-M) */
            const uint32_t high = (uint32_t)((ab + ((int64_t)1 << 30)) >> 31);
            const uint32_t right = (uint32_t)-shift;
            const int32_t v = (int32_t)((high + ((1u << right) >> 1)) >> right);
#endif
            return clamp_s8(v + q.out_zero, q.act_min, q.act_max);
        }
        if (q.relu_floor) {
            return (int8_t)q.act_min;
        }
    }
    return clamp_s8(w2s_engine_requantize_q31(acc, mult, shift) + q.out_zero, q.act_min, q.act_max);
}

#ifdef W2S_SMMULR
/* A plain ReLU layer's requantisation without a branch: |acc| < 2^30 (requant_of), so SMMULR gives
 * (acc * mult + 2^30) >> 31, and a non-negative high rounds half up. A sum at or below 0 gives a value at
 * or below 0, which USAT takes to 0: the zero point, as the ReLU floor does. SSAT is the 127 ceiling. */
static inline int8_t relu_requant_s8(int32_t acc, int32_t mult, int right1, int32_t zero)
{
    const int32_t up = (rounding_high_mul(acc, mult) >> right1) + 1;
    return (int8_t)__ssat((int32_t)__usat(up >> 1, 8) + zero, 8);
}

/* The same over the whole int8 range, for sums of either sign. SMMULR rounds a negative product as
 * gemmlowp does (floor((p + 2^30) / 2^31) = -floor((|p| + 2^30 - 1) / 2^31)); high - 1 for a negative high
 * makes the rounding shift round half away from zero, as RoundingDivideByPOT does. */
static inline int8_t full_requant_s8(int32_t acc, int32_t mult, int right1, int32_t zero)
{
    const int32_t high = rounding_high_mul(acc, mult);
    return (int8_t)__ssat(((((high + (high >> 31)) >> right1) + 1) >> 1) + zero, 8);
}
#endif

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
static void widen_rows(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out)
{
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

/* channels in the group that starts at output channel g (c_engine.channel_groups) */
static size_t group_size(size_t cout, size_t g)
{
    size_t threes = (4u - cout % 4u) % 4u;
    threes = 3u * threes > cout ? 0u : threes;
    const size_t fours = (cout - 3u * threes) / 4u;
    if (g < 4u * fours) {
        return 4u;
    }
    return g < 4u * fours + 3u * threes ? 3u : cout - g;
}

#if W2S_ENGINE_DSP
static uint32_t pair(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* LDR: the DSP cores allow unaligned word loads */
    return v;
}

/* One pair of taps of two pixels (x0, x1: loaded pairs) into a group's sums a0.. (channel-major, pixel
 * minor), with the group's weights for that pair at w: each weight pair is loaded once for both pixels. */
#define W2S_MAC_2X3(x0, x1, w)                           \
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
    } while (0)
#define W2S_MAC_2X4(x0, x1, w)                           \
    do {                                                 \
        W2S_MAC_2X3(x0, x1, w);                          \
        const uint32_t w3_ = pair((w) + 6);              \
        a6 = __smlad((x0), w3_, a6);                     \
        a7 = __smlad((x1), w3_, a7);                     \
    } while (0)
/* the sums live in registers for the whole dot product, starting from the group's biases (acc[2c + p]:
 * channel c, pixel p) */
#define W2S_SUMS6_IN int32_t a0 = bias[0], a1 = bias[0], a2 = bias[1], a3 = bias[1], a4 = bias[2], a5 = bias[2]
#define W2S_SUMS6_OUT (acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5)
#define W2S_SUMS8_IN W2S_SUMS6_IN; int32_t a6 = bias[3], a7 = bias[3]
#define W2S_SUMS8_OUT (W2S_SUMS6_OUT, acc[6] = a6, acc[7] = a7)

/* acc[2c + p] += pixels p (x, x + stride) by a full group's channels c: eight sums in registers. The
 * block kernels stay calls: inlined, they leave the requantisation around them short of registers. */
W2S_NOINLINE static void dot_2x4(const int16_t *x, size_t stride, const int16_t *w, size_t pairs,
                                 const int32_t *bias, int32_t acc[8])
{
    W2S_SUMS8_IN;
    const int16_t *xa = x, *xb = x + stride;
    for (const int16_t *const end = w + 8u * pairs; w < end; w += 8, xa += 2, xb += 2) {
        const uint32_t x0 = pair(xa), x1 = pair(xb);
        W2S_MAC_2X4(x0, x1, w);
    }
    W2S_SUMS8_OUT;
}

/* the same for a group of three: six sums, and no register to spare */
W2S_NOINLINE static void dot_2x3(const int16_t *x, size_t stride, const int16_t *w, size_t pairs,
                                 const int32_t *bias, int32_t acc[6])
{
    W2S_SUMS6_IN;
    const int16_t *xa = x, *xb = x + stride;
    for (const int16_t *const end = w + 6u * pairs; w < end; w += 6, xa += 2, xb += 2) {
        const uint32_t x0 = pair(xa), x1 = pair(xb);
        W2S_MAC_2X3(x0, x1, w);
    }
    W2S_SUMS6_OUT;
}

#if defined(W2S_ENGINE_HOT_PAIRS) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define W2S_HOT 1
/* The convs that do most of the MACs (W2S_ENGINE_HOT_PAIRS, _STRIDE), fully unrolled: with the trip
 * count and the pixel step known, the second pixel and every weight are immediate offsets, and the loop
 * needs no pointer, counter or compare: 0.9 instructions per MAC instead of 1.1. Same sums. */
W2S_NOINLINE static void dot_2x4_hot(const int16_t *x, const int16_t *w, const int32_t *bias, int32_t acc[8])
{
    W2S_SUMS8_IN;
#pragma GCC unroll 128
    for (size_t i = 0; i < W2S_ENGINE_HOT_PAIRS; i++) {
        const uint32_t x0 = pair(x + 2u * i), x1 = pair(x + W2S_ENGINE_HOT_STRIDE + 2u * i);
        W2S_MAC_2X4(x0, x1, w + 8u * i);
    }
    W2S_SUMS8_OUT;
}

W2S_NOINLINE static void dot_2x3_hot(const int16_t *x, const int16_t *w, const int32_t *bias, int32_t acc[6])
{
    W2S_SUMS6_IN;
#pragma GCC unroll 128
    for (size_t i = 0; i < W2S_ENGINE_HOT_PAIRS; i++) {
        const uint32_t x0 = pair(x + 2u * i), x1 = pair(x + W2S_ENGINE_HOT_STRIDE + 2u * i);
        W2S_MAC_2X3(x0, x1, w + 6u * i);
    }
    W2S_SUMS6_OUT;
}
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

static void dot_2x4(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, const int32_t *bias,
                    int32_t acc[8])
{
    sums_from_bias(bias, 4u, acc);
    dot_2x2(x, stride, w, 8u, pairs, acc);
    dot_2x2(x, stride, w + 4, 8u, pairs, acc + 4);
}

static void dot_2x3(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, const int32_t *bias,
                    int32_t acc[6])
{
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

/* The widened rows (widen_rows) -> one output row, in blocks of two pixels by a group of output channels
 * that share every load. Integer sums: any order gives the same int32 as TFLM's. */
W2S_NOINLINE static void conv_row_s8(const w2s_layer_s8_t *layer, const int16_t *wide, int8_t *out)
{
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
            r = group_size(cout, g);
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

#if W2S_ENGINE_DSP
static uint32_t word_s8(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* four signed bytes at once: SSUB8 sets a GE flag where a >= b, SEL takes a there and b elsewhere */
static uint32_t max_s8x4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return __sel(a, b);
}

static uint32_t bytes4(int32_t v)
{
    return (uint32_t)(uint8_t)v * 0x01010101u;
}
#endif

/* kh rows -> one pooled row: the max down each column first (once per input value), then across kw of them.
 * The DSP build takes four int8 values at a time; max is exact, so the order does not matter. */
W2S_NOINLINE static void maxpool_row_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *colmax, int8_t *out)
{
    const size_t n = (size_t)layer->width * layer->cin, cin = layer->cin;
    size_t i = 0;
#if W2S_ENGINE_DSP
    int8_t *const cm = (int8_t *)colmax; /* the column maxima as int8: the int16 buffer has room */
    for (; i + 4u <= n; i += 4u) {
        uint32_t m = word_s8(rows[0] + i);
        for (uint32_t ky = 1; ky < layer->kh; ky++) {
            m = max_s8x4(word_s8(rows[ky] + i), m);
        }
        memcpy(cm + i, &m, sizeof m);
    }
#else
    int16_t *const cm = colmax;
#endif
    for (; i < n; i++) {
        int32_t m = rows[0][i];
        for (uint32_t ky = 1; ky < layer->kh; ky++) {
            m = rows[ky][i] > m ? rows[ky][i] : m;
        }
        cm[i] = (int8_t)m;
    }
#if W2S_ENGINE_DSP
    const uint32_t zero4 = bytes4(layer->in_zero), lo4 = bytes4(layer->act_min), hi4 = bytes4(layer->act_max);
#endif
    for (uint32_t ox = 0; ox < layer->out_width; ox++) {
        uint32_t c = 0;
#if W2S_ENGINE_DSP
        for (; c + 4u <= cin; c += 4u) {
            uint32_t m = bytes4(-128);
            for (uint32_t kx = 0; kx < layer->kw; kx++) {
                const int32_t ix = (int32_t)(ox * layer->sw + kx) - (int32_t)layer->pad_left;
                m = max_s8x4((ix < 0 || ix >= (int32_t)layer->width) ? zero4 : word_s8(cm + (size_t)ix * cin + c), m);
            }
            m = max_s8x4(m, lo4);
            (void)__ssub8((int8x4_t)m, (int8x4_t)hi4);
            m = __sel(hi4, m); /* min(m, act_max) */
            memcpy(out + (size_t)ox * cin + c, &m, sizeof m);
        }
#endif
        for (; c < cin; c++) {
            int32_t m = -128;
            for (uint32_t kx = 0; kx < layer->kw; kx++) {
                const int32_t ix = (int32_t)(ox * layer->sw + kx) - (int32_t)layer->pad_left;
                const int32_t v = (ix < 0 || ix >= (int32_t)layer->width) ? layer->in_zero : cm[(size_t)ix * cin + c];
                m = v > m ? v : m;
            }
            out[(size_t)ox * cin + c] = clamp_s8(m, layer->act_min, layer->act_max);
        }
    }
}

/* The last trunk row through lin and sof, into each column's sums on one block exponent. */
W2S_NOINLINE static void pool_row(w2s_engine_t *e)
{
    const w2s_engine_model_t *m = e->model;
    int8_t lin[W2S_ENGINE_COLUMNS], sof[W2S_ENGINE_COLUMNS]; /* one row of each: the row kernels' blocks */
    const int8_t *const row[1] = {e->tail_row_s8};
    widen_rows(&m->lin, row, e->wide_s16); /* lin and sof read the same input */
    conv_row_s8(&m->lin, e->wide_s16, lin);
    conv_row_s8(&m->sof, e->wide_s16, sof);
    for (size_t j = 0; j < W2S_ENGINE_COLUMNS; j++) {
        const int32_t v = lin[j] - m->lin.out_zero;
        const int32_t q = sof[j] + 128;
        const int32_t x = m->exp_exp[q];
        if (x > e->block_exp[j]) {
            int32_t s = x - e->block_exp[j];
            s = s > 63 ? 63 : s;
            e->sum0[j] >>= s;
            e->sum1[j] >>= s;
            e->block_exp[j] = (int16_t)x;
        }
        int32_t d = e->block_exp[j] - x;
        d = d > 31 ? 31 : d;
        const int64_t mant = m->exp_mant_q29[q] >> d;
        e->sum0[j] += mant;
        e->sum1[j] += mant * v;
    }
    e->rows_pooled++;
}

/* Layer k has a new input row in its ring: run every row this completes, down the trunk. */
static void advance(w2s_engine_t *e, uint32_t k)
{
    const w2s_engine_model_t *m = e->model;
    for (;;) {
        const w2s_layer_s8_t *layer = &m->layers[k];
        const uint32_t got = ++e->received[k];
        if (got < layer->kh || (got - layer->kh) % layer->sh != 0u) {
            return;
        }
        const int8_t *rows[W2S_ENGINE_MAX_KH];
        for (uint32_t ky = 0; ky < layer->kh; ky++) {
            rows[ky] = ring_row(e, k, got - layer->kh + ky);
        }
        const int last = k + 1 == m->n_layers;
        int8_t *out = last ? e->tail_row_s8 : ring_row(e, k + 1, e->received[k + 1]);
        PROFILE_START(t0);
        if (layer->kind == W2S_LAYER_CONV) {
            widen_rows(layer, rows, e->wide_s16);
            conv_row_s8(layer, e->wide_s16, out);
        } else {
            maxpool_row_s8(layer, rows, e->wide_s16, out);
        }
        PROFILE_END(t0, k);
        if (last) {
            PROFILE_START(t1);
            pool_row(e);
            PROFILE_END(t1, W2S_ENGINE_LAYERS);
            return;
        }
        k++;
    }
}

static void pad_rows(w2s_engine_t *e, uint32_t k, uint32_t count)
{
    const w2s_layer_s8_t *layer = &e->model->layers[k];
    for (uint32_t i = 0; i < count; i++) {
        memset(ring_row(e, k, e->received[k]), layer->in_zero, row_bytes(layer));
        advance(e, k);
    }
}

void w2s_engine_window_start(w2s_engine_t *engine, const w2s_engine_model_t *model)
{
    memset(engine, 0, sizeof(*engine));
    engine->model = model;
    for (uint32_t j = 0; j < W2S_ENGINE_COLUMNS; j++) {
        engine->block_exp[j] = W2S_EXP_SENTINEL;
    }
    for (uint32_t k = 0; k < model->n_layers; k++) {
        pad_rows(engine, k, model->layers[k].pad_top); /* pad_top < kh: completes no row */
    }
}

void w2s_engine_push_s8(w2s_engine_t *engine, const int8_t *row_s8)
{
    memcpy(ring_row(engine, 0, engine->received[0]), row_s8, W2S_ENGINE_N_MELS);
    engine->frames++;
    advance(engine, 0);
}

uint32_t w2s_engine_window_end_f32(w2s_engine_t *engine, float *out_f32)
{
    const w2s_engine_model_t *m = engine->model;
    for (uint32_t k = 0; k < m->n_layers; k++) {
        pad_rows(engine, k, m->layers[k].pad_bottom);
    }
    if (engine->rows_pooled == 0u) {
        return 0u;
    }
    float y[W2S_ENGINE_COLUMNS]; /* j = f * C + c */
    for (uint32_t j = 0; j < W2S_ENGINE_COLUMNS; j++) {
        y[j] = ((float)engine->sum1[j] / (float)engine->sum0[j]) * m->lin_scale;
    }
    float acc[W2S_ENGINE_OUTPUTS] = {0.0f};
    const uint32_t per_channel = W2S_ENGINE_POOLED_MELS + W2S_ENGINE_CHANNELS;
    for (uint32_t c = 0; c < W2S_ENGINE_CHANNELS; c++) {
        for (uint32_t i = 0; i < per_channel; i++) {
            float feature;
            if (i < W2S_ENGINE_POOLED_MELS) {
                feature = y[i * W2S_ENGINE_CHANNELS + c];
            } else {
                const uint32_t d = i - W2S_ENGINE_POOLED_MELS;
                feature = 0.0f;
                for (uint32_t f = 0; f < W2S_ENGINE_POOLED_MELS; f++) {
                    const float p = y[f * W2S_ENGINE_CHANNELS + c] * y[f * W2S_ENGINE_CHANNELS + d];
                    feature = feature + p;
                }
            }
            for (uint32_t o = 0; o < W2S_ENGINE_OUTPUTS; o++) {
                const float p = m->head_weight_f32[(size_t)o * W2S_ENGINE_HEAD_FEATURES + c * per_channel + i] * feature;
                acc[o] = acc[o] + p;
            }
        }
    }
    for (uint32_t o = 0; o < W2S_ENGINE_OUTPUTS; o++) {
        out_f32[o] = acc[o] + m->head_bias_f32[o];
    }
    return engine->rows_pooled;
}
