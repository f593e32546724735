/* Cortex-M4 cost of the front end: windows of int16 PCM from a file (semihosting) through
 * push + finish + quantize, timed with the CMSDK APB timer of mps2-an386 (25 MHz).
 * Run under qemu -icount shift=0 (1 instruction = 1 ns of virtual time): instructions = ticks * 40.
 * usage: fe_bench PCM.s16 WINDOW_SAMPLES */
#include <stdio.h>
#include <stdlib.h>

#include "w2s_frontend.h"

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

static uint32_t ticks_now(void) { return TIMER0_VALUE; } /* counts down */

static volatile uint32_t sink;

int main(int argc, char **argv)
{
    FILE *f;
    long bytes;
    size_t n, win, max_frames, pos;
    int16_t *pcm, *db;
    int32_t *dc;
    int8_t *q;
    uint32_t t0, t1, loop_ticks, i;
    uint64_t total_ticks = 0, push_ticks = 0, finish_ticks = 0;
    w2s_frontend_state_t state;
    w2s_frontend_config_t config = {0u, 279365, 85};

    if (argc != 3 || (f = fopen(argv[1], "rb")) == NULL) {
        return 2;
    }
    fseek(f, 0, SEEK_END);
    bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    n = (size_t)bytes / 2u;
    win = (size_t)strtoul(argv[2], NULL, 10);
    pcm = malloc(n * 2u);
    if (pcm == NULL || fread(pcm, 2, n, f) != n) {
        return 3;
    }
    fclose(f);
    config.window_samples = (uint32_t)win;
    max_frames = (win - W2S_FE_N_FFT) / W2S_FE_HOP + 1u;
    db = malloc(max_frames * W2S_FE_N_MELS * 2u);
    dc = malloc(max_frames * W2S_FE_DC_BINS * 4u);
    q = malloc(max_frames * W2S_FE_N_MELS);
    if (db == NULL || dc == NULL || q == NULL) {
        return 4;
    }
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u;

    /* the cost of the timing itself, to subtract */
    t0 = ticks_now();
    for (i = 0; i < 1000u; i++) {
        sink = i;
    }
    t1 = ticks_now();
    loop_ticks = t0 - t1;

    for (pos = 0; pos + win <= n; pos += win) {
        size_t frames, used;
        t0 = ticks_now();
        w2s_frontend_window_start(&state);
        frames = w2s_frontend_push_s16(&state, pcm + pos, win, db, dc, max_frames, &used);
        push_ticks += (uint64_t)(t0 - ticks_now());
        w2s_frontend_finish_window(&state, db, dc, frames);
        finish_ticks += (uint64_t)(t0 - ticks_now());
        w2s_frontend_quantize_s8(db, frames * W2S_FE_N_MELS, &config, q);
        t1 = ticks_now();
        total_ticks += (uint64_t)(t0 - t1);
        sink = (uint32_t)q[frames * W2S_FE_N_MELS - 1u];
    }
    printf("samples %lu ticks %lu loop1000_ticks %lu push_ticks %lu finish_cum_ticks %lu\n",
           (unsigned long)(n - n % win), (unsigned long)total_ticks, (unsigned long)loop_ticks,
           (unsigned long)push_ticks, (unsigned long)finish_ticks);
    return 0;
}
