/* w2s_engine_kernels: the row kernels w2s_engine.c streams through, one file per layer kind (private to the
 * engine's .c files):
 *   w2s_engine_conv.c     conv rows: the kh input rows widened to int16, then int16 dot products
 *   w2s_engine_maxpool.c  max-pool rows
 *   w2s_engine_requant.h  the convs' requantisation, static inline
 *   w2s_engine_conv_mve.c the Helium (MVE) kernels of a Cortex-M55 build, int8 throughout
 *   w2s_engine_conv_x86.c the AVX2 / AVX-512 VNNI conv and max-pool kernels of an x86-64 build
 *   w2s_engine_conv_neon.c the NEON conv rows of an aarch64 build */
#ifndef W2S_ENGINE_KERNELS_H
#define W2S_ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "w2s_engine.h" /* W2S_ENGINE_WINOGRAD */
#include "w2s_engine_layer.h"

/* Dual 16-bit MACs (SMLAD) where the core has the DSP extension (M4, M7, M33 with DSP), unless
 * W2S_ENGINE_PORTABLE asks for the plain C; the arithmetic is the same, only the schedule changes. */
#if defined(__ARM_FEATURE_DSP) && !defined(W2S_ENGINE_PORTABLE)
#define W2S_ENGINE_DSP 1
#include <arm_acle.h>
#else
#define W2S_ENGINE_DSP 0
#endif

/* NEON conv rows (w2s_engine_conv_neon.c) on little-endian aarch64 (its lane stores assume it), unless
 * W2S_ENGINE_PORTABLE asks for the plain C: the same weights, the same integers. (W2S_ENGINE_X86 is decided in
 * w2s_engine_layer.h, whose struct it changes.) */
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(__ARM_BIG_ENDIAN) && !defined(W2S_ENGINE_PORTABLE)
#define W2S_ENGINE_NEON 1
#else
#define W2S_ENGINE_NEON 0
#endif

/* Each row kernel compiled on its own: inlined into one big function, their register allocation
 * depends on each other, and a change in one moves the others' instruction counts. */
#if defined(__GNUC__)
#define W2S_NOINLINE __attribute__((noinline))
#else
#define W2S_NOINLINE
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* channels in the weight group that starts at output channel g (engine/layout.py channel_groups): fours, then
 * threes, then what cannot be split so; every kernel family that reads weights_s16 walks these groups */
static inline size_t w2s_group_size(size_t cout, size_t g)
{
    size_t threes = (4u - cout % 4u) % 4u;
    threes = 3u * threes > cout ? 0u : threes;
    const size_t fours = (cout - 3u * threes) / 4u;
    if (g < 4u * fours) {
        return 4u;
    }
    return g < 4u * fours + 3u * threes ? 3u : cout - g;
}

static inline int8_t clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/**
 * @brief         A conv's kh input rows as int16, zero point out, interleaved by padded column.
 * @param[in]     layer     a W2S_LAYER_CONV layer
 * @param[in]     rows      its kh input rows, top first, width * cin int8 values each
 * @param[out]    out       (width + kw - 1) * kh * cin + 1 values (W2S_ENGINE_WIDE covers every conv)
 */
void w2s_conv_widen_s16(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out);

/**
 * @brief         One conv output row from the widened input rows: TFLM's int8 sums and requantisation.
 * @param[in]     layer     a W2S_LAYER_CONV layer
 * @param[in]     wide      its input rows from w2s_conv_widen_s16
 * @param[out]    out       width * cout values
 */
void w2s_conv_row_s8(const w2s_layer_s8_t *layer, const int16_t *wide, int8_t *out);

/**
 * @brief         One conv input row's Winograd F(4,3) vectors (layer->wino_s16 set), kept for its kh output rows.
 * @param[in]     layer     a W2S_LAYER_CONV layer with kw = 3
 * @param[in]     row       the input row, width * cin int8 values
 * @param[out]    padded    scratch: the row with its padding columns ((4 * ceil(width / 4) + 2) * cin bytes)
 * @param[out]    v         per tile of 4 columns: 6 points x (cin rounded up to even) lanes, int16
 */
void w2s_conv_wino_input_s8(const w2s_layer_s8_t *layer, const int8_t *row, int8_t *padded, int16_t *v);

/**
 * @brief         One conv output row by exact Winograd F(4,3) along the mel axis: w2s_conv_row_s8's values.
 * @param[in]     layer     a W2S_LAYER_CONV layer with wino_s16 set
 * @param[in]     vrows     its kh input rows' vectors from w2s_conv_wino_input_s8, top first
 * @param[out]    out       width * cout values
 */
void w2s_conv_wino_row_s8(const w2s_layer_s8_t *layer, const int16_t *const *vrows, int8_t *out);

/**
 * @brief         One max-pool output row from kh input rows.
 * @param[in]     layer     a W2S_LAYER_MAXPOOL layer
 * @param[in]     rows      its kh input rows, width * cin int8 values each
 * @param[out]    colmax    scratch: width * cin int16 of room for the column maxima
 * @param[out]    out       out_width * cin values
 */
void w2s_maxpool_row_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *colmax, int8_t *out);

#if W2S_ENGINE_MVE
/* Helium builds (w2s_engine_conv_mve.c): the three kernels above forward to these, which keep the kh input rows
 * int8 (in the same scratch) and read weights_s8 and bias_zp_s32. Same integers. */
void w2s_conv_widen_mve_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *out);
void w2s_conv_row_mve_s8(const w2s_layer_s8_t *layer, const int8_t *wide, int8_t *out);
void w2s_maxpool_row_mve_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *colmax, int8_t *out);
size_t w2s_pool_sums_mve(const w2s_engine_model_t *m, const int8_t *lin, const int8_t *sof, int64_t *sum0,
                         int64_t *sum1, const int16_t *block_exp, size_t j, size_t n);
#endif

#if W2S_ENGINE_X86
/* x86-64 builds (W2S_ENGINE_X86, w2s_engine_layer.h; w2s_engine_conv_x86.c): the conv and max-pool kernels above
 * forward to these, w2s_engine.c's pooling to w2s_pool_sums_x86. With AVX-512 VNNI the widening writes the rows of
 * every conv with x86 blocks as bytes (x + 128) in the same scratch, for the row kernel's int8 path. The row kernel
 * returns 0 for a conv it leaves to the portable C (no x86 blocks: fewer than 4 output channels). */
void w2s_conv_widen_x86_s16(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out);
int w2s_conv_row_x86_s8(const w2s_layer_s8_t *layer, const int16_t *wide, int8_t *out);
void w2s_maxpool_row_x86_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *colmax, int8_t *out);
size_t w2s_pool_sums_x86(const w2s_engine_model_t *m, const int8_t *lin, const int8_t *sof, int64_t *sum0,
                         int64_t *sum1, const int16_t *block_exp, size_t j, size_t n);
#endif

#if W2S_ENGINE_NEON
/* aarch64 builds (w2s_engine_conv_neon.c): w2s_conv_widen_s16 and w2s_conv_row_s8 forward to these */
void w2s_conv_widen_neon_s16(const w2s_layer_s8_t *layer, const int8_t *const *rows, int16_t *out);
void w2s_conv_row_neon_s8(const w2s_layer_s8_t *layer, const int16_t *wide, int8_t *out);
#endif

#ifdef __cplusplus
}
#endif

#endif /* W2S_ENGINE_KERNELS_H */
