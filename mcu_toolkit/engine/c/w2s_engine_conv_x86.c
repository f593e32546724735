/* w2s_engine_conv_x86: the conv and max-pool row kernels of an x86-64 build with AVX2 (W2S_ENGINE_X86, see
 * w2s_engine_layer.h), and with AVX-512 VNNI where the compiler targets it (-march=native on such a CPU).
 * w2s_engine_conv.c and w2s_engine_maxpool.c forward to them. They read the generated model's x86 layout
 * (w2s_x86_block_t, x86_w_s16, x86_w_s8: engine/layout.py x86_blocks), which only an x86 build compiles, so a
 * Cortex-M image is the same; no row rebuilds a block's constants or repacks its weights.
 *
 * Implicit GEMM over the receptive field: a pixel's field is one contiguous run of the widened rows, so each tap
 * pair (AVX2: vpmaddwd on int16) or tap quad (VNNI: vpdpbusd on bytes x + 128) of a block of pixels is
 * broadcast to 16 int32 lanes (two ymm, or one zmm) and meets those taps' weights of 16 output channels, one
 * 64-byte run of the packed weights. The sums are the portable C's (any order gives the same int32), requantised
 * from the registers 8 or 16 lanes at a time with TFLM's arithmetic. Widened rows are written with stores the
 * kernel's loads fall inside: a load across two recent stores waits for both to reach the cache (store-to-load
 * forwarding fails).
 * Timing: python benchmarks/bench_engine_host.py. */
#include "w2s_engine_kernels.h"

#if W2S_ENGINE_X86
#include <immintrin.h>
#include <string.h>

#include "w2s_engine_requant.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define W2S_X86_VNNI 1
#define W2S_X86_PX 13u /* pixels a block: 2 sums each + 2 weights + 1 tap quad in 32 registers (13: a 13-wide row) */
#else
#define W2S_X86_VNNI 0
#define W2S_X86_PX 6u /* 12 sums + 2 weights + 1 tap pair in 16 registers */
#define W2S_MAC(acc, x, w) _mm256_add_epi32((acc), _mm256_madd_epi16((x), (w)))
#endif
#define W2S_X86_LANES 16u /* output lanes a block: four groups of four */

#if defined(__GNUC__)
#define W2S_X86_INLINE inline __attribute__((always_inline))
#else
#define W2S_X86_INLINE inline
#endif

typedef w2s_x86_block_t x86_block_t; /* the generated model's (engine/layout.py x86_blocks) */

/* The first conv's three rows (one channel) interleaved: int16 lane j of rows 0, 1, 2 into 3 x 8 int16 */
static const int8_t interleave3[3][3][16] = {
#define W2S_I(j) (int8_t)(2 * (j)), (int8_t)(2 * (j) + 1)
#define W2S_Z (int8_t)0x80, (int8_t)0x80
    {{W2S_I(0), W2S_Z, W2S_Z, W2S_I(1), W2S_Z, W2S_Z, W2S_I(2), W2S_Z},
     {W2S_Z, W2S_I(0), W2S_Z, W2S_Z, W2S_I(1), W2S_Z, W2S_Z, W2S_I(2)},
     {W2S_Z, W2S_Z, W2S_I(0), W2S_Z, W2S_Z, W2S_I(1), W2S_Z, W2S_Z}},
    {{W2S_Z, W2S_I(3), W2S_Z, W2S_Z, W2S_I(4), W2S_Z, W2S_Z, W2S_I(5)},
     {W2S_Z, W2S_Z, W2S_I(3), W2S_Z, W2S_Z, W2S_I(4), W2S_Z, W2S_Z},
     {W2S_I(2), W2S_Z, W2S_Z, W2S_I(3), W2S_Z, W2S_Z, W2S_I(4), W2S_Z}},
    {{W2S_Z, W2S_Z, W2S_I(6), W2S_Z, W2S_Z, W2S_I(7), W2S_Z, W2S_Z},
     {W2S_I(5), W2S_Z, W2S_Z, W2S_I(6), W2S_Z, W2S_Z, W2S_I(7), W2S_Z},
     {W2S_Z, W2S_I(5), W2S_Z, W2S_Z, W2S_I(6), W2S_Z, W2S_Z, W2S_I(7)}},
#undef W2S_I
#undef W2S_Z
};

