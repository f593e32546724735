/* w2s_app.c: see w2s_app.h. */
#include "w2s_app.h"

#include "board.h"
#include "w2s_format.h"
#if W2S_USE_TFLM
#include "w2s_model.h"
#endif

#define CHUNK_SAMPLES 256u /* read from the ring per poll */
#define LINE_BYTES 96u

/* The status, and the call it came from if it is a failure. */
static w2s_status_t named(w2s_status_t status, const char *name, const char **call)
{
    if (status != W2S_OK) {
        *call = name;
    }
    return status;
}

w2s_status_t w2s_app_start(w2s_app_t *app, uint8_t *arena, size_t arena_bytes, const char **call)
{
    int8_t *input_s8 = NULL; /* w2s: stays NULL, the engine reads the window row by row */
    w2s_status_t st;
    app->dropped_reported = 0u;
#if !W2S_USE_TFLM
    app->engine_cycles = 0u;
#endif
    if ((st = named(board_init(), "board_init", call)) != W2S_OK ||
        (st = named(w2s_ring_init(&app->ring, app->ring_s16, W2S_RING_SAMPLES), "w2s_ring_init", call)) != W2S_OK) {
        return st;
    }
#if W2S_USE_TFLM
    if ((st = named(w2s_model_init(arena, arena_bytes, &input_s8), "w2s_model_init", call)) != W2S_OK) {
        return st;
    }
#else
    (void)arena;
    (void)arena_bytes;
#endif
    st = w2s_pipeline_init(&app->pipe, &g_w2s_frontend_config, app->frames_db_q7, app->dc_bins_q7, input_s8,
                           W2S_FRAMES_PER_WINDOW);
    if (named(st, "w2s_pipeline_init", call) != W2S_OK) {
        return st;
    }
    return named(board_start_audio(&app->ring), "board_start_audio", call);
}

/* "warning: N samples dropped" if the ring dropped any since the last such line. */
static w2s_status_t dropped_line(w2s_app_t *app, char *line, const char **call)
{
    const uint32_t dropped = w2s_ring_dropped(&app->ring);
    if (dropped != app->dropped_reported) { /* the model step outlasted the ring: a window has a gap */
        w2s_status_t st = w2s_format_dropped(line, LINE_BYTES, dropped - app->dropped_reported);
        if (named(st, "w2s_format_dropped", call) != W2S_OK) {
            return st;
        }
        board_print(line);
        app->dropped_reported = dropped;
    }
    return W2S_OK;
}

#if W2S_USE_TFLM
/* The model step on the window the pipeline completed, timed, and its line. */
static w2s_status_t window_done(w2s_app_t *app, char *line, const char **call)
{
    int8_t adv_s8[W2S_OUTPUT_COUNT];
    w2s_status_t st;
    const uint32_t t0 = board_cycles();
    (void)app; /* TFLM reads the window from its input tensor, where the pipeline wrote it */
    if ((st = named(w2s_model_invoke_s8(adv_s8), "w2s_model_invoke_s8", call)) != W2S_OK) {
        return st;
    }
    const uint32_t us = (uint32_t)((uint64_t)(board_cycles() - t0) * 1000000u / board_cpu_hz());
    st = w2s_format_adv(line, LINE_BYTES, adv_s8, W2S_OUTPUT_ZERO_POINT, W2S_OUTPUT_MILLI_MULT_Q16, us);
    if (named(st, "w2s_format_adv", call) != W2S_OK) {
        return st;
    }
    board_print(line);
    return dropped_line(app, line, call);
}
#else
/* A window's answer: its line, with the engine's time over all its steps. */
static w2s_status_t answer_line(w2s_app_t *app, const float *adv_f32, char *line, const char **call)
{
    const uint32_t us = (uint32_t)((uint64_t)app->engine_cycles * 1000000u / board_cpu_hz());
    w2s_status_t st = w2s_format_adv_f32(line, LINE_BYTES, adv_f32, us);
    app->engine_cycles = 0u;
    if (named(st, "w2s_format_adv_f32", call) != W2S_OK) {
        return st;
    }
    board_print(line);
    return dropped_line(app, line, call);
}

/* Up to max_rows of the queued window through the engine, timed; its line if that finished it. */
static w2s_status_t engine_rows(w2s_app_t *app, uint32_t max_rows, char *line, const char **call)
{
    float adv_f32[W2S_ENGINE_OUTPUTS];
    const uint32_t t0 = board_cycles();
    const int done = w2s_infer_step(&app->pipe, &app->engine, max_rows, adv_f32);
    app->engine_cycles += board_cycles() - t0;
    return done ? answer_line(app, adv_f32, line, call) : W2S_OK;
}

/* The window the pipeline completed: queued for the engine (its predecessor is finished by now). */
static w2s_status_t window_done(w2s_app_t *app, char *line, const char **call)
{
    float adv_f32[W2S_ENGINE_OUTPUTS];
    const uint32_t t0 = board_cycles();
    const int known = w2s_infer_begin(&app->pipe, &app->engine, adv_f32);
    app->engine_cycles = board_cycles() - t0;
    return known ? answer_line(app, adv_f32, line, call) : W2S_OK;
}
#endif

w2s_status_t w2s_app_poll(w2s_app_t *app, uint32_t *samples, const char **call)
{
    int16_t chunk[CHUNK_SAMPLES];
    char line[LINE_BYTES];
    w2s_status_t st;
    const uint32_t got = w2s_ring_read(&app->ring, chunk, CHUNK_SAMPLES);
    if (samples != NULL) {
        *samples = got;
    }
    for (size_t off = 0, used = 0; off < got; off += used) {
        if (w2s_pipeline_feed(&app->pipe, chunk + off, got - off, &used)) {
            if ((st = window_done(app, line, call)) != W2S_OK) {
                return st;
            }
        }
#if !W2S_USE_TFLM
        else if (used == 0u && (st = engine_rows(app, 1u, line, call)) != W2S_OK) {
            return st; /* the next frame needs the room of the queue's oldest row */
        }
#endif
    }
#if !W2S_USE_TFLM
    /* Between chunks, rows while the ring has room to spare: one row is far shorter than half the ring. */
    while (app->pipe.taken < app->pipe.queued && w2s_ring_count(&app->ring) < W2S_RING_SAMPLES / 2u) {
        if ((st = engine_rows(app, 1u, line, call)) != W2S_OK) {
            return st;
        }
    }
#endif
    return W2S_OK;
}
