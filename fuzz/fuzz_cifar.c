/* fuzz_cifar.c — libFuzzer target: arbitrary bytes as a CIFAR10 or CIFAR100 test batch (the dataset code, through a real file). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_cifar_one(data, size);
}
