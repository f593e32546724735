/* w2s_pipeline.c: see w2s_pipeline.h. */
#include "w2s_pipeline.h"

#include <string.h>

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
    p->queue_s8 = NULL;
    p->queued = 0u;
    p->taken = 0u;
    w2s_frontend_window_start(&p->frontend);
    return W2S_OK;
}

void w2s_pipeline_restart(w2s_pipeline_t *p)
{
    p->frames = 0u;
    w2s_frontend_window_start(&p->frontend);
}

/* Bytes before the queue: the store's bytes less the queued rows (one byte a value). */
static size_t queue_offset(uint32_t frames_per_window, uint32_t queued)
{
    return (size_t)frames_per_window * W2S_FE_N_MELS * sizeof(int16_t) - (size_t)queued * W2S_FE_N_MELS;
}

uint32_t w2s_pipeline_frame_room(uint32_t frames_per_window, uint32_t queued, uint32_t taken)
{
    if (taken >= queued) {
        return frames_per_window;
    }
    /* frame f takes bytes [2Nf, 2N(f+1)); the first untaken row starts at offset + N * taken */
    const size_t free_bytes = queue_offset(frames_per_window, queued) + (size_t)taken * W2S_FE_N_MELS;
    const size_t room = free_bytes / (W2S_FE_N_MELS * sizeof(int16_t));
    return room < frames_per_window ? (uint32_t)room : frames_per_window;
}

int w2s_pipeline_feed(w2s_pipeline_t *p, const int16_t *pcm_s16, size_t n, size_t *consumed)
{
    const uint32_t window = p->config->window_samples;
    uint32_t want = window - p->frontend.count; /* samples this window still needs */
    size_t take = n < want ? n : want;
    size_t used = 0;
    if (p->taken < p->queued && take == want) {
        take = want - 1u; /* a window completes only once the queue before it is drained */
    }
    const uint32_t room = w2s_pipeline_frame_room(p->frames_per_window, p->queued, p->taken);
    p->frames += (uint32_t)w2s_frontend_push_s16(&p->frontend, pcm_s16, take,
                                                 p->frames_db_q7 + (size_t)p->frames * W2S_FE_N_MELS,
                                                 p->dc_bins_q7 + (size_t)p->frames * W2S_FE_DC_BINS,
                                                 room > p->frames ? room - p->frames : 0u, &used);
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

uint32_t w2s_pipeline_queue(w2s_pipeline_t *p)
{
    int8_t row_s8[W2S_FE_N_MELS];
    int8_t *queue_s8 = (int8_t *)p->frames_db_q7 + queue_offset(p->frames_per_window, p->window_frames);
    /* Last row first: row t's int8 lands past the int16 rows 0..t-1 still to be read (the offset is at least
       N * frames), and a row goes through a copy so that it never reads what it has just written. */
    for (uint32_t t = p->window_frames; t-- > 0u;) {
        w2s_pipeline_row_s8(p, t, row_s8);
        memcpy(queue_s8 + (size_t)t * W2S_FE_N_MELS, row_s8, sizeof row_s8);
    }
    p->queue_s8 = queue_s8;
    p->queued = p->window_frames;
    p->taken = 0u;
    return p->queued;
}

const int8_t *w2s_pipeline_take_row(w2s_pipeline_t *p)
{
    if (p->taken >= p->queued) {
        return NULL;
    }
    return p->queue_s8 + (size_t)p->taken++ * W2S_FE_N_MELS;
}

void w2s_pipeline_row_s8(const w2s_pipeline_t *p, uint32_t t, int8_t *row_s8)
{
    w2s_frontend_quantize_s8(p->frames_db_q7 + (size_t)t * W2S_FE_N_MELS, W2S_FE_N_MELS, p->config, row_s8);
}
