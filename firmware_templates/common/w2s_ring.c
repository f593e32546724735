/* w2s_ring.c: see w2s_ring.h.
 *
 * volatile alone orders nothing between two cores (and not even the samples against the index on one
 * core): each index is published with a release store after the samples it covers, and read with an
 * acquire load before them. Which primitive does that depends on the language mode:
 *   - C11 with <stdatomic.h>: atomic_load_explicit / atomic_store_explicit. The fields stay plain uint32_t
 *     for C++'s sake, so they are accessed through an _Atomic uint32_t pointer; the check below makes sure
 *     that type has the same size (on every 32-bit MCU it is also lock-free: one aligned LDR/STR + DMB).
 *   - C99 under GCC or Clang (what the tests, arm-none-eabi and ESP-IDF builds use with -std=c99): the
 *     __atomic_load_n / __atomic_store_n builtins that <stdatomic.h> is made of, on the plain fields.
 *   - any other C99 compiler: no portable barrier exists; the build stops rather than run unordered.
 */
#include "w2s_ring.h"

#include <stddef.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
typedef char w2s_ring_atomic_is_plain_size[sizeof(_Atomic uint32_t) == sizeof(uint32_t) ? 1 : -1];
#define LOAD_ACQUIRE(p) atomic_load_explicit((const _Atomic uint32_t *)(p), memory_order_acquire)
#define STORE_RELEASE(p, v) atomic_store_explicit((_Atomic uint32_t *)(p), (v), memory_order_release)
#elif defined(__GNUC__) || defined(__clang__)
#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else
#error "w2s_ring: build as C11 (<stdatomic.h>) or with GCC/Clang: the ring needs acquire/release ordering"
#endif

w2s_status_t w2s_ring_init(w2s_ring_t *ring, int16_t *storage_s16, uint32_t size_pow2)
{
    if (ring == NULL || storage_s16 == NULL || size_pow2 < 2u || (size_pow2 & (size_pow2 - 1u)) != 0u) {
        return W2S_ERR_ARG;
    }
    ring->buf_s16 = storage_s16;
    ring->mask = size_pow2 - 1u;
    ring->head = 0u; /* plain stores: neither side runs yet */
    ring->tail = 0u;
    ring->dropped = 0u;
    return W2S_OK;
}

uint32_t w2s_ring_count(const w2s_ring_t *ring)
{
    return LOAD_ACQUIRE(&ring->head) - LOAD_ACQUIRE(&ring->tail); /* unsigned wrap-around keeps this right */
}

uint32_t w2s_ring_dropped(const w2s_ring_t *ring)
{
    return LOAD_ACQUIRE(&ring->dropped);
}

uint32_t w2s_ring_write(w2s_ring_t *ring, const int16_t *src_s16, uint32_t n)
{
    uint32_t head = ring->head; /* only this side writes head */
    const uint32_t space = ring->mask + 1u - (head - LOAD_ACQUIRE(&ring->tail)); /* the reader is done there */
    const uint32_t todo = n < space ? n : space;
    uint32_t i;
    for (i = 0; i < todo; i++) {
        ring->buf_s16[head & ring->mask] = src_s16[i];
        head++;
    }
    STORE_RELEASE(&ring->head, head); /* publish after the samples */
    if (todo < n) {
        STORE_RELEASE(&ring->dropped, ring->dropped + (n - todo));
    }
    return todo;
}

void w2s_ring_lost(w2s_ring_t *ring, uint32_t n)
{
    STORE_RELEASE(&ring->dropped, ring->dropped + n); /* only the producer writes dropped */
}

uint32_t w2s_ring_read(w2s_ring_t *ring, int16_t *dst_s16, uint32_t n)
{
    uint32_t tail = ring->tail; /* only this side writes tail */
    const uint32_t avail = LOAD_ACQUIRE(&ring->head) - tail; /* the samples up to head are there */
    const uint32_t todo = n < avail ? n : avail;
    uint32_t i;
    for (i = 0; i < todo; i++) {
        dst_s16[i] = ring->buf_s16[tail & ring->mask];
        tail++;
    }
    STORE_RELEASE(&ring->tail, tail); /* hand the slots back after reading them */
    return todo;
}