#if !W2S_SINGLE_ROUNDING
/* TFLM's requantisation of 8 lanes (w2s_engine_requantize_q31), before the zero point. gemmlowp's
 * SaturatingRoundingDoublingHighMul is floor((a * m + 2^30) / 2^31) for either sign (its nudge 1 - 2^30 and
 * truncating division on a negative product give the same integer), and the saturating case needs m = -2^31,
 * which no multiplier is. That high is the low word of the 64-bit sum shifted right by 31, logically or not. */
static W2S_X86_INLINE __m256i requant8(__m256i acc, const x86_block_t *b, size_t l0, const int right_only)
{
    const __m256i m = _mm256_loadu_si256((const __m256i *)(b->mult + l0));
    const __m256i m_odd = _mm256_loadu_si256((const __m256i *)(b->mult_odd + l0));
    const __m256i a = right_only ? acc : _mm256_sllv_epi32(acc, _mm256_loadu_si256((const __m256i *)(b->left + l0)));
    const __m256i half = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, m), half);
    const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), m_odd), half);
    const __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    if (right_only) {
        /* RoundingDivideByPOT by right >= 1 as ((high - (high < 0)) >> (right - 1) + 1) >> 1 (the DSP kernels'
         * full_requant_s8): |high| < 2^31 - 1, so neither step wraps */
        const __m256i h = _mm256_add_epi32(high, _mm256_srai_epi32(high, 31));
        const __m256i r1 = _mm256_loadu_si256((const __m256i *)(b->right1 + l0));
        return _mm256_srai_epi32(_mm256_sub_epi32(_mm256_srav_epi32(h, r1), _mm256_set1_epi32(-1)), 1);
    }
    /* RoundingDivideByPOT: up one where the remainder is over half (half and a hair for a negative value) */
    const __m256i r = _mm256_loadu_si256((const __m256i *)(b->right + l0));
    const __m256i k = _mm256_loadu_si256((const __m256i *)(b->mask + l0));
    const __m256i threshold = _mm256_sub_epi32(_mm256_srai_epi32(k, 1), _mm256_cmpgt_epi32(_mm256_setzero_si256(), high));
    const __m256i up = _mm256_cmpgt_epi32(_mm256_and_si256(high, k), threshold);
    return _mm256_sub_epi32(_mm256_srav_epi32(high, r), up);
}
#endif

#if !W2S_SINGLE_ROUNDING && W2S_X86_VNNI
/* A block's requantisation constants in registers, loaded once for its pixels (an int8 store could alias the
 * block: the compiler would load them again for each pixel) */
typedef struct {
    __m512i mult, mult_odd, left, right, mask, right1, zero, lo, hi;
} x86_rq16_t;

static W2S_X86_INLINE x86_rq16_t rq16_of(const requant_t *q, const x86_block_t *b)
{
    const x86_rq16_t r = {_mm512_loadu_si512(b->mult), _mm512_loadu_si512(b->mult_odd), _mm512_loadu_si512(b->left),
                          _mm512_loadu_si512(b->right), _mm512_loadu_si512(b->mask), _mm512_loadu_si512(b->right1),
                          _mm512_set1_epi32(q->out_zero), _mm512_set1_epi32(q->act_min), _mm512_set1_epi32(q->act_max)};
    return r;
}

/* requant8's arithmetic on the 16 lanes at once (AVX-512F: the VNNI builds have it), then the zero point and the
 * activation's range: a pixel's 16 int8 outputs in channel order */
