/* w2s_frontend.c: see w2s_frontend.h. Mirrors mcu_toolkit/dsp/fixed.py operation for operation.
 *
 * frame() runs one frame through six stages, each a function of its own so that it can be tested and
 * timed alone (benchmarks/c/fe_stages.c includes this file and calls them):
 *   block_exponent   the frame's offset (its rounded mean) and the shift that makes (x - offset) fill 16 bits
 *   window_q7        (x - offset) << shift, x Hann Q15 -> Q7, packed as 32 complex values in bit-reversed order
 *   fft_real64_q7    32-point complex FFT, then the split into 2X[k], k = 0..32, of the 64-point frame
 *   power_spectrum   |2X[k]|^2 >> W2S_FE_POWER_SHIFT, uint64
 *   mel_energies     per mel filter: sum of power x weight Q11, uint64
 *   mel_log_db_q7    10*log10 of each energy + the filter's own dB - the block's 2^(2 shift), dB Q7
 *
 * Why the block exponent: every later stage rounds to integers of a fixed size, so without it a frame
 * 60 dB down kept 10 fewer bits than a loud one (0.4 dB mean error at -60 dBFS). With it, a frame scaled by
 * 2^k gives the same integers and only the shift changes, which comes off exactly in the log2. Why the
 * offset: a constant input then gives exact zeros, where Hann and twiddle rounding would leak it into
 * every bin and prenorm's 1e-7 floor would lift that leakage to -30 dB.
 */
#include "w2s_frontend.h"

#include <string.h>

/* Helium (MVE) loops for the block exponent and the window where the core has integer MVE (Cortex-M55, M85),
 * unless W2S_FRONTEND_PORTABLE asks for the plain C: the same integers. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(W2S_FRONTEND_PORTABLE)
#include <arm_mve.h>
#define W2S_FE_MVE 1
#else
#define W2S_FE_MVE 0
#endif

/* The FFT and the split below are written for 64-point frames (a 32-point complex FFT, 33 bins). */
typedef char w2s_fe_frames_are_64_points[(W2S_FE_N_FFT == 64u && W2S_FE_N_BINS == 33u) ? 1 : -1];

/* The five stages stay calls rather than being inlined into frame(): on a Cortex-M4 one function holding
   them all runs out of registers and spills (benchmarks/bench_frontend.py measures the difference), and
   benchmarks/c/fe_stages.c then times exactly the code frame() runs. */
#if defined(__GNUC__) || defined(__clang__)
#define STAGE static __attribute__((noinline))
#else
#define STAGE static
#endif

#define TW_ROUND ((int64_t)1 << (W2S_FE_TWIDDLE_BITS - 1))
#define REF_BITS 30 /* the 2^30 of W2S_FE_REF30_DB_Q7 */

static uint32_t floor_log2_u64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return 63u - (uint32_t)__builtin_clzll(x); /* CLZ on Cortex-M3 and up */
#else
    uint32_t e = 0;
    uint32_t shift;
    for (shift = 32; shift > 0; shift >>= 1) {
        if ((x >> shift) != 0) {
            x >>= shift;
            e += shift;
        }
    }
    return e;
#endif
}

/* log2(x) in Q16 from x's exponent and its top 17 bits only */
static int32_t log2_q16(uint64_t x)
{
    const uint32_t e = floor_log2_u64(x);
    const uint32_t m = (uint32_t)((e <= 16) ? (x << (16 - e)) : (x >> (e - 16))); /* [2^16, 2^17) */
    const uint32_t idx = (m >> 8) & 255u;
    const int32_t frac = (int32_t)(m & 255u);
    const int32_t lo = g_w2s_log2_q16[idx];
    const int32_t hi = g_w2s_log2_q16[idx + 1];
    return (int32_t)e * 65536 + lo + (((hi - lo) * frac + 128) >> 8); /* < 2^23 */
}

static int32_t db_q7_of_log2(int32_t log2)
{
    return (int32_t)(((int64_t)log2 * W2S_FE_DB_PER_LOG2_Q16 + ((int64_t)1 << 24)) >> 25);
}

int32_t w2s_frontend_db_q7(uint64_t x)
{
    return db_q7_of_log2(log2_q16(x));
}

/* A 128-bit unsigned value: long windows' prenorm sums need up to ~72 bits. */
typedef struct {
    uint64_t hi, lo;
} u128_t;

