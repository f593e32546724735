/* w2s_app (common/w2s_app.c), the main loop every microphone board runs, on the host with a fake clock and a
 * fake microphone: the schedule's bookkeeping in seconds, no board and no QEMU (tests/test_app_schedule.py).
 *
 * usage: app_harness IN.s16 CPU_HZ ROW_CYCLES SAMPLE_CYCLES BLOCK_SAMPLES
 *
 * The clock. board_cycles() first charges the work the app did since its previous call, read from the app's own
 * state: ROW_CYCLES per engine row taken (app.pipe.taken) and SAMPLE_CYCLES per sample fed to the front end
 * (app.pipe.frontend.count); reading the ring, skipping audio, quantising the queue and printing cost nothing.
 * The app brackets every feed and every engine step with two board_cycles calls, so the second call charges
 * exactly the work between them: what the app measures is what was charged, and Python predicts it as
 * frames * ROW_CYCLES (a window's engine) and window * SAMPLE_CYCLES (its front end). (A window is longer than
 * a chunk, so one feed completes at most one window: the count falls only at a completion or a restart, and a
 * restart is seen in app.windows_cut.)
 * The microphone. After each charge, every block of BLOCK_SAMPLES whose last sample's time (16 kHz at CPU_HZ)
 * has passed is written into the ring, as the board's DMA interrupt would have by then; what does not fit is
 * dropped (w2s_ring_write), and each run of drops is recorded at the count of samples the ring had accepted, as
 * qemu-f411/mic_qemu.c records them. When a poll did nothing the loop sleeps: the clock jumps to the next block.
 *
 * Output: board_print's lines as they are; per answered window one line
 *   "window K first F end E start S inside D bits A,D,V plain A,D,V equal Q engine C latency L cut N at T"
 * (its span in samples read from the ring, S its first sample in IN.s16, D the samples dropped inside it, its
 * float bits in hex, the plain path's: the same samples [S, S + window) through a fresh pipeline and
 * w2s_infer_window_f32, Q 1 if the bits are equal, the app's cycles, the windows cut so far, the clock); then
 *   "totals answered N cut C dropped D windows_total T read R lines L cycles X"
 * (L: the board's answer lines). Exit 0, or 2 usage, 3 input, 4 a failed call, 5 stuck (the app had work left
 * that no poll did). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "model_config.h"
#include "w2s_app.h"
#include "w2s_infer.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"

#define MAX_GAPS 4096u

typedef struct {
    uint32_t at;      /**< samples the ring had accepted when the run began: it sits before that sample */
    uint32_t samples; /**< samples dropped in the run */
} gap_t;

static w2s_app_t g_app;

static struct {
    uint64_t clock;          /**< cycles since board_start_audio */
    uint32_t hz;             /**< board_cpu_hz */
    uint64_t row_cycles;     /**< per engine row */
    uint64_t sample_cycles;  /**< per sample fed to the front end */
    w2s_ring_t *ring;        /**< board_start_audio's */
    const int16_t *pcm;      /**< the source audio */
    uint32_t n;              /**< its samples */
    uint32_t block;          /**< samples per microphone block */
    uint32_t delivered;      /**< source samples offered to the ring */
    uint32_t written;        /**< samples the ring accepted */
    gap_t gaps[MAX_GAPS];
    uint32_t n_gaps;
    uint32_t taken, count, cut; /**< the app's rows taken, samples fed, windows cut, as last charged */
    uint32_t lines;          /**< board_print's answer lines ("A=...") */
} g;

