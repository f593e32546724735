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
 * vdot (int8 x int8, 16 MACs an instruction) would need the Helium build's weights_s8 and bias_zp_s32, which the
 * generated model keeps only for W2S_ENGINE_MVE. */
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
#define W2S_NEON_UNROLL _Pragma("GCC unroll 8")
#else
#define W2S_NEON_UNROLL
#endif

#define W2S_NEON_PIXELS 8u /* the widest block: 8 sums, 8 input vectors and a weight pair in the 32 registers */

/* channels in the group that starts at output channel g: w2s_engine_conv.c's group_size (engine/layout.py
 * channel_groups) */
static size_t group_size_neon(size_t cout, size_t g)
{
    size_t threes = (4u - cout % 4u) % 4u;
    threes = 3u * threes > cout ? 0u : threes;
    const size_t fours = (cout - 3u * threes) / 4u;
    if (g < 4u * fours) {
        return 4u;
    }
    return g < 4u * fours + 3u * threes ? 3u : cout - g;
}

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
static W2S_NEON_INLINE void dot_pxr(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, int32x4_t bias,
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
    static void dot_##np##x##r(const int16_t *x, size_t stride, const int16_t *w, size_t pairs, int32x4_t bias, \
                               int32x4_t *acc)                                                                  \
    {                                                                                                           \
        dot_pxr(x, stride, w, pairs, bias, acc, np##u, r##u);                                                   \
    }
W2S_NEON_DOT(8, 4)
W2S_NEON_DOT(4, 4)
W2S_NEON_DOT(2, 4)
W2S_NEON_DOT(1, 4)
W2S_NEON_DOT(8, 3)
W2S_NEON_DOT(4, 3)
W2S_NEON_DOT(2, 3)
W2S_NEON_DOT(1, 3)
#undef W2S_NEON_DOT

/* A group's requantisation constants, one lane per channel (lanes past r: a multiplier of 0) */
typedef struct {
    int32x4_t mult, left, right_neg, zero, lo, hi;
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
                              vdupq_n_s32(layer->act_min), vdupq_n_s32(layer->act_max)};
    return q;
}

/* TFLM's requantisation of four sums (w2s_engine_requantize_q31), zero point and activation; r bytes to o */
static W2S_NEON_INLINE void requant_store(const requant_neon_t *q, int32x4_t acc, int8_t *o, const size_t r)
{
#if W2S_SINGLE_ROUNDING
    /* (acc * mult + 2^(total - 1)) >> total in 64 bits: SRSHL rounds without overflow; the narrowing keeps the
     * low word, as the C's cast */
    const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(q->mult)),
                                    vmovl_s32(vget_low_s32(q->right_neg)));
    const int64x2_t hi = vrshlq_s64(vmull_high_s32(acc, q->mult), vmovl_high_s32(q->right_neg));
    int32x4_t v = vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));
#else
    /* gemmlowp: the left shift (wrapping, as the C's), SQRDMULH = SaturatingRoundingDoublingHighMul, then
     * RoundingDivideByPOT as its NEON code: a negative value one less before the rounding shift right */
    const int32x4_t high = vqrdmulhq_s32(vshlq_s32(acc, q->left), q->mult);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(high, q->right_neg), 31);
    int32x4_t v = vrshlq_s32(vqaddq_s32(high, fixup), q->right_neg);
#endif
    v = vminq_s32(vmaxq_s32(vaddq_s32(v, q->zero), q->lo), q->hi);
    const int16x4_t v16 = vmovn_s32(v);
    const uint32_t bytes = vget_lane_u32(vreinterpret_u32_s8(vmovn_s16(vcombine_s16(v16, v16))), 0);
    memcpy(o, &bytes, r); /* r constant: one store of 4, or of 2 and 1 */
}

/* np pixels from px (pixel step stride, output step cout) by a group of r channels at g */
static W2S_NEON_INLINE void block_s8(const w2s_layer_s8_t *layer, const int16_t *px, size_t stride, size_t np,
                                     size_t g, const size_t r, const requant_neon_t *q, int32x4_t bias, int8_t *o)
{
    const int16_t *w = layer->weights_s16 + g * layer->run;
    const size_t pairs = layer->run / 2u, cout = layer->cout;
    int32x4_t acc[W2S_NEON_PIXELS];
    if (np == 8u) {
        r == 4u ? dot_8x4(px, stride, w, pairs, bias, acc) : dot_8x3(px, stride, w, pairs, bias, acc);
    } else if (np == 4u) {
        r == 4u ? dot_4x4(px, stride, w, pairs, bias, acc) : dot_4x3(px, stride, w, pairs, bias, acc);
    } else if (np == 2u) {
        r == 4u ? dot_2x4(px, stride, w, pairs, bias, acc) : dot_2x3(px, stride, w, pairs, bias, acc);
    } else {
        r == 4u ? dot_1x4(px, stride, w, pairs, bias, acc) : dot_1x3(px, stride, w, pairs, bias, acc);
    }
    for (size_t p = 0; p < np; p++) {
        requant_store(q, acc[p], o + p * cout + g, r);
    }
}

/* A rest group (1 or 2 channels, or 5 = 4 + 1: counts a checkpoint may bring, not the default model's): plain C
 * per output */
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

/* w2s_conv_widen_s16's layout (padded column xp holds kh * cin values, padding columns and one more value zero):
 * with cin >= 8, a pixel's cin values as 8-wide vectors, the last one ending at cin (overlapping the one before,
 * with the same values) */
void w2s_conv_widen_neon_s16(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out)
{
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin;
    const int16_t zero = layer->in_zero; /* read once: the int16 stores may alias the layer */
    const int16x8_t zz = vdupq_n_s16(zero);
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
    for (size_t g = 0, r; g < cout; g += r) {
        r = group_size_neon(cout, g);
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
        for (size_t x = 0; x < width;) {
            const size_t left = width - x;
            const size_t np = left >= 8u ? 8u : left >= 4u ? 4u : left >= 2u ? 2u : 1u;
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
