/* fuzz_jpeg.c — libFuzzer target: arbitrary bytes as JPEG bytes (the decoder, from memory). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_image_one(data, size);
}
