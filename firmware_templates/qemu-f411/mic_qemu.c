/* mic_qemu.c: see mic_qemu.h. The interrupt is the gaps' only producer and mic_window_gap their only
 * consumer (one core): a gap is published by advancing gap_head after its fields are written. */
#include "mic_qemu.h"

#include <stddef.h>

#include "board_qemu.h"

#define GAPS 16u /* runs of drops not yet consumed: one per ring overflow, and the ring holds few windows */

typedef struct {
    uint32_t at;      /**< samples the ring had accepted when the run began: it sits before that sample */
    uint32_t samples; /**< samples dropped in the run */
} mic_gap_t;

static struct {
    w2s_ring_t *ring;
    w2s_wav_t *wav;
    int16_t block[W2S_MIC_BLOCK_SAMPLES];
    uint32_t written;             /**< samples the ring accepted */
    uint32_t delivered;           /**< samples read from the WAV */
    uint64_t first_tick;          /**< board_ticks() at the first block */
    mic_gap_t gaps[GAPS];
    volatile uint32_t gap_head;   /**< gaps ever recorded (the interrupt's) */
    uint32_t gap_tail;            /**< gaps ever consumed (the main loop's) */
    uint32_t dropped_before;      /**< samples dropped in the consumed gaps */
    volatile w2s_status_t status;
    volatile int done;
} g_mic;

w2s_status_t mic_start(w2s_ring_t *ring, w2s_wav_t *wav, uint32_t period_ticks)
{
    if (ring == NULL || wav == NULL || period_ticks == 0u || period_ticks > 0x1000000u) {
        return W2S_ERR_ARG;
    }
    g_mic.ring = ring;
    g_mic.wav = wav;
    board_timer_start(period_ticks);
    return W2S_OK;
}

/* A run of n drops before sample `at`: the last run grows if no sample was accepted since it began. */
static void record_gap(uint32_t at, uint32_t n)
{
    const uint32_t head = g_mic.gap_head;
    mic_gap_t *last = &g_mic.gaps[(head - 1u) % GAPS];
    if (head != g_mic.gap_tail && last->at == at) {
        last->samples += n;
        return;
    }
    if (head - g_mic.gap_tail == GAPS) { /* full: merge into the last run (its position is then early) */
        last->samples += n;
        return;
    }
    g_mic.gaps[head % GAPS] = (mic_gap_t){at, n};
    __asm volatile("" ::: "memory");
    g_mic.gap_head = head + 1u;
}

void mic_tick(void)
{
    uint32_t got = 0;
    if (g_mic.ring == NULL || g_mic.done) {
        return;
    }
    if (g_mic.delivered == 0u) {
        g_mic.first_tick = board_ticks();
    }
    const w2s_status_t st = w2s_wav_read_s16(g_mic.wav, g_mic.block, W2S_MIC_BLOCK_SAMPLES, &got);
    const uint32_t put = w2s_ring_write(g_mic.ring, g_mic.block, got);
    if (put < got) {
        record_gap(g_mic.written + put, got - put);
    }
    g_mic.written += put;
    g_mic.delivered += got;
    if (st != W2S_OK || got < W2S_MIC_BLOCK_SAMPLES) {
        g_mic.status = st;
        g_mic.done = 1;
    }
}

int mic_done(void)
{
    return g_mic.done;
}

w2s_status_t mic_status(void)
{
    return g_mic.status;
}

uint32_t mic_samples(void)
{
    return g_mic.delivered;
}

uint64_t mic_first_tick(void)
{
    return g_mic.first_tick;
}

uint32_t mic_window_gap(uint32_t start, uint32_t end, uint32_t *stream_start)
{
    uint32_t inside = 0;
    const uint32_t head = g_mic.gap_head;
    __asm volatile("" ::: "memory");
    /* a run at `start` lies before the window; one inside has start < at < end and has ended (at < end:
       the ring accepted a sample after it), so its count no longer changes */
    while (g_mic.gap_tail != head && g_mic.gaps[g_mic.gap_tail % GAPS].at <= start) {
        g_mic.dropped_before += g_mic.gaps[g_mic.gap_tail % GAPS].samples;
        g_mic.gap_tail++;
    }
    *stream_start = start + g_mic.dropped_before;
    while (g_mic.gap_tail != head && g_mic.gaps[g_mic.gap_tail % GAPS].at < end) {
        inside += g_mic.gaps[g_mic.gap_tail % GAPS].samples;
        g_mic.dropped_before += g_mic.gaps[g_mic.gap_tail % GAPS].samples;
        g_mic.gap_tail++;
    }
    return inside;
}
