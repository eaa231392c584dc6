/* op_harness.h — what the op tests share: a one-node graph per case, tensors from literals,
 * infer + allocate + run through the op's definition, a fixed-seed generator, and the float32
 * accumulation tolerance. Header-only (static inline), included once per test program. */
#ifndef LP_OP_HARNESS_H
#define LP_OP_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op.h"
#include "test.h"

/* ---- helpers: one node per graph, tensors from literals, infer + allocate + run ---- */

typedef struct tcase {
    lp_graph *g;
    lp_node *node;
} tcase;

#define MAXIO 10

static inline tcase mk(const char *op, int n_in, int n_out)
{
    tcase t = { 0 };
    int in[MAXIO], out[MAXIO];
    char name[16];
    CHECK_OK(lp_graph_new(&t.g));
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "in%d", i);
        CHECK_OK(lp_graph_add_value(t.g, name, &in[i]));
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "out%d", i);
        CHECK_OK(lp_graph_add_value(t.g, name, &out[i]));
    }
    int idx = -1;
    CHECK_OK(lp_graph_add_node(t.g, "n0", op, "", n_in, in, n_out, out, &idx));
    t.node = &t.g->nodes[idx];
    CHECK_MSG(t.node->op >= 0, "no op %s", op);
    return t;
}

static inline void attr_int(tcase *t, const char *name, int64_t v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_INT, .i = v };
    CHECK_OK(lp_node_add_attr(t->node, &a));
}

static inline void attr_float(tcase *t, const char *name, float v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_FLOAT, .f = v };
    CHECK_OK(lp_node_add_attr(t->node, &a));
}

static inline void attr_ints(tcase *t, const char *name, int n, const int64_t *v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_INTS, .n = n, .ints = (int64_t *)v };
    CHECK_OK(lp_node_add_attr(t->node, &a));
}

static inline void attr_floats(tcase *t, const char *name, int n, const float *v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_FLOATS, .n = n, .floats = (float *)v };
    CHECK_OK(lp_node_add_attr(t->node, &a));
}

static inline void attr_str(tcase *t, const char *name, const char *s)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_STRING, .s = (char *)s, .s_len = strlen(s) };
    CHECK_OK(lp_node_add_attr(t->node, &a));
}

/* A tensor attribute; the node copies v, and v is freed here. */
static inline void attr_tensor(tcase *t, const char *name, lp_tensor *v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_TENSOR, .t = v };
    CHECK_OK(lp_node_add_attr(t->node, &a));
    lp_tensor_free(v);
}

static inline lp_tensor *mkt(lp_dtype dt, int nd, const int64_t *dims, const void *data)
{
    lp_tensor *x = NULL;
    CHECK_OK(lp_tensor_new(dt, nd, dims, &x));
    if (x && data && x->nbytes)
        memcpy(x->data, data, x->nbytes);
    return x;
}

#define D(...) ((const int64_t[]){ __VA_ARGS__ })
#define F32(nd, dims, ...) mkt(LP_F32, nd, dims, (const float[]){ __VA_ARGS__ })
#define U8(nd, dims, ...) mkt(LP_U8, nd, dims, (const uint8_t[]){ __VA_ARGS__ })
#define I8(nd, dims, ...) mkt(LP_I8, nd, dims, (const int8_t[]){ __VA_ARGS__ })
#define I32(nd, dims, ...) mkt(LP_I32, nd, dims, (const int32_t[]){ __VA_ARGS__ })
#define I64(nd, dims, ...) mkt(LP_I64, nd, dims, (const int64_t[]){ __VA_ARGS__ })
#define BOOL(nd, dims, ...) mkt(LP_BOOL, nd, dims, (const uint8_t[]){ __VA_ARGS__ })

/* Infer only, on shapes given as vinfos (unknown dims allowed). */
static inline lp_status infer_only(tcase *t, int64_t opset, int n_in, const lp_vinfo *const *in, int n_out,
                                   lp_vinfo *out)
{
    memset(out, 0, (size_t)n_out * sizeof *out);
    lp_infer_ctx ic = { .node = t->node, .opset = opset, .n_in = n_in, .n_out = n_out, .in = in, .out = out };
    return lp_op_get(t->node->op)->infer(&ic);
}

/* Infers the outputs with every input value known (as the engine does when folding), allocates
 * them (not those with skip[k]: omitted optional outputs) and runs the kernel. A value infer
 * computes must equal what run writes. On failure the failing step's status is returned and
 * every out[k] is NULL. */
