/* fuzz_idx.c — libFuzzer target: arbitrary bytes as an MNIST pair of IDX files, labels then images (the dataset code, through real files). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_idx_one(data, size);
}
