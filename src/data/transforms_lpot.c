/* transforms_lpot.c — LPOT's image transforms beyond the torchvision-style basics in
 * transforms.c: the ImageNet pipelines its ONNX Runtime examples use (ResizeCropImagenet,
 * BilinearImagenet), ToTensor, random flips, AlignImageChannel, CropToBoundingBox, Pad,
 * QuantizedInput, ResizeWithRatio, PaddedCenterCrop and ColorJitter, with LPOT's
 * parameter names and defaults (docs/config.md says where lowp departs). Every one works on
 * each input of a sample and leaves labels alone, except ResizeWithRatio's padding, which moves
 * box labels with the image as LPOT's does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "data/image_ops.h"

static void state_free(void *s) { free(s); }

#define MAX_CH 4

/* Per-channel values: one value for all channels, or one per channel. */
typedef struct chans {
    int n;
    double v[MAX_CH];
} chans;

static lp_status get_chans(const lowp_params *p, const char *key, double dflt, chans *out)
{
    LP_TRY(lowp_params_get_floats(p, key, MAX_CH, out->v, &out->n));
    if (out->n == 0)
        out->v[0] = dflt, out->n = 1;
    return LP_OK;
}

static double chan(const chans *c, int64_t i) { return c->v[c->n == 1 ? 0 : i]; }

static lp_status check_chans(const chans *c, const img *m, const char *what, const char *key)
{
    if (c->n != 1 && c->n != m->c)
        return lp_error(LOWP_ERR_SHAPE, "%s: %s has %d values but the image has %lld channels", what, key, c->n,
                        (long long)m->c);
    return LP_OK;
}

/* A (H,W,C) or (H,W) float image as (C,H,W) (or (1,H,W)): a new tensor. */
static lp_status to_chw(lp_tensor **tp)
{
    lp_tensor *t = *tp;
    img m;
    LP_TRY(lp_img_of(t, &m));
    if (m.chw)
        return LP_OK;
    int64_t dims[3] = { m.c, m.h, m.w };
    lp_tensor *o;
    LP_TRY(lp_tensor_new(t->dtype, 3, dims, &o));
    size_t es = lp_dtype_traits_of(t->dtype)->size;
    for (int64_t c = 0; c < m.c; c++)
        for (int64_t y = 0; y < m.h; y++)
            for (int64_t x = 0; x < m.w; x++)
                memcpy((char *)o->data + (size_t)((c * m.h + y) * m.w + x) * es,
                       (const char *)t->data + (size_t)(c * m.sc + y * m.sy + x * m.sx) * es, es);
    lp_tensor_free(t);
    *tp = o;
    return LP_OK;
}

/* ---- ResizeCropImagenet (LPOT's ONNX Runtime version) ----
 * The shorter side resized to resize_side (aspect kept, bilinear), x/255, a height x width crop
 * (centred, or uniformly placed with random_crop), an optional random left-right flip, then
 * (x - mean_value[c]) / std_value[c], as float32 (C,H,W). A grey (H,W) image becomes 3
 * channels. LPOT's code passes (new_h, new_w) where cv2.resize takes (w, h), stretching
 * non-square images; lowp keeps the aspect ratio the transform describes. */

typedef struct rci {
    int64_t h, w, side;
    int random_crop, flip;
    chans mean, std;
} rci;

static lp_status rci_create(const lowp_params *p, void **out)
{
    rci r = { 0 };
    LP_TRY(lowp_params_get_int(p, "height", 0, &r.h));
    LP_TRY(lowp_params_get_int(p, "width", 0, &r.w));
    LP_TRY(lowp_params_get_int(p, "resize_side", 256, &r.side));
    LP_TRY(lowp_params_get_bool(p, "random_crop", 0, &r.random_crop));
    LP_TRY(lowp_params_get_bool(p, "random_flip_left_right", 0, &r.flip));
    LP_TRY(get_chans(p, "mean_value", 0.0, &r.mean));
    LP_TRY(get_chans(p, "std_value", 0.0, &r.std));
    if (r.std.n == 1 && r.std.v[0] == 0) { /* LPOT's default std_value */
        r.std.n = 3;
        r.std.v[0] = 0.229, r.std.v[1] = 0.224, r.std.v[2] = 0.225;
    }
    if (r.h <= 0 || r.w <= 0 || r.side <= 0 || r.h > 65536 || r.w > 65536 || r.side > 65536)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "height, width and resize_side must be in 1..65536");
    for (int i = 0; i < r.std.n; i++)
        if (r.std.v[i] == 0)
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "std_value has a 0");
    rci *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = r;
    *out = s;
    return LP_OK;
}

