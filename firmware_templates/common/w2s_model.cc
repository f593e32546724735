// w2s_model.cc: see w2s_model.h. TFLM with exactly the model's ops (model_ops.h), for every board.
#include "w2s_model.h"

#include <string.h>  // not <cstring>: some bare-metal g++ installs ship no C++ library headers

#include "model_config.h"
#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

namespace {
W2sOpResolver g_resolver;
tflite::MicroInterpreter* g_interp = nullptr;
}  // namespace

extern "C" w2s_status_t w2s_model_init(uint8_t* arena, size_t arena_bytes, int8_t** input_s8) {
  if (arena == nullptr || input_s8 == nullptr || (reinterpret_cast<uintptr_t>(arena) & 15u) != 0u) {
    return W2S_ERR_ARG;
  }
  if (w2s_register_ops(g_resolver) != kTfLiteOk) return W2S_ERR_MODEL;
  static tflite::MicroInterpreter interp(tflite::GetModel(g_w2s_model_data), g_resolver, arena, arena_bytes);
  if (interp.AllocateTensors() != kTfLiteOk) return W2S_ERR_SIZE;
  // The pipeline quantises straight into the input tensor: it must be what model_config.h says.
  TfLiteTensor* input = interp.input(0);
  TfLiteTensor* output = interp.output(0);
  if (input == nullptr || input->type != kTfLiteInt8 || input->bytes != W2S_FRAMES_PER_WINDOW * W2S_N_MELS) {
    return W2S_ERR_MODEL;
  }
  if (output == nullptr || output->type != kTfLiteInt8 || output->bytes < W2S_OUTPUT_COUNT) return W2S_ERR_MODEL;
  g_interp = &interp;
  *input_s8 = input->data.int8;
  return W2S_OK;
}

extern "C" w2s_status_t w2s_model_invoke_s8(int8_t* adv_s8) {
  if (adv_s8 == nullptr || g_interp == nullptr) return W2S_ERR_ARG;
  if (g_interp->Invoke() != kTfLiteOk) return W2S_ERR_MODEL;
  memcpy(adv_s8, g_interp->output(0)->data.int8, W2S_OUTPUT_COUNT);
  return W2S_OK;
}