static W2S_X86_INLINE __m128i requant16(__m512i acc, const x86_rq16_t *c, const int right_only)
{
    const __m512i a = right_only ? acc : _mm512_sllv_epi32(acc, c->left);
    const __m512i half = _mm512_set1_epi64((int64_t)1 << 30);
    const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(a, c->mult), half);
    const __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), c->mult_odd), half);
    const __m512i high = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
    const __m512i one = _mm512_set1_epi32(1);
    __m512i r;
    if (right_only) {
        const __m512i h = _mm512_add_epi32(high, _mm512_srai_epi32(high, 31));
        r = _mm512_srai_epi32(_mm512_add_epi32(_mm512_srav_epi32(h, c->right1), one), 1);
    } else {
        const __m512i threshold = _mm512_mask_add_epi32(_mm512_srai_epi32(c->mask, 1),
                                                        _mm512_cmplt_epi32_mask(high, _mm512_setzero_si512()),
                                                        _mm512_srai_epi32(c->mask, 1), one);
        r = _mm512_srav_epi32(high, c->right);
        r = _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(_mm512_and_si512(high, c->mask), threshold), r, one);
    }
    r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, c->zero), c->lo), c->hi);
    return _mm512_cvtepi32_epi8(r);
}
#else
/* One pixel's 16 sums (lanes 0-7 in s0, 8-15 in s1) -> its n int8 outputs at o: 16 bytes stored where whole (the
 * bytes past n belong to the next block or pixel, written after), else only n. */
static W2S_X86_INLINE void requant_px(const requant_t *q, const x86_block_t *b, __m256i s0, __m256i s1, int8_t *o,
                                      int whole, const int right_only)
{
    int8_t v[16];
#if W2S_SINGLE_ROUNDING
    int32_t acc[16];
    _mm256_storeu_si256((__m256i *)acc, s0);
    _mm256_storeu_si256((__m256i *)(acc + 8), s1);
    for (size_t c = 0; c < b->n; c++) {
        v[c] = requantize_s8(*q, acc[c], b->mult[c], b->left[c] - b->right[c]);
    }
#else
    const __m256i zero = _mm256_set1_epi32(q->out_zero);
    const __m256i lo = _mm256_set1_epi32(q->act_min), hi = _mm256_set1_epi32(q->act_max);
    __m256i r0 = requant8(s0, b, 0, right_only), r1 = requant8(s1, b, 8, right_only);
    r0 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r0, zero), lo), hi);
    r1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r1, zero), lo), hi);
    /* int16 in lane order 0-3, 8-11 | 4-7, 12-15 (the pack works within 128-bit halves), 0-15 after the permute */
    const __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(r0, r1), 0xD8);
    const __m128i out = _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
    if (whole) {
        _mm_storeu_si128((__m128i *)o, out);
        return;
    }
    _mm_storeu_si128((__m128i *)v, out);
#endif
    (void)whole;
    (void)right_only;
    memcpy(o, v, b->n);
}
#endif

#if !W2S_X86_VNNI
/* AVX2: P pixels of a block, start to end: pixel p's sums (field x + p * stride by the block's weights w, per tap
 * pair 16 lanes x 2) from bias in two ymm, kept there for the whole field (each weight pair loaded once for the P
 * pixels), then requantised from the registers into out + p * cout (16 bytes for p < whole). */
static W2S_X86_INLINE void conv_block_s16(const int16_t *x, size_t stride, const int16_t *w, size_t pairs,
                                          const requant_t *q, const x86_block_t *b, int8_t *out, size_t whole,
                                          const size_t P, const int right_only)
{
    __m256i lo[W2S_X86_PX], hi[W2S_X86_PX];
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)b->bias);
    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b->bias + 8));
#pragma GCC unroll 16
    for (size_t p = 0; p < P; p++) {
        lo[p] = b0;
        hi[p] = b1;
    }
    for (size_t i = 0; i < pairs; i++, x += 2, w += 32) {
        const __m256i wa = _mm256_loadu_si256((const __m256i *)w), wb = _mm256_loadu_si256((const __m256i *)(w + 16));
#pragma GCC unroll 16
        for (size_t p = 0; p < P; p++) {
            int32_t v;
            memcpy(&v, x + p * stride, sizeof v); /* the tap pair, to every lane */
            const __m256i xv = _mm256_set1_epi32(v);
            lo[p] = W2S_MAC(lo[p], xv, wa);
            hi[p] = W2S_MAC(hi[p], xv, wb);
        }
    }
    const size_t cout = q->cout;
#pragma GCC unroll 16
    for (size_t p = 0; p < P; p++) {
        requant_px(q, b, lo[p], hi[p], out + p * cout, p < whole, right_only);
    }
}

