/* resize.c — Resize (opsets 10-17) and Upsample (7-9): nearest, N-linear and cubic
 * interpolation over any axes, every coordinate_transformation_mode. Follows the ONNX reference (onnx/backend/test/case/
 * node/resize.py): each output coordinate maps to a source coordinate per axis, which picks
 * 1, 2 or 4 source indices (clamped to the edge) with weights; the output is the weighted
 * sum over the product of the per-axis picks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/resize.h"

typedef enum rz_mode { RZ_NEAREST, RZ_LINEAR, RZ_CUBIC } rz_mode;
typedef enum rz_coord {
    RZ_HALF_PIXEL, RZ_PYTORCH_HALF_PIXEL, RZ_ALIGN_CORNERS, RZ_ASYMMETRIC, RZ_TF_HALF_PIXEL_FOR_NN,
    RZ_TF_CROP_AND_RESIZE,
} rz_coord;
typedef enum rz_round { RZ_ROUND_PREFER_FLOOR, RZ_ROUND_PREFER_CEIL, RZ_FLOOR, RZ_CEIL, RZ_SIMPLE } rz_round;

typedef struct rz_attrs {
    rz_mode mode;
    rz_coord coord;
    rz_round round;
    double cubic_a;
    bool exclude_outside;
    double extrapolation;
} rz_attrs;

static int str_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static lp_status rz_attrs_read(const lp_node *n, int64_t opset, rz_attrs *a)
{
    static const char *const modes[] = { "nearest", "linear", "cubic" };
    static const char *const coords[] = { "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                          "tf_half_pixel_for_nn", "tf_crop_and_resize" };
    static const char *const rounds[] = { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" };
    const char *m = lp_attr_str(n, "mode", "nearest");
    int k = str_index(m, modes, 3);
    if (k < 0 || (opset < 11 && k == RZ_CUBIC))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "mode '%s' is not supported", m);
    a->mode = (rz_mode)k;
    if (opset < 11) {
        /* Resize-10 is Upsample with downsampling allowed: asymmetric coordinates, and
         * nearest truncates (rounds up when downsampling), as onnxruntime does. */
        a->coord = RZ_ASYMMETRIC;
        a->round = RZ_SIMPLE;
        a->cubic_a = -0.75;
        a->exclude_outside = false;
        a->extrapolation = 0;
        return LP_OK;
    }
    const char *c = lp_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    if ((k = str_index(c, coords, 6)) < 0)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", c);
    a->coord = (rz_coord)k;
    const char *r = lp_attr_str(n, "nearest_mode", "round_prefer_floor");
    if ((k = str_index(r, rounds, 4)) < 0)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", r);
    a->round = (rz_round)k;
    a->cubic_a = lp_attr_float(n, "cubic_coeff_a", -0.75f);
    a->exclude_outside = lp_attr_int(n, "exclude_outside", 0) != 0;
    a->extrapolation = lp_attr_float(n, "extrapolation_value", 0.0f);
    return LP_OK;
}

/* The inputs: opset 10 (X, scales); 11+ (X, roi, scales, sizes). An empty tensor counts as
 * absent. Values are read from vinfos (infer) or tensors (run). */
typedef struct rz_args {
    int n_scales, n_sizes, n_roi;   /* -1 absent; -2 given but value unknown */
    double scales[LP_MAX_DIMS], roi[2 * LP_MAX_DIMS];
    int64_t sizes[LP_MAX_DIMS];
} rz_args;

/* Reads one input as doubles; *n: count, -1 absent or empty, -2 unknown. */
static lp_status rz_read(const lp_node *node, const lp_vinfo *v, const lp_tensor *t, int max,
                         double *vals, int *n)
{
    *n = -1;
    if (v && !t) {
        t = v->value;
        if (!t) {
            bool empty = v->shape.ndim == 1 && v->shape.d[0] == 0;
            *n = empty ? -1 : -2;
            return LP_OK;
        }
    }
    if (!t || lp_tensor_numel(t) == 0)
        return LP_OK;
    int64_t k = lp_tensor_numel(t);
    if (k > max)
        return lp_node_error(node, LOWP_ERR_SHAPE, "an input has %lld values, at most %d expected", (long long)k, max);
    for (int64_t i = 0; i < k; i++)
        vals[i] = lp_tensor_get(t, i);
    *n = (int)k;
    return LP_OK;
}

