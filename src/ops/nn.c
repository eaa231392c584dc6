/* nn.c — convolution, pooling and normalization: shape inference and float32 reference
 * kernels. Convolutions run as im2col + GEMM (conv_ref.c); pooling and normalization are
 * direct loops over contiguous planes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_ref.h"
#include "ops/gemm_ref.h"

/* The reference kernels here compute in float32 only. */
static lp_status want_f32(const lp_node *n, lp_dtype t, const char *what)
{
    if (t == LOWP_UNDEFINED || t == LP_F32)
        return LP_OK;
    return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s is %s; only float32 is supported",
                         what, lp_dtype_traits_of(t)->name);
}

/* An optional per-channel vector input must have `len` elements (unknowns pass). */
static lp_status check_vec_shape(const lp_node *n, const lp_shape *s, int64_t len, const char *what)
{
    if (s->ndim < 0 || !lp_dim_known(len))
        return LP_OK;
    int64_t numel = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (!lp_dim_known(s->d[i]))
            return LP_OK;
        numel *= s->d[i];
    }
    if (s->ndim > 1 || numel != len)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%s must be a vector of %lld values", what, (long long)len);
    return LP_OK;
}

static lp_status check_vec(const lp_node *n, const lp_tensor *t, int64_t len, const char *what)
{
    if (t->dtype != LP_F32)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s is %s; only float32 is supported",
                             what, lp_dtype_traits_of(t->dtype)->name);
    if (t->ndim > 1 || lp_tensor_numel(t) != len)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%s must be a vector of %lld values", what, (long long)len);
    return LP_OK;
}

/* ---------------- Conv ---------------- */

static lp_status conv_infer(lp_infer_ctx *c)
{
    LP_TRY(want_f32(c->node, lp_in_dtype(c, 0), "X"));
    LP_TRY(want_f32(c->node, lp_in_dtype(c, 1), "W"));
    const lp_shape *w = lp_in_shape(c, 1);
    LP_TRY(lp_conv_infer(c->node, lp_in_shape(c, 0), w, &c->out[0].shape));
    if (c->n_in > 2 && c->in[2])
        LP_TRY(check_vec_shape(c->node, &c->in[2]->shape, w->ndim >= 0 ? w->d[0] : LP_DIM_UNKNOWN, "B"));
    c->out[0].dtype = lp_in_dtype(c, 0);
    return LP_OK;
}

/* x: (N,C,in...), w: (M,C/group,k...), b: (M), y: (N,M,out...) */
static lp_status conv_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    const lp_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    lp_conv cv;
    LP_TRY(want_f32(c->node, x->dtype, "X"));
    LP_TRY(want_f32(c->node, w->dtype, "W"));
    LP_TRY(lp_conv_setup(c->node, x, w, &cv));
    if (b)
        LP_TRY(check_vec(c->node, b, cv.M, "B"));
    return lp_conv_f32(c->node, &cv, x->data, w->data, b ? b->data : NULL, c->out[0]->data);
}

const lp_op_def lp_opdef_Conv = {
    .name = "Conv", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = conv_infer, .run = conv_run,
};

/* ---------------- ConvTranspose ---------------- */

static int64_t floor_div2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

/* Geometry of a transposed convolution with input dims in[nsp] (maybe unknown) and kernel
 * k[nsp]: output dims out[nsp] and, when all are known, the forward window `w` whose
 * adjoint (col2im) it is: w.in = the output, w.out = the input. */
