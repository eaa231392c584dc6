/* vision.c — detection and sampling ops: NonMaxSuppression, RoiAlign, GridSample. All compute
 * in double. Conventions follow ONNX's reference and ONNX Runtime (and, for GridSample, the
 * PyTorch grid_sample that ONNX's test data comes from). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_util.h"

static double getd(const lp_tensor *t, int64_t i) { return lp_dtype_traits_of(t->dtype)->get(t->data, i); }

/* ---- NonMaxSuppression: boxes (B, S, 4), scores (B, K, S) [, max_output_boxes_per_class,
 * iou_threshold, score_threshold] -> int64 (selected, 3) rows [batch, class, box]. Per batch
 * and class: boxes scoring above score_threshold, best first (ties by index), each kept
 * unless its IoU with a kept box exceeds iou_threshold, at most max_output per class. ---- */

typedef struct nms_args {
    int64_t max_out;
    double iou, score;
    bool center;                /* center_point_box 1: [xc, yc, w, h]; 0: two corners */
} nms_args;

static lp_status nms_args_read(const lp_node *n, int n_in, const lp_tensor *const *in, nms_args *a)
{
    a->max_out = 0;
    a->iou = 0;
    a->score = -INFINITY;
    if (n_in > 2 && in[2] && lp_tensor_numel(in[2]))
        a->max_out = lp_tensor_get_int(in[2], 0);
    if (n_in > 3 && in[3] && lp_tensor_numel(in[3]))
        a->iou = getd(in[3], 0);
    if (n_in > 4 && in[4] && lp_tensor_numel(in[4]))
        a->score = getd(in[4], 0);
    int64_t cpb = lp_attr_int(n, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return lp_node_error(n, LOWP_ERR_FORMAT, "center_point_box must be 0 or 1");
    a->center = cpb == 1;
    if (a->iou < 0 || a->iou > 1)
        return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "iou_threshold %g is outside [0, 1]", a->iou);
    return LP_OK;
}

/* Box b as (y1, x1, y2, x2) with y1 <= y2, x1 <= x2. */
static void nms_box(const lp_tensor *boxes, int64_t b, bool center, double *o)
{
    double v[4];
    for (int k = 0; k < 4; k++)
        v[k] = getd(boxes, b * 4 + k);
    if (center) {
        o[0] = v[1] - v[3] / 2;
        o[1] = v[0] - v[2] / 2;
        o[2] = v[1] + v[3] / 2;
        o[3] = v[0] + v[2] / 2;
        return;
    }
    o[0] = fmin(v[0], v[2]);
    o[1] = fmin(v[1], v[3]);
    o[2] = fmax(v[0], v[2]);
    o[3] = fmax(v[1], v[3]);
}

static double nms_iou(const double *a, const double *b)
{
    double ih = fmin(a[2], b[2]) - fmax(a[0], b[0]), iw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (ih <= 0 || iw <= 0)
        return 0;
    double inter = ih * iw, uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return uni > 0 ? inter / uni : 0;
}

typedef struct nms_sort { const double *score; } nms_sort;

static int nms_by_score(const void *ctx, int64_t a, int64_t b)
{
    const double *s = ((const nms_sort *)ctx)->score;
    return s[a] > s[b] ? -1 : s[a] < s[b];
}

