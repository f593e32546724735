/* w2s_engine_conv_mve: the Helium (MVE) row kernels of a Cortex-M55 build (W2S_ENGINE_MVE, see
 * w2s_engine_layer.h): int8 x int8 dot products with VMLADAVA (16 MACs an instruction), a vectorised
 * requantisation, and max pool on 16 int8 lanes. w2s_engine_conv.c and w2s_engine_maxpool.c forward to them.
 *
 * Exact without taking the zero point out of each input: sum w * (x - zp) = sum w * x - zp * sum w, and the
 * generated bias_zp_s32 already holds bias - zp * sum w over the whole kernel. Out-of-image taps hold zp in the
 * interleaved rows, so they add w * zp, which that sum takes out again: TFLM's skipped taps. */
#include "w2s_engine_layer.h"

#if W2S_ENGINE_MVE
#include <arm_mve.h>
#include <string.h>

#include "w2s_engine_requant.h"

#define W2S_MVE_LANES 16u  /* int8 lanes of a vector */
#define W2S_MVE_PIXELS 16u /* pixels whose sums one vectorised requantisation takes at a time */

/* n bytes, 16 at a time under a tail predicate: no byte read or written past n */
static inline void copy_s8(int8_t *dst, const int8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i += W2S_MVE_LANES) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        vst1q_p_s8(dst + i, vld1q_z_s8(src + i, p), p);
    }
}

/* A conv's kh input rows as int8, interleaved by padded column as w2s_conv_widen_s16 does: column xp holds
 * kh * cin values (row 0's channels, row 1's, ...), padding columns hold in_zero. A pixel's receptive field is
 * then one contiguous run; the weights past it are zero, so the vector read past the last column is harmless. */
void w2s_conv_widen_mve_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *out)
{
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin;
    const int zero = layer->in_zero;
    memset(out, zero, left * step);
    memset(out + (left + width) * step, zero, (cols - left - width) * step);
    for (size_t ky = 0; ky < kh; ky++) {
        const int8_t *src = rows[ky];
        int8_t *dst = out + left * step + ky * cin;
        for (size_t x = 0; x < width; x++, src += cin, dst += step) {
            copy_s8(dst, src, cin);
        }
    }
    memset(out + cols * step, 0, W2S_MVE_LANES); /* the tail the last pixel reads: defined, times zero weights */
}

/* The sums of up to 16 pixels by up to 3 output channels: s[c][x], from the channels' bias_zp_s32. One
 * vector of each pixel's field meets the group's weight vectors; each weight vector serves two pixels. */
typedef int32_t sums_t[3][W2S_MVE_PIXELS];

static inline void dot_2x3(const int8_t *xa, size_t stride, const int8_t *w, size_t run, const int32_t *bias,
                           int32_t *s0, int32_t *s1, int32_t *s2)
{
    const int8_t *xb = xa + stride, *w0 = w, *w1 = w + run, *w2 = w + 2u * run;
    int32_t a0 = bias[0], a1 = bias[0], a2 = bias[1], a3 = bias[1], a4 = bias[2], a5 = bias[2];
    for (size_t k = run / W2S_MVE_LANES; k > 0; k--) {
        const int8x16_t va = vld1q_s8(xa), vb = vld1q_s8(xb);
        int8x16_t v = vld1q_s8(w0);
        a0 = vmladavaq_s8(a0, va, v);
        a1 = vmladavaq_s8(a1, vb, v);
        v = vld1q_s8(w1);
        a2 = vmladavaq_s8(a2, va, v);
        a3 = vmladavaq_s8(a3, vb, v);
        v = vld1q_s8(w2);
        a4 = vmladavaq_s8(a4, va, v);
        a5 = vmladavaq_s8(a5, vb, v);
        xa += W2S_MVE_LANES, xb += W2S_MVE_LANES, w0 += W2S_MVE_LANES, w1 += W2S_MVE_LANES, w2 += W2S_MVE_LANES;
    }
    s0[0] = a0, s0[1] = a1, s1[0] = a2, s1[1] = a3, s2[0] = a4, s2[1] = a5;
}

static inline void dot_2x1(const int8_t *xa, size_t stride, const int8_t *w, size_t run, int32_t bias, int32_t *s)
{
    const int8_t *xb = xa + stride;
    int32_t a0 = bias, a1 = bias;
    for (size_t k = run / W2S_MVE_LANES; k > 0; k--) {
        const int8x16_t v = vld1q_s8(w);
        a0 = vmladavaq_s8(a0, vld1q_s8(xa), v);
        a1 = vmladavaq_s8(a1, vld1q_s8(xb), v);
        xa += W2S_MVE_LANES, xb += W2S_MVE_LANES, w += W2S_MVE_LANES;
    }
    s[0] = a0, s[1] = a1;
}

static inline int32_t dot_1x1(const int8_t *x, const int8_t *w, size_t run, int32_t acc)
{
    for (size_t k = run / W2S_MVE_LANES; k > 0; k--) {
        acc = vmladavaq_s8(acc, vld1q_s8(x), vld1q_s8(w));
        x += W2S_MVE_LANES, w += W2S_MVE_LANES;
    }
    return acc;
}

