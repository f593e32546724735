/* w2s_infer.c: see w2s_infer.h. */
#include "w2s_infer.h"

#include <stddef.h>

#ifdef W2S_ENGINE_HAS_SILENCE
/* Every row at the front end's floor: a window with no variance (a muted microphone, a stuck ADC). The
   float model answers every such window alike, and the int8 trunk was 0.04 off that answer. A speech
   window differs in its first row, so the check costs one row. */
static int window_is_silent(const w2s_pipeline_t *p)
{
    int8_t row_s8[W2S_ENGINE_N_MELS];
    for (uint32_t t = 0; t < p->window_frames; t++) {
        w2s_pipeline_row_s8(p, t, row_s8);
        for (uint32_t m = 0; m < W2S_ENGINE_N_MELS; m++) {
            if (row_s8[m] != W2S_ENGINE_FLOOR_S8) {
                return 0;
            }
        }
    }
    return 1;
}
#endif

w2s_status_t w2s_infer_window_f32(const w2s_pipeline_t *p, w2s_engine_t *engine, float *adv_f32)
{
    int8_t row_s8[W2S_ENGINE_N_MELS];
    if (p == NULL || engine == NULL || adv_f32 == NULL || p->window_frames == 0u) {
        return W2S_ERR_ARG;
    }
#ifdef W2S_ENGINE_HAS_SILENCE
    if (window_is_silent(p)) {
        for (uint32_t k = 0; k < W2S_ENGINE_OUTPUTS; k++) {
            adv_f32[k] = g_w2s_engine_silence_f32[k];
        }
        return W2S_OK;
    }
#endif
    w2s_engine_window_start(engine, &g_w2s_engine_model);
    for (uint32_t t = 0; t < p->window_frames; t++) {
        w2s_pipeline_row_s8(p, t, row_s8);
        w2s_engine_push_s8(engine, row_s8);
    }
    return w2s_engine_window_end_f32(engine, adv_f32) > 0u ? W2S_OK : W2S_ERR_ARG;
}

int w2s_infer_begin(w2s_pipeline_t *p, w2s_engine_t *engine, float *adv_f32)
{
#ifdef W2S_ENGINE_HAS_SILENCE
    if (window_is_silent(p)) { /* nothing to queue: the next window may fill the whole store */
        for (uint32_t k = 0; k < W2S_ENGINE_OUTPUTS; k++) {
            adv_f32[k] = g_w2s_engine_silence_f32[k];
        }
        return 1;
    }
#else
    (void)adv_f32;
#endif
    (void)w2s_pipeline_queue(p);
    w2s_engine_window_start(engine, &g_w2s_engine_model);
    return 0;
}

int w2s_infer_step(w2s_pipeline_t *p, w2s_engine_t *engine, uint32_t max_rows, float *adv_f32)
{
    const int8_t *row_s8;
    if (p->taken >= p->queued) {
        return 0; /* no window in the engine */
    }
    for (uint32_t k = 0; k < max_rows && (row_s8 = w2s_pipeline_take_row(p)) != NULL; k++) {
        w2s_engine_push_s8(engine, row_s8);
    }
    return p->taken == p->queued && w2s_engine_window_end_f32(engine, adv_f32) > 0u;
}