/* (H,W) grey -> (H,W,3) by repetition. */
static lp_status grey_to_rgb(lp_tensor **tp)
{
    lp_tensor *t = *tp;
    if (t->ndim != 2)
        return LP_OK;
    int64_t dims[3] = { t->dims[0], t->dims[1], 3 };
    lp_tensor *o;
    LP_TRY(lp_tensor_new(t->dtype, 3, dims, &o));
    size_t es = lp_dtype_traits_of(t->dtype)->size;
    int64_t n = t->dims[0] * t->dims[1];
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            memcpy((char *)o->data + (size_t)(i * 3 + c) * es, (const char *)t->data + (size_t)i * es, es);
    lp_tensor_free(t);
    *tp = o;
    return LP_OK;
}

static lp_status flip(lp_tensor *t, bool horizontal);

static lp_status rci_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    const rci *r = state;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor **tp = &s->inputs[i];
        LP_TRY(grey_to_rgb(tp));
        img m;
        LP_TRY(lp_img_of(*tp, &m));
        if (m.h < 1 || m.w < 1)
            return lp_error(LOWP_ERR_SHAPE, "ResizeCropImagenet: the image is empty (%lldx%lld)",
                            (long long)m.h, (long long)m.w);
        double scale = (double)r->side / (double)(m.h > m.w ? m.w : m.h);
        double dh = (double)m.h * scale, dw = (double)m.w * scale;
        if (dh > (double)(INT64_C(1) << 40) || dw > (double)(INT64_C(1) << 40))   /* no UB cast below */
            return lp_error(LOWP_ERR_SHAPE, "ResizeCropImagenet: resize_side %lld makes a %lldx%lld image too "
                            "large", (long long)r->side, (long long)m.h, (long long)m.w);
        int64_t nh = (int64_t)dh, nw = (int64_t)dw;
        if (nh < r->h || nw < r->w)
            return lp_error(LOWP_ERR_SHAPE,
                            "ResizeCropImagenet: a %lldx%lld image resized to %lldx%lld is smaller than the "
                            "%lldx%lld crop (resize_side %lld)", (long long)m.h, (long long)m.w, (long long)nh,
                            (long long)nw, (long long)r->h, (long long)r->w, (long long)r->side);
        LP_TRY(lp_img_resize(tp, nh, nw, INTERP_BILINEAR));
        int64_t y0 = (nh - r->h) / 2, x0 = (nw - r->w) / 2;
        if (r->random_crop) {
            y0 = (int64_t)(lowp_random_next(rng) % (uint64_t)(nh - r->h + 1));
            x0 = (int64_t)(lowp_random_next(rng) % (uint64_t)(nw - r->w + 1));
        }
        LP_TRY(lp_img_crop(tp, y0, x0, r->h, r->w));
        if (r->flip && (lowp_random_next(rng) & 1))
            LP_TRY(flip(*tp, true));
        LP_TRY(lp_img_of(*tp, &m));
        LP_TRY(check_chans(&r->mean, &m, "ResizeCropImagenet", "mean_value"));
        LP_TRY(check_chans(&r->std, &m, "ResizeCropImagenet", "std_value"));
        float *x = (*tp)->data;
        for (int64_t c = 0; c < m.c; c++)
            for (int64_t y = 0; y < m.h; y++)
                for (int64_t xx = 0; xx < m.w; xx++) {
                    float *v = &x[c * m.sc + y * m.sy + xx * m.sx];
                    *v = (float)((*v / 255.0 - chan(&r->mean, c)) / chan(&r->std, c));
                }
        LP_TRY(to_chw(tp));
    }
    return LP_OK;
}

/* ---- BilinearImagenet (LPOT's ONNX Runtime version) ----
 * x/255, the central central_fraction of each side (start floor((d - d*f)/2), as LPOT),
 * bilinear resize to height x width, then ((x - 0.5) * 2 - mean_value[c]) * scale; float32,
 * the layout kept (LPOT's is (H,W,C)). */

typedef struct bli {
    int64_t h, w;
    double fraction, scale;
    chans mean;
} bli;

static lp_status bli_create(const lowp_params *p, void **out)
{
    bli b = { 0 };
    LP_TRY(lowp_params_get_int(p, "height", 0, &b.h));
    LP_TRY(lowp_params_get_int(p, "width", 0, &b.w));
    LP_TRY(lowp_params_get_float(p, "central_fraction", 0.875, &b.fraction));
    LP_TRY(lowp_params_get_float(p, "scale", 1.0, &b.scale));
    LP_TRY(get_chans(p, "mean_value", 0.0, &b.mean));
    if (b.h < 0 || b.w < 0 || b.h > 65536 || b.w > 65536 || !(b.fraction > 0 && b.fraction <= 1))
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "height and width must be in 0..65536 and central_fraction in (0, 1]");
    bli *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = b;
    *out = s;
    return LP_OK;
}

