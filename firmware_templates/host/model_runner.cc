// The model step for the host build: TFLM with exactly the ops the model uses.
// Built only with `make TFLM_DIR=/path/to/tflite-micro` (TFLM's sources are not on a package registry).
#include <cstring>

#include "model_config.h"
#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

namespace {
alignas(16) uint8_t g_arena[W2S_ARENA_BYTES];
W2sOpResolver g_resolver;
tflite::MicroInterpreter* g_interp = nullptr;
}  // namespace

extern "C" int w2s_model_init(void) {
  if (w2s_register_ops(g_resolver) != kTfLiteOk) return -1;
  static tflite::MicroInterpreter interp(tflite::GetModel(g_w2s_model_data), g_resolver, g_arena, W2S_ARENA_BYTES);
  if (interp.AllocateTensors() != kTfLiteOk) return -1;
  g_interp = &interp;
  return 0;
}

extern "C" int w2s_model_run(const int8_t* input, int8_t adv_s8[3]) {
  std::memcpy(g_interp->input(0)->data.int8, input, W2S_FRAMES_PER_WINDOW * W2S_N_MELS);
  if (g_interp->Invoke() != kTfLiteOk) return -1;
  std::memcpy(adv_s8, g_interp->output(0)->data.int8, 3);
  return 0;
}
