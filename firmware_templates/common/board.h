/* board: what a microphone board implements, five functions behind which everything vendor-specific sits
 * (C99, includable from C++). w2s_app.c calls them; stm32/src/board_stm32.c implements them with the STM32
 * HAL, esp32/main/main.cc with ESP-IDF. */
#ifndef W2S_BOARD_H
#define W2S_BOARD_H

#include <stdint.h>

#include "w2s_ring.h"
#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief         Clocks, UART, the microphone's interface and the cycle counter.
 * @return        W2S_OK; W2S_ERR_DEVICE if a driver call failed (STM32: HAL_Init; the CubeMX init functions
 *                stop in Error_Handler() themselves)
 */
w2s_status_t board_init(void);

/**
 * @brief         Start the microphone: from now on each block of samples (a DMA half, a driver read) is
 *                written into ring, from an interrupt or another task (the ring's one producer).
 * @param[in,out] ring  an initialised ring; kept
 * @return        W2S_OK; W2S_ERR_DEVICE if a driver call failed
 */
w2s_status_t board_start_audio(w2s_ring_t *ring);

/**
 * @brief         The free-running CPU cycle counter (STM32: DWT).
 * @return        cycles (wraps at 2^32)
 */
uint32_t board_cycles(void);

/**
 * @brief         The CPU clock.
 * @return        Hz
 */
uint32_t board_cpu_hz(void);

/**
 * @brief         One line of output (a UART, the console), its line ending added. Cannot report a failure:
 *                the output is where reports go.
 * @param[in]     line  a terminated string
 */
void board_print(const char *line);

#ifdef __cplusplus
}
#endif

#endif /* W2S_BOARD_H */
