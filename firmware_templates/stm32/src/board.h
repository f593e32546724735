/* The thin board layer: everything vendor-specific sits behind these five functions (C99, includable
 * from C++). board_stm32.c implements them with the STM32 HAL. */
#ifndef W2S_BOARD_H
#define W2S_BOARD_H

#include <stdint.h>

#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief         Clocks, UART, I2S + DMA and the cycle counter.
 * @return        W2S_OK; W2S_ERR_DEVICE if HAL_Init failed (the CubeMX init functions stop in
 *                Error_Handler() themselves)
 */
w2s_status_t board_init(void);

/**
 * @brief         Start circular I2S DMA: each half-buffer lands in the audio ring buffer.
 * @return        W2S_OK; W2S_ERR_DEVICE if HAL_I2S_Receive_DMA failed
 */
w2s_status_t board_start_audio(void);

/**
 * @brief         The free-running CPU cycle counter (DWT).
 * @return        cycles (wraps at 2^32)
 */
uint32_t board_cycles(void);

/**
 * @brief         The CPU clock.
 * @return        Hz
 */
uint32_t board_cpu_hz(void);

/**
 * @brief         One line on the UART, "\r\n" added. Cannot report a failure: the UART is where reports go.
 * @param[in]     line  a terminated string
 */
void board_print(const char *line);

#ifdef __cplusplus
}
#endif

#endif /* W2S_BOARD_H */
