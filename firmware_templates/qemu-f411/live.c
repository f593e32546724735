/* {{PROJECT}} live (make live WAV=clip.wav MHZ=180 [CPI=1.32]): the boards' own main loop and schedule
 * (w2s_app.c) against a virtual microphone. SysTick delivers 256-sample blocks at 16 kHz of the emulated
 * board's time for that clock and cycles per instruction (mic_qemu.h), and board.h's functions count that
 * board's cycles. Per answered window it prints the line a board prints, its float bits, where its audio
 * began in the WAV and its latency; mic_qemu checks, independently of the app, that no analysed window had a
 * gap inside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "board_qemu.h"
#include "mic_qemu.h"
#include "model_config.h"
#include "w2s_app.h"
#include "w2s_wav.h"

static w2s_app_t g_app;
static w2s_wav_t g_wav;
static uint32_t g_period_ticks;     /* SysTick ticks per microphone block */
static uint64_t g_cycles_per_block; /* the board's cycles per block: its clock x 16 ms */
static uint32_t g_hz;

#ifdef W2S_ENGINE_PROFILE
uint32_t w2s_profile_ticks(void)
{
    return (uint32_t)board_ticks();
}
#endif

/* board.h, for the emulated board: its cycles are SysTick's ticks scaled to the clock. */
w2s_status_t board_init(void)
{
    return W2S_OK;
}

w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    return mic_start(ring, &g_wav, g_period_ticks);
}

uint32_t board_cycles(void)
{
    return (uint32_t)(board_ticks() * g_cycles_per_block / g_period_ticks);
}

uint32_t board_cpu_hz(void)
{
    return g_hz;
}

void board_print(const char *line)
{
    printf("%s\n", line);
}

/* What the live run counts besides the app. */
typedef struct {
    unsigned answered;       /**< windows the app answered */
    unsigned analysed;       /**< ... whole and contiguous, as mic_qemu saw them */
    unsigned partial;        /**< ... with a gap inside (the app restarts such windows: never, if it works) */
    uint64_t idle_ticks;     /**< ticks asleep waiting for a block */
    uint64_t latency_max;    /**< ticks from a window's last block to its answer */
    uint64_t engine_cycles;  /**< all windows */
} live_t;

static unsigned long ticks_us(uint64_t ticks)
{
    return (unsigned long)((double)ticks * W2S_MIC_BLOCK_SAMPLES * 1e6 / W2S_SAMPLE_RATE_HZ / g_period_ticks);
}

/* The board's cycles as thousands of instructions (the emulated instructions that took them). */
static unsigned long kinstr(uint64_t cycles)
{
    return (unsigned long)((double)cycles * g_period_ticks / g_cycles_per_block / BOARD_TICKS_PER_KINSTR);
}

/* The microphone at MHZ and CPI (the command line's words): SysTick ticks per block, 0 if out of range. */
static uint32_t mic_period_ticks(double mhz, double cpi)
{
    if (!(mhz > 0.0 && mhz < 4294.0 && cpi > 0.0)) {
        return 0u;
    }
    const double instr = W2S_MIC_BLOCK_SAMPLES * mhz * 1e6 / W2S_SAMPLE_RATE_HZ / cpi;
    const double ticks = instr * BOARD_TICKS_PER_KINSTR / 1000.0 + 0.5;
    return ticks >= 1.0 && ticks <= (double)0x1000000u ? (uint32_t)ticks : 0u;
}

/* An answered window: where its audio came from, whether it had a gap, its latency; printed. */
static void report(live_t *lv, const w2s_app_event_t *ev)
{
    uint32_t bits[3], stream_start;
    const uint64_t now = board_ticks();
    const uint32_t gap = mic_window_gap(ev->first, ev->end, &stream_start);
    lv->answered++;
    lv->engine_cycles += ev->engine_cycles;
    if (gap != 0u) {
        lv->partial++;
        printf("window %u: partial (%lu samples dropped inside it): not analysed\n", lv->answered,
               (unsigned long)gap);
        return;
    }
    /* the window's last sample came with block (stream_start + window - 1) / block */
    const uint64_t last_block = (stream_start + (ev->end - ev->first) - 1u) / W2S_MIC_BLOCK_SAMPLES;
    const uint64_t latency = now - (mic_first_tick() + last_block * g_period_ticks);
    lv->latency_max = latency > lv->latency_max ? latency : lv->latency_max;
    lv->analysed++;
    memcpy(bits, ev->adv_f32, sizeof bits);
    printf("  bits %08lx %08lx %08lx  kinstr frontend 0 engine %lu  start %lu latency_us %lu\n",
           (unsigned long)bits[0], (unsigned long)bits[1], (unsigned long)bits[2],
           kinstr(ev->engine_cycles),
           (unsigned long)stream_start, ticks_us(latency));
}

