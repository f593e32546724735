/* w2s_engine_conv_neon: the NEON conv row kernels of an aarch64 build (W2S_ENGINE_NEON, see w2s_engine_kernels.h),
 * which w2s_conv_widen_s16 and w2s_conv_row_s8 forward to. The same data as the portable C: the kh input rows
 * widened to int16 in its layout (8 channels a vector), and weights_s16 in the same groups of output channels
 * (fours, threes, a rest).
 *
 * The lanes are a group's output channels: UZP splits two tap pairs' weights (channel-major, tap minor) into
 * each pair's first and second tap of each channel, and SMLAL by element multiplies them by one input tap, for 4
 * MACs an instruction into int32 sums. A block of up to 8 pixels shares each weight load; each pixel loads 4 tap pairs
 * at once. TFLM's requantisation is vectorised too (SQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul, and
 * the fix-up before SRSHL its RoundingDivideByPOT): the same integers as requantize_s8.
 *
 * With the dot product extension (__ARM_FEATURE_DOTPROD: -march=armv8.2-a+dotprod and later), SDOT instead: int8
 * rows and weights, 16 MACs an instruction (see below). */
#include "w2s_engine_kernels.h"

#if W2S_ENGINE_NEON
#include <arm_neon.h>
#include <string.h>

#include "w2s_engine_requant.h"

#if defined(__GNUC__)
#define W2S_NEON_INLINE inline __attribute__((always_inline))
#else
#define W2S_NEON_INLINE inline
#endif
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 8)
#define W2S_NEON_UNROLL _Pragma("GCC unroll 16")
#else
#define W2S_NEON_UNROLL
#endif

/* the widest block of pixels: SDOT's 13 (13 sums, 13 input vectors and the weights in the 32 registers); SMLAL's
 * take at most 8 (with 13, GCC spills) */
#define W2S_NEON_PIXELS 13u


/* A tap pair's weights of a group of three (w[2c + t]), its first taps in val[0] and its second in val[1], lane 3
 * unused: six values read, none past them */
static W2S_NEON_INLINE int16x4x2_t load_pair3(const int16_t *w)
{
    const int16x4_t a = vld1_s16(w), b = vld1_s16(w + 2); /* (c0, c1), (c1, c2) */
    return vuzp_s16(a, vext_s16(b, b, 2));
}

/* the tap pair at x in both halves of a vector, read as two int16 */
static W2S_NEON_INLINE int16x4_t pair_dup(const int16_t *x)
{
    int32_t v;
    memcpy(&v, x, sizeof v);
    return vreinterpret_s16_s32(vdup_n_s32(v));
}

/* acc[p] = bias + pixel p's field (x + p * stride) by the group's r output channels (lanes), p < np.
 * Two tap pairs' weights (2r values each, channel-major) a turn, split by UZP into first taps (lanes 0-3: the
 * first pair's channels, 4-7: the second's) and second taps; SMLAL and SMLAL2 by element take each half. With
 * r = 3, lane 3 of each half holds a weight of the next pair, which lands in the unused sum lane 3; the loads
 * read two weights past the second pair, so a group of three keeps its last pair for the tail (load_pair3). */
