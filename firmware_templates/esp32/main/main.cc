// {{PROJECT}}: INMP441 over I2S -> ring buffer -> fixed-point front end -> model step -> A/D/V on the console.
// The model step, chosen by w2s_budget.h's W2S_USE_TFLM: 0, the w2s streaming engine (w2s_infer.c; no TFLM,
// no arena); 1, TFLM with ESP-NN (w2s_model.cc). The portable code in w2s/ does everything but the I2S capture.
// Every status is checked: a failure prints one line naming the call, and the board stops.
#include <cstdio>
#include <cstdlib>

#include "driver/i2s_std.h"
#include "esp_cpu.h"
#include "esp_err.h"
#include "esp_heap_caps.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"
#include "model_config.h"
#include "w2s_budget.h"
#include "w2s_format.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"
#if W2S_USE_TFLM
#include "w2s_model.h"
#else
#include "w2s_infer.h"
#endif

// INMP441 wiring (any free GPIOs work; change here and in README.md).
#define PIN_SCK GPIO_NUM_41
#define PIN_WS GPIO_NUM_42
#define PIN_SD GPIO_NUM_2

static int16_t g_frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
static int32_t g_dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
static int16_t g_ring_storage[W2S_RING_SAMPLES];
static w2s_ring_t g_audio_ring;  // written by capture_task on core 1, read by app_main on core 0
static i2s_chan_handle_t g_rx;
#if !W2S_USE_TFLM
static w2s_engine_t g_engine;  // the engine's state: the same size for any window
#endif

// Any failure: one line naming it, then stop. abort() hands over to the panic handler (reboot by default).
[[noreturn]] static void w2s_fail(const char* call, const char* why) {
  printf("error: %s: %s\n", call, why);
  fflush(stdout);
  abort();
}

static void w2s_check(w2s_status_t status, const char* call) {
  if (status != W2S_OK) w2s_fail(call, w2s_status_str(status));
}

// Not ESP_ERROR_CHECK: that one ignores the error when assertions are compiled out (NDEBUG).
static void w2s_check_esp(esp_err_t err, const char* call) {
  if (err != ESP_OK) w2s_fail(call, esp_err_to_name(err));
}

// On core 1: I2S DMA -> ring, so that audio keeps arriving while app_main (core 0) runs the model.
static void capture_task(void*) {
  static int32_t raw[256];
  int16_t pcm[256];
  for (;;) {
    size_t bytes = 0;
    w2s_check_esp(i2s_channel_read(g_rx, raw, sizeof raw, &bytes, portMAX_DELAY), "i2s_channel_read");
    size_t n = bytes / sizeof(int32_t);
    for (size_t i = 0; i < n; i++) pcm[i] = static_cast<int16_t>(raw[i] >> 16);  // top 16 of 24 bits
    (void)w2s_ring_write(&g_audio_ring, pcm, static_cast<uint32_t>(n));  // a full ring counts the drop
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

extern "C" void app_main(void) {
  int8_t* input_s8 = nullptr;  // w2s: stays NULL, the engine reads the window row by row
#if W2S_USE_TFLM
  uint8_t* arena = static_cast<uint8_t*>(heap_caps_aligned_alloc(16, W2S_ARENA_BYTES, W2S_ARENA_CAPS));
  if (arena == nullptr) w2s_fail("heap_caps_aligned_alloc", "no room for W2S_ARENA_BYTES (see w2s_budget.h)");
  w2s_check(w2s_model_init(arena, W2S_ARENA_BYTES, &input_s8), "w2s_model_init");
#endif
  w2s_pipeline_t pipe;
  w2s_check(w2s_pipeline_init(&pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins_q7, input_s8,
                              W2S_FRAMES_PER_WINDOW),
            "w2s_pipeline_init");
  w2s_check(w2s_ring_init(&g_audio_ring, g_ring_storage, W2S_RING_SAMPLES), "w2s_ring_init");
  start_i2s();
  if (xTaskCreatePinnedToCore(capture_task, "w2s_capture", 4096, nullptr, configMAX_PRIORITIES - 2, nullptr, 1) !=
      pdPASS) {
    w2s_fail("xTaskCreatePinnedToCore", "no memory for the capture task");
  }

  int16_t chunk[256];
  char line[96];
  uint32_t reported = 0;
  for (;;) {
    const uint32_t got = w2s_ring_read(&g_audio_ring, chunk, 256);
    if (got == 0) vTaskDelay(1);  // 16 samples arrive per ms: wait for a DMA block
    for (size_t off = 0, used = 0; off < got; off += used) {
      if (!w2s_pipeline_feed(&pipe, chunk + off, got - off, &used)) continue;
      const uint32_t t0 = esp_cpu_get_cycle_count();
#if W2S_USE_TFLM
      int8_t adv_s8[W2S_OUTPUT_COUNT];
      w2s_check(w2s_model_invoke_s8(adv_s8), "w2s_model_invoke_s8");
#else
      float adv_f32[W2S_ENGINE_OUTPUTS];
      w2s_check(w2s_infer_window_f32(&pipe, &g_engine, adv_f32), "w2s_infer_window_f32");
#endif
      const uint32_t us = (esp_cpu_get_cycle_count() - t0) / CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ;
#if W2S_USE_TFLM
      w2s_check(w2s_format_adv(line, sizeof line, adv_s8, W2S_OUTPUT_ZERO_POINT, W2S_OUTPUT_MILLI_MULT_Q16, us),
                "w2s_format_adv");
#else
      w2s_check(w2s_format_adv_f32(line, sizeof line, adv_f32, us), "w2s_format_adv_f32");
#endif
      printf("%s\n", line);
      const uint32_t dropped = w2s_ring_dropped(&g_audio_ring);
      if (dropped != reported) {  // inference outlasted the ring: the next window has a gap
        w2s_check(w2s_format_dropped(line, sizeof line, dropped - reported), "w2s_format_dropped");
        printf("%s\n", line);
        reported = dropped;
      }
    }
  }
}
