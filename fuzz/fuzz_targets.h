/* fuzz_targets.h — the per-input bodies of the fuzz targets, shared by the libFuzzer programs
 * (fuzz/fuzz_*.c) and the corpus replay test (tests/test_fuzz_corpus.c). Each takes any bytes,
 * must not crash or leak, and returns 0. */
#ifndef LP_FUZZ_TARGETS_H
#define LP_FUZZ_TARGETS_H

#include <stdint.h>
#include <stdlib.h>

#include "lowp.h"
#include "base/npy.h"
#include "onnx/model.h"

/* ONNX bytes: load (no external data), describe as JSON, write back and re-read. */
static inline int lp_fuzz_model_one(const uint8_t *data, size_t size)
{
    lowp_model *m = NULL;
    if (lowp_model_load_from_memory(data, size, NULL, &m) != LOWP_OK)
        return 0;
    char *json = NULL;
    if (lowp_model_info_json(m, &json) == LOWP_OK)
        free(json);
    /* The saver must accept whatever the loader accepted; its bytes must load again. */
    uint8_t *out = NULL;
    size_t out_size = 0;
    if (lp_onnx_write(m->graph, &out, &out_size) == LOWP_OK) {
        lp_graph *g = NULL;
        if (lp_onnx_read(out, out_size, NULL, "<fuzz round trip>", &g) == LOWP_OK)
            lp_graph_free(g);
        free(out);
    }
    lowp_model_free(m);
    return 0;
}

/* .npy bytes: parse; on success write back and parse the result again. */
static inline int lp_fuzz_npy_one(const uint8_t *data, size_t size)
{
    lp_tensor *t = NULL;
    if (lp_npy_parse(data, size, "<fuzz>", &t) != LOWP_OK)
        return 0;
    unsigned char *img = NULL;
    size_t n = 0;
    if (lp_npy_write(t, "<fuzz>", &img, &n) == LOWP_OK) {
        lp_tensor *u = NULL;
        /* A tensor we wrote must read back identical: anything else is a bug. */
        if (lp_npy_parse(img, n, "<fuzz round trip>", &u) != LOWP_OK || !lp_tensor_equal(t, u))
            abort();
        lp_tensor_free(u);
        free(img);
    }
    lp_tensor_free(t);
    return 0;
}

#endif
