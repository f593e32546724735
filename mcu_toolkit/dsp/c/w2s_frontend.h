/*
 * w2s_frontend: Wav2Small's log-mel front end in integer arithmetic (C99, no float, no malloc, no libm).
 *
 * 16 kHz int16 PCM in; per 32 new samples one frame of W2S_FE_N_MELS log-mel values out.
 * Bit-exact with mcu_toolkit/frontend/fixed.py, which convert uses for calibration and drift checks.
 *
 * Number formats (the suffix says which):
 *   _s16      int16 PCM samples
 *   _q15      Hann window, Q15 (uint: the centre tap is 32768)
 *   _q30      FFT twiddles, Q30
 *   _q11      mel weights relative to each filter's peak, Q11
 *   _db_q7    decibels in Q7 (1/128 dB), int16
 *   _s8       the int8 model input
 *
 * Why int16 dB Q7 out, and a separate int8 step: Wav2Small normalises each window (prenorm) before the
 * STFT. In the log domain that is one additive offset, but it depends on the whole window's energy and
 * mean. So frames are computed as they stream in, held as raw dB Q7 (0.008 dB steps), and finished
 * once the window is complete: the exact gain offset is added, the two mels built from bins 0-1 are
 * completed with the exact window mean (a constant only moves bins 0 and 1 of a periodic-Hann frame),
 * and w2s_frontend_quantize_s8 maps dB Q7 to the model's int8 input with one integer multiply.
 * Caller-owned buffers for a window: frames * (W2S_FE_N_MELS * 2 + 12) bytes.
 *
 * Streaming without holding a window: finish each frame as it arrives with a copy of the previous
 * window's state (its sums give the offset and the mean). Only safe when the level is steady:
 * benchmarks/bench_frontend.py plays the held-out clips back to back (peaks from -40 to -3 dBFS) and
 * measures CCC 0.37-0.52 this way against 0.999 with exact per-window statistics.
 *
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

#define W2S_FE_N_FFT 64u
#define W2S_FE_HOP 32u
#define W2S_FE_DC_BINS 3u            /* per frame: Re 2X[0], Re 2X[1], Im 2X[1] */
#define W2S_FE_FLOOR_DB_Q7 (-12800)  /* -100 dB: the model clamps mel power at 1e-10 */
#define W2S_FE_RAW_FLOOR_DB_Q7 (-32768)
#define W2S_FE_MAX_WINDOW_SAMPLES 120000u

/* Per-bundle constants, generated with the tables as g_w2s_frontend_config. */
typedef struct {
    uint32_t window_samples;   /* samples per model window */
    int32_t input_mult;        /* int8 input: q = ((db_q7 * input_mult + 2^23) >> 24) + zero_point */
    int32_t input_zero_point;
} w2s_frontend_config_t;

typedef struct {
    int16_t history_s16[W2S_FE_N_FFT]; /* the frame being assembled */
    uint32_t fill;                     /* samples in history_s16 */
    uint32_t count;                    /* samples pushed in this window */
    int64_t sum;                       /* window sums, for the exact prenorm */
    uint64_t sum_sq;
} w2s_frontend_state_t;

#ifdef W2S_FE_HAS_CONFIG
extern const w2s_frontend_config_t g_w2s_frontend_config;
#endif

/* Start a window: forget the history and the sums. */
void w2s_frontend_window_start(w2s_frontend_state_t *state);

/* Push PCM. Writes one frame of raw dB Q7 (W2S_FE_N_MELS values; DC mels left 0) plus
   W2S_FE_DC_BINS int32 per frame, for at most max_frames frames. Returns frames written;
   *consumed (if not NULL) says how many samples were used. */
size_t w2s_frontend_push_s16(w2s_frontend_state_t *state, const int16_t *pcm_s16, size_t n,
                             int16_t *frames_db_q7, int32_t *dc_bins, size_t max_frames,
                             size_t *consumed);

/* The prenorm gain offset of the samples pushed since w2s_frontend_window_start, dB Q7:
   -10*log10(var(x / 32768) + 1e-7). At most W2S_FE_MAX_WINDOW_SAMPLES samples. */
int32_t w2s_frontend_offset_db_q7(const w2s_frontend_state_t *state);

/* Finish frames in place with the window statistics in state: complete the DC mels with the exact
   mean, add the gain offset, clamp at -100 dB. */
void w2s_frontend_finish_window(const w2s_frontend_state_t *state, int16_t *frames_db_q7,
                                const int32_t *dc_bins, size_t frames);

/* dB Q7 -> the model's int8 input. */
void w2s_frontend_quantize_s8(const int16_t *db_q7, size_t count, const w2s_frontend_config_t *config,
                              int8_t *out_s8);

/* 10*log10(x) in Q7, x >= 1. */
int32_t w2s_db_q7(uint64_t x);

#ifdef __cplusplus
}
#endif

#endif /* W2S_FRONTEND_H */
