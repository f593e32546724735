// {{PROJECT}}: microphone -> ring buffer -> fixed-point front end -> model step -> A/D/V on the UART.
// The model step, chosen by w2s_budget.h's W2S_USE_TFLM: 0, the w2s streaming engine (w2s_infer.c; no TFLM,
// no arena); 1, TFLM (w2s_model.cc). The portable code in w2s/ does everything; board.h hides the HAL.
// Every status is checked: a failure prints one line naming the call, and the board stops.
#include <stdio.h>

#include "board.h"
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

static int16_t g_ring_storage[W2S_RING_SAMPLES];
w2s_ring_t g_audio_ring;  // written by board_stm32.c's DMA interrupt, read here
static int16_t g_frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
static int32_t g_dc_bins_q7[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];
#if W2S_USE_TFLM
alignas(16) static uint8_t g_arena[W2S_ARENA_BYTES];
#else
static w2s_engine_t g_engine;  // the engine's state: the same size for any window
#endif

// Any failure: one line naming it, then stop (running on would print numbers from a broken model).
[[noreturn]] static void w2s_fail(const char* call, w2s_status_t status) {
  char line[96];
  snprintf(line, sizeof line, "error: %s: %s", call, w2s_status_str(status));
  board_print(line);
  for (;;) {
  }
}

static void w2s_check(w2s_status_t status, const char* call) {
  if (status != W2S_OK) w2s_fail(call, status);
}

int main() {
  w2s_check(board_init(), "board_init");
  w2s_check(w2s_ring_init(&g_audio_ring, g_ring_storage, W2S_RING_SAMPLES), "w2s_ring_init");
  int8_t* input_s8 = nullptr;  // w2s: stays NULL, the engine reads the window row by row
#if W2S_USE_TFLM
  w2s_check(w2s_model_init(g_arena, sizeof g_arena, &input_s8), "w2s_model_init");
#endif
  w2s_pipeline_t pipe;
  w2s_check(w2s_pipeline_init(&pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins_q7, input_s8,
                              W2S_FRAMES_PER_WINDOW),
            "w2s_pipeline_init");
  w2s_check(board_start_audio(), "board_start_audio");

  int16_t chunk[256];
  char line[96];
  uint32_t reported = 0;
  for (;;) {
    const uint32_t got = w2s_ring_read(&g_audio_ring, chunk, 256);
    for (size_t off = 0, used = 0; off < got; off += used) {
      if (!w2s_pipeline_feed(&pipe, chunk + off, got - off, &used)) continue;
      const uint32_t t0 = board_cycles();
#if W2S_USE_TFLM
      int8_t adv_s8[W2S_OUTPUT_COUNT];
      w2s_check(w2s_model_invoke_s8(adv_s8), "w2s_model_invoke_s8");
#else
      float adv_f32[W2S_ENGINE_OUTPUTS];
      w2s_check(w2s_infer_window_f32(&pipe, &g_engine, adv_f32), "w2s_infer_window_f32");
#endif
      const uint32_t us = (uint32_t)((uint64_t)(board_cycles() - t0) * 1000000u / board_cpu_hz());
#if W2S_USE_TFLM
      w2s_check(w2s_format_adv(line, sizeof line, adv_s8, W2S_OUTPUT_ZERO_POINT, W2S_OUTPUT_MILLI_MULT_Q16, us),
                "w2s_format_adv");
#else
      w2s_check(w2s_format_adv_f32(line, sizeof line, adv_f32, us), "w2s_format_adv_f32");
#endif
      board_print(line);
      const uint32_t dropped = w2s_ring_dropped(&g_audio_ring);
      if (dropped != reported) {  // inference outlasted the ring: the next window has a gap
        w2s_check(w2s_format_dropped(line, sizeof line, dropped - reported), "w2s_format_dropped");
        board_print(line);
        reported = dropped;
      }
    }
  }
}
