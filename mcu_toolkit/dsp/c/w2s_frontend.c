/* w2s_frontend.c: see w2s_frontend.h. Mirrors mcu_toolkit/frontend/fixed.py operation for operation. */
#include "w2s_frontend.h"

#include <string.h>

#define TW_BITS 30
#define TW_ROUND ((int64_t)1 << (TW_BITS - 1))
#define HANN_SHIFT 8
#define POWER_SHIFT 12
#define DB_PER_LOG2_Q16 197283 /* round(10*log10(2) * 2^16) */
#define QUANT_SHIFT 24
#define REF30_DB_Q7 11560 /* round(10*log10(2^30) * 128) */
#define DC_GAIN_BIN0 ((int64_t)1 << 13)   /* a constant c moves 2X[0] by 2^13 c ... */
#define DC_GAIN_BIN1 (-((int64_t)1 << 12)) /* ... and 2X[1] by -2^12 c */

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

int32_t w2s_db_q7(uint64_t x)
{
    const uint32_t e = floor_log2_u64(x);
    const uint32_t m = (uint32_t)((e <= 16) ? (x << (16 - e)) : (x >> (e - 16))); /* [2^16, 2^17) */
    const uint32_t idx = (m >> 8) & 255u;
    const int32_t frac = (int32_t)(m & 255u);
    const int32_t lo = g_w2s_log2_q16[idx];
    const int32_t hi = g_w2s_log2_q16[idx + 1];
    const int32_t log2_q16 = (int32_t)e * 65536 + lo + (((hi - lo) * frac + 128) >> 8); /* < 2^22 */
    return (int32_t)(((int64_t)log2_q16 * DB_PER_LOG2_Q16 + ((int64_t)1 << 24)) >> 25);
}

void w2s_frontend_window_start(w2s_frontend_state_t *state)
{
    memset(state, 0, sizeof(*state));
}

/* 32 x 32 -> 64-bit product (one SMULL on Cortex-M), rounded back to Q0 from Q30. */
static inline int32_t mul_q30(int32_t a, int32_t w_q30, int32_t b, int32_t v_q30)
{
    return (int32_t)(((int64_t)a * w_q30 + (int64_t)b * v_q30 + TW_ROUND) >> TW_BITS);
}

/* 32-point complex radix-2 DIT FFT, in place, Q30 twiddles. Values stay below 2^29: no scaling.
   Twiddles 1 and -j are applied without multiplying: (b * 2^30 + 2^29) >> 30 == b exactly. */
static void fft32(int32_t *re, int32_t *im)
{
    uint32_t size, half, step, j, a;
    /* Stages 1 and 2 use only the twiddles 1 and -j: add and subtract. */
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
            for (a = j; a < 32; a += size) {
                const uint32_t b = a + half;
                const int32_t ar = re[a], ai = im[a];
                int32_t tr, ti;
                if (k == 0) {
                    tr = re[b];
                    ti = im[b];
                } else if (k == 8) {
                    tr = im[b];
                    ti = -re[b];
                } else {
                    tr = mul_q30(re[b], wr, im[b], -wi);
                    ti = mul_q30(re[b], wi, im[b], wr);
                }
                re[a] = ar + tr;
                im[a] = ai + ti;
                re[b] = ar - tr;
                im[b] = ai - ti;
            }
        }
    }
}

static inline uint64_t power_of(int32_t xr, int32_t xi)
{
    uint64_t p = (uint64_t)((int64_t)xr * xr) + (uint64_t)((int64_t)xi * xi);
    return p >> POWER_SHIFT;
}

static inline int16_t mel_db_q7(const uint64_t *power, uint32_t m)
{
    uint64_t acc = 0;
    uint32_t i;
    const uint32_t first = g_w2s_mel_first_bin[m];
    for (i = 0; i < g_w2s_mel_n_bins[m]; i++) {
        acc += power[first + i] * g_w2s_mel_u_q11[m][i];
    }
    if (acc == 0) {
        return (int16_t)W2S_FE_RAW_FLOOR_DB_Q7;
    }
    return (int16_t)(w2s_db_q7(acc) + g_w2s_mel_db_q7[m]);
}