static W2S_NEON_INLINE void smlal_pxr(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, int32x4_t bias,
                                      int32x4_t *acc, const size_t np, const size_t r)
{
    int32x4_t a[W2S_NEON_PIXELS];
    W2S_NEON_UNROLL
    for (size_t p = 0; p < np; p++) {
        a[p] = bias;
    }
    const size_t body = r == 4u ? pairs : pairs - 1u; /* the pairs the two-pair loads may take */
    size_t i = 0;
/* pairs i + k, i + k + 1 of pixel p's vector xv (taps 2k .. 2k + 3 of its lanes) */
#define W2S_NEON_TWO_PAIRS(k, mlal_lane, mlal_high_lane, xv)                          \
    do {                                                                             \
        const int16x8_t w0 = vld1q_s16(w + 2u * r * (i + (k)));                      \
        const int16x8_t w1 = vld1q_s16(w + 2u * r * (i + (k)) + 2u * r);             \
        const int16x8_t first = vuzp1q_s16(w0, w1), second = vuzp2q_s16(w0, w1);     \
        W2S_NEON_UNROLL                                                              \
        for (size_t p = 0; p < np; p++) {                                            \
            a[p] = mlal_lane(a[p], vget_low_s16(first), xv[p], 2 * (k));             \
            a[p] = mlal_lane(a[p], vget_low_s16(second), xv[p], 2 * (k) + 1);        \
            a[p] = mlal_high_lane(a[p], first, xv[p], 2 * (k) + 2);                  \
            a[p] = mlal_high_lane(a[p], second, xv[p], 2 * (k) + 3);                 \
        }                                                                            \
    } while (0)
    for (; i + 4u <= body; i += 4u) { /* four pairs: one load of 8 taps a pixel */
        int16x8_t xq[W2S_NEON_PIXELS];
        W2S_NEON_UNROLL
        for (size_t p = 0; p < np; p++) {
            xq[p] = vld1q_s16(x + p * stride + 2u * i);
        }
        W2S_NEON_TWO_PAIRS(0, vmlal_laneq_s16, vmlal_high_laneq_s16, xq);
        W2S_NEON_TWO_PAIRS(2, vmlal_laneq_s16, vmlal_high_laneq_s16, xq);
    }
    if (i + 2u <= body) { /* two pairs: 4 taps a pixel */
        int16x4_t xd[W2S_NEON_PIXELS];
        W2S_NEON_UNROLL
        for (size_t p = 0; p < np; p++) {
            xd[p] = vld1_s16(x + p * stride + 2u * i);
        }
        W2S_NEON_TWO_PAIRS(0, vmlal_lane_s16, vmlal_high_lane_s16, xd);
        i += 2u;
    }
#undef W2S_NEON_TWO_PAIRS
    for (; i < pairs; i++) {
        const int16x4x2_t wv = r == 4u ? vld2_s16(w + 2u * r * i) : load_pair3(w + 2u * r * i);
        W2S_NEON_UNROLL
        for (size_t p = 0; p < np; p++) {
            const int16x4_t xd = pair_dup(x + p * stride + 2u * i);
            a[p] = vmlal_lane_s16(a[p], wv.val[0], xd, 0);
            a[p] = vmlal_lane_s16(a[p], wv.val[1], xd, 1);
        }
    }
    W2S_NEON_UNROLL
    for (size_t p = 0; p < np; p++) {
        acc[p] = a[p];
    }
}