static u128_t mul_u64(uint64_t a, uint64_t b)
{
    const uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, b0 = b & 0xFFFFFFFFu, b1 = b >> 32;
    const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFu) + (p10 & 0xFFFFFFFFu);
    u128_t r;
    r.lo = (mid << 32) | (p00 & 0xFFFFFFFFu);
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return r;
}

static u128_t add_u128(u128_t a, u128_t b)
{
    u128_t r;
    r.lo = a.lo + b.lo;
    r.hi = a.hi + b.hi + (r.lo < a.lo ? 1u : 0u);
    return r;
}

static u128_t sub_u128(u128_t a, u128_t b) /* a >= b */
{
    u128_t r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo ? 1u : 0u);
    return r;
}

/* db_q7 of a 128-bit value: shifted down to 64 bits it keeps its top 17 bits, which is all log2_q16 reads,
 * so the result equals the exact value's */
static int32_t db_q7_u128(u128_t x)
{
    if (x.hi == 0u) {
        return w2s_frontend_db_q7(x.lo);
    }
    const uint32_t k = floor_log2_u64(x.hi) + 1u; /* 1..64 */
    const uint64_t top = k == 64u ? x.hi : (x.hi << (64u - k)) | (x.lo >> k);
    return db_q7_of_log2(log2_q16(top) + (int32_t)k * 65536);
}

void w2s_frontend_window_start(w2s_frontend_state_t *state)
{
    memset(state, 0, sizeof(*state));
}

/* 32 x 32 -> 64-bit product (one SMULL on Cortex-M), rounded back to Q0 from Q30. */
static inline int32_t mul_q30(int32_t a, int32_t w_q30, int32_t b, int32_t v_q30)
{
#if W2S_FE_MVE && defined(__GNUC__)
    /* SRSHRL is the rounded 64-bit shift in one instruction (GCC spills the pair to the stack for ASRL); a
       64-bit operand is an even and odd register pair on an MVE core */
    int64_t acc;
    __asm__("smull %Q[acc], %R[acc], %[a], %[w]\n\tsmlal %Q[acc], %R[acc], %[b], %[v]\n\t"
            "srshrl %Q[acc], %R[acc], #%c[s]"
            : [acc] "=&r"(acc)
            : [a] "r"(a), [w] "r"(w_q30), [b] "r"(b), [v] "r"(v_q30), [s] "i"(W2S_FE_TWIDDLE_BITS));
    return (int32_t)acc;
#endif
    return (int32_t)(((int64_t)a * w_q30 + (int64_t)b * v_q30 + TW_ROUND) >> W2S_FE_TWIDDLE_BITS);
}

/* A frame's offset and block exponent. */
typedef struct {
    int32_t offset_s16; /**< the frame's mean, rounded half up, int16 PCM units */
    int32_t scale;      /**< 2^shift: (x - offset) * scale is below 2^16 in magnitude */
    uint32_t shift;     /**< 0..W2S_FE_BLOCK_BITS */
} block_t;

/* Stage 1: the offset and the exponent (one pass for the sum, one for the largest deviation). */
STAGE void block_exponent(const int16_t *x_s16, block_t *block)
{
    int32_t sum = 0;
    uint32_t n, dev = 0;
#if W2S_FE_MVE
    for (n = 0; n < W2S_FE_N_FFT; n += 8u) {
        sum = vaddvaq_s16(sum, vld1q_s16(x_s16 + n));
    }
    block->offset_s16 = (sum + (1 << (W2S_FE_FRAME_LOG2 - 1))) >> W2S_FE_FRAME_LOG2;
    for (n = 0; n < W2S_FE_N_FFT; n += 4u) { /* the largest |d|: the same bit length as the OR below */
        dev = vmaxavq_s32(dev, vsubq_n_s32(vldrhq_s32(x_s16 + n), block->offset_s16));
    }
#else
    for (n = 0; n < W2S_FE_N_FFT; n++) {
        sum += x_s16[n];
    }
    block->offset_s16 = (sum + (1 << (W2S_FE_FRAME_LOG2 - 1))) >> W2S_FE_FRAME_LOG2;
    for (n = 0; n < W2S_FE_N_FFT; n++) {
        const int32_t d = x_s16[n] - block->offset_s16;
        dev |= (uint32_t)(d < 0 ? -d : d); /* the OR has the largest deviation's bit length */
    }
#endif
    block->shift = W2S_FE_BLOCK_BITS - (dev == 0u ? 0u : floor_log2_u64(dev) + 1u);
    block->scale = (int32_t)1 << block->shift;
}

