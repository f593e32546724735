/* The pipelined schedule's int8 queue against the plain path: the same rows, whatever rows are taken when.
 * usage: queue_harness IN.s16 WINDOW_SAMPLES MULT_Q24 ZERO_POINT CHUNK RATE SEED
 * Feeds CHUNK samples at a time; after each chunk takes up to RATE rows per 32 samples fed (0: only when the
 * feed needs their room), with a seeded jitter. Prints "rows R equal E forced F windows W". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "w2s_pipeline.h"

static uint32_t g_rng;

static uint32_t next_rand(void)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return g_rng >> 8;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        return 3;
    }
    static int16_t pcm[1u << 21];
    const size_t n = fread(pcm, sizeof pcm[0], sizeof pcm / sizeof pcm[0], f);
    fclose(f);
    w2s_frontend_config_t config;
    config.window_samples = (uint32_t)strtoul(argv[2], NULL, 10);
    config.input_mult_q24 = (int32_t)strtol(argv[3], NULL, 10);
    config.input_zero_point = (int32_t)strtol(argv[4], NULL, 10);
    const size_t chunk = strtoul(argv[5], NULL, 10);
    const uint32_t rate = (uint32_t)strtoul(argv[6], NULL, 10);
    g_rng = (uint32_t)strtoul(argv[7], NULL, 10);
    const uint32_t frames = (config.window_samples - W2S_FE_N_FFT) / W2S_FE_HOP + 1u;

    /* the plain path: every window's rows, in order */
    int16_t *db_a = malloc((size_t)frames * W2S_FE_N_MELS * sizeof(int16_t));
    int32_t *dc_a = malloc((size_t)frames * W2S_FE_DC_BINS * sizeof(int32_t));
    int8_t *want = malloc(n / W2S_FE_HOP * W2S_FE_N_MELS + 1u);
    w2s_pipeline_t a;
    size_t rows_a = 0;
    if (db_a == NULL || dc_a == NULL || want == NULL || w2s_pipeline_init(&a, &config, db_a, dc_a, NULL, frames)) {
        return 4;
    }
    for (size_t off = 0, used = 0; off < n; off += used) {
        if (w2s_pipeline_feed(&a, pcm + off, n - off, &used)) {
            for (uint32_t t = 0; t < a.window_frames; t++, rows_a++) {
                w2s_pipeline_row_s8(&a, t, want + rows_a * W2S_FE_N_MELS);
            }
        }
    }

    /* the queue: rows taken between chunks, or when the store needs their room */
    int16_t *db_b = malloc((size_t)frames * W2S_FE_N_MELS * sizeof(int16_t));
    int32_t *dc_b = malloc((size_t)frames * W2S_FE_DC_BINS * sizeof(int32_t));
    w2s_pipeline_t b;
    size_t rows_b = 0, equal = 0, forced = 0, windows = 0;
    if (db_b == NULL || dc_b == NULL || w2s_pipeline_init(&b, &config, db_b, dc_b, NULL, frames)) {
        return 5;
    }
#define TAKE()                                                                                                \
    do {                                                                                                      \
        const int8_t *row = w2s_pipeline_take_row(&b);                                                        \
        equal += rows_b < rows_a && memcmp(row, want + rows_b * W2S_FE_N_MELS, W2S_FE_N_MELS) == 0;           \
        rows_b++;                                                                                             \
    } while (0)
    for (size_t start = 0; start < n; start += chunk) {
        const size_t len = n - start < chunk ? n - start : chunk;
        for (size_t off = 0, used = 0; off < len; off += used) {
            if (w2s_pipeline_feed(&b, pcm + start + off, len - off, &used)) {
                if (b.taken != b.queued) {
                    return 6; /* a window completed over rows not yet taken */
                }
                w2s_pipeline_queue(&b);
                windows++;
            } else if (used == 0u) {
                TAKE();
                forced++;
            }
        }
        uint32_t budget = rate == 0u ? 0u : (uint32_t)(len * rate / 32u) + next_rand() % (rate + 1u);
        while (budget-- > 0u && b.taken < b.queued) {
            TAKE();
        }
    }
    while (b.taken < b.queued) {
        TAKE();
    }
    printf("rows %zu equal %zu forced %zu windows %zu of %zu\n", rows_b, equal, forced, windows, rows_a);
    return 0;
}