typedef void (*conv_s16_fn)(const int16_t *, size_t, const int16_t *, size_t, const requant_t *, const x86_block_t *,
                            int8_t *, size_t);
#define W2S_X86_CONV_S16(P, R)                                                                                    \
    W2S_NOINLINE static void conv_s16_##P##_##R(const int16_t *x, size_t stride, const int16_t *w, size_t pairs,   \
                                                const requant_t *q, const x86_block_t *b, int8_t *out, size_t whole) \
    {                                                                                                             \
        conv_block_s16(x, stride, w, pairs, q, b, out, whole, P##u, R);                                           \
    }
#define W2S_X86_CONV_S16_BOTH(P) W2S_X86_CONV_S16(P, 0) W2S_X86_CONV_S16(P, 1)
W2S_X86_CONV_S16_BOTH(1)
W2S_X86_CONV_S16_BOTH(2)
W2S_X86_CONV_S16_BOTH(3)
W2S_X86_CONV_S16_BOTH(4)
W2S_X86_CONV_S16_BOTH(5)
W2S_X86_CONV_S16_BOTH(6)
#undef W2S_X86_CONV_S16_BOTH
#undef W2S_X86_CONV_S16
/* by requant8's shortcut (right_only), then pixels in the block, from 1 */
static const conv_s16_fn conv_s16[2][W2S_X86_PX + 1u] = {
    {NULL, conv_s16_1_0, conv_s16_2_0, conv_s16_3_0, conv_s16_4_0, conv_s16_5_0, conv_s16_6_0},
    {NULL, conv_s16_1_1, conv_s16_2_1, conv_s16_3_1, conv_s16_4_1, conv_s16_5_1, conv_s16_6_1}};
#endif

/* pixels from 0 whose 16-byte store stays in the row, where the block holds 16 channels or every channel (the
 * bytes past its n: the next block's or pixel's, written after) */
static size_t whole_pixels(const w2s_layer_s8_t *layer, const x86_block_t *b)
{
    const size_t cout = layer->cout, end = (size_t)layer->width * cout - b->g0;
    return (b->n == 16u || b->n == cout) && end >= 16u ? (end - 16u) / cout + 1u : 0u;
}

#if W2S_X86_VNNI
/* VNNI: int8 by int8 with vpdpbusd, 4 taps a lane an instruction (twice vpdpwssd's). The widened rows are bytes
 * x + 128 (unsigned; padding zp + 128), the weights the generated x86_w_s8 (int8 quads of taps), and the
 * sums start from bias_u8 = bias - (zp + 128) * the channel's weight sum: sum w (x + 128) - (zp + 128) sum w = sum w (x - zp),
 * and a padding tap adds w (zp + 128), taken out again (TFLM's skipped taps). */
static int x86_u8(const w2s_layer_s8_t *layer)
{
    return layer->x86_blocks != NULL;
}

/* P pixels of a block, start to end: pixel p's sums (field x + p * stride by the block's weights w, per tap quad
 * 16 lanes x 4 int8) in one zmm from bias_u8, kept there for the whole field, then requantised from the register
 * into out + p * cout (requant_px's stores: 16 bytes for p < whole, else n). No sums go through memory: a zmm
 * load of two ymm stores would wait for both to reach the cache. */
static W2S_X86_INLINE void conv_block_u8(const uint8_t *x, size_t stride, const int8_t *w, size_t quads,
                                         const requant_t *q, const x86_block_t *b, int8_t *out, size_t whole,
                                         const size_t P, const int right_only)
{
    __m512i acc[W2S_X86_PX];
    const __m512i bias = _mm512_loadu_si512(b->bias_u8);
#pragma GCC unroll 16
    for (size_t p = 0; p < P; p++) {
        acc[p] = bias;
    }
    for (size_t i = 0; i < quads; i++, x += 4, w += 64) {
        const __m512i wv = _mm512_loadu_si512(w);
#pragma GCC unroll 16
        for (size_t p = 0; p < P; p++) {
            int32_t v;
            memcpy(&v, x + p * stride, sizeof v); /* four taps, to every lane */
            acc[p] = _mm512_dpbusd_epi32(acc[p], _mm512_set1_epi32(v), wv);
        }
    }
    const size_t cout = q->cout;
#if W2S_SINGLE_ROUNDING
#pragma GCC unroll 16
    for (size_t p = 0; p < P; p++) {
        requant_px(q, b, _mm512_castsi512_si256(acc[p]), _mm512_extracti64x4_epi64(acc[p], 1), out + p * cout,
                   p < whole, right_only);
    }
#else
    const x86_rq16_t c = rq16_of(q, b);
    const __mmask16 some = (__mmask16)((1u << b->n) - 1u);
#pragma GCC unroll 16
    for (size_t p = 0; p < P; p++) { /* 16 bytes where whole (the bytes past n: written after), else n */
        const __m128i v = requant16(acc[p], &c, right_only);
        if (p < whole) {
            _mm_storeu_si128((__m128i *)(out + p * cout), v);
        } else {
            _mm_mask_storeu_epi8(out + p * cout, some, v);
        }
    }
#endif
}

typedef void (*conv_u8_fn)(const uint8_t *, size_t, const int8_t *, size_t, const requant_t *, const x86_block_t *,
                           int8_t *, size_t);
#define W2S_X86_CONV_U8(P, R)                                                                                    \
    W2S_NOINLINE static void conv_u8_##P##_##R(const uint8_t *x, size_t stride, const int8_t *w, size_t quads,    \
                                               const requant_t *q, const x86_block_t *b, int8_t *out, size_t whole) \
    {                                                                                                            \
        conv_block_u8(x, stride, w, quads, q, b, out, whole, P##u, R);                                           \
    }
#define W2S_X86_CONV_U8_BOTH(P) W2S_X86_CONV_U8(P, 0) W2S_X86_CONV_U8(P, 1)
W2S_X86_CONV_U8_BOTH(1)
W2S_X86_CONV_U8_BOTH(2)
W2S_X86_CONV_U8_BOTH(3)
W2S_X86_CONV_U8_BOTH(4)
W2S_X86_CONV_U8_BOTH(5)
W2S_X86_CONV_U8_BOTH(6)
W2S_X86_CONV_U8_BOTH(7)
W2S_X86_CONV_U8_BOTH(8)
W2S_X86_CONV_U8_BOTH(9)
W2S_X86_CONV_U8_BOTH(10)
W2S_X86_CONV_U8_BOTH(11)
W2S_X86_CONV_U8_BOTH(12)
W2S_X86_CONV_U8_BOTH(13)
#undef W2S_X86_CONV_U8_BOTH
#undef W2S_X86_CONV_U8
/* by requant8's shortcut (right_only), then pixels in the block, from 1 */
static const conv_u8_fn conv_u8[2][W2S_X86_PX + 1u] = {
    {NULL, conv_u8_1_0, conv_u8_2_0, conv_u8_3_0, conv_u8_4_0, conv_u8_5_0, conv_u8_6_0, conv_u8_7_0, conv_u8_8_0,
     conv_u8_9_0, conv_u8_10_0, conv_u8_11_0, conv_u8_12_0, conv_u8_13_0},
    {NULL, conv_u8_1_1, conv_u8_2_1, conv_u8_3_1, conv_u8_4_1, conv_u8_5_1, conv_u8_6_1, conv_u8_7_1, conv_u8_8_1,
     conv_u8_9_1, conv_u8_10_1, conv_u8_11_1, conv_u8_12_1, conv_u8_13_1}};

static void row_u8(const w2s_layer_s8_t *layer, const uint8_t *wide, int8_t *out)
{
    const size_t cout = layer->cout, width = layer->width, quads = (layer->run / 2u + 1u) / 2u;
    const size_t stride = (size_t)layer->kh * layer->cin;
    const requant_t q = requant_of(layer);
    const int8_t *w = layer->x86_w_s8;
    for (const x86_block_t *b = layer->x86_blocks;; b++, w += 64u * quads) {
        const size_t whole = whole_pixels(layer, b);
        for (size_t x = 0; x < width; x += W2S_X86_PX) {
            const size_t n = width - x < W2S_X86_PX ? width - x : W2S_X86_PX;
            conv_u8[b->right_only != 0][n](wide + x * stride, stride, w, quads, &q, b, out + x * cout + b->g0,
                                           whole > x ? whole - x : 0u);
        }
        if ((size_t)b->g0 + b->n >= cout) {
            return;
        }
    }
}

/* the rows as bytes x + 128, padding zp + 128, and 4 more after the last column (a quad read past a field) */
static void widen_u8(const w2s_layer_s8_t *layer, const int8_t *const *rows, uint8_t *out)
{
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin, end = (left + width) * step;
    const uint8_t pad = (uint8_t)(layer->in_zero + 128);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    memset(out, pad, left * step);
    size_t x0 = 0;
    if (cin == 1u && kh == 3u) { /* w2s_conv_widen_x86_s16's interleave of x + 128, then bytes */
        const __m128i up = _mm_set1_epi16(128);
        for (; x0 + 8u <= width; x0 += 8u) {
            __m128i r[3], v[3];
            for (size_t ky = 0; ky < 3u; ky++) {
                r[ky] = _mm_add_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(rows[ky] + x0))), up);
            }
            for (size_t k = 0; k < 3u; k++) {
                v[k] = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r[0], _mm_loadu_si128((const __m128i *)interleave3[k][0])),
                                                 _mm_shuffle_epi8(r[1], _mm_loadu_si128((const __m128i *)interleave3[k][1]))),
                                    _mm_shuffle_epi8(r[2], _mm_loadu_si128((const __m128i *)interleave3[k][2])));
            }
            uint8_t *dst = out + (left + x0) * 3u;
            _mm_storeu_si128((__m128i *)dst, _mm_packus_epi16(v[0], v[1]));
            _mm_storel_epi64((__m128i *)(dst + 16), _mm_packus_epi16(v[2], v[2]));
        }
    }
    const __mmask16 pixel = (__mmask16)((1u << (cin < 16u ? cin : 16u)) - 1u);
    for (size_t x = x0; x < width; x++) {
        for (size_t ky = 0; ky < kh; ky++) {
            const int8_t *src = rows[ky] + x * cin;
            uint8_t *dst = out + (left + x) * step + ky * cin;
            if (cin <= 16u) { /* the pixel's bytes alone (a masked load), 16 stored where they stay in the row */
                const __m128i v = _mm_xor_si128(_mm_maskz_loadu_epi8(pixel, src), flip);
                if ((size_t)(dst - out) + 16u <= end) {
                    _mm_storeu_si128((__m128i *)dst, v);
                } else {
                    _mm_mask_storeu_epi8(dst, pixel, v);
                }
            } else {
                for (size_t c = 0; c < cin; c++) {
                    dst[c] = (uint8_t)(src[c] + 128);
                }
            }
        }
    }
    memset(out + end, pad, (cols - left - width) * step + 4u);
}
#endif