static lp_status bli_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    const bli *b = state;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor **tp = &s->inputs[i];
        img m;
        LP_TRY(lp_img_of(*tp, &m));
        int64_t top = (int64_t)(((double)m.h - (double)m.h * b->fraction) / 2);
        int64_t left = (int64_t)(((double)m.w - (double)m.w * b->fraction) / 2);
        LP_TRY(lp_img_crop(tp, top, left, m.h - 2 * top, m.w - 2 * left));
        if (b->h && b->w)
            LP_TRY(lp_img_resize(tp, b->h, b->w, INTERP_BILINEAR));
        LP_TRY(lp_img_to_f32(tp));
        LP_TRY(lp_img_of(*tp, &m));
        LP_TRY(check_chans(&b->mean, &m, "BilinearImagenet", "mean_value"));
        float *x = (*tp)->data;
        for (int64_t c = 0; c < m.c; c++)
            for (int64_t y = 0; y < m.h; y++)
                for (int64_t xx = 0; xx < m.w; xx++) {
                    float *v = &x[c * m.sc + y * m.sy + xx * m.sx];
                    *v = (float)(((*v / 255.0 - 0.5) * 2.0 - chan(&b->mean, c)) * b->scale);
                }
    }
    return LP_OK;
}

/* ---- ToTensor: (H,W,C) -> (C,H,W) float32; uint8 pixels scaled to [0, 1] (torchvision) ---- */

static lp_status to_tensor_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)state, (void)rng;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor **tp = &s->inputs[i];
        bool u8 = (*tp)->dtype == LP_U8;
        if ((*tp)->ndim == 2) { /* (H,W) -> (1,H,W): the same data, one more dim */
            (*tp)->dims[2] = (*tp)->dims[1];
            (*tp)->dims[1] = (*tp)->dims[0];
            (*tp)->dims[0] = 1;
            (*tp)->ndim = 3;
        } else {
            LP_TRY(to_chw(tp));
        }
        LP_TRY(lp_img_to_f32(tp));
        if (u8) {
            float *x = (*tp)->data;
            int64_t n = lp_tensor_numel(*tp);
            for (int64_t j = 0; j < n; j++)
                x[j] = x[j] / 255.0f;
        }
    }
    return LP_OK;
}

/* ---- RandomHorizontalFlip / RandomVerticalFlip: with probability 1/2 ---- */

static lp_status flip(lp_tensor *t, bool horizontal)
{
    img m;
    LP_TRY(lp_img_of(t, &m));
    size_t es = lp_dtype_traits_of(t->dtype)->size;
    char tmp[16];
    char *d = t->data;
    for (int64_t c = 0; c < m.c; c++)
        for (int64_t y = 0; y < (horizontal ? m.h : m.h / 2); y++)
            for (int64_t x = 0; x < (horizontal ? m.w / 2 : m.w); x++) {
                int64_t y2 = horizontal ? y : m.h - 1 - y, x2 = horizontal ? m.w - 1 - x : x;
                char *a = d + (size_t)(c * m.sc + y * m.sy + x * m.sx) * es;
                char *b = d + (size_t)(c * m.sc + y2 * m.sy + x2 * m.sx) * es;
                memcpy(tmp, a, es);
                memcpy(a, b, es);
                memcpy(b, tmp, es);
            }
    return LP_OK;
}

static lp_status hflip_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)state;
    if (lowp_random_next(rng) & 1)
        for (int i = 0; i < s->n_inputs; i++)
            LP_TRY(flip(s->inputs[i], true));
    return LP_OK;
}

static lp_status vflip_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)state;
    if (lowp_random_next(rng) & 1)
        for (int i = 0; i < s->n_inputs; i++)
            LP_TRY(flip(s->inputs[i], false));
    return LP_OK;
}

/* ---- AlignImageChannel: (H,W) -> (H,W,dim), (H,W,4) -> (H,W,3), (H,W,3) -> (H,W,1) ----
 * Grey from RGB with ITU-R 601 luma weights (PIL's 'L'); grey to RGB by repetition; RGBA to RGB
 * drops alpha. */

static lp_status align_create(const lowp_params *p, void **out)
{
    int64_t dim;
    LP_TRY(lowp_params_get_int(p, "dim", 3, &dim));
    if (dim != 1 && dim != 3)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "dim must be 1 or 3, got %lld",
                            (long long)dim);
    int64_t *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = dim;
    *out = s;
    return LP_OK;
}