static lp_status select_nms(const lp_node *n, int n_in, const lp_tensor *const *in, lp_tensor **out)
{
    const lp_tensor *boxes = in[0], *scores = in[1];
    if (boxes->ndim != 3 || boxes->dims[2] != 4 || scores->ndim != 3 || scores->dims[0] != boxes->dims[0] ||
        scores->dims[2] != boxes->dims[1] || !lp_ew_is_float(boxes->dtype) || !lp_ew_is_float(scores->dtype))
        return lp_node_error(n, LOWP_ERR_SHAPE, "boxes must be float (B, S, 4) and scores (B, K, S)");
    nms_args a = { 0 };
    LP_TRY(nms_args_read(n, n_in, in, &a));
    int64_t B = boxes->dims[0], S = boxes->dims[1], K = scores->dims[1];
    int64_t per = a.max_out < S ? (a.max_out > 0 ? a.max_out : 0) : S, cap;
    LP_TRY(lp_op_check_count(n, B * K, per * 3, "NonMaxSuppression output", &cap));
    int64_t *rows = malloc((size_t)(cap + 3) * sizeof *rows), *idx = malloc((size_t)(S + 1) * sizeof *idx);
    int64_t *kept = malloc((size_t)(S + 1) * sizeof *kept);
    double *sc = malloc((size_t)(S + 1) * sizeof *sc), *bx = malloc((size_t)(4 * S + 1) * sizeof *bx);
    lp_status st = LP_OK;
    int64_t n_rows = 0;
    if (!rows || !idx || !kept || !sc || !bx)
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld boxes", (long long)S);
    for (int64_t b = 0; b < B && st == LP_OK && per > 0; b++) {
        for (int64_t s = 0; s < S; s++)
            nms_box(boxes, b * S + s, a.center, bx + 4 * s);
        for (int64_t k = 0; k < K && st == LP_OK; k++) {
            int64_t m = 0, n_kept = 0;
            for (int64_t s = 0; s < S; s++) {
                sc[s] = getd(scores, (b * K + k) * S + s);
                if (sc[s] > a.score)
                    idx[m++] = s;
            }
            nms_sort ctx = { sc };
            if ((st = lp_sort_indices(idx, m, nms_by_score, &ctx)) != LP_OK)
                break;
            for (int64_t i = 0; i < m && n_kept < per; i++) {
                bool keep = true;
                for (int64_t j = 0; j < n_kept && keep; j++)
                    keep = nms_iou(bx + 4 * idx[i], bx + 4 * kept[j]) <= a.iou;
                if (!keep)
                    continue;
                kept[n_kept++] = idx[i];
                rows[3 * n_rows] = b;
                rows[3 * n_rows + 1] = k;
                rows[3 * n_rows + 2] = idx[i];
                n_rows++;
            }
        }
    }
    if (st == LP_OK) {
        int64_t dims[2] = { n_rows, 3 };
        if ((st = lp_tensor_new(LP_I64, 2, dims, out)) == LP_OK && n_rows)
            memcpy((*out)->data, rows, (size_t)n_rows * 3 * sizeof *rows);
    }
    free(rows);
    free(idx);
    free(kept);
    free(sc);
    free(bx);
    return st;
}

static lp_status infer_NonMaxSuppression(lp_infer_ctx *c)
{
    const lp_tensor *in[5] = { 0 };
    bool known = true;
    for (int i = 0; i < c->n_in; i++) {
        if (c->in[i])
            in[i] = c->in[i]->value;
        known &= !c->in[i] || c->in[i]->value;
    }
    if (known) {
        lp_tensor *t = NULL;
        LP_TRY(select_nms(c->node, c->n_in, in, &t));
        lp_vinfo_give(&c->out[0], t);
        return LP_OK;
    }
    c->out[0].dtype = LP_I64;
    c->out[0].shape.ndim = 2;
    c->out[0].shape.d[0] = LP_DIM_UNKNOWN;
    c->out[0].shape.d[1] = 3;
    return LP_OK;
}

static lp_status run_NonMaxSuppression(const lp_run_ctx *c)
{
    lp_tensor *t = NULL;
    LP_TRY(select_nms(c->node, c->n_in, c->in, &t));
    return lp_op_copy_computed(c, 0, t);
}

const lp_op_def lp_opdef_NonMaxSuppression = {
    .name = "NonMaxSuppression", .min_in = 2, .max_in = 5, .min_out = 1, .max_out = 1,
    .infer = infer_NonMaxSuppression, .run = run_NonMaxSuppression
};

/* ---- RoiAlign: x (N, C, H, W), rois (R, 4) as [x1, y1, x2, y2], batch_indices (R) ->
 * (R, C, output_height, output_width): each bin averages (or maxes) bilinear samples on a
 * sampling_ratio grid (0: ceil(roi size / bins)). ---- */

/* Bilinear taps of (y, x) in an H x W plane: 4 offsets and weights; false when outside. */
static bool roi_taps(double y, double x, int64_t H, int64_t W, int64_t *off, double *w)
{
    if (y < -1.0 || y > (double)H || x < -1.0 || x > (double)W)
        return false;
    y = y <= 0 ? 0 : y;
    x = x <= 0 ? 0 : x;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
    if (y0 >= H - 1) {
        y0 = y1 = H - 1;
        y = (double)y0;
    } else {
        y1 = y0 + 1;
    }
    if (x0 >= W - 1) {
        x0 = x1 = W - 1;
        x = (double)x0;
    } else {
        x1 = x0 + 1;
    }
    double ly = y - (double)y0, lx = x - (double)x0, hy = 1 - ly, hx = 1 - lx;
    off[0] = y0 * W + x0;
    off[1] = y0 * W + x1;
    off[2] = y1 * W + x0;
    off[3] = y1 * W + x1;
    w[0] = hy * hx;
    w[1] = hy * lx;
    w[2] = ly * hx;
    w[3] = ly * lx;
    return true;
}

