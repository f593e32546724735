#include "w2s_ring.h"

int w2s_ring_init(w2s_ring_t *ring, int16_t *storage, uint32_t size_pow2)
{
    if (size_pow2 < 2u || (size_pow2 & (size_pow2 - 1u)) != 0u) {
        return -1;
    }
    ring->buf = storage;
    ring->mask = size_pow2 - 1u;
    ring->head = 0u;
    ring->tail = 0u;
    ring->dropped = 0u;
    return 0;
}

uint32_t w2s_ring_count(const w2s_ring_t *ring)
{
    return ring->head - ring->tail; /* unsigned wrap-around keeps this right */
}

uint32_t w2s_ring_write(w2s_ring_t *ring, const int16_t *src, uint32_t n)
{
    const uint32_t space = ring->mask + 1u - w2s_ring_count(ring);
    const uint32_t todo = n < space ? n : space;
    uint32_t head = ring->head;
    uint32_t i;
    for (i = 0; i < todo; i++) {
        ring->buf[head & ring->mask] = src[i];
        head++;
    }
    ring->head = head; /* publish after the data: the consumer reads head last */
    ring->dropped += n - todo;
    return todo;
}

uint32_t w2s_ring_read(w2s_ring_t *ring, int16_t *dst, uint32_t n)
{
    const uint32_t avail = w2s_ring_count(ring);
    const uint32_t todo = n < avail ? n : avail;
    uint32_t tail = ring->tail;
    uint32_t i;
    for (i = 0; i < todo; i++) {
        dst[i] = ring->buf[tail & ring->mask];
        tail++;
    }
    ring->tail = tail;
    return todo;
}