static lp_status rz_args_read(const lp_node *node, int64_t opset, int n_in, const lp_vinfo *const *vin,
                              const lp_tensor *const *tin, rz_args *a)
{
    int i_roi = opset >= 11 ? 1 : -1, i_scales = opset >= 11 ? 2 : 1, i_sizes = opset >= 11 ? 3 : -1;
#define RZ_V(i) (vin && (i) >= 0 && (i) < n_in ? vin[i] : NULL)
#define RZ_T(i) (tin && (i) >= 0 && (i) < n_in ? tin[i] : NULL)
    double sizes[LP_MAX_DIMS];
    LP_TRY(rz_read(node, RZ_V(i_roi), RZ_T(i_roi), 2 * LP_MAX_DIMS, a->roi, &a->n_roi));
    LP_TRY(rz_read(node, RZ_V(i_scales), RZ_T(i_scales), LP_MAX_DIMS, a->scales, &a->n_scales));
    LP_TRY(rz_read(node, RZ_V(i_sizes), RZ_T(i_sizes), LP_MAX_DIMS, sizes, &a->n_sizes));
#undef RZ_V
#undef RZ_T
    for (int i = 0; i < a->n_sizes; i++)
        a->sizes[i] = (int64_t)sizes[i];
    if (a->n_scales >= 0 && a->n_sizes >= 0)
        return lp_node_error(node, LOWP_ERR_FORMAT, "only one of scales and sizes may be given");
    if (a->n_scales == -1 && a->n_sizes == -1)
        return lp_node_error(node, LOWP_ERR_FORMAT, "one of scales and sizes is required");
    for (int i = 0; i < a->n_scales; i++)
        if (!(a->scales[i] > 0))
            return lp_node_error(node, LOWP_ERR_SHAPE, "scales[%d] = %g is not positive", i, a->scales[i]);
    for (int i = 0; i < a->n_sizes; i++)
        if (a->sizes[i] < 0)
            return lp_node_error(node, LOWP_ERR_SHAPE, "sizes[%d] = %lld is negative", i, (long long)a->sizes[i]);
    return LP_OK;
}

/* Checks lengths against rank r and fills the output dim of each known input dim. */
static lp_status rz_out_dims(const lp_node *node, const rz_attrs *at, const rz_args *a, int r,
                             const int64_t *in, int64_t *out)
{
    int n = a->n_sizes >= 0 ? a->n_sizes : a->n_scales;
    if (n >= 0 && n != r)
        return lp_node_error(node, LOWP_ERR_SHAPE, "%d %s for rank %d", n, a->n_sizes >= 0 ? "sizes" : "scales", r);
    if (at->coord == RZ_TF_CROP_AND_RESIZE && a->n_roi >= 0 && a->n_roi != 2 * r)
        return lp_node_error(node, LOWP_ERR_SHAPE, "roi has %d values for rank %d", a->n_roi, r);
    for (int k = 0; k < r; k++) {
        if (a->n_sizes >= 0) {
            out[k] = a->sizes[k];
        } else if (a->n_scales < 0 || (at->coord == RZ_TF_CROP_AND_RESIZE && a->n_roi == -2)) {
            out[k] = LP_DIM_UNKNOWN;
        } else if (!lp_dim_known(in[k])) {
            out[k] = a->scales[k] == 1 ? in[k] : LP_DIM_UNKNOWN;
        } else {
            double len = (double)in[k];
            if (at->coord == RZ_TF_CROP_AND_RESIZE && a->n_roi >= 0)
                len *= a->roi[k + r] - a->roi[k];
            out[k] = (int64_t)floor(len * a->scales[k]);
        }
    }
    return LP_OK;
}

