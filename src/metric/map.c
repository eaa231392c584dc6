/* map.c — mAP and COCOmAP for detection outputs.
 *
 * Outputs: (boxes (N,D,4), scores (N,D), classes (N,D)), or LPOT's TF-style
 * (num_detections (N), boxes, scores, classes). Labels: (boxes (N,G,4), classes (N,G)); rows
 * whose class is negative are padding. Boxes are (min0, min1, max0, max1) -- (y1,x1,y2,x2) or
 * (x1,y1,x2,y2), the same in both. Per image, detections are matched greedily by descending
 * score to the unmatched ground truth of their class with the highest IoU >= threshold
 * (COCO's rule). AP per class from the precision/recall curve: map_points 0 = all points
 * (VOC 2010+), 11 = VOC 2007, 101 = COCO; mAP = mean over classes with ground truth, then
 * over the IoU thresholds. The metric keeps one small record per detection. With anno_path (a
 * COCO-format JSON) ground-truth classes are COCO category ids (COCORaw's labels, LPOT's class
 * names) renumbered to their position + 1 in that file's categories, as LPOT numbers the names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "data/coco.h"
#include "metric/metric.h"

#define MAX_THRS 10
#define MAX_CLASS (1 << 20)

typedef struct det {
    int32_t cls;
    float score;
    uint16_t tp;     /* bit t: true positive at threshold t */
    int64_t order;   /* arrival order, for a stable sort */
} det;

typedef struct mapst {
    int n_thr, points;
    double thr[MAX_THRS];
    det *dets;
    int64_t n_dets, cap_dets;
    int64_t *n_gt;    /* per class */
    int64_t n_cls;
    int64_t *anno_ids;  /* anno_path's category ids in file order: ground-truth class id -> */
    int64_t n_anno;     /* its position + 1 (LPOT numbers the names it reads there so) */
} mapst;

static void map_free(void *s)
{
    mapst *m = s;
    if (!m)
        return;
    free(m->dets);
    free(m->n_gt);
    free(m->anno_ids);
    free(m);
}

/* anno_path: a COCO-format JSON whose "categories" renumber the ground-truth classes. */
static lp_status read_anno(mapst *m, const lowp_params *p, const char *path)
{
    lp_coco *c = NULL;
    lp_status st = lp_coco_read(path, 1, &c);
    if (st != LP_OK)
        return lp_error_prefix(st, "%s%s%s.anno_path", p->file, *p->file ? ": " : "", p->path);
    if (c->n_cats == 0)
        st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                          "anno_path %s lists no categories", path);
    else if (!(m->anno_ids = malloc((size_t)c->n_cats * sizeof *m->anno_ids)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t i = 0; st == LP_OK && i < c->n_cats; i++)
        m->anno_ids[i] = c->cats[i].id;
    if (st == LP_OK)
        m->n_anno = c->n_cats;
    lp_coco_free(c);
    return st;
}

static lp_status map_create_common(const lowp_params *p, bool coco, void **out)
{
    mapst *m = calloc(1, sizeof *m);
    if (!m)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = LP_OK;
    /* LPOT's defaults: COCO's ten thresholds and 101 points; mAP and VOCmAP IoU 0.5 and the area
     * under the PR curve */
    const char *thrs = NULL;
    int64_t points = 0;
    st = lowp_params_get_string(p, "iou_thrs", coco ? "0.5:0.05:0.95" : "0.5", &thrs);
    if (st == LP_OK)
        st = lowp_params_get_int(p, "map_points", coco ? 101 : 0, &points);
    const char *anno = NULL;
    if (st == LP_OK)
        st = lowp_params_get_string(p, "anno_path", NULL, &anno);
    if (st == LP_OK && anno)
        st = read_anno(m, p, anno);
    if (st == LP_OK && points != 0 && points != 11 && points != 101)
        st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "map_points must be 0, 11 or 101");
    if (st == LP_OK) {
        if (!strcmp(thrs, "0.5:0.05:0.95")) {
            m->n_thr = 10;
            for (int i = 0; i < 10; i++)
                m->thr[i] = 0.5 + 0.05 * i;
        } else {
            char *end;
            double t = strtod(thrs, &end);
            if (*end || end == thrs || t < 0 || t > 1)
                st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                                  "iou_thrs must be a number in [0,1] or '0.5:0.05:0.95' (got '%s')", thrs);
            m->n_thr = 1;
            m->thr[0] = t;
        }
    }
    if (st != LP_OK) {
        map_free(m);
        return st;
    }
    m->points = (int)points;
    *out = m;
    return LP_OK;
}

