/* Reset and SysTick for the qemu-m55 image (QEMU's mps3-an547, a Cortex-M55). newlib's rdimon crt0 would take
 * its stack from semihosting (the top of the ITCM), so the reset handler does crt0's work itself: FPU and Helium
 * on, .data copied, .bss zeroed, the stack painted, stdio, constructors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "board_qemu.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start__, __bss_end__, __stack_bottom, __stack;
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(void);

#define STACK_PAINT 0xA5A5A5A5u
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

static volatile uint32_t g_systick_wraps;

void _init(void) {}
void _fini(void) {}

static void paint_stack(void)
{
    /* below the current frame only: the reset handler's own frame is live */
    volatile uint32_t *p = &__stack_bottom;
    volatile uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    while (p < sp - 16) {
        *p++ = STACK_PAINT;
    }
}

uint32_t board_stack_high_water(void)
{
    const uint32_t *p = &__stack_bottom;
    while (p < &__stack && *p == STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&__stack - (uintptr_t)p);
}

void w2s_systick_handler(void)
{
    g_systick_wraps++;
}

uint64_t board_ticks(void)
{
    uint32_t primask, wraps, value;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    value = SYST_CVR;
    wraps = g_systick_wraps;
    if (SCB_ICSR & ICSR_PENDSTSET) { /* it wrapped, and the interrupt has not run yet: count it here */
        wraps++;
        value = SYST_CVR; /* read after the reload, so the two agree */
    }
    __asm volatile("msr primask, %0" ::"r"(primask) : "memory");
    return ((uint64_t)wraps << 24) + (0xFFFFFFu - value); /* a shift: the engine's profile calls this */
}

/* The semihosting command line: "w2s.elf clip.wav". The WAV path is the
 * rest of the line, spaces and all; *args points to the words before it. */
const char *board_wav_path(char *buf, uint32_t cap, unsigned words, char **args)
{
    struct {
        char *buf;
        uint32_t len;
    } block = {buf, cap - 1u};
    register uint32_t r0 __asm__("r0") = 0x15u; /* SYS_GET_CMDLINE */
    register void *r1 __asm__("r1") = &block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    if (r0 != 0u) {
        return NULL;
    }
    buf[block.len] = '\0';
    char *rest = buf;
    for (unsigned k = 0; k <= words; k++) { /* the program's name, then the words */
        char *space = strchr(rest, ' ');
        if (space == NULL || space[1] == '\0') {
            return NULL;
        }
        *space = '\0';
        rest = space + 1;
        if (k < words) {
            args[k] = rest;
        }
    }
    return rest;
}

void w2s_reset_handler(void)
{
    uint32_t *src = &__data_load, *dst = &__data_start;
    /* CP10 and CP11 on before any float or Helium (MVE) instruction: the M55's vector unit is theirs */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    paint_stack();
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

static void hang(void)
{
    for (;;) {
    }
}

__attribute__((section(".isr_vector"), used)) const void *const g_vector_table[16] = {
    &__stack, (const void *)w2s_reset_handler, (const void *)hang, (const void *)hang, (const void *)hang,
    (const void *)hang, (const void *)hang, 0, 0, 0, 0, (const void *)hang, (const void *)hang, 0,
    (const void *)hang, (const void *)w2s_systick_handler,
};
