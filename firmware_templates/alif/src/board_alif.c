/* Alif Ensemble E7 board layer (the M55 high-performance core): an INMP441 on an I2S block through the standard
 * CMSIS-Driver SAI API (double-buffered receives into the ring), lines on a CMSIS-Driver USART, cycles from the
 * DWT. The instance numbers are the DevKit's as we understand them, not checked on a board: W2S_SAI and W2S_UART
 * choose others (README.md). */
#include <string.h>

#include "Driver_SAI.h"
#include "Driver_USART.h"

#include "board.h"
#include "model_config.h"
#include "w2s_ring.h"

#ifndef W2S_SAI
#define W2S_SAI 2 /* I2S2 */
#endif
#ifndef W2S_UART
#define W2S_UART 4 /* the DevKit's console UART */
#endif
#define W2S_CAT(a, b) a##b
#define W2S_DRIVER(kind, n) W2S_CAT(kind, n)
extern ARM_DRIVER_SAI W2S_DRIVER(Driver_SAI, W2S_SAI);
extern ARM_DRIVER_USART W2S_DRIVER(Driver_USART, W2S_UART);
#define SAI (&W2S_DRIVER(Driver_SAI, W2S_SAI))
#define UART (&W2S_DRIVER(Driver_USART, W2S_UART))

#define CPU_HZ 400000000u  /* the HP core's clock as the DFP's SystemInit sets it */
#define HALF_SAMPLES 256u  /* samples per receive: 16 ms */
typedef char w2s_i2s_gives_16_khz[W2S_SAMPLE_RATE_HZ == 16000u ? 1 : -1];

/* the DWT, by address (Armv8-M): the device header's name differs between pack versions */
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

static w2s_ring_t *g_ring;                   /* board_start_audio's; the SAI interrupt writes it */
static int32_t g_words[2][2u * HALF_SAMPLES]; /* stereo 32-bit slots; the INMP441 (L/R to GND) is the left */
static uint32_t g_filling;                   /* the buffer the driver fills now */

static void halt(const char *what)
{
    board_print(what);
    for (;;) {
    }
}

/* A receive completed: the next one starts at once into the other buffer, then the left slots (24-bit samples
 * at the top of 32) go into the ring as int16. */
static void sai_event(uint32_t event)
{
    if (event & ARM_SAI_EVENT_RX_OVERFLOW) {
        w2s_ring_lost(g_ring, HALF_SAMPLES);
    }
    if (!(event & ARM_SAI_EVENT_RECEIVE_COMPLETE)) {
        return;
    }
    const int32_t *done = g_words[g_filling];
    g_filling ^= 1u;
    if (SAI->Receive(g_words[g_filling], 2u * HALF_SAMPLES) != ARM_DRIVER_OK) {
        halt("error: SAI Receive");
    }
    int16_t pcm[HALF_SAMPLES];
    for (uint32_t i = 0; i < HALF_SAMPLES; i++) {
        pcm[i] = (int16_t)(done[2u * i] >> 16);
    }
    (void)w2s_ring_write(g_ring, pcm, HALF_SAMPLES); /* a full ring counts the drop */
}

w2s_status_t board_init(void)
{
    if (UART->Initialize(NULL) != ARM_DRIVER_OK || UART->PowerControl(ARM_POWER_FULL) != ARM_DRIVER_OK ||
        UART->Control(ARM_USART_MODE_ASYNCHRONOUS | ARM_USART_DATA_BITS_8 | ARM_USART_PARITY_NONE |
                          ARM_USART_STOP_BITS_1 | ARM_USART_FLOW_CONTROL_NONE, 115200) != ARM_DRIVER_OK ||
        UART->Control(ARM_USART_CONTROL_TX, 1) != ARM_DRIVER_OK) {
        return W2S_ERR_DEVICE;
    }
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;    /* CYCCNTENA */
    return W2S_OK;
}

w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    g_ring = ring; /* before the first interrupt */
    if (SAI->Initialize(sai_event) != ARM_DRIVER_OK || SAI->PowerControl(ARM_POWER_FULL) != ARM_DRIVER_OK) {
        return W2S_ERR_DEVICE;
    }
    /* master receiver, I2S, 32-bit slots, 16 kHz frames: the INMP441's 64 SCK per WS */
    if (SAI->Control(ARM_SAI_CONFIGURE_RX | ARM_SAI_MODE_MASTER | ARM_SAI_ASYNCHRONOUS | ARM_SAI_PROTOCOL_I2S |
                         ARM_SAI_DATA_SIZE(32), ARM_SAI_FRAME_LENGTH(64), W2S_SAMPLE_RATE_HZ) != ARM_DRIVER_OK ||
        SAI->Control(ARM_SAI_CONTROL_RX, 1, 0) != ARM_DRIVER_OK) {
        return W2S_ERR_DEVICE;
    }
    return SAI->Receive(g_words[g_filling], 2u * HALF_SAMPLES) == ARM_DRIVER_OK ? W2S_OK : W2S_ERR_DEVICE;
}

uint32_t board_cycles(void) { return DWT_CYCCNT; }

uint32_t board_cpu_hz(void) { return CPU_HZ; }

/* A failed transmit is not reported: the UART is where reports go. */
void board_print(const char *line)
{
    static const char crlf[2] = {'\r', '\n'};
    const size_t len = strlen(line);
    if (len > 0u && UART->Send(line, (uint32_t)len) == ARM_DRIVER_OK) {
        while (UART->GetStatus().tx_busy) {
        }
    }
    if (UART->Send(crlf, 2u) == ARM_DRIVER_OK) {
        while (UART->GetStatus().tx_busy) {
        }
    }
}