static lp_status roi_attrs(const lp_node *n, int64_t opset, bool *half_pixel, bool *max_mode)
{
    const char *ct = lp_attr_str(n, "coordinate_transformation_mode", opset >= 16 ? "half_pixel" : "output_half_pixel");
    const char *m = lp_attr_str(n, "mode", "avg");
    if (strcmp(ct, "half_pixel") != 0 && strcmp(ct, "output_half_pixel") != 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "coordinate_transformation_mode '%s' is not supported", ct);
    if (strcmp(m, "avg") != 0 && strcmp(m, "max") != 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "mode must be avg or max, got '%s'", m);
    *half_pixel = strcmp(ct, "half_pixel") == 0;
    *max_mode = strcmp(m, "max") == 0;
    return LP_OK;
}

static lp_status run_RoiAlign(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *rois = c->in[1], *bi = c->in[2];
    lp_tensor *y = c->out[0];
    bool half_pixel, max_mode;
    LP_TRY(roi_attrs(c->node, c->opset, &half_pixel, &max_mode));
    int64_t OH = lp_attr_int(c->node, "output_height", 1), OW = lp_attr_int(c->node, "output_width", 1);
    int64_t ratio = lp_attr_int(c->node, "sampling_ratio", 0);
    double scale = lp_attr_float(c->node, "spatial_scale", 1.0f);
    if (x->ndim != 4 || rois->ndim != 2 || rois->dims[1] != 4 || bi->ndim != 1 || bi->dims[0] != rois->dims[0] ||
        !lp_ew_is_float(x->dtype) || y->dtype != x->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected x (N, C, H, W), rois (R, 4), batch_indices (R)");
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], R = rois->dims[0];
    if (lp_tensor_numel(y) != R * C * OH * OW || ratio < 0)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output must be (R, C, output_height, output_width)");
    double offset = half_pixel ? 0.5 : 0;
    for (int64_t r = 0; r < R; r++) {
        int64_t b = lp_tensor_get_int(bi, r);
        if (b < 0 || b >= N)
            return lp_node_error(c->node, LOWP_ERR_INVALID_ARGUMENT, "batch index %lld is outside [0, %lld)",
                                 (long long)b, (long long)N);
        double x1 = getd(rois, r * 4) * scale - offset, y1 = getd(rois, r * 4 + 1) * scale - offset;
        double x2 = getd(rois, r * 4 + 2) * scale - offset, y2 = getd(rois, r * 4 + 3) * scale - offset;
        double rw = x2 - x1, rh = y2 - y1;
        if (!half_pixel) { /* the legacy mode forces at least 1x1 rois */
            rw = fmax(rw, 1.0);
            rh = fmax(rh, 1.0);
        }
        double bh = rh / (double)OH, bw = rw / (double)OW;
        int64_t gh = ratio > 0 ? ratio : (int64_t)ceil(rh / (double)OH);
        int64_t gw = ratio > 0 ? ratio : (int64_t)ceil(rw / (double)OW);
        if (gh > (1 << 16) || gw > (1 << 16))
            return lp_node_error(c->node, LOWP_ERR_INVALID_ARGUMENT, "roi %lld needs a %lld x %lld sampling grid",
                                 (long long)r, (long long)gh, (long long)gw);
        double count = (double)(gh * gw > 1 ? gh * gw : 1);
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t plane = (b * C + ch) * H * W;
            for (int64_t ph = 0; ph < OH; ph++)
                for (int64_t pw = 0; pw < OW; pw++) {
                    double acc = 0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++)
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double yy = y1 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                            double xx = x1 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            int64_t off[4];
                            double w[4], v = 0;
                            bool in = roi_taps(yy, xx, H, W, off, w);
                            if (max_mode) { /* ONNX Runtime's max: of the weighted taps */
                                for (int k = 0; k < 4; k++) {
                                    double t = in ? w[k] * getd(x, plane + off[k]) : 0;
                                    v = k == 0 || t > v ? t : v;
                                }
                                acc = first || v > acc ? v : acc;
                                first = false;
                            } else if (in) {
                                for (int k = 0; k < 4; k++)
                                    acc += w[k] * getd(x, plane + off[k]);
                            }
                        }
                    lp_ew_setd(y, ((r * C + ch) * OH + ph) * OW + pw, max_mode ? acc : acc / count);
                }
        }
    }
    return LP_OK;
}

