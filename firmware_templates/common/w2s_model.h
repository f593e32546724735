/* w2s_model: the model step (TFLM) behind a C interface, the same on every board (includable from C).
 * w2s_model.cc is the one C++ file in w2s/ and the one that needs TFLM; the rest of w2s/ is C99. */
#ifndef W2S_MODEL_H
#define W2S_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief         Once: register the model's ops, build the TFLM interpreter for g_w2s_model_data in
 *                arena, and check its tensors against model_config.h.
 * @param[in,out] arena        16-byte aligned working memory, kept for as long as the model runs
 * @param[in]     arena_bytes  bytes in arena (model_config.h: W2S_ARENA_BYTES)
 * @param[out]    input_s8     the model's input tensor, W2S_FRAMES_PER_WINDOW * W2S_N_MELS int8: where
 *                             w2s_pipeline writes each window
 * @return        W2S_OK; W2S_ERR_ARG if a pointer is NULL or arena is not 16-byte aligned; W2S_ERR_SIZE if
 *                AllocateTensors failed (the arena is too small); W2S_ERR_MODEL if an op did not register
 *                or a tensor is not what model_config.h says
 */
w2s_status_t w2s_model_init(uint8_t *arena, size_t arena_bytes, int8_t **input_s8);

/**
 * @brief         Run the model on the window in its input tensor.
 * @param[out]    adv_s8  W2S_OUTPUT_COUNT int8 outputs: arousal, dominance, valence
 * @return        W2S_OK; W2S_ERR_ARG if adv_s8 is NULL or w2s_model_init has not succeeded;
 *                W2S_ERR_MODEL if Invoke failed
 */
w2s_status_t w2s_model_invoke_s8(int8_t *adv_s8);

#ifdef __cplusplus
}
#endif

#endif /* W2S_MODEL_H */
