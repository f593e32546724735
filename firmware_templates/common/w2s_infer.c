/* w2s_infer.c: see w2s_infer.h. */
#include "w2s_infer.h"

#include <stddef.h>

w2s_status_t w2s_infer_window_f32(const w2s_pipeline_t *p, w2s_engine_t *engine, float *adv_f32)
{
    int8_t row_s8[W2S_ENGINE_N_MELS];
    if (p == NULL || engine == NULL || adv_f32 == NULL || p->window_frames == 0u) {
        return W2S_ERR_ARG;
    }
    w2s_engine_window_start(engine, &g_w2s_engine_model);
    for (uint32_t t = 0; t < p->window_frames; t++) {
        w2s_pipeline_row_s8(p, t, row_s8);
        w2s_engine_push_s8(engine, row_s8);
    }
    return w2s_engine_window_end_f32(engine, adv_f32) > 0u ? W2S_OK : W2S_ERR_ARG;
}