static lp_status infer_RoiAlign(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *rois = c->in[1];
    bool hp, mm;
    LP_TRY(roi_attrs(c->node, c->opset, &hp, &mm));
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    if (x->shape.ndim >= 0 && x->shape.ndim != 4)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "x must be (N, C, H, W)");
    int64_t OH = lp_attr_int(c->node, "output_height", 1), OW = lp_attr_int(c->node, "output_width", 1);
    if (OH < 1 || OW < 1 || OH > (1 << 20) || OW > (1 << 20))
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "output_height and output_width must be in [1, 2^20]");
    c->out[0].dtype = x->dtype;
    c->out[0].shape.ndim = 4;
    c->out[0].shape.d[0] = rois->shape.ndim == 2 ? rois->shape.d[0] : LP_DIM_UNKNOWN;
    c->out[0].shape.d[1] = x->shape.ndim == 4 ? x->shape.d[1] : LP_DIM_UNKNOWN;
    c->out[0].shape.d[2] = OH;
    c->out[0].shape.d[3] = OW;
    return LP_OK;
}

const lp_op_def lp_opdef_RoiAlign = { .name = "RoiAlign", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                      .infer = infer_RoiAlign, .run = run_RoiAlign };

/* ---- GridSample: x (N, C, H, W), grid (N, Ho, Wo, 2) of (x, y) in [-1, 1] -> (N, C, Ho, Wo);
 * modes bilinear, nearest, bicubic; padding zeros, border, reflection; align_corners. ---- */

typedef enum gs_mode { GS_BILINEAR, GS_NEAREST, GS_BICUBIC } gs_mode;
typedef enum gs_pad { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_pad;

typedef struct gs_ctx {
    gs_mode mode;
    gs_pad pad;
    bool align;
    const lp_tensor *x;
    int64_t H, W;
} gs_ctx;

static lp_status gs_attrs(const lp_node *n, gs_mode *mode, gs_pad *pad)
{
    const char *m = lp_attr_str(n, "mode", "bilinear"), *p = lp_attr_str(n, "padding_mode", "zeros");
    static const char *const modes[] = { "bilinear", "nearest", "bicubic" };
    static const char *const pads[] = { "zeros", "border", "reflection" };
    int mi = -1, pi = -1;
    for (int i = 0; i < 3; i++) {
        if (strcmp(m, modes[i]) == 0)
            mi = i;
        if (strcmp(p, pads[i]) == 0)
            pi = i;
    }
    if (mi < 0 || pi < 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "mode '%s' or padding_mode '%s' is not supported", m, p);
    *mode = (gs_mode)mi;
    *pad = (gs_pad)pi;
    return LP_OK;
}

/* Reflects v into [lo2/2, hi2/2] (bounds given doubled, as PyTorch does). */
static double gs_reflect(double v, double lo2, double hi2)
{
    if (lo2 == hi2)
        return 0;
    double lo = lo2 / 2, span = (hi2 - lo2) / 2;
    v = fabs(v - lo);
    double extra = fmod(v, span);
    double flips = fmod(floor(v / span), 2.0);
    return flips == 0 ? extra + lo : span - extra + lo;
}

/* A pixel coordinate moved into the plane by the padding mode (zeros leaves it). */
static double gs_pad_coord(const gs_ctx *g, double v, int64_t size)
{
    if (g->pad == GS_BORDER) {
        v = fmin(fmax(v, 0), (double)(size - 1));
    } else if (g->pad == GS_REFLECTION) {
        v = g->align ? gs_reflect(v, 0, 2.0 * (double)(size - 1)) : gs_reflect(v, -1, 2.0 * (double)size - 1);
        v = fmin(fmax(v, 0), (double)(size - 1));
    }
    return v;
}

/* Pixel (iy, ix) of plane `p`, 0 outside. */
static double gs_pixel(const gs_ctx *g, int64_t p, int64_t iy, int64_t ix)
{
    if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W)
        return 0;
    return getd(g->x, p + iy * g->W + ix);
}

static void gs_cubic_coeffs(double t, double *w)
{
    const double A = -0.75;
    double t1 = t + 1, t2 = 1 - t, t3 = 2 - t;
    w[0] = ((A * t1 - 5 * A) * t1 + 8 * A) * t1 - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * t2 - (A + 3)) * t2 * t2 + 1;
    w[3] = ((A * t3 - 5 * A) * t3 + 8 * A) * t3 - 4 * A;
}