static lp_status align_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    int64_t dim = *(const int64_t *)state;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor *t = s->inputs[i];
        img m;
        LP_TRY(lp_img_of(t, &m));
        if (m.chw)
            return lp_error(LOWP_ERR_SHAPE, "AlignImageChannel works on (H,W) or (H,W,C) images");
        if (m.c == dim && t->ndim == 3)
            continue;
        if (!(m.c == 1 || m.c == 3 || m.c == 4))
            return lp_error(LOWP_ERR_SHAPE, "AlignImageChannel: %lld channels", (long long)m.c);
        int64_t dims[3] = { m.h, m.w, dim };
        lp_tensor *o;
        LP_TRY(lp_tensor_new(t->dtype, 3, dims, &o));
        const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
        for (int64_t p = 0; p < m.h * m.w; p++) {
            const int64_t b = p * m.c;
            if (dim == 1) {
                double v = m.c == 1 ? tr->get(t->data, b)
                                    : 0.299 * tr->get(t->data, b) + 0.587 * tr->get(t->data, b + 1) +
                                          0.114 * tr->get(t->data, b + 2);
                tr->set(o->data, p, v);
            } else {
                for (int c = 0; c < 3; c++)
                    tr->set(o->data, p * 3 + c, tr->get(t->data, b + (m.c == 1 ? 0 : c)));
            }
        }
        lp_tensor_free(t);
        s->inputs[i] = o;
    }
    return LP_OK;
}

/* ---- CropToBoundingBox: the target_height x target_width box at (offset_height, offset_width) */

typedef struct box {
    int64_t y, x, h, w;
} box;

static lp_status ctb_create(const lowp_params *p, void **out)
{
    box b;
    LP_TRY(lowp_params_get_int(p, "offset_height", 0, &b.y));
    LP_TRY(lowp_params_get_int(p, "offset_width", 0, &b.x));
    LP_TRY(lowp_params_get_int(p, "target_height", 0, &b.h));
    LP_TRY(lowp_params_get_int(p, "target_width", 0, &b.w));
    if (b.y < 0 || b.x < 0 || b.h <= 0 || b.w <= 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "offsets must be >= 0 and target sizes > 0");
    box *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = b;
    *out = s;
    return LP_OK;
}

static lp_status ctb_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    const box *b = state;
    for (int i = 0; i < s->n_inputs; i++)
        LP_TRY(lp_img_crop(&s->inputs[i], b->y, b->x, b->h, b->w));
    return LP_OK;
}

/* ---- Pad: `padding` (one value, [left/right, top/bottom] or [left, top, right, bottom], as
 * torchvision), `fill` (constant), `padding_mode` constant | edge | reflect | symmetric ---- */

enum { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_SYMMETRIC };

typedef struct pad {
    int64_t l, t, r, b;
    double fill;
    int mode;
} pad;

static lp_status pad_create(const lowp_params *p, void **out)
{
    int64_t v[4];
    int n;
    pad d = { 0 };
    LP_TRY(lowp_params_get_ints(p, "padding", 4, v, &n));
    if (n == 1)
        d.l = d.t = d.r = d.b = v[0];
    else if (n == 2)
        d.l = d.r = v[0], d.t = d.b = v[1];
    else if (n == 4)
        d.l = v[0], d.t = v[1], d.r = v[2], d.b = v[3];
    else
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "padding takes 1, 2 or 4 values");
    if (d.l < 0 || d.t < 0 || d.r < 0 || d.b < 0 || d.l > 65536 || d.t > 65536 || d.r > 65536 || d.b > 65536)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "padding must be in 0..65536");
    LP_TRY(lowp_params_get_float(p, "fill", 0, &d.fill));
    const char *mode;
    LP_TRY(lowp_params_get_string(p, "padding_mode", "constant", &mode));
    static const char *const modes[] = { "constant", "edge", "reflect", "symmetric" };
    d.mode = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(mode, modes[i]))
            d.mode = i;
    if (d.mode < 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "padding_mode '%s' is not one of constant, edge, reflect, symmetric", mode);
    pad *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = d;
    *out = s;
    return LP_OK;
}

/* The source index for padded position i of a side of n (i may lie outside [0, n)), or -1 for
 * the fill value. */
static int64_t pad_src(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n)
        return i;
    if (mode == PAD_CONSTANT)
        return -1;
    if (mode == PAD_EDGE)
        return i < 0 ? 0 : n - 1;
    /* reflect (no edge repeat) has period 2n-2, symmetric (edge repeated) 2n */
    int64_t period = mode == PAD_REFLECT ? 2 * n - 2 : 2 * n;
    if (period <= 0)
        return 0;
    int64_t k = ((i % period) + period) % period;
    if (mode == PAD_REFLECT)
        return k < n ? k : period - k;
    return k < n ? k : period - 1 - k;
}

