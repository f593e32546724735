/* w2s_infer: a window the pipeline completed, through the streaming engine, row by row (C99, includable
 * from C++). The w2s path's counterpart of w2s_model.cc: no TFLM, no arena, no window-sized int8 buffer. */
#ifndef W2S_INFER_H
#define W2S_INFER_H

#include <stdint.h>

#include "w2s_engine.h"
#include "w2s_pipeline.h"
#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief         Run the engine over the window w2s_pipeline_feed just completed (before feeding again).
 * @param[in]     p        a pipeline made with input_s8 NULL, whose feed returned 1
 * @param[out]    engine   the engine's state (any storage: it is reset here)
 * @param[out]    adv_f32  W2S_ENGINE_OUTPUTS values: arousal, dominance, valence
 * @return        W2S_OK; W2S_ERR_ARG if a pointer is NULL or the window has no frame. A window with no variance
 *                (every row at the front end's floor) gets the float model's answer, g_w2s_engine_silence_f32,
 *                without running the engine (a bundle converted before it existed runs the engine).
 */
w2s_status_t w2s_infer_window_f32(const w2s_pipeline_t *p, w2s_engine_t *engine, float *adv_f32);

/**
 * @brief         The pipelined schedule, step 1: queue the window w2s_pipeline_feed just completed
 *                (w2s_pipeline_queue) and start the engine on it. Its rows then go through
 *                w2s_infer_step while the next window's audio arrives; the outputs are the same bits as
 *                w2s_infer_window_f32's (the same rows through the same engine calls).
 * @param[in,out] p        a pipeline made with input_s8 NULL, whose feed returned 1
 * @param[out]    engine   the engine's state (any storage: it is reset here)
 * @param[out]    adv_f32  W2S_ENGINE_OUTPUTS values, set only when the answer is known at once (silence)
 * @return        1 if adv_f32 holds the window's answer already (no row queued), else 0
 */
int w2s_infer_begin(w2s_pipeline_t *p, w2s_engine_t *engine, float *adv_f32);

/**
 * @brief         The pipelined schedule, step 2: push up to max_rows queued rows through the engine; after
 *                the window's last row, its answer.
 * @param[in,out] p         the pipeline w2s_infer_begin queued
 * @param[in,out] engine    the engine w2s_infer_begin started
 * @param[in]     max_rows  rows to push at most
 * @param[out]    adv_f32   W2S_ENGINE_OUTPUTS values, set when the return is 1
 * @return        1 when the window is finished and adv_f32 holds its answer, else 0
 */
int w2s_infer_step(w2s_pipeline_t *p, w2s_engine_t *engine, uint32_t max_rows, float *adv_f32);

#ifdef __cplusplus
}
#endif

#endif /* W2S_INFER_H */
