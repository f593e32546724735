/* w2s_format.c: see w2s_format.h. */
#include "w2s_format.h"

#include <stdio.h>

int32_t w2s_format_dequantize_milli(int8_t q, int32_t zero_point, int32_t mult_q16)
{
    const int64_t v = (int64_t)((int32_t)q - zero_point) * mult_q16;
    return (int32_t)((v + 32768) >> 16);
}

static void milli(char *buf, size_t cap, int32_t v)
{
    const char *sign = v < 0 ? "-" : "";
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    snprintf(buf, cap, "%s%lu.%03lu", sign, (unsigned long)(a / 1000u), (unsigned long)(a % 1000u));
}

/* snprintf's result as a status: it fits, or the line was cut short (or the C library failed). */
static w2s_status_t fitted(int written, size_t cap)
{
    return (written >= 0 && (size_t)written < cap) ? W2S_OK : W2S_ERR_SIZE;
}

w2s_status_t w2s_format_adv(char *out, size_t cap, const int8_t adv_s8[3], int32_t zero_point, int32_t mult_q16,
                            uint32_t inference_us)
{
    char a[16], d[16], v[16];
    if (out == NULL || cap == 0u || adv_s8 == NULL) {
        return W2S_ERR_ARG;
    }
    milli(a, sizeof a, w2s_format_dequantize_milli(adv_s8[0], zero_point, mult_q16));
    milli(d, sizeof d, w2s_format_dequantize_milli(adv_s8[1], zero_point, mult_q16));
    milli(v, sizeof v, w2s_format_dequantize_milli(adv_s8[2], zero_point, mult_q16));
    return fitted(snprintf(out, cap, "A=%s D=%s V=%s t=%luus", a, d, v, (unsigned long)inference_us), cap);
}

static int32_t to_milli(float x)
{
    const double m = (double)x * 1000.0; /* double: a float sum would round 0.49999997 + 0.5 up to 1 */
    return (int32_t)(m < 0.0 ? m - 0.5 : m + 0.5); /* round half away from zero, no libm */
}

w2s_status_t w2s_format_adv_f32(char *out, size_t cap, const float adv_f32[3], uint32_t inference_us)
{
    char a[16], d[16], v[16];
    if (out == NULL || cap == 0u || adv_f32 == NULL) {
        return W2S_ERR_ARG;
    }
    milli(a, sizeof a, to_milli(adv_f32[0]));
    milli(d, sizeof d, to_milli(adv_f32[1]));
    milli(v, sizeof v, to_milli(adv_f32[2]));
    return fitted(snprintf(out, cap, "A=%s D=%s V=%s t=%luus", a, d, v, (unsigned long)inference_us), cap);
}

w2s_status_t w2s_format_dropped(char *out, size_t cap, uint32_t samples)
{
    if (out == NULL || cap == 0u) {
        return W2S_ERR_ARG;
    }
    return fitted(snprintf(out, cap, "warning: %lu samples dropped", (unsigned long)samples), cap);
}