int w2s_conv_row_x86_s8(const w2s_layer_s8_t *layer, const int16_t *wide, int8_t *out)
{
    const size_t cout = layer->cout, width = layer->width, pairs = layer->run / 2u;
    const size_t stride = (size_t)layer->kh * layer->cin; /* from one pixel's receptive field to the next */
    if (layer->x86_blocks == NULL) {
        return 0; /* under four output channels (one group): the portable C's */
    }
#if W2S_X86_VNNI
    (void)pairs;
    (void)stride;
    (void)cout;
    (void)width;
    row_u8(layer, (const uint8_t *)wide, out);
#else
    const requant_t q = requant_of(layer);
    const int16_t *w = layer->x86_w_s16;
    for (const x86_block_t *b = layer->x86_blocks;; b++, w += 32u * pairs) {
        const size_t whole = whole_pixels(layer, b);
        for (size_t x = 0; x < width; x += W2S_X86_PX) {
            const size_t n = width - x < W2S_X86_PX ? width - x : W2S_X86_PX;
            conv_s16[b->right_only != 0][n](wide + x * stride, stride, w, pairs, &q, b, out + x * cout + b->g0,
                                            whole > x ? whole - x : 0u);
        }
        if ((size_t)b->g0 + b->n >= cout) {
            break;
        }
    }
#endif
    return 1;
}

