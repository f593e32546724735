/*
 * w2s_frontend: Wav2Small's log-mel front end in integer arithmetic (C99, no float, no malloc, no libm).
 *
 * 16 kHz int16 PCM in; per W2S_FE_HOP new samples one frame of W2S_FE_N_MELS log-mel values out.
 * Bit-exact with mcu_toolkit/dsp/fixed.py, which convert uses for calibration and drift checks.
 * Every constant (W2S_FE_*) and table is generated from the Python facts into w2s_frontend_tables.h.
 *
 * Number formats (the suffix says which):
 *   _s16      int16 PCM samples
 *   _q7       windowed samples and their spectrum (2X[k]), int32, in int16 PCM units x 128 x 2^shift: each
 *             frame has its own offset (its rounded mean) and shift (a block exponent that makes
 *             (x - offset) << shift fill 16 bits), so a frame at -60 dBFS is as exact as one at 0 dBFS
 *   _q15      Hann window, Q15 (uint16: the centre tap is 32768)
 *   _q24      the int8 quantiser's multiplier, Q24
 *   _q30      FFT twiddles, Q30
 *   _q11      mel weights relative to each filter's peak, Q11
 *   _db_q7    decibels in Q7 (1/128 dB), int16 or int32
 *   _s8       the int8 model input
 *
 * Why int16 dB Q7 out, and a separate int8 step: Wav2Small normalises each window (prenorm) before the
 * STFT. In the log domain that is one additive offset, but it depends on the whole window's energy and
 * mean. So frames are computed as they stream in, held as raw dB Q7 (0.008 dB steps), and finished
 * once the window is complete: the exact gain offset is added, the mels built from bins 0-1 ("DC mels")
 * are completed with the exact window mean (a constant only moves bins 0 and 1 of a periodic-Hann
 * frame), and w2s_frontend_quantize_s8 maps dB Q7 to the model's int8 input with one integer multiply.
 * The shift comes off exactly in the log2; the offset makes a constant input give exact zeros.
 * Caller-owned buffers for a window: frames * (W2S_FE_N_MELS * 2 + W2S_FE_DC_BINS * 4) bytes.
 *
 * Streaming without holding a window: finish each frame as it arrives with a copy of the previous
 * window's state (its sums give the offset and the mean). Only safe when the level is steady; what it
 * costs in CCC is measured by benchmarks/bench_frontend.py (drift).
 *
 * None of these functions can fail: each states its preconditions, and those returning a number say
 * what it counts (see w2s_status.h in a firmware project for the convention).
 * Relies on >> of a negative signed value being arithmetic, as GCC, Clang, IAR and Arm Compiler do.
 */
#ifndef W2S_FRONTEND_H
#define W2S_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "w2s_frontend_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Per-bundle constants, generated with the tables as g_w2s_frontend_config. */
typedef struct {
    uint32_t window_samples;  /**< samples per model window, W2S_FE_N_FFT .. W2S_FE_MAX_WINDOW_SAMPLES */
    int32_t input_mult_q24;   /**< int8 input: q = ((db_q7 * input_mult_q24 + 2^23) >> 24) + input_zero_point */
    int32_t input_zero_point; /**< the model input's zero point, in int8 steps */
} w2s_frontend_config_t;

/** One window's streaming state. */
typedef struct {
    int16_t history_s16[W2S_FE_N_FFT]; /**< the frame being assembled, int16 PCM */
    uint32_t fill;                     /**< samples in history_s16 */
    uint32_t count;                    /**< samples pushed since w2s_frontend_window_start */
    int64_t sum;                       /**< sum of those samples, int16 PCM units (for the exact prenorm) */
    uint64_t sum_sq;                   /**< sum of their squares, int16 PCM units squared */
} w2s_frontend_state_t;

#ifdef W2S_FE_HAS_CONFIG
extern const w2s_frontend_config_t g_w2s_frontend_config;
#endif

/**
 * @brief         Start a window: forget the history and the sums.
 * @param[out]    state  the state to reset
 */
void w2s_frontend_window_start(w2s_frontend_state_t *state);

/**
 * @brief         Push PCM. Each completed frame writes W2S_FE_N_MELS raw dB Q7 values (the DC mels left 0)
 *                and W2S_FE_DC_BINS int32 (Re 2X[0], Re 2X[1], Im 2X[1] in the frame's units, then its offset
 *                and shift), for at most max_frames frames.
 * @param[in,out] state         the window being pushed; at most W2S_FE_MAX_WINDOW_SAMPLES samples in all
 * @param[in]     pcm_s16       n samples
 * @param[in]     n             samples in pcm_s16
 * @param[out]    frames_db_q7  max_frames * W2S_FE_N_MELS values
 * @param[out]    dc_bins_q7    max_frames * W2S_FE_DC_BINS values
 * @param[in]     max_frames    room in frames_db_q7 and dc_bins_q7, in frames
 * @param[out]    consumed      samples used (fewer than n once max_frames frames are written); may be NULL
 * @return        frames written
 */
size_t w2s_frontend_push_s16(w2s_frontend_state_t *state, const int16_t *pcm_s16, size_t n,
                             int16_t *frames_db_q7, int32_t *dc_bins_q7, size_t max_frames,
                             size_t *consumed);

/**
 * @brief         The prenorm gain offset of the samples pushed since w2s_frontend_window_start:
 *                -10*log10(var(x / 32768) + 1e-7).
 * @param[in]     state  at most W2S_FE_MAX_WINDOW_SAMPLES samples pushed
 * @return        the offset, dB Q7
 */
int32_t w2s_frontend_offset_db_q7(const w2s_frontend_state_t *state);

/**
 * @brief         Finish a window's frames in place with its statistics: complete the DC mels with the
 *                exact mean, add the gain offset, clamp at W2S_FE_FLOOR_DB_Q7 (-100 dB).
 * @param[in]     state         the window's state after its last push
 * @param[in,out] frames_db_q7  frames * W2S_FE_N_MELS values: raw in, finished out
 * @param[in]     dc_bins_q7    frames * W2S_FE_DC_BINS values, as the push wrote them
 * @param[in]     frames        frames in the window
 */
void w2s_frontend_finish_window(const w2s_frontend_state_t *state, int16_t *frames_db_q7,
                                const int32_t *dc_bins_q7, size_t frames);

/**
 * @brief         dB Q7 -> the model's int8 input, saturated.
 * @param[in]     db_q7   count values
 * @param[in]     count   values to quantise
 * @param[in]     config  the quantiser (input_mult_q24, input_zero_point)
 * @param[out]    out_s8  count values
 */
void w2s_frontend_quantize_s8(const int16_t *db_q7, size_t count, const w2s_frontend_config_t *config,
                              int8_t *out_s8);

/**
 * @brief         10*log10(x), within about 0.004 dB.
 * @param[in]     x  at least 1
 * @return        dB Q7
 */
int32_t w2s_frontend_db_q7(uint64_t x);

#ifdef __cplusplus
}
#endif

#endif /* W2S_FRONTEND_H */