static double gs_sample(const gs_ctx *g, int64_t p, double gx, double gy)
{
    double W = (double)g->W, H = (double)g->H;
    double x = g->align ? (gx + 1) / 2 * (W - 1) : ((gx + 1) * W - 1) / 2;
    double y = g->align ? (gy + 1) / 2 * (H - 1) : ((gy + 1) * H - 1) / 2;
    /* NaN samples nothing; far outside with zero padding is 0 (and keeps casts in range) */
    if (!isfinite(x) || !isfinite(y) || (g->pad == GS_ZEROS && (fabs(x) > 0x1p40 || fabs(y) > 0x1p40)))
        return 0;
    if (g->mode == GS_BICUBIC) { /* padding applies to each integer tap */
        double x0 = floor(x), y0 = floor(y), wx[4], wy[4], acc = 0;
        gs_cubic_coeffs(x - x0, wx);
        gs_cubic_coeffs(y - y0, wy);
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 4; i++) {
                double ty = gs_pad_coord(g, y0 - 1 + j, g->H), tx = gs_pad_coord(g, x0 - 1 + i, g->W);
                acc += wy[j] * wx[i] * gs_pixel(g, p, (int64_t)ty, (int64_t)tx);
            }
        return acc;
    }
    x = gs_pad_coord(g, x, g->W);
    y = gs_pad_coord(g, y, g->H);
    if (g->mode == GS_NEAREST)
        return gs_pixel(g, p, (int64_t)nearbyint(y), (int64_t)nearbyint(x));
    double x0 = floor(x), y0 = floor(y), lx = x - x0, ly = y - y0;
    int64_t ix = (int64_t)x0, iy = (int64_t)y0;
    return (1 - ly) * ((1 - lx) * gs_pixel(g, p, iy, ix) + lx * gs_pixel(g, p, iy, ix + 1)) +
           ly * ((1 - lx) * gs_pixel(g, p, iy + 1, ix) + lx * gs_pixel(g, p, iy + 1, ix + 1));
}

static lp_status run_GridSample(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *grid = c->in[1];
    lp_tensor *y = c->out[0];
    gs_ctx g = { .x = x, .align = lp_attr_int(c->node, "align_corners", 0) != 0 };
    LP_TRY(gs_attrs(c->node, &g.mode, &g.pad));
    if (x->ndim != 4 || grid->ndim != 4 || grid->dims[3] != 2 || grid->dims[0] != x->dims[0] ||
        !lp_ew_is_float(x->dtype) || !lp_ew_is_float(grid->dtype) || y->dtype != x->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected float x (N, C, H, W) and grid (N, Ho, Wo, 2)");
    int64_t N = x->dims[0], C = x->dims[1], Ho = grid->dims[1], Wo = grid->dims[2];
    g.H = x->dims[2];
    g.W = x->dims[3];
    if (lp_tensor_numel(y) != N * C * Ho * Wo)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output must be (N, C, Ho, Wo)");
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < Ho * Wo; i++) {
                int64_t gi = (n * Ho * Wo + i) * 2;
                double v = gs_sample(&g, (n * C + ch) * g.H * g.W, getd(grid, gi), getd(grid, gi + 1));
                lp_ew_setd(y, (n * C + ch) * Ho * Wo + i, v);
            }
    return LP_OK;
}

static lp_status infer_GridSample(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *grid = c->in[1];
    gs_mode m;
    gs_pad p;
    LP_TRY(gs_attrs(c->node, &m, &p));
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    if ((x->shape.ndim >= 0 && x->shape.ndim != 4) || (grid->shape.ndim >= 0 && grid->shape.ndim != 4))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "x must be (N, C, H, W) and grid (N, Ho, Wo, 2)");
    c->out[0].dtype = x->dtype;
    c->out[0].shape.ndim = 4;
    c->out[0].shape.d[0] = x->shape.ndim == 4 ? x->shape.d[0] : LP_DIM_UNKNOWN;
    c->out[0].shape.d[1] = x->shape.ndim == 4 ? x->shape.d[1] : LP_DIM_UNKNOWN;
    c->out[0].shape.d[2] = grid->shape.ndim == 4 ? grid->shape.d[1] : LP_DIM_UNKNOWN;
    c->out[0].shape.d[3] = grid->shape.ndim == 4 ? grid->shape.d[2] : LP_DIM_UNKNOWN;
    return LP_OK;
}

const lp_op_def lp_opdef_GridSample = { .name = "GridSample", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                        .infer = infer_GridSample, .run = run_GridSample };
