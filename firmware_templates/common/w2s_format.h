/* w2s_format: the model's int8 output as text, without floating point (C99). */
#ifndef W2S_FORMAT_H
#define W2S_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* value in thousandths = ((q - zero_point) * mult_q16 + 2^15) >> 16, mult_q16 = round(scale * 1000 * 2^16). */
int32_t w2s_dequantize_milli(int8_t q, int32_t zero_point, int32_t mult_q16);

/* "A=0.512 D=-0.031 V=0.877 t=12345us" into out (always terminated). Returns the length written. */
int w2s_format_adv(char *out, size_t cap, const int8_t adv_s8[3], int32_t zero_point, int32_t mult_q16,
                   uint32_t inference_us);

#ifdef __cplusplus
}
#endif

#endif /* W2S_FORMAT_H */
