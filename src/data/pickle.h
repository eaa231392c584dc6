/* pickle.h — CIFAR-10/100 "python version" batches (data_batch_1, test_batch, train, test):
 * Python pickles read by a bounded interpreter of the opcodes they use, which records the
 * callables a pickle names and never runs anything (data/pickle.c). */
#ifndef LP_PICKLE_H
#define LP_PICKLE_H

#include <stdint.h>

#include "base/limits.h"
#include "base/status.h"

typedef struct lp_cifar_batch {
    int64_t n;          /* images */
    uint8_t *pixels;    /* n x 3072, channel planes (R, G, B) of 32x32 each, as CIFAR stores them */
    int64_t *labels;    /* n, as written (the caller checks the range) */
} lp_cifar_batch;

/* Reads the pickled dict at `path` (at most LP_MAX_PICKLE_BYTES): its 'data' (a numpy uint8
 * array (n, 3072)) and the list under `label_key` ("labels" for CIFAR-10, "fine_labels" for
 * CIFAR-100). Errors name the file and what is wrong. */
lp_status lp_cifar_pickle_read(const char *path, const char *label_key, lp_cifar_batch *out);
void lp_cifar_batch_free(lp_cifar_batch *b);

#endif
