/* fuzz_dataset.c — libFuzzer target: arbitrary bytes as an Npy dataset pair of .npy files or an ImagenetRaw image list (the dataset code, through real files). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_dataset_one(data, size);
}