/* Each (pixel count, group width) its own code: the sums and input vectors stay in registers. */
#define W2S_NEON_DOT(np, r)                                                                                       \
    static void smlal_##np##x##r(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, int32x4_t bias, \
                                 int32x4_t *acc)                                                                  \
    {                                                                                                             \
        smlal_pxr(x, stride, w, pairs, bias, acc, np##u, r##u);                                                   \
    }
W2S_NEON_DOT(8, 4)
W2S_NEON_DOT(7, 4)
W2S_NEON_DOT(6, 4)
W2S_NEON_DOT(5, 4)
W2S_NEON_DOT(4, 4)
W2S_NEON_DOT(3, 4)
W2S_NEON_DOT(2, 4)
W2S_NEON_DOT(1, 4)
W2S_NEON_DOT(8, 3)
W2S_NEON_DOT(7, 3)
W2S_NEON_DOT(6, 3)
W2S_NEON_DOT(5, 3)
W2S_NEON_DOT(4, 3)
W2S_NEON_DOT(3, 3)
W2S_NEON_DOT(2, 3)
W2S_NEON_DOT(1, 3)
#undef W2S_NEON_DOT

/* A group's requantisation constants, one lane per channel (lanes past r: a multiplier of 0) */
typedef struct {
    int32x4_t mult, left, right_neg, zero;
    int8x8_t lo, hi; /* the activation's range */
} requant_neon_t;

static requant_neon_t requant_neon_of(const w2s_layer_s8_t *layer, size_t g, size_t r)
{
    int32_t mult[4] = {0, 0, 0, 0}, left[4] = {0, 0, 0, 0}, right[4] = {0, 0, 0, 0};
    for (size_t c = 0; c < r; c++) {
        const int shift = layer->shift[g + c];
        mult[c] = layer->mult_q31[g + c];
#if W2S_SINGLE_ROUNDING
        right[c] = shift - 31; /* one rounding shift right by 31 - shift of the 64-bit product */
#else
        left[c] = shift > 0 ? shift : 0;
        right[c] = shift > 0 ? 0 : shift;
#endif
    }
    const requant_neon_t q = {vld1q_s32(mult), vld1q_s32(left), vld1q_s32(right), vdupq_n_s32(layer->out_zero),
                              vdup_n_s8((int8_t)layer->act_min), vdup_n_s8((int8_t)layer->act_max)};
    return q;
}

/* TFLM's requantisation of four sums (w2s_engine_requantize_q31), plus the zero point */
static W2S_NEON_INLINE int32x4_t requant_q31(const requant_neon_t *q, int32x4_t acc)
{
#if W2S_SINGLE_ROUNDING
    /* (acc * mult + 2^(total - 1)) >> total in 64 bits: SRSHL rounds without overflow; the narrowing keeps the
     * low word, as the C's cast */
    const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(q->mult)),
                                    vmovl_s32(vget_low_s32(q->right_neg)));
    const int64x2_t hi = vrshlq_s64(vmull_high_s32(acc, q->mult), vmovl_high_s32(q->right_neg));
    const int32x4_t v = vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));
#else
    /* gemmlowp: the left shift (wrapping, as the C's), SQRDMULH = SaturatingRoundingDoublingHighMul, then
     * RoundingDivideByPOT as its NEON code: a negative value one less before the rounding shift right */
    const int32x4_t high = vqrdmulhq_s32(vshlq_s32(acc, q->left), q->mult);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(high, q->right_neg), 31);
    const int32x4_t v = vrshlq_s32(vqaddq_s32(high, fixup), q->right_neg);
#endif
    return vaddq_s32(v, q->zero);
}

/* Two pixels' sums a, b (or one: b unused) requantised, r bytes each to o0 and o1: saturating narrowings to int8,
 * then the activation, whose range is inside int8 (so the same values as clamping the int32) */
static W2S_NEON_INLINE void requant_store2(const requant_neon_t *q, int32x4_t a, int32x4_t b, int8_t *o0, int8_t *o1,
                                           const size_t r, const int two)
{
    const int16x4_t a16 = vqmovn_s32(requant_q31(q, a));
    const int16x8_t v16 = two ? vqmovn_high_s32(a16, requant_q31(q, b)) : vcombine_s16(a16, a16);
    const uint32x2_t v = vreinterpret_u32_s8(vmin_s8(vmax_s8(vqmovn_s16(v16), q->lo), q->hi));
    const uint32_t v0 = vget_lane_u32(v, 0);
    memcpy(o0, &v0, r); /* r constant: one store of 4, or of 2 and 1 */
    if (two) {
        const uint32_t v1 = vget_lane_u32(v, 1);
        memcpy(o1, &v1, r);
    }
}

/* pixels p < np of acc to o (pixel step cout), two at a time */
static W2S_NEON_INLINE void requant_block(const requant_neon_t *q, const int32x4_t *acc, size_t np, size_t cout,
                                          const size_t r, int8_t *o)
{
    size_t p = 0;
    for (; p + 2u <= np; p += 2u) {
        requant_store2(q, acc[p], acc[p + 1u], o + p * cout, o + (p + 1u) * cout, r, 1);
    }
    if (p < np) {
        requant_store2(q, acc[p], acc[p], o + p * cout, o, r, 0);
    }
}

