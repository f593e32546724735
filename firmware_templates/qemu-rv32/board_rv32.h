/* board_rv32: what the qemu-rv32 image's board code provides to main.c. */
#ifndef BOARD_RV32_H
#define BOARD_RV32_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Instructions retired since reset (the minstret/minstreth CSRs; exact under QEMU's -icount). */
uint64_t board_ticks(void);

/** Bytes of the painted stack ever used (board_paint_stack() paints it at main's start). */
uint32_t board_stack_high_water(void);

/** Paint the stack below the caller's frame, for board_stack_high_water(). */
void board_paint_stack(void);

#define BOARD_TICKS_PER_KINSTR 1000u

/**
 * @brief         The semihosting command line: "w2s.elf clip.wav".
 * @param[out]    buf    the line
 * @param[in]     cap    bytes in buf
 * @return        the WAV path: the rest of the line after the first space, spaces and all; NULL if there is none
 */
const char *board_wav_path(char *buf, uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif /* BOARD_RV32_H */
