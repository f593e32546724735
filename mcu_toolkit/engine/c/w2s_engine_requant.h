/* w2s_engine_requant: TFLM's int8 requantisation for the conv kernels (w2s_engine_conv.c), static inline
 * (private to the engine's .c files): a layer's constants (requant_of), then one value at a time
 * (requantize_s8), with SMMULR shortcuts on the DSP cores that give the same integers. The general path,
 * w2s_engine_requantize_q31, is a function of w2s_engine_conv.c. */
#ifndef W2S_ENGINE_REQUANT_H
#define W2S_ENGINE_REQUANT_H

#include "w2s_engine.h"
#include "w2s_engine_kernels.h"

#ifndef W2S_SINGLE_ROUNDING
#define W2S_SINGLE_ROUNDING 0
#endif

#if W2S_ENGINE_DSP && !W2S_SINGLE_ROUNDING && defined(__GNUC__)
#define W2S_SMMULR 1
/* (acc * mult + 2^30) >> 31 for |acc| < 2^30: the rounded high word of (2 acc) * mult, one SMMULR
 * instead of a 64-bit product, its rounding and a 64-bit shift */
static inline int32_t rounding_high_mul(int32_t acc, int32_t mult)
{
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc * 2), "r"(mult));
    return high;
}
#endif

/* A layer's requantisation constants, copied once per row: through the layer pointer they would be read
 * again after every int8 store, which may alias anything. */
typedef struct {
    const int32_t *mult;
    const int8_t *shift;
    int32_t out_zero, act_min, act_max;
    int relu_floor; /* the activation's floor is at or above the zero point */
    size_t cout;
    int fast; /* FAST_RELU or FAST_FULL: every shift to the right and |sum| < 2^30, so SMMULR serves */
} requant_t;

enum { FAST_NONE, FAST_RELU, FAST_FULL }; /* FAST_RELU: floor at the zero point, ceiling 127; FULL: -128..127 */

static inline requant_t requant_of(const w2s_layer_s8_t *layer)
{
    requant_t q = {layer->mult_q31, layer->shift, layer->out_zero, layer->act_min, layer->act_max,
                   layer->act_min >= layer->out_zero, layer->cout, 0};
#ifdef W2S_SMMULR
    /* |sum| <= run * 128 * 255 + |bias| < 2^30 (an int8 weight may be -128) keeps 2 * sum in an int32 */
    const int64_t room = ((int64_t)1 << 30) - (int64_t)layer->run * 128 * 255;
    const int32_t headroom = room > 0 ? (int32_t)room : 0;
    q.fast = headroom == 0 ? FAST_NONE
             : (q.act_min == q.out_zero && q.act_max == 127) ? FAST_RELU
             : (q.act_min == -128 && q.act_max == 127) ? FAST_FULL : FAST_NONE;
    for (size_t c = 0; c < q.cout && q.fast != FAST_NONE; c++) {
        const int32_t b = layer->bias_s32[c];
        q.fast = (q.shift[c] < 0 && b < headroom && b > -headroom) ? q.fast : FAST_NONE;
    }
#endif
    return q;
}

/* TFLM's requantisation, zero point and activation, with two shortcuts that give the same integers:
 * under a ReLU floor a non-positive sum always lands on the floor (the multipliers are positive), and a
 * positive sum needs none of gemmlowp's sign handling. */
static inline int8_t requantize_s8(requant_t q, int32_t acc, int32_t mult, int shift)
{
    if (shift <= 0) {
        if (acc > 0) {
            const int64_t ab = (int64_t)acc * mult;
#if W2S_SINGLE_ROUNDING
            const int total = 31 - shift;
            const int32_t v = (int32_t)((ab + ((int64_t)1 << (total - 1))) >> total);
#else
            /* ab < 2^62, so high < 2^31; uint32 keeps high + half (<= 2^31 + 2^30) and shifts up to 31
             * defined, and the shift by a variable stays 32-bit (a 64-bit one is a library call on a Cortex-M) */
            const uint32_t high = (uint32_t)((ab + ((int64_t)1 << 30)) >> 31);
            const uint32_t right = (uint32_t)-shift;
            const int32_t v = (int32_t)((high + ((1u << right) >> 1)) >> right);
#endif
            return clamp_s8(v + q.out_zero, q.act_min, q.act_max);
        }
        if (q.relu_floor) {
            return (int8_t)q.act_min;
        }
    }
    return clamp_s8(w2s_engine_requantize_q31(acc, mult, shift) + q.out_zero, q.act_min, q.act_max);
}

#ifdef W2S_SMMULR
/* A plain ReLU layer's requantisation without a branch: |acc| < 2^30 (requant_of), so SMMULR gives
 * (acc * mult + 2^30) >> 31, and a non-negative high rounds half up. A sum at or below 0 gives a value at
 * or below 0, which USAT takes to 0: the zero point, as the ReLU floor does. SSAT is the 127 ceiling. */
static inline int8_t relu_requant_s8(int32_t acc, int32_t mult, int right1, int32_t zero)
{
    const int32_t up = (rounding_high_mul(acc, mult) >> right1) + 1;
    return (int8_t)__ssat((int32_t)__usat(up >> 1, 8) + zero, 8);
}

/* The same over the whole int8 range, for sums of either sign. SMMULR rounds a negative product as
 * gemmlowp does (floor((p + 2^30) / 2^31) = -floor((|p| + 2^30 - 1) / 2^31)); high - 1 for a negative high
 * makes the rounding shift round half away from zero, as RoundingDivideByPOT does. */
static inline int8_t full_requant_s8(int32_t acc, int32_t mult, int right1, int32_t zero)
{
    const int32_t high = rounding_high_mul(acc, mult);
    return (int8_t)__ssat(((((high + (high >> 31)) >> right1) + 1) >> 1) + zero, 8);
}
#endif

#endif /* W2S_ENGINE_REQUANT_H */