static lp_status convt_geom(const lp_node *n, int nsp, const int64_t *in, const int64_t *k,
                            int64_t *out, lp_window *w)
{
    int64_t s[LP_SP], d[LP_SP], p0[LP_SP], p1[LP_SP], op[LP_SP], os[LP_SP];
    const int64_t *v;
    int cnt;
    bool have_os = false;
    for (int i = 0; i < nsp; i++)
        s[i] = d[i] = 1, p0[i] = p1[i] = op[i] = 0;
#define READ_INTS(attr, dst, want, minv)                                                        \
    if ((cnt = lp_attr_ints(n, attr, &v)) >= 0) {                                               \
        if (cnt != (want))                                                                      \
            return lp_node_error(n, LOWP_ERR_FORMAT, attr " has %d values, expected %d", cnt, want); \
        for (int i = 0; i < cnt; i++) {                                                         \
            if (v[i] < (minv))                                                                  \
                return lp_node_error(n, LOWP_ERR_FORMAT, attr " value %lld is below %d", (long long)v[i], minv); \
            dst[i] = v[i];                                                                      \
        }                                                                                       \
    }
    READ_INTS("strides", s, nsp, 1)
    READ_INTS("dilations", d, nsp, 1)
    READ_INTS("output_padding", op, nsp, 0)
#undef READ_INTS
    LP_TRY(lp_window_pads(n, nsp, p0, p1));
    if ((cnt = lp_attr_ints(n, "output_shape", &v)) >= 0) {
        /* spatial dims; some exporters write the full (N, M, spatial...) shape */
        if (cnt != nsp && cnt != nsp + 2)
            return lp_node_error(n, LOWP_ERR_FORMAT, "output_shape has %d values, expected %d", cnt, nsp);
        for (int i = 0; i < nsp; i++)
            os[i] = v[cnt - nsp + i];
        have_os = true;
    }
    const char *ap = lp_attr_str(n, "auto_pad", "NOTSET");
    bool same = strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0;
    bool upper = strcmp(ap, "SAME_UPPER") == 0;
    if (!same && strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, "
                             "SAME_LOWER, VALID", ap);
    bool known = true;
    for (int i = 0; i < nsp; i++) {
        if (!lp_dim_known(in[i])) {
            out[i] = have_os ? os[i] : LP_DIM_UNKNOWN;
            known = false;
            continue;
        }
        int64_t dk = (k[i] - 1) * d[i] + 1, full = s[i] * (in[i] - 1) + op[i] + dk;
        if (have_os || same) {
            /* The spec: total padding = full - output; SAME_UPPER puts the odd one at the
             * end, NOTSET and SAME_LOWER at the start (floor division: an output larger
             * than `full` gives negative padding, i.e. zeros appended). */
            out[i] = have_os ? os[i] : in[i] * s[i];
            int64_t total = full - out[i];
            p0[i] = upper ? floor_div2(total) : total - floor_div2(total);
        } else {
            if (strcmp(ap, "VALID") == 0)
                p0[i] = p1[i] = 0;
            out[i] = full - p0[i] - p1[i];
        }
        if (out[i] < 1)
            return lp_node_error(n, LOWP_ERR_SHAPE, "spatial dim %d: output size %lld is not positive",
                                 i, (long long)out[i]);
    }
    if (!known || !w)
        return LP_OK;
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    int off = LP_SP - nsp;
    for (int i = 0; i < LP_SP; i++)
        w->in[i] = w->k[i] = w->out[i] = w->stride[i] = w->dil[i] = 1;
    for (int i = 0; i < nsp; i++) {
        w->in[off + i] = out[i];
        w->out[off + i] = in[i];
        w->k[off + i] = k[i];
        w->stride[off + i] = s[i];
        w->dil[off + i] = d[i];
        w->pad0[off + i] = p0[i]; /* may be negative: the output starts before the input's image */
    }
    return LP_OK;
}

