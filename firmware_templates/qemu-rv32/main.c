/* {{PROJECT}}: the firmware pipeline on an emulated RISC-V rv32imc core (the ESP32-C3/C6 class), the microphone
 * replaced by a WAV file read through semihosting: WAV -> "DMA" blocks -> ring buffer -> fixed-point front end ->
 * w2s engine (its portable C kernels) -> one line per window. Runs on qemu-system-riscv32 -M virt (make run
 * WAV=clip.wav), each window through the engine in one go: the bits validate --device qemu-rv32 checks.
 * Times are instructions retired (minstret, exact under QEMU -icount shift=0), not cycles. The float tail runs
 * in soft float (ilp32): -ffp-contract=off keeps every product and sum rounded as the host's. Every status is
 * checked. */
#include <stdio.h>
#include <string.h>

#include "board_rv32.h"
#include "model_config.h"
#include "w2s_budget.h"
#include "w2s_format.h"
#include "w2s_infer.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"
#include "w2s_wav.h"

#define DMA_SAMPLES 512u
#define CHUNK_SAMPLES 256u
#define CPU_MHZ 160u /* the ESP32-C3's clock, for the t= figure (one instruction per cycle) */

static int16_t g_ring_storage[W2S_RING_SAMPLES];
static int16_t g_frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS]; /* exact prenorm needs the window */
static int32_t g_dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
static w2s_engine_t g_engine;                                      /* the same size for any window */

#ifdef W2S_ENGINE_PROFILE
extern uint64_t g_w2s_engine_layer_ticks[W2S_ENGINE_LAYERS + 1];
uint32_t w2s_profile_ticks(void)
{
    return (uint32_t)board_ticks();
}
#endif

static int fail(const char *call, w2s_status_t status)
{
    printf("error: %s: %s\n", call, w2s_status_str(status));
    return 1;
}

/* What the main loop keeps between chunks. */
typedef struct {
    w2s_ring_t ring;
    w2s_pipeline_t pipe;
    unsigned windows;         /**< windows the pipeline completed */
    uint64_t frontend_ticks;  /**< instructions in the front end, all windows */
    uint64_t window_frontend; /**< ... in the current window */
    uint64_t engine_ticks;    /**< ... in the engine */
} app_t;

static unsigned long kinstr(uint64_t ticks)
{
    return (unsigned long)(ticks / BOARD_TICKS_PER_KINSTR);
}

/* The window the pipeline just completed: through the engine and printed. */
static int window_done(app_t *app)
{
    float adv[W2S_ENGINE_OUTPUTS];
    char line[96];
    uint32_t bits[3];
    w2s_status_t st;
    app->windows++;
    const uint64_t t1 = board_ticks();
    if ((st = w2s_infer_window_f32(&app->pipe, &g_engine, adv)) != W2S_OK) {
        return fail("w2s_infer_window_f32", st);
    }
    const uint64_t engine = board_ticks() - t1;
    if ((st = w2s_format_adv_f32(line, sizeof line, adv, (uint32_t)(kinstr(engine) * 1000u / CPU_MHZ))) != W2S_OK) {
        return fail("w2s_format_adv_f32", st);
    }
    memcpy(bits, adv, sizeof bits);
    printf("window %u: %s\n", app->windows, line);
    printf("  bits %08lx %08lx %08lx  kinstr frontend %lu engine %lu\n", (unsigned long)bits[0],
           (unsigned long)bits[1], (unsigned long)bits[2], kinstr(app->window_frontend), kinstr(engine));
    app->frontend_ticks += app->window_frontend;
    app->engine_ticks += engine;
    app->window_frontend = 0;
    return 0;
}

/* One chunk from the ring through the pipeline, and each window it completes. */
static int drain_chunk(app_t *app)
{
    int16_t chunk[CHUNK_SAMPLES];
    const uint32_t got = w2s_ring_read(&app->ring, chunk, CHUNK_SAMPLES);
    for (size_t off = 0, used = 0; off < got; off += used) {
        const uint64_t t0 = board_ticks();
        const int done = w2s_pipeline_feed(&app->pipe, chunk + off, got - off, &used);
        app->window_frontend += board_ticks() - t0;
        if (done && window_done(app) != 0) {
            return 1;
        }
    }
    return 0;
}

int main(void)
{
    static char cmdline[256];
    app_t app = {0};
    w2s_status_t st;
    char why[W2S_WAV_LINE_BYTES];
    w2s_wav_t wav;
    const char *path;

    board_paint_stack();
    path = board_wav_path(cmdline, sizeof cmdline);

    if (path == NULL) {
        printf("error: no WAV path on the semihosting command line (make run WAV=clip.wav; at most %u "
               "characters)\n", (unsigned)(sizeof cmdline - sizeof "w2s.elf "));
        return 2;
    }
    if ((st = w2s_wav_open(&wav, path)) != W2S_OK) {
        w2s_wav_describe(&wav, st, why, sizeof why);
        printf("error: %s: %s\n", path, why);
        return 2;
    }
    if ((st = w2s_ring_init(&app.ring, g_ring_storage, W2S_RING_SAMPLES)) != W2S_OK) {
        return fail("w2s_ring_init", st);
    }
    st = w2s_pipeline_init(&app.pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins_q7, NULL,
                           W2S_FRAMES_PER_WINDOW);
    if (st != W2S_OK) {
        return fail("w2s_pipeline_init", st);
    }
    int16_t block[DMA_SAMPLES];
    uint32_t block_n = 1; /* samples the last read gave; 0: the end of the file */
    while (block_n > 0) {
        /* the "DMA": one block into the ring, then the ring drained */
        if ((st = w2s_wav_read_s16(&wav, block, DMA_SAMPLES, &block_n)) != W2S_OK) {
            w2s_wav_describe(&wav, st, why, sizeof why);
            printf("error: %s: %s\n", path, why);
            return 2;
        }
        if (w2s_ring_write(&app.ring, block, block_n) != block_n) { /* drained before each block: never */
            printf("error: the audio ring dropped samples\n");
            return 1;
        }
        while (w2s_ring_count(&app.ring) > 0) {
            if (drain_chunk(&app) != 0) {
                return 1;
            }
        }
    }
    w2s_wav_close(&wav);
    printf("summary: windows %u samples %lu kinstr frontend %lu engine %lu stack_high_water %lu B engine_state %lu B\n",
           app.windows, (unsigned long)wav.samples_read, kinstr(app.frontend_ticks), kinstr(app.engine_ticks),
           (unsigned long)board_stack_high_water(), (unsigned long)sizeof g_engine);
#ifdef W2S_ENGINE_PROFILE
    for (unsigned k = 0; k <= W2S_ENGINE_LAYERS; k++) {
        printf("profile: %s %u kinstr %lu\n", k < W2S_ENGINE_LAYERS ? "layer" : "pool", k,
               kinstr(g_w2s_engine_layer_ticks[k]));
    }
#endif
    return 0;
}
