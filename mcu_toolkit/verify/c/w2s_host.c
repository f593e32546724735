/* w2s_host: the device's own pipeline (w2s_pipeline.c, w2s_infer.c and the engine) over many windows per call,
 * for validate and convert on the host (mcu_toolkit/verify/native.py loads it through ctypes). The same calls
 * as the firmware, so the same integers; only the buffers come from malloc, sized for the window asked for.
 * Built with -DW2S_HOST_FRONTEND where the bundle has the fixed-point front end (else the engine alone).
 * Each entry returns 0, or a negative W2S_ERR_* status (a window the pipeline or the engine refused). */
#include <stdint.h>
#include <stdlib.h>

#include "w2s_engine.h"
#include "w2s_status.h"

#ifdef W2S_HOST_FRONTEND
#include "w2s_infer.h"
#include "w2s_pipeline.h"
#endif

int w2s_host_engine_f32(const int8_t *input_s8, uint32_t windows, uint32_t frames, float *adv_f32);
#ifdef W2S_HOST_FRONTEND
int w2s_host_windows_f32(const int16_t *pcm_s16, uint32_t windows, uint32_t frames, float *adv_f32);
int w2s_host_input_s8(const int16_t *pcm_s16, uint32_t windows, uint32_t frames, int8_t *input_s8);
#endif

static w2s_engine_t engine; /* one caller at a time: validate's workers are processes */

/* w2s_infer.c's rule for int8 input from elsewhere (a float front end): every row at the floor is silence */
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

int w2s_host_engine_f32(const int8_t *input_s8, uint32_t windows, uint32_t frames, float *adv_f32)
{
    for (uint32_t w = 0; w < windows; w++) {
        const int8_t *x = input_s8 + (size_t)w * frames * W2S_ENGINE_N_MELS;
        float *out = adv_f32 + (size_t)w * W2S_ENGINE_OUTPUTS;
#ifdef W2S_ENGINE_HAS_SILENCE
        if (silent_s8(x, (size_t)frames * W2S_ENGINE_N_MELS)) {
            for (uint32_t k = 0; k < W2S_ENGINE_OUTPUTS; k++) {
                out[k] = g_w2s_engine_silence_f32[k];
            }
            continue;
        }
#else
        (void)silent_s8;
#endif
        w2s_engine_window_start(&engine, &g_w2s_engine_model);
        for (uint32_t t = 0; t < frames; t++) {
            w2s_engine_push_s8(&engine, x + (size_t)t * W2S_ENGINE_N_MELS);
        }
        if (w2s_engine_window_end_f32(&engine, out) == 0u) {
            return -(int)W2S_ERR_ARG;
        }
    }
    return 0;
}

#ifdef W2S_HOST_FRONTEND
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
        } else if (adv_f32 != NULL && (st = w2s_infer_window_f32(&p, &engine, adv_f32 + (size_t)w * W2S_ENGINE_OUTPUTS)) != W2S_OK) {
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
