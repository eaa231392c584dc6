/* fuzz_history.c — libFuzzer target: arbitrary bytes as a tuning workspace's history.jsonl (the resume replay). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_history_one(data, size);
}
