/* fuzz_recipe.c — libFuzzer target: arbitrary bytes as a recipe's JSON (parser, writer round trip). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return lp_fuzz_recipe_one(data, size);
}
