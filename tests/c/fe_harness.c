/* Test harness: one int16 file in as one window, pushed in pseudo-random chunks; dB Q7 and int8 out.
 * usage: fe_harness IN.s16 OUT.bin MULT ZERO_POINT SEED
 * OUT: uint32 frames, int32 offset_db_q7, int16 db_q7[frames * mels], int8 q[frames * mels]. */
#include <stdio.h>
#include <stdlib.h>

#include "w2s_frontend.h"

static int fail(const char *msg)
{
    fprintf(stderr, "fe_harness: %s\n", msg);
    return 1;
}

int main(int argc, char **argv)
{
    FILE *f;
    long bytes;
    size_t n, max_frames, frames = 0, pos = 0, got;
    int16_t *pcm, *db;
    int32_t *dc, offset;
    int8_t *q;
    uint32_t lcg, frames32;
    w2s_frontend_state_t state;
    w2s_frontend_config_t config;

    if (argc != 6) {
        return fail("usage: fe_harness IN OUT MULT ZERO_POINT SEED");
    }
    f = fopen(argv[1], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (bytes = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        return fail("cannot read input");
    }
    n = (size_t)bytes / sizeof(int16_t);
    pcm = malloc(n * sizeof(int16_t) + 2);
    if (pcm == NULL || fread(pcm, sizeof(int16_t), n, f) != n) {
        return fail("short read");
    }
    fclose(f);
    max_frames = n >= W2S_FE_N_FFT ? (n - W2S_FE_N_FFT) / W2S_FE_HOP + 1 : 0;
    db = malloc(max_frames * W2S_FE_N_MELS * sizeof(int16_t) + 2);
    dc = malloc(max_frames * W2S_FE_DC_BINS * sizeof(int32_t) + 4);
    q = malloc(max_frames * W2S_FE_N_MELS + 1);
    if (db == NULL || dc == NULL || q == NULL) {
        return fail("out of memory");
    }
    config.window_samples = (uint32_t)n;
    config.input_mult_q24 = (int32_t)strtol(argv[3], NULL, 10);
    config.input_zero_point = (int32_t)strtol(argv[4], NULL, 10);
    lcg = (uint32_t)strtoul(argv[5], NULL, 10);

    w2s_frontend_window_start(&state);
    while (pos < n) {
        size_t chunk, used;
        lcg = lcg * 1664525u + 1013904223u;
        chunk = 1u + (size_t)((lcg >> 8) % 700u);
        if (chunk > n - pos) {
            chunk = n - pos;
        }
        got = w2s_frontend_push_s16(&state, pcm + pos, chunk, db + frames * W2S_FE_N_MELS,
                                    dc + frames * W2S_FE_DC_BINS, max_frames - frames, &used);
        frames += got;
        pos += used;
        if (used != chunk) {
            return fail("push stopped early");
        }
    }
    if (frames != max_frames) {
        return fail("wrong frame count");
    }
    offset = n > 0 ? w2s_frontend_offset_db_q7(&state) : 0;
    w2s_frontend_finish_window(&state, db, dc, frames);
    w2s_frontend_quantize_s8(db, frames * W2S_FE_N_MELS, &config, q);

    f = fopen(argv[2], "wb");
    frames32 = (uint32_t)frames;
    if (f == NULL || fwrite(&frames32, 4, 1, f) != 1 || fwrite(&offset, 4, 1, f) != 1 ||
        fwrite(db, sizeof(int16_t), frames * W2S_FE_N_MELS, f) != frames * W2S_FE_N_MELS ||
        fwrite(q, 1, frames * W2S_FE_N_MELS, f) != frames * W2S_FE_N_MELS) {
        return fail("cannot write output");
    }
    fclose(f);
    free(pcm);
    free(db);
    free(dc);
    free(q);
    return 0;
}