static lp_status map_create(const lowp_params *p, void **out) { return map_create_common(p, false, out); }
static lp_status coco_create(const lowp_params *p, void **out) { return map_create_common(p, true, out); }

static void map_reset(void *s)
{
    mapst *m = s;
    m->n_dets = 0;
    for (int64_t c = 0; c < m->n_cls; c++)
        m->n_gt[c] = 0;
}

static lp_status grow_classes(mapst *m, int64_t cls)
{
    if (cls < 0 || cls >= MAX_CLASS)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "class %lld is outside 0..%d", (long long)cls, MAX_CLASS - 1);
    if (cls < m->n_cls)
        return LP_OK;
    int64_t n = cls + 1;
    int64_t *g = realloc(m->n_gt, (size_t)n * sizeof *g);
    if (!g)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    memset(g + m->n_cls, 0, (size_t)(n - m->n_cls) * sizeof *g);
    m->n_gt = g;
    m->n_cls = n;
    return LP_OK;
}

/* Class of ground-truth row g of image i: -1 for padding (any negative), else 0..MAX_CLASS-1;
 * NaN, fractions and huge values are refused, as are non-finite coordinates of a real box. */
static lp_status gt_class(const mapst *m, const lp_tensor *gcls, const lp_tensor *gbox, int64_t i, int64_t ng,
                          int64_t g, int64_t *out)
{
    double v = lp_tensor_get(gcls, i * ng + g);
    if (v < 0) {
        *out = -1;
        return LP_OK;
    }
    if (!(v < MAX_CLASS && v == floor(v)))
        return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT, "ground-truth box %lld has class %.17g "
                                   "(class indices are 0..%d; negative marks padding)", (long long)g, v,
                                   MAX_CLASS - 1);
    for (int k = 0; k < 4; k++) {
        double x = lp_tensor_get(gbox, (i * ng + g) * 4 + k);
        if (!isfinite(x))
            return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT,
                                       "ground-truth box %lld has coordinate %d = %g", (long long)g, k, x);
    }
    *out = (int64_t)v;
    if (m->n_anno) {
        int64_t k = 0;
        while (k < m->n_anno && m->anno_ids[k] != *out)
            k++;
        if (k == m->n_anno)
            return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT, "ground-truth box %lld has class %lld, "
                                       "which is not a category id of anno_path", (long long)g, (long long)*out);
        *out = k + 1;
    }
    return LP_OK;
}

static double iou(const lp_tensor *a, int64_t ia, const lp_tensor *b, int64_t ib)
{
    double a0 = lp_tensor_get(a, ia), a1 = lp_tensor_get(a, ia + 1), a2 = lp_tensor_get(a, ia + 2),
           a3 = lp_tensor_get(a, ia + 3);
    double b0 = lp_tensor_get(b, ib), b1 = lp_tensor_get(b, ib + 1), b2 = lp_tensor_get(b, ib + 2),
           b3 = lp_tensor_get(b, ib + 3);
    double i0 = fmax(a0, b0), i1 = fmax(a1, b1), i2 = fmin(a2, b2), i3 = fmin(a3, b3);
    double inter = fmax(0, i2 - i0) * fmax(0, i3 - i1);
    double u = fmax(0, a2 - a0) * fmax(0, a3 - a1) + fmax(0, b2 - b0) * fmax(0, b3 - b1) - inter;
    return u > 0 ? inter / u : 0.0;
}