static inline int32_t hann_q7(int16_t x_s16, const block_t *block, uint16_t w_q15)
{
    /* |d| < 2^16 and w_q15 <= 2^15: the product stays below 2^31 */
    const int32_t d = (x_s16 - block->offset_s16) * block->scale;
    return (d * (int32_t)w_q15 + (1 << (W2S_FE_HANN_SHIFT - 1))) >> W2S_FE_HANN_SHIFT;
}

#if W2S_FE_MVE
/* hann_q7 on the 4 samples at src[] */
static inline int32x4_t hann4_q7(const int16_t *x_s16, const block_t *block, uint32x4_t src)
{
    const int32x4_t d = vmulq_n_s32(vsubq_n_s32(vldrhq_gather_shifted_offset_s32(x_s16, src), block->offset_s16),
                                    block->scale);
    const int32x4_t w = vreinterpretq_s32_u32(vldrhq_gather_shifted_offset_u32(g_w2s_hann_q15, src));
    return vshrq_n_s32(vaddq_n_s32(vmulq_s32(d, w), 1 << (W2S_FE_HANN_SHIFT - 1)), W2S_FE_HANN_SHIFT);
}
#endif

/* Stage 2: the Hann window on the block, and the real frame packed as 32 complex values (even samples
   real, odd imaginary) in bit-reversed order, ready for the in-place FFT. */
STAGE void window_q7(const int16_t *x_s16, const block_t *block, int32_t *re_q7, int32_t *im_q7)
{
    uint32_t n;
#if W2S_FE_MVE
    for (n = 0; n < 32u; n += 4u) { /* 4 packed values a step: gathers by the bit-reversed index */
        const uint32x4_t even = vshlq_n_u32(vldrbq_u32(g_w2s_bitrev5 + n), 1), odd = vaddq_n_u32(even, 1u);
        vst1q_s32(re_q7 + n, hann4_q7(x_s16, block, even));
        vst1q_s32(im_q7 + n, hann4_q7(x_s16, block, odd));
    }
    return;
#endif
    for (n = 0; n < 32u; n++) {
        const uint32_t src = 2u * g_w2s_bitrev5[n];
        re_q7[n] = hann_q7(x_s16[src], block, g_w2s_hann_q15[src]);
        im_q7[n] = hann_q7(x_s16[src + 1u], block, g_w2s_hann_q15[src + 1u]);
    }
}

/* One radix-2 butterfly: (a, b) <- (a + t, a - t), t being b times the twiddle. */
static inline void butterfly(int32_t *re, int32_t *im, uint32_t a, uint32_t b, int32_t tr, int32_t ti)
{
    const int32_t ar = re[a], ai = im[a];
    re[a] = ar + tr;
    im[a] = ai + ti;
    re[b] = ar - tr;
    im[b] = ai - ti;
}

/* 32-point complex radix-2 DIT FFT, in place, Q30 twiddles. Values stay below 2^29 (sum |v| < 2^28): no
   scaling.
   Twiddles 1 and -j are applied without multiplying: (b * 2^30 + 2^29) >> 30 == b exactly. */
static void fft32(int32_t *re, int32_t *im)
{
    uint32_t size, half, step, j, a, b;
    /* Butterfly passes 1 and 2 use only the twiddles 1 and -j: add and subtract. */
    for (a = 0; a < 32; a += 4) {
        const int32_t r0 = re[a] + re[a + 1], i0 = im[a] + im[a + 1];
        const int32_t r1 = re[a] - re[a + 1], i1 = im[a] - im[a + 1];
        const int32_t r2 = re[a + 2] + re[a + 3], i2 = im[a + 2] + im[a + 3];
        const int32_t r3 = re[a + 2] - re[a + 3], i3 = im[a + 2] - im[a + 3];
        re[a] = r0 + r2;
        im[a] = i0 + i2;
        re[a + 2] = r0 - r2;
        im[a + 2] = i0 - i2;
        re[a + 1] = r1 + i3; /* (r3 + j i3) * -j = i3 - j r3 */
        im[a + 1] = i1 - r3;
        re[a + 3] = r1 - i3;
        im[a + 3] = i1 + r3;
    }
    for (size = 8; size <= 32; size <<= 1) {
        half = size >> 1;
        step = 32u / size;
        for (j = 0; j < half; j++) {
            const uint32_t k = j * step; /* twiddle index: 0 is 1, 8 is -j */
            const int32_t wr = g_w2s_tw32_re_q30[k];
            const int32_t wi = g_w2s_tw32_im_q30[k];
            /* One twiddle for the whole run of butterflies: decide 1, -j or a multiply once. */
            if (k == 0) {
                for (a = j; a < 32; a += size) {
                    b = a + half;
                    butterfly(re, im, a, b, re[b], im[b]);
                }
            } else if (k == 8) {
                for (a = j; a < 32; a += size) {
                    b = a + half;
                    butterfly(re, im, a, b, im[b], -re[b]);
                }
            } else {
                for (a = j; a < 32; a += size) {
                    b = a + half;
                    butterfly(re, im, a, b, mul_q30(re[b], wr, im[b], -wi), mul_q30(re[b], wi, im[b], wr));
                }
            }
        }
    }
}