static lp_status convt_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    LP_TRY(want_f32(n, lp_in_dtype(c, 0), "X"));
    LP_TRY(want_f32(n, lp_in_dtype(c, 1), "W"));
    const lp_shape *x = lp_in_shape(c, 0), *w = lp_in_shape(c, 1);
    lp_shape *y = &c->out[0].shape;
    c->out[0].dtype = lp_in_dtype(c, 0);
    y->ndim = -1;
    if (x->ndim >= 0 && w->ndim >= 0 && x->ndim != w->ndim)
        return lp_node_error(n, LOWP_ERR_SHAPE, "input has rank %d but the weights rank %d", x->ndim, w->ndim);
    int r = x->ndim >= 0 ? x->ndim : w->ndim;
    if (r < 0)
        return LP_OK;
    if (r < 3 || r - 2 > LP_SP)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "rank %d; ranks 3 to %d are supported", r, LP_SP + 2);
    int nsp = r - 2;
    int64_t group = lp_attr_int(n, "group", 1);
    if (group < 1)
        return lp_node_error(n, LOWP_ERR_FORMAT, "group %lld, expected >= 1", (long long)group);
    int64_t C = x->ndim >= 0 ? x->d[1] : LP_DIM_UNKNOWN, Cw = w->ndim >= 0 ? w->d[0] : LP_DIM_UNKNOWN;
    if (lp_dim_known(C) && lp_dim_known(Cw) && C != Cw)
        return lp_node_error(n, LOWP_ERR_SHAPE, "input has %lld channels, weights %lld", (long long)C, (long long)Cw);
    if (lp_dim_known(Cw) && Cw % group)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%lld input channels not divisible by group %lld",
                             (long long)Cw, (long long)group);
    int64_t k[LP_SP], in[LP_SP], out[LP_SP];
    const int64_t *ks;
    int cnt = lp_attr_ints(n, "kernel_shape", &ks);
    if (cnt >= 0 && cnt != nsp)
        return lp_node_error(n, LOWP_ERR_FORMAT, "kernel_shape has %d values, expected %d", cnt, nsp);
    bool k_known = true;
    for (int i = 0; i < nsp; i++) {
        k[i] = cnt >= 0 ? ks[i] : w->ndim >= 0 ? w->d[2 + i] : LP_DIM_UNKNOWN;
        if (!lp_dim_known(k[i]) || k[i] < 1)
            k_known = false;
        in[i] = x->ndim >= 0 ? x->d[2 + i] : LP_DIM_UNKNOWN;
    }
    y->ndim = r;
    y->d[0] = x->ndim >= 0 ? x->d[0] : LP_DIM_UNKNOWN;
    y->d[1] = w->ndim >= 0 && lp_dim_known(w->d[1]) ? w->d[1] * group : LP_DIM_UNKNOWN;
    if (!k_known) {
        for (int i = 0; i < nsp; i++)
            y->d[2 + i] = LP_DIM_UNKNOWN;
        return LP_OK;
    }
    LP_TRY(convt_geom(n, nsp, in, k, out, NULL));
    for (int i = 0; i < nsp; i++)
        y->d[2 + i] = out[i];
    if (c->n_in > 2 && c->in[2])
        LP_TRY(check_vec_shape(n, &c->in[2]->shape, y->d[1], "B"));
    return LP_OK;
}

lp_status lp_convt_setup(const lp_node *n, const lp_tensor *x, const lp_tensor *w, lp_window *win)
{
    LP_TRY(want_f32(n, x->dtype, "X"));
    LP_TRY(want_f32(n, w->dtype, "W"));
    if (x->ndim < 3 || x->ndim - 2 > LP_SP || w->ndim != x->ndim)
        return lp_node_error(n, LOWP_ERR_SHAPE, "expected X and W of the same rank 3 to %d", LP_SP + 2);
    int64_t group = lp_attr_int(n, "group", 1), C = x->dims[1];
    if (group < 1 || C != w->dims[0] || C % group)
        return lp_node_error(n, LOWP_ERR_SHAPE, "X has %lld channels, W %lld, group %lld",
                             (long long)C, (long long)w->dims[0], (long long)group);
    int64_t out[LP_SP];
    return convt_geom(n, x->ndim - 2, x->dims + 2, w->dims + 2, out, win);
}

/* x: (N,C,in...), w: (C,M/group,k...), b: (M), y: (N,M,out...): y is the adjoint of a
 * convolution, per group col (M/g*k, in) = w_g^T (M/g*k, C/g) * x_g (C/g, in), then col2im. */
static lp_status convt_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    const lp_node *n = c->node;
    const lp_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    lp_tensor *y = c->out[0];
    lp_window win;
    LP_TRY(lp_convt_setup(n, x, w, &win));
    int nsp = x->ndim - 2, off = LP_SP - nsp;
    int64_t group = lp_attr_int(n, "group", 1), N = x->dims[0], C = x->dims[1];
    int64_t Cg = C / group, Mg = w->dims[1], M = Mg * group;
    for (int i = 0; i < nsp; i++)
        if (y->dims[2 + i] != win.in[off + i])
            return lp_node_error(n, LOWP_ERR_INTERNAL, "output allocated with a different shape");
    if (b)
        LP_TRY(check_vec(n, b, M, "B"));
    int64_t K = Mg * lp_window_kprod(&win), I = lp_window_outprod(&win), O = lp_window_inprod(&win);
    float *col = malloc((size_t)(K * I > 0 ? K * I : 1) * sizeof *col);
    if (!col)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for a %lld x %lld buffer",
                             (long long)K, (long long)I);
    const float *xd = x->data, *wd = w->data;
    float *yd = y->data;
    memset(yd, 0, y->nbytes);
    for (int64_t bi = 0; bi < N; bi++)
        for (int64_t g = 0; g < group; g++) {
            /* w_g: (Cg, K) row-major, read transposed: A[i][p] = w_g[p][i] */
            lp_gemm_f32(K, I, Cg, 1.0f, wd + g * Cg * K, 1, K, xd + (bi * C + g * Cg) * I, I, 0.0f, col, I);
            lp_col2im_f32(col, Mg, &win, yd + (bi * M + g * Mg) * O);
        }
    free(col);
    if (b) {
        const float *bd = b->data;
        for (int64_t bi = 0; bi < N; bi++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t p = 0; p < O; p++)
                    yd[(bi * M + m) * O + p] += bd[m];
    }
    return LP_OK;
}

