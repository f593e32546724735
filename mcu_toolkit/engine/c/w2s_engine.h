/*
 * w2s_engine: Wav2Small's int8 trunk and exact pooling tail, streamed one log-mel frame at a time
 * (C99, no malloc, no libm, no float before the tail).
 *
 * Bit-exact with TFLM through the convolutions, and with mcu_toolkit/engine/mirror.py everywhere.
 * Each layer keeps only its last kh input rows and emits an output row as soon as its receptive
 * field is complete; the pooling keeps two int64 sums per column. So the state's size
 * (sizeof(w2s_engine_t), from w2s_engine_model.h) does not depend on the window length.
 *
 * Number formats (the suffix says which):
 *   _s8     int8 tensors, TFLM's quantisation        _s32  int32 conv biases
 *   _q31    requantisation multipliers                _q29  exp-table mantissas
 *   _f32    the tail: y = lin_scale * S1 / S0, Gram and head, float32 sums in index order
 *
 * Rounding: gemmlowp's double rounding, as the tflite-micro wheel; define W2S_SINGLE_ROUNDING=1 for
 * TFLM builds with TFLITE_SINGLE_ROUNDING (tflite-micro#3252).
 * Build the tail with -ffp-contract=off: a fused multiply-add rounds once where the mirror rounds twice.
 * Relies on >> of a negative signed value being arithmetic, as GCC, Clang, IAR and Arm Compiler do.
 */
#ifndef W2S_ENGINE_H
#define W2S_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "w2s_engine_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exact Winograd F(4,3) for the convs the model gives wino_s16 (W2S_ENGINE_WINO_RING: it has some): on the cores with the DSP extension, or in plain C
 * with W2S_ENGINE_WINOGRAD_C (host tests). W2S_ENGINE_PORTABLE or W2S_ENGINE_DIRECT keep every conv direct, and
 * the state without the transformed rows (2 * W2S_ENGINE_WINO_RING bytes less). The same outputs either way. */
#if ((defined(__ARM_FEATURE_DSP) && !defined(W2S_ENGINE_PORTABLE)) || defined(W2S_ENGINE_WINOGRAD_C)) && \
    !defined(W2S_ENGINE_DIRECT) && defined(W2S_ENGINE_WINO_RING) && !W2S_ENGINE_MVE /* Helium: its own int8 kernels */
#define W2S_ENGINE_WINOGRAD 1
#else
#define W2S_ENGINE_WINOGRAD 0
#endif

/** One window's streaming state; caller-owned, any storage. */
typedef struct {
    const w2s_engine_model_t *model;
    int8_t ring_s8[W2S_ENGINE_RING_BYTES];        /**< each layer's last kh input rows */
    int8_t tail_row_s8[W2S_ENGINE_TAIL_ROW];      /**< the trunk's last output row */
    int16_t wide_s16[W2S_ENGINE_WIDE];            /**< a conv's kh input rows, zero point out, by column */
    uint32_t received[W2S_ENGINE_LAYERS];         /**< rows each layer took this window, padding included */
    int64_t sum0[W2S_ENGINE_COLUMNS];             /**< per column (mel f, channel c; j = f * C + c): sum of e^d */
    int64_t sum1[W2S_ENGINE_COLUMNS];             /**< sum of e^d * (lin - lin zero point) */
    int16_t block_exp[W2S_ENGINE_COLUMNS];        /**< the binary exponent both sums are on */
    uint32_t frames;                              /**< frames pushed this window */
    uint32_t rows_pooled;                         /**< rows the pooling took this window */
#if W2S_ENGINE_WINOGRAD
    int16_t wino_s16[W2S_ENGINE_WINO_RING];       /**< each Winograd conv's last kh input rows, transformed */
#endif
} w2s_engine_t;

/**
 * @brief         Start a window: clear the sums and pre-fill each layer's top padding.
 * @param[out]    engine  the state
 * @param[in]     model   the generated model (g_w2s_engine_model); kept
 */
void w2s_engine_window_start(w2s_engine_t *engine, const w2s_engine_model_t *model);

/**
 * @brief         Push one int8 log-mel frame; every row it completes runs through the trunk at once.
 * @param[in,out] engine  a started window
 * @param[in]     row_s8  W2S_ENGINE_N_MELS values, the model's input quantisation
 */
void w2s_engine_push_s8(w2s_engine_t *engine, const int8_t *row_s8);

/**
 * @brief         End the window: flush the bottom padding, then pool, Gram and head.
 * @param[in,out] engine   a window with at least one frame pushed; start another before pushing again
 * @param[out]    out_f32  W2S_ENGINE_OUTPUTS values: arousal, dominance, valence
 * @return        rows the pooling summed (0 means no output: out_f32 is left unchanged)
 */
uint32_t w2s_engine_window_end_f32(w2s_engine_t *engine, float *out_f32);

/**
 * @brief         TFLM's requantisation: acc * mult_q31 * 2^(shift - 31), rounded as the build selects.
 * @param[in]     acc       int32 accumulator
 * @param[in]     mult_q31  multiplier in [2^30, 2^31)
 * @param[in]     shift     -31 .. 30
 * @return        the rescaled value (before the output zero point)
 */
int32_t w2s_engine_requantize_q31(int32_t acc, int32_t mult_q31, int shift);

#ifdef __cplusplus
}
#endif

#endif /* W2S_ENGINE_H */
