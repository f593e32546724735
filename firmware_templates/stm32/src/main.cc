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

int main() {
  board_init();
  w2s_ring_init(&g_audio_ring, g_ring_storage, W2S_RING_SAMPLES);

  static W2sOpResolver resolver;
  if (w2s_register_ops(resolver) != kTfLiteOk) board_print("error: op registration");
  static tflite::MicroInterpreter interp(tflite::GetModel(g_w2s_model_data), resolver, g_arena, W2S_ARENA_BYTES);
  if (interp.AllocateTensors() != kTfLiteOk) {
    board_print("error: arena too small for the model");
    for (;;) {
    }
  }
  // The front end quantises straight into the model's input tensor.
  w2s_pipeline_t pipe;
  w2s_pipeline_init(&pipe, &g_w2s_frontend_config, g_frames_db_q7, g_dc_bins, interp.input(0)->data.int8,
                    W2S_FRAMES_PER_WINDOW);
  board_start_audio();

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
        interp.Invoke();
        uint32_t us = (uint32_t)((uint64_t)(board_cycles() - t0) * 1000000u / board_cpu_hz());
        w2s_format_adv(line, sizeof line, interp.output(0)->data.int8, W2S_OUTPUT_ZERO_POINT,
                       W2S_OUTPUT_MILLI_MULT_Q16, us);
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