/* The packed 32-point transform Z -> 2X[k], k = 0..32, of the 64-point real frame, in place (re and im
   hold W2S_FE_N_BINS values). With A = Z[k] and C = Z[32-k]:
     2X[k]    = E + W64^k O,                  E = A + conj(C),  O = -j (A - conj(C)),
     2X[32-k] = conj(E) + W64^(32-k) conj(O),
   so one pair of inputs gives both bins (k = 16 is its own partner: both writes agree). */
static void split_real64(int32_t *re, int32_t *im)
{
    uint32_t k;
    for (k = 0; k <= 16u; k++) {
        const uint32_t j = 32u - k;
        const int32_t ar = re[k], ai = im[k];
        const int32_t cr = re[j & 31u], ci = im[j & 31u];
        const int32_t er = ar + cr, ei = ai - ci;  /* E */
        const int32_t orr = ai + ci, oi = cr - ar; /* O */
        const int32_t wr = g_w2s_tw64_re_q30[k], wi = g_w2s_tw64_im_q30[k];
        const int32_t vr = g_w2s_tw64_re_q30[j], vi = g_w2s_tw64_im_q30[j];
        re[k] = er + mul_q30(orr, wr, oi, -wi);
        im[k] = ei + mul_q30(orr, wi, oi, wr);
        re[j] = er + mul_q30(orr, vr, oi, vi);
        im[j] = -ei + mul_q30(orr, vi, -oi, vr);
    }
}

/* Stage 3: the 64-point real FFT of the packed, windowed frame, as 2X[k] in Q7. */
STAGE void fft_real64_q7(int32_t *re_q7, int32_t *im_q7)
{
    fft32(re_q7, im_q7);
    split_real64(re_q7, im_q7);
}

/* What finish_window needs to redo bins 0 and 1 with the window's mean: the bins in the block's units, and
   the block's offset (low half, int16) and shift (high half). */
static void keep_dc_bins(const int32_t *re_q7, const int32_t *im_q7, const block_t *block, int32_t *dc_bins_q7)
{
    dc_bins_q7[0] = re_q7[0];
    dc_bins_q7[1] = re_q7[1];
    dc_bins_q7[2] = im_q7[1];
    dc_bins_q7[3] = (int32_t)(((uint32_t)block->offset_s16 & 0xFFFFu) | (block->shift << 16));
}

static inline uint64_t power_of(int32_t xr, int32_t xi)
{
#if W2S_FE_MVE && defined(__GNUC__)
    int64_t acc; /* as mul_q30: the sum of squares (below 2^63) and LSRL on one register pair */
    __asm__("smull %Q[acc], %R[acc], %[r], %[r]\n\tsmlal %Q[acc], %R[acc], %[i], %[i]\n\tlsrl %Q[acc], %R[acc], #%c[s]"
            : [acc] "=&r"(acc)
            : [r] "r"(xr), [i] "r"(xi), [s] "i"(W2S_FE_POWER_SHIFT));
    return (uint64_t)acc;
#endif
    uint64_t p = (uint64_t)((int64_t)xr * xr) + (uint64_t)((int64_t)xi * xi);
    return p >> W2S_FE_POWER_SHIFT;
}

/* Stage 4: the power spectrum. */
STAGE void power_spectrum(const int32_t *re_q7, const int32_t *im_q7, uint64_t *power)
{
    uint32_t k;
    for (k = 0; k < W2S_FE_N_BINS; k++) {
        power[k] = power_of(re_q7[k], im_q7[k]);
    }
}

