/* Host build of the portable pipeline: WAV file -> ring buffer -> fixed-point front end -> model step,
 * one line per window. The model step, chosen when compiled:
 *   w2s_budget.h W2S_USE_TFLM 0: the w2s streaming engine (w2s/w2s_infer.c), no TFLM. Each window's
 *     line is followed by its three float32 outputs' bit patterns, as the qemu-f411 firmware prints them;
 *   W2S_WITH_TFLM defined (make TFLM_DIR=... in a tflm project): TFLM (w2s/w2s_model.cc);
 *   a tflm project built without TFLM_DIR: none, the program writes the int8 windows the model would receive.
 * Every status is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_config.h"
#include "w2s_budget.h"
#include "w2s_format.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"

#define STEP_ENGINE 0 /* the w2s engine */
#define STEP_NONE 1   /* front end only */
#define STEP_TFLM 2   /* TFLM */
#if defined(W2S_WITH_TFLM)
#define MODEL_STEP STEP_TFLM
#include "w2s_model.h"
#elif W2S_USE_TFLM
#define MODEL_STEP STEP_NONE
#else
#define MODEL_STEP STEP_ENGINE
#include "w2s_infer.h"
#endif

#define RING_SAMPLES 4096u
#define WINDOW_VALUES (W2S_FRAMES_PER_WINDOW * W2S_N_MELS)

static int16_t ring_storage[RING_SAMPLES];
static int16_t frames_db_q7[WINDOW_VALUES];
static int32_t dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
#if MODEL_STEP == STEP_ENGINE
static w2s_engine_t engine; /* the same size for any window */
#else
static int8_t features_s8[WINDOW_VALUES]; /* the model's input when there is no model */
#endif

/* 16-bit mono PCM from a RIFF/WAVE file; returns samples, or -1. */
static long read_wav(const char *path, int16_t **out)
{
    unsigned char h[12], ck[8];
    unsigned long size;
    int fmt_ok = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL || fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVE", 4) != 0) {
        return -1;
    }
    while (fread(ck, 1, 8, f) == 8) {
        size = (unsigned long)ck[4] | ((unsigned long)ck[5] << 8) | ((unsigned long)ck[6] << 16) |
               ((unsigned long)ck[7] << 24);
        if (memcmp(ck, "fmt ", 4) == 0) {
            unsigned char fmt[16];
            if (size < 16 || fread(fmt, 1, 16, f) != 16) {
                return -1;
            }
            /* PCM, 1 channel, 16 kHz, 16 bits */
            fmt_ok = fmt[0] == 1 && fmt[2] == 1 && (fmt[4] | (fmt[5] << 8)) == (int)W2S_SAMPLE_RATE_HZ &&
                     fmt[14] == 16;
            fseek(f, (long)(size - 16 + (size & 1u)), SEEK_CUR);
        } else if (memcmp(ck, "data", 4) == 0) {
            long n = (long)(size / 2u);
            if (!fmt_ok) {
                return -1;
            }
            *out = malloc((size_t)n * sizeof(int16_t) + 2);
            if (*out == NULL || fread(*out, 2, (size_t)n, f) != (size_t)n) {
                return -1;
            }
            fclose(f);
            return n;
        } else {
            fseek(f, (long)(size + (size & 1u)), SEEK_CUR);
        }
    }
    return -1;
}

/* The window's int8 model input: the whole window (input_s8), or the engine's rows (input_s8 NULL). */
static int write_features(const w2s_pipeline_t *pipe, const int8_t *input_s8, FILE *out)
{
    int8_t row_s8[W2S_N_MELS];
    if (input_s8 != NULL) {
        return fwrite(input_s8, 1, WINDOW_VALUES, out) == WINDOW_VALUES;
    }
    for (uint32_t t = 0; t < pipe->window_frames; t++) {
        w2s_pipeline_row_s8(pipe, t, row_s8);
        if (fwrite(row_s8, 1, sizeof row_s8, out) != sizeof row_s8) {
            return 0;
        }
    }
    return 1;
}

static int fail(const char *call, w2s_status_t status)
{
    fprintf(stderr, "error: %s: %s\n", call, w2s_status_str(status));
    return 1;
}

