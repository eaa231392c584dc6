/* fuzz_model.c — libFuzzer target: arbitrary bytes as an ONNX model (loader, info, saver). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_model_one(data, size);
}