static int cmp_score_desc(const void *x, const void *y)
{
    const det *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static lp_status map_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                            const lowp_tensor *const *labels)
{
    mapst *m = s;
    if (no != 3 && no != 4)
        return lp_error(LOWP_ERR_SHAPE, "detection outputs must be (boxes, scores, classes) or "
                        "(num_detections, boxes, scores, classes); the model has %d outputs", no);
    if (nl < 2)
        return lp_error(LOWP_ERR_SHAPE, "detection labels must be (boxes (N,G,4), classes (N,G)); got %d label tensors", nl);
    const lp_tensor *num = no == 4 ? outs[0] : NULL, *boxes = outs[no - 3], *scores = outs[no - 2],
                    *classes = outs[no - 1], *gbox = labels[0], *gcls = labels[1];
    if (boxes->ndim != 3 || boxes->dims[2] != 4 || lp_tensor_numel(scores) != boxes->dims[0] * boxes->dims[1] ||
        lp_tensor_numel(classes) != lp_tensor_numel(scores) || gbox->ndim != 3 || gbox->dims[2] != 4 ||
        lp_tensor_numel(gcls) != gbox->dims[0] * gbox->dims[1] || gbox->dims[0] != boxes->dims[0] ||
        (num && lp_tensor_numel(num) != boxes->dims[0]))
        return lp_error(LOWP_ERR_SHAPE, "detection shapes do not fit: boxes (N,D,4), scores and "
                        "classes (N,D), label boxes (N,G,4) and classes (N,G)");
    int64_t n = boxes->dims[0], nd = boxes->dims[1], ng = gbox->dims[1];
    /* Labels and detection classes are checked for the whole batch before any state changes. */
    for (int64_t i = 0; i < n; i++) {
        for (int64_t g = 0; g < ng; g++) {
            int64_t c;
            LP_TRY(gt_class(m, gcls, gbox, i, ng, g, &c));
        }
        for (int64_t d = 0; d < nd; d++) {
            double c = lp_tensor_get(classes, i * nd + d);
            if (c >= MAX_CLASS)
                return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT, "detection %lld has class %.17g "
                                           "(class indices are 0..%d)", (long long)d, c, MAX_CLASS - 1);
        }
    }
    bool *used = calloc((size_t)(ng ? ng : 1) * MAX_THRS, sizeof *used);
    det *img = malloc((size_t)(nd ? nd : 1) * sizeof *img);
    int64_t *gc = malloc((size_t)(ng ? ng : 1) * sizeof *gc);   /* this image's gt classes */
    lp_status st = used && img && gc ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t i = 0; i < n && st == LP_OK; i++) {
        for (int64_t g = 0; g < ng && st == LP_OK; g++) {
            gt_class(m, gcls, gbox, i, ng, g, &gc[g]);
            if (gc[g] >= 0 && (st = grow_classes(m, gc[g])) == LP_OK)
                m->n_gt[gc[g]]++;
        }
        /* num_detections: NaN or negative counts none, more than D counts D. */
        double kv = num ? lp_tensor_get(num, i) : (double)nd;
        int64_t k = !(kv > 0) ? 0 : kv >= (double)nd ? nd : (int64_t)kv;
        int64_t cnt = 0;
        for (int64_t d = 0; d < k && st == LP_OK; d++) {
            /* A NaN or negative class is no detection; a NaN score ranks last (a consistent
             * order for qsort). */
            double c = lp_tensor_get(classes, i * nd + d), sc = lp_tensor_get(scores, i * nd + d);
            if (!(c >= 0))
                continue;
            img[cnt] = (det){(int32_t)llround(c), isnan(sc) ? -INFINITY : (float)sc, 0, d};
            cnt++;
        }
        qsort(img, (size_t)cnt, sizeof *img, cmp_score_desc);
        memset(used, 0, (size_t)(ng ? ng : 1) * MAX_THRS * sizeof *used);
        for (int64_t j = 0; j < cnt && st == LP_OK; j++) {
            int64_t d = img[j].order;
            for (int t = 0; t < m->n_thr; t++) {
                double best = -1;
                int64_t bg = -1;
                for (int64_t g = 0; g < ng; g++) {
                    if (used[g * MAX_THRS + t] || gc[g] != img[j].cls)
                        continue;
                    double v = iou(boxes, (i * nd + d) * 4, gbox, (i * ng + g) * 4);
                    if (v >= m->thr[t] - 1e-12 && v > best)
                        best = v, bg = g;
                }
                if (bg >= 0) {
                    used[bg * MAX_THRS + t] = true;
                    img[j].tp |= (uint16_t)(1u << t);
                }
            }
            if (m->n_dets == m->cap_dets) {
                int64_t cap = m->cap_dets ? 2 * m->cap_dets : 1024;
                det *nd2 = realloc(m->dets, (size_t)cap * sizeof *nd2);
                if (!nd2) {
                    st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                    break;
                }
                m->dets = nd2;
                m->cap_dets = cap;
            }
            img[j].order = m->n_dets;
            m->dets[m->n_dets++] = img[j];
            st = grow_classes(m, img[j].cls);
        }
    }
    free(used);
    free(img);
    free(gc);
    return st;
}

