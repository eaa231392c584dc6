/* fuzz_targets.h — the per-input bodies of the fuzz targets, shared by the libFuzzer programs
 * (fuzz/fuzz_*.c) and the corpus replay test (tests/test_fuzz_corpus.c). Each takes any bytes,
 * must not crash or leak, and returns 0. */
#ifndef LP_FUZZ_TARGETS_H
#define LP_FUZZ_TARGETS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lowp.h"
#include "base/npy.h"
#include "config/config.h"
#include "onnx/model.h"
#include "quant/recipe.h"
#include "tune/tune.h"

/* ONNX bytes: load (no external data), describe as JSON, prepare a session (graph passes:
 * toposort, Identity removal, constant folding with the reference kernels, BN folding, dead
 * nodes, shape inference), upgrade to opset 13 (ir/upgrade.c) and write that, write back and
 * re-read. Folding is capped at 1 MiB per node here
 * (LOWP_FOLD_LIMIT, unless set) so that inputs stay fast to run. */
static inline int lp_fuzz_model_one(const uint8_t *data, size_t size)
{
    lowp_model *m = NULL;
    setenv("LOWP_FOLD_LIMIT", "1M", 0);
    if (lowp_model_load_from_memory(data, size, NULL, &m) != LOWP_OK)
        return 0;
    char *json = NULL;
    if (lowp_model_info_json(m, &json) == LOWP_OK)
        free(json);
    lowp_session *s = NULL;
    if (lowp_session_create(m, NULL, &s) == LOWP_OK)
        lowp_session_free(s);
    /* The saver must accept whatever the loader accepted; its bytes must load again. */
    uint8_t *out = NULL;
    size_t out_size = 0;
    lowp_model *up = NULL;
    if (lowp_model_upgrade(m, &up) == LOWP_OK && lp_onnx_write(up->graph, &out, &out_size) == LOWP_OK)
        free(out);
    lowp_model_free(up);
    out = NULL, out_size = 0;
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

/* A recipe's JSON written by lowp must read back and write the same bytes again. */
static inline void lp_fuzz_recipe_round_trip(const lp_recipe *r)
{
    char *a = NULL, *b = NULL;
    lp_recipe *u = NULL;
    if (lp_recipe_to_json(r, &a) != LOWP_OK)
        return;
    if (lp_recipe_from_json(a, strlen(a), "<fuzz round trip>", &u) != LOWP_OK || lp_recipe_to_json(u, &b) != LOWP_OK ||
        strcmp(a, b) != 0)
        abort();
    lp_recipe_free(u);
    free(a);
    free(b);
}

/* Recipe JSON bytes (lowp quantize --recipe): parse; on success the round trip above. */
static inline int lp_fuzz_recipe_one(const uint8_t *data, size_t size)
{
    lp_recipe *r = NULL;
    if (lp_recipe_from_json((const char *)data, size, "<fuzz>", &r) != LOWP_OK)
        return 0;
    lp_fuzz_recipe_round_trip(r);
    lp_recipe_free(r);
    return 0;
}

/* A graph of four nodes with the names configs' op_wise entries meet in the seeds, for the
 * starting recipe a config describes (built once). */
static inline const lp_graph *lp_fuzz_small_graph(void)
{
    static lp_graph *g;
    if (g)
        return g;
    static const char *const names[][2] = { { "conv1", "Conv" }, { "/1/Gemm", "Gemm" }, { "fc", "MatMul" },
                                            { "Gemm_0", "Gemm" } };
    if (lp_graph_new(&g) != LOWP_OK)
        abort();
    int prev = -1;
    if (lp_graph_add_value(g, "x", &prev) != LOWP_OK)
        abort();
    for (int i = 0; i < 4; i++) {
        int out = -1;
        if (lp_graph_new_value(g, "y", &out) != LOWP_OK ||
            lp_graph_add_node(g, names[i][0], names[i][1], "", 1, &prev, 1, &out, NULL) != LOWP_OK)
            abort();
        prev = out;
    }
    return g;
}

/* YAML config bytes: the loader into structs, then everything a config builds without reading
 * files: tuning options, the metric, the postprocess transforms, and the starting recipe (op_wise
 * names and regexes against a small graph) with its JSON round trip. */
static inline int lp_fuzz_config_one(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    lowp_config *c = NULL;
    lowp_status st = lowp_config_load_string(text, "<fuzz>", &c);
    free(text);
    if (st != LOWP_OK)
        return 0;
    lowp_tune_options o;
    (void)lowp_tune_options_from_config(c, &o);
    lowp_metric *m = NULL;
    if (lowp_config_has_metric(c) && lowp_config_metric(c, &m) == LOWP_OK)
        lowp_metric_free(m);
    lowp_transform *t = NULL;
    if (lowp_config_postprocess(c, &t) == LOWP_OK)
        lowp_transform_free(t);
    lp_recipe *r = NULL;
    if (lp_recipe_from_config(c, lp_fuzz_small_graph(), &r) == LOWP_OK) {
        lp_fuzz_recipe_round_trip(r);
        lp_recipe_free(r);
    }
    lowp_config_free(c);
    return 0;
}

/* The fingerprint the history seeds carry on line 1 (so the fuzzer starts past the header). */
#define LP_FUZZ_FINGERPRINT "00000000f0220000"

/* history.jsonl bytes: the replay of `lowp tune --resume`. */
static inline int lp_fuzz_history_one(const uint8_t *data, size_t size)
{
    lp_tune_hist *h = NULL;
    int n = 0;
    bool fresh = false;
    if (lp_tune_history_parse((const char *)data, size, "<fuzz>", LP_FUZZ_FINGERPRINT, &h, &n, &fresh) == LOWP_OK)
        lp_tune_history_free(h, n);
    return 0;
}

#endif
