/* RP2350 board layer (the Raspberry Pi Pico 2, pico-sdk 2.x): an INMP441 I2S microphone read by a PIO state
 * machine (i2s_mic.pio) and moved by two chained DMA channels into 256-sample buffers, which the DMA interrupt
 * writes into the ring; lines on the SDK's stdio (UART0 and USB); cycles from the Cortex-M33's DWT. */
#include <stdio.h>

#include "hardware/clocks.h"
#include "hardware/dma.h"
#include "hardware/irq.h"
#include "hardware/pio.h"
#include "hardware/structs/m33.h"
#include "pico/stdlib.h"

#include "board.h"
#include "i2s_mic.pio.h"
#include "model_config.h"
#include "w2s_ring.h"

/* INMP441 on the Pico 2: SD on GP2; SCK and WS on GP3 and GP4 (the side-set pins: consecutive, BCLK first). */
#define PIN_SD 2u
#define PIN_SCK 3u
#define PIN_WS 4u
#define BITS_PER_FRAME 64u /* two 32-bit slots */
#define BLOCK_SAMPLES 256u /* one DMA block: 16 ms */

static w2s_ring_t *g_ring;                      /* board_start_audio's; the DMA interrupt writes it */
/* the two blocks the channels fill in turn; each aligned to its size, so a channel's writes wrap inside its block */
static uint32_t g_words[2][BLOCK_SAMPLES] __attribute__((aligned(BLOCK_SAMPLES * sizeof(uint32_t))));
static int g_dma[2];                            /* the two channels, each chained to the other */

/* A block of left-slot words: the 24-bit sample is bits 31..8, the int16 sample its top 16 bits. */
static void push_block(const uint32_t *words)
{
    int16_t pcm[BLOCK_SAMPLES];
    for (uint32_t i = 0; i < BLOCK_SAMPLES; i++) {
        pcm[i] = (int16_t)(uint16_t)(words[i] >> 16);
    }
    (void)w2s_ring_write(g_ring, pcm, BLOCK_SAMPLES); /* a full ring counts the drop; w2s_app reports it */
}

/* A channel finished its block (the other one runs now): hand the block over and re-arm its address. Both done at
   once: the interrupt came a block late, and the channel that restarted has written over the older block. */
static void dma_done(void)
{
    if (dma_channel_get_irq0_status((uint)g_dma[0]) && dma_channel_get_irq0_status((uint)g_dma[1])) {
        w2s_ring_lost(g_ring, BLOCK_SAMPLES);
    }
    for (uint32_t k = 0; k < 2u; k++) {
        if (dma_channel_get_irq0_status((uint)g_dma[k])) {
            dma_channel_acknowledge_irq0((uint)g_dma[k]);
            push_block(g_words[k]);
            dma_channel_set_write_addr((uint)g_dma[k], g_words[k], false);
        }
    }
}

w2s_status_t board_init(void)
{
    if (!stdio_init_all()) {
        return W2S_ERR_DEVICE;
    }
    m33_hw->demcr |= M33_DEMCR_TRCENA_BITS;
    m33_hw->dwt_cyccnt = 0;
    m33_hw->dwt_ctrl |= M33_DWT_CTRL_CYCCNTENA_BITS;
    return W2S_OK;
}

/* The state machine: the program, its pins, a left-shifting ISR autopushed at 32 bits, and a clock of two PIO
   cycles per bit (150 MHz / 2.048 MHz = 73 + 62/256, exact in the divider's 8-bit fraction). */
static w2s_status_t start_pio(PIO pio, uint *sm)
{
    const int claimed = pio_claim_unused_sm(pio, false);
    const int offset = claimed < 0 ? -1 : pio_add_program(pio, &i2s_mic_program); /* SDK 2.x: < 0 on failure */
    if (offset < 0) {
        return W2S_ERR_DEVICE;
    }
    *sm = (uint)claimed;
    pio_sm_config c = i2s_mic_program_get_default_config((uint)offset);
    sm_config_set_in_pins(&c, PIN_SD);
    sm_config_set_sideset_pins(&c, PIN_SCK);
    sm_config_set_in_shift(&c, false, true, 32u);
    sm_config_set_fifo_join(&c, PIO_FIFO_JOIN_RX);
    sm_config_set_clkdiv(&c, (float)clock_get_hz(clk_sys) / (2.0f * BITS_PER_FRAME * W2S_SAMPLE_RATE_HZ));
    pio_gpio_init(pio, PIN_SCK);
    pio_gpio_init(pio, PIN_WS);
    pio_gpio_init(pio, PIN_SD);
    gpio_pull_down(PIN_SD); /* the INMP441 leaves SD floating after its 24 bits */
    if (pio_sm_set_consecutive_pindirs(pio, *sm, PIN_SCK, 2u, true) != PICO_OK ||
        pio_sm_set_consecutive_pindirs(pio, *sm, PIN_SD, 1u, false) != PICO_OK ||
        pio_sm_init(pio, *sm, (uint)offset + i2s_mic_offset_entry_point, &c) != PICO_OK) {
        return W2S_ERR_DEVICE;
    }
    return W2S_OK;
}

/* Channel k reads the state machine's RX FIFO at its pace into block k, then starts the other channel. */
static void configure_dma(PIO pio, uint sm, uint32_t k)
{
    dma_channel_config c = dma_channel_get_default_config((uint)g_dma[k]);
    channel_config_set_transfer_data_size(&c, DMA_SIZE_32);
    channel_config_set_read_increment(&c, false);
    channel_config_set_write_increment(&c, true);
    channel_config_set_dreq(&c, pio_get_dreq(pio, sm, false));
    channel_config_set_chain_to(&c, (uint)g_dma[k ^ 1u]);
    channel_config_set_ring(&c, true, 10); /* writes wrap at 1 KiB (the block): a late re-arm cannot overrun it */
    dma_channel_configure((uint)g_dma[k], &c, g_words[k], &pio->rxf[sm], BLOCK_SAMPLES, false);
    dma_channel_set_irq0_enabled((uint)g_dma[k], true);
}

w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    PIO pio = pio0;
    uint sm;
    g_ring = ring; /* before the first interrupt */
    if (start_pio(pio, &sm) != W2S_OK) {
        return W2S_ERR_DEVICE;
    }
    g_dma[0] = dma_claim_unused_channel(false);
    g_dma[1] = dma_claim_unused_channel(false);
    if (g_dma[0] < 0 || g_dma[1] < 0) {
        return W2S_ERR_DEVICE;
    }
    configure_dma(pio, sm, 0u);
    configure_dma(pio, sm, 1u);
    irq_set_exclusive_handler(DMA_IRQ_0, dma_done);
    irq_set_enabled(DMA_IRQ_0, true);
    dma_channel_start((uint)g_dma[0]);
    pio_sm_set_enabled(pio, sm, true); /* the left slot's first bit: the first word is a left one */
    return W2S_OK;
}

uint32_t board_cycles(void) { return m33_hw->dwt_cyccnt; }
uint32_t board_cpu_hz(void) { return clock_get_hz(clk_sys); }

/* stdio: UART0 (GP0 TX, 115200) and USB CDC. A line USB's host did not read is lost, not reported. */
void board_print(const char *line)
{
    (void)puts(line);
}
