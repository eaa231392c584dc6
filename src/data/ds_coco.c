/* ds_coco.c — COCORaw: COCO images with their box annotations, as LPOT's COCORaw reads them
 * (root/img_dir/<file_name>, root/anno_dir the instances JSON).
 *
 * Images are taken in the annotation file's order; like LPOT, an image whose file is missing or
 * that has no box is left out (describe() says how many), and `label_balance` N (the dataloader's
 * `filter: {LabelBalance: {size: N}}`) keeps only images with exactly N boxes. A sample is the
 * image, float32 (H,W,3) 0..255 RGB (grey images repeated to 3 channels, as PIL's convert('RGB')),
 * and three labels: boxes (G,4) float32 as LPOT's [ymin, xmin, ymax, xmax] divided by the image's
 * height/width, classes (G) int64 COCO category ids, and the COCO image id (int64). G is the
 * most boxes any kept image has, so samples batch; shorter lists are padded with class -1 (the
 * detection metrics' padding) and zero boxes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/outfile.h"
#include "data/coco.h"
#include "data/data.h"

typedef struct coco_item {
    char *path;
    int64_t image_id;
    int64_t first, n;   /* boxes [first, first + n) of boxes/classes */
} coco_item;

typedef struct coco_ds {
    int64_t n, g;
    coco_item *items;
    float *boxes;       /* 4 per box */
    int64_t *classes;
    char desc[640];
} coco_ds;

static void coco_close(void *state)
{
    coco_ds *d = state;
    if (!d)
        return;
    for (int64_t i = 0; i < d->n; i++)
        free(d->items[i].path);
    free(d->items);
    free(d->boxes);
    free(d->classes);
    free(d);
}

/* Annotation order sorted by image id (stable: file order within an image, as pycocotools). */
typedef struct ann_ref {
    int64_t image_id, index;
} ann_ref;

static int cmp_ref(const void *a, const void *b)
{
    const ann_ref *x = a, *y = b;
    if (x->image_id != y->image_id)
        return x->image_id < y->image_id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static lp_status build(coco_ds *d, const lp_coco *c, const char *img_dir, int64_t balance, int64_t *missing,
                       int64_t *no_box)
{
    ann_ref *refs = malloc((size_t)(c->n_anns ? c->n_anns : 1) * sizeof *refs);
    d->items = calloc((size_t)(c->n_images ? c->n_images : 1), sizeof *d->items);
    d->boxes = malloc((size_t)(c->n_anns ? c->n_anns : 1) * 4 * sizeof *d->boxes);
    d->classes = malloc((size_t)(c->n_anns ? c->n_anns : 1) * sizeof *d->classes);
    if (!refs || !d->items || !d->boxes || !d->classes) {
        free(refs);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int64_t i = 0; i < c->n_anns; i++)
        refs[i] = (ann_ref){c->anns[i].image_id, i};
    qsort(refs, (size_t)c->n_anns, sizeof *refs, cmp_ref);
    lp_status st = LP_OK;
    int64_t nb = 0;
    for (int64_t i = 0; i < c->n_images && st == LP_OK; i++) {
        const lp_coco_image *im = &c->images[i];
        int64_t lo = 0, hi = c->n_anns;   /* first annotation of this image */
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (refs[mid].image_id < im->id)
                lo = mid + 1;
            else
                hi = mid;
        }
        int64_t first = nb;
        for (int64_t k = lo; k < c->n_anns && refs[k].image_id == im->id; k++) {
            const lp_coco_ann *a = &c->anns[refs[k].index];
            /* LPOT asks pycocotools for the annotations of every listed category: others
             * are not boxes of this dataset */
            if (!a->has_bbox || lp_coco_cat_index(c, a->category_id) < 0)
                continue;
            float *b = d->boxes + nb * 4;
            b[0] = (float)(a->bbox[1] / im->height);
            b[1] = (float)(a->bbox[0] / im->width);
            b[2] = (float)((a->bbox[1] + a->bbox[3]) / im->height);
            b[3] = (float)((a->bbox[0] + a->bbox[2]) / im->width);
            d->classes[nb++] = a->category_id;
        }
        char *path = NULL;
        st = lp_path_join(img_dir, im->file_name, &path);
        if (st != LP_OK)
            break;
        bool exists = access(path, F_OK) == 0;
        if (!exists || nb == first || (balance > 0 && nb - first != balance)) {
            *missing += !exists;
            *no_box += exists && nb == first;
            nb = first;
            free(path);
            continue;
        }
        d->items[d->n++] = (coco_item){path, im->id, first, nb - first};
        if (nb - first > d->g)
            d->g = nb - first;
    }
    free(refs);
    return st;
}