static lp_status pad_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    const pad *d = state;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor *t = s->inputs[i];
        img m, om;
        LP_TRY(lp_img_of(t, &m));
        if (d->mode == PAD_REFLECT && (d->l >= m.w || d->r >= m.w || d->t >= m.h || d->b >= m.h))
            return lp_error(LOWP_ERR_SHAPE, "Pad: reflect padding must be smaller than the %lldx%lld image",
                            (long long)m.h, (long long)m.w);
        lp_tensor *o;
        LP_TRY(lp_img_new(&m, t->dtype, t->ndim, m.h + d->t + d->b, m.w + d->l + d->r, &o, &om));
        const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
        for (int64_t c = 0; c < m.c; c++)
            for (int64_t y = 0; y < om.h; y++) {
                int64_t sy = pad_src(y - d->t, m.h, d->mode);
                for (int64_t x = 0; x < om.w; x++) {
                    int64_t sx = pad_src(x - d->l, m.w, d->mode);
                    double v = sy < 0 || sx < 0 ? d->fill : tr->get(t->data, c * m.sc + sy * m.sy + sx * m.sx);
                    tr->set(o->data, c * om.sc + y * om.sy + x * om.sx, v);
                }
            }
        lp_tensor_free(t);
        s->inputs[i] = o;
    }
    return LP_OK;
}

/* ---- QuantizedInput: round(x * scale) saturated to uint8 or int8 (a model that takes
 * quantized input) ---- */

typedef struct qin {
    lp_dtype dtype;
    double scale;
} qin;

static lp_status qin_create(const lowp_params *p, void **out)
{
    const char *dt;
    qin q;
    LP_TRY(lowp_params_get_string(p, "dtype", NULL, &dt));
    LP_TRY(lowp_params_get_float(p, "scale", 1.0, &q.scale));
    if (!dt || (strcmp(dt, "uint8") && strcmp(dt, "int8")))
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "dtype must be uint8 or int8");
    if (!(q.scale > 0) || !isfinite(q.scale))
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "scale must be a positive number");
    q.dtype = strcmp(dt, "uint8") ? LP_I8 : LP_U8;
    qin *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = q;
    *out = s;
    return LP_OK;
}

static lp_status qin_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    const qin *q = state;
    for (int i = 0; i < s->n_inputs; i++) {
        lp_tensor *t = s->inputs[i], *o;
        LP_TRY(lp_tensor_new(q->dtype, t->ndim, t->dims, &o));
        const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype), *to = lp_dtype_traits_of(q->dtype);
        int64_t n = lp_tensor_numel(t);
        for (int64_t j = 0; j < n; j++)
            to->set(o->data, j, nearbyint(tr->get(t->data, j) * q->scale)); /* set saturates */
        lp_tensor_free(t);
        s->inputs[i] = o;
    }
    return LP_OK;
}

/* ---- ResizeWithRatio: the shorter side up to min_dim (never down), the longer then capped at
 * max_dim, aspect kept (bilinear); with padding, zero-padded to max_dim x max_dim centred and
 * the box labels (labels[0], (...,4) [ymin, xmin, ymax, xmax] in 0..1) moved with it. LPOT's
 * ONNX code swaps height and width in its cv2.resize call (stretching non-square images);
 * lowp keeps the aspect, as the transform's name and documentation say. ---- */

typedef struct rwr {
    int64_t min_dim, max_dim;
    int padding;
} rwr;

static lp_status rwr_create(const lowp_params *p, void **out)
{
    rwr r;
    LP_TRY(lowp_params_get_int(p, "min_dim", 800, &r.min_dim));
    LP_TRY(lowp_params_get_int(p, "max_dim", 1365, &r.max_dim));
    LP_TRY(lowp_params_get_bool(p, "padding", 0, &r.padding));
    if (r.min_dim < 0 || r.max_dim < 0 || r.min_dim > 65536 || r.max_dim > 65536)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "min_dim and max_dim must be in 0..65536 (0: no bound)");
    if (r.padding && r.max_dim == 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "padding pads to max_dim: give one");
    rwr *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = r;
    *out = s;
    return LP_OK;
}