/* AP of one class at threshold bit t from its detections sorted by score. */
static double average_precision(const det *d, int64_t n, int64_t n_gt, int t, int points,
                                double *prec, double *rec)
{
    double tp = 0, fp = 0;
    for (int64_t i = 0; i < n; i++) {
        if (d[i].tp >> t & 1)
            tp += 1;
        else
            fp += 1;
        rec[i] = tp / (double)n_gt;
        prec[i] = tp / (tp + fp);
    }
    for (int64_t i = n - 2; i >= 0; i--)   /* the precision envelope */
        if (prec[i] < prec[i + 1])
            prec[i] = prec[i + 1];
    if (points == 0) {
        double ap = 0, prev = 0;
        for (int64_t i = 0; i < n; i++) {
            ap += (rec[i] - prev) * prec[i];
            prev = rec[i];
        }
        return ap;
    }
    double ap = 0;
    for (int k = 0; k < points; k++) {
        double r = (double)k / (double)(points - 1);
        /* first index with recall >= r (recall is non-decreasing) */
        int64_t lo = 0, hi = n;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (rec[mid] < r - 1e-12)
                lo = mid + 1;
            else
                hi = mid;
        }
        ap += lo < n ? prec[lo] : 0.0;
    }
    return ap / points;
}

static int cmp_class_score(const void *x, const void *y)
{
    const det *a = x, *b = y;
    if (a->cls != b->cls)
        return a->cls < b->cls ? -1 : 1;
    return cmp_score_desc(x, y);
}

