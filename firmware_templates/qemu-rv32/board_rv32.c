/* The qemu-rv32 image's board code: picolibc's semihosting crt0 (crt0-semihost) does the start-up (stack, .data,
 * .bss, stdio over semihosting, exit() ends QEMU); this file counts instructions, paints the stack and reads the
 * command line. */
#include "board_rv32.h"

#include <semihost.h>
#include <stdint.h>
#include <string.h>

#define STACK_PAINT 0xA5A5A5A5u

extern uint32_t __stack[];      /* picolibc.ld: the stack's top */
extern uint32_t __heap_end[];   /* ... and the stack's bottom (its __stack_size below the top) */

uint64_t board_ticks(void)
{
    uint32_t hi, lo, again;
    do { /* the high word must not move while the low one is read */
        __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
        __asm__ volatile("csrr %0, minstret" : "=r"(lo));
        __asm__ volatile("csrr %0, minstreth" : "=r"(again));
    } while (hi != again);
    return ((uint64_t)hi << 32) | lo;
}

void board_paint_stack(void)
{
    volatile uint32_t *p = __heap_end;
    volatile uint32_t *sp;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    while (p < sp - 16) { /* below the current frame only: it is live */
        *p++ = STACK_PAINT;
    }
}

uint32_t board_stack_high_water(void)
{
    const uint32_t *p = __heap_end;
    while (p < __stack && *p == STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack - (uintptr_t)p);
}

const char *board_wav_path(char *buf, uint32_t cap)
{
    if (sys_semihost_get_cmdline(buf, (int)cap) != 0) {
        return NULL;
    }
    buf[cap - 1u] = '\0';
    char *space = strchr(buf, ' ');
    return space == NULL || space[1] == '\0' ? NULL : space + 1;
}