static inline uint64_t mel_energy(const uint64_t *power, uint32_t m)
{
    uint64_t acc = 0;
    uint32_t i;
    const uint32_t first = g_w2s_mel_first_bin[m];
    for (i = 0; i < g_w2s_mel_n_bins[m]; i++) {
        acc += power[first + i] * g_w2s_mel_u_q11[m][i];
    }
    return acc;
}

/* Stage 5: the mel filterbank. The DC mels' energies are not final: finish_window redoes them. */
STAGE void mel_energies(const uint64_t *power, uint64_t *energy)
{
    uint32_t m;
#if W2S_FE_MVE
    /* 4 bins a step (power[] has 3 spare zeros): the sum of the low halves' products in 64 bits (VMLALDAV), of
       the high halves' in 32 (only its low 32 bits reach the uint64 sum once shifted); weights past the filter
       load as 0 */
    for (m = 0; m < W2S_FE_N_MELS; m++) {
        const uint32_t first = g_w2s_mel_first_bin[m], bins = g_w2s_mel_n_bins[m];
        uint64_t lo = 0;
        uint32_t hi = 0, i;
        for (i = 0; i < bins; i += 4u) {
            const uint32x4x2_t x = vld2q_u32((const uint32_t *)(power + first + i));
            const uint32x4_t w = vldrhq_z_u32(g_w2s_mel_u_q11[m] + i, vctp32q(bins - i));
            lo = vmlaldavaq_u32(lo, x.val[0], w);
            hi = vmladavaq_u32(hi, x.val[1], w);
        }
        energy[m] = lo + ((uint64_t)hi << 32);
    }
    return;
#endif
    for (m = 0; m < W2S_FE_N_MELS; m++) {
        energy[m] = mel_energy(power, m);
    }
}

/* energy in units of 2^(2 shift) -> raw dB Q7; shift may be negative (finish_window's large DC bins) */
static inline int16_t energy_db_q7(uint64_t energy, uint32_t m, int32_t shift)
{
    if (energy == 0) {
        return (int16_t)W2S_FE_RAW_FLOOR_DB_Q7;
    }
    const int32_t db = db_q7_of_log2(log2_q16(energy) - shift * (2 * 65536)) + g_w2s_mel_db_q7[m];
    return (int16_t)(db < W2S_FE_RAW_FLOOR_DB_Q7 ? W2S_FE_RAW_FLOOR_DB_Q7 : db);
}

/* Stage 6: the log, raw dB Q7 (no prenorm yet); the DC mels stay 0 until finish_window. */
STAGE void mel_log_db_q7(const uint64_t *energy, const block_t *block, int16_t *out_db_q7)
{
    uint32_t m;
#if W2S_FE_MVE
    /* energy_db_q7 on 4 mels a step (energy[] has room for whole steps, its spare values 0): the exponent from
       CLZ of either half, the top 17 bits by two shifts of the halves (VSHL: a shift of 32 or more gives 0),
       the table's interpolation, and VRMULH on (log2 << 7) for ((int64_t)log2 * dB + 2^24) >> 25 (|log2| <
       2^23). */
    for (m = 0; m < W2S_FE_N_MELS; m += 4u) {
        const mve_pred16_t p = vctp32q(W2S_FE_N_MELS - m);
        const uint32x4x2_t x = vld2q_u32((const uint32_t *)(energy + m)); /* val[0]: low halves, [1]: high */
        const mve_pred16_t big = vcmpneq_n_u32(x.val[1], 0u);
        const int32x4_t e = vpselq_s32(vsubq_s32(vdupq_n_s32(63), vreinterpretq_s32_u32(vclzq_u32(x.val[1]))),
                                       vsubq_s32(vdupq_n_s32(31), vreinterpretq_s32_u32(vclzq_u32(x.val[0]))),
                                       big);
        const uint32x4_t mant = vorrq_u32(vshlq_u32(x.val[0], vsubq_s32(vdupq_n_s32(16), e)),
                                          vshlq_u32(x.val[1], vsubq_s32(vdupq_n_s32(48), e)));
        const uint32x4_t idx = vandq_u32(vshrq_n_u32(mant, 8), vdupq_n_u32(255u));
        const int32x4_t frac = vreinterpretq_s32_u32(vandq_u32(mant, vdupq_n_u32(255u)));
        const int32x4_t lo = vldrwq_gather_shifted_offset_s32(g_w2s_log2_q16, idx);
        const int32x4_t hi = vldrwq_gather_shifted_offset_s32(g_w2s_log2_q16, vaddq_n_u32(idx, 1u));
        int32x4_t log2 = vaddq_s32(vaddq_s32(vshlq_n_s32(e, 16), lo),
                                   vshrq_n_s32(vaddq_n_s32(vmulq_s32(vsubq_s32(hi, lo), frac), 128), 8));
        log2 = vsubq_n_s32(log2, (int32_t)block->shift * (2 * 65536));
        int32x4_t db = vaddq_s32(vrmulhq_s32(vshlq_n_s32(log2, 7), vdupq_n_s32(W2S_FE_DB_PER_LOG2_Q16)),
                                 vldrhq_z_s32(g_w2s_mel_db_q7 + m, p));
        db = vmaxq_s32(db, vdupq_n_s32(W2S_FE_RAW_FLOOR_DB_Q7));
        db = vpselq_s32(vdupq_n_s32(W2S_FE_RAW_FLOOR_DB_Q7), db,
                        vcmpeqq_n_u32(vorrq_u32(x.val[0], x.val[1]), 0u));
        db = vpselq_s32(vdupq_n_s32(0), db, vcmpneq_n_u32(vldrbq_z_u32(g_w2s_mel_is_dc + m, p), 0u));
        vstrhq_p_s32(out_db_q7 + m, db, p);
    }
    return;
#endif
    for (m = 0; m < W2S_FE_N_MELS; m++) {
        out_db_q7[m] = g_w2s_mel_is_dc[m] ? (int16_t)0 : energy_db_q7(energy[m], m, (int32_t)block->shift);
    }
}

