/* w2s_app.c: see w2s_app.h. */
#include "w2s_app.h"

#include <stdio.h>
#include <string.h>

#include "board.h"
#include "w2s_format.h"
#if W2S_USE_TFLM
#include "w2s_model.h"
#endif

#define CHUNK_SAMPLES 256u /* read from the ring per poll */

#if !W2S_USE_TFLM /* the event's outputs are sized by the model's config: the engine must agree (C99: a -1 array) */
typedef char w2s_app_outputs_match[(W2S_ENGINE_OUTPUTS == W2S_OUTPUT_COUNT) ? 1 : -1];
#endif
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
    memset(app, 0, sizeof *app);
    app->collecting = 1;
#if !W2S_USE_TFLM
    app->engine_est = W2S_ENGINE_CYCLES_EST;
#endif
    if ((st = named(board_init(), "board_init", call)) != W2S_OK ||
        (st = named(w2s_ring_init(&app->ring, app->ring_s16, W2S_RING_SAMPLES), "w2s_ring_init", call)) != W2S_OK) {
        return st;
    }
    board_print(W2S_SCHEDULE_NOTE);
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

/* board_cycles, extended to 64 bits: called at least once per poll, far more often than it wraps. */
static uint64_t now(w2s_app_t *app)
{
    const uint32_t c = board_cycles();
    app->clock += (uint32_t)(c - app->clock_last);
    app->clock_last = c;
    return app->clock;
}

/* The cycles since t0; the longest stretch without a ring read kept (the chunk loop, or a row after it). */
static uint64_t stretch(w2s_app_t *app, uint64_t t0)
{
    const uint64_t cycles = now(app) - t0;
    app->longest_step = cycles > app->longest_step ? cycles : app->longest_step;
    return cycles;
}

/* A window's answer: its line ("... t=..us latency=..ms"), and the event. */
static w2s_status_t answer(w2s_app_event_t *ev, uint64_t engine_cycles, uint64_t latency_cycles, char *line,
                           const char **call)
{
    const uint32_t hz = board_cpu_hz();
    const uint32_t us = (uint32_t)(engine_cycles * 1000000u / hz);
    w2s_status_t st = w2s_format_adv_f32(line, LINE_BYTES, ev->adv_f32, us);
    if (named(st, "w2s_format_adv_f32", call) != W2S_OK) {
        return st;
    }
    const size_t len = strlen(line);
    snprintf(line + len, LINE_BYTES - len, " latency=%lums", (unsigned long)(latency_cycles * 1000u / hz));
    board_print(line);
    ev->answered = 1;
    ev->engine_cycles = engine_cycles;
    ev->latency_cycles = latency_cycles;
    return W2S_OK;
}

/* 1 if the next window may start now: the engine's remaining work and a window's front end fit in the margin's
   share of a window's cycles. The engine keeps pace from here (rows between chunks, or when the store needs
   their room), so the window completes without its frames waiting for the queue. */
static int next_window_fits(const w2s_app_t *app)
{
#if W2S_USE_TFLM
    (void)app;
    return 1;
#else
    const w2s_pipeline_t *p = &app->pipe;
    if (p->taken >= p->queued) {
        return 1;
    }
    /* the audio waiting in the ring is already late: a window starting now ends that much sooner */
    const uint32_t backlog = w2s_ring_count(&app->ring);
    const uint32_t ahead = p->config->window_samples > backlog ? p->config->window_samples - backlog : 0u;
    const uint64_t window = (uint64_t)ahead * board_cpu_hz() / W2S_SAMPLE_RATE_HZ;
    const uint64_t left = app->engine_est * (p->queued - p->taken) / p->queued;
    return left + app->frontend_est <= window * W2S_SCHEDULE_MARGIN_Q8 / 256u;
#endif
}

#if W2S_USE_TFLM
/* The model step on the window the pipeline completed, timed, and its line. */
static w2s_status_t window_done(w2s_app_t *app, uint32_t end, w2s_app_event_t *ev, char *line, const char **call)
{
    int8_t adv_s8[W2S_OUTPUT_COUNT];
    w2s_status_t st;
    const uint64_t t0 = now(app);
    /* TFLM reads the window from its input tensor, where the pipeline wrote it */
    if ((st = named(w2s_model_invoke_s8(adv_s8), "w2s_model_invoke_s8", call)) != W2S_OK) {
        return st;
    }
    const uint64_t cycles = now(app) - t0;
    for (uint32_t k = 0; k < W2S_OUTPUT_COUNT; k++) {
        ev->adv_f32[k] = (float)(adv_s8[k] - W2S_OUTPUT_ZERO_POINT) * W2S_OUTPUT_SCALE;
    }
    ev->first = app->window_first;
    ev->end = end;
    app->window_first = end;
    return answer(ev, cycles, cycles, line, call);
}
#else
/* Up to max_rows of the queued window through the engine, timed; its answer if that finished it. */
static w2s_status_t engine_rows(w2s_app_t *app, uint32_t max_rows, w2s_app_event_t *ev, char *line,
                                const char **call)
{
    const uint32_t before = app->pipe.taken;
    const uint64_t t0 = now(app);
    const int done = w2s_infer_step(&app->pipe, &app->engine, max_rows, ev->adv_f32);
    app->engine_cycles += stretch(app, t0);
    const uint64_t t1 = app->clock;
    ev->rows += app->pipe.taken - before;
    if (!done) {
        return W2S_OK;
    }
    app->engine_est = app->engine_cycles;
    ev->first = app->queued_first;
    ev->end = app->queued_end;
    return answer(ev, app->engine_cycles, t1 - app->queued_at, line, call);
}