/* np pixels from px (pixel step stride, output step cout) by a group of r channels at g */
static W2S_NEON_INLINE void block_s8(const w2s_layer_s8_t *layer, const int16_t *px, size_t stride, size_t np,
                                     size_t g, const size_t r, const requant_neon_t *q, int32x4_t bias, int8_t *o)
{
    const int16_t *w = layer->weights_s16 + g * layer->run;
    const size_t pairs = layer->run / 2u, cout = layer->cout;
    int32x4_t acc[W2S_NEON_PIXELS];
    switch (np) {
#define W2S_NEON_CASE(n)                                                                                          \
    case n:                                                                                                       \
        r == 4u ? smlal_##n##x4(px, stride, w, pairs, bias, acc) : smlal_##n##x3(px, stride, w, pairs, bias, acc); \
        break;
        W2S_NEON_CASE(8) W2S_NEON_CASE(7) W2S_NEON_CASE(6) W2S_NEON_CASE(5)
        W2S_NEON_CASE(4) W2S_NEON_CASE(3) W2S_NEON_CASE(2)
#undef W2S_NEON_CASE
    default:
        r == 4u ? smlal_1x4(px, stride, w, pairs, bias, acc) : smlal_1x3(px, stride, w, pairs, bias, acc);
    }
    requant_block(q, acc, np, cout, r, o + g);
}

/* A rest group of 1 or 2 channels (1, 2 or 5 = 4 + 1 output channels: counts a checkpoint may bring, not the
 * default model's): plain C per output */
static void rest_s8(const w2s_layer_s8_t *layer, const int16_t *px, size_t g, size_t r, int8_t *o)
{
    const requant_t q = requant_of(layer);
    const int16_t *w = layer->weights_s16 + g * layer->run;
    const size_t pairs = layer->run / 2u;
    for (size_t c = 0; c < r; c++) {
        int32_t acc = layer->bias_s32[g + c];
        for (size_t i = 0; i < pairs; i++) {
            acc += px[2u * i] * w[2u * r * i + 2u * c] + px[2u * i + 1u] * w[2u * r * i + 2u * c + 1u];
        }
        o[g + c] = requantize_s8(q, acc, q.mult[g + c], q.shift[g + c]);
    }
}

#if defined(__ARM_FEATURE_DOTPROD)
/* SDOT (Armv8.2-A dot product, 16 int8 MACs an instruction) where the target has it, as the Helium kernels do
 * it: the input rows stay int8 (padding columns hold in_zero), and the zero point goes into the bias:
 * sum w * (x - zp) = sum w * x - zp * sum w. The model's int8 weights come as weights_s16 here (weights_s8 is the
 * Helium build's): each row narrows a group's weights into SDOT's order on the stack, (tap group of 4, channel,
 * tap), and sums them with the same instruction. Layers with longer fields keep the SMLAL kernels. */
#define W2S_NEON_SDOT_RUN 1024u /* taps: 4 KB of narrowed weights on the stack (a multiple of 16) */

/* taps a pixel's field is read as: whole 16-byte vectors, the weights past its run zero */
static size_t sdot_taps(const w2s_layer_s8_t *layer)
{
    return (layer->run + 15u) & ~(size_t)15u;
}

/* Where SDOT serves: a field of at most W2S_NEON_SDOT_RUN taps, an int8 zero point, and room in the int16
 * scratch (2 (cols * step + 1) bytes) for the last pixel's vectors, which read up to 16 bytes past the row */
static int sdot_layer(const w2s_layer_s8_t *layer)
{
    const size_t bytes = ((size_t)layer->width + layer->kw - 1u) * layer->kh * layer->cin;
    return layer->run <= W2S_NEON_SDOT_RUN && layer->in_zero >= -128 && layer->in_zero <= 127 && bytes >= 16u;
}

