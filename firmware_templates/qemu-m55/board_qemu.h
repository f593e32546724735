/* board_qemu: what the qemu-m55 image's start-up provides to main.c. */
#ifndef BOARD_QEMU_H
#define BOARD_QEMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** SysTick ticks since reset: with QEMU's -icount shift=0 on mps3-an547 that is 32 per 1,000 instructions. */
uint64_t board_ticks(void);

/** Bytes of the painted stack ever used. */
uint32_t board_stack_high_water(void);

#define BOARD_TICKS_PER_KINSTR 32u

/**
 * @brief         The semihosting command line: "w2s.elf clip.wav".
 * @param[out]    buf    the line, split in place
 * @param[in]     cap    bytes in buf
 * @param[in]     words  words between the program's name and the path
 * @param[out]    args   those words (words pointers; NULL if words is 0)
 * @return        the WAV path: the rest of the line, spaces and all; NULL if the line is too short
 */
const char *board_wav_path(char *buf, uint32_t cap, unsigned words, char **args);

#ifdef __cplusplus
}
#endif

#endif /* BOARD_QEMU_H */