/* One frame of 64 samples -> raw dB Q7 for the non-DC mels, and the DC words. */
static void frame(const int16_t *x_s16, int16_t *out_db_q7, int32_t *dc_bins_q7)
{
    int32_t re_q7[W2S_FE_N_BINS], im_q7[W2S_FE_N_BINS]; /* 32 packed samples in, 33 bins out */
#if W2S_FE_MVE
    uint64_t power[W2S_FE_N_BINS + 3u]; /* mel_energies' last step of 4 bins: the spare 3 are 0 */
    for (size_t k = W2S_FE_N_BINS; k < W2S_FE_N_BINS + 3u; k++) {
        power[k] = 0u;
    }
#else
    uint64_t power[W2S_FE_N_BINS];
#endif
#if W2S_FE_MVE
    uint64_t energy[(W2S_FE_N_MELS + 3u) & ~3u]; /* whole Helium steps of 4, the spare values 0 */
    for (size_t m = W2S_FE_N_MELS; m < sizeof energy / sizeof energy[0]; m++) {
        energy[m] = 0u;
    }
#else
    uint64_t energy[W2S_FE_N_MELS];
#endif
    block_t block;

    block_exponent(x_s16, &block);
    window_q7(x_s16, &block, re_q7, im_q7);
    fft_real64_q7(re_q7, im_q7);
    keep_dc_bins(re_q7, im_q7, &block, dc_bins_q7);
    power_spectrum(re_q7, im_q7, power);
    mel_energies(power, energy);
    mel_log_db_q7(energy, &block, out_db_q7);
}

