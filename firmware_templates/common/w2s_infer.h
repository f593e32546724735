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

#ifdef __cplusplus
}
#endif

#endif /* W2S_INFER_H */