/* The kh input rows as int8, by padded column as w2s_conv_widen_s16 (padding columns hold in_zero), and 16
 * bytes of in_zero after the last column for the last pixel's vectors (inside the int16 scratch: sdot_layer) */
static void widen_sdot_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *out)
{
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin;
    const int zero = layer->in_zero;
    memset(out, zero, left * step);
    memset(out + (left + width) * step, zero, (cols - left - width) * step + 16u);
    for (size_t ky = 0; ky < kh; ky++) {
        const int8_t *src = rows[ky];
        int8_t *dst = out + left * step + ky * cin;
        for (size_t x = 0; x < width; x++, src += cin, dst += step) {
            if (cin < 8u) {
                memcpy(dst, src, cin);
                continue;
            }
            size_t c = 0;
            for (; c + 8u <= cin; c += 8u) {
                vst1_s8(dst + c, vld1_s8(src + c));
            }
            if (c < cin) {
                vst1_s8(dst + cin - 8u, vld1_s8(src + cin - 8u));
            }
        }
    }
}

/* A group's weights (r = 4 or 3) in SDOT's order at wq: tap group j (pairs 2j, 2j + 1) as 16 bytes, channel c's 4
 * taps at 4c (with r = 3, bytes 12-15 zero), zero groups up to `groups` (whole vectors of input); returns
 * bias - zp * sum w per channel */
static W2S_NEON_INLINE int32x4_t narrow_weights(const int16_t *w, size_t pairs, const size_t r, int32x4_t bias,
                                                int32_t zero, size_t groups, int8_t *wq)
{
    static const uint8_t order4[16] = {0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15};
    static const uint8_t order3[16] = {0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11, 255, 255, 255, 255};
    const uint8x16_t order = vld1q_u8(r == 4u ? order4 : order3);
    const int8x16_t ones = vdupq_n_s8(1);
    int32x4_t sum = vdupq_n_s32(0);
    for (size_t j = 0; 2u * j < pairs; j++, w += 4u * r, wq += 16) {
        int8x16_t v;
        if (2u * j + 1u < pairs) { /* the two pairs' 4r int16, narrowed, then each channel's 4 taps together */
            const int16x8_t lo = vld1q_s16(w);
            const int16x8_t hi = r == 4u ? vld1q_s16(w + 8) : vcombine_s16(vld1_s16(w + 8), vdup_n_s16(0));
            v = vqtbl1q_s8(vmovn_high_s16(vmovn_s16(lo), hi), order);
        } else { /* an odd last pair: its taps 0 and 1 */
            int8_t t[16] = {0};
            for (size_t c = 0; c < r; c++) {
                t[4u * c] = (int8_t)w[2u * c];
                t[4u * c + 1u] = (int8_t)w[2u * c + 1u];
            }
            v = vld1q_s8(t);
        }
        vst1q_s8(wq, v);
        sum = vdotq_s32(sum, v, ones);
    }
    memset(wq, 0, (groups - (pairs + 1u) / 2u) * 16u);
    return vmlsq_s32(bias, sum, vdupq_n_s32(zero));
}

/* acc[p] = bias_zp + pixel p's int8 field (x + p * stride) by a group's narrowed weights, groups4 tap groups (a
 * multiple of 4: 16 taps a pixel a load) */
