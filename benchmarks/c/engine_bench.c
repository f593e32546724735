/* Host timing of the streaming engine alone (benchmarks/bench_engine_host.py): int8 windows in (argv[1]: per
 * window, uint32 frames then frames * W2S_ENGINE_N_MELS int8), then for each of `repeats` runs the time of the
 * whole set of windows through w2s_engine_window_start/push/end, after one warm-up pass. Prints one line per
 * run: the nanoseconds per window; and a checksum of the outputs (the same in every variant). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "w2s_engine.h"

static w2s_engine_t engine;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* every window once; returns the outputs' bit patterns xored together */
static unsigned long run_all(const int8_t *data, const uint32_t *frames, size_t windows)
{
    unsigned long check = 0;
    for (size_t w = 0; w < windows; w++) {
        w2s_engine_window_start(&engine, &g_w2s_engine_model);
        for (uint32_t t = 0; t < frames[w]; t++, data += W2S_ENGINE_N_MELS) {
            w2s_engine_push_s8(&engine, data);
        }
        float out[W2S_ENGINE_OUTPUTS];
        uint32_t bits[W2S_ENGINE_OUTPUTS];
        (void)w2s_engine_window_end_f32(&engine, out);
        memcpy(bits, out, sizeof bits);
        for (size_t o = 0; o < W2S_ENGINE_OUTPUTS; o++) {
            check = check * 31u + bits[o];
        }
    }
    return check;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s windows.bin repeats\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    const int repeats = atoi(argv[2]);
    if (in == NULL || repeats < 1) {
        return 3;
    }
    static int8_t data[1u << 24];
    static uint32_t frames[4096];
    size_t windows = 0, used = 0;
    while (windows < 4096u && fread(&frames[windows], sizeof frames[0], 1, in) == 1) {
        const size_t n = (size_t)frames[windows] * W2S_ENGINE_N_MELS;
        if (used + n > sizeof data || fread(data + used, 1, n, in) != n) {
            return 4;
        }
        used += n;
        windows++;
    }
    fclose(in);
    const unsigned long check = run_all(data, frames, windows); /* warm-up */
    for (int r = 0; r < repeats; r++) {
        const double t0 = now_ns();
        const unsigned long c = run_all(data, frames, windows);
        const double t1 = now_ns();
        if (c != check) {
            return 5;
        }
        printf("%.0f\n", (t1 - t0) / (double)windows);
    }
    printf("check %08lx\n", check & 0xFFFFFFFFul);
    return 0;
}