static lp_status map_result(void *s, double *v)
{
    mapst *m = s;
    det *d = malloc((size_t)(m->n_dets ? m->n_dets : 1) * sizeof *d);
    double *prec = malloc((size_t)(m->n_dets ? m->n_dets : 1) * sizeof *prec);
    double *rec = malloc((size_t)(m->n_dets ? m->n_dets : 1) * sizeof *rec);
    if (!d || !prec || !rec) {
        free(d), free(prec), free(rec);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (m->n_dets)
        memcpy(d, m->dets, (size_t)m->n_dets * sizeof *d);
    qsort(d, (size_t)m->n_dets, sizeof *d, cmp_class_score);
    double total = 0;
    for (int t = 0; t < m->n_thr; t++) {
        double sum = 0;
        int64_t classes = 0, j = 0;
        for (int64_t c = 0; c < m->n_cls; c++) {
            int64_t b = j;
            while (j < m->n_dets && d[j].cls == c)
                j++;
            if (m->n_gt[c] == 0)
                continue;
            classes++;
            sum += average_precision(d + b, j - b, m->n_gt[c], t, m->points, prec, rec);
        }
        total += classes ? sum / (double)classes : 0.0;
    }
    free(d), free(prec), free(rec);
    *v = total / m->n_thr;
    return LP_OK;
}

/* The state: parameters, ground-truth counts per class, every detection in arrival order. */
static lp_status map_save(void *s, void **out, size_t *size)
{
    mapst *m = s;
    lp_bytes b = {0};
    lp_bytes_str(&b, "mAP");
    lp_bytes_u64(&b, (uint64_t)m->n_thr);
    lp_bytes_u64(&b, (uint64_t)m->points);
    for (int t = 0; t < m->n_thr; t++)
        lp_bytes_f64(&b, m->thr[t]);
    lp_bytes_u64(&b, (uint64_t)m->n_anno);   /* classes are numbered alike (anno_path) */
    lp_bytes_u64(&b, (uint64_t)m->n_cls);
    lp_bytes_put(&b, m->n_gt, (size_t)m->n_cls * sizeof *m->n_gt);
    lp_bytes_u64(&b, (uint64_t)m->n_dets);
    for (int64_t i = 0; i < m->n_dets; i++) {
        const det *d = &m->dets[i];
        lp_bytes_put(&b, &d->cls, sizeof d->cls);
        lp_bytes_put(&b, &d->score, sizeof d->score);
        lp_bytes_put(&b, &d->tp, sizeof d->tp);
    }
    return lp_bytes_finish(&b, out, size);
}

/* The peer's detections come after this state's (its batches followed ours): appended with
 * arrival numbers continuing ours, so the stable sort by score sees one process's order. */
static lp_status map_merge(void *s, const void *bytes, size_t size)
{
    mapst *m = s;
    const size_t rec = sizeof(int32_t) + sizeof(float) + sizeof(uint16_t);
    lp_reader r;
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, "mAP");
    int ok = lp_reader_u64(&r) == (uint64_t)m->n_thr && lp_reader_u64(&r) == (uint64_t)m->points;
    for (int t = 0; t < m->n_thr; t++)
        ok &= lp_reader_f64(&r) == m->thr[t];
    ok &= lp_reader_u64(&r) == (uint64_t)m->n_anno;
    int64_t n_cls = lp_reader_count(&r, sizeof(int64_t));
    if (r.bad || !ok || n_cls > MAX_CLASS)
        return lp_metric_bad_state("mAP");
    if (n_cls > 0)
        LP_TRY(grow_classes(m, n_cls - 1));
    for (int64_t c = 0; c < n_cls; c++) {
        int64_t g;
        lp_reader_get(&r, &g, sizeof g);
        if (g < 0)
            return lp_metric_bad_state("mAP");
        m->n_gt[c] += g;
    }
    int64_t n = lp_reader_count(&r, rec);
    if (r.bad || r.left != (size_t)n * rec)
        return lp_metric_bad_state("mAP");
    if (m->n_dets + n > m->cap_dets) {
        det *d = realloc(m->dets, (size_t)(m->n_dets + n) * sizeof *d);
        if (!d)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld detections", (long long)(m->n_dets + n));
        m->dets = d;
        m->cap_dets = m->n_dets + n;
    }
    for (int64_t i = 0; i < n; i++) {
        det d = {0};
        lp_reader_get(&r, &d.cls, sizeof d.cls);
        lp_reader_get(&r, &d.score, sizeof d.score);
        lp_reader_get(&r, &d.tp, sizeof d.tp);
        if (d.cls < 0 || d.cls >= MAX_CLASS)
            return lp_metric_bad_state("mAP");
        LP_TRY(grow_classes(m, d.cls));
        d.order = m->n_dets;
        m->dets[m->n_dets++] = d;
    }
    return LP_OK;
}

static const lowp_param_spec map_params[] = {
    {"iou_thrs", LOWP_PARAM_STRING, 0, 1},
    {"map_points", LOWP_PARAM_INT, 0, 2},
    {"anno_path", LOWP_PARAM_STRING, 0, 0},
    {NULL, 0, 0, 0},
};


const lowp_metric_vtable lp_metric_map = {"mAP", map_params, 1, map_create, map_update, map_result, map_reset, map_free, map_save, map_merge};
const lowp_metric_vtable lp_metric_coco_map = {"COCOmAP", map_params, 1, coco_create, map_update, map_result, map_reset, map_free, map_save, map_merge};
const lowp_metric_vtable lp_metric_voc_map = {"VOCmAP", map_params, 1, map_create, map_update, map_result, map_reset, map_free, map_save, map_merge};