static lp_status coco_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    const char *root, *img, *anno;
    int64_t balance;
    LP_TRY(lowp_params_get_string(p, "root", NULL, &root));
    LP_TRY(lowp_params_get_string(p, "img_dir", "val2017", &img));
    LP_TRY(lowp_params_get_string(p, "anno_dir", "annotations/instances_val2017.json", &anno));
    LP_TRY(lowp_params_get_int(p, "label_balance", 0, &balance));
    if (lowp_params_has(p, "num_cores"))   /* in LPOT's schema, but its COCORaw takes no such argument */
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, p->file, p->path, 0, "num_cores sets the parallel reads of "
                            "TensorFlow's COCORecord; LPOT's COCORaw does not take it (remove it)");
    if (balance < 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "label_balance must be >= 1");
    char *img_dir = NULL, *anno_path = NULL;
    LP_TRY(lp_path_join(root, img, &img_dir));
    lp_status st = lp_path_join(root, anno, &anno_path);
    lp_coco *c = NULL;
    if (st == LP_OK)
        st = lp_coco_read(anno_path, 0, &c);
    coco_ds *d = st == LP_OK ? calloc(1, sizeof *d) : NULL;
    if (st == LP_OK && !d)
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t missing = 0, no_box = 0, dropped = 0;
    if (st == LP_OK) {
        st = build(d, c, img_dir, balance, &missing, &no_box);
        dropped = c->n_images - d->n - missing - no_box;
    }
    if (st == LP_OK && d->n == 0)
        st = lp_error(LOWP_ERR_FORMAT, "%s: no image to use (%lld listed: %lld files missing in %s, %lld without "
                      "boxes%s)", anno_path, (long long)c->n_images, (long long)missing, img_dir, (long long)no_box,
                      balance ? ", the rest without exactly label_balance boxes" : "");
    if (st == LP_OK)
        snprintf(d->desc, sizeof d->desc, "%s: %lld images (of %lld listed: %lld files missing, %lld without "
                 "boxes, %lld filtered by LabelBalance)", anno_path, (long long)d->n, (long long)c->n_images,
                 (long long)missing, (long long)no_box, (long long)dropped);
    lp_coco_free(c);
    free(img_dir);
    free(anno_path);
    if (st != LP_OK) {
        coco_close(d);
        return st;
    }
    *state_out = d;
    *length_out = d->n;
    return LP_OK;
}

static lp_status coco_get(void *state, int64_t index, lowp_sample *s)
{
    coco_ds *d = state;
    const coco_item *it = &d->items[index];
    lp_tensor *img = NULL, *rgb = NULL, *boxes = NULL, *cls = NULL, *id = NULL;
    LP_TRY(lp_image_load(it->path, &img));
    if (img->dims[2] == 1) {   /* grey: PIL's convert('RGB') repeats the value */
        int64_t dims[3] = {img->dims[0], img->dims[1], 3};
        lp_status st = lp_tensor_new(LP_F32, 3, dims, &rgb);
        if (st != LP_OK) {
            lp_tensor_free(img);
            return st;
        }
        const float *src = img->data;
        float *dst = rgb->data;
        for (int64_t i = 0; i < dims[0] * dims[1]; i++)
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
        lp_tensor_free(img);
        img = rgb;
    }
    LP_TRY(lp_sample_add_input(s, img));
    int64_t db[2] = {d->g, 4}, dc[1] = {d->g}, d0[1] = {0};
    LP_TRY(lp_tensor_new(LP_F32, 2, db, &boxes));
    LP_TRY(lp_sample_add_label(s, boxes));
    LP_TRY(lp_tensor_new(LP_I64, 1, dc, &cls));
    LP_TRY(lp_sample_add_label(s, cls));
    LP_TRY(lp_tensor_new(LP_I64, 0, d0, &id));
    LP_TRY(lp_sample_add_label(s, id));
    memcpy(boxes->data, d->boxes + it->first * 4, (size_t)it->n * 4 * sizeof(float));
    memset((float *)boxes->data + it->n * 4, 0, (size_t)(d->g - it->n) * 4 * sizeof(float));
    int64_t *c = cls->data;
    for (int64_t k = 0; k < d->g; k++)
        c[k] = k < it->n ? d->classes[it->first + k] : -1;
    *(int64_t *)id->data = it->image_id;
    return LP_OK;
}

static const char *coco_describe(void *state) { return ((coco_ds *)state)->desc; }

static const lowp_param_spec coco_params[] = {
    {"root", LOWP_PARAM_STRING, 1, 1},
    {"img_dir", LOWP_PARAM_STRING, 0, 0},
    {"anno_dir", LOWP_PARAM_STRING, 0, 0},
    {"label_balance", LOWP_PARAM_INT, 0, 0},
    {"num_cores", LOWP_PARAM_INT, 0, 0},
    {NULL, 0, 0, 0},
};

const lowp_dataset_vtable lp_ds_coco_raw = {
    "COCORaw", coco_params, coco_open, coco_get, coco_close, coco_describe,
};
