/* transforms.c — the built-in transforms, with LPOT's names and meanings.
 *
 * Image layout: a rank-2 tensor is (H,W); a rank-3 tensor is (H,W,C) when its last dim is at
 * most 4 (LPOT's layout for decoded images), otherwise (C,H,W) when its first dim is at most 4
 * (MNIST's (1,28,28)). Image transforms change every input of a sample, keep the layout, and
 * leave labels alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "data/image_ops.h"

/* ---- image geometry ---- */

lp_status lp_img_of(const lp_tensor *t, img *m)
{
    char buf[96];
    if (t->ndim == 2) {
        *m = (img){t->dims[0], t->dims[1], 1, t->dims[1], 1, 1, false};
        return LP_OK;
    }
    if (t->ndim == 3 && t->dims[2] <= 4) {
        *m = (img){t->dims[0], t->dims[1], t->dims[2], t->dims[1] * t->dims[2], t->dims[2], 1, false};
        return LP_OK;
    }
    if (t->ndim == 3 && t->dims[0] <= 4) {
        *m = (img){t->dims[1], t->dims[2], t->dims[0], t->dims[2], 1, t->dims[1] * t->dims[2], true};
        return LP_OK;
    }
    return lp_error(LOWP_ERR_SHAPE, "expected an image (H,W), (H,W,C) or (C,H,W) with C <= 4, got %s",
                    lp_shape_str(t->ndim, t->dims, buf, sizeof buf));
}

/* A new tensor of the same layout/dtype as `m` with size (h,w), and its geometry in *om. The
 * layout is carried over, not guessed again from the new dims: a (2,3,5) CHW image resized
 * to 3x3 is (2,3,3), which img_of would read as HWC. */
lp_status lp_img_new(const img *m, lp_dtype dtype, int ndim, int64_t h, int64_t w, lp_tensor **out,
                         img *om)
{
    /* what a transform makes is bounded as decoded images are (data/image.c): a Pad or a
     * resize of hostile sizes is refused before anything is allocated */
    lp_image_limit lim;
    LP_TRY(lp_image_limits(&lim));
    if (h < 0 || w < 0 || (w && (uint64_t)h > lim.pixels / (uint64_t)w))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "an image of %lldx%lld pixels is over the limit of %llu (LOWP_MAX_IMAGE_PIXELS)",
                        (long long)h, (long long)w, (unsigned long long)lim.pixels);
    int64_t dims[3];
    if (ndim == 2)
        dims[0] = h, dims[1] = w;
    else if (m->chw)
        dims[0] = m->c, dims[1] = h, dims[2] = w;
    else
        dims[0] = h, dims[1] = w, dims[2] = m->c;
    LP_TRY(lp_tensor_new(dtype, ndim, dims, out));   /* bounds h*w*c before the strides below */
    if (ndim == 2)
        *om = (img){h, w, 1, w, 1, 1, false};
    else if (m->chw)
        *om = (img){h, w, m->c, w, 1, h * w, true};
    else
        *om = (img){h, w, m->c, w * m->c, m->c, 1, false};
    return LP_OK;
}

