/* STM32 board layer: HAL I2S in circular DMA from an INMP441 (24-bit, left slot), DWT cycles, UART.
 * Clock and pin set-up come from your CubeMX project, copied into cubemx/ (README.md says which files):
 * SystemClock_Config(), MX_GPIO_Init(), MX_DMA_Init(), MX_I2S2_Init() and MX_USART2_UART_Init().
 * The F4s (F411, F446) and the H743 differ in how the 24-bit samples reach memory and in the H7's D-cache: see
 * push_half. */
#include <string.h>

#include "board.h"
#include "w2s_ring.h"
/* CMakeLists.txt defines the part (STM32F411xE, STM32F446xx, STM32H743xx); another part adds its family's HAL
   here. The F411 and the F446 are one F4 case: the same HAL, I2S2 on DMA1 with a 16-bit data register. */
#if defined(STM32F411xE) || defined(STM32F446xx)
#include "stm32f4xx_hal.h"
#elif defined(STM32H743xx)
#include "stm32h7xx_hal.h"
#else
#error "board_stm32.c: define the STM32 part (STM32F411xE, STM32F446xx or STM32H743xx), as CMakeLists.txt does"
#endif

extern I2S_HandleTypeDef hi2s2;
extern UART_HandleTypeDef huart2;
void SystemClock_Config(void);
void MX_GPIO_Init(void);
void MX_DMA_Init(void);
void MX_I2S2_Init(void);
void MX_USART2_UART_Init(void);

static w2s_ring_t *g_ring; /* board_start_audio's; the DMA interrupt writes it */

#define HALF_SAMPLES 256u /* left-channel samples per DMA half */
#if defined(STM32H743xx)
/* H7: the SPI/I2S data register is 32 bits wide and the DMA moves one 32-bit word per channel slot
   (CubeMX: DMA data width Word/Word). The buffer is in .dma_buffer (AXI SRAM in the project's linker
   script; DMA1/DMA2 cannot reach DTCM), 32-byte aligned and a whole number of 32-byte cache lines, so
   invalidating it never discards a neighbour's data. */
#define DMA_WORDS (4u * HALF_SAMPLES) /* two halves of HALF_SAMPLES stereo frames, one word per slot */
static uint32_t dma_buf[DMA_WORDS] __attribute__((section(".dma_buffer"), aligned(32)));
typedef char w2s_dma_half_is_whole_cache_lines[((DMA_WORDS / 2u) * 4u) % 32u == 0u ? 1 : -1];
#else
/* F4: the data register is 16 bits wide; a 24-bit sample in a 32-bit slot arrives as two half-words,
   the high one first (CubeMX: DMA data width Half Word). No data cache. */
#define DMA_WORDS (8u * HALF_SAMPLES) /* half-words: two halves of HALF_SAMPLES stereo frames */
static uint16_t dma_buf[DMA_WORDS] __attribute__((section(".dma_buffer"), aligned(32)));
#endif

w2s_status_t board_init(void)
{
#if defined(STM32H743xx)
    SCB_EnableICache(); /* the real-time estimate assumes about one instruction per cycle: caches on */
    SCB_EnableDCache(); /* the I2S DMA buffer is then invalidated before each read (push_half) */
#endif
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

w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    g_ring = ring; /* before the DMA starts: its first interrupt writes here */
#if defined(STM32H743xx)
    /* No line of the buffer may be dirty (an eviction would overwrite what the DMA wrote). */
    SCB_CleanInvalidateDCache_by_Addr((uint32_t *)dma_buf, (int32_t)sizeof dma_buf);
    /* For 24- and 32-bit data, STM32CubeH7's HAL_I2S_Receive_DMA programs the DMA for 2 x Size
       transfers (stm32h7xx_hal_i2s.c: RxXferSize = Size << 1): Size is half the words. */
    if (HAL_I2S_Receive_DMA(&hi2s2, (uint16_t *)dma_buf, (uint16_t)(DMA_WORDS / 2u)) != HAL_OK) {
        return W2S_ERR_DEVICE;
    }
    /* A HAL that counts otherwise, or a DMA not set to words, would fill the halves in another layout than
       push_half reads (the transfer stays inside the buffer either way): refuse it, and the board stops. */
    if (__HAL_DMA_GET_COUNTER(hi2s2.hdmarx) <= DMA_WORDS / 2u ||
        hi2s2.hdmarx->Init.MemDataAlignment != DMA_MDATAALIGN_WORD) {
        return W2S_ERR_DEVICE;
    }
    return W2S_OK;
#else
    /* F4's HAL counts Size in 24/32-bit samples and moves two half-words for each. */
    return HAL_I2S_Receive_DMA(&hi2s2, dma_buf, (uint16_t)(DMA_WORDS / 2u)) == HAL_OK ? W2S_OK : W2S_ERR_DEVICE;
#endif
}

/* INMP441: 24-bit samples, MSB first, in 32-bit slots; left channel (L/R to GND); the int16 sample is
   the top 16 of the 24 bits. */
#if defined(STM32H743xx)
/* H7: each slot is one word with the 24 bits right-aligned (CubeMX: "Data 24-bit alignment: right",
   the default): bits 23..8 are the sample, whatever bits 31..24 hold. */
static void push_half(const uint32_t *words)
{
    int16_t pcm[HALF_SAMPLES];
    uint32_t i;
    /* the DMA wrote this half behind the cache: drop any stale (or speculatively fetched) lines first */
    SCB_InvalidateDCache_by_Addr((uint32_t *)words, (int32_t)(DMA_WORDS / 2u * sizeof words[0]));
    for (i = 0; i < HALF_SAMPLES; i++) {
        pcm[i] = (int16_t)(uint16_t)(words[2u * i] >> 8);
    }
    (void)w2s_ring_write(g_ring, pcm, HALF_SAMPLES); /* a full ring counts the drop; w2s_app reports it */
}
#else
/* F4: half-words high, low for the left slot, then the right slot's: the high half-word is the sample. */
static void push_half(const uint16_t *words)
{
    int16_t pcm[HALF_SAMPLES];
    uint32_t i;
    for (i = 0; i < HALF_SAMPLES; i++) {
        pcm[i] = (int16_t)words[4u * i];
    }
    (void)w2s_ring_write(g_ring, pcm, HALF_SAMPLES); /* a full ring counts the drop; w2s_app reports it */
}
#endif

void HAL_I2S_RxHalfCpltCallback(I2S_HandleTypeDef *hi2s)
{
    (void)hi2s;
    push_half(dma_buf);
}

void HAL_I2S_RxCpltCallback(I2S_HandleTypeDef *hi2s)
{
    (void)hi2s;
    push_half(dma_buf + DMA_WORDS / 2u);
}

uint32_t board_cycles(void) { return DWT->CYCCNT; }
uint32_t board_cpu_hz(void) { return HAL_RCC_GetHCLKFreq(); }

/* A failed transmit is not reported: the UART is where reports go. */
void board_print(const char *line)
{
    (void)HAL_UART_Transmit(&huart2, (const uint8_t *)line, (uint16_t)strlen(line), 100);
    (void)HAL_UART_Transmit(&huart2, (const uint8_t *)"\r\n", 2, 100);
}
