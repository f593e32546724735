/* STM32 board layer: HAL I2S in circular DMA from an INMP441 (24-bit, left slot), DWT cycles, UART.
 * Clock and pin set-up come from your CubeMX project: paste SystemClock_Config(), MX_GPIO_Init(),
 * MX_DMA_Init(), MX_I2S2_Init() and MX_USART2_UART_Init() below or link their generated files. */
#include <string.h>

#include "board.h"
#include "w2s_ring.h"
/* CMakeLists.txt defines the part (STM32F411xE, STM32H743xx); another part adds its family's HAL here. */
#if defined(STM32F411xE)
#include "stm32f4xx_hal.h"
#elif defined(STM32H743xx)
#include "stm32h7xx_hal.h"
#else
#error "board_stm32.c: define the STM32 part (STM32F411xE or STM32H743xx), as CMakeLists.txt does"
#endif

extern I2S_HandleTypeDef hi2s2;
extern UART_HandleTypeDef huart2;
void SystemClock_Config(void);
void MX_GPIO_Init(void);
void MX_DMA_Init(void);
void MX_I2S2_Init(void);
void MX_USART2_UART_Init(void);

extern w2s_ring_t g_audio_ring;

#define DMA_WORDS 1024u /* 512 stereo frames of 32-bit words: two halves of 256 samples */
static uint16_t dma_buf[DMA_WORDS * 2u];

w2s_status_t board_init(void)
{
    if (HAL_Init() != HAL_OK) {
        return W2S_ERR_DEVICE; /* no UART yet: main's message is lost, but it still halts */
    }
    /* The CubeMX functions return nothing: they call Error_Handler() themselves on failure. */
    SystemClock_Config();
    MX_GPIO_Init();
    MX_DMA_Init();
    MX_I2S2_Init();
    MX_USART2_UART_Init();
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
    DWT->CYCCNT = 0;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    return W2S_OK;
}

w2s_status_t board_start_audio(void)
{
    return HAL_I2S_Receive_DMA(&hi2s2, dma_buf, DMA_WORDS) == HAL_OK ? W2S_OK : W2S_ERR_DEVICE;
}

/* INMP441: 24-bit samples, MSB first, in 32-bit slots; left channel (L/R to GND). The top 16 bits
   of the left slot are the int16 sample. */
static void push_half(const uint16_t *words)
{
    int16_t pcm[DMA_WORDS / 4u];
    uint32_t i;
    for (i = 0; i < DMA_WORDS / 4u; i++) {
        pcm[i] = (int16_t)words[4u * i];
    }
    (void)w2s_ring_write(&g_audio_ring, pcm, DMA_WORDS / 4u); /* a full ring counts the drop; main reports it */
}

void HAL_I2S_RxHalfCpltCallback(I2S_HandleTypeDef *hi2s)
{
    (void)hi2s;
    push_half(dma_buf);
}

void HAL_I2S_RxCpltCallback(I2S_HandleTypeDef *hi2s)
{
    (void)hi2s;
    push_half(dma_buf + DMA_WORDS);
}

uint32_t board_cycles(void) { return DWT->CYCCNT; }
uint32_t board_cpu_hz(void) { return HAL_RCC_GetHCLKFreq(); }

/* A failed transmit is not reported: the UART is where reports go. */
void board_print(const char *line)
{
    (void)HAL_UART_Transmit(&huart2, (const uint8_t *)line, (uint16_t)strlen(line), 100);
    (void)HAL_UART_Transmit(&huart2, (const uint8_t *)"\r\n", 2, 100);
}
