/* rearrange.c — ops that move elements to computed places: DepthToSpace, SpaceToDepth,
 * ReverseSequence, MaxUnpool. Copies move element-size bytes, so every dtype works. */
#include <string.h>

#include "ops/elementwise_util.h"

static size_t esize(const lp_tensor *t) { return lp_dtype_traits_of(t->dtype)->size; }

/* ---- DepthToSpace, SpaceToDepth: (N, C, H, W) <-> (N, C/b^2, H*b, W*b) ---- */

static lp_status blocksize(const lp_node *n, int64_t *b)
{
    *b = lp_attr_int(n, "blocksize", 0);
    if (*b < 1 || *b > (1 << 16))
        return lp_node_error(n, LOWP_ERR_FORMAT, "blocksize must be in [1, 65536], got %lld", (long long)*b);
    return LP_OK;
}

/* to_space: DepthToSpace (C must divide by b^2), else SpaceToDepth (H and W by b). */
static lp_status infer_space(lp_infer_ctx *c, bool to_space)
{
    const lp_vinfo *x = c->in[0];
    int64_t b;
    LP_TRY(blocksize(c->node, &b));
    if (to_space) {
        const char *m = lp_attr_str(c->node, "mode", "DCR");
        if (strcmp(m, "DCR") != 0 && strcmp(m, "CRD") != 0)
            return lp_node_error(c->node, LOWP_ERR_FORMAT, "mode must be DCR or CRD, got '%s'", m);
    }
    c->out[0].dtype = x->dtype;
    c->out[0].shape = x->shape;
    if (x->shape.ndim < 0)
        return LP_OK;
    if (x->shape.ndim != 4)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the input must be 4-D (N, C, H, W), got rank %d", x->shape.ndim);
    int64_t *d = c->out[0].shape.d;
    int64_t C = d[1], H = d[2], W = d[3];
    if (to_space) {
        if (lp_dim_known(C) && C % (b * b))
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "C = %lld does not divide by blocksize^2", (long long)C);
        d[1] = lp_dim_known(C) ? C / (b * b) : LP_DIM_UNKNOWN;
        d[2] = lp_dim_known(H) ? H * b : LP_DIM_UNKNOWN;
        d[3] = lp_dim_known(W) ? W * b : LP_DIM_UNKNOWN;
    } else {
        if ((lp_dim_known(H) && H % b) || (lp_dim_known(W) && W % b))
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "H and W must divide by blocksize");
        d[1] = lp_dim_known(C) ? C * b * b : LP_DIM_UNKNOWN;
        d[2] = lp_dim_known(H) ? H / b : LP_DIM_UNKNOWN;
        d[3] = lp_dim_known(W) ? W / b : LP_DIM_UNKNOWN;
    }
    return LP_OK;
}

/* Walks the deep tensor (N, C', H, W) with C' = C*b*b as (N, [b, b, C] or [C, b, b], H, W) and
 * the spatial one (N, C, H*b, W*b): DCR splits C' as (bh, bw, c), CRD as (c, bh, bw).
 * depth_to_space copies deep -> spatial, else spatial -> deep. */
static lp_status run_space(const lp_run_ctx *c, bool to_space)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t b;
    LP_TRY(blocksize(c->node, &b));
    bool crd = to_space && strcmp(lp_attr_str(c->node, "mode", "DCR"), "CRD") == 0;
    const lp_tensor *deep = to_space ? x : y, *sp = to_space ? y : x;
    if (x->ndim != 4 || y->ndim != 4 || x->dtype != y->dtype || x->nbytes != y->nbytes || !esize(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected 4-D input and output of one size");
    int64_t N = deep->dims[0], C = sp->dims[1], H = deep->dims[2], W = deep->dims[3];
    if (deep->dims[1] != C * b * b || sp->dims[2] != H * b || sp->dims[3] != W * b)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input and output dims do not match the blocksize");
    size_t es = esize(x);
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t bh = 0; bh < b; bh++)
                for (int64_t bw = 0; bw < b; bw++) {
                    int64_t dc = crd ? (ch * b + bh) * b + bw : (bh * b + bw) * C + ch;
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++) {
                            int64_t di = ((n * C * b * b + dc) * H + h) * W + w;
                            int64_t si = ((n * C + ch) * H * b + h * b + bh) * W * b + w * b + bw;
                            int64_t from = to_space ? di : si, to = to_space ? si : di;
                            memcpy((char *)y->data + (size_t)to * es, (const char *)x->data + (size_t)from * es, es);
                        }
                }
    return LP_OK;
}