/* One frame of 64 samples -> raw dB Q7 for the non-DC mels, and the DC bins. */
static void frame(const int16_t *x_s16, int16_t *out_db_q7, int32_t *dc_bins)
{
    int32_t re[32], im[32];
    uint64_t power[W2S_FE_N_BINS];
    uint32_t n, k, m;

    for (n = 0; n < 32; n++) {
        uint32_t src = 2u * g_w2s_bitrev5[n];
        re[n] = (int32_t)(((int32_t)x_s16[src] * (int32_t)g_w2s_hann_q15[src] + (1 << (HANN_SHIFT - 1))) >> HANN_SHIFT);
        im[n] = (int32_t)(((int32_t)x_s16[src + 1] * (int32_t)g_w2s_hann_q15[src + 1] + (1 << (HANN_SHIFT - 1))) >> HANN_SHIFT);
    }
    fft32(re, im);
    /* Split the packed 32-point transform into the 64-point real spectrum, as 2X[k]. */
    for (k = 0; k < W2S_FE_N_BINS; k++) {
        int32_t ar = re[k & 31u], ai = im[k & 31u];
        int32_t br = re[(32u - k) & 31u], bi = -im[(32u - k) & 31u];
        int32_t er = ar + br, ei = ai + bi;
        int32_t orr = ai - bi, oi = br - ar;
        const int32_t wr = g_w2s_tw64_re_q30[k], wi = g_w2s_tw64_im_q30[k];
        int32_t xr = er + mul_q30(orr, wr, oi, -wi);
        int32_t xi = ei + mul_q30(orr, wi, oi, wr);
        power[k] = power_of(xr, xi);
        if (k == 0) {
            dc_bins[0] = xr;
        } else if (k == 1) {
            dc_bins[1] = xr;
            dc_bins[2] = xi;
        }
    }
    for (m = 0; m < W2S_FE_N_MELS; m++) {
        out_db_q7[m] = g_w2s_mel_is_dc[m] ? (int16_t)0 : mel_db_q7(power, m);
    }
}

size_t w2s_frontend_push_s16(w2s_frontend_state_t *state, const int16_t *pcm_s16, size_t n,
                             int16_t *frames_db_q7, int32_t *dc_bins, size_t max_frames,
                             size_t *consumed)
{
    size_t i, frames = 0;
    for (i = 0; i < n; i++) {
        int32_t x = pcm_s16[i];
        if (state->fill == W2S_FE_N_FFT - 1u && frames == max_frames) {
            break; /* this sample would complete a frame with nowhere to put it */
        }
        state->sum += x;
        state->sum_sq += (uint64_t)(x * x);
        state->count++;
        state->history_s16[state->fill++] = (int16_t)x;
        if (state->fill == W2S_FE_N_FFT) {
            frame(state->history_s16, frames_db_q7 + frames * W2S_FE_N_MELS, dc_bins + frames * W2S_FE_DC_BINS);
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
    /* All in uint64 for n <= W2S_FE_MAX_WINDOW_SAMPLES: N sum(x^2) - sum(x)^2 = N^2 var >= 0. */
    const uint64_t n = state->count > 0 ? state->count : 1u;
    const uint64_t s_abs = (uint64_t)(state->sum < 0 ? -state->sum : state->sum);
    const uint64_t eps = (n * n * ((uint64_t)1 << 30) + 5000000u) / 10000000u; /* 1e-7 N^2 2^30 */
    const uint64_t d = n * state->sum_sq - s_abs * s_abs + eps;
    return w2s_db_q7(n * n) + REF30_DB_Q7 - w2s_db_q7(d);
}

/* a / b rounded half away from zero, b > 0, without dividing a negative number. */
static int64_t round_div(int64_t a, int64_t b)
{
    uint64_t q = ((uint64_t)(a < 0 ? -a : a) + (uint64_t)(b / 2)) / (uint64_t)b;
    return a < 0 ? -(int64_t)q : (int64_t)q;
}

void w2s_frontend_finish_window(const w2s_frontend_state_t *state, int16_t *frames_db_q7,
                                const int32_t *dc_bins, size_t frames)
{
    const int32_t offset = w2s_frontend_offset_db_q7(state);
    const int64_t n = state->count > 0 ? (int64_t)state->count : 1;
    const int32_t corr0 = (int32_t)round_div(-DC_GAIN_BIN0 * state->sum, n);
    const int32_t corr1 = (int32_t)round_div(-DC_GAIN_BIN1 * state->sum, n);
    size_t f;
    uint32_t m;
    for (f = 0; f < frames; f++) {
        int16_t *row = frames_db_q7 + f * W2S_FE_N_MELS;
        const int32_t *dc = dc_bins + f * W2S_FE_DC_BINS;
        uint64_t power[W2S_FE_N_BINS];
        power[0] = power_of(dc[0] + corr0, 0);
        power[1] = power_of(dc[1] + corr1, dc[2]);
        for (m = 0; m < W2S_FE_N_MELS; m++) {
            int32_t v = (g_w2s_mel_is_dc[m] ? mel_db_q7(power, m) : row[m]) + offset;
            if (v < W2S_FE_FLOOR_DB_Q7) {
                v = W2S_FE_FLOOR_DB_Q7;
            } else if (v > INT16_MAX) {
                v = INT16_MAX;
            }
            row[m] = (int16_t)v;
        }
    }
}

void w2s_frontend_quantize_s8(const int16_t *db_q7, size_t count, const w2s_frontend_config_t *config,
                              int8_t *out_s8)
{
    size_t i;
    for (i = 0; i < count; i++) {
        int64_t q = (((int64_t)db_q7[i] * config->input_mult + ((int64_t)1 << (QUANT_SHIFT - 1))) >> QUANT_SHIFT)
                    + config->input_zero_point;
        out_s8[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
}
