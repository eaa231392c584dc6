/* build.c — graph-building helpers for the quantizers, and weight quantization. */
#include "quant/build.h"

#include <math.h>
#include <stdlib.h>

#include "ops/requant.h"
#include "quant/quantize.h"

lp_status lp_qb_const(lp_graph *g, const char *name, lp_tensor *t, int *v_out)
{
    lp_status st = lp_graph_new_value(g, name, v_out);
    if (st != LP_OK) {
        lp_tensor_free(t);
        return st;
    }
    lp_graph_set_const(g, *v_out, t);
    return LP_OK;
}

lp_status lp_qb_scalar(lp_graph *g, const char *name, lp_dtype dt, double val, int *v_out)
{
    lp_tensor *t;
    LP_TRY(lp_tensor_new(dt, 0, NULL, &t));
    lp_dtype_traits_of(dt)->set(t->data, 0, val);
    return lp_qb_const(g, name, t, v_out);
}

lp_status lp_qb_value(lp_graph *g, const char *name, int *v_out) { return lp_graph_new_value(g, name, v_out); }

lp_status lp_qb_node(lp_graph *g, const char *op, const char *name, int n_in, const int *in, int n_out,
                     const int *out, int *idx_out)
{
    return lp_graph_add_node(g, name, op, "", n_in, in, n_out, out, idx_out);
}

lp_status lp_qb_attr_int(lp_graph *g, int node, const char *name, int64_t v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_INT, .i = v };
    return lp_node_add_attr(&g->nodes[node], &a);
}

static lp_status quantize_weight(const lp_tensor *w, int axis, lp_dtype dt, int32_t qmax, lp_tensor **q_out,
                                 float **scales_out, int64_t *n_out, int32_t *zp_out);

lp_status lp_quantize_weight(const lp_tensor *w, int axis, lp_tensor **q_out, float **scales_out, int64_t *n_out)
{
    int32_t zp;
    return quantize_weight(w, axis, LP_I8, 127, q_out, scales_out, n_out, &zp);
}

lp_status lp_quantize_weight_bits(const lp_tensor *w, int axis, int bits, lp_tensor **q_out, float **scales_out,
                                  int64_t *n_out)
{
    int32_t zp;
    if (bits < 2 || bits > 8)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "weight bits %d: expected 2 to 8", bits);
    return quantize_weight(w, axis, LP_I8, (1 << (bits - 1)) - 1, q_out, scales_out, n_out, &zp);
}

lp_status lp_quantize_weight_as(const lp_tensor *w, int axis, lp_dtype dt, lp_tensor **q_out, float **scales_out,
                                int64_t *n_out, int32_t *zp_out)
{
    return quantize_weight(w, axis, dt, 127, q_out, scales_out, n_out, zp_out);
}

static lp_status quantize_weight(const lp_tensor *w, int axis, lp_dtype dt, int32_t qmax, lp_tensor **q_out,
                                 float **scales_out, int64_t *n_out, int32_t *zp_out)
{
    int64_t ch = axis >= 0 ? w->dims[axis] : 1, inner = 1;
    for (int d = axis + 1; axis >= 0 && d < w->ndim; d++)
        inner *= w->dims[d];
    int64_t n = lp_tensor_numel(w);
    float *sc = calloc((size_t)(ch ? ch : 1), sizeof *sc);
    lp_tensor *q = NULL;
    if (!sc)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory quantizing a weight");
    lp_status st = lp_tensor_new(dt, w->ndim, w->dims, &q);
    if (st != LP_OK) {
        free(sc);
        return st;
    }
    const float *wd = w->data;
    /* u8: symmetric around 128, so that every q - 128 fits int8 -- what INT8 kernels take
       (oneDNN's s8 weights) with no correction for the rest (docs/quantization.md) */
    int32_t zp = dt == LP_U8 ? 128 : 0, lo = dt == LP_U8 ? 0 : -qmax, hi = dt == LP_U8 ? 255 : qmax;
    /* element i belongs to channel (i / inner) % ch */
    for (int64_t i = 0; i < n; i++) {
        int64_t c = axis >= 0 ? (i / inner) % ch : 0;
        sc[c] = fmaxf(sc[c], fabsf(wd[i]));
    }
    for (int64_t c = 0; c < ch; c++)
        sc[c] = sc[c] > 0 ? sc[c] / (float)qmax : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = axis >= 0 ? (i / inner) % ch : 0;
        int32_t v = lp_requant(wd[i] / sc[c], zp, lo, hi);
        if (dt == LP_U8)
            ((uint8_t *)q->data)[i] = (uint8_t)v;
        else
            ((int8_t *)q->data)[i] = (int8_t)v;
    }
    *zp_out = zp;
    *q_out = q;
    *scales_out = sc;
    *n_out = ch;
    return LP_OK;
}
