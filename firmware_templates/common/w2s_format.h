/* w2s_format: the model's outputs as text, without printf's floating point (C99, includable from C++). */
#ifndef W2S_FORMAT_H
#define W2S_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief         One int8 output in thousandths: ((q - zero_point) * mult_q16 + 2^15) >> 16.
 * @param[in]     q           the int8 output
 * @param[in]     zero_point  the output's zero point, int8 steps
 * @param[in]     mult_q16    round(scale * 1000 * 2^16) (model_config.h: W2S_OUTPUT_MILLI_MULT_Q16)
 * @return        the value, thousandths
 */
int32_t w2s_format_dequantize_milli(int8_t q, int32_t zero_point, int32_t mult_q16);

/**
 * @brief         The line a board prints per window: "A=0.512 D=-0.031 V=0.877 t=12345us".
 * @param[out]    out           the line, always terminated (cut short on W2S_ERR_SIZE)
 * @param[in]     cap           bytes in out
 * @param[in]     adv_s8        arousal, dominance, valence: the model's int8 outputs
 * @param[in]     zero_point    the outputs' zero point, int8 steps
 * @param[in]     mult_q16      see w2s_format_dequantize_milli
 * @param[in]     inference_us  how long the model took, microseconds
 * @return        W2S_OK; W2S_ERR_ARG if out or adv_s8 is NULL or cap is 0; W2S_ERR_SIZE if the line did
 *                not fit in cap bytes
 */
w2s_status_t w2s_format_adv(char *out, size_t cap, const int8_t adv_s8[3], int32_t zero_point, int32_t mult_q16,
                            uint32_t inference_us);

/**
 * @brief         The same line from the w2s engine's float outputs (printed via integers: newlib-nano's
 *                printf has no %f).
 * @param[out]    out           the line, always terminated (cut short on W2S_ERR_SIZE)
 * @param[in]     cap           bytes in out
 * @param[in]     adv_f32       arousal, dominance, valence; finite, |x| < 2e6
 * @param[in]     inference_us  how long the model took, microseconds
 * @return        W2S_OK; W2S_ERR_ARG if out or adv_f32 is NULL or cap is 0; W2S_ERR_SIZE if it did not fit
 */
w2s_status_t w2s_format_adv_f32(char *out, size_t cap, const float adv_f32[3], uint32_t inference_us);

/**
 * @brief         The line a board prints when the ring dropped samples: "warning: 1234 samples dropped".
 * @param[out]    out      the line, always terminated (cut short on W2S_ERR_SIZE)
 * @param[in]     cap      bytes in out
 * @param[in]     samples  samples dropped since the last such line
 * @return        W2S_OK; W2S_ERR_ARG if out is NULL or cap is 0; W2S_ERR_SIZE if the line did not fit
 */
w2s_status_t w2s_format_dropped(char *out, size_t cap, uint32_t samples);

#ifdef __cplusplus
}
#endif

#endif /* W2S_FORMAT_H */
