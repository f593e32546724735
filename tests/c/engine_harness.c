/* Harness for the streaming engine (host, or a Cortex-M4 in QEMU through semihosting files):
 * int8 log-mel windows in, each output's bits out. Input (stdin, or the file argv[1]): per window, uint32
 * frames then frames * W2S_ENGINE_N_MELS int8. Output (stdout, or the file argv[2]): per window, the
 * pooled rows and three float32 bit patterns in hex, then each column's sums (for the mirror test). */
#include <stdio.h>
#include <string.h>

#include "w2s_engine.h"

static w2s_engine_t engine; /* static: the state is the engine's whole RAM */

int main(int argc, char **argv)
{
    uint32_t frames;
    int8_t row[W2S_ENGINE_N_MELS];
    FILE *in = argc > 1 ? fopen(argv[1], "rb") : stdin;
    FILE *out = argc > 2 ? fopen(argv[2], "w") : stdout;
    if (in == NULL || out == NULL) {
        return 3;
    }
    while (fread(&frames, sizeof frames, 1, in) == 1) {
        w2s_engine_window_start(&engine, &g_w2s_engine_model);
        for (uint32_t t = 0; t < frames; t++) {
            if (fread(row, 1, sizeof row, in) != sizeof row) {
                return 2;
            }
            w2s_engine_push_s8(&engine, row);
        }
        float adv[W2S_ENGINE_OUTPUTS];
        const uint32_t rows = w2s_engine_window_end_f32(&engine, adv);
        uint32_t bits[W2S_ENGINE_OUTPUTS];
        memcpy(bits, adv, sizeof bits);
        fprintf(out, "%lu %08lx %08lx %08lx\n", (unsigned long)rows, (unsigned long)bits[0], (unsigned long)bits[1],
                (unsigned long)bits[2]);
        for (uint32_t j = 0; j < W2S_ENGINE_COLUMNS; j++) {
            fprintf(out, "%lld %lld %d\n", (long long)engine.sum0[j], (long long)engine.sum1[j], engine.block_exp[j]);
        }
    }
    fprintf(out, "state %lu\n", (unsigned long)sizeof(w2s_engine_t));
    return fclose(out) == 0 ? 0 : 4;
}