static W2S_NEON_INLINE void sdot_pxr(const int8_t *x, size_t stride, const int8_t *wq, size_t groups4, int32x4_t bias,
                                     int32x4_t *acc, const size_t np)
{
    int32x4_t a[W2S_NEON_PIXELS];
    W2S_NEON_UNROLL
    for (size_t p = 0; p < np; p++) {
        a[p] = bias;
    }
    for (size_t j = 0; j < groups4; j += 4u) {
        int8x16_t xq[W2S_NEON_PIXELS];
        W2S_NEON_UNROLL
        for (size_t p = 0; p < np; p++) {
            xq[p] = vld1q_s8(x + p * stride + 4u * j);
        }
#define W2S_NEON_SDOT(k)                                                  \
        do {                                                              \
            const int8x16_t wv = vld1q_s8(wq + 16u * (j + (k)));          \
            W2S_NEON_UNROLL                                               \
            for (size_t p = 0; p < np; p++) {                             \
                a[p] = vdotq_laneq_s32(a[p], wv, xq[p], (k));             \
            }                                                             \
        } while (0)
        W2S_NEON_SDOT(0);
        W2S_NEON_SDOT(1);
        W2S_NEON_SDOT(2);
        W2S_NEON_SDOT(3);
#undef W2S_NEON_SDOT
    }
    W2S_NEON_UNROLL
    for (size_t p = 0; p < np; p++) {
        acc[p] = a[p];
    }
}

