/* mic_qemu: the live build's virtual microphone (-DW2S_LIVE). SysTick fires once per block of
 * W2S_MIC_BLOCK_SAMPLES at 16 kHz of the emulated board's time; its handler reads the block from the WAV
 * (semihosting: no emulated time) and writes it into the ring, as a DMA interrupt would. It also records
 * where the ring dropped samples, so the main loop can tell a whole window from one with a gap inside. */
#ifndef MIC_QEMU_H
#define MIC_QEMU_H

#include <stdint.h>

#include "w2s_ring.h"
#include "w2s_status.h"
#include "w2s_wav.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef W2S_MIC_BLOCK_SAMPLES
#define W2S_MIC_BLOCK_SAMPLES 256u /* a DMA half of the STM32 boards' I2S buffer (board_stm32.c) */
#endif

/**
 * @brief         Start the microphone: from now on each SysTick wrap writes one block into ring.
 * @param[in,out] ring          an initialised ring; kept
 * @param[in,out] wav           an open WAV reader; kept (read from the interrupt only)
 * @param[in]     period_ticks  SysTick ticks per block, 1 .. 2^24
 * @return        W2S_OK; W2S_ERR_ARG if a pointer is NULL or period_ticks is out of range
 */
w2s_status_t mic_start(w2s_ring_t *ring, w2s_wav_t *wav, uint32_t period_ticks);

/** The SysTick handler's part: one block into the ring (nothing once the WAV has ended). */
void mic_tick(void);

/** 1 once the last block is in the ring (or dropped): the ring then holds all that will ever come. */
int mic_done(void);

/** The WAV read's status (W2S_OK unless a read failed, which ends the audio). */
w2s_status_t mic_status(void);

/** Samples the microphone delivered (written into the ring or dropped). */
uint32_t mic_samples(void);

/** board_ticks() when the first block arrived; block k arrived period_ticks * k later. */
uint64_t mic_first_tick(void);

/**
 * @brief         Where the samples the main loop read as [start, end) (counted in samples read from the
 *                ring) came from, and whether the ring dropped any in between. Call once per window, in order.
 * @param[in]     start         samples read from the ring before the window's first sample
 * @param[in]     end           ... after its last sample
 * @param[out]    stream_start  the window's first sample, counted in samples the microphone delivered
 * @return        samples dropped inside the window (0: a whole, contiguous window)
 */
uint32_t mic_window_gap(uint32_t start, uint32_t end, uint32_t *stream_start);

#ifdef __cplusplus
}
#endif

#endif /* MIC_QEMU_H */