/* Copies the (h,w) window at (top,left) into a new tensor (any dtype). */
lp_status lp_img_crop(lp_tensor **tp, int64_t top, int64_t left, int64_t h, int64_t w)
{
    lp_tensor *t = *tp;
    img m;
    LP_TRY(lp_img_of(t, &m));
    if (top < 0 || left < 0 || h <= 0 || w <= 0 || h > m.h - top || w > m.w - left)   /* no overflow */
        return lp_error(LOWP_ERR_SHAPE, "crop (%lld,%lld) size %lldx%lld does not fit a %lldx%lld image",
                        (long long)top, (long long)left, (long long)h, (long long)w, (long long)m.h,
                        (long long)m.w);
    lp_tensor *o;
    img om;
    LP_TRY(lp_img_new(&m, t->dtype, t->ndim, h, w, &o, &om));
    size_t es = lp_dtype_traits_of(t->dtype)->size;
    const char *src = t->data;
    char *dst = o->data;
    for (int64_t c = 0; c < m.c; c++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                memcpy(dst + (size_t)(c * om.sc + y * om.sy + x * om.sx) * es,
                       src + (size_t)(c * m.sc + (y + top) * m.sy + (x + left) * m.sx) * es, es);
    lp_tensor_free(t);
    *tp = o;
    return LP_OK;
}

/* OpenCV INTER_CUBIC's four weights (a = -0.75) for a source offset t in [0, 1). */
static void cubic_weights(double t, double w[4])
{
    const double a = -0.75;
    w[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
    w[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    w[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
    w[3] = 1 - w[0] - w[1] - w[2];
}

static int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

/* Resizes to (oh,ow) into a new float32 tensor. Bilinear uses half-pixel centres and clamps
 * at the border (OpenCV INTER_LINEAR, PyTorch align_corners=False without antialiasing);
 * bicubic is OpenCV's INTER_CUBIC (half-pixel centres, a = -0.75, border pixels replicated);
 * nearest takes source floor(x * in/out) (OpenCV INTER_NEAREST). */
lp_status lp_img_resize(lp_tensor **tp, int64_t oh, int64_t ow, int interp)
{
    lp_tensor *t = *tp;
    img m;
    LP_TRY(lp_img_of(t, &m));
    if (oh <= 0 || ow <= 0)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "resize to %lldx%lld", (long long)oh, (long long)ow);
    if (m.h < 1 || m.w < 1)
        return lp_error(LOWP_ERR_SHAPE, "cannot resize an empty %lldx%lld image", (long long)m.h,
                        (long long)m.w);
    lp_tensor *o;
    img om;
    LP_TRY(lp_img_new(&m, LP_F32, t->ndim, oh, ow, &o, &om));
    const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
    float *dst = o->data;
    double fy = (double)m.h / (double)oh, fx = (double)m.w / (double)ow;
#define SRC(c, y, x) tr->get(t->data, (c) * m.sc + (y) * m.sy + (x) * m.sx)
    for (int64_t y = 0; y < oh; y++) {
        double sy = (y + 0.5) * fy - 0.5;
        if (sy < 0)
            sy = 0;
        int64_t y0 = (int64_t)floor(sy);
        if (y0 > m.h - 1)
            y0 = m.h - 1;
        int64_t y1 = y0 + 1 < m.h ? y0 + 1 : m.h - 1;
        double wy = sy - (double)y0;
        int64_t ny = (int64_t)floor((double)y * fy);
        if (ny > m.h - 1)
            ny = m.h - 1;
        for (int64_t x = 0; x < ow; x++) {
            double sx = (x + 0.5) * fx - 0.5;
            if (sx < 0)
                sx = 0;
            int64_t x0 = (int64_t)floor(sx);
            if (x0 > m.w - 1)
                x0 = m.w - 1;
            int64_t x1 = x0 + 1 < m.w ? x0 + 1 : m.w - 1;
            double wx = sx - (double)x0;
            int64_t nx = (int64_t)floor((double)x * fx);
            if (nx > m.w - 1)
                nx = m.w - 1;
            double cy[4], cx[4];
            int64_t by = 0, bx = 0;
            if (interp == INTERP_BICUBIC) {
                double ry = (y + 0.5) * fy - 0.5, rx = (x + 0.5) * fx - 0.5;
                by = (int64_t)floor(ry), bx = (int64_t)floor(rx);
                cubic_weights(ry - (double)by, cy);
                cubic_weights(rx - (double)bx, cx);
            }
            for (int64_t c = 0; c < m.c; c++) {
                double v = 0;
                if (interp == INTERP_BICUBIC) {
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++)
                            v += cy[i] * cx[j] * SRC(c, clamp_index(by - 1 + i, m.h), clamp_index(bx - 1 + j, m.w));
                } else if (interp == INTERP_NEAREST)
                    v = SRC(c, ny, nx);
                else
                    v = (1 - wy) * ((1 - wx) * SRC(c, y0, x0) + wx * SRC(c, y0, x1)) +
                        wy * ((1 - wx) * SRC(c, y1, x0) + wx * SRC(c, y1, x1));
                dst[c * om.sc + y * om.sy + x * om.sx] = (float)v;
            }
        }
    }
#undef SRC
    lp_tensor_free(t);
    *tp = o;
    return LP_OK;
}

/* `size`: one int (square) or [h, w]. */
lp_status lp_img_get_size(const lowp_params *p, const char *key, int64_t *h, int64_t *w)
{
    int64_t v[2];
    int n;
    LP_TRY(lowp_params_get_ints(p, key, 2, v, &n));
    if (n == 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "needs '%s'", key);
    *h = v[0];
    *w = n == 2 ? v[1] : v[0];
    if (*h <= 0 || *w <= 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "'%s' must be positive", key);
    return LP_OK;
}

lp_status lp_img_get_interp(const lowp_params *p, int *out)
{
    const char *s;
    LP_TRY(lowp_params_get_string(p, "interpolation", "bilinear", &s));
    if (!strcmp(s, "bilinear"))
        *out = INTERP_BILINEAR;
    else if (!strcmp(s, "nearest"))
        *out = INTERP_NEAREST;
    else if (!strcmp(s, "bicubic"))
        *out = INTERP_BICUBIC;
    else
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, p->file, p->path, 0,
                            "interpolation '%s' is not supported (bilinear, bicubic, nearest)", s);
    return LP_OK;
}

/* Ensures t is float32 (converting in a new tensor). */
lp_status lp_img_to_f32(lp_tensor **tp)
{
    lp_tensor *t = *tp;
    if (t->dtype == LP_F32)
        return LP_OK;
    lp_tensor *o;
    LP_TRY(lp_tensor_new(LP_F32, t->ndim, t->dims, &o));
    const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
    int64_t n = lp_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        ((float *)o->data)[i] = (float)tr->get(t->data, i);
    lp_tensor_free(t);
    *tp = o;
    return LP_OK;
}

typedef struct geo {
    int64_t h, w, x, y;
    int64_t box_w, box_h;   /* CropResize's box */
    int interp;
    double scale[2], ratio[2];
} geo;

static lp_status geo_new(geo **out)
{
    geo *g = calloc(1, sizeof *g);
    if (!g)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *out = g;
    return LP_OK;
}

static void state_free(void *s) { free(s); }

/* ---- Rescale: x * (1/255), to float32 ---- */

static lp_status rescale_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)state, (void)rng;
    const float k = (float)(1.0 / 255.0);   /* the zoo's (and torchvision-style) pixel scale */
    for (int i = 0; i < s->n_inputs; i++) {
        LP_TRY(lp_img_to_f32(&s->inputs[i]));
        float *x = s->inputs[i]->data;
        int64_t n = lp_tensor_numel(s->inputs[i]);
        for (int64_t j = 0; j < n; j++)
            x[j] = x[j] * k;
    }
    return LP_OK;
}