const lp_op_def lp_opdef_ConvTranspose = {
    .name = "ConvTranspose", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = convt_infer, .run = convt_run,
};

/* ---------------- MaxPool, AveragePool ---------------- */

/* Kernel shape from the required attribute kernel_shape; rank from X. */
static lp_status pool_kernel(const lp_node *n, int rank, int64_t *k)
{
    const int64_t *ks;
    int cnt = lp_attr_ints(n, "kernel_shape", &ks);
    if (cnt < 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "the kernel_shape attribute is required");
    if (rank >= 0 && cnt != rank - 2)
        return lp_node_error(n, LOWP_ERR_SHAPE, "kernel_shape has %d values for an input of rank %d", cnt, rank);
    if (cnt < 1 || cnt > LP_SP)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%d spatial dims; 1 to %d are supported", cnt, LP_SP);
    for (int i = 0; i < cnt; i++)
        k[i] = ks[i];
    return LP_OK;
}

static lp_status pool_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    const lp_shape *x = lp_in_shape(c, 0);
    int64_t k[LP_SP];
    LP_TRY(pool_kernel(n, x->ndim, k));
    const int64_t *ks;
    int nsp = lp_attr_ints(n, "kernel_shape", &ks);
    int64_t in[LP_SP];
    for (int i = 0; i < nsp; i++)
        in[i] = x->ndim >= 0 ? x->d[2 + i] : LP_DIM_UNKNOWN;
    lp_window w;
    LP_TRY(lp_window_init(n, nsp, in, k, lp_attr_int(n, "ceil_mode", 0) != 0, &w));
    lp_shape *y = &c->out[0].shape;
    y->ndim = nsp + 2;
    y->d[0] = x->ndim >= 0 ? x->d[0] : LP_DIM_UNKNOWN;
    y->d[1] = x->ndim >= 0 ? x->d[1] : LP_DIM_UNKNOWN;
    for (int i = 0; i < nsp; i++)
        y->d[2 + i] = w.out[LP_SP - nsp + i];
    c->out[0].dtype = lp_in_dtype(c, 0);
    if (c->n_out > 1) {
        c->out[1].dtype = LP_I64;
        c->out[1].shape = *y;
    }
    return LP_OK;
}

static lp_status pool_setup(const lp_run_ctx *c, lp_window *w, int64_t *planes)
{
    const lp_tensor *x = c->in[0];
    int64_t k[LP_SP];
    if (x->ndim < 3)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "rank %d, expected (N, C, spatial...)", x->ndim);
    LP_TRY(pool_kernel(c->node, x->ndim, k));
    LP_TRY(lp_window_init(c->node, x->ndim - 2, x->dims + 2, k, lp_attr_int(c->node, "ceil_mode", 0) != 0, w));
    *planes = x->dims[0] * x->dims[1];
    return LP_OK;
}

/* x: (N,C,in...) -> y: (N,C,out...), indices: flat positions in x (row-major, or spatially
 * column-major with storage_order = 1), ignoring padding. */
#define MAXPOOL_BODY(T, LOWEST)                                                                   \
    {                                                                                             \
        const T *xd = x->data;                                                                    \
        T *yd = y->data;                                                                          \
        for (int64_t pl = 0; pl < planes; pl++) {                                                 \
            const T *xp = xd + pl * I;                                                            \
            for (int64_t o0 = 0; o0 < w.out[0]; o0++)                                             \
                for (int64_t o1 = 0; o1 < w.out[1]; o1++)                                         \
                    for (int64_t o2 = 0; o2 < w.out[2]; o2++) {                                   \
                        T best = LOWEST;                                                          \
                        int64_t arg = -1, st[LP_SP];                                              \
                        lp_window_start(&w, o0, o1, o2, st);                                      \
                        LP_WINDOW_FOR_TAPS(w, st, if (arg < 0 || xp[at] > best) {                 \
                            best = xp[at];                                                        \
                            arg = col_major ? i0 + (i1 + i2 * w.in[1]) * w.in[0] : at;            \
                        })                                                                        \
                        int64_t o = pl * O + (o0 * w.out[1] + o1) * w.out[2] + o2;                \
                        yd[o] = best;                                                             \
                        if (ind)                                                                  \
                            ind[o] = arg < 0 ? -1 : pl * I + arg;                                 \
                    }                                                                             \
        }                                                                                         \
    }