/* The app's work since the last charge, in cycles (see the top of the file). */
static uint64_t work_since_last_charge(void)
{
    const w2s_pipeline_t *p = &g_app.pipe;
    const uint32_t taken = p->taken, count = p->frontend.count, cut = g_app.windows_cut;
    const uint32_t rows = taken >= g.taken ? taken - g.taken : taken; /* fell: a new window was queued */
    uint32_t fed;
    if (cut != g.cut) {
        fed = count; /* restarted since: the cut window's samples were charged when fed */
    } else if (count >= g.count) {
        fed = count - g.count;
    } else {
        fed = p->config->window_samples - g.count + count; /* a window completed */
    }
    g.taken = taken;
    g.count = count;
    g.cut = cut;
    return rows * g.row_cycles + fed * g.sample_cycles;
}

/* Cycles at which the next block's last sample has been captured. */
static uint64_t next_block_due(void)
{
    const uint64_t end = (uint64_t)g.delivered + g.block;
    return end * g.hz / W2S_SAMPLE_RATE_HZ;
}

/* Every block whose time has passed, into the ring; runs of drops recorded. */
static void microphone(void)
{
    while (g.ring != NULL && g.delivered < g.n && g.clock >= next_block_due()) {
        const uint32_t want = g.n - g.delivered < g.block ? g.n - g.delivered : g.block;
        const uint32_t put = w2s_ring_write(g.ring, g.pcm + g.delivered, want);
        if (put < want) {
            gap_t *last = g.n_gaps > 0u ? &g.gaps[g.n_gaps - 1u] : NULL;
            if (last != NULL && last->at == g.written + put) {
                last->samples += want - put; /* no sample accepted since the run began: the same run */
            } else if (g.n_gaps < MAX_GAPS) {
                g.gaps[g.n_gaps].at = g.written + put;
                g.gaps[g.n_gaps].samples = want - put;
                g.n_gaps++;
            } else {
                fprintf(stderr, "more than %u runs of drops\n", MAX_GAPS);
                exit(3);
            }
        }
        g.written += put;
        g.delivered += want;
    }
}

w2s_status_t board_init(void)
{
    return W2S_OK;
}

w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    g.ring = ring;
    return W2S_OK;
}

uint32_t board_cycles(void)
{
    g.clock += work_since_last_charge();
    microphone();
    return (uint32_t)g.clock;
}

uint32_t board_cpu_hz(void)
{
    return g.hz;
}

void board_print(const char *line)
{
    g.lines += strncmp(line, "A=", 2) == 0;
    printf("%s\n", line);
}

/* The plain path on the same samples: a fresh pipeline, the whole window, w2s_infer_window_f32. */
static int plain_window(uint32_t start, float *adv_f32)
{
    static int16_t frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
    static int32_t dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
    static w2s_pipeline_t pipe;
    static w2s_engine_t engine;
    const uint32_t window = g_w2s_frontend_config.window_samples;
    size_t used = 0;
    if (start > g.n || g.n - start < window ||
        w2s_pipeline_init(&pipe, &g_w2s_frontend_config, frames_db_q7, dc_bins_q7, NULL, W2S_FRAMES_PER_WINDOW) !=
            W2S_OK ||
        !w2s_pipeline_feed(&pipe, g.pcm + start, window, &used) || used != window) {
        return 0;
    }
    return w2s_infer_window_f32(&pipe, &engine, adv_f32) == W2S_OK;
}

/* Samples dropped before sample `first` (counted in samples the ring accepted), and inside [first, end). */
static void drops(uint32_t first, uint32_t end, uint32_t *before, uint32_t *inside)
{
    *before = *inside = 0u;
    for (uint32_t k = 0; k < g.n_gaps; k++) {
        if (g.gaps[k].at <= first) {
            *before += g.gaps[k].samples;
        } else if (g.gaps[k].at < end) {
            *inside += g.gaps[k].samples;
        }
    }
}