/* Sleep until the microphone's next block: SysTick wakes the WFI even with interrupts masked, and QEMU's
 * -icount sleep=off jumps the emulated time there. */
static void wait_for_block(live_t *lv)
{
    const uint64_t t0 = board_ticks();
    __asm volatile("cpsid i" ::: "memory");
    if (w2s_ring_count(&g_app.ring) == 0u && !mic_done()) {
        __asm volatile("wfi");
    }
    __asm volatile("cpsie i" ::: "memory");
    lv->idle_ticks += board_ticks() - t0;
}

int main(void)
{
    static char cmdline[256];
    char *args[2];
    char why[W2S_WAV_LINE_BYTES];
    const char *call = "";
    const char *usage = "make live WAV=clip.wav MHZ=180 [CPI=1.32]";
    live_t lv = {0};
    w2s_status_t st;
    const char *path = board_wav_path(cmdline, sizeof cmdline, 2, args);

    if (path == NULL) {
        printf("error: no WAV path on the semihosting command line (%s; at most %u characters)\n", usage,
               (unsigned)(sizeof cmdline - sizeof "w2s_live.elf 180 1.32 "));
        return 2;
    }
    const double mhz = strtod(args[0], NULL), cpi = strtod(args[1], NULL);
    if ((g_period_ticks = mic_period_ticks(mhz, cpi)) == 0u) {
        printf("error: MHZ %s and CPI %s give no SysTick period of 1 .. 2^24 ticks per %u samples (%s)\n",
               args[0], args[1], (unsigned)W2S_MIC_BLOCK_SAMPLES, usage);
        return 2;
    }
    g_hz = (uint32_t)(mhz * 1e6 + 0.5);
    g_cycles_per_block = (uint64_t)g_hz * W2S_MIC_BLOCK_SAMPLES / W2S_SAMPLE_RATE_HZ;
    if ((st = w2s_wav_open(&g_wav, path)) != W2S_OK) {
        w2s_wav_describe(&g_wav, st, why, sizeof why);
        printf("error: %s: %s\n", path, why);
        return 2;
    }
    /* printed before the microphone starts: stdout's buffer is allocated here, not under its interrupt */
    printf("live: %s MHz, %s cycles per instruction: %u samples every %lu SysTick ticks, ring %u samples\n",
           args[0], args[1], (unsigned)W2S_MIC_BLOCK_SAMPLES, (unsigned long)g_period_ticks,
           (unsigned)W2S_RING_SAMPLES);
    const uint64_t t_start = board_ticks();
    st = w2s_app_start(&g_app, NULL, 0u, &call);
    /* done first: then the ring's count is final; then the queued window's last rows */
    while (st == W2S_OK && (!mic_done() || w2s_ring_count(&g_app.ring) > 0u || g_app.pipe.taken < g_app.pipe.queued ||
                            g_app.silent_pending)) {
        w2s_app_event_t ev;
        if ((st = w2s_app_poll(&g_app, &ev, &call)) != W2S_OK) {
            break;
        }
        if (ev.answered) {
            report(&lv, &ev);
        }
        if (ev.samples == 0u && ev.rows == 0u) {
            wait_for_block(&lv);
        }
    }
    if (st != W2S_OK) {
        printf("error: %s: %s\n", call, w2s_status_str(st));
        return 1;
    }
    const uint64_t span = board_ticks() - t_start;
    if ((st = mic_status()) != W2S_OK) {
        w2s_wav_describe(&g_wav, st, why, sizeof why);
        printf("error: %s: %s\n", path, why);
        return 2;
    }
    w2s_wav_close(&g_wav);
    printf("summary: windows %u samples %lu kinstr frontend 0 engine %lu stack_high_water %lu B engine_state %lu B\n",
           lv.answered, (unsigned long)g_wav.samples_read,
           kinstr(lv.engine_cycles),
           (unsigned long)board_stack_high_water(), (unsigned long)sizeof g_app.engine);
    printf("live: windows_total %lu windows_analysed %u partial_windows %u dropped_samples %lu busy_us %lu "
           "span_us %lu latency_us_max %lu windows_cut %lu longest_step_us %lu ring_peak %lu\n",
           (unsigned long)(mic_samples() / W2S_WINDOW_SAMPLES), lv.analysed, lv.partial,
           (unsigned long)w2s_ring_dropped(&g_app.ring), ticks_us(span - lv.idle_ticks), ticks_us(span),
           ticks_us(lv.latency_max), (unsigned long)g_app.windows_cut,
           (unsigned long)(g_app.longest_step * 1000000u / g_hz), (unsigned long)g_app.ring_peak);
    return 0;
}
