/* w2s_engine_layer: the plain structs a generated w2s_engine_model.c fills in (C99, includable from C++).
 * One struct per int8 layer (TFLM's conventions: NHWC rows, per-channel Q31 multipliers), and one for
 * the whole model: the trunk, the two 1x1 convolutions of the pooling, and the tail's tables. */
#ifndef W2S_ENGINE_LAYER_H
#define W2S_ENGINE_LAYER_H

#include <stddef.h> /* NULL: a conv without Winograd weights */
#include <stdint.h>

/* Helium (MVE) kernels where the core has integer MVE (Cortex-M55, M85), unless W2S_ENGINE_PORTABLE asks for the
 * plain C; decided here because the generated model keeps only the weights its build's kernels read. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(W2S_ENGINE_PORTABLE)
#define W2S_ENGINE_MVE 1
#else
#define W2S_ENGINE_MVE 0
#endif

/* x86-64 with AVX2 (-mavx2, -march=native): w2s_engine_conv_x86.c's kernels, unless W2S_ENGINE_PORTABLE asks for
 * the plain C; decided here because only such a build keeps the generated model's x86 layout (w2s_x86_block_t,
 * and w2s_layer_s8_t's fields for it): compile every file of the engine and its model with the same flags. */
#if defined(__AVX2__) && !defined(W2S_ENGINE_PORTABLE)
#define W2S_ENGINE_X86 1
#else
#define W2S_ENGINE_X86 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    W2S_LAYER_CONV = 0,    /**< int8 conv, stride 1, SAME: out-of-image taps are in_zero */
    W2S_LAYER_MAXPOOL = 1  /**< int8 max pool after an explicit pad of value in_zero */
} w2s_layer_kind_t;

#if W2S_ENGINE_X86
/* x86 builds: a conv's constants for one block of 16 output channels (channel g0 + k in lane k), as the kernels
 * load them; the generated model's (engine/layout.py x86_blocks), so that no row rebuilds them. Lanes of no
 * channel hold zeros. */
typedef struct {
    int32_t bias[16];        /**< by lane: bias_s32 (the int16 path's sums start here) */
    int32_t bias_u8[16];     /**< by lane: bias - (in_zero + 128) * the channel's weight sum (the VNNI path's) */
    int32_t mult[16];        /**< by lane: mult_q31 */
    int32_t mult_odd[16];    /**< mult >> 32 as int64 lanes: the odd lanes' multipliers where vpmuldq reads them */
    int32_t left[16];        /**< max(shift, 0) */
    int32_t right[16];       /**< max(-shift, 0) */
    int32_t mask[16];        /**< 2^right - 1 */
    int32_t right1[16];      /**< max(right - 1, 0) */
    uint16_t g0, n;          /**< its first output channel and its channels */
    int32_t right_only;      /**< every channel shifts right, by 1 or more */
} w2s_x86_block_t;
#endif

typedef struct {
    w2s_layer_kind_t kind;
    uint16_t kh, kw;             /**< kernel rows (time) and columns (mel) */
    uint16_t sh, sw;             /**< strides; 1 for a conv */
    uint16_t cin, cout;          /**< channels in and out (equal for a pool) */
    uint16_t width, out_width;   /**< mel columns in and out */
    uint16_t pad_top, pad_bottom, pad_left; /**< rows before and after each window; columns before */
    int16_t in_zero;             /**< conv: input zero point; pool: the pad value */
    int16_t out_zero;            /**< output zero point (conv) */
    int16_t act_min, act_max;    /**< the fused activation's int8 range */
    const int16_t *weights_s16;  /**< conv: cout * run: each channel's field as (kernel column, row, channel),
                                      in groups of output channels (fours, threes, a rest) by (tap pair,
                                      channel); NULL for a pool */
    uint16_t run;                /**< conv: kh * kw * cin rounded up to even (DSP pairs) */
    const int32_t *bias_s32;     /**< conv: cout */
    const int32_t *mult_q31;     /**< conv: cout per-channel multipliers */
    const int8_t *shift;         /**< conv: cout per-channel shifts (left if > 0) */
    uint32_t ring_offset;        /**< where its kh input rows start in w2s_engine_t.ring_s8 */
    const int8_t *weights_s8;    /**< conv, Helium builds (else NULL): cout * run_s8, each channel's field as
                                      (kernel column, row, channel), zero-padded; NULL for a pool */
    uint16_t run_s8;             /**< conv: kh * kw * cin rounded up to 16 (whole int8 vectors) */
    const int32_t *bias_zp_s32;  /**< conv, Helium builds: cout biases minus in_zero * the channel's weight sum */
    const int16_t *wino_s16;     /**< conv: Winograd F(4,3) weights U = G'g, 6 * cout * (kh * cin rounded up to
                                      even), by transform point, then grouped as weights_s16; NULL: direct */
    uint32_t wino_offset;        /**< where its kh rows of transformed vectors start in w2s_engine_t.wino_s16 */
#if W2S_ENGINE_X86
    const w2s_x86_block_t *x86_blocks; /**< conv with cout >= 4: its blocks of 16 channels, in order; else NULL */
    const int16_t *x86_w_s16;    /**< per block, per tap pair: 16 lanes x 2 int16 (the AVX2 path's weights) */
    const int8_t *x86_w_s8;      /**< per block, per tap quad: 16 lanes x 4 int8, zeros past run (the VNNI path's) */
#endif
} w2s_layer_s8_t;

typedef struct {
    const w2s_layer_s8_t *layers; /**< the trunk, in order */
    uint32_t n_layers;
    w2s_layer_s8_t lin;           /**< 1x1: the pooled values */
    w2s_layer_s8_t sof;           /**< 1x1: the attention logits */
    const int32_t *exp_mant_q29;  /**< 256: e^logit = mant * 2^(exp - 29), by int8 logit + 128 */
    const int16_t *exp_exp;       /**< 256: the binary exponents */
    float lin_scale;              /**< real value of one lin step */
    const float *head_weight_f32; /**< 3 * C * (F + C), row-major: features [y | y y^T] per channel */
    const float *head_bias_f32;   /**< 3 */
} w2s_engine_model_t;

#ifdef __cplusplus
}
#endif

#endif /* W2S_ENGINE_LAYER_H */
