/* w2s_ring: single-producer, single-consumer ring of int16 samples (C99, includable from C++).
 * The microphone side (a DMA interrupt, or a capture task on the other core of an ESP32-S3) writes; the main
 * loop reads. Exactly one producer and one consumer; the size is a power of two.
 *
 * The indices are plain uint32_t so that C and C++ see one layout (C11's _Atomic is not a C++ type). They
 * are touched only by w2s_ring.c, with acquire loads and release stores: a sample is written before the
 * producer publishes head, and read before the consumer publishes tail, on one core or two. Read them
 * through these functions only, never as fields.
 */
#ifndef W2S_RING_H
#define W2S_RING_H

#include <stdint.h>

#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int16_t *buf_s16; /**< size samples of int16 PCM, owned by the caller */
    uint32_t mask;    /**< size - 1, size a power of two */
    uint32_t head;    /**< samples ever written (wraps); the producer's, published with release */
    uint32_t tail;    /**< samples ever read (wraps); the consumer's, published with release */
    uint32_t dropped; /**< samples lost because the ring was full (wraps); the producer's */
} w2s_ring_t;

/**
 * @brief         Set up an empty ring over caller-owned storage (before producer and consumer start).
 * @param[out]    ring         the ring
 * @param[in]     storage_s16  size_pow2 samples, kept for the ring's life
 * @param[in]     size_pow2    a power of two, at least 2
 * @return        W2S_OK; W2S_ERR_ARG if a pointer is NULL or size_pow2 is not a power of two
 */
w2s_status_t w2s_ring_init(w2s_ring_t *ring, int16_t *storage_s16, uint32_t size_pow2);

/**
 * @brief         Producer: copy up to n samples in; what does not fit is dropped and counted.
 * @param[in,out] ring     the ring
 * @param[in]     src_s16  n samples
 * @param[in]     n        samples offered
 * @return        samples written
 */
uint32_t w2s_ring_write(w2s_ring_t *ring, const int16_t *src_s16, uint32_t n);

/**
 * @brief         Producer: count n samples lost before they reached the ring (a driver's overflow, a late
 *                interrupt), so that the consumer sees the gap as it sees a full ring's.
 * @param[in,out] ring  the ring
 * @param[in]     n     samples lost
 */
void w2s_ring_lost(w2s_ring_t *ring, uint32_t n);

/**
 * @brief         Consumer: copy up to n samples out.
 * @param[in,out] ring     the ring
 * @param[out]    dst_s16  room for n samples
 * @param[in]     n        samples wanted
 * @return        samples read
 */
uint32_t w2s_ring_read(w2s_ring_t *ring, int16_t *dst_s16, uint32_t n);

/**
 * @brief         Samples waiting (either side may ask; the other side may change it at once).
 * @param[in]     ring  the ring
 * @return        samples written and not yet read
 */
uint32_t w2s_ring_count(const w2s_ring_t *ring);

/**
 * @brief         Samples dropped so far (either side may ask).
 * @param[in]     ring  the ring
 * @return        samples lost because the ring was full, since w2s_ring_init (wraps at 2^32)
 */
uint32_t w2s_ring_dropped(const w2s_ring_t *ring);

#ifdef __cplusplus
}
#endif

#endif /* W2S_RING_H */