static lp_status maxpool_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 1));
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t *ind = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    lp_window w;
    int64_t planes;
    LP_TRY(pool_setup(c, &w, &planes));
    bool col_major = lp_attr_int(c->node, "storage_order", 0) != 0;
    int64_t I = lp_window_inprod(&w), O = lp_window_outprod(&w);
    switch (x->dtype) {
    case LP_F32: MAXPOOL_BODY(float, -INFINITY) break;
    case LP_U8: MAXPOOL_BODY(uint8_t, 0) break;
    case LP_I8: MAXPOOL_BODY(int8_t, INT8_MIN) break;
    default:
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "X is %s; float32, uint8 and int8 are supported",
                             lp_dtype_traits_of(x->dtype)->name);
    }
    return LP_OK;
}

static lp_status maxpool_infer(lp_infer_ctx *c)
{
    lp_dtype t = lp_in_dtype(c, 0);
    if (t != LOWP_UNDEFINED && t != LP_F32 && t != LP_U8 && t != LP_I8)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "X is %s; float32, uint8 and int8 are supported",
                             lp_dtype_traits_of(t)->name);
    return pool_infer(c);
}

const lp_op_def lp_opdef_MaxPool = {
    .name = "MaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 2,
    .infer = maxpool_infer, .run = maxpool_run,
};

static lp_status avgpool_infer(lp_infer_ctx *c)
{
    LP_TRY(want_f32(c->node, lp_in_dtype(c, 0), "X"));
    return pool_infer(c);
}

/* x: (N,C,in...) -> y: (N,C,out...), mean over each window. The divisor counts the taps
 * inside the input, or with count_include_pad also those in the explicit padding (never
 * the ceil_mode overhang), as ONNX Runtime and PyTorch do. */
static lp_status avgpool_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 1));
    LP_TRY(want_f32(c->node, c->in[0]->dtype, "X"));
    lp_window w;
    int64_t planes;
    LP_TRY(pool_setup(c, &w, &planes));
    bool incl = lp_attr_int(c->node, "count_include_pad", 0) != 0;
    int64_t I = lp_window_inprod(&w), O = lp_window_outprod(&w);
    const float *xd = c->in[0]->data;
    float *yd = c->out[0]->data;
    for (int64_t o0 = 0; o0 < w.out[0]; o0++)
        for (int64_t o1 = 0; o1 < w.out[1]; o1++)
            for (int64_t o2 = 0; o2 < w.out[2]; o2++) {
                int64_t st[LP_SP];
                lp_window_start(&w, o0, o1, o2, st);
                int64_t count = lp_window_avg_count(&w, st, incl);
                int64_t o = (o0 * w.out[1] + o1) * w.out[2] + o2;
                for (int64_t pl = 0; pl < planes; pl++) {
                    const float *xp = xd + pl * I;
                    double sum = 0;
                    LP_WINDOW_FOR_TAPS(w, st, sum += xp[at];)
                    yd[pl * O + o] = count ? (float)(sum / (double)count) : 0.0f;
                }
            }
    return LP_OK;
}

const lp_op_def lp_opdef_AveragePool = {
    .name = "AveragePool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = avgpool_infer, .run = avgpool_run,
};

/* ---------------- GlobalAveragePool, GlobalMaxPool ---------------- */

static lp_status global_pool_infer(lp_infer_ctx *c)
{
    LP_TRY(want_f32(c->node, lp_in_dtype(c, 0), "X"));
    const lp_shape *x = lp_in_shape(c, 0);
    lp_shape *y = &c->out[0].shape;
    c->out[0].dtype = lp_in_dtype(c, 0);
    *y = *x;
    if (x->ndim < 0)
        return LP_OK;
    if (x->ndim < 3)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "rank %d, expected (N, C, spatial...)", x->ndim);
    for (int i = 2; i < x->ndim; i++)
        y->d[i] = 1;
    return LP_OK;
}