static lp_status resize_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    rz_attrs at;
    rz_args a;
    LP_TRY(rz_attrs_read(c->node, c->opset, &at));
    LP_TRY(rz_args_read(c->node, c->opset, c->n_in, c->in, NULL, &a));
    y->dtype = x->dtype;
    y->shape.ndim = x->shape.ndim;
    if (x->shape.ndim < 0)
        return LP_OK;
    return rz_out_dims(c->node, &at, &a, x->shape.ndim, x->shape.d, y->shape.d);
}

typedef lp_resize_taps rz_taps;

static double rz_source_coord(const rz_attrs *at, double x, double scale, int64_t in, double out_len,
                              double roi0, double roi1)
{
    switch (at->coord) {
    case RZ_HALF_PIXEL:
        return (x + 0.5) / scale - 0.5;
    case RZ_PYTORCH_HALF_PIXEL:
        return out_len > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case RZ_ALIGN_CORNERS:
        return out_len == 1 ? 0 : x * (double)(in - 1) / (out_len - 1);
    case RZ_ASYMMETRIC:
        return x / scale;
    case RZ_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / scale;
    case RZ_TF_CROP_AND_RESIZE:
        return out_len > 1 ? roi0 * (double)(in - 1) + x * (roi1 - roi0) * (double)(in - 1) / (out_len - 1)
                           : 0.5 * (roi0 + roi1) * (double)(in - 1);
    }
    return 0;
}

static void rz_cubic(double t, double A, double *w)
{
    double s = 1 - t;
    w[0] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * s - (A + 3)) * s * s + 1;
    w[3] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
}

/* The taps of output coordinate o along an axis of `in` source elements. */
static void rz_axis_taps(const rz_attrs *at, int64_t o, double scale, int64_t in, double out_len,
                         double roi0, double roi1, rz_taps *t)
{
    double x = rz_source_coord(at, (double)o, scale, in, out_len, roi0, roi1);
    t->outside = at->coord == RZ_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1));
    /* base: the index just left of x, with x - base in (0, 1] as the reference has it */
    int64_t base = (int64_t)ceil(x) - 1;
    double f = x - (double)base;
    switch (at->mode) {
    case RZ_NEAREST: {
        bool up;
        switch (at->round) {
        case RZ_ROUND_PREFER_FLOOR: up = f > 0.5; break;
        case RZ_ROUND_PREFER_CEIL: up = f >= 0.5; break;
        case RZ_FLOOR: up = f == 1; break;
        case RZ_CEIL: up = true; break;
        default: up = scale < 1 || f == 1; break; /* SIMPLE: ceil down, floor up */
        }
        t->n = 1;
        t->idx[0] = base + up;
        t->w[0] = 1;
        break;
    }
    case RZ_LINEAR:
        t->n = 2;
        t->idx[0] = base;
        t->idx[1] = base + 1;
        t->w[0] = 1 - f;
        t->w[1] = f;
        break;
    case RZ_CUBIC:
        t->n = 4;
        for (int i = 0; i < 4; i++)
            t->idx[i] = base - 1 + i;
        rz_cubic(f, at->cubic_a, t->w);
        if (at->exclude_outside) {
            double sum = 0;
            for (int i = 0; i < 4; i++) {
                if (t->idx[i] < 0 || t->idx[i] >= in)
                    t->w[i] = 0;
                sum += t->w[i];
            }
            for (int i = 0; i < 4 && sum != 0; i++)
                t->w[i] /= sum;
        }
        break;
    }
    /* Clamp to the edge and drop zero weights (an axis left unscaled keeps one tap). */
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->w[i] == 0)
            continue;
        t->idx[k] = t->idx[i] < 0 ? 0 : t->idx[i] >= in ? in - 1 : t->idx[i];
        t->w[k++] = t->w[i];
    }
    t->n = k;
}

