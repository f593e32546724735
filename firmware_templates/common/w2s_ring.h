/* w2s_ring: single-producer, single-consumer ring of int16 samples (C99).
 * The microphone DMA callback writes, the main loop reads. Size must be a power of two. */
#ifndef W2S_RING_H
#define W2S_RING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int16_t *buf;
    uint32_t mask;           /* size - 1 */
    volatile uint32_t head;  /* written by the producer only */
    volatile uint32_t tail;  /* written by the consumer only */
    volatile uint32_t dropped; /* samples lost because the ring was full */
} w2s_ring_t;

/* storage must hold size_pow2 samples; returns 0, or -1 if size_pow2 is not a power of two. */
int w2s_ring_init(w2s_ring_t *ring, int16_t *storage, uint32_t size_pow2);

/* Producer: copies up to n samples, drops (and counts) what does not fit. Returns samples written. */
uint32_t w2s_ring_write(w2s_ring_t *ring, const int16_t *src, uint32_t n);

/* Consumer: copies up to n samples out. Returns samples read. */
uint32_t w2s_ring_read(w2s_ring_t *ring, int16_t *dst, uint32_t n);

uint32_t w2s_ring_count(const w2s_ring_t *ring);

#ifdef __cplusplus
}
#endif

#endif /* W2S_RING_H */
