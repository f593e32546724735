/* {{PROJECT}}: the nucleo-f411re firmware with the microphone replaced by a WAV file read through
 * semihosting: WAV -> "DMA" blocks -> ring buffer -> fixed-point front end -> w2s engine -> one line per
 * window. Runs on qemu-system-arm -M netduinoplus2 (make run WAV=clip.wav).
 * Times are instruction counts (QEMU -icount shift=0), not cycles: a real F411 needs more cycles than
 * instructions (flash wait states, multi-cycle loads). Every status is checked.
 * Live build (-DW2S_LIVE, make live): the blocks arrive from SysTick at 16 kHz of the emulated board's time
 * for a clock and cycles per instruction (mic_qemu.h), and the same loop runs against them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board_qemu.h"
#include "model_config.h"
#include "w2s_budget.h"
#include "w2s_format.h"
#include "w2s_infer.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"
#include "w2s_wav.h"
#ifdef W2S_LIVE
#include "mic_qemu.h"
#endif

#define DMA_SAMPLES 512u
#define CHUNK_SAMPLES 256u
#define CPU_MHZ 100u /* the F411's clock, for the t= figure (one instruction per cycle: a lower bound) */

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
    unsigned windows;         /**< windows the pipeline completed (live: whole or partial) */
    uint32_t consumed;        /**< samples read from the ring */
    uint32_t window_start;    /**< consumed before the current window's first sample */
    uint64_t frontend_ticks;  /**< SysTick ticks in the front end, all windows */
    uint64_t window_frontend; /**< ... in the current window */
    uint64_t engine_ticks;    /**< ... in the engine */
#ifdef W2S_LIVE
    uint32_t period_ticks;    /**< SysTick ticks per microphone block */
    unsigned analysed;        /**< whole windows through the engine */
    unsigned partial;         /**< windows with a gap inside: not analysed */
    uint64_t idle_ticks;      /**< ticks asleep waiting for a block */
    uint64_t latency_max;     /**< ticks from a window's last block to its line */
#endif
} app_t;

static unsigned long kinstr(uint64_t ticks)
{
    return (unsigned long)(ticks / BOARD_TICKS_PER_KINSTR);
}

/* The semihosting command line: "w2s.elf clip.wav", live "w2s.elf MHZ CPI clip.wav". The WAV path is the
 * rest of the line, spaces and all; *args points to the words before it. */
static const char *wav_path(char *buf, uint32_t cap, unsigned words, char **args)
{
    struct {
        char *buf;
        uint32_t len;
    } block = {buf, cap - 1u};
    register uint32_t r0 __asm__("r0") = 0x15u; /* SYS_GET_CMDLINE */
    register void *r1 __asm__("r1") = &block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    if (r0 != 0u) {
        return NULL;
    }
    buf[block.len] = '\0';
    char *rest = buf;
    for (unsigned k = 0; k <= words; k++) { /* the program's name, then the words */
        char *space = strchr(rest, ' ');
        if (space == NULL || space[1] == '\0') {
            return NULL;
        }
        *space = '\0';
        rest = space + 1;
        if (k < words) {
            args[k] = rest;
        }
    }
    return rest;
}

/* Emulated microseconds: live, a block of W2S_MIC_BLOCK_SAMPLES at 16 kHz is period_ticks; else the
 * instructions at CPU_MHZ, one per cycle. */
static uint32_t ticks_us(const app_t *app, uint64_t ticks)
{
#ifdef W2S_LIVE
    return (uint32_t)((double)ticks * W2S_MIC_BLOCK_SAMPLES * 1e6 / W2S_SAMPLE_RATE_HZ / app->period_ticks);
#else
    (void)app;
    return (uint32_t)(kinstr(ticks) * 1000u / CPU_MHZ);
#endif
}