/* The taps of every output coordinate of every axis (c as for resize_run, opset >= 10). */
static lp_status resize_plan(const lp_run_ctx *c, lp_resize_plan *p)
{
    const lp_tensor *x = c->in[0];
    const lp_tensor *y = c->out[0];
    rz_attrs at;
    rz_args a;
    memset(p, 0, sizeof *p);
    LP_TRY(rz_attrs_read(c->node, c->opset, &at));
    LP_TRY(rz_args_read(c->node, c->opset, c->n_in, NULL, c->in, &a));
    int r = x->ndim;
    int64_t want[LP_MAX_DIMS];
    LP_TRY(rz_out_dims(c->node, &at, &a, r, x->dims, want));
    for (int k = 0; k < r; k++)
        if (y->dims[k] != want[k] || y->ndim != r || y->dtype != x->dtype)
            return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dim %d does not match", k);
    if (lp_tensor_numel(y) != 0 && lp_tensor_numel(x) == 0)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "cannot resize an empty tensor to a non-empty one");
    int64_t n_taps = 0;
    for (int k = 0; k < r; k++) {
        p->first[k] = n_taps;
        n_taps += y->dims[k];
    }
    p->ndim = r;
    p->nearest = at.mode == RZ_NEAREST;
    p->extrapolation = at.extrapolation;
    p->taps = malloc((size_t)(n_taps ? n_taps : 1) * sizeof *p->taps);
    if (!p->taps)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int k = 0; k < r && lp_tensor_numel(y) != 0; k++) {
        /* The reference's scale and float output length: sizes/in, or the given scale. */
        double scale = a.n_sizes >= 0 ? (double)y->dims[k] / (double)x->dims[k] : a.scales[k];
        double roi0 = a.n_roi > 0 ? a.roi[k] : 0, roi1 = a.n_roi > 0 ? a.roi[k + r] : 1;
        double out_len = scale * (double)x->dims[k];
        if (at.coord == RZ_TF_CROP_AND_RESIZE && a.n_sizes < 0)
            out_len *= roi1 - roi0;
        for (int64_t o = 0; o < y->dims[k]; o++)
            rz_axis_taps(&at, o, scale, x->dims[k], out_len, roi0, roi1, &p->taps[p->first[k] + o]);
    }
    return LP_OK;
}

void lp_resize_plan_free(lp_resize_plan *p)
{
    free(p->taps);
    p->taps = NULL;
}

static lp_status resize_run(const lp_run_ctx *c)
{
    /* x: (d0..dr-1) -> y: (o0..or-1); y[o] = sum over taps of prod_k w_k * x[idx_0..idx_r-1] */
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    lp_resize_plan plan;
    LP_TRY(resize_plan(c, &plan));
    int r = x->ndim;
    int64_t total = lp_tensor_numel(y), *first = plan.first;
    const rz_taps *taps = plan.taps;
    const lp_dtype_traits *tr = lp_dtype_traits_of(x->dtype);
    size_t es = tr->size;
    int64_t xst[LP_MAX_DIMS], s = 1;
    for (int k = r - 1; k >= 0; k--) {
        xst[k] = s;
        s *= x->dims[k];
    }
    int64_t o_idx[LP_MAX_DIMS] = { 0 };
    for (int64_t i = 0; i < total; i++) {
        const rz_taps *t[LP_MAX_DIMS];
        bool outside = false;
        for (int k = 0; k < r; k++) {
            t[k] = &taps[first[k] + o_idx[k]];
            outside |= t[k]->outside;
        }
        if (outside) {
            tr->set(y->data, i, plan.extrapolation);
        } else if (plan.nearest) { /* one tap per axis: copy the element exactly */
            int64_t src = 0;
            for (int k = 0; k < r; k++)
                src += t[k]->idx[0] * xst[k];
            memcpy((char *)y->data + i * es, (const char *)x->data + src * es, es);
        } else {
            /* odometer over the taps of all axes */
            int tap[LP_MAX_DIMS] = { 0 };
            double sum = 0;
            for (;;) {
                double w = 1;
                int64_t src = 0;
                for (int k = 0; k < r; k++) {
                    w *= t[k]->w[tap[k]];
                    src += t[k]->idx[tap[k]] * xst[k];
                }
                sum += w * tr->get(x->data, src);
                int k = r - 1;
                while (k >= 0 && ++tap[k] == t[k]->n)
                    tap[k--] = 0;
                if (k < 0)
                    break;
            }
            tr->set(y->data, i, sum);
        }
        lp_index_next(r, y->dims, o_idx, NULL, NULL);
    }
    lp_resize_plan_free(&plan);
    return LP_OK;
}