/* The window the pipeline completed (its last sample is the end-th read): queued for the engine (its
   predecessor is finished by now), or answered at once if silent. */
static w2s_status_t window_done(w2s_app_t *app, uint32_t end, w2s_app_event_t *ev, char *line, const char **call)
{
    float adv_f32[W2S_OUTPUT_COUNT];
    const uint64_t t0 = now(app);
    const int known = w2s_infer_begin(&app->pipe, &app->engine, adv_f32);
    app->engine_cycles = now(app) - t0;
    const uint64_t t1 = app->clock;
    app->queued_first = app->window_first;
    app->queued_end = end;
    app->queued_at = t0;
    app->window_first = end;
    if (known && ev->answered) { /* this poll answered the queued window: the event holds one answer */
        memcpy(app->silent_adv_f32, adv_f32, sizeof adv_f32);
        app->silent_first = app->queued_first;
        app->silent_end = end;
        app->silent_cycles = app->engine_cycles;
        app->silent_at = t0;
        app->silent_pending = 1;
    } else if (known) {
        memcpy(ev->adv_f32, adv_f32, sizeof adv_f32);
        ev->first = app->queued_first;
        ev->end = end;
        return answer(ev, app->engine_cycles, t1 - t0, line, call);
    }
    app->collecting = next_window_fits(app); /* else the rest of the chunk is skipped */
    return W2S_OK;
}
#endif

/* Samples the ring dropped since the last poll: the warning line, and the current window restarted after
   everything the ring holds now (the gap lies somewhere before the next sample written). */
static w2s_status_t after_drops(w2s_app_t *app, int16_t *chunk, w2s_app_event_t *ev, char *line, const char **call)
{
    const uint32_t dropped = w2s_ring_dropped(&app->ring);
    if (dropped == app->dropped_seen) {
        return W2S_OK;
    }
    w2s_status_t st = w2s_format_dropped(line, LINE_BYTES, dropped - app->dropped_seen);
    if (named(st, "w2s_format_dropped", call) != W2S_OK) {
        return st;
    }
    board_print(line);
    app->dropped_seen = dropped;
    for (uint32_t left = w2s_ring_count(&app->ring), got; left > 0u; left -= got) {
        got = w2s_ring_read(&app->ring, chunk, left < CHUNK_SAMPLES ? left : CHUNK_SAMPLES);
        app->consumed += got;
        ev->samples += got;
        if (got == 0u) {
            break;
        }
    }
    if (app->pipe.frames > 0u || app->pipe.frontend.count > 0u) {
        w2s_pipeline_restart(&app->pipe);
        app->windows_cut++;
    }
    app->window_first = app->consumed;
    app->frontend_cycles = 0u;
    return W2S_OK;
}

w2s_status_t w2s_app_poll(w2s_app_t *app, w2s_app_event_t *event, const char **call)
{
    int16_t chunk[CHUNK_SAMPLES];
    char line[LINE_BYTES];
    w2s_app_event_t unused;
    w2s_app_event_t *ev = event != NULL ? event : &unused;
    w2s_status_t st;
    memset(ev, 0, sizeof *ev);
    (void)now(app); /* keeps the 64-bit clock through idle stretches */
#if !W2S_USE_TFLM
    if (app->silent_pending) {
        app->silent_pending = 0;
        memcpy(ev->adv_f32, app->silent_adv_f32, sizeof ev->adv_f32);
        ev->first = app->silent_first;
        ev->end = app->silent_end;
        if ((st = answer(ev, app->silent_cycles, app->clock - app->silent_at, line, call)) != W2S_OK) {
            return st;
        }
    }
#endif
    if ((st = after_drops(app, chunk, ev, line, call)) != W2S_OK) {
        return st;
    }
    const uint32_t waiting = w2s_ring_count(&app->ring);
    app->ring_peak = waiting > app->ring_peak ? waiting : app->ring_peak;
    const uint32_t got = w2s_ring_read(&app->ring, chunk, CHUNK_SAMPLES);
    const uint64_t t_read = now(app);
    const uint32_t base = app->consumed;
    ev->samples += got;
    app->consumed += got;
    for (size_t off = 0, used = 0; off < got; off += used) {
        if (!app->collecting && !(app->collecting = next_window_fits(app))) {
            break; /* skipped: between windows */
        }
        if (off == 0u && app->pipe.frames == 0u && app->pipe.frontend.count == 0u) {
            app->window_first = base; /* a window starting with this chunk (after a skip or a restart) */
        }
        const uint64_t t0 = now(app);
        const int done = w2s_pipeline_feed(&app->pipe, chunk + off, got - off, &used);
        app->frontend_cycles += now(app) - t0;
        if (done) {
            app->frontend_est = app->frontend_cycles;
            app->frontend_cycles = 0u;
            if ((st = window_done(app, base + (uint32_t)(off + used), ev, line, call)) != W2S_OK) {
                return st;
            }
        }
#if !W2S_USE_TFLM
        else if (used == 0u && (st = engine_rows(app, 1u, ev, line, call)) != W2S_OK) {
            return st; /* the next frame needs the room of the queue's oldest row */
        }
#endif
    }
    (void)stretch(app, t_read); /* the chunk: its feeds, and a window's finish and queue, with no read between */
#if !W2S_USE_TFLM
    /* Between chunks, rows while the ring has room to spare: one row is far shorter than half the ring. */
    while (app->pipe.taken < app->pipe.queued && w2s_ring_count(&app->ring) < W2S_RING_SAMPLES / 2u) {
        if ((st = engine_rows(app, 1u, ev, line, call)) != W2S_OK) {
            return st;
        }
    }
#endif
    return W2S_OK;
}