/* x: (N,C,spatial...) -> y: (N,C,1...) */
static lp_status global_pool_run(const lp_run_ctx *c, bool is_max)
{
    LP_TRY(lp_need_inputs(c, 1));
    const lp_tensor *x = c->in[0];
    LP_TRY(want_f32(c->node, x->dtype, "X"));
    if (x->ndim < 3)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "rank %d, expected (N, C, spatial...)", x->ndim);
    int64_t planes = x->dims[0] * x->dims[1], S = lp_tensor_numel(x) / (planes ? planes : 1);
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xd + p * S;
        if (is_max) {
            float m = -INFINITY;
            for (int64_t i = 0; i < S; i++)
                m = xp[i] > m ? xp[i] : m;
            yd[p] = m;
        } else {
            double s = 0;
            for (int64_t i = 0; i < S; i++)
                s += xp[i];
            yd[p] = S ? (float)(s / (double)S) : 0.0f;
        }
    }
    return LP_OK;
}

static lp_status gap_run(const lp_run_ctx *c) { return global_pool_run(c, false); }
static lp_status gmp_run(const lp_run_ctx *c) { return global_pool_run(c, true); }

const lp_op_def lp_opdef_GlobalAveragePool = {
    .name = "GlobalAveragePool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = global_pool_infer, .run = gap_run,
};
const lp_op_def lp_opdef_GlobalMaxPool = {
    .name = "GlobalMaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = global_pool_infer, .run = gmp_run,
};

/* ---------------- BatchNormalization ---------------- */

/* Inference form only: training_mode = 1 (opset 14+), the running-statistics outputs, and
 * the opset < 9 `spatial = 0` form are refused. */
static lp_status bn_check_attrs(const lp_node *n, int64_t opset, int n_out_present)
{
    if (lp_attr_int(n, "training_mode", 0) != 0)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "training_mode = 1 is not supported (inference only)");
    if (n_out_present > 1)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "the training outputs (running mean/var, saved "
                             "statistics) are not supported (inference only)");
    if (opset < 9 && lp_attr_int(n, "spatial", 1) == 0)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "spatial = 0 is not supported");
    return LP_OK;
}

static int outputs_present(const lp_node *n)
{
    int k = 0;
    for (int i = 0; i < n->n_out; i++)
        k += n->out[i] >= 0;
    return k;
}

static lp_status bn_infer(lp_infer_ctx *c)
{
    LP_TRY(bn_check_attrs(c->node, c->opset, outputs_present(c->node)));
    LP_TRY(want_f32(c->node, lp_in_dtype(c, 0), "X"));
    const lp_shape *x = lp_in_shape(c, 0);
    if (x->ndim >= 0 && x->ndim < 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "rank %d, expected (N, C, ...)", x->ndim);
    static const char *const names[] = { "X", "scale", "B", "input_mean", "input_var" };
    for (int i = 1; i < 5; i++)
        LP_TRY(check_vec_shape(c->node, lp_in_shape(c, i), x->ndim >= 0 ? x->d[1] : LP_DIM_UNKNOWN, names[i]));
    c->out[0].dtype = lp_in_dtype(c, 0);
    c->out[0].shape = *x;
    return LP_OK;
}

/* x: (N,C,...), scale/B/mean/var: (C): y = (x - mean) / sqrt(var + eps) * scale + B,
 * folded per channel to y = x * a + b. */
static lp_status bn_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 5));
    const lp_node *n = c->node;
    int present = 0;
    for (int i = 0; i < c->n_out; i++)
        present += c->out[i] != NULL;
    LP_TRY(bn_check_attrs(n, c->opset, present));
    const lp_tensor *x = c->in[0];
    LP_TRY(want_f32(n, x->dtype, "X"));
    if (x->ndim < 2)
        return lp_node_error(n, LOWP_ERR_SHAPE, "rank %d, expected (N, C, ...)", x->ndim);
    int64_t N = x->dims[0], C = x->dims[1], S = lp_numel(x->ndim - 2, x->dims + 2);
    static const char *const names[] = { "X", "scale", "B", "input_mean", "input_var" };
    for (int i = 1; i < 5; i++)
        LP_TRY(check_vec(n, c->in[i], C, names[i]));
    const float *sc = c->in[1]->data, *bias = c->in[2]->data, *mean = c->in[3]->data, *var = c->in[4]->data;
    double eps = lp_attr_float(n, "epsilon", 1e-5f);
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    for (int64_t ch = 0; ch < C; ch++) {
        float a = (float)(sc[ch] / sqrt((double)var[ch] + eps));
        float b = (float)(bias[ch] - (double)mean[ch] * a);
        for (int64_t bi = 0; bi < N; bi++) {
            const float *xp = xd + (bi * C + ch) * S;
            float *yp = yd + (bi * C + ch) * S;
            for (int64_t i = 0; i < S; i++)
                yp[i] = xp[i] * a + b;
        }
    }
    return LP_OK;
}

