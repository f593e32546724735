/* Cortex-M4 cost of each stage of one front-end frame, to show where the instructions go.
 * Includes w2s_frontend.c to reach its static stages. Timed like fe_bench.c (CMSDK timer under
 * qemu -icount shift=0: instructions = ticks * 40), averaged over 1000 runs on one pseudo-random frame;
 * the stages have no data-dependent loops, only the log's normalising shift branches.
 * Prints: frame window fft32 mel_log (instructions per frame). */
#include <stdio.h>

#include "w2s_frontend.c"

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
#define RUNS 1000u

static volatile int32_t sink;

static uint32_t per_run(uint32_t t0, uint32_t t1) { return (t0 - t1) * 40u / RUNS; }

int main(void)
{
    int16_t x[W2S_FE_N_FFT], db[W2S_FE_N_MELS];
    int32_t re[32], im[32], dc[W2S_FE_DC_BINS];
    uint64_t power[W2S_FE_N_BINS];
    uint32_t i, n, m, t0, seed = 12345u;
    uint32_t c_frame, c_window, c_fft, c_mel;

    for (i = 0; i < W2S_FE_N_FFT; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (int16_t)((int32_t)((seed >> 16) & 0x3fffu) - 8192);
    }
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u;

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        frame(x, db, dc);
    }
    c_frame = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) { /* the windowing and bit-reversal loop of frame() */
        for (i = 0; i < 32u; i++) {
            uint32_t src = 2u * g_w2s_bitrev5[i];
            re[i] = (int32_t)(((int32_t)x[src] * (int32_t)g_w2s_hann_q15[src] + (1 << (HANN_SHIFT - 1))) >> HANN_SHIFT);
            im[i] = (int32_t)(((int32_t)x[src + 1] * (int32_t)g_w2s_hann_q15[src + 1] + (1 << (HANN_SHIFT - 1)))
                              >> HANN_SHIFT);
        }
        sink = re[n & 31u];
    }
    c_window = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        fft32(re, im);
        sink = re[n & 31u];
    }
    c_fft = per_run(t0, TIMER0_VALUE);

    for (i = 0; i < W2S_FE_N_BINS; i++) {
        power[i] = (uint64_t)(i * 7919u + 1u) << 20;
    }
    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        for (m = 0; m < W2S_FE_N_MELS; m++) {
            db[m] = mel_db_q7(power, m);
        }
        sink = db[n % W2S_FE_N_MELS];
    }
    c_mel = per_run(t0, TIMER0_VALUE);

    printf("frame %lu window %lu fft32 %lu mel_log %lu\n", (unsigned long)c_frame, (unsigned long)c_window,
           (unsigned long)c_fft, (unsigned long)c_mel);
    return 0;
}