/* pixels [0, n) of the block at px (n <= 16) by channels g .. g + r - 1 (r <= 3) into s */
W2S_NOINLINE static void block_sums(const w2s_layer_s8_t *layer, const int8_t *px, size_t n, size_t g, size_t r,
                                    sums_t s)
{
    const size_t run = layer->run_s8, stride = (size_t)layer->kh * layer->cin;
    const int8_t *w = layer->weights_s8 + g * run;
    const int32_t *bias = layer->bias_zp_s32 + g;
    size_t x = 0;
    if (r == 3u) {
        for (; x + 2u <= n; x += 2u) {
            dot_2x3(px + x * stride, stride, w, run, bias, &s[0][x], &s[1][x], &s[2][x]);
        }
    } else {
        for (; x + 2u <= n; x += 2u) {
            for (size_t c = 0; c < r; c++) {
                dot_2x1(px + x * stride, stride, w + c * run, run, bias[c], &s[c][x]);
            }
        }
    }
    for (; x < n; x++) { /* an odd last pixel */
        for (size_t c = 0; c < r; c++) {
            s[c][x] = dot_1x1(px + x * stride, w + c * run, run, bias[c]);
        }
    }
}

/* One channel's n sums (n <= 16) requantised as TFLM does, to out[x * cout] */
static void requant_store(const w2s_layer_s8_t *layer, size_t oc, const int32_t *acc, size_t n, int8_t *out)
{
    const int32_t cout = layer->cout, mult = layer->mult_q31[oc], zero = layer->out_zero;
    const int shift = layer->shift[oc];
#if W2S_SINGLE_ROUNDING
    for (size_t x = 0; x < n; x++) {
        out[x * (size_t)cout] = clamp_s8(w2s_engine_requantize_q31(acc[x], mult, shift) + zero, layer->act_min,
                                         layer->act_max);
    }
#else
    /* gemmlowp's double rounding on 4 lanes: VQRDMULH is SaturatingRoundingDoublingHighMul exactly (it rounds
     * half up, as gemmlowp's nudge does); RoundingDivideByPOT rounds half away from zero, VRSHL half up, so a
     * negative value first takes 1 (x + (x >> 31)), which changes only its ties. */
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int32x4_t lo = vdupq_n_s32(layer->act_min), hi = vdupq_n_s32(layer->act_max);
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0u, 1), (uint32_t)cout);
    for (size_t x = 0; x < n; x += 4u) {
        const mve_pred16_t p = vctp32q((uint32_t)(n - x));
        int32x4_t v = vqrdmulhq_n_s32(vshlq_r_s32(vld1q_z_s32(acc + x, p), left), mult);
        if (right > 0) {
            v = vrshlq_n_s32(vaddq_s32(v, vshrq_n_s32(v, 31)), -right);
        }
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zero), lo), hi);
        vstrbq_scatter_offset_p_s32(out + x * (size_t)cout, offsets, v, p);
    }
#endif
}

/* The interleaved rows (w2s_conv_widen_mve_s8) -> one output row: blocks of up to 16 pixels by groups of 3
 * output channels (13 = 3 + 3 + 3 + 2 + 2: no channel alone), each group's sums requantised 4 pixels at once. */
void w2s_conv_row_mve_s8(const w2s_layer_s8_t *layer, const int8_t *wide, int8_t *out)
{
    const size_t cout = layer->cout, width = layer->width, stride = (size_t)layer->kh * layer->cin;
    for (size_t x0 = 0; x0 < width; x0 += W2S_MVE_PIXELS) {
        const size_t n = width - x0 < W2S_MVE_PIXELS ? width - x0 : W2S_MVE_PIXELS;
        for (size_t g = 0, r; g < cout; g += r) {
            const size_t rest = cout - g;
            r = rest == 4u ? 2u : (rest < 3u ? rest : 3u);
            sums_t s;
            block_sums(layer, wide + x0 * stride, n, g, r, s);
            for (size_t c = 0; c < r; c++) {
                requant_store(layer, g + c, s[c], n, out + x0 * cout + g + c);
            }
        }
    }
}

/* kh rows -> one pooled row: the max down each column (16 values at a time), then across kw columns; the pad
 * columns are in_zero. max is exact in any order. */
void w2s_maxpool_row_mve_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *colmax, int8_t *out)
{
    const size_t n = (size_t)layer->width * layer->cin, cin = layer->cin;
    for (size_t i = 0; i < n; i += W2S_MVE_LANES) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        int8x16_t m = vld1q_z_s8(rows[0] + i, p);
        for (uint32_t ky = 1; ky < layer->kh; ky++) {
            m = vmaxq_s8(m, vld1q_z_s8(rows[ky] + i, p));
        }
        vst1q_p_s8(colmax + i, m, p);
    }
    const int8x16_t zero = vdupq_n_s8((int8_t)layer->in_zero), lo = vdupq_n_s8((int8_t)layer->act_min),
                    hi = vdupq_n_s8((int8_t)layer->act_max);
    for (uint32_t ox = 0; ox < layer->out_width; ox++) {
        for (size_t c = 0; c < cin; c += W2S_MVE_LANES) {
            const mve_pred16_t p = vctp8q((uint32_t)(cin - c));
            int8x16_t m = vdupq_n_s8(-128);
            for (uint32_t kx = 0; kx < layer->kw; kx++) {
                const int32_t ix = (int32_t)(ox * layer->sw + kx) - (int32_t)layer->pad_left;
                m = vmaxq_s8(m, (ix < 0 || ix >= (int32_t)layer->width) ? zero
                                                                          : vld1q_z_s8(colmax + (size_t)ix * cin + c, p));
            }
            vst1q_p_s8(out + (size_t)ox * cin + c, vminq_s8(vmaxq_s8(m, lo), hi), p);
        }
    }
}
#else
typedef int w2s_engine_conv_mve_empty; /* ISO C wants a translation unit to declare something */
#endif