static lp_status rwr_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    const rwr *r = state;
    if (r->padding && s->n_labels > 0) {   /* the boxes must be boxes before anything moves */
        const lp_tensor *b = s->labels[0];
        if (b->ndim < 1 || b->dims[b->ndim - 1] != 4 || !lp_dtype_traits_of(b->dtype)->is_float)
            return lp_error(LOWP_ERR_SHAPE, "ResizeWithRatio: padding moves the box labels, and labels[0] is "
                            "not float boxes (...,4)");
    }
    int64_t nh = 0, nw = 0;
    for (int i = 0; i < s->n_inputs; i++) {
        img m;
        LP_TRY(lp_img_of(s->inputs[i], &m));
        if (m.h < 1 || m.w < 1)
            return lp_error(LOWP_ERR_SHAPE, "ResizeWithRatio: an empty %lldx%lld image", (long long)m.h,
                            (long long)m.w);
        double lo = (double)(m.h < m.w ? m.h : m.w), hi = (double)(m.h > m.w ? m.h : m.w), scale = 1;
        if (r->min_dim)
            scale = fmax(1.0, (double)r->min_dim / lo);
        if (r->max_dim && nearbyint(hi * scale) > (double)r->max_dim)
            scale = (double)r->max_dim / hi;
        nh = (int64_t)nearbyint((double)m.h * scale), nw = (int64_t)nearbyint((double)m.w * scale);
        nh = nh < 1 ? 1 : nh, nw = nw < 1 ? 1 : nw;
        if (scale != 1)
            LP_TRY(lp_img_resize(&s->inputs[i], nh, nw, INTERP_BILINEAR));
        if (!r->padding)
            continue;
        img rm, om;
        LP_TRY(lp_img_of(s->inputs[i], &rm));
        lp_tensor *t = s->inputs[i], *o;
        LP_TRY(lp_img_new(&rm, t->dtype, t->ndim, r->max_dim, r->max_dim, &o, &om));
        memset(o->data, 0, o->nbytes);
        int64_t top = (r->max_dim - rm.h) / 2, left = (r->max_dim - rm.w) / 2;
        const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
        for (int64_t c = 0; c < rm.c; c++)
            for (int64_t y = 0; y < rm.h; y++)
                for (int64_t x = 0; x < rm.w; x++)
                    tr->set(o->data, c * om.sc + (y + top) * om.sy + (x + left) * om.sx,
                            tr->get(t->data, c * rm.sc + y * rm.sy + x * rm.sx));
        lp_tensor_free(t);
        s->inputs[i] = o;
        nh = rm.h, nw = rm.w;
    }
    if (r->padding && s->n_labels > 0 && s->n_inputs > 0) {
        /* box * [h, w, h, w] + [top, left, top, left], / max_dim, as LPOT (the last input's size) */
        lp_tensor *b = s->labels[0];
        const lp_dtype_traits *tr = lp_dtype_traits_of(b->dtype);
        double top = (double)((r->max_dim - nh) / 2), left = (double)((r->max_dim - nw) / 2);
        for (int64_t k = 0; k < lp_tensor_numel(b); k++) {
            bool vertical = k % 2 == 0;
            double v = tr->get(b->data, k) * (double)(vertical ? nh : nw) + (vertical ? top : left);
            tr->set(b->data, k, v / (double)r->max_dim);
        }
    }
    return LP_OK;
}

/* ---- PaddedCenterCrop (LPOT's, EfficientNet's): a centred square of
 * int(size / (size + crop_padding) * min(h, w)) pixels, top-left rounded up ---- */

typedef struct pcc {
    int64_t size, pad;
} pcc;

static lp_status pcc_create(const lowp_params *p, void **out)
{
    int64_t h, w, pad;
    LP_TRY(lp_img_get_size(p, "size", &h, &w));
    LP_TRY(lowp_params_get_int(p, "crop_padding", 0, &pad));
    if (h != w)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "the crop is square: size [%lld, %lld] has two sides", (long long)h, (long long)w);
    if (pad < 0 || pad > 65536 || h > 65536)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "size must be in 1..65536 and crop_padding in 0..65536");
    pcc *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = (pcc){h, pad};
    *out = s;
    return LP_OK;
}

static lp_status pcc_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    const pcc *c = state;
    for (int i = 0; i < s->n_inputs; i++) {
        img m;
        LP_TRY(lp_img_of(s->inputs[i], &m));
        int64_t side = (int64_t)((double)c->size / (double)(c->size + c->pad) * (double)(m.h < m.w ? m.h : m.w));
        if (side < 1)
            return lp_error(LOWP_ERR_SHAPE, "PaddedCenterCrop: nothing left of a %lldx%lld image", (long long)m.h,
                            (long long)m.w);
        LP_TRY(lp_img_crop(&s->inputs[i], (m.h - side + 1) / 2, (m.w - side + 1) / 2, side, side));
    }
    return LP_OK;
}

/* ---- ColorJitter (torchvision's): brightness, contrast and saturation factors drawn from
 * [max(0, 1 - v), 1 + v], hue from [-v, v] (v <= 0.5), applied in a random order, on values
 * 0..255 (lowp's pixel range; clamped there as PIL clamps bytes). Contrast blends with the
 * image's mean grey, saturation with each pixel's grey (ITU-R 601 luma), hue rotates in HSV.
 * Saturation and hue need 3 channels (grey images skip them, as torchvision does). The draws
 * come from the sample's seeded state: the same seed, the same jitter. ---- */