static void report(unsigned k, const w2s_app_event_t *ev)
{
    uint32_t before, inside, bits[3], plain_bits[3];
    float plain[3] = {0.0f, 0.0f, 0.0f};
    drops(ev->first, ev->end, &before, &inside);
    const uint32_t start = ev->first + before;
    const int ok = inside == 0u && ev->end - ev->first == g_w2s_frontend_config.window_samples &&
                   plain_window(start, plain);
    memcpy(bits, ev->adv_f32, sizeof bits);
    memcpy(plain_bits, plain, sizeof plain_bits);
    printf("window %u first %" PRIu32 " end %" PRIu32 " start %" PRIu32 " inside %" PRIu32
           " bits %08" PRIx32 ",%08" PRIx32 ",%08" PRIx32 " plain %08" PRIx32 ",%08" PRIx32 ",%08" PRIx32
           " equal %d engine %" PRIu64 " latency %" PRIu64 " cut %" PRIu32 " at %" PRIu64 "\n",
           k, ev->first, ev->end, start, inside, bits[0], bits[1], bits[2], plain_bits[0], plain_bits[1],
           plain_bits[2], ok && memcmp(bits, plain_bits, sizeof bits) == 0, ev->engine_cycles, ev->latency_cycles,
           g_app.windows_cut, g.clock);
}

static int16_t *read_pcm(const char *path, uint32_t *n)
{
    FILE *f = fopen(path, "rb");
    long bytes;
    int16_t *pcm;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (bytes = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        return NULL;
    }
    *n = (uint32_t)((size_t)bytes / sizeof(int16_t));
    pcm = malloc((size_t)*n * sizeof(int16_t) + 1u);
    if (pcm == NULL || fread(pcm, sizeof(int16_t), *n, f) != *n) {
        free(pcm);
        pcm = NULL;
    }
    fclose(f);
    return pcm;
}

static int work_left(void)
{
    return g.delivered < g.n || w2s_ring_count(&g_app.ring) > 0u || g_app.pipe.taken < g_app.pipe.queued;
}

int main(int argc, char **argv)
{
    const char *call = "";
    unsigned answered = 0;
    if (argc != 6) {
        fprintf(stderr, "usage: app_harness IN.s16 CPU_HZ ROW_CYCLES SAMPLE_CYCLES BLOCK_SAMPLES\n");
        return 2;
    }
    g.hz = (uint32_t)strtoul(argv[2], NULL, 10);
    g.row_cycles = strtoull(argv[3], NULL, 10);
    g.sample_cycles = strtoull(argv[4], NULL, 10);
    g.block = (uint32_t)strtoul(argv[5], NULL, 10);
    if (g.hz == 0u || g.block == 0u || g.block > W2S_RING_SAMPLES || (g.pcm = read_pcm(argv[1], &g.n)) == NULL) {
        fprintf(stderr, "bad arguments or input (a block at most the ring, %u samples)\n", (unsigned)W2S_RING_SAMPLES);
        return 3;
    }
    w2s_status_t st = w2s_app_start(&g_app, NULL, 0u, &call);
    while (st == W2S_OK && work_left()) {
        w2s_app_event_t ev;
        if ((st = w2s_app_poll(&g_app, &ev, &call)) != W2S_OK) {
            break;
        }
        if (ev.answered) {
            report(++answered, &ev);
        }
        if (ev.samples == 0u && ev.rows == 0u) {
            if (g.delivered >= g.n) {
                fprintf(stderr, "stuck: a poll did nothing with work left and the microphone done\n");
                return 5;
            }
            g.clock = g.clock > next_block_due() ? g.clock : next_block_due(); /* sleep until the next block */
            microphone();
        }
    }
    if (st != W2S_OK) {
        fprintf(stderr, "%s: %s\n", call, w2s_status_str(st));
        return 4;
    }
    printf("totals answered %u cut %" PRIu32 " dropped %" PRIu32 " windows_total %" PRIu32 " read %" PRIu32
           " lines %" PRIu32 " cycles %" PRIu64 "\n",
           answered, g_app.windows_cut, w2s_ring_dropped(&g_app.ring), g.n / g_w2s_frontend_config.window_samples,
           g_app.consumed, g.lines, g.clock);
    return 0;
}
