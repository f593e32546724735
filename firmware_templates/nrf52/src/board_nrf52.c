/* nRF52840 board layer (the Arduino Nano 33 BLE Sense): the on-board PDM microphone (MP34DT05) through nrfx_pdm in
 * double buffers into the ring, lines on UARTE0, cycles from the DWT. Written against nrfx 3.x (its own API
 * version picks the PDM driver's single-instance or instance calls); see README.md for nrfx and CMSIS. */
#include <string.h>

#include <nrfx_pdm.h>
#include <nrfx_uarte.h>
#include <hal/nrf_gpio.h>

#include "board.h"
#include "model_config.h"
#include "w2s_ring.h"

#if defined(NRFX_RELEASE_VER_MAJOR) && NRFX_RELEASE_VER_MAJOR >= 4
#error "nrfx 4 changed the PDM and UARTE calls this file makes: use nrfx 3.x (README.md)"
#endif

/* Nano 33 BLE Sense: the microphone's power, clock and data; TX is the header's D1 (P1.03), RX is not used. */
#define PIN_MIC_PWR NRF_GPIO_PIN_MAP(0, 17)
#define PIN_MIC_CLK NRF_GPIO_PIN_MAP(0, 26)
#define PIN_MIC_DIN NRF_GPIO_PIN_MAP(0, 25)
#define PIN_UART_TX NRF_GPIO_PIN_MAP(1, 3)

#define HALF_SAMPLES 256u /* samples per PDM buffer: 16 ms, the IRQ's period */
typedef char w2s_pdm_gives_16_khz[W2S_SAMPLE_RATE_HZ == 16000u ? 1 : -1]; /* board_start_audio's clock and ratio */
#define LINE_CHUNK 64u    /* UARTE's EasyDMA reads RAM only: a line goes out through this buffer */

#if NRFX_API_VER_AT_LEAST(3, 7, 0) /* the PDM driver takes its instance from nrfx 3.7's API on */
static const nrfx_pdm_t g_pdm = NRFX_PDM_INSTANCE(0);
#define PDM_INIT(config, handler) nrfx_pdm_init(&g_pdm, (config), (handler))
#define PDM_START() nrfx_pdm_start(&g_pdm)
#define PDM_BUFFER_SET(buf, n) nrfx_pdm_buffer_set(&g_pdm, (buf), (n))
#else
#define PDM_INIT(config, handler) nrfx_pdm_init((config), (handler))
#define PDM_START() nrfx_pdm_start()
#define PDM_BUFFER_SET(buf, n) nrfx_pdm_buffer_set((buf), (n))
#endif

static const nrfx_uarte_t g_uarte = NRFX_UARTE_INSTANCE(0);
static w2s_ring_t *g_ring;                   /* board_start_audio's; the PDM interrupt writes it */
static int16_t g_pcm[2][HALF_SAMPLES];       /* the two buffers EasyDMA fills in turn */
static uint32_t g_next;                      /* the buffer the driver gets next */

/* A failure in the interrupt cannot be returned: one line, and the board stops, as main does. */
static void halt(const char *what)
{
    board_print(what);
    for (;;) {
    }
}

static void pdm_event(nrfx_pdm_evt_t const *evt)
{
    if (evt->error == NRFX_PDM_ERROR_OVERFLOW) { /* a buffer came too late: the driver lost samples */
        w2s_ring_lost(g_ring, HALF_SAMPLES);
    }
    if (evt->buffer_released != NULL) {
        (void)w2s_ring_write(g_ring, evt->buffer_released, HALF_SAMPLES); /* a full ring counts the drop */
    }
    if (evt->buffer_requested) {
        if (PDM_BUFFER_SET(g_pcm[g_next], HALF_SAMPLES) != NRFX_SUCCESS) {
            halt("error: nrfx_pdm_buffer_set");
        }
        g_next ^= 1u;
    }
}

w2s_status_t board_init(void)
{
    /* the instruction cache is off after reset: the engine runs from flash */
    NRF_NVMC->ICACHECNF = NVMC_ICACHECNF_CACHEEN_Msk;
    /* the PDM clock comes from HFCLK: the crystal, not the 1.5% RC oscillator */
    NRF_CLOCK->EVENTS_HFCLKSTARTED = 0;
    NRF_CLOCK->TASKS_HFCLKSTART = 1;
    while (NRF_CLOCK->EVENTS_HFCLKSTARTED == 0) {
    }
    nrfx_uarte_config_t uart = NRFX_UARTE_DEFAULT_CONFIG(PIN_UART_TX, NRF_UARTE_PSEL_DISCONNECTED);
    if (nrfx_uarte_init(&g_uarte, &uart, NULL) != NRFX_SUCCESS) { /* no handler: blocking transfers */
        return W2S_ERR_DEVICE;
    }
    /* the microphone's supply is a GPIO, high drive */
    nrf_gpio_cfg(PIN_MIC_PWR, NRF_GPIO_PIN_DIR_OUTPUT, NRF_GPIO_PIN_INPUT_DISCONNECT, NRF_GPIO_PIN_NOPULL,
                 NRF_GPIO_PIN_H0H1, NRF_GPIO_PIN_NOSENSE);
    nrf_gpio_pin_set(PIN_MIC_PWR);
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
    DWT->CYCCNT = 0;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    return W2S_OK;
}

w2s_status_t board_start_audio(w2s_ring_t *ring)
{
    /* 1.280 MHz PDM clock / 80 = 16 kHz exactly (the default 1.032 MHz / 64 is 16.125 kHz), mono */
    nrfx_pdm_config_t config = NRFX_PDM_DEFAULT_CONFIG(PIN_MIC_CLK, PIN_MIC_DIN);
    config.clock_freq = NRF_PDM_FREQ_1280K;
    config.ratio = NRF_PDM_RATIO_80X;
    g_ring = ring; /* before the first interrupt */
    if (PDM_INIT(&config, pdm_event) != NRFX_SUCCESS) {
        return W2S_ERR_DEVICE;
    }
    return PDM_START() == NRFX_SUCCESS ? W2S_OK : W2S_ERR_DEVICE;
}

uint32_t board_cycles(void) { return DWT->CYCCNT; }
uint32_t board_cpu_hz(void) { return SystemCoreClock; }

/* A failed transmit is not reported: the UART is where reports go. */
void board_print(const char *line)
{
    static uint8_t buf[LINE_CHUNK];
    const size_t len = strlen(line);
    for (size_t off = 0;;) {
        const size_t n = len - off < LINE_CHUNK - 2u ? len - off : LINE_CHUNK - 2u;
        const int last = off + n == len; /* the last chunk carries the line ending */
        memcpy(buf, line + off, n);
        buf[n] = '\r';
        buf[n + 1u] = '\n';
        (void)nrfx_uarte_tx(&g_uarte, buf, last ? n + 2u : n, 0);
        if (last) {
            return;
        }
        off += n;
    }
}