size_t w2s_frontend_push_s16(w2s_frontend_state_t *state, const int16_t *pcm_s16, size_t n,
                             int16_t *frames_db_q7, int32_t *dc_bins_q7, size_t max_frames,
                             size_t *consumed)
{
    size_t i = 0, frames = 0;
#if W2S_FE_MVE
    /* up to a frame's end at a time: the sums by VADDVA / VMLALDAVA, the samples copied 8 a vector; the same
       stop as below (before the sample that would complete a frame with nowhere to put it) */
    while (i < n) {
        size_t k = W2S_FE_N_FFT - state->fill, j;
        const int ends = k <= n - i;
        int32_t sum = 0;
        int64_t sum_sq = 0;
        k = ends ? k - (frames == max_frames) : n - i;
        for (j = 0; j < k; j += 8u) {
            const mve_pred16_t p = vctp16q((uint32_t)(k - j));
            const int16x8_t x = vld1q_z_s16(pcm_s16 + i + j, p);
            sum = vaddvaq_s16(sum, x);
            sum_sq = vmlaldavaq_s16(sum_sq, x, x);
            vst1q_p_s16(state->history_s16 + state->fill + j, x, p);
        }
        state->sum += sum;
        state->sum_sq += (uint64_t)sum_sq;
        state->count += (uint32_t)k;
        state->fill += (uint32_t)k;
        i += k;
        if (state->fill < W2S_FE_N_FFT) {
            break; /* the input ran out, or the frames did */
        }
        frame(state->history_s16, frames_db_q7 + frames * W2S_FE_N_MELS, dc_bins_q7 + frames * W2S_FE_DC_BINS);
        frames++;
        memmove(state->history_s16, state->history_s16 + W2S_FE_HOP, W2S_FE_HOP * sizeof(int16_t));
        state->fill = W2S_FE_N_FFT - W2S_FE_HOP;
    }
#endif
    for (; i < n; i++) {
        int32_t x = pcm_s16[i];
        if (state->fill == W2S_FE_N_FFT - 1u && frames == max_frames) {
            break; /* this sample would complete a frame with nowhere to put it */
        }
        state->sum += x;
        state->sum_sq += (uint64_t)(x * x);
        state->count++;
        state->history_s16[state->fill++] = (int16_t)x;
        if (state->fill == W2S_FE_N_FFT) {
            frame(state->history_s16, frames_db_q7 + frames * W2S_FE_N_MELS,
                  dc_bins_q7 + frames * W2S_FE_DC_BINS);
            frames++;
            memmove(state->history_s16, state->history_s16 + W2S_FE_HOP, W2S_FE_HOP * sizeof(int16_t));
            state->fill = W2S_FE_N_FFT - W2S_FE_HOP;
        }
    }
    if (consumed != NULL) {
        *consumed = i;
    }
    return frames;
}

int32_t w2s_frontend_offset_db_q7(const w2s_frontend_state_t *state)
{
    /* N sum(x^2) - sum(x)^2 = N^2 var >= 0, in 128 bits: exact up to W2S_FE_MAX_WINDOW_SAMPLES */
    const uint64_t n = state->count > 0 ? state->count : 1u;
    const uint64_t s_abs = (uint64_t)(state->sum < 0 ? -state->sum : state->sum);
    /* PRENORM_EPS N^2 2^30, rounded, without 2^70: 2^30 = 107 * 10^7 + 3741824 */
    const uint64_t n2 = n * n;
    const uint64_t eps = n2 * (((uint64_t)1 << REF_BITS) / W2S_FE_PRENORM_EPS_INV) +
                         (n2 * (((uint64_t)1 << REF_BITS) % W2S_FE_PRENORM_EPS_INV) + W2S_FE_PRENORM_EPS_INV / 2u) /
                             W2S_FE_PRENORM_EPS_INV;
    u128_t e;
    e.hi = 0u;
    e.lo = eps;
    const u128_t d = add_u128(sub_u128(mul_u64(n, state->sum_sq), mul_u64(s_abs, s_abs)), e);
    return w2s_frontend_db_q7(n2) + W2S_FE_REF30_DB_Q7 - db_q7_u128(d);
}

/* a / b rounded half away from zero, b > 0, without dividing a negative number. */
static int64_t round_div(int64_t a, int64_t b)
{
    uint64_t q = ((uint64_t)(a < 0 ? -a : a) + (uint64_t)(b / 2)) / (uint64_t)b;
    return a < 0 ? -(int64_t)q : (int64_t)q;
}

/* v / 2^r rounded half up, r < 63 */
static int64_t round_shift(int64_t v, uint32_t r)
{
    return r == 0u ? v : (v + ((int64_t)1 << (r - 1u))) >> r;
}

