/* coco.h — the parts of a COCO-format annotation file (instances_val2017.json) that detection
 * datasets and metrics read: images, box annotations, categories. Everything else in the file
 * (segmentations, licenses, info...) is skipped without being kept. */
#ifndef LP_COCO_H
#define LP_COCO_H

#include <stdint.h>

#include "base/status.h"

typedef struct lp_coco_image {
    int64_t id;
    char *file_name;       /* relative, without ".." components */
    double width, height;  /* > 0 */
} lp_coco_image;

typedef struct lp_coco_ann {
    int64_t image_id, category_id;
    double bbox[4];        /* x, y, width, height in pixels (finite, width/height >= 0) */
    int has_bbox;          /* 0: "bbox": [] (LPOT skips those) */
} lp_coco_ann;

typedef struct lp_coco_cat {
    int64_t id;
    char *name;
} lp_coco_cat;

typedef struct lp_coco {
    int64_t n_images, n_anns, n_cats;
    lp_coco_image *images;  /* in file order */
    lp_coco_ann *anns;      /* in file order */
    lp_coco_cat *cats;      /* in file order */
} lp_coco;

/* Reads `path` (at most LP_MAX_COCO_JSON_BYTES). A top-level object is required; its
 * "images", "annotations" and "categories" arrays are read when present (`categories_only`:
 * only "categories"). Refused, naming the file and line: malformed JSON, nesting deeper than
 * LP_MAX_YAML_NESTING, a wanted field of the wrong type, duplicate image or category ids, an
 * absolute file_name or one with "..", a bbox that is not 4 finite numbers with non-negative
 * size, an image without positive width/height. */
lp_status lp_coco_read(const char *path, int categories_only, lp_coco **out);
void lp_coco_free(lp_coco *c);

/* Index of the category with `id` in c->cats, or -1 (c->cats searched in order). */
int64_t lp_coco_cat_index(const lp_coco *c, int64_t id);

#endif
