// {{PROJECT}}: INMP441 over I2S -> ring buffer -> fixed-point front end -> model step -> A/D/V on the console.
// This file is the board: board.h's five functions with ESP-IDF, and app_main, which runs the main loop's
// work (w2s_app.h; the model step is w2s_budget.h's W2S_USE_TFLM: 0, the w2s streaming engine; 1, TFLM with
// ESP-NN, w2s_model.cc). Every status is checked: a failure prints one line naming the call, and the board stops.
#include <cstdio>
#include <cstdlib>

#include "board.h"
#include "driver/i2s_std.h"
#include "esp_cpu.h"
#include "esp_err.h"
#include "esp_heap_caps.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"
#include "w2s_app.h"

// INMP441 wiring (any free GPIOs work; change here and in README.md).
#define PIN_SCK GPIO_NUM_{{PIN_SCK}}
#define PIN_WS GPIO_NUM_{{PIN_WS}}
#define PIN_SD GPIO_NUM_{{PIN_SD}}

static w2s_app_t g_app;
static w2s_ring_t* g_ring;  // written by capture_task, read by app_main
static i2s_chan_handle_t g_rx;

// Any failure: one line naming it, then stop. abort() hands over to the panic handler (reboot by default).
[[noreturn]] static void w2s_fail(const char* call, const char* why) {
  printf("error: %s: %s\n", call, why);
  fflush(stdout);
  abort();
}

// Not ESP_ERROR_CHECK: that one ignores the error when assertions are compiled out (NDEBUG).
static void w2s_check_esp(esp_err_t err, const char* call) {
  if (err != ESP_OK) w2s_fail(call, esp_err_to_name(err));
}

// I2S DMA -> ring, so that audio keeps arriving while app_main runs the model: on the last core (the S3's core 1,
// app_main on core 0; the single-core C3's only one, at a priority above app_main's).
static void capture_task(void*) {
  static int32_t raw[256];
  int16_t pcm[256];
  for (;;) {
    size_t bytes = 0;
    w2s_check_esp(i2s_channel_read(g_rx, raw, sizeof raw, &bytes, portMAX_DELAY), "i2s_channel_read");
    size_t n = bytes / sizeof(int32_t);
    for (size_t i = 0; i < n; i++) pcm[i] = static_cast<int16_t>(raw[i] >> 16);  // top 16 of 24 bits
    (void)w2s_ring_write(g_ring, pcm, static_cast<uint32_t>(n));  // a full ring counts the drop
  }
}

// 32-bit slots, left channel (INMP441 L/R pin to GND).
static void start_i2s() {
  i2s_chan_config_t chan = I2S_CHANNEL_DEFAULT_CONFIG(I2S_NUM_0, I2S_ROLE_MASTER);
  w2s_check_esp(i2s_new_channel(&chan, nullptr, &g_rx), "i2s_new_channel");
  i2s_std_config_t std = {
      .clk_cfg = I2S_STD_CLK_DEFAULT_CONFIG(W2S_SAMPLE_RATE_HZ),
      .slot_cfg = I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(I2S_DATA_BIT_WIDTH_32BIT, I2S_SLOT_MODE_MONO),
      .gpio_cfg = {.mclk = I2S_GPIO_UNUSED, .bclk = PIN_SCK, .ws = PIN_WS, .dout = I2S_GPIO_UNUSED, .din = PIN_SD,
                   .invert_flags = {}},
  };
  std.slot_cfg.slot_mask = I2S_STD_SLOT_LEFT;
  w2s_check_esp(i2s_channel_init_std_mode(g_rx, &std), "i2s_channel_init_std_mode");
  w2s_check_esp(i2s_channel_enable(g_rx), "i2s_channel_enable");
}

w2s_status_t board_init(void) { return W2S_OK; }  // the I2S channel is set up when the audio starts

// A driver failure stops here, with the ESP error's name (more than W2S_ERR_DEVICE would say).
w2s_status_t board_start_audio(w2s_ring_t* ring) {
  g_ring = ring;
  start_i2s();
  if (xTaskCreatePinnedToCore(capture_task, "w2s_capture", 4096, nullptr, configMAX_PRIORITIES - 2, nullptr,
                              portNUM_PROCESSORS - 1) != pdPASS) {
    w2s_fail("xTaskCreatePinnedToCore", "no memory for the capture task");
  }
  return W2S_OK;
}

uint32_t board_cycles(void) { return esp_cpu_get_cycle_count(); }
uint32_t board_cpu_hz(void) { return CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ * 1000000u; }
void board_print(const char* line) { printf("%s\n", line); }

extern "C" void app_main(void) {
  uint8_t* arena = nullptr;  // the w2s engine needs none
  size_t arena_bytes = 0;
#if W2S_USE_TFLM
  arena_bytes = W2S_ARENA_BYTES;
  arena = static_cast<uint8_t*>(heap_caps_aligned_alloc(16, arena_bytes, W2S_ARENA_CAPS));
  if (arena == nullptr) w2s_fail("heap_caps_aligned_alloc", "no room for W2S_ARENA_BYTES (see w2s_budget.h)");
#endif
  const char* call = "";
  w2s_status_t st = w2s_app_start(&g_app, arena, arena_bytes, &call);
  while (st == W2S_OK) {
    w2s_app_event_t ev;
    st = w2s_app_poll(&g_app, &ev, &call);
    if (ev.samples == 0 && ev.rows == 0) vTaskDelay(1);  // nothing to do: wait for a DMA block
  }
  w2s_fail(call, w2s_status_str(st));
}
