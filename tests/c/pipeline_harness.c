/* Test harness for the portable pipeline: PCM file -> "DMA" chunks -> ring buffer -> pipeline -> int8 windows.
 * usage: pipeline_harness IN.s16 OUT.s8 DMA_CHUNK READ_CHUNK [Q_A Q_D Q_V]
 * With Q_*: also prints w2s_format_adv() of that int8 output, as the firmware would. */
#include <stdio.h>
#include <stdlib.h>

#include "model_config.h"
#include "w2s_format.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"

static int16_t ring_storage[4096];
static int16_t frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
static int32_t dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
static int8_t input_s8[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
static int16_t chunk[4096];

int main(int argc, char **argv)
{
    FILE *f, *out;
    long bytes;
    size_t n, pos = 0, dma, rd;
    int16_t *pcm;
    unsigned windows = 0;
    w2s_ring_t ring;
    w2s_pipeline_t pipe;

    if (argc != 5 && argc != 8) {
        return 2;
    }
    if ((f = fopen(argv[1], "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 || (bytes = ftell(f)) < 0) {
        return 3;
    }
    fseek(f, 0, SEEK_SET);
    n = (size_t)bytes / 2u;
    pcm = malloc(n * 2u + 2u);
    if (pcm == NULL || fread(pcm, 2, n, f) != n) {
        return 4;
    }
    fclose(f);
    dma = (size_t)strtoul(argv[3], NULL, 10);
    rd = (size_t)strtoul(argv[4], NULL, 10);
    if ((out = fopen(argv[2], "wb")) == NULL || dma == 0 || rd == 0 || rd > 4096u || dma > 4096u) {
        return 5;
    }
    if (w2s_ring_init(&ring, ring_storage, 4096u) != W2S_OK ||
        w2s_pipeline_init(&pipe, &g_w2s_frontend_config, frames_db_q7, dc_bins_q7, input_s8,
                          W2S_FRAMES_PER_WINDOW) != W2S_OK) {
        return 6;
    }
    while (pos < n || w2s_ring_count(&ring) > 0) {
        if (pos < n) {
            /* the "DMA" delivers a block only when the ring has room, as a consumer that keeps pace would */
            size_t k = n - pos < dma ? n - pos : dma;
            if (4096u - w2s_ring_count(&ring) >= k) {
                pos += w2s_ring_write(&ring, pcm + pos, (uint32_t)k);
            }
        }
        {
            uint32_t got = w2s_ring_read(&ring, chunk, (uint32_t)rd);
            size_t off = 0;
            while (off < got) {
                size_t used = 0;
                if (w2s_pipeline_feed(&pipe, chunk + off, got - off, &used)) {
                    fwrite(input_s8, 1, sizeof input_s8, out);
                    windows++;
                }
                off += used;
            }
        }
    }
    fclose(out);
    printf("windows %u dropped %lu\n", windows, (unsigned long)w2s_ring_dropped(&ring));
    if (argc == 8) {
        int8_t adv[3];
        char line[96];
        adv[0] = (int8_t)atoi(argv[5]);
        adv[1] = (int8_t)atoi(argv[6]);
        adv[2] = (int8_t)atoi(argv[7]);
        if (w2s_format_adv(line, sizeof line, adv, W2S_OUTPUT_ZERO_POINT, W2S_OUTPUT_MILLI_MULT_Q16, 0u) != W2S_OK) {
            return 7;
        }
        printf("%s\n", line);
    }
    free(pcm);
    return 0;
}
