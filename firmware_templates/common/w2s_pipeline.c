/* w2s_pipeline.c: see w2s_pipeline.h. */
#include "w2s_pipeline.h"

w2s_status_t w2s_pipeline_init(w2s_pipeline_t *p, const w2s_frontend_config_t *config, int16_t *frames_db_q7,
                               int32_t *dc_bins_q7, int8_t *input_s8, uint32_t frames_per_window)
{
    if (p == NULL || config == NULL || frames_db_q7 == NULL || dc_bins_q7 == NULL) {
        return W2S_ERR_ARG;
    }
    if (config->window_samples < W2S_FE_N_FFT || config->window_samples > W2S_FE_MAX_WINDOW_SAMPLES) {
        return W2S_ERR_ARG; /* no frame at all, or sums that would overflow the exact prenorm */
    }
    if (frames_per_window < (config->window_samples - W2S_FE_N_FFT) / W2S_FE_HOP + 1u) {
        return W2S_ERR_SIZE;
    }
    p->config = config;
    p->frames_db_q7 = frames_db_q7;
    p->dc_bins_q7 = dc_bins_q7;
    p->input_s8 = input_s8;
    p->frames_per_window = frames_per_window;
    p->frames = 0u;
    p->window_frames = 0u;
    w2s_frontend_window_start(&p->frontend);
    return W2S_OK;
}

int w2s_pipeline_feed(w2s_pipeline_t *p, const int16_t *pcm_s16, size_t n, size_t *consumed)
{
    const uint32_t window = p->config->window_samples;
    uint32_t want = window - p->frontend.count; /* samples this window still needs */
    size_t take = n < want ? n : want;
    size_t used = 0;
    p->frames += (uint32_t)w2s_frontend_push_s16(&p->frontend, pcm_s16, take,
                                                 p->frames_db_q7 + (size_t)p->frames * W2S_FE_N_MELS,
                                                 p->dc_bins_q7 + (size_t)p->frames * W2S_FE_DC_BINS,
                                                 p->frames_per_window - p->frames, &used);
    if (consumed != NULL) {
        *consumed = used;
    }
    if (p->frontend.count < window) {
        return 0;
    }
    w2s_frontend_finish_window(&p->frontend, p->frames_db_q7, p->dc_bins_q7, p->frames);
    if (p->input_s8 != NULL) {
        w2s_frontend_quantize_s8(p->frames_db_q7, (size_t)p->frames * W2S_FE_N_MELS, p->config, p->input_s8);
    }
    p->window_frames = p->frames;
    p->frames = 0u;
    w2s_frontend_window_start(&p->frontend);
    return 1;
}

void w2s_pipeline_row_s8(const w2s_pipeline_t *p, uint32_t t, int8_t *row_s8)
{
    w2s_frontend_quantize_s8(p->frames_db_q7 + (size_t)t * W2S_FE_N_MELS, W2S_FE_N_MELS, p->config, row_s8);
}
