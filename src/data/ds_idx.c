/* ds_idx.c — MNIST and FashionMNIST from IDX files (gzip'ed or not), streamed by index.
 * Samples: float32 (1,28,28) with pixel values 0..255; labels: int64 scalars. MNIST also reads
 * LPOT's own file, root/mnist.npz (x_test/y_test, or x_train/y_train), when the IDX files are
 * not there: samples then (28,28,1), as LPOT's expand_dims(image, -1) gives them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "base/outfile.h"
#include "data/data.h"
#include "data/npz.h"
#include "data/recfile.h"

typedef struct idx_ds {
    lp_recfile images, labels;
    int64_t rows, cols;
    unsigned char *buf;
    lp_tensor *npz_x, *npz_y;   /* mnist.npz: the arrays in memory (else NULL) */
    char root[512];
} idx_ds;

static void idx_close(void *state)
{
    idx_ds *d = state;
    if (!d)
        return;
    lp_recfile_close(&d->images);
    lp_recfile_close(&d->labels);
    lp_tensor_free(d->npz_x);
    lp_tensor_free(d->npz_y);
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

/* LPOT's MNIST: root/mnist.npz with x_{train,test} (N,H,W) uint8 and y_{train,test} (N) class
 * indices 0..9 (checked here, once, so a sample cannot carry a label the metrics refuse late). */
static lp_status npz_open(const char *root, int train, void **state_out, int64_t *length_out)
{
    char *path = NULL;
    LP_TRY(lp_path_join(root, "mnist.npz", &path));
    idx_ds *d = calloc(1, sizeof *d);
    lp_status st = d ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (d) {
        d->images.fd = d->labels.fd = -1;
        snprintf(d->root, sizeof d->root, "%s", path);
    }
    if (st == LP_OK)
        st = lp_npz_read(path, train ? "x_train" : "x_test", &d->npz_x);
    if (st == LP_OK)
        st = lp_npz_read(path, train ? "y_train" : "y_test", &d->npz_y);
    if (st == LP_OK && (d->npz_x->dtype != LP_U8 || d->npz_x->ndim != 3 || d->npz_x->dims[1] < 1 ||
                        d->npz_x->dims[2] < 1))
        st = lp_error(LOWP_ERR_FORMAT, "%s: x_%s must be uint8 images (N,H,W)", path, train ? "train" : "test");
    if (st == LP_OK && (d->npz_y->ndim != 1 || d->npz_y->dims[0] != d->npz_x->dims[0] ||
                        lp_dtype_traits_of(d->npz_y->dtype)->is_float))
        st = lp_error(LOWP_ERR_FORMAT, "%s: y_%s must hold one integer label per image (%lld)", path,
                      train ? "train" : "test", (long long)d->npz_x->dims[0]);
    for (int64_t i = 0; st == LP_OK && i < d->npz_y->dims[0]; i++) {
        int64_t y = lp_tensor_get_int(d->npz_y, i);
        if (y < 0 || y > 9)   /* a u64 above INT64_MAX reads negative */
            st = lp_error(LOWP_ERR_FORMAT, "%s: y_%s[%lld] = %lld is not a digit class 0..9", path,
                          train ? "train" : "test", (long long)i, (long long)y);
    }
    free(path);
    if (st != LP_OK) {
        idx_close(d);
        return st;
    }
    d->rows = d->npz_x->dims[1];
    d->cols = d->npz_x->dims[2];
    *state_out = d;
    *length_out = d->npz_x->dims[0];
    return LP_OK;
}

static lp_status mnist_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    const char *root;
    int train;
    LP_TRY(lowp_params_get_string(p, "root", NULL, &root));
    LP_TRY(lowp_params_get_bool(p, "train", 0, &train));
    char probe[600], npz[600];
    snprintf(npz, sizeof npz, "%s/mnist.npz", root);
    if (!lp_find_file(root, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte", probe, sizeof probe) &&
        access(npz, F_OK) == 0)
        return npz_open(root, train, state_out, length_out);
    return idx_open(p, state_out, length_out);
}

static lp_status idx_get(void *state, int64_t index, lowp_sample *s)
{
    idx_ds *d = state;
    if (d->npz_x) {
        int64_t dims[3] = {d->rows, d->cols, 1};
        lp_tensor *t;
        LP_TRY(lp_tensor_new(LP_F32, 3, dims, &t));
        const uint8_t *src = (const uint8_t *)d->npz_x->data + index * d->rows * d->cols;
        float *x = t->data;
        for (int64_t i = 0; i < d->rows * d->cols; i++)
            x[i] = (float)src[i];
        LP_TRY(lp_sample_add_input(s, t));
        return lp_sample_add_class(s, lp_tensor_get_int(d->npz_y, index));
    }
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
    "MNIST", idx_params, mnist_open, idx_get, idx_close, idx_describe,
};
const lowp_dataset_vtable lp_ds_fashion_mnist = {
    "FashionMNIST", idx_params, idx_open, idx_get, idx_close, idx_describe,
};
