/* fuzz_png.c — libFuzzer target: arbitrary bytes as PNG bytes (the streaming check, then the decoder). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_image_one(data, size);
}