#define W2S_NEON_SDOT_N(np)                                                                                        \
    static void sdot_##np(const int8_t *x, size_t stride, const int8_t *wq, size_t groups4, int32x4_t bias,       \
                          int32x4_t *acc)                                                                         \
    {                                                                                                              \
        sdot_pxr(x, stride, wq, groups4, bias, acc, np##u);                                                        \
    }
W2S_NEON_SDOT_N(13)
W2S_NEON_SDOT_N(8)
W2S_NEON_SDOT_N(4)
W2S_NEON_SDOT_N(2)
W2S_NEON_SDOT_N(1)
#undef W2S_NEON_SDOT_N

static void row_sdot_s8(const w2s_layer_s8_t *layer, const int8_t *wide, int8_t *out)
{
    const size_t cout = layer->cout, width = layer->width, pairs = layer->run / 2u, groups4 = sdot_taps(layer) / 4u;
    const size_t stride = (size_t)layer->kh * layer->cin;
    const int32_t zero = layer->in_zero;
    int8_t wq[W2S_NEON_SDOT_RUN * 4u];
    for (size_t g = 0, r; g < cout; g += r) {
        r = w2s_group_size(cout, g);
        const int16_t *w = layer->weights_s16 + g * layer->run;
        if (r != 4u && r != 3u) { /* a rest: plain C per output */
            const requant_t q = requant_of(layer);
            for (size_t x = 0; x < width; x++) {
                const int8_t *px = wide + x * stride;
                for (size_t c = 0; c < r; c++) {
                    int32_t acc = layer->bias_s32[g + c];
                    for (size_t i = 0; i < pairs; i++) {
                        acc += (px[2u * i] - zero) * w[2u * r * i + 2u * c] +
                               (px[2u * i + 1u] - zero) * w[2u * r * i + 2u * c + 1u];
                    }
                    out[x * cout + g + c] = requantize_s8(q, acc, q.mult[g + c], q.shift[g + c]);
                }
            }
            continue;
        }
        const requant_neon_t q = requant_neon_of(layer, g, r);
        int32_t b[4] = {0, 0, 0, 0};
        memcpy(b, layer->bias_s32 + g, r * sizeof *b);
        const int32x4_t bias = r == 4u ? narrow_weights(w, pairs, 4u, vld1q_s32(b), zero, groups4, wq)
                                       : narrow_weights(w, pairs, 3u, vld1q_s32(b), zero, groups4, wq);
        for (size_t x = 0; x < width;) {
            const size_t left = width - x;
            const size_t np = left >= 13u ? 13u : left >= 8u ? 8u : left >= 4u ? 4u : left >= 2u ? 2u : 1u;
            const int8_t *px = wide + x * stride;
            int32x4_t acc[W2S_NEON_PIXELS];
            if (np == 13u) { /* the default model's rows: 26 and 13 mel columns */
                sdot_13(px, stride, wq, groups4, bias, acc);
            } else if (np == 8u) {
                sdot_8(px, stride, wq, groups4, bias, acc);
            } else if (np == 4u) {
                sdot_4(px, stride, wq, groups4, bias, acc);
            } else if (np == 2u) {
                sdot_2(px, stride, wq, groups4, bias, acc);
            } else {
                sdot_1(px, stride, wq, groups4, bias, acc);
            }
            if (r == 4u) {
                requant_block(&q, acc, np, cout, 4u, out + x * cout + g);
            } else {
                requant_block(&q, acc, np, cout, 3u, out + x * cout + g);
            }
            x += np;
        }
    }
}
#endif

/* w2s_conv_widen_s16's layout (padded column xp holds kh * cin values, padding columns and one more value zero):
 * with cin >= 8, a pixel's cin values as 8-wide vectors, the last one ending at cin (overlapping the one before,
 * with the same values) */
void w2s_conv_widen_neon_s16(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out)
{
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin;
    const int16_t zero = layer->in_zero; /* read once: the int16 stores may alias the layer */
    const int16x8_t zz = vdupq_n_s16(zero);
#if defined(__ARM_FEATURE_DOTPROD)
    if (sdot_layer(layer)) {
        widen_sdot_s8(layer, rows, (int8_t *)out); /* int8 in the same scratch */
        return;
    }
#endif
    memset(out, 0, left * step * sizeof *out);
    memset(out + (left + width) * step, 0, ((cols - left - width) * step + 1u) * sizeof *out);
    for (size_t ky = 0; ky < kh; ky++) {
        const int8_t *src = rows[ky];
        int16_t *dst = out + left * step + ky * cin;
        for (size_t x = 0; x < width; x++, src += cin, dst += step) {
            if (cin < 8u) {
                for (size_t c = 0; c < cin; c++) {
                    dst[c] = (int16_t)(src[c] - zero);
                }
                continue;
            }
            size_t c = 0;
            for (; c + 8u <= cin; c += 8u) {
                vst1q_s16(dst + c, vsubq_s16(vmovl_s8(vld1_s8(src + c)), zz));
            }
            if (c < cin) {
                vst1q_s16(dst + cin - 8u, vsubq_s16(vmovl_s8(vld1_s8(src + cin - 8u)), zz));
            }
        }
    }
}

void w2s_conv_row_neon_s8(const w2s_layer_s8_t *layer, const int16_t *wide, int8_t *out)
{
    const size_t cout = layer->cout, width = layer->width;
    const size_t stride = (size_t)layer->kh * layer->cin; /* from one pixel's receptive field to the next */
#if defined(__ARM_FEATURE_DOTPROD)
    if (sdot_layer(layer)) {
        row_sdot_s8(layer, (const int8_t *)wide, out);
        return;
    }
#endif
    for (size_t g = 0, r; g < cout; g += r) {
        r = w2s_group_size(cout, g);
        if (r != 4u && r != 3u) {
            for (size_t x = 0; x < width; x++) {
                rest_s8(layer, wide + x * stride, g, r, out + x * cout);
            }
            continue;
        }
        const requant_neon_t q = requant_neon_of(layer, g, r);
        int32_t b[4] = {0, 0, 0, 0};
        memcpy(b, layer->bias_s32 + g, r * sizeof *b);
        const int32x4_t bias = vld1q_s32(b);
        /* the row in blocks of at most 8 pixels, as even as they go (26 = 7 + 7 + 6 + 6, 13 = 7 + 6): no block
         * of one or two pixels, which would load the weights for little work */
        for (size_t x = 0, blocks = (width + 7u) / 8u; x < width; blocks--) {
            const size_t np = (width - x + blocks - 1u) / blocks;
            if (r == 4u) {
                block_s8(layer, wide + x * stride, stride, np, g, 4u, &q, bias, out + x * cout);
            } else {
                block_s8(layer, wide + x * stride, stride, np, g, 3u, &q, bias, out + x * cout);
            }
            x += np;
        }
    }
}
#else
typedef int w2s_engine_conv_neon_empty; /* ISO C wants a translation unit to declare something */
#endif
