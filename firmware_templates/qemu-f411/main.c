/* {{PROJECT}}: the nucleo-f411re firmware with the microphone replaced by a WAV file read through
 * semihosting: WAV -> "DMA" blocks -> ring buffer -> fixed-point front end -> w2s engine -> one line per
 * window. Runs on qemu-system-arm -M netduinoplus2 (make run WAV=clip.wav).
 * Times are instruction counts (QEMU -icount shift=0), not cycles: a real F411 needs more cycles than
 * instructions (flash wait states, multi-cycle loads). Every status is checked. */
#include <stdio.h>
#include <string.h>

#include "board_qemu.h"
#include "model_config.h"
#include "w2s_format.h"
#include "w2s_infer.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"
#include "w2s_wav.h"

#define RING_SAMPLES 4096u
#define DMA_SAMPLES 512u
#define CHUNK_SAMPLES 256u
#define CPU_MHZ 100u /* the F411's clock, for the t= figure (one instruction per cycle: a lower bound) */

static int16_t g_ring_storage[RING_SAMPLES];
static int16_t g_frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS]; /* exact prenorm needs the window */
static int32_t g_dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
static w2s_engine_t g_engine;                                      /* the same size for any window */

#ifdef W2S_ENGINE_PROFILE
extern uint64_t g_w2s_engine_layer_ticks[W2S_ENGINE_LAYERS + 1];
uint32_t w2s_profile_ticks(void)
{
    return (uint32_t)board_ticks();
}
#endif

static int fail(const char *call, w2s_status_t status)
{
    printf("error: %s: %s\n", call, w2s_status_str(status));
    return 1;
}

static unsigned long kinstr(uint64_t ticks)
{
    return (unsigned long)(ticks / BOARD_TICKS_PER_KINSTR);
}

/* The semihosting command line ("w2s.elf clip.wav"): the WAV path follows the first space. */
static const char *wav_path(char *buf, uint32_t cap)
{
    struct {
        char *buf;
        uint32_t len;
    } block = {buf, cap - 1u};
    register uint32_t r0 __asm__("r0") = 0x15u; /* SYS_GET_CMDLINE */
    register void *r1 __asm__("r1") = &block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    if (r0 != 0u) {
        return NULL;
    }
    buf[block.len] = '\0';
    const char *space = strchr(buf, ' ');
    return space != NULL && space[1] != '\0' ? space + 1 : NULL;
}

static void print_window(unsigned window, const float adv[3], uint64_t engine_ticks, uint64_t frontend_ticks)
{
    char line[96];
    uint32_t bits[3];
    const unsigned long engine_k = kinstr(engine_ticks);
    w2s_status_t st = w2s_format_adv_f32(line, sizeof line, adv, (uint32_t)(engine_k * 1000u / CPU_MHZ));
    if (st != W2S_OK) {
        fail("w2s_format_adv_f32", st);
        return;
    }
    memcpy(bits, adv, sizeof bits);
    printf("window %u: %s\n", window, line);
    printf("  bits %08lx %08lx %08lx  kinstr frontend %lu engine %lu\n", (unsigned long)bits[0],
           (unsigned long)bits[1], (unsigned long)bits[2], kinstr(frontend_ticks), engine_k);
}

int main(void)
{
    static char cmdline[256];
    int16_t block[DMA_SAMPLES], chunk[CHUNK_SAMPLES];
    w2s_ring_t ring;
    w2s_pipeline_t pipe;
    w2s_status_t st;
    unsigned windows = 0;
    uint64_t frontend_ticks = 0, window_frontend = 0, engine_ticks = 0;
    uint32_t block_n = 1; /* samples the last read gave; 0: the end of the file */
    char why[W2S_WAV_LINE_BYTES];
    w2s_wav_t wav;

    const char *path = wav_path(cmdline, sizeof cmdline);
    if (path == NULL) {
        printf("error: no WAV path on the semihosting command line (make run WAV=clip.wav; at most %u characters)\n",
               (unsigned)(sizeof cmdline - sizeof "w2s.elf "));
        return 2;
    }
    if ((st = w2s_wav_open(&wav, path)) != W2S_OK) {
        w2s_wav_describe(&wav, st, why, sizeof why);
        printf("error: %s: %s\n", path, why);
        return 2;
    }
    if ((st = w2s_ring_init(&ring, g_ring_storage, RING_SAMPLES)) != W2S_OK) {
        return fail("w2s_ring_init", st);
    }
    st = w2s_pipeline_init(&pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins_q7, NULL, W2S_FRAMES_PER_WINDOW);
    if (st != W2S_OK) {
        return fail("w2s_pipeline_init", st);
    }
    while (block_n > 0 || w2s_ring_count(&ring) > 0) {
        if (block_n > 0) { /* the "DMA": one block into the ring */
            if ((st = w2s_wav_read_s16(&wav, block, DMA_SAMPLES, &block_n)) != W2S_OK) {
                w2s_wav_describe(&wav, st, why, sizeof why);
                printf("error: %s: %s\n", path, why);
                return 2;
            }
            if (w2s_ring_write(&ring, block, block_n) != block_n) { /* drained before each block: never */
                printf("error: the audio ring dropped samples\n");
                return 1;
            }
        }
        while (w2s_ring_count(&ring) > 0) {
            const uint32_t got = w2s_ring_read(&ring, chunk, CHUNK_SAMPLES);
            for (size_t off = 0, used = 0; off < got; off += used) {
                const uint64_t t0 = board_ticks();
                const int done = w2s_pipeline_feed(&pipe, chunk + off, got - off, &used);
                window_frontend += board_ticks() - t0;
                if (!done) {
                    continue;
                }
                float adv[W2S_ENGINE_OUTPUTS];
                const uint64_t t1 = board_ticks();
                if ((st = w2s_infer_window_f32(&pipe, &g_engine, adv)) != W2S_OK) {
                    return fail("w2s_infer_window_f32", st);
                }
                const uint64_t t2 = board_ticks();
                print_window(++windows, adv, t2 - t1, window_frontend);
                frontend_ticks += window_frontend;
                engine_ticks += t2 - t1;
                window_frontend = 0;
            }
        }
    }
    w2s_wav_close(&wav);
    printf("summary: windows %u samples %lu kinstr frontend %lu engine %lu stack_high_water %lu B engine_state %lu B\n",
           windows, (unsigned long)wav.samples_read, kinstr(frontend_ticks), kinstr(engine_ticks), (unsigned long)board_stack_high_water(),
           (unsigned long)sizeof g_engine);
#ifdef W2S_ENGINE_PROFILE
    for (unsigned k = 0; k <= W2S_ENGINE_LAYERS; k++) {
        printf("profile: %s %u kinstr %lu\n", k < W2S_ENGINE_LAYERS ? "layer" : "pool", k,
               kinstr(g_w2s_engine_layer_ticks[k]));
    }
#endif
    return 0;
}
