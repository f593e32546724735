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
#include "w2s_wav.h"

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
#define DMA_SAMPLES 512u
#define WINDOW_VALUES (W2S_FRAMES_PER_WINDOW * W2S_N_MELS)

static int16_t ring_storage[RING_SAMPLES];
static int16_t frames_db_q7[WINDOW_VALUES];
static int32_t dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
#if MODEL_STEP == STEP_ENGINE
static w2s_engine_t engine; /* the same size for any window */
#else
static int8_t features_s8[WINDOW_VALUES]; /* the model's input when there is no model */
#endif

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
    int16_t block[DMA_SAMPLES], chunk[256];
#if MODEL_STEP == STEP_ENGINE
    int8_t *input_s8 = NULL; /* the engine reads the window row by row: no int8 window buffer */
#else
    int8_t *input_s8 = features_s8;
#endif
    uint32_t block_n = 1; /* samples the last read gave; 0: the end of the file */
    unsigned windows = 0;
    char why[W2S_WAV_LINE_BYTES];
    w2s_wav_t wav;
    w2s_status_t st;
    w2s_ring_t ring;
    w2s_pipeline_t pipe;
    FILE *out = NULL;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.wav [FEATURES.s8]\n  16 kHz mono 16-bit PCM\n", argv[0]);
        return 2;
    }
    if ((st = w2s_wav_open(&wav, argv[1])) != W2S_OK) {
        w2s_wav_describe(&wav, st, why, sizeof why);
        fprintf(stderr, "error: %s: %s\n", argv[1], why);
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
    while (block_n > 0 || w2s_ring_count(&ring) > 0) {
        if (block_n > 0) { /* the "DMA": 512 samples at a time into the ring */
            if ((st = w2s_wav_read_s16(&wav, block, DMA_SAMPLES, &block_n)) != W2S_OK) {
                w2s_wav_describe(&wav, st, why, sizeof why);
                fprintf(stderr, "error: %s: %s\n", argv[1], why);
                return 2;
            }
            if (w2s_ring_write(&ring, block, block_n) != block_n) { /* drained before each block: never */
                fprintf(stderr, "error: the audio ring dropped samples\n");
                return 1;
            }
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
    w2s_wav_close(&wav);
    return 0;
}
