/* ds_idx.c — MNIST and FashionMNIST from IDX files (gzip'ed or not), streamed by index.
 * Samples: float32 (1,28,28) with pixel values 0..255; labels: int64 scalars. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "data/recfile.h"

typedef struct idx_ds {
    lp_recfile images, labels;
    int64_t rows, cols;
    unsigned char *buf;
    char root[512];
} idx_ds;

static void idx_close(void *state)
{
    idx_ds *d = state;
    if (!d)
        return;
    lp_recfile_close(&d->images);
    lp_recfile_close(&d->labels);
    free(d->buf);
    free(d);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads an IDX header of unsigned bytes with `ndim` dims; dims into d. */
static lp_status idx_header(lp_recfile *f, int ndim, int64_t *dims)
{
    unsigned char h[16];
    LP_TRY(lp_recfile_read_header(f, h, (size_t)(4 + 4 * ndim)));
    if (h[0] != 0 || h[1] != 0 || h[2] != 0x08 || h[3] != ndim)
        return lp_error(LOWP_ERR_FORMAT,
                        "%s: not an IDX file of unsigned bytes with %d dims (magic %02x %02x %02x %02x)",
                        f->path, ndim, h[0], h[1], h[2], h[3]);
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(h + 4 + 4 * i);
    return LP_OK;
}

static lp_status idx_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    const char *root;
    int train;
    LP_TRY(lowp_params_get_string(p, "root", NULL, &root));
    LP_TRY(lowp_params_get_bool(p, "train", 0, &train));
    idx_ds *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    d->images.fd = d->labels.fd = -1;
    snprintf(d->root, sizeof d->root, "%s", root);
    const char *split = train ? "train" : "t10k";
    char name[64], ipath[600], lpath[600];
    lp_status st = LP_OK;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    if (!lp_find_file(root, name, ipath, sizeof ipath))
        st = lp_error(LOWP_ERR_IO, "%s/%s: no such file (nor with .gz)", root, name);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
    if (st == LP_OK && !lp_find_file(root, name, lpath, sizeof lpath))
        st = lp_error(LOWP_ERR_IO, "%s/%s: no such file (nor with .gz)", root, name);
    int64_t idims[3], ldims[1];
    if (st == LP_OK)
        st = lp_recfile_open(&d->images, ipath);
    if (st == LP_OK)
        st = lp_recfile_open(&d->labels, lpath);
    if (st == LP_OK)
        st = idx_header(&d->images, 3, idims);
    if (st == LP_OK)
        st = idx_header(&d->labels, 1, ldims);
    if (st == LP_OK && ldims[0] != idims[0])
        st = lp_error(LOWP_ERR_FORMAT, "%s has %lld labels but %s has %lld images", lpath,
                      (long long)ldims[0], ipath, (long long)idims[0]);
    /* Each dim is below 2^32: bound them one by one before multiplying. */
    if (st == LP_OK && (idims[1] <= 0 || idims[2] <= 0 || idims[1] > (1 << 24) || idims[2] > (1 << 24) ||
                        idims[1] * idims[2] > (1 << 24)))
        st = lp_error(LOWP_ERR_FORMAT, "%s: bad image size %lldx%lld (1 to 2^24 pixels)", ipath,
                      (long long)idims[1], (long long)idims[2]);
    if (st == LP_OK) {
        d->rows = idims[1];
        d->cols = idims[2];
        lp_recfile_set_layout(&d->images, 16, d->rows * d->cols);
        lp_recfile_set_layout(&d->labels, 8, 1);
        st = lp_recfile_check_count(&d->labels, ldims[0], "labels");
    }
    if (st == LP_OK)
        st = lp_recfile_check_count(&d->images, idims[0], "images");
    if (st == LP_OK && !(d->buf = malloc((size_t)(idims[1] * idims[2]))))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != LP_OK) {
        idx_close(d);
        return st;
    }
    *state_out = d;
    *length_out = idims[0];
    return LP_OK;
}

static lp_status idx_get(void *state, int64_t index, lowp_sample *s)
{
    idx_ds *d = state;
    unsigned char label;
    LP_TRY(lp_recfile_read(&d->images, index, d->buf));
    LP_TRY(lp_recfile_read(&d->labels, index, &label));
    int64_t dims[3] = {1, d->rows, d->cols};
    lp_tensor *t;
    LP_TRY(lp_tensor_new(LP_F32, 3, dims, &t));
    float *x = t->data;
    for (int64_t i = 0; i < d->rows * d->cols; i++)
        x[i] = (float)d->buf[i];
    LP_TRY(lp_sample_add_input(s, t));
    return lp_sample_add_class(s, label);
}

static const char *idx_describe(void *state) { return ((idx_ds *)state)->root; }

static const lowp_param_spec idx_params[] = {
    {"root", LOWP_PARAM_STRING, 1, 1},
    {"train", LOWP_PARAM_BOOL, 0, 0},
    {"download", LOWP_PARAM_BOOL, 0, 0},   /* LPOT's; lowp never downloads (ignored) */
    {NULL, 0, 0, 0},
};

const lowp_dataset_vtable lp_ds_mnist = {
    "MNIST", idx_params, idx_open, idx_get, idx_close, idx_describe,
};
const lowp_dataset_vtable lp_ds_fashion_mnist = {
    "FashionMNIST", idx_params, idx_open, idx_get, idx_close, idx_describe,
};
