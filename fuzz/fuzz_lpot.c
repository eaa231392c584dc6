/* fuzz_lpot.c — libFuzzer target: arbitrary bytes as one of LPOT's own file formats (a COCO instances JSON, MNIST's mnist.npz, a pickled CIFAR batch) through the readers and datasets. */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_lpot_one(data, size);
}