void w2s_frontend_finish_window(const w2s_frontend_state_t *state, int16_t *frames_db_q7,
                                const int32_t *dc_bins_q7, size_t frames)
{
    static const int64_t gain[2] = {W2S_FE_DC_GAIN_BIN0, W2S_FE_DC_GAIN_BIN1};
    const int32_t offset = w2s_frontend_offset_db_q7(state);
    const int64_t n = state->count > 0 ? (int64_t)state->count : 1;
    /* The mean as floor + rem / n, and per shift and bin the fraction's part of the move, rounded once:
       a frame's bin moves by gain 2^shift (offset - mean). 34 divisions a window, none a frame. */
    int64_t floor_mu = state->sum / n, rem = state->sum % n;
    int64_t frac[2][W2S_FE_BLOCK_BITS + 1];
    size_t f;
    uint32_t m, k;
    if (rem < 0) {
        rem += n;
        floor_mu -= 1;
    }
    for (k = 0; k < 2u; k++) {
        for (m = 0; m <= W2S_FE_BLOCK_BITS; m++) {
            frac[k][m] = round_div(gain[k] * rem * ((int64_t)1 << m), n);
        }
    }
    for (f = 0; f < frames; f++) {
        int16_t *row = frames_db_q7 + f * W2S_FE_N_MELS;
        const int32_t *dc = dc_bins_q7 + f * W2S_FE_DC_BINS;
        const int32_t frame_offset = (int32_t)(int16_t)(uint16_t)((uint32_t)dc[3] & 0xFFFFu);
        const uint32_t shift = (uint32_t)dc[3] >> 16;
        const int64_t base = (frame_offset - floor_mu) * ((int64_t)1 << shift); /* < 2^33 */
        int64_t v[3];
        uint64_t mag, power[W2S_FE_N_BINS];
        uint32_t r = 0;
        v[0] = dc[0] + gain[0] * base - frac[0][shift]; /* < 2^47 */
        v[1] = dc[1] + gain[1] * base - frac[1][shift];
        v[2] = dc[2];
        /* under 2^30 before squaring; the bits dropped are counted in the exponent */
        mag = 0;
        for (k = 0; k < 3u; k++) {
            mag |= (uint64_t)(v[k] < 0 ? -v[k] : v[k]);
        }
        if (mag >= ((uint64_t)1 << W2S_FE_DC_VALUE_BITS)) {
            r = floor_log2_u64(mag) + 1u - W2S_FE_DC_VALUE_BITS;
        }
        power[0] = power_of((int32_t)round_shift(v[0], r), 0);
        power[1] = power_of((int32_t)round_shift(v[1], r), (int32_t)round_shift(v[2], r));
#if W2S_FE_MVE
        for (m = 0; m < W2S_FE_N_MELS; m += 4u) { /* every mel as a non-DC one; the DC ones are redone below */
            const mve_pred16_t p = vctp32q(W2S_FE_N_MELS - m);
            const int32x4_t value = vaddq_n_s32(vldrhq_z_s32(row + m, p), offset);
            vstrhq_p_s32(row + m, vminq_s32(vmaxq_s32(value, vdupq_n_s32(W2S_FE_FLOOR_DB_Q7)),
                                            vdupq_n_s32(INT16_MAX)), p);
        }
#endif
        for (m = 0; m < W2S_FE_N_MELS; m++) {
#if W2S_FE_MVE
            if (!g_w2s_mel_is_dc[m]) {
                continue;
            }
#endif
            int32_t value = g_w2s_mel_is_dc[m] ? energy_db_q7(mel_energy(power, m), m, (int32_t)shift - (int32_t)r)
                                               : row[m];
            value += offset;
            if (value < W2S_FE_FLOOR_DB_Q7) {
                value = W2S_FE_FLOOR_DB_Q7;
            } else if (value > INT16_MAX) {
                value = INT16_MAX;
            }
            row[m] = (int16_t)value;
        }
    }
}

void w2s_frontend_quantize_s8(const int16_t *db_q7, size_t count, const w2s_frontend_config_t *config,
                              int8_t *out_s8)
{
    const int64_t half = (int64_t)1 << (W2S_FE_QUANT_SHIFT - 1); /* rounds half up */
    size_t i = 0;
#if W2S_FE_MVE && W2S_FE_QUANT_SHIFT >= 17 && W2S_FE_QUANT_SHIFT <= 31
    /* VRMULH is (a b + 2^31) >> 32 from the exact product: with a = db << (32 - shift) (|db| < 2^15: no
       overflow) that is (db mult + 2^(shift - 1)) >> shift, as below */
    for (; i < count; i += 4u) {
        const mve_pred16_t p = vctp32q((uint32_t)(count - i));
        const int32x4_t x = vshlq_n_s32(vldrhq_z_s32(db_q7 + i, p), 32 - W2S_FE_QUANT_SHIFT);
        const int32x4_t q = vaddq_n_s32(vrmulhq_s32(x, vdupq_n_s32(config->input_mult_q24)),
                                        config->input_zero_point);
        vstrbq_p_s32(out_s8 + i, vminq_s32(vmaxq_s32(q, vdupq_n_s32(-128)), vdupq_n_s32(127)), p);
    }
#endif
    for (; i < count; i++) {
        int64_t q = (((int64_t)db_q7[i] * config->input_mult_q24 + half) >> W2S_FE_QUANT_SHIFT)
                    + config->input_zero_point;
        out_s8[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
}