static inline lp_status eval_skip(tcase *t, int64_t opset, int n_in, lp_tensor *const *in, int n_out,
                                  lp_tensor **out, const bool *skip)
{
    lp_vinfo vi[MAXIO], vo[MAXIO];
    const lp_vinfo *pvi[MAXIO];
    for (int k = 0; k < n_out; k++)
        out[k] = NULL;
    for (int i = 0; i < n_in; i++) {
        pvi[i] = NULL;
        if (!in[i])
            continue;
        vi[i] = (lp_vinfo){ .dtype = in[i]->dtype, .value = in[i] };
        lp_shape_of(in[i], &vi[i].shape);
        pvi[i] = &vi[i];
    }
    lp_status st = infer_only(t, opset, n_in, pvi, n_out, vo);
    for (int k = 0; k < n_out && st == LP_OK; k++) {
        if (skip && skip[k])
            continue;
        CHECK_MSG(lp_shape_static(&vo[k].shape), "output %d has no static shape", k);
        if (lp_shape_static(&vo[k].shape))
            st = lp_tensor_new(vo[k].dtype, vo[k].shape.ndim, vo[k].shape.d, &out[k]);
        else
            st = lp_error(LOWP_ERR_SHAPE, "test: output %d has no static shape", k);
    }
    if (st == LP_OK) {
        lp_run_ctx rc = { .node = t->node, .opset = opset, .n_in = n_in, .n_out = n_out,
                          .in = (const lp_tensor *const *)in, .out = out };
        st = lp_op_get(t->node->op)->run(&rc);
    }
    for (int k = 0; k < n_out; k++) {
        if (st == LP_OK && vo[k].value && out[k])
            CHECK_MSG(lp_tensor_equal(vo[k].value, out[k]), "infer's value differs from run's for output %d", k);
        lp_tensor_free(vo[k].value);
        if (st != LP_OK) {
            lp_tensor_free(out[k]);
            out[k] = NULL;
        }
    }
    return st;
}

static inline lp_status eval(tcase *t, int64_t opset, int n_in, lp_tensor *const *in, int n_out, lp_tensor **out)
{
    return eval_skip(t, opset, n_in, in, n_out, out, NULL);
}

static inline void done(tcase *t, int n_in, lp_tensor **in, int n_out, lp_tensor **out)
{
    for (int i = 0; i < n_in; i++)
        lp_tensor_free(in[i]);
    for (int i = 0; i < n_out; i++)
        lp_tensor_free(out[i]);
    lp_graph_free(t->g);
}

static inline bool dims_are(const lp_tensor *y, int nd, const int64_t *d)
{
    if (!y || y->ndim != nd)
        return false;
    for (int i = 0; i < nd; i++)
        if (y->dims[i] != d[i])
            return false;
    return true;
}

/* Exact float32 comparison (NaN matches NaN) or within rtol of the expected value. */
#define CHECK_F32S(y, rtol, ...) check_f32s(y, (const float[]){ __VA_ARGS__ }, sizeof((const float[]){ __VA_ARGS__ }) / sizeof(float), rtol)
static inline void check_f32s(const lp_tensor *y, const float *want, size_t n, double rtol)
{
    CHECK(y && y->dtype == LP_F32 && (size_t)lp_tensor_numel(y) == n);
    if (!y || y->dtype != LP_F32 || (size_t)lp_tensor_numel(y) != n)
        return;
    const float *v = y->data;
    for (size_t i = 0; i < n; i++) {
        bool ok = isnan(want[i]) ? isnan(v[i]) : v[i] == want[i] || fabs((double)v[i] - want[i]) <= rtol * fabs(want[i]);
        CHECK_MSG(ok, "element %zu: got %.9g, want %.9g", i, v[i], want[i]);
    }
}

#define CHECK_INTS(y, dt, ...) check_ints(y, dt, (const int64_t[]){ __VA_ARGS__ }, sizeof((const int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t))
static inline void check_ints(const lp_tensor *y, lp_dtype dt, const int64_t *want, size_t n)
{
    CHECK(y && y->dtype == dt && (size_t)lp_tensor_numel(y) == n);
    if (!y || y->dtype != dt || (size_t)lp_tensor_numel(y) != n)
        return;
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(lp_tensor_get_int(y, (int64_t)i) == want[i], "element %zu: got %lld, want %lld", i,
                  (long long)lp_tensor_get_int(y, (int64_t)i), (long long)want[i]);
}

/* Deterministic pseudo-random numbers (fixed seed per test). */
static uint64_t rng_state = 1;
static inline void rng_seed(uint64_t s) { rng_state = s * 6364136223846793005ULL + 1442695040888963407ULL; }
static inline uint32_t rng_u32(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}
static inline int rng_int(int lo, int hi) { return lo + (int)(rng_u32() % (uint32_t)(hi - lo + 1)); } /* [lo, hi] */
static inline float rng_float(void) { return (float)rng_u32() / 2147483648.0f - 1.0f; }             /* [-1, 1) */

static inline lp_tensor *rand_f32(int nd, const int64_t *dims)
{
    lp_tensor *x = mkt(LP_F32, nd, dims, NULL);
    for (int64_t i = 0; x && i < lp_tensor_numel(x); i++)
        ((float *)x->data)[i] = rng_float();
    return x;
}

/* Float32 accumulation of K products has error at most about K * 2^-24 * sum|products|
 * (recursive summation bound); the checks below allow (K + 4) * 2^-24 * sum|products|
 * plus a tiny absolute term. */
static inline bool close_to(double got, double want, double mag, int64_t K)
{
    return fabs(got - want) <= (double)(K + 4) * 0x1p-24 * mag + 1e-7;
}

#endif