static int print_window(const app_t *app, const float adv[3], uint64_t engine_ticks, const char *more)
{
    char line[96];
    uint32_t bits[3];
    w2s_status_t st = w2s_format_adv_f32(line, sizeof line, adv, ticks_us(app, engine_ticks));
    if (st != W2S_OK) {
        return fail("w2s_format_adv_f32", st);
    }
    memcpy(bits, adv, sizeof bits);
    printf("window %u: %s\n", app->windows, line);
    printf("  bits %08lx %08lx %08lx  kinstr frontend %lu engine %lu%s\n", (unsigned long)bits[0],
           (unsigned long)bits[1], (unsigned long)bits[2], kinstr(app->window_frontend), kinstr(engine_ticks),
           more);
    return 0;
}

/* The window the pipeline just completed (its last sample is the end-th read from the ring): through the
 * engine and printed; live, a window with a gap inside is reported and skipped. */
static int window_done(app_t *app, uint32_t end)
{
    float adv[W2S_ENGINE_OUTPUTS];
    char more[64] = "";
    w2s_status_t st;
    app->windows++;
#ifdef W2S_LIVE
    uint32_t stream_start;
    const uint32_t gap = mic_window_gap(app->window_start, end, &stream_start);
    app->window_start = end;
    if (gap != 0u) {
        app->partial++;
        app->frontend_ticks += app->window_frontend;
        app->window_frontend = 0;
        printf("window %u: partial (%lu samples dropped inside it): not analysed\n", app->windows,
               (unsigned long)gap);
        return 0;
    }
#else
    app->window_start = end;
#endif
    const uint64_t t1 = board_ticks();
    if ((st = w2s_infer_window_f32(&app->pipe, &g_engine, adv)) != W2S_OK) {
        return fail("w2s_infer_window_f32", st);
    }
    const uint64_t t2 = board_ticks();
#ifdef W2S_LIVE
    /* the window's last sample came with block (stream_start + window - 1) / block */
    const uint64_t last_block = (stream_start + W2S_WINDOW_SAMPLES - 1u) / W2S_MIC_BLOCK_SAMPLES;
    const uint64_t latency = t2 - (mic_first_tick() + last_block * app->period_ticks);
    app->latency_max = latency > app->latency_max ? latency : app->latency_max;
    app->analysed++;
    snprintf(more, sizeof more, "  start %lu latency_us %lu", (unsigned long)stream_start,
             (unsigned long)ticks_us(app, latency));
#endif
    const int rc = print_window(app, adv, t2 - t1, more);
    app->frontend_ticks += app->window_frontend;
    app->engine_ticks += t2 - t1;
    app->window_frontend = 0;
    return rc;
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
        if (done) {
            const int rc = window_done(app, app->consumed + (uint32_t)(off + used));
            if (rc != 0) {
                return rc;
            }
        }
    }
    app->consumed += got;
    return 0;
}

#ifdef W2S_LIVE
/* The microphone at MHZ and CPI (the command line's words): SysTick ticks per block, 0 if out of range. */
static uint32_t mic_period_ticks(const char *mhz_text, const char *cpi_text)
{
    const double mhz = strtod(mhz_text, NULL), cpi = strtod(cpi_text, NULL);
    if (!(mhz > 0.0 && cpi > 0.0)) {
        return 0u;
    }
    const double instr = W2S_MIC_BLOCK_SAMPLES * mhz * 1e6 / W2S_SAMPLE_RATE_HZ / cpi;
    const double ticks = instr * BOARD_TICKS_PER_KINSTR / 1000.0 + 0.5;
    return ticks >= 1.0 && ticks <= (double)0x1000000u ? (uint32_t)ticks : 0u;
}

/* Sleep until the microphone's next block: SysTick wakes the WFI even with interrupts masked, and QEMU's
 * -icount sleep=off jumps the emulated time there. */