/* ---- Normalize: (x - mean[c]) / std[c], float32 ---- */

typedef struct norm {
    int n;
    float mean[16], std[16];
} norm;

static lp_status normalize_create(const lowp_params *p, void **out)
{
    double mean[16], std[16];
    int nm, ns;
    LP_TRY(lowp_params_get_floats(p, "mean", 16, mean, &nm));
    LP_TRY(lowp_params_get_floats(p, "std", 16, std, &ns));
    if (nm == 0)
        mean[0] = 0, nm = 1;
    if (ns == 0)
        std[0] = 1, ns = 1;
    if (nm != ns && nm != 1 && ns != 1)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "mean has %d values but std has %d", nm, ns);
    norm *z = calloc(1, sizeof *z);
    if (!z)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    z->n = nm > ns ? nm : ns;
    for (int i = 0; i < z->n; i++) {
        z->mean[i] = (float)mean[nm == 1 ? 0 : i];
        z->std[i] = (float)std[ns == 1 ? 0 : i];
        if (z->std[i] == 0) {
            free(z);
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "std is 0");
        }
    }
    *out = z;
    return LP_OK;
}

static lp_status normalize_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    norm *z = state;
    for (int i = 0; i < s->n_inputs; i++) {
        LP_TRY(lp_img_to_f32(&s->inputs[i]));
        lp_tensor *t = s->inputs[i];
        float *x = t->data;
        int64_t n = lp_tensor_numel(t);
        if (z->n == 1) {
            for (int64_t j = 0; j < n; j++)
                x[j] = (x[j] - z->mean[0]) / z->std[0];
            continue;
        }
        img m;
        char buf[96];
        if (lp_img_of(t, &m) != LP_OK || m.c != z->n)
            return lp_error(LOWP_ERR_SHAPE, "Normalize has %d channels of mean/std but the input is %s",
                            z->n, lp_shape_str(t->ndim, t->dims, buf, sizeof buf));
        for (int64_t c = 0; c < m.c; c++)
            for (int64_t y = 0; y < m.h; y++)
                for (int64_t xx = 0; xx < m.w; xx++) {
                    float *v = &x[c * m.sc + y * m.sy + xx * m.sx];
                    *v = (*v - z->mean[c]) / z->std[c];
                }
    }
    return LP_OK;
}