/* w2s_conv_widen_s16's layout: a column's kh * cin values row after row, zero point out, zeros in the padding
 * columns and one zero at the end. 8 to 16 channels: a pixel's cin bytes as two 8-byte loads that stay inside
 * it (each inside one of the previous kernel's 16-byte stores, so forwarded from the store buffer: a 16-byte
 * load across two of them waits for both to reach the cache), widened to 16 int16 lanes at once; the lanes past
 * cin land in the next values' place, written after. */
void w2s_conv_widen_x86_s16(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out)
{
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin, end = (left + width) * step;
#if W2S_X86_VNNI
    if (x86_u8(layer)) {
        widen_u8(layer, rows, (uint8_t *)out);
        return;
    }
#endif
    const int16_t zero = layer->in_zero;
    const __m256i zv = _mm256_set1_epi16(zero);
    const int split = cin >= 8u && cin <= 16u;
    int8_t order[16]; /* byte j of the pixel: j in the first load, else j + 16 - cin in the second */
    for (size_t j = 0; j < 16u; j++) {
        order[j] = (int8_t)(j < 8u ? j : j < cin ? j + 16u - cin : 0x80u);
    }
    const __m128i shuffle = _mm_loadu_si128((const __m128i *)order);
    memset(out, 0, left * step * sizeof *out);
    size_t x0 = 0;
    if (cin == 1u && kh == 3u) {
        /* the first conv (one channel, three rows): 8 columns' three rows interleaved into 24 int16 by byte
         * shuffles, three 16-byte stores, where the kernel reads pairs of values a store each (not 24 int16
         * stores, each pair of which it would wait on) */
        const __m128i z8 = _mm_set1_epi16(zero);
        for (; x0 + 8u <= width; x0 += 8u) {
            __m128i r[3];
            for (size_t ky = 0; ky < 3u; ky++) {
                r[ky] = _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(rows[ky] + x0))), z8);
            }
            int16_t *dst = out + (left + x0) * 3u;
            for (size_t k = 0; k < 3u; k++) {
                const __m128i v = _mm_or_si128(
                    _mm_or_si128(_mm_shuffle_epi8(r[0], _mm_loadu_si128((const __m128i *)interleave3[k][0])),
                                 _mm_shuffle_epi8(r[1], _mm_loadu_si128((const __m128i *)interleave3[k][1]))),
                    _mm_shuffle_epi8(r[2], _mm_loadu_si128((const __m128i *)interleave3[k][2])));
                _mm_storeu_si128((__m128i *)(dst + 8u * k), v);
            }
        }
    }
    for (size_t x = x0; x < width; x++) {
        for (size_t ky = 0; ky < kh; ky++) {
            const int8_t *src = rows[ky] + x * cin;
            int16_t *dst = out + (left + x) * step + ky * cin;
            if (split && (size_t)(dst - out) + 16u <= end) {
                const __m128i v = _mm_shuffle_epi8(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)src),
                                                                      _mm_loadl_epi64((const __m128i *)(src + cin - 8u))),
                                                   shuffle);
                _mm256_storeu_si256((__m256i *)dst, _mm256_sub_epi16(_mm256_cvtepi8_epi16(v), zv));
            } else {
                for (size_t c = 0; c < cin; c++) {
                    dst[c] = (int16_t)(src[c] - zero);
                }
            }
        }
    }
    memset(out + end, 0, ((cols - left - width) * step + 1u) * sizeof *out);
}

