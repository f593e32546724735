/* w2s_app: the main loop's work on every microphone board (C99, includable from C++): the ring the board's
 * audio fills -> the pipeline -> the model step -> one line per window -> a line when the ring dropped
 * samples. The model step is w2s_budget.h's: W2S_USE_TFLM 0, the w2s streaming engine (w2s_infer.h); 1,
 * TFLM (w2s_model.h). The board's part is board.h's five functions. */
#ifndef W2S_APP_H
#define W2S_APP_H

#include <stddef.h>
#include <stdint.h>

#include "model_config.h"
#include "w2s_budget.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"
#include "w2s_status.h"
#if !W2S_USE_TFLM
#include "w2s_infer.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** What one w2s_app_poll did: for a board's own loop (sleep when nothing happened) and for tests. */
typedef struct {
    uint32_t samples;        /**< samples read from the ring (fed, or skipped between windows) */
    uint32_t rows;           /**< engine rows run */
    int answered;            /**< 1: a window's answer is below */
    float adv_f32[W2S_OUTPUT_COUNT]; /**< arousal, dominance, valence of the answered window */
    uint32_t first;          /**< its first sample, counted in samples read from the ring since the start */
    uint32_t end;            /**< one past its last sample, counted alike */
    uint64_t engine_cycles;  /**< board_cycles its model step took, summed over its steps */
    uint64_t latency_cycles; /**< board_cycles from reading its last sample to its answer */
} w2s_app_event_t;

typedef struct {
    w2s_ring_t ring;                                          /**< the board's audio writes, w2s_app_poll reads */
    w2s_pipeline_t pipe;                                      /**< PCM -> the window's model input */
    int16_t ring_s16[W2S_RING_SAMPLES];                       /**< the ring's storage, PCM */
    int16_t frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS]; /**< the window's frames, dB Q7 */
    int32_t dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS]; /**< the window's DC bins, Q7 */
#if !W2S_USE_TFLM
    w2s_engine_t engine;                                      /**< the engine's state: one size for any window */
    uint64_t engine_cycles;                                   /**< board_cycles the queued window has taken so far */
    uint64_t engine_est;                                      /**< cycles a window's engine work takes: the last
                                                                   window's, W2S_ENGINE_CYCLES_EST before one */
    uint32_t queued_first, queued_end;                        /**< the queued window's samples (see the event) */
    uint64_t queued_at;                                       /**< w2s_app's clock when it was queued */
    int silent_pending;                                       /**< 1: a silent window's answer waits for the next
                                                                   poll (the poll that completed it answered one) */
    float silent_adv_f32[W2S_OUTPUT_COUNT];                   /**< its answer */
    uint32_t silent_first, silent_end;                        /**< its samples */
    uint64_t silent_cycles, silent_at;                        /**< its check's cycles, and when it was answered */
#endif
    uint64_t clock;                                           /**< board_cycles extended to 64 bits (read each poll:
                                                                   a 60 s window's latency outlasts a wrap) */
    uint32_t clock_last;                                      /**< board_cycles at the last read */
    uint64_t frontend_cycles;                                 /**< board_cycles the current window's front end took */
    uint64_t frontend_est;                                    /**< ... a whole window's: the last one's (measured
                                                                   before the first decision) */
    uint32_t consumed;                                        /**< samples read from the ring since the start */
    uint32_t window_first;                                    /**< consumed at the current window's first sample */
    int collecting;                                           /**< 0: skipping audio until the engine is far enough
                                                                   along to finish before the next window ends */
    uint32_t dropped_seen;                                    /**< w2s_ring_dropped as of the last poll */
    uint32_t windows_cut;                                     /**< windows restarted because the ring dropped */
    uint64_t longest_step;                                    /**< cycles of the longest stretch between two ring
                                                                   reads (a chunk with a window's finish and queue,
                                                                   or an engine row): under half the ring's time */
    uint32_t ring_peak;                                       /**< the most samples ever waiting in the ring */
} w2s_app_t;

/**
 * @brief         Once: board_init, the ring, the model step, the pipeline, then board_start_audio.
 * @param[out]    app          the app (any storage; a static: it is large)
 * @param[in,out] arena        TFLM: 16-byte aligned, arena_bytes (model_config.h: W2S_ARENA_BYTES), kept;
 *                             w2s: unused, NULL
 * @param[in]     arena_bytes  bytes in arena
 * @param[out]    call         on a failure, the call that failed (for the line the board prints)
 * @return        W2S_OK, or the status of the call that failed
 */
w2s_status_t w2s_app_start(w2s_app_t *app, uint8_t *arena, size_t arena_bytes, const char **call);

/**
 * @brief         Once round the main loop: the samples waiting in the ring (at most a chunk) through the
 *                pipeline; each window it completes through the model step, and its line printed
 *                ("A=0.512 D=-0.031 V=0.877 t=12345us latency=610ms": the model step's cycles from
 *                board_cycles, and the time from the window's last sample to its answer), then
 *                "warning: N samples dropped" if the ring dropped any since the last such line.
 *                w2s: a completed window is queued (w2s_infer_begin), and its rows go through the engine
 *                between chunks, while the ring is less than half full, or when the next window's frames need
 *                their room; its line comes during the next window. The next window starts at once if the
 *                engine's remaining cycles and a window's front end fit in W2S_SCHEDULE_MARGIN_Q8/256 of the
 *                cycles until the window ends (a window less the audio already waiting in the ring) (pipelined: no sample lost); else the audio is read and skipped until they do
 *                (duty-cycled: whole windows with clean gaps between them). The engine's cycles are the last
 *                window's as measured, W2S_ENGINE_CYCLES_EST (firmware's estimate) before the first.
 *                A window the ring dropped samples from is restarted after them: never a window with a gap.
 *                TFLM: the model step runs when the window completes.
 * @param[in,out] app    a started app
 * @param[out]    event  what happened; may be NULL
 * @param[out]    call   on a failure, the call that failed
 * @return        W2S_OK, or the status of the call that failed
 */
w2s_status_t w2s_app_poll(w2s_app_t *app, w2s_app_event_t *event, const char **call);

#ifdef __cplusplus
}
#endif

#endif /* W2S_APP_H */