/* ---- Resize ---- */

static lp_status resize_create(const lowp_params *p, void **out)
{
    geo g = {0};
    LP_TRY(lp_img_get_size(p, "size", &g.h, &g.w));
    LP_TRY(lp_img_get_interp(p, &g.interp));
    geo *pg = NULL;
    LP_TRY(geo_new(&pg));
    *pg = g;
    *out = pg;
    return LP_OK;
}

static lp_status resize_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    geo *g = state;
    for (int i = 0; i < s->n_inputs; i++)
        LP_TRY(lp_img_resize(&s->inputs[i], g->h, g->w, g->interp));
    return LP_OK;
}

/* ---- CenterCrop: top = (H - h) / 2, left = (W - w) / 2, rounded down ---- */

static lp_status size_create(const lowp_params *p, void **out)
{
    geo g = {0};
    LP_TRY(lp_img_get_size(p, "size", &g.h, &g.w));
    geo *pg = NULL;
    LP_TRY(geo_new(&pg));
    *pg = g;
    *out = pg;
    return LP_OK;
}

static lp_status center_crop_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    geo *g = state;
    for (int i = 0; i < s->n_inputs; i++) {
        img m;
        LP_TRY(lp_img_of(s->inputs[i], &m));
        LP_TRY(lp_img_crop(&s->inputs[i], (m.h - g->h) / 2, (m.w - g->w) / 2, g->h, g->w));
    }
    return LP_OK;
}

/* ---- RandomCrop: a uniformly placed (h,w) window ---- */

static int64_t rand_int(uint64_t *rng, int64_t lo, int64_t hi)   /* [lo, hi] */
{
    return lo + (int64_t)(lowp_random_next(rng) % (uint64_t)(hi - lo + 1));
}

static lp_status random_crop_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    geo *g = state;
    img m;
    if (s->n_inputs < 1)
        return LP_OK;
    LP_TRY(lp_img_of(s->inputs[0], &m));
    if (g->h > m.h || g->w > m.w)
        return lp_error(LOWP_ERR_SHAPE, "RandomCrop %lldx%lld is larger than the %lldx%lld image",
                        (long long)g->h, (long long)g->w, (long long)m.h, (long long)m.w);
    int64_t top = rand_int(rng, 0, m.h - g->h), left = rand_int(rng, 0, m.w - g->w);
    for (int i = 0; i < s->n_inputs; i++)
        LP_TRY(lp_img_crop(&s->inputs[i], top, left, g->h, g->w));
    return LP_OK;
}

/* ---- RandomResizedCrop: torchvision's area/aspect sampling, then resize ---- */

