/* w2s_host: the device's own code over many windows per call, for validate and convert on the host
 * (mcu_toolkit/verify/native.py builds it and calls it through ctypes). The same calls as the firmware, so the same
 * integers; only the buffers come from malloc, sized for the window asked for. What a build holds:
 *   W2S_HOST_FRONTEND  the fixed-point front end: dB Q7 frames (w2s_host_db_q7)
 *   W2S_HOST_ENGINE    the streaming engine: answers and the trunk's features (w2s_host_engine_f32, _features_s8)
 *   W2S_HOST_PIPELINE  both, with the bundle's quantiser: PCM to answers as the firmware runs it (w2s_pipeline.c,
 *                      w2s_infer.c), or to the int8 model input TFLM takes
 * Each entry returns 0, or a negative W2S_ERR_* status (a window the pipeline or the engine refused). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "w2s_status.h"

#ifdef W2S_HOST_FRONTEND
#include "w2s_frontend.h"

int w2s_host_db_q7(const int16_t *pcm_s16, uint32_t windows, uint32_t window_samples, uint32_t frames,
                   int16_t *db_q7);

/* w2s_frontend_push_s16 then w2s_frontend_finish_window on each window: fixed.window_logmel_q7's dB Q7 */
int w2s_host_db_q7(const int16_t *pcm_s16, uint32_t windows, uint32_t window_samples, uint32_t frames,
                   int16_t *db_q7)
{
    int32_t *dc = malloc((size_t)frames * W2S_FE_DC_BINS * sizeof *dc);
    int rc = dc == NULL ? -(int)W2S_ERR_SIZE : 0;
    for (uint32_t w = 0; rc == 0 && w < windows; w++) {
        w2s_frontend_state_t st;
        int16_t *out = db_q7 + (size_t)w * frames * W2S_FE_N_MELS;
        w2s_frontend_window_start(&st);
        if (w2s_frontend_push_s16(&st, pcm_s16 + (size_t)w * window_samples, window_samples, out, dc, frames,
                                  NULL) != frames) {
            rc = -(int)W2S_ERR_SIZE; /* frames is not this window's frame count */
        } else {
            w2s_frontend_finish_window(&st, out, dc, frames);
        }
    }
    free(dc);
    return rc;
}
#endif

#ifdef W2S_HOST_ENGINE
#include "w2s_engine.h"

int w2s_host_engine_f32(const int8_t *input_s8, uint32_t windows, uint32_t frames, float *adv_f32);
int w2s_host_features_s8(const int8_t *input_s8, uint32_t windows, uint32_t frames, uint32_t rows,
                         int8_t *features_s8, float *adv_f32);
void w2s_host_trunk_row(const int8_t *row_s8);

static w2s_engine_t engine; /* one caller at a time: validate's and convert's workers are processes */
static int8_t *tap_s8;      /* where w2s_host_trunk_row copies the trunk's rows; NULL: nowhere */
static uint32_t tap_rows, tap_room;

/* W2S_ENGINE_TRUNK_TAP in w2s_engine.c: each trunk output row as the pooling takes it */
void w2s_host_trunk_row(const int8_t *row_s8)
{
    if (tap_s8 != NULL && tap_rows < tap_room) {
        memcpy(tap_s8 + (size_t)tap_rows * W2S_ENGINE_TAIL_ROW, row_s8, W2S_ENGINE_TAIL_ROW);
    }
    tap_rows++;
}

/* w2s_infer.c's rule for int8 input from elsewhere: a window with every value at the floor is silence */
static int silent_s8(const int8_t *x, size_t n)
{
#ifdef W2S_ENGINE_HAS_SILENCE
    for (size_t i = 0; i < n; i++) {
        if (x[i] != W2S_ENGINE_FLOOR_S8) {
            return 0;
        }
    }
    return 1;
#else
    (void)x;
    (void)n;
    return 0;
#endif
}

static int run_engine(const int8_t *x, uint32_t frames, float *out)
{
    w2s_engine_window_start(&engine, &g_w2s_engine_model);
    for (uint32_t t = 0; t < frames; t++) {
        w2s_engine_push_s8(&engine, x + (size_t)t * W2S_ENGINE_N_MELS);
    }
    return w2s_engine_window_end_f32(&engine, out) == 0u ? -(int)W2S_ERR_ARG : 0;
}

