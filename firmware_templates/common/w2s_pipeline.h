/* w2s_pipeline: PCM -> fixed-point front end -> one window of int8 model input (C99, includable from C++).
 * Everything between the microphone ring buffer and the model step, so that it runs (and is tested)
 * anywhere. The caller owns every buffer; sizes come from model_config.h.
 * Two ways out of a completed window: input_s8 given, the whole int8 window for TFLM's input tensor;
 * input_s8 NULL, the finished dB rows stay in frames_db_q7 and w2s_pipeline_row_s8 quantises them one
 * at a time for the streaming engine (see w2s_infer.h), with no window-sized int8 buffer.
 * Or w2s_pipeline_queue turns them into an int8 queue at the far end of frames_db_q7 (half its bytes), which
 * the engine drains while the next window's frames fill the store from the front: the feed never lets a frame
 * overwrite a row still queued, so the engine's work spreads over the next window with no extra RAM. */
#ifndef W2S_PIPELINE_H
#define W2S_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "w2s_frontend.h"
#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    w2s_frontend_state_t frontend;        /**< the front end's state for the current window */
    const w2s_frontend_config_t *config;  /**< window length (samples) and int8 quantiser */
    int16_t *frames_db_q7;                /**< frames_per_window * W2S_FE_N_MELS values, dB Q7 */
    int32_t *dc_bins_q7;                  /**< frames_per_window * W2S_FE_DC_BINS values, Q7 */
    int8_t *input_s8;                     /**< frames_per_window * W2S_FE_N_MELS: the model's input tensor */
    uint32_t frames_per_window;           /**< frames the buffers hold */
    uint32_t frames;                      /**< frames of the current window so far */
    uint32_t window_frames;               /**< frames of the last completed window */
    const int8_t *queue_s8;               /**< w2s_pipeline_queue: the completed window's rows, int8, in frames_db_q7 */
    uint32_t queued;                      /**< rows queued */
    uint32_t taken;                       /**< rows taken (w2s_pipeline_take_row) */
} w2s_pipeline_t;

/**
 * @brief         Set up the pipeline and start its first window.
 * @param[out]    p                  the pipeline
 * @param[in]     config             window_samples in W2S_FE_N_FFT .. W2S_FE_MAX_WINDOW_SAMPLES; kept
 * @param[in]     frames_db_q7       frames_per_window * W2S_FE_N_MELS int16: w2s_pipeline_feed's working
 *                                   memory; kept
 * @param[in]     dc_bins_q7         frames_per_window * W2S_FE_DC_BINS int32: its working memory; kept
 * @param[in]     input_s8           frames_per_window * W2S_FE_N_MELS int8: where it writes each window; kept.
 *                                   NULL: rows are read with w2s_pipeline_row_s8 instead
 * @param[in]     frames_per_window  frames the buffers hold: at least the window's frame count
 * @return        W2S_OK; W2S_ERR_ARG if a pointer (but input_s8) is NULL or the window length is out of range;
 *                W2S_ERR_SIZE if frames_per_window is less than the window's frame count
 */
w2s_status_t w2s_pipeline_init(w2s_pipeline_t *p, const w2s_frontend_config_t *config, int16_t *frames_db_q7,
                               int32_t *dc_bins_q7, int8_t *input_s8, uint32_t frames_per_window);

/**
 * @brief         Feed samples. When a window completes, input_s8 holds it and the next window starts:
 *                call again with the rest (pcm_s16 + *consumed).
 * @param[in,out] p         an initialised pipeline
 * @param[in]     pcm_s16   n samples
 * @param[in]     n         samples offered
 * @param[out]    consumed  samples used (all of them unless a window completed); may be NULL
 * @return        1 when input_s8 holds a complete window, else 0 (a flag, not a status: feeding cannot fail)
 */
int w2s_pipeline_feed(w2s_pipeline_t *p, const int16_t *pcm_s16, size_t n, size_t *consumed);

/**
 * @brief         Drop the current window's samples and start it again from the next one fed (the ring dropped
 *                samples: a window with a gap inside would be a different sound). A queued window is kept.
 * @param[in,out] p  an initialised pipeline
 */
void w2s_pipeline_restart(w2s_pipeline_t *p);

/**
 * @brief         Queue the window w2s_pipeline_feed just completed as int8 rows (input_s8 NULL): they stay
 *                valid, whatever is fed next, until taken. Feeding then stops short (consumed < n, maybe 0)
 *                wherever the next frame would overwrite a row not yet taken, and before the next window
 *                completes while any row is left: take one and feed again.
 * @param[in,out] p  a pipeline whose feed returned 1, made with input_s8 NULL
 * @return        rows queued (the window's frames)
 */
uint32_t w2s_pipeline_queue(w2s_pipeline_t *p);

/**
 * @brief         The oldest queued row not yet taken, and take it.
 * @param[in,out] p  a pipeline
 * @return        W2S_FE_N_MELS int8 values, valid until the next w2s_pipeline_feed; NULL when none is left
 */
const int8_t *w2s_pipeline_take_row(w2s_pipeline_t *p);

/**
 * @brief         Frames of the next window the store can hold before the queue's oldest untaken row: a pure
 *                function of the sizes, so the schedule can be checked off the board.
 * @param[in]     frames_per_window  frames the store holds
 * @param[in]     queued             rows queued at the store's far end (each W2S_FE_N_MELS bytes)
 * @param[in]     taken              rows taken
 * @return        frames, at most frames_per_window
 */
uint32_t w2s_pipeline_frame_room(uint32_t frames_per_window, uint32_t queued, uint32_t taken);

/**
 * @brief         Row t of the window w2s_pipeline_feed just completed, as the model's int8 input. Valid
 *                until the next w2s_pipeline_feed (which overwrites frames_db_q7).
 * @param[in]     p       a pipeline whose feed returned 1
 * @param[in]     t       0 .. p->window_frames - 1
 * @param[out]    row_s8  W2S_FE_N_MELS values
 */
void w2s_pipeline_row_s8(const w2s_pipeline_t *p, uint32_t t, int8_t *row_s8);

#ifdef __cplusplus
}
#endif

#endif /* W2S_PIPELINE_H */