typedef struct cj {
    double v[4];   /* brightness, contrast, saturation, hue */
} cj;

static lp_status cj_create(const lowp_params *p, void **out)
{
    static const char *const keys[] = {"brightness", "contrast", "saturation", "hue"};
    cj c;
    for (int k = 0; k < 4; k++) {
        LP_TRY(lowp_params_get_float(p, keys[k], 0, &c.v[k]));
        if (!(c.v[k] >= 0 && c.v[k] <= (k == 3 ? 0.5 : 1e6)))
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "%s must be in 0..%s (got %g)",
                                keys[k], k == 3 ? "0.5" : "1e6", c.v[k]);
    }
    cj *s = malloc(sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *s = c;
    *out = s;
    return LP_OK;
}

static double clamp255(double v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

static double luma(const lp_dtype_traits *tr, const void *d, const img *m, int64_t y, int64_t x)
{
    int64_t o = y * m->sy + x * m->sx;
    return 0.299 * tr->get(d, o) + 0.587 * tr->get(d, o + m->sc) + 0.114 * tr->get(d, o + 2 * m->sc);
}

/* Rotates the hue of one RGB pixel (0..255) by h turns. */
static void hue_shift(double *rgb, double h)
{
    double r = rgb[0] / 255, g = rgb[1] / 255, b = rgb[2] / 255;
    double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b)), d = mx - mn, hh = 0;
    if (d > 0)
        hh = mx == r ? fmod((g - b) / d, 6) : mx == g ? (b - r) / d + 2 : (r - g) / d + 4;
    hh = hh / 6 + h;
    hh -= floor(hh);
    double sat = mx > 0 ? d / mx : 0, v = mx;
    double f = hh * 6, i = floor(f), fr = f - i;
    double p = v * (1 - sat), q = v * (1 - sat * fr), t = v * (1 - sat * (1 - fr));
    static const int idx[6][3] = {{0, 3, 2}, {1, 0, 2}, {2, 0, 3}, {2, 1, 0}, {3, 2, 0}, {0, 2, 1}};
    double vals[4] = {v, q, p, t};
    int k = (int)i % 6;
    for (int c = 0; c < 3; c++)
        rgb[c] = vals[idx[k][c]] * 255;
}

static lp_status cj_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    const cj *c = state;
    double f[4];
    int order[4] = {0, 1, 2, 3};
    for (int k = 0; k < 4; k++) {   /* torchvision draws the order, then each factor */
        int j = k + (int)(lowp_random_uniform(rng) * (4 - k));
        int t = order[k];
        order[k] = order[j < 4 ? j : 3];
        order[j < 4 ? j : 3] = t;
    }
    for (int k = 0; k < 4; k++) {
        double v = c->v[k], lo = k == 3 ? -v : fmax(0, 1 - v), hi = k == 3 ? v : 1 + v;
        f[k] = lo + (hi - lo) * lowp_random_uniform(rng);
    }
    for (int i = 0; i < s->n_inputs; i++) {
        LP_TRY(lp_img_to_f32(&s->inputs[i]));
        lp_tensor *t = s->inputs[i];
        img m;
        LP_TRY(lp_img_of(t, &m));
        const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
        bool rgb = m.c == 3;
        if (m.h < 1 || m.w < 1 || m.c < 1)   /* an empty image: nothing to jitter (nothing to read) */
            continue;
        for (int k = 0; k < 4; k++) {
            int op = order[k];
            if (c->v[op] == 0 || (op >= 2 && !rgb))
                continue;
            double mean = 0;
            if (op == 1) {   /* contrast: the mean grey of the whole image */
                for (int64_t y = 0; y < m.h; y++)
                    for (int64_t x = 0; x < m.w; x++)
                        mean += rgb ? luma(tr, t->data, &m, y, x) : tr->get(t->data, y * m.sy + x * m.sx);
                mean /= (double)(m.h * m.w > 0 ? m.h * m.w : 1);
            }
            for (int64_t y = 0; y < m.h; y++)
                for (int64_t x = 0; x < m.w; x++) {
                    int64_t o = y * m.sy + x * m.sx;
                    if (op == 3) {
                        double px[3] = {tr->get(t->data, o), tr->get(t->data, o + m.sc), tr->get(t->data, o + 2 * m.sc)};
                        for (int q = 0; q < 3; q++)
                            px[q] = clamp255(px[q]);
                        hue_shift(px, f[3]);
                        for (int q = 0; q < 3; q++)
                            tr->set(t->data, o + q * m.sc, px[q]);
                        continue;
                    }
                    double g = op == 2 ? luma(tr, t->data, &m, y, x) : mean;
                    for (int64_t ch = 0; ch < m.c; ch++) {
                        double v = tr->get(t->data, o + ch * m.sc);
                        tr->set(t->data, o + ch * m.sc, clamp255(op == 0 ? v * f[0] : f[op] * v + (1 - f[op]) * g));
                    }
                }
        }
    }
    return LP_OK;
}