const lp_op_def lp_opdef_BatchNormalization = {
    .name = "BatchNormalization", .min_in = 5, .max_in = 5, .min_out = 1, .max_out = 5,
    .infer = bn_infer, .run = bn_run,
};

/* ---------------- LayerNormalization ---------------- */

/* Scale/B must broadcast (numpy, unidirectionally) to the normalized dims X.shape[axis:]. */
static lp_status ln_check_param(const lp_node *n, const lp_shape *p, const lp_shape *x, int axis, const char *what)
{
    if (p->ndim < 0 || x->ndim < 0)
        return LP_OK;
    int nd = x->ndim - axis;
    if (p->ndim > nd)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%s has rank %d, more than the %d normalized dims", what, p->ndim, nd);
    for (int i = 0; i < p->ndim; i++) {
        int64_t pd = p->d[i], xd = x->d[x->ndim - p->ndim + i];
        if (lp_dim_known(pd) && lp_dim_known(xd) && pd != 1 && pd != xd)
            return lp_node_error(n, LOWP_ERR_SHAPE, "%s dim %d is %lld, expected %lld or 1", what, i,
                                 (long long)pd, (long long)xd);
    }
    return LP_OK;
}

static lp_status ln_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    LP_TRY(want_f32(n, lp_in_dtype(c, 0), "X"));
    const lp_shape *x = lp_in_shape(c, 0);
    c->out[0].dtype = lp_in_dtype(c, 0);
    c->out[0].shape = *x;
    for (int k = 1; k < c->n_out; k++) {
        c->out[k].dtype = LP_F32; /* stash_type = 1 (float32), the only one supported */
        c->out[k].shape.ndim = -1;
    }
    if (lp_attr_int(n, "stash_type", 1) != 1)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "stash_type %lld; only 1 (float32) is supported",
                             (long long)lp_attr_int(n, "stash_type", 1));
    if (x->ndim < 0)
        return LP_OK;
    int axis;
    LP_TRY(lp_op_axis(n, lp_attr_int(n, "axis", -1), x->ndim, &axis));
    LP_TRY(ln_check_param(n, lp_in_shape(c, 1), x, axis, "Scale"));
    if (c->n_in > 2 && c->in[2])
        LP_TRY(ln_check_param(n, lp_in_shape(c, 2), x, axis, "B"));
    for (int k = 1; k < c->n_out; k++) {
        c->out[k].shape = *x;
        for (int i = axis; i < x->ndim; i++)
            c->out[k].shape.d[i] = 1;
    }
    return LP_OK;
}

/* A parameter broadcast to the normalized dims dims[nd], expanded into a dense vector. */
static lp_status ln_expand(const lp_node *n, const lp_tensor *p, int nd, const int64_t *dims,
                           int64_t inner, float **out)
{
    if (p->dtype != LP_F32)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "Scale/B are %s; only float32 is supported",
                             lp_dtype_traits_of(p->dtype)->name);
    if (p->ndim > nd)
        return lp_node_error(n, LOWP_ERR_SHAPE, "Scale/B have rank %d, more than the %d normalized dims", p->ndim, nd);
    for (int i = 0; i < p->ndim; i++)
        if (p->dims[i] != 1 && p->dims[i] != dims[nd - p->ndim + i])
            return lp_node_error(n, LOWP_ERR_SHAPE, "Scale/B do not broadcast to the normalized dims");
    int64_t st[LP_MAX_DIMS];
    lp_broadcast_strides(p->ndim, p->dims, nd, dims, st);
    float *v = malloc((size_t)(inner ? inner : 1) * sizeof *v);
    if (!v)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    const float *pd = p->data;
    for (int64_t j = 0; j < inner; j++) {
        int64_t rem = j, off = 0;
        for (int k = nd - 1; k >= 0; k--) {
            off += (rem % dims[k]) * st[k];
            rem /= dims[k];
        }
        v[j] = pd[off];
    }
    *out = v;
    return LP_OK;
}

/* x: (outer dims..., normalized dims...) -> y, mean/inv_std: (outer dims..., 1...);
 * y = (x - mean) * inv_std * scale + B per row of the normalized dims. Statistics in double. */
