/* w2s_engine_maxpool: the max-pool row kernel (see w2s_engine_kernels.h). */
#include <string.h>

#include "w2s_engine_kernels.h"

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
void w2s_maxpool_row_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *colmax, int8_t *out)
{
#if W2S_ENGINE_MVE
    w2s_maxpool_row_mve_s8(layer, rows, (int8_t *)colmax, out);
    return;
#endif
#if W2S_ENGINE_X86
    w2s_maxpool_row_x86_s8(layer, rows, colmax, out);
    return;
#endif
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