static void wait_for_block(app_t *app)
{
    const uint64_t t0 = board_ticks();
    __asm volatile("cpsid i" ::: "memory");
    if (w2s_ring_count(&app->ring) == 0u && !mic_done()) {
        __asm volatile("wfi");
    }
    __asm volatile("cpsie i" ::: "memory");
    app->idle_ticks += board_ticks() - t0;
}
#endif

int main(void)
{
    static char cmdline[256];
    app_t app = {0};
    w2s_status_t st;
    char why[W2S_WAV_LINE_BYTES];
    w2s_wav_t wav;
#ifdef W2S_LIVE
    char *args[2];
    const char *path = wav_path(cmdline, sizeof cmdline, 2, args);
    const char *usage = "make live WAV=clip.wav MHZ=180 [CPI=1.0]";
#else
    const char *path = wav_path(cmdline, sizeof cmdline, 0, NULL);
    const char *usage = "make run WAV=clip.wav";
#endif

    if (path == NULL) {
        printf("error: no WAV path on the semihosting command line (%s; at most %u characters)\n", usage,
               (unsigned)(sizeof cmdline - sizeof "w2s.elf "));
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
#ifdef W2S_LIVE
    if ((app.period_ticks = mic_period_ticks(args[0], args[1])) == 0u) {
        printf("error: MHZ %s and CPI %s give no SysTick period of 1 .. 2^24 ticks per %u samples (%s)\n",
               args[0], args[1], (unsigned)W2S_MIC_BLOCK_SAMPLES, usage);
        return 2;
    }
    /* printed before the microphone starts: stdout's buffer is allocated here, not under its interrupt */
    printf("live: %s MHz, %s cycles per instruction: %u samples every %lu SysTick ticks, ring %u samples\n",
           args[0], args[1], (unsigned)W2S_MIC_BLOCK_SAMPLES, (unsigned long)app.period_ticks,
           (unsigned)W2S_RING_SAMPLES);
    const uint64_t t_start = board_ticks();
    if ((st = mic_start(&app.ring, &wav, app.period_ticks)) != W2S_OK) {
        return fail("mic_start", st);
    }
    while (!mic_done() || w2s_ring_count(&app.ring) > 0u) { /* done first: then the count is final */
        if (w2s_ring_count(&app.ring) == 0u) {
            wait_for_block(&app);
        } else if (drain_chunk(&app) != 0) {
            return 1;
        }
    }
    const uint64_t span = board_ticks() - t_start;
    if ((st = mic_status()) != W2S_OK) {
        w2s_wav_describe(&wav, st, why, sizeof why);
        printf("error: %s: %s\n", path, why);
        return 2;
    }
#else
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
#endif
    w2s_wav_close(&wav);
    printf("summary: windows %u samples %lu kinstr frontend %lu engine %lu stack_high_water %lu B engine_state %lu B\n",
           app.windows, (unsigned long)wav.samples_read, kinstr(app.frontend_ticks), kinstr(app.engine_ticks),
           (unsigned long)board_stack_high_water(), (unsigned long)sizeof g_engine);
#ifdef W2S_LIVE
    printf("live: windows_total %lu windows_analysed %u partial_windows %u dropped_samples %lu busy_us %lu "
           "span_us %lu latency_us_max %lu\n",
           (unsigned long)(mic_samples() / W2S_WINDOW_SAMPLES), app.analysed, app.partial,
           (unsigned long)w2s_ring_dropped(&app.ring), (unsigned long)ticks_us(&app, span - app.idle_ticks),
           (unsigned long)ticks_us(&app, span), (unsigned long)ticks_us(&app, app.latency_max));
#endif
#ifdef W2S_ENGINE_PROFILE
    for (unsigned k = 0; k <= W2S_ENGINE_LAYERS; k++) {
        printf("profile: %s %u kinstr %lu\n", k < W2S_ENGINE_LAYERS ? "layer" : "pool", k,
               kinstr(g_w2s_engine_layer_ticks[k]));
    }
#endif
    return 0;
}