static lp_status rrc_create(const lowp_params *p, void **out)
{
    geo g = {.scale = {0.08, 1.0}, .ratio = {3.0 / 4.0, 4.0 / 3.0}};
    LP_TRY(lp_img_get_size(p, "size", &g.h, &g.w));
    LP_TRY(lp_img_get_interp(p, &g.interp));
    double v[2];
    int n;
    LP_TRY(lowp_params_get_floats(p, "scale", 2, v, &n));
    if (n == 2)
        g.scale[0] = v[0], g.scale[1] = v[1];
    LP_TRY(lowp_params_get_floats(p, "ratio", 2, v, &n));
    if (n == 2)
        g.ratio[0] = v[0], g.ratio[1] = v[1];
    if (g.scale[0] <= 0 || g.scale[0] > g.scale[1] || g.ratio[0] <= 0 || g.ratio[0] > g.ratio[1])
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "scale and ratio must be increasing positive pairs");
    geo *pg = NULL;
    LP_TRY(geo_new(&pg));
    *pg = g;
    *out = pg;
    return LP_OK;
}

static lp_status rrc_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    geo *g = state;
    img m;
    if (s->n_inputs < 1)
        return LP_OK;
    LP_TRY(lp_img_of(s->inputs[0], &m));
    double area = (double)(m.h * m.w);
    int64_t ch = m.h, cw = m.w, top = 0, left = 0;
    bool found = false;
    for (int attempt = 0; attempt < 10 && !found; attempt++) {
        double target = area * (g->scale[0] + (g->scale[1] - g->scale[0]) * lowp_random_uniform(rng));
        double lr0 = log(g->ratio[0]), lr1 = log(g->ratio[1]);
        double ar = exp(lr0 + (lr1 - lr0) * lowp_random_uniform(rng));
        int64_t w = (int64_t)llround(sqrt(target * ar)), h = (int64_t)llround(sqrt(target / ar));
        if (w > 0 && h > 0 && w <= m.w && h <= m.h) {
            ch = h, cw = w;
            top = rand_int(rng, 0, m.h - h);
            left = rand_int(rng, 0, m.w - w);
            found = true;
        }
    }
    if (!found) {   /* torchvision's fallback: a centre crop clamped to the ratio range */
        double in_ratio = (double)m.w / (double)m.h;
        if (in_ratio < g->ratio[0])
            cw = m.w, ch = (int64_t)llround((double)cw / g->ratio[0]);
        else if (in_ratio > g->ratio[1])
            ch = m.h, cw = (int64_t)llround((double)ch * g->ratio[1]);
        top = (m.h - ch) / 2;
        left = (m.w - cw) / 2;
    }
    for (int i = 0; i < s->n_inputs; i++) {
        LP_TRY(lp_img_crop(&s->inputs[i], top, left, ch, cw));
        LP_TRY(lp_img_resize(&s->inputs[i], g->h, g->w, g->interp));
    }
    return LP_OK;
}

/* ---- CropResize: crop the box (x, y, width, height), then resize to size ---- */

static lp_status crop_resize_create(const lowp_params *p, void **out)
{
    geo g = {0};
    int64_t x, y, w, h;
    LP_TRY(lowp_params_get_int(p, "x", 0, &x));
    LP_TRY(lowp_params_get_int(p, "y", 0, &y));
    LP_TRY(lowp_params_get_int(p, "width", 0, &w));
    LP_TRY(lowp_params_get_int(p, "height", 0, &h));
    LP_TRY(lp_img_get_size(p, "size", &g.h, &g.w));
    LP_TRY(lp_img_get_interp(p, &g.interp));
    if (x < 0 || y < 0 || w <= 0 || h <= 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "x, y must be >= 0 and width, height > 0");
    geo *pg = NULL;
    LP_TRY(geo_new(&pg));
    *pg = g;
    pg->x = x, pg->y = y, pg->box_w = w, pg->box_h = h;
    *out = pg;
    return LP_OK;
}

static lp_status crop_resize_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    geo *g = state;
    for (int i = 0; i < s->n_inputs; i++) {
        LP_TRY(lp_img_crop(&s->inputs[i], g->y, g->x, g->box_h, g->box_w));
        LP_TRY(lp_img_resize(&s->inputs[i], g->h, g->w, g->interp));
    }
    return LP_OK;
}

