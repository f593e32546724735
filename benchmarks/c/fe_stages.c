/* Cortex-M4 cost of each stage of one front-end frame, to show where the instructions go.
 * Includes w2s_frontend.c to call its static stage functions, the ones frame() runs (no copies).
 * Timed like fe_bench.c (CMSDK timer under qemu -icount shift=0: instructions = ticks * 40), averaged
 * over RUNS runs on one pseudo-random frame, each stage fed what the stage before it produced; the
 * stages have no data-dependent loops, only the log's normalising shift branches.
 * The FFT works in place, so it is timed with the window in front of it, and the window subtracted.
 * Prints: frame block window fft power mel log (instructions per frame; in frame() the stages are inlined). */
#include <stdio.h>

#include "w2s_frontend.c"

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
#define RUNS 1000u

static volatile int64_t sink;

static uint32_t per_run(uint32_t t0, uint32_t t1) { return (t0 - t1) * 40u / RUNS; }

int main(void)
{
    int16_t x[W2S_FE_N_FFT], db[W2S_FE_N_MELS];
    int32_t re[W2S_FE_N_BINS], im[W2S_FE_N_BINS], dc[W2S_FE_DC_BINS];
    uint64_t power[W2S_FE_N_BINS], energy[W2S_FE_N_MELS];
    uint32_t i, n, t0, seed = 12345u;
    uint32_t c_frame, c_block, c_window, c_window_fft, c_power, c_mel, c_log;
    block_t block;

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
        sink = db[n % W2S_FE_N_MELS];
    }
    c_frame = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        block_exponent(x, &block);
        sink = block.shift;
    }
    c_block = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        window_q7(x, &block, re, im);
        sink = re[n & 31u];
    }
    c_window = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        window_q7(x, &block, re, im);
        fft_real64_q7(re, im);
        sink = re[n % W2S_FE_N_BINS];
    }
    c_window_fft = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        power_spectrum(re, im, power);
        sink = (int64_t)power[n % W2S_FE_N_BINS];
    }
    c_power = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        mel_energies(power, energy);
        sink = (int64_t)energy[n % W2S_FE_N_MELS];
    }
    c_mel = per_run(t0, TIMER0_VALUE);

    t0 = TIMER0_VALUE;
    for (n = 0; n < RUNS; n++) {
        mel_log_db_q7(energy, &block, db);
        sink = db[n % W2S_FE_N_MELS];
    }
    c_log = per_run(t0, TIMER0_VALUE);

    printf("frame %lu block %lu window %lu fft %lu power %lu mel %lu log %lu\n", (unsigned long)c_frame,
           (unsigned long)c_block, (unsigned long)c_window, (unsigned long)(c_window_fft - c_window), (unsigned long)c_power,
           (unsigned long)c_mel, (unsigned long)c_log);
    return 0;
}
