/* miou.c — mIOU, the mean intersection over union of semantic segmentation (LPOT's mIOU).
 *
 * Predictions are class maps of the labels' size (any layout, compared element by element),
 * or scores (N,C,...) with C <= num_classes whose argmax over axis 1 is the class map. Labels
 * are integer class maps; labels outside 0..num_classes-1 (VOC's 255 "void", negatives) are
 * ignored, as LPOT's mask does. The state is a num_classes x (num_classes + 1) confusion count
 * (the last column: no valid prediction -- a NaN score or a class index out of range). IoU of
 * class c = hits / (labelled c + predicted c - hits); the mean skips classes that never occur
 * (LPOT's nanmean). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "metric/metric.h"

#define MIOU_MAX_CLASSES 1024

typedef struct miou {
    int64_t c;
    int64_t *hist;   /* c rows (label) x (c + 1) columns (prediction, then none) */
} miou;

static void miou_free(void *s)
{
    miou *m = s;
    if (m)
        free(m->hist);
    free(m);
}

static lp_status miou_create(const lowp_params *p, void **out)
{
    int64_t c;
    LP_TRY(lowp_params_get_int(p, "num_classes", 21, &c));
    if (c < 1 || c > MIOU_MAX_CLASSES)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "num_classes must be 1..%d (got %lld)", MIOU_MAX_CLASSES, (long long)c);
    miou *m = calloc(1, sizeof *m);
    if (!m || !(m->hist = calloc((size_t)(c * (c + 1)), sizeof *m->hist))) {
        free(m);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->c = c;
    *out = m;
    return LP_OK;
}

static void miou_reset(void *s)
{
    miou *m = s;
    memset(m->hist, 0, (size_t)(m->c * (m->c + 1)) * sizeof *m->hist);
}

/* The label at element e: its class, or -1 to ignore; non-integers are refused. */
static lp_status seg_label(const lp_tensor *l, int64_t e, int64_t per, int64_t c, int64_t *out)
{
    if (!lp_dtype_traits_of(l->dtype)->is_float) {
        int64_t y = lp_tensor_get_int(l, e);
        *out = l->dtype == LP_U64 && y < 0 ? -1 : y >= 0 && y < c ? y : -1;
        return LP_OK;
    }
    double v = lp_tensor_get(l, e);
    if (!(isfinite(v) && v == floor(v)))
        return lp_metric_row_error(per ? e / per : 0, LOWP_ERR_INVALID_ARGUMENT,
                                   "label %.17g at element %lld is not a class index (an integer; "
                                   "those outside 0..%lld are ignored)", v, (long long)(per ? e % per : e),
                                   (long long)c - 1);
    *out = v >= 0 && v < (double)c ? (int64_t)v : -1;
    return LP_OK;
}

static lp_status miou_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                             const lowp_tensor *const *labels)
{
    miou *m = s;
    (void)no;
    if (nl < 1)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "no labels to score against (mIOU needs class "
                        "maps; does the dataset have labels?)");
    const lp_tensor *p = outs[0], *l = labels[0];
    int64_t np = lp_tensor_numel(p), nlab = lp_tensor_numel(l);
    int64_t n = l->ndim ? l->dims[0] : 1, per = n ? nlab / n : 0;
    int64_t cls = 0;   /* 0: class maps; else score channels */
    char sp[96], sl[96];
    if ((p->ndim ? p->dims[0] : 1) != n || !lp_dtype_traits_of(p->dtype)->size)
        goto bad;
    if (np != nlab) {
        cls = p->ndim >= 2 ? p->dims[1] : 0;
        if (cls < 2 || cls > m->c || np / cls != nlab || np % cls)
            goto bad;
    }
    for (int64_t e = 0; e < nlab; e++) {   /* labels first: a refused batch changes nothing */
        int64_t y;
        LP_TRY(seg_label(l, e, per, m->c, &y));
    }
    for (int64_t e = 0; e < nlab; e++) {
        int64_t y, yp = -1;
        seg_label(l, e, per, m->c, &y);
        if (y < 0)
            continue;
        if (!cls) {
            double v = lp_tensor_get(p, e);
            yp = v >= 0 && v < (double)m->c && v == floor(v) ? (int64_t)v : -1;
        } else {
            /* element e = (row i, position j) of the (N, S) label map; scores (N, cls, S) */
            int64_t i = e / per, j = e % per;
            double best = -INFINITY;
            for (int64_t k = 0; k < cls; k++) {
                double v = lp_tensor_get(p, (i * cls + k) * per + j);
                if (isnan(v)) {
                    yp = -1;
                    break;
                }
                if (v > best || k == 0)
                    best = v, yp = k;
            }
        }
        m->hist[y * (m->c + 1) + (yp >= 0 ? yp : m->c)]++;
    }
    return LP_OK;
bad:
    return lp_error(LOWP_ERR_SHAPE, "predictions %s and labels %s do not fit: mIOU takes class maps of "
                    "the labels' size, or scores (N,C,...) with 2 <= C <= num_classes (%lld) over labels "
                    "(N,...)", lp_shape_str(p->ndim, p->dims, sp, sizeof sp),
                    lp_shape_str(l->ndim, l->dims, sl, sizeof sl), (long long)m->c);
}

static lp_status miou_result(void *s, double *v)
{
    miou *m = s;
    double sum = 0, seen = 0;
    for (int64_t c = 0; c < m->c; c++) {
        double hit = (double)m->hist[c * (m->c + 1) + c], row = 0, col = 0;
        for (int64_t k = 0; k <= m->c; k++)
            row += (double)m->hist[c * (m->c + 1) + k];
        for (int64_t k = 0; k < m->c; k++)
            col += (double)m->hist[k * (m->c + 1) + c];
        double u = row + col - hit;
        if (u > 0)
            sum += hit / u, seen += 1;
    }
    *v = seen > 0 ? sum / seen : 0.0;
    return LP_OK;
}

static lp_status miou_save(void *s, void **out, size_t *size)
{
    miou *m = s;
    lp_bytes b = {0};
    lp_bytes_str(&b, "mIOU");
    lp_bytes_u64(&b, (uint64_t)m->c);
    lp_bytes_put(&b, m->hist, (size_t)(m->c * (m->c + 1)) * sizeof *m->hist);
    return lp_bytes_finish(&b, out, size);
}

/* Confusion counts add. */
static lp_status miou_merge(void *s, const void *bytes, size_t size)
{
    miou *m = s;
    lp_reader r;
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, "mIOU");
    size_t cells = (size_t)(m->c * (m->c + 1));
    if (lp_reader_u64(&r) != (uint64_t)m->c || r.bad || r.left != cells * sizeof(int64_t))
        return lp_metric_bad_state("mIOU");
    for (size_t i = 0; i < cells; i++) {
        int64_t v;
        lp_reader_get(&r, &v, sizeof v);
        if (v < 0)
            return lp_metric_bad_state("mIOU");
        m->hist[i] += v;
    }
    return LP_OK;
}

static const lowp_param_spec miou_params[] = {{"num_classes", LOWP_PARAM_INT, 0, 1}, {NULL, 0, 0, 0}};

const lowp_metric_vtable lp_metric_miou = {"mIOU", miou_params, 1, miou_create, miou_update, miou_result, miou_reset, miou_free, miou_save, miou_merge};