static lp_status ln_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    const lp_node *n = c->node;
    const lp_tensor *x = c->in[0];
    LP_TRY(want_f32(n, x->dtype, "X"));
    if (x->ndim < 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "X must have rank >= 1");
    int axis;
    LP_TRY(lp_op_axis(n, lp_attr_int(n, "axis", -1), x->ndim, &axis));
    int nd = x->ndim - axis;
    int64_t inner = lp_numel(nd, x->dims + axis), outer = lp_numel(axis, x->dims);
    float *scale = NULL, *bias = NULL;
    lp_status st = ln_expand(n, c->in[1], nd, x->dims + axis, inner, &scale);
    if (st == LP_OK && c->n_in > 2 && c->in[2])
        st = ln_expand(n, c->in[2], nd, x->dims + axis, inner, &bias);
    if (st != LP_OK)
        goto done;
    double eps = lp_attr_float(n, "epsilon", 1e-5f);
    float *mean_out = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    float *istd_out = c->n_out > 2 && c->out[2] ? c->out[2]->data : NULL;
    for (int64_t r = 0; r < outer; r++) {
        const float *xr = (const float *)x->data + r * inner;
        float *yr = (float *)c->out[0]->data + r * inner;
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < inner; j++)
            s += xr[j];
        double mean = inner ? s / (double)inner : 0;
        for (int64_t j = 0; j < inner; j++)
            s2 += (xr[j] - mean) * (xr[j] - mean);
        double istd = 1.0 / sqrt((inner ? s2 / (double)inner : 0) + eps);
        for (int64_t j = 0; j < inner; j++)
            yr[j] = (float)((xr[j] - mean) * istd * scale[j] + (bias ? bias[j] : 0.0f));
        if (mean_out)
            mean_out[r] = (float)mean;
        if (istd_out)
            istd_out[r] = (float)istd;
    }
done:
    free(scale);
    free(bias);
    return st;
}

const lp_op_def lp_opdef_LayerNormalization = {
    .name = "LayerNormalization", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 3,
    .infer = ln_infer, .run = ln_run,
};

/* ---------------- InstanceNormalization ---------------- */

static lp_status in_infer(lp_infer_ctx *c)
{
    LP_TRY(want_f32(c->node, lp_in_dtype(c, 0), "input"));
    const lp_shape *x = lp_in_shape(c, 0);
    if (x->ndim >= 0 && x->ndim < 3)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "rank %d, expected (N, C, spatial...)", x->ndim);
    int64_t C = x->ndim >= 0 ? x->d[1] : LP_DIM_UNKNOWN;
    LP_TRY(check_vec_shape(c->node, lp_in_shape(c, 1), C, "scale"));
    LP_TRY(check_vec_shape(c->node, lp_in_shape(c, 2), C, "B"));
    c->out[0].dtype = lp_in_dtype(c, 0);
    c->out[0].shape = *x;
    return LP_OK;
}

/* x: (N,C,spatial...), scale/B: (C): per (n, c) plane, y = (x - mean) / sqrt(var + eps) * scale + B */
static lp_status in_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 3));
    const lp_node *n = c->node;
    const lp_tensor *x = c->in[0];
    LP_TRY(want_f32(n, x->dtype, "input"));
    if (x->ndim < 3)
        return lp_node_error(n, LOWP_ERR_SHAPE, "rank %d, expected (N, C, spatial...)", x->ndim);
    int64_t N = x->dims[0], C = x->dims[1], S = lp_numel(x->ndim - 2, x->dims + 2);
    LP_TRY(check_vec(n, c->in[1], C, "scale"));
    LP_TRY(check_vec(n, c->in[2], C, "B"));
    const float *sc = c->in[1]->data, *bias = c->in[2]->data;
    double eps = lp_attr_float(n, "epsilon", 1e-5f);
    for (int64_t p = 0; p < N * C; p++) {
        const float *xp = (const float *)x->data + p * S;
        float *yp = (float *)c->out[0]->data + p * S;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < S; i++)
            s += xp[i];
        double mean = S ? s / (double)S : 0;
        for (int64_t i = 0; i < S; i++)
            s2 += (xp[i] - mean) * (xp[i] - mean);
        double a = sc[p % C] / sqrt((S ? s2 / (double)S : 0) + eps);
        for (int64_t i = 0; i < S; i++)
            yp[i] = (float)((xp[i] - mean) * a + bias[p % C]);
    }
    return LP_OK;
}

const lp_op_def lp_opdef_InstanceNormalization = {
    .name = "InstanceNormalization", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = in_infer, .run = in_run,
};