const lp_op_def lp_opdef_Resize = {
    .name = "Resize", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1, .optional_in = 1u << 1,
    .infer = resize_infer, .run = resize_run,
};

/* ---- Upsample (opsets 7-9, deprecated since 10): Resize-10 without downsampling. Opset 9
 * takes the scales as input 1, as Resize-10 does; opsets 7-8 as the float attribute `scales`,
 * which becomes that input here. ---- */

static lp_status upsample_scales(const lp_node *n, lp_tensor **out)
{
    const float *s;
    int k = lp_attr_floats(n, "scales", &s);
    if (k < 1 || k > LP_MAX_DIMS)
        return lp_node_error(n, LOWP_ERR_FORMAT, "Upsample before opset 9 needs the attribute 'scales' (1 to %d floats)",
                             LP_MAX_DIMS);
    int64_t dims[1] = { k };
    LP_TRY(lp_tensor_new(LP_F32, 1, dims, out));
    memcpy((*out)->data, s, (size_t)k * sizeof *s);
    return LP_OK;
}

static lp_status upsample_infer(lp_infer_ctx *c)
{
    lp_infer_ctx c10 = *c;
    c10.opset = 10;
    if (c->opset >= 9) {
        if (c->n_in != 2)
            return lp_node_error(c->node, LOWP_ERR_FORMAT, "Upsample-9 takes X and scales");
        return resize_infer(&c10);
    }
    lp_tensor *scales;
    LP_TRY(upsample_scales(c->node, &scales));
    lp_vinfo vs = { .dtype = LP_F32, .value = scales };
    lp_shape_of(scales, &vs.shape);
    const lp_vinfo *in[2] = { c->in[0], &vs };
    c10.n_in = 2;
    c10.in = in;
    lp_status st = resize_infer(&c10);
    lp_tensor_free(scales);
    return st;
}

static lp_status upsample_run(const lp_run_ctx *c)
{
    lp_run_ctx c10 = *c;
    c10.opset = 10;
    if (c->opset >= 9)
        return resize_run(&c10);
    lp_tensor *scales;
    LP_TRY(upsample_scales(c->node, &scales));
    const lp_tensor *in[2] = { c->in[0], scales };
    c10.n_in = 2;
    c10.in = in;
    lp_status st = resize_run(&c10);
    lp_tensor_free(scales);
    return st;
}

lp_status lp_resize_plan_make(const lp_run_ctx *c, lp_resize_plan *p)
{
    lp_run_ctx c10 = *c;
    memset(p, 0, sizeof *p);
    if (c->node->op == LP_OP_Resize)
        return resize_plan(c, p);
    c10.opset = 10;
    if (c->opset >= 9)
        return resize_plan(&c10, p);
    lp_tensor *scales;
    LP_TRY(upsample_scales(c->node, &scales));
    const lp_tensor *in[2] = { c->in[0], scales };
    c10.n_in = 2;
    c10.in = in;
    lp_status st = resize_plan(&c10, p);
    lp_tensor_free(scales);
    return st;
}

const lp_op_def lp_opdef_Upsample = {
    .name = "Upsample", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = upsample_infer, .run = upsample_run,
};
