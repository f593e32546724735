// {{PROJECT}}: microphone -> ring buffer -> fixed-point front end -> TFLM -> A/D/V on the UART.
// Portable C in w2s/ does everything but the invoke; board.h hides the HAL.
#include <cstdio>

#include "board.h"
#include "model_config.h"
#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "w2s_budget.h"
#include "w2s_format.h"
#include "w2s_pipeline.h"
#include "w2s_ring.h"

static int16_t g_ring_storage[W2S_RING_SAMPLES];
w2s_ring_t g_audio_ring;
alignas(16) static uint8_t g_arena[W2S_ARENA_BYTES];
static int16_t g_frames_db_q7[W2S_FRAMES_PER_WINDOW * W2S_N_MELS];
static int32_t g_dc_bins[W2S_FRAMES_PER_WINDOW * W2S_FE_DC_BINS];

// Any failure: one line naming it, then stop (running on would print numbers from a broken model).
[[noreturn]] static void w2s_fail(const char* what, const char* why) {
  char line[96];
  snprintf(line, sizeof line, "error: %s: %s", what, why);
  board_print(line);
  for (;;) {
  }
}

int main() {
  if (board_init() != 0) w2s_fail("HAL_Init", "not HAL_OK");
  if (w2s_ring_init(&g_audio_ring, g_ring_storage, W2S_RING_SAMPLES) != 0) {
    w2s_fail("w2s_ring_init", "W2S_RING_SAMPLES is not a power of two");
  }

  static W2sOpResolver resolver;
  if (w2s_register_ops(resolver) != kTfLiteOk) w2s_fail("w2s_register_ops", "an op did not register");
  static tflite::MicroInterpreter interp(tflite::GetModel(g_w2s_model_data), resolver, g_arena, W2S_ARENA_BYTES);
  if (interp.AllocateTensors() != kTfLiteOk) w2s_fail("AllocateTensors", "arena too small for the model");
  // The front end quantises straight into the input tensor: its size must be what model_config.h says.
  TfLiteTensor* input = interp.input(0);
  TfLiteTensor* output = interp.output(0);
  if (input == nullptr || input->type != kTfLiteInt8 || input->bytes != W2S_FRAMES_PER_WINDOW * W2S_N_MELS) {
    w2s_fail("model input", "not int8 [frames x mels] as in model_config.h");
  }
  if (output == nullptr || output->type != kTfLiteInt8 || output->bytes < W2S_OUTPUT_COUNT) {
    w2s_fail("model output", "not int8 [arousal, dominance, valence]");
  }
  w2s_pipeline_t pipe;
  w2s_pipeline_init(&pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins, input->data.int8,
                    W2S_FRAMES_PER_WINDOW);
  if (board_start_audio() != 0) w2s_fail("HAL_I2S_Receive_DMA", "not HAL_OK");

  int16_t chunk[256];
  char line[96];
  uint32_t reported = 0;
  for (;;) {
    uint32_t got = w2s_ring_read(&g_audio_ring, chunk, 256);
    size_t off = 0;
    while (off < got) {
      size_t used = 0;
      if (w2s_pipeline_feed(&pipe, chunk + off, got - off, &used)) {
        uint32_t t0 = board_cycles();
        if (interp.Invoke() != kTfLiteOk) w2s_fail("Invoke", "a kernel failed");
        uint32_t us = (uint32_t)((uint64_t)(board_cycles() - t0) * 1000000u / board_cpu_hz());
        int len = w2s_format_adv(line, sizeof line, output->data.int8, W2S_OUTPUT_ZERO_POINT,
                                 W2S_OUTPUT_MILLI_MULT_Q16, us);
        if (len < 0 || len >= (int)sizeof line) w2s_fail("w2s_format_adv", "line buffer too short");
        board_print(line);
        uint32_t dropped = g_audio_ring.dropped;  // written by the DMA interrupt only
        if (dropped != reported) {  // inference outlasted the ring: the next window has a gap
          snprintf(line, sizeof line, "warning: %lu samples dropped", (unsigned long)(dropped - reported));
          board_print(line);
          reported = dropped;
        }
      }
      off += used;
    }
  }
}