#if MODEL_STEP == STEP_TFLM
/* The model step on the window in its input tensor, and the window's line on stdout. */
static w2s_status_t run_model(const w2s_pipeline_t *pipe, unsigned window, const char **call)
{
    int8_t adv_s8[W2S_OUTPUT_COUNT];
    char line[96];
    w2s_status_t st;
    (void)pipe; /* TFLM reads the window from its input tensor, where the pipeline wrote it */
    *call = "w2s_model_invoke_s8";
    if ((st = w2s_model_invoke_s8(adv_s8)) != W2S_OK) {
        return st;
    }
    *call = "w2s_format_adv";
    st = w2s_format_adv(line, sizeof line, adv_s8, W2S_OUTPUT_ZERO_POINT, W2S_OUTPUT_MILLI_MULT_Q16, 0u);
    if (st == W2S_OK) {
        printf("window %u: %s\n", window, line);
    }
    return st;
}
#elif MODEL_STEP == STEP_ENGINE
/* The engine on the window the pipeline completed; its line and its outputs' bit patterns on stdout. */
static w2s_status_t run_model(const w2s_pipeline_t *pipe, unsigned window, const char **call)
{
    float adv_f32[W2S_ENGINE_OUTPUTS];
    uint32_t bits[W2S_ENGINE_OUTPUTS];
    char line[96];
    w2s_status_t st;
    const clock_t t0 = clock();
    *call = "w2s_infer_window_f32";
    if ((st = w2s_infer_window_f32(pipe, &engine, adv_f32)) != W2S_OK) {
        return st;
    }
    const double us = (double)(clock() - t0) * 1e6 / CLOCKS_PER_SEC; /* the host's CPU time */
    *call = "w2s_format_adv_f32";
    if ((st = w2s_format_adv_f32(line, sizeof line, adv_f32, us > 0.0 ? (uint32_t)us : 0u)) != W2S_OK) {
        return st;
    }
    memcpy(bits, adv_f32, sizeof bits);
    printf("window %u: %s\n", window, line);
    printf("  bits %08lx %08lx %08lx\n", (unsigned long)bits[0], (unsigned long)bits[1], (unsigned long)bits[2]);
    return W2S_OK;
}
#endif

int main(int argc, char **argv)
{
    int16_t *pcm = NULL, chunk[256];
#if MODEL_STEP == STEP_ENGINE
    int8_t *input_s8 = NULL; /* the engine reads the window row by row: no int8 window buffer */
#else
    int8_t *input_s8 = features_s8;
#endif
    long n, pos = 0;
    unsigned windows = 0;
    w2s_status_t st;
    w2s_ring_t ring;
    w2s_pipeline_t pipe;
    FILE *out = NULL;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.wav [FEATURES.s8]\n  16 kHz mono 16-bit PCM\n", argv[0]);
        return 2;
    }
    n = read_wav(argv[1], &pcm);
    if (n < 0) {
        fprintf(stderr, "error: %s is not a 16 kHz mono 16-bit PCM WAV file\n", argv[1]);
        return 2;
    }
    if (argc > 2 && (out = fopen(argv[2], "wb")) == NULL) {
        fprintf(stderr, "error: cannot write %s\n", argv[2]);
        return 2;
    }
    if ((st = w2s_ring_init(&ring, ring_storage, RING_SAMPLES)) != W2S_OK) {
        return fail("w2s_ring_init", st);
    }
#if MODEL_STEP == STEP_TFLM
    {
        uint8_t *arena = malloc(W2S_ARENA_BYTES); /* malloc's alignment on a 64-bit host: 16, as TFLM needs */
        if (arena == NULL) {
            fprintf(stderr, "error: no memory for the %u-byte arena\n", (unsigned)W2S_ARENA_BYTES);
            return 1;
        }
        if ((st = w2s_model_init(arena, W2S_ARENA_BYTES, &input_s8)) != W2S_OK) {
            return fail("w2s_model_init", st);
        }
    }
#endif
    st = w2s_pipeline_init(&pipe, &g_w2s_frontend_config, frames_db_q7, dc_bins_q7, input_s8, W2S_FRAMES_PER_WINDOW);
    if (st != W2S_OK) {
        return fail("w2s_pipeline_init", st);
    }
    while (pos < n || w2s_ring_count(&ring) > 0) {
        /* the "DMA": 512 samples at a time into the ring */
        if (pos < n) {
            long k = n - pos < 512 ? n - pos : 512;
            pos += (long)w2s_ring_write(&ring, pcm + pos, (uint32_t)k);
        }
        while (w2s_ring_count(&ring) > 0) {
            const uint32_t got = w2s_ring_read(&ring, chunk, 256u);
            size_t off, used = 0;
            for (off = 0; off < got; off += used) {
                if (!w2s_pipeline_feed(&pipe, chunk + off, got - off, &used)) {
                    continue;
                }
                windows++;
                if (out != NULL && !write_features(&pipe, input_s8, out)) {
                    fprintf(stderr, "error: cannot write %s\n", argv[2]);
                    return 1;
                }
#if MODEL_STEP != STEP_NONE
                {
                    const char *call = "";
                    if ((st = run_model(&pipe, windows, &call)) != W2S_OK) {
                        return fail(call, st);
                    }
                }
#endif
            }
        }
    }
    printf("%u window(s) of %u frames x %u mels\n", windows, (unsigned)W2S_FRAMES_PER_WINDOW, (unsigned)W2S_N_MELS);
    if (out != NULL && fclose(out) != 0) {
        fprintf(stderr, "error: cannot write %s\n", argv[2]);
        return 1;
    }
    free(pcm);
    return 0;
}
