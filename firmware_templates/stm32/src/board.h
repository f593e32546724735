/* The thin board layer: everything vendor-specific sits behind these five functions. */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int board_init(void);                     /* clocks, UART, I2S + DMA, cycle counter; 0, or -1: HAL_Init failed */
int board_start_audio(void);              /* starts circular DMA, halves land in the ring buffer; 0, or -1 */
uint32_t board_cycles(void);              /* free-running CPU cycle counter (DWT) */
uint32_t board_cpu_hz(void);
void board_print(const char *line);       /* one line on the UART */

#ifdef __cplusplus
}
#endif

#endif