/* ---- Transpose: permute axes (perm as in numpy.transpose) ---- */

typedef struct perm {
    int n;
    int64_t p[LP_MAX_DIMS];
} perm;

static lp_status transpose_create(const lowp_params *p, void **out)
{
    perm *q = calloc(1, sizeof *q);
    if (!q)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = lowp_params_get_ints(p, "perm", LP_MAX_DIMS, q->p, &q->n);
    if (st == LP_OK && q->n == 0)
        st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "perm is empty");
    unsigned seen = 0;
    for (int i = 0; i < q->n && st == LP_OK; i++) {
        if (q->p[i] < 0 || q->p[i] >= q->n || (seen >> q->p[i] & 1))
            st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                              "perm is not a permutation of 0..%d", q->n - 1);
        else
            seen |= 1u << q->p[i];
    }
    if (st != LP_OK) {
        free(q);
        return st;
    }
    *out = q;
    return LP_OK;
}

static lp_status transpose_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    perm *q = state;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor *t = s->inputs[i];
        char buf[96];
        if (t->ndim != q->n)
            return lp_error(LOWP_ERR_SHAPE, "Transpose perm has %d axes but the input is %s", q->n,
                            lp_shape_str(t->ndim, t->dims, buf, sizeof buf));
        int64_t od[LP_MAX_DIMS], istr[LP_MAX_DIMS], ostr[LP_MAX_DIMS];
        for (int k = 0; k < q->n; k++)
            od[k] = t->dims[q->p[k]];
        istr[q->n - 1] = 1;
        for (int k = q->n - 2; k >= 0; k--)
            istr[k] = istr[k + 1] * t->dims[k + 1];
        for (int k = 0; k < q->n; k++)
            ostr[k] = istr[q->p[k]];   /* input stride of output axis k */
        lp_tensor *o;
        LP_TRY(lp_tensor_new(t->dtype, t->ndim, od, &o));
        size_t es = lp_dtype_traits_of(t->dtype)->size;
        int64_t n = lp_tensor_numel(o), idx[LP_MAX_DIMS] = {0};
        for (int64_t j = 0; j < n; j++) {
            int64_t src = 0;
            for (int k = 0; k < q->n; k++)
                src += idx[k] * ostr[k];
            memcpy((char *)o->data + (size_t)j * es, (char *)t->data + (size_t)src * es, es);
            lp_index_next(q->n, od, idx, NULL, NULL);
        }
        lp_tensor_free(t);
        s->inputs[i] = o;
    }
    return LP_OK;
}

/* ---- Cast: to dtype (default float32), as a C cast ---- */

static lp_status cast_create(const lowp_params *p, void **out)
{
    const char *name;
    LP_TRY(lowp_params_get_string(p, "dtype", "float32", &name));
    lp_dtype dt = lp_dtype_from_name(name);
    if (dt == LOWP_UNDEFINED || !lp_dtype_valid(dt))
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "unknown dtype '%s'", name);
    lp_dtype *d = malloc(sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *d = dt;
    *out = d;
    return LP_OK;
}

static lp_status cast_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    lp_dtype dt = *(lp_dtype *)state;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor *t = s->inputs[i];
        if (t->dtype == dt)
            continue;
        lp_tensor *o;
        LP_TRY(lp_tensor_new(dt, t->ndim, t->dims, &o));
        const lp_dtype_traits *ti = lp_dtype_traits_of(t->dtype), *to = lp_dtype_traits_of(dt);
        int64_t n = lp_tensor_numel(t);
        for (int64_t j = 0; j < n; j++)
            to->set(o->data, j, ti->get(t->data, j));
        lp_tensor_free(t);
        s->inputs[i] = o;
    }
    return LP_OK;
}

/* ---- ToArray, ToNDArray (MXNet's): samples are arrays already (kept so LPOT configs load) ---- */

static lp_status noop_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)state, (void)s, (void)rng;
    return LP_OK;
}

/* ---- LabelShift (postprocess): label - shift ---- */

