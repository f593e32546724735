/* w2s_pipeline: PCM -> fixed-point front end -> one window of int8 model input (C99).
 * Everything between the microphone ring buffer and the TFLM invoke, so that it runs (and is tested)
 * anywhere. The caller owns every buffer; sizes come from model_config.h. */
#ifndef W2S_PIPELINE_H
#define W2S_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "w2s_frontend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    w2s_frontend_state_t frontend;
    const w2s_frontend_config_t *config;
    int16_t *frames_db_q7;  /* frames_per_window * W2S_FE_N_MELS */
    int32_t *dc_bins;       /* frames_per_window * W2S_FE_DC_BINS */
    int8_t *input_s8;       /* frames_per_window * W2S_FE_N_MELS: the model's input tensor */
    uint32_t frames_per_window;
    uint32_t frames;        /* frames of the current window so far */
} w2s_pipeline_t;

void w2s_pipeline_init(w2s_pipeline_t *p, const w2s_frontend_config_t *config, int16_t *frames_db_q7,
                       int32_t *dc_bins, int8_t *input_s8, uint32_t frames_per_window);

/* Feed samples. Returns 1 when input_s8 holds a complete window (then call again with the rest:
 * *consumed says how many samples were used), else 0. */
int w2s_pipeline_feed(w2s_pipeline_t *p, const int16_t *pcm_s16, size_t n, size_t *consumed);

#ifdef __cplusplus
}
#endif

#endif /* W2S_PIPELINE_H */