/* w2s_maxpool_row_s8: the max down the kh rows 16 values at a time (int8 in colmax's room), then across kw
 * columns per output pixel, 16 channels at a time; out-of-image columns are in_zero, as the portable C's. */
void w2s_maxpool_row_x86_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *colmax, int8_t *out)
{
    const size_t cin = layer->cin, width = layer->width, n = width * cin, on = (size_t)layer->out_width * cin;
    int8_t *const cm = (int8_t *)colmax;
    size_t i = 0;
    for (; i + 16u <= n; i += 16u) {
        __m128i m = _mm_loadu_si128((const __m128i *)(rows[0] + i));
        for (size_t ky = 1; ky < layer->kh; ky++) {
            m = _mm_max_epi8(m, _mm_loadu_si128((const __m128i *)(rows[ky] + i)));
        }
        _mm_storeu_si128((__m128i *)(cm + i), m);
    }
    for (; i < n; i++) {
        int8_t m = rows[0][i];
        for (size_t ky = 1; ky < layer->kh; ky++) {
            m = rows[ky][i] > m ? rows[ky][i] : m;
        }
        cm[i] = m;
    }
    const __m128i pad = _mm_set1_epi8((char)layer->in_zero);
    const __m128i lo = _mm_set1_epi8((char)layer->act_min), hi = _mm_set1_epi8((char)layer->act_max);
    for (size_t ox = 0; ox < layer->out_width; ox++) {
        for (size_t c = 0; c < cin; c += 16u) {
            const size_t k = cin - c < 16u ? cin - c : 16u;
            __m128i m = _mm_set1_epi8(-128);
            for (size_t kx = 0; kx < layer->kw; kx++) {
                const size_t ix = ox * layer->sw + kx - layer->pad_left; /* wraps below 0: out of the image too */
                __m128i v = pad;
                if (ix < width && ix * cin + c + 16u <= n) {
                    v = _mm_loadu_si128((const __m128i *)(cm + ix * cin + c));
                } else if (ix < width) {
                    int8_t t[16];
                    memcpy(t, cm + ix * cin + c, k);
                    memset(t + k, 0, 16u - k);
                    v = _mm_loadu_si128((const __m128i *)t);
                }
                m = _mm_max_epi8(m, v);
            }
            m = _mm_min_epi8(_mm_max_epi8(m, lo), hi);
            int8_t *o = out + ox * cin + c;
            if (ox * cin + c + 16u <= on) { /* the bytes past k: the next channels' or pixel's, written after */
                _mm_storeu_si128((__m128i *)o, m);
            } else {
                int8_t t[16];
                _mm_storeu_si128((__m128i *)t, m);
                memcpy(o, t, k);
            }
        }
    }
}

