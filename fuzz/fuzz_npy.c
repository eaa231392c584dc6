/* fuzz_npy.c — libFuzzer target: arbitrary bytes as a .npy file (parser, writer round trip). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_npy_one(data, size);
}
