/* Minimal Cortex-M4F start-up for qemu-system-arm -M mps2-an386 with semihosting (tests only). */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __stack;
extern void _start(void); /* newlib (rdimon): zeroes .bss, runs constructors, calls main, exit() */

void reset_handler(void)
{
    uint32_t *src = &__data_load, *dst = &__data_start;
    /* Enable the FPU before any floating-point instruction (newlib's printf has some). */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    _start();
    for (;;) {
    }
}

__attribute__((section(".isr_vector"), used)) const void *const vector_table[2] = {
    &__stack,
    (const void *)reset_handler,
};