/* The pooling's sums from column j on, 4 columns a step, while no column's exponent rises (x <= block_exp: the
 * sums keep their block), as w2s_pool_sums_mve: the table reads in scalars, the shift and the int64 sums on
 * vectors. Returns the first column of the step it did not take, for w2s_engine.c's scalar loop. */
size_t w2s_pool_sums_x86(const w2s_engine_model_t *m, const int8_t *lin, const int8_t *sof, int64_t *sum0,
                         int64_t *sum1, const int16_t *block_exp, size_t j, size_t n)
{
    const __m128i most = _mm_set1_epi32(W2S_ENGINE_MANT_MAX_SHIFT), zero = _mm_set1_epi32(m->lin.out_zero);
    for (; j + 4u <= n; j += 4u) {
        const int q0 = sof[j] + 128, q1 = sof[j + 1u] + 128, q2 = sof[j + 2u] + 128, q3 = sof[j + 3u] + 128;
        const __m128i x = _mm_setr_epi32(m->exp_exp[q0], m->exp_exp[q1], m->exp_exp[q2], m->exp_exp[q3]);
        const __m128i b = _mm_setr_epi32(block_exp[j], block_exp[j + 1u], block_exp[j + 2u], block_exp[j + 3u]);
        if (_mm_movemask_epi8(_mm_cmpgt_epi32(x, b)) != 0) {
            break;
        }
        const __m128i d = _mm_min_epi32(_mm_sub_epi32(b, x), most);
        const __m128i mant = _mm_srav_epi32(_mm_setr_epi32(m->exp_mant_q29[q0], m->exp_mant_q29[q1],
                                                           m->exp_mant_q29[q2], m->exp_mant_q29[q3]), d);
        int32_t l4;
        memcpy(&l4, lin + j, sizeof l4);
        const __m128i v = _mm_sub_epi32(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(l4)), zero);
        const __m256i mant64 = _mm256_cvtepi32_epi64(mant);
        _mm256_storeu_si256((__m256i *)(sum0 + j),
                            _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(sum0 + j)), mant64));
        _mm256_storeu_si256((__m256i *)(sum1 + j),
                            _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(sum1 + j)),
                                             _mm256_mul_epi32(mant64, _mm256_cvtepi32_epi64(v))));
    }
    return j;
}
#else
typedef int w2s_engine_conv_x86_empty; /* ISO C wants a translation unit to declare something */
#endif