static lp_status label_shift_create(const lowp_params *p, void **out)
{
    int64_t *k = malloc(sizeof *k);
    if (!k)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = lowp_params_get_int(p, "label_shift", 0, k);
    if (st != LP_OK) {
        free(k);
        return st;
    }
    *out = k;
    return LP_OK;
}

static lp_status label_shift_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    int64_t k = *(int64_t *)state;
    for (int i = 0; i < s->n_labels; i++) {
        lp_tensor *t = s->labels[i];
        const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
        int64_t n = lp_tensor_numel(t);
        for (int64_t j = 0; j < n; j++)
            tr->set(t->data, j, tr->get(t->data, j) - (double)k);
    }
    return LP_OK;
}

/* ---- the table ---- */

static const lowp_param_spec no_params[] = {{NULL, 0, 0, 0}};
static const lowp_param_spec normalize_params[] = {
    {"mean", LOWP_PARAM_FLOAT_LIST, 0, 1},
    {"std", LOWP_PARAM_FLOAT_LIST, 0, 2},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec resize_params[] = {
    {"size", LOWP_PARAM_INT_LIST, 1, 1},
    {"interpolation", LOWP_PARAM_STRING, 0, 2},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec size_params[] = {
    {"size", LOWP_PARAM_INT_LIST, 1, 1},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec rrc_params[] = {
    {"size", LOWP_PARAM_INT_LIST, 1, 1},
    {"scale", LOWP_PARAM_FLOAT_LIST, 0, 2},
    {"ratio", LOWP_PARAM_FLOAT_LIST, 0, 3},
    {"interpolation", LOWP_PARAM_STRING, 0, 4},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec crop_resize_params[] = {
    {"x", LOWP_PARAM_INT, 1, 1},
    {"y", LOWP_PARAM_INT, 1, 2},
    {"width", LOWP_PARAM_INT, 1, 3},
    {"height", LOWP_PARAM_INT, 1, 4},
    {"size", LOWP_PARAM_INT_LIST, 1, 5},
    {"interpolation", LOWP_PARAM_STRING, 0, 6},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec transpose_params[] = {
    {"perm", LOWP_PARAM_INT_LIST, 1, 1},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec cast_params[] = {
    {"dtype", LOWP_PARAM_STRING, 0, 1},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec label_shift_params[] = {
    {"label_shift", LOWP_PARAM_INT, 1, 1},
    {NULL, 0, 0, 0},
};

const lowp_transform_vtable lp_tf_rescale = {"Rescale", no_params, NULL, rescale_apply, NULL};
const lowp_transform_vtable lp_tf_normalize = {"Normalize", normalize_params, normalize_create, normalize_apply, state_free};
const lowp_transform_vtable lp_tf_resize = {"Resize", resize_params, resize_create, resize_apply, state_free};
const lowp_transform_vtable lp_tf_center_crop = {"CenterCrop", size_params, size_create, center_crop_apply, state_free};
const lowp_transform_vtable lp_tf_random_crop = {"RandomCrop", size_params, size_create, random_crop_apply, state_free};
const lowp_transform_vtable lp_tf_random_resized_crop = {"RandomResizedCrop", rrc_params, rrc_create, rrc_apply, state_free};
const lowp_transform_vtable lp_tf_transpose = {"Transpose", transpose_params, transpose_create, transpose_apply, state_free};
const lowp_transform_vtable lp_tf_cast = {"Cast", cast_params, cast_create, cast_apply, state_free};
const lowp_transform_vtable lp_tf_to_array = {"ToArray", no_params, NULL, noop_apply, NULL};
const lowp_transform_vtable lp_tf_to_ndarray = {"ToNDArray", no_params, NULL, noop_apply, NULL};   /* MXNet's */
const lowp_transform_vtable lp_tf_crop_resize = {"CropResize", crop_resize_params, crop_resize_create, crop_resize_apply, state_free};
const lowp_transform_vtable lp_tf_label_shift = {"LabelShift", label_shift_params, label_shift_create, label_shift_apply, state_free};