static lp_status infer_DepthToSpace(lp_infer_ctx *c) { return infer_space(c, true); }
static lp_status infer_SpaceToDepth(lp_infer_ctx *c) { return infer_space(c, false); }
static lp_status run_DepthToSpace(const lp_run_ctx *c) { return run_space(c, true); }
static lp_status run_SpaceToDepth(const lp_run_ctx *c) { return run_space(c, false); }

const lp_op_def lp_opdef_DepthToSpace = { .name = "DepthToSpace", .min_in = 1, .max_in = 1, .min_out = 1,
                                          .max_out = 1, .infer = infer_DepthToSpace, .run = run_DepthToSpace };
const lp_op_def lp_opdef_SpaceToDepth = { .name = "SpaceToDepth", .min_in = 1, .max_in = 1, .min_out = 1,
                                          .max_out = 1, .infer = infer_SpaceToDepth, .run = run_SpaceToDepth };

/* ---- ReverseSequence: x (rank >= 2) with a batch and a time axis (0 and 1, either way);
 * the first sequence_lens[b] steps of batch b reversed, the rest copied ---- */

static lp_status run_ReverseSequence(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *lens = c->in[1];
    lp_tensor *y = c->out[0];
    int bax = (int)lp_attr_int(c->node, "batch_axis", 1), tax = (int)lp_attr_int(c->node, "time_axis", 0);
    if (x->ndim < 2 || !((bax == 0 && tax == 1) || (bax == 1 && tax == 0)))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "batch_axis and time_axis must be 0 and 1 of a rank >= 2 input");
    int64_t B = x->dims[bax], T = x->dims[tax], inner = lp_numel(x->ndim - 2, x->dims + 2);
    if (lens->ndim != 1 || lens->dims[0] != B || (lens->dtype != LP_I32 && lens->dtype != LP_I64))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "sequence_lens must be int32 or int64 of shape (batch)");
    if (y->dtype != x->dtype || y->nbytes != x->nbytes || !esize(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output must be like the input");
    size_t block = (size_t)inner * esize(x);
    for (int64_t bi = 0; bi < B; bi++) {
        int64_t len = lp_tensor_get_int(lens, bi);
        if (len < 0 || len > T)
            return lp_node_error(c->node, LOWP_ERR_INVALID_ARGUMENT, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                                 (long long)bi, (long long)len, (long long)T);
        for (int64_t t = 0; t < T; t++) {
            int64_t src = t < len ? len - 1 - t : t;
            int64_t to = bax == 0 ? bi * T + t : t * B + bi, from = bax == 0 ? bi * T + src : src * B + bi;
            memcpy((char *)y->data + (size_t)to * block, (const char *)x->data + (size_t)from * block, block);
        }
    }
    return LP_OK;
}

static lp_status infer_ReverseSequence(lp_infer_ctx *c)
{
    if (c->in[1]->dtype != LOWP_UNDEFINED && c->in[1]->dtype != LP_I32 && c->in[1]->dtype != LP_I64)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "sequence_lens must be int32 or int64");
    c->out[0].dtype = c->in[0]->dtype;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_ReverseSequence = { .name = "ReverseSequence", .min_in = 2, .max_in = 2, .min_out = 1,
                                             .max_out = 1, .infer = infer_ReverseSequence, .run = run_ReverseSequence };

/* ---- MaxUnpool: x (N, C, d...), indices (same shape; flat offsets into y, as MaxPool's
 * Indices output) -> y zeros with y[indices[i]] = x[i]. y's shape: input 2 (output_shape) or
 * (in - 1) * stride - pad_begin - pad_end + kernel per spatial dim. ---- */

static lp_status unpool_dims(const lp_node *n, int nd, const int64_t *in, const lp_tensor *shape_t, int64_t *out)
{
    if (shape_t) {
        if (lp_tensor_numel(shape_t) != nd || shape_t->dtype != LP_I64)
            return lp_node_error(n, LOWP_ERR_SHAPE, "output_shape must hold %d int64 values", nd);
        for (int k = 0; k < nd; k++)
            if ((out[k] = lp_tensor_get_int(shape_t, k)) < 0)
                return lp_node_error(n, LOWP_ERR_SHAPE, "output_shape has a negative dim");
        return LP_OK;
    }
    const int64_t *ks, *st, *pads;
    int nk = lp_attr_ints(n, "kernel_shape", &ks), ns = lp_attr_ints(n, "strides", &st);
    int np = lp_attr_ints(n, "pads", &pads);
    int sp = nd - 2;
    if (nk != sp || (ns >= 0 && ns != sp) || (np >= 0 && np != 2 * sp))
        return lp_node_error(n, LOWP_ERR_FORMAT, "kernel_shape, strides and pads must match %d spatial dims", sp);
    out[0] = in[0];
    out[1] = in[1];
    for (int k = 0; k < sp; k++) {
        int64_t s = ns >= 0 ? st[k] : 1, pb = np >= 0 ? pads[k] : 0, pe = np >= 0 ? pads[k + sp] : 0;
        if (!lp_dim_known(in[k + 2])) {
            out[k + 2] = LP_DIM_UNKNOWN;
            continue;
        }
        if (s < 1 || ks[k] < 1 || pb < 0 || pe < 0 || s > (1 << 20) || ks[k] > (1 << 20) || in[k + 2] > (INT64_C(1) << 32))
            return lp_node_error(n, LOWP_ERR_FORMAT, "kernel_shape, strides or pads out of range");
        out[k + 2] = (in[k + 2] - 1) * s - pb - pe + ks[k];
        if (out[k + 2] < 0)
            return lp_node_error(n, LOWP_ERR_SHAPE, "the output would have a negative dim");
    }
    return LP_OK;
}

static lp_status infer_MaxUnpool(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *os = c->n_in > 2 ? c->in[2] : NULL;
    c->out[0].dtype = x->dtype;
    int nd = x->shape.ndim;
    if (nd < 0 || (os && !os->value)) {
        c->out[0].shape.ndim = os && os->shape.ndim == 1 && lp_dim_known(os->shape.d[0]) ? (int)os->shape.d[0] : -1;
        for (int k = 0; k < c->out[0].shape.ndim && k < LP_MAX_DIMS; k++)
            c->out[0].shape.d[k] = LP_DIM_UNKNOWN;
        return LP_OK;
    }
    if (nd < 3)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the input must be (N, C, d...), got rank %d", nd);
    c->out[0].shape.ndim = nd;
    return unpool_dims(c->node, nd, x->shape.d, os ? os->value : NULL, c->out[0].shape.d);
}

static lp_status run_MaxUnpool(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *ind = c->in[1];
    lp_tensor *y = c->out[0];
    if (ind->dtype != LP_I64 || lp_tensor_numel(ind) != lp_tensor_numel(x) || y->dtype != x->dtype || !esize(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "indices must be int64 of the input's shape");
    /* Indices address the default output shape; an output_shape may be larger, and each
     * element keeps its coordinates there (ONNX's reference, ONNX Runtime). */
    int64_t def[LP_MAX_DIMS];
    if (x->ndim < 3 || y->ndim != x->ndim)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input and output must be (N, C, d...) of one rank");
    LP_TRY(unpool_dims(c->node, x->ndim, x->dims, NULL, def));
    int64_t n = lp_tensor_numel(x), m = lp_numel(x->ndim, def);
    size_t es = esize(x);
    memset(y->data, 0, y->nbytes);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = lp_tensor_get_int(ind, i), to = 0, scale = 1;
        if (j < 0 || j >= m)
            return lp_node_error(c->node, LOWP_ERR_INVALID_ARGUMENT, "index %lld is outside the output (%lld elements)",
                                 (long long)j, (long long)m);
        for (int k = x->ndim - 1; k >= 0; k--, j /= def[k + 1]) {
            int64_t coord = j % def[k];
            if (coord >= y->dims[k])
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "output_shape is smaller than the pooled input needs");
            to += coord * scale;
            scale *= y->dims[k];
        }
        memcpy((char *)y->data + (size_t)to * es, (const char *)x->data + (size_t)i * es, es);
    }
    return LP_OK;
}

const lp_op_def lp_opdef_MaxUnpool = { .name = "MaxUnpool", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
                                       .infer = infer_MaxUnpool, .run = run_MaxUnpool };
