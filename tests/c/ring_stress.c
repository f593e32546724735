/* Two threads through one w2s_ring, as the ESP32-S3's capture task (core 1) and app_main (core 0) use it.
 * The producer writes a counting sequence in odd-sized chunks, only as much as fits; the consumer reads in
 * other sizes and checks every sample. Built with -fsanitize=thread, a sample read before its write is
 * published (or a slot reused before it is read) is reported as a data race. Then one write larger than
 * the free space checks that the overflow is dropped and counted.
 * usage: ring_stress SAMPLES; prints "ok SAMPLES dropped N" and exits 0, or names the first bad sample. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "w2s_ring.h"

#define RING 64u

static int16_t storage[RING];
static w2s_ring_t ring;
static uint32_t total;

static void *producer(void *arg)
{
    int16_t chunk[23];
    uint32_t sent = 0, i, k = 0;
    (void)arg;
    while (sent < total) {
        uint32_t n = 1u + (k++ % 23u);
        if (n > total - sent) {
            n = total - sent;
        }
        if (RING - w2s_ring_count(&ring) < n) {
            continue; /* only what fits: a drop here would break the sequence */
        }
        for (i = 0; i < n; i++) {
            chunk[i] = (int16_t)(uint16_t)(sent + i);
        }
        if (w2s_ring_write(&ring, chunk, n) != n) {
            fprintf(stderr, "short write\n");
            exit(1);
        }
        sent += n;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t;
    int16_t out[17], big[RING + 10];
    uint32_t got = 0, i, k = 0;
    total = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 200000u;
    if (w2s_ring_init(&ring, storage, RING) != W2S_OK || w2s_ring_init(&ring, storage, 48u) != W2S_ERR_ARG ||
        w2s_ring_init(&ring, storage, RING) != W2S_OK) {
        fprintf(stderr, "w2s_ring_init\n");
        return 1;
    }
    if (pthread_create(&t, NULL, producer, NULL) != 0) {
        return 1;
    }
    while (got < total) {
        uint32_t n = w2s_ring_read(&ring, out, 1u + (k++ % 17u));
        for (i = 0; i < n; i++, got++) {
            if (out[i] != (int16_t)(uint16_t)got) {
                fprintf(stderr, "sample %lu: got %d\n", (unsigned long)got, out[i]);
                return 1;
            }
        }
    }
    pthread_join(t, NULL);
    for (i = 0; i < RING + 10u; i++) {
        big[i] = (int16_t)i;
    }
    if (w2s_ring_write(&ring, big, RING + 10u) != RING || w2s_ring_count(&ring) != RING ||
        w2s_ring_dropped(&ring) != 10u || w2s_ring_read(&ring, out, 17u) != 17u || out[16] != 16) {
        fprintf(stderr, "overflow not dropped and counted\n");
        return 1;
    }
    printf("ok %lu dropped %lu\n", (unsigned long)got, (unsigned long)w2s_ring_dropped(&ring));
    return 0;
}
