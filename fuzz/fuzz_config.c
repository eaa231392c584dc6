/* fuzz_config.c — libFuzzer target: arbitrary bytes as a YAML configuration (loader, then what a config builds). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_config_one(data, size);
}