/* ---- the table ---- */

static const lowp_param_spec no_params[] = {{NULL, 0, 0, 0}};
static const lowp_param_spec rci_params[] = {
    {"height", LOWP_PARAM_INT, 1, 1},
    {"width", LOWP_PARAM_INT, 1, 2},
    {"random_crop", LOWP_PARAM_BOOL, 0, 3},
    {"resize_side", LOWP_PARAM_INT, 0, 4},
    {"random_flip_left_right", LOWP_PARAM_BOOL, 0, 5},
    {"mean_value", LOWP_PARAM_FLOAT_LIST, 0, 6},
    {"std_value", LOWP_PARAM_FLOAT_LIST, 0, 7},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec bli_params[] = {
    {"height", LOWP_PARAM_INT, 1, 1},
    {"width", LOWP_PARAM_INT, 1, 2},
    {"central_fraction", LOWP_PARAM_FLOAT, 0, 3},
    {"mean_value", LOWP_PARAM_FLOAT_LIST, 0, 4},
    {"scale", LOWP_PARAM_FLOAT, 0, 5},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec align_params[] = {
    {"dim", LOWP_PARAM_INT, 1, 1},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec ctb_params[] = {
    {"offset_height", LOWP_PARAM_INT, 1, 1},
    {"offset_width", LOWP_PARAM_INT, 1, 2},
    {"target_height", LOWP_PARAM_INT, 1, 3},
    {"target_width", LOWP_PARAM_INT, 1, 4},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec pad_params[] = {
    {"padding", LOWP_PARAM_INT_LIST, 1, 1},
    {"fill", LOWP_PARAM_FLOAT, 0, 2},
    {"padding_mode", LOWP_PARAM_STRING, 0, 3},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec rwr_params[] = {
    {"min_dim", LOWP_PARAM_INT, 0, 1},
    {"max_dim", LOWP_PARAM_INT, 0, 2},
    {"padding", LOWP_PARAM_BOOL, 0, 3},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec pcc_params[] = {
    {"size", LOWP_PARAM_INT_LIST, 1, 1},
    {"crop_padding", LOWP_PARAM_INT, 0, 2},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec cj_params[] = {
    {"brightness", LOWP_PARAM_FLOAT, 0, 1},
    {"contrast", LOWP_PARAM_FLOAT, 0, 2},
    {"saturation", LOWP_PARAM_FLOAT, 0, 3},
    {"hue", LOWP_PARAM_FLOAT, 0, 4},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec qin_params[] = {
    {"dtype", LOWP_PARAM_STRING, 1, 1},
    {"scale", LOWP_PARAM_FLOAT, 0, 2},
    {NULL, 0, 0, 0},
};

const lowp_transform_vtable lp_tf_resize_crop_imagenet = {"ResizeCropImagenet", rci_params, rci_create, rci_apply,
                                                          state_free};
const lowp_transform_vtable lp_tf_bilinear_imagenet = {"BilinearImagenet", bli_params, bli_create, bli_apply,
                                                       state_free};
const lowp_transform_vtable lp_tf_to_tensor = {"ToTensor", no_params, NULL, to_tensor_apply, NULL};
const lowp_transform_vtable lp_tf_random_hflip = {"RandomHorizontalFlip", no_params, NULL, hflip_apply, NULL};
const lowp_transform_vtable lp_tf_random_vflip = {"RandomVerticalFlip", no_params, NULL, vflip_apply, NULL};
const lowp_transform_vtable lp_tf_align_channel = {"AlignImageChannel", align_params, align_create, align_apply,
                                                   state_free};
const lowp_transform_vtable lp_tf_crop_to_box = {"CropToBoundingBox", ctb_params, ctb_create, ctb_apply, state_free};
const lowp_transform_vtable lp_tf_pad = {"Pad", pad_params, pad_create, pad_apply, state_free};
const lowp_transform_vtable lp_tf_quantized_input = {"QuantizedInput", qin_params, qin_create, qin_apply, state_free};
const lowp_transform_vtable lp_tf_resize_with_ratio = {"ResizeWithRatio", rwr_params, rwr_create, rwr_apply, state_free};
const lowp_transform_vtable lp_tf_padded_center_crop = {"PaddedCenterCrop", pcc_params, pcc_create, pcc_apply,
                                                        state_free};
const lowp_transform_vtable lp_tf_color_jitter = {"ColorJitter", cj_params, cj_create, cj_apply, state_free};
