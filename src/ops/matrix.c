/* matrix.c — ops on the last two dims as matrices: Trilu (triangle masks), EyeLike (identity
 * with a diagonal offset) and Det (determinants by LU decomposition in double). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_util.h"

/* ---- Trilu: x (..., N, M), optional scalar k; keep j - i >= k (upper) or <= k (lower) ---- */

static lp_status trilu_k(const lp_node *n, const lp_tensor *k, int64_t *out)
{
    *out = 0;
    if (!k)
        return LP_OK;
    if (lp_tensor_numel(k) != 1 || k->dtype != LP_I64)
        return lp_node_error(n, LOWP_ERR_SHAPE, "k must be one int64 value");
    *out = lp_tensor_get_int(k, 0);
    return LP_OK;
}

static lp_status run_Trilu(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t k;
    LP_TRY(trilu_k(c->node, c->n_in > 1 ? c->in[1] : NULL, &k));
    size_t es = lp_dtype_traits_of(x->dtype)->size;
    if (x->ndim < 2 || y->dtype != x->dtype || y->nbytes != x->nbytes || !es)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected an input of rank >= 2 and an output like it");
    bool upper = lp_attr_int(c->node, "upper", 1) != 0;
    int64_t N = x->dims[x->ndim - 2], M = x->dims[x->ndim - 1], batch = lp_numel(x->ndim - 2, x->dims);
    const char *src = x->data;
    char *dst = y->data;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < M; j++) {
                size_t at = (size_t)((b * N + i) * M + j) * es;
                bool keep = upper ? j - i >= k : j - i <= k;
                if (keep)
                    memcpy(dst + at, src + at, es);
                else
                    memset(dst + at, 0, es);
            }
    return LP_OK;
}

static lp_status infer_Trilu(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    if (x->shape.ndim >= 0 && x->shape.ndim < 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the input must have rank >= 2, got %d", x->shape.ndim);
    const lp_vinfo *k = c->n_in > 1 ? c->in[1] : NULL;
    if (k && k->dtype != LOWP_UNDEFINED && k->dtype != LP_I64)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "k must be int64");
    c->out[0].dtype = x->dtype;
    c->out[0].shape = x->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_Trilu = { .name = "Trilu", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
                                   .infer = infer_Trilu, .run = run_Trilu };

/* ---- EyeLike: y of x's 2-D shape, dtype `dtype` (default x's), ones where j - i == k ---- */

static lp_status eyelike_dtype(const lp_node *n, lp_dtype in, lp_dtype *out)
{
    const lp_attr *a = lp_node_attr(n, "dtype");
    *out = in;
    if (!a)
        return LP_OK;
    if (a->type != LP_ATTR_INT || a->i < 0 || a->i >= LP_DTYPE_COUNT || !lp_dtype_valid((lp_dtype)a->i))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "dtype %lld is not supported", (long long)a->i);
    *out = (lp_dtype)a->i;
    return LP_OK;
}

static lp_status run_EyeLike(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    if (x->ndim != 2 || y->ndim != 2 || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] ||
        !lp_dtype_valid(y->dtype))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "EyeLike takes and gives 2-D tensors of one shape");
    int64_t k = lp_attr_int(c->node, "k", 0), N = x->dims[0], M = x->dims[1];
    memset(y->data, 0, y->nbytes);
    for (int64_t i = 0; i < N; i++) {
        int64_t j = i + k;
        if (j < 0 || j >= M)
            continue;
        if (lp_ew_is_float(y->dtype))
            lp_ew_setd(y, i * M + j, 1.0);
        else
            lp_ew_seti(y, i * M + j, 1);
    }
    return LP_OK;
}

static lp_status infer_EyeLike(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    if (x->shape.ndim >= 0 && x->shape.ndim != 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the input must be 2-D, got rank %d", x->shape.ndim);
    LP_TRY(eyelike_dtype(c->node, x->dtype, &c->out[0].dtype));
    c->out[0].shape = x->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_EyeLike = { .name = "EyeLike", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                     .infer = infer_EyeLike, .run = run_EyeLike };

/* ---- Det: x (..., M, M) float -> y (...) ---- */

/* Determinant of the M x M matrix a (overwritten) by Gaussian elimination with partial pivoting. */
static double det_lu(double *a, int64_t M)
{
    double det = 1;
    for (int64_t col = 0; col < M; col++) {
        int64_t piv = col;
        for (int64_t r = col + 1; r < M; r++)
            if (fabs(a[r * M + col]) > fabs(a[piv * M + col]))
                piv = r;
        if (a[piv * M + col] == 0)
            return 0;
        if (piv != col) {
            for (int64_t j = 0; j < M; j++) {
                double t = a[col * M + j];
                a[col * M + j] = a[piv * M + j];
                a[piv * M + j] = t;
            }
            det = -det;
        }
        double p = a[col * M + col];
        det *= p;
        for (int64_t r = col + 1; r < M; r++) {
            double f = a[r * M + col] / p;
            for (int64_t j = col; j < M; j++)
                a[r * M + j] -= f * a[col * M + j];
        }
    }
    return det;
}

static lp_status run_Det(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    if (x->ndim < 2 || x->dims[x->ndim - 1] != x->dims[x->ndim - 2] || !lp_ew_is_float(x->dtype) ||
        y->dtype != x->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "Det takes float square matrices (..., M, M)");
    int64_t M = x->dims[x->ndim - 1], batch = lp_numel(x->ndim - 2, x->dims);
    if (lp_tensor_numel(y) != batch)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output must hold one value per matrix");
    double *a = malloc((size_t)(M > 0 ? M * M : 1) * sizeof *a);
    if (!a)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory for a %lld x %lld matrix",
                             (long long)M, (long long)M);
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < M * M; i++)
            a[i] = t->get(x->data, b * M * M + i);
        lp_ew_setd(y, b, det_lu(a, M));
    }
    free(a);
    return LP_OK;
}

static lp_status infer_Det(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    int r = x->shape.ndim;
    c->out[0].dtype = x->dtype;
    if (r < 0) {
        c->out[0].shape.ndim = -1;
        return LP_OK;
    }
    int64_t a = r >= 2 ? x->shape.d[r - 2] : 0, b = r >= 2 ? x->shape.d[r - 1] : 0;
    if (r < 2 || (lp_dim_known(a) && lp_dim_known(b) && a != b))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the input must be (..., M, M)");
    c->out[0].shape.ndim = r - 2;
    for (int k = 0; k < r - 2; k++)
        c->out[0].shape.d[k] = x->shape.d[k];
    return LP_OK;
}

const lp_op_def lp_opdef_Det = { .name = "Det", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                 .infer = infer_Det, .run = run_Det };