int w2s_host_engine_f32(const int8_t *input_s8, uint32_t windows, uint32_t frames, float *adv_f32)
{
    int rc = 0;
    for (uint32_t w = 0; rc == 0 && w < windows; w++) {
        const int8_t *x = input_s8 + (size_t)w * frames * W2S_ENGINE_N_MELS;
        float *out = adv_f32 + (size_t)w * W2S_ENGINE_OUTPUTS;
        if (silent_s8(x, (size_t)frames * W2S_ENGINE_N_MELS)) {
#ifdef W2S_ENGINE_HAS_SILENCE
            memcpy(out, g_w2s_engine_silence_f32, sizeof g_w2s_engine_silence_f32);
#endif
            continue;
        }
        rc = run_engine(x, frames, out);
    }
    return rc;
}

/* Every window's trunk features (rows x W2S_ENGINE_TAIL_ROW int8, the tensor the pooling reads) and its answer
 * (silence as w2s_infer.c answers it; the features are computed all the same) */
int w2s_host_features_s8(const int8_t *input_s8, uint32_t windows, uint32_t frames, uint32_t rows,
                         int8_t *features_s8, float *adv_f32)
{
    int rc = 0;
    for (uint32_t w = 0; rc == 0 && w < windows; w++) {
        const int8_t *x = input_s8 + (size_t)w * frames * W2S_ENGINE_N_MELS;
        float *out = adv_f32 + (size_t)w * W2S_ENGINE_OUTPUTS;
        tap_s8 = features_s8 + (size_t)w * rows * W2S_ENGINE_TAIL_ROW;
        tap_rows = 0;
        tap_room = rows;
        rc = run_engine(x, frames, out);
        if (rc == 0 && tap_rows != rows) {
            rc = -(int)W2S_ERR_SIZE; /* rows is not this window's feature row count */
        }
#ifdef W2S_ENGINE_HAS_SILENCE
        if (rc == 0 && silent_s8(x, (size_t)frames * W2S_ENGINE_N_MELS)) {
            memcpy(out, g_w2s_engine_silence_f32, sizeof g_w2s_engine_silence_f32);
        }
#endif
    }
    tap_s8 = NULL;
    return rc;
}
#endif

#ifdef W2S_HOST_PIPELINE
#include "w2s_infer.h"
#include "w2s_pipeline.h"

int w2s_host_windows_f32(const int16_t *pcm_s16, uint32_t windows, uint32_t frames, float *adv_f32);
int w2s_host_input_s8(const int16_t *pcm_s16, uint32_t windows, uint32_t frames, int8_t *input_s8);

/* Feeds each window's samples through a pipeline made for exactly `frames` frames; per completed window, either
 * the engine's answer (adv_f32) or the int8 model input (input_s8), as the firmware's two model steps take them. */
static int run_windows(const int16_t *pcm_s16, uint32_t windows, uint32_t frames, float *adv_f32, int8_t *input_s8)
{
    const size_t n = g_w2s_frontend_config.window_samples;
    int16_t *db = malloc((size_t)frames * W2S_FE_N_MELS * sizeof *db);
    int32_t *dc = malloc((size_t)frames * W2S_FE_DC_BINS * sizeof *dc);
    w2s_pipeline_t p;
    int rc = db == NULL || dc == NULL ? -(int)W2S_ERR_SIZE : 0;
    for (uint32_t w = 0; rc == 0 && w < windows; w++) {
        int8_t *in = input_s8 == NULL ? NULL : input_s8 + (size_t)w * frames * W2S_FE_N_MELS;
        size_t used = 0;
        w2s_status_t st = w2s_pipeline_init(&p, &g_w2s_frontend_config, db, dc, in, frames);
        if (st != W2S_OK) {
            rc = -(int)st;
        } else if (!w2s_pipeline_feed(&p, pcm_s16 + (size_t)w * n, n, &used) || p.window_frames != frames) {
            rc = -(int)W2S_ERR_SIZE; /* frames is not this window's frame count */
        } else if (adv_f32 != NULL &&
                   (st = w2s_infer_window_f32(&p, &engine, adv_f32 + (size_t)w * W2S_ENGINE_OUTPUTS)) != W2S_OK) {
            rc = -(int)st;
        }
    }
    free(db);
    free(dc);
    return rc;
}

int w2s_host_windows_f32(const int16_t *pcm_s16, uint32_t windows, uint32_t frames, float *adv_f32)
{
    return run_windows(pcm_s16, windows, frames, adv_f32, NULL);
}

int w2s_host_input_s8(const int16_t *pcm_s16, uint32_t windows, uint32_t frames, int8_t *input_s8)
{
    return run_windows(pcm_s16, windows, frames, NULL, input_s8);
}
#endif
