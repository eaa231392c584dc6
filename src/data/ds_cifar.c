/* ds_cifar.c — CIFAR10 / CIFAR100 from the binary version (data_batch_N.bin / test_batch.bin,
 * train.bin / test.bin), read by offset, or, when those are absent, from the "python version"
 * LPOT reads (data_batch_N / test_batch, train / test: pickled dicts, data/pickle.c), held in
 * memory as LPOT does. Samples: float32 (32,32,3) HWC, values 0..255; labels: int64 scalars
 * (CIFAR100: the fine label). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/outfile.h"
#include "data/data.h"
#include "data/pickle.h"
#include "data/recfile.h"

#define CIFAR_PIXELS 3072
#define CIFAR_MAX_FILES 5

typedef struct cifar_ds {
    int n_files;
    lp_recfile files[CIFAR_MAX_FILES];
    int64_t first[CIFAR_MAX_FILES + 1];  /* sample index where each file starts */
    int label_bytes;                     /* 1 (CIFAR10) or 2 (CIFAR100: coarse, fine) */
    unsigned char rec[2 + CIFAR_PIXELS];
    lp_cifar_batch py[CIFAR_MAX_FILES];  /* the python version, in memory (n_py batches) */
    int n_py;
    char root[512];
} cifar_ds;

static void cifar_close(void *state)
{
    cifar_ds *d = state;
    if (!d)
        return;
    for (int i = 0; i < d->n_files; i++)
        lp_recfile_close(&d->files[i]);
    for (int i = 0; i < d->n_py; i++)
        lp_cifar_batch_free(&d->py[i]);
    free(d);
}

/* The folder holding the .bin files: root itself or the archive's folder inside it. */
/* The folder holding the batches: ROOT itself when `probe` is in it, else ROOT/SUB. */
static lp_status cifar_dir(const char *root, const char *sub, const char *probe, char **out)
{
    char *p = NULL;
    LP_TRY(lp_path_join(root, probe, &p));
    struct stat sb;
    bool here = stat(p, &sb) == 0;
    free(p);
    if (here) {
        if (!(*out = strdup(root)))
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        return LP_OK;
    }
    return lp_path_join(root, sub, out);
}

#define PY_SUB(label_bytes) ((label_bytes) == 1 ? "cifar-10-batches-py" : "cifar-100-python")
#define PY_FIRST(label_bytes, train) \
    ((label_bytes) == 1 ? ((train) ? "data_batch_1" : "test_batch") : ((train) ? "train" : "test"))

/* Whether the python version's first batch is in ROOT or ROOT/SUB. */
static bool has_python(const char *root, int label_bytes, int train)
{
    char *dir = NULL, *path = NULL;
    struct stat sb;
    bool yes = cifar_dir(root, PY_SUB(label_bytes), PY_FIRST(label_bytes, train), &dir) == LP_OK &&
               lp_path_join(dir, PY_FIRST(label_bytes, train), &path) == LP_OK && stat(path, &sb) == 0;
    free(dir);
    free(path);
    return yes;
}

/* The python version: the pickled batches in ROOT or ROOT/SUB, labels checked once. */
static lp_status cifar_open_python(cifar_ds *d, const char *root, int label_bytes, int train)
{
    static const char *const tr10[] = {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"};
    const char *names[CIFAR_MAX_FILES];
    int n = 0;
    if (label_bytes == 1 && train)
        for (n = 0; n < 5; n++)
            names[n] = tr10[n];
    else
        names[n++] = label_bytes == 1 ? "test_batch" : train ? "train" : "test";
    char *dir = NULL;
    LP_TRY(cifar_dir(root, PY_SUB(label_bytes), names[0], &dir));
    lp_status st = LP_OK;
    int64_t n_cls = label_bytes == 1 ? 10 : 100;
    for (int i = 0; i < n && st == LP_OK; i++) {
        char *path = NULL;
        st = lp_path_join(dir, names[i], &path);
        if (st == LP_OK)
            st = lp_cifar_pickle_read(path, label_bytes == 1 ? "labels" : "fine_labels", &d->py[i]);
        if (st == LP_OK)
            d->n_py++;
        for (int64_t k = 0; st == LP_OK && k < d->py[i].n; k++)
            if (d->py[i].labels[k] < 0 || d->py[i].labels[k] >= n_cls)
                st = lp_error(LOWP_ERR_FORMAT, "%s: image %lld has label %lld, not a CIFAR%lld class (0..%lld): "
                              "not a CIFAR%lld batch?", path, (long long)k, (long long)d->py[i].labels[k],
                              (long long)n_cls, (long long)n_cls - 1, (long long)n_cls);
        if (st == LP_OK)
            d->first[i + 1] = d->first[i] + d->py[i].n;
        free(path);
    }
    free(dir);
    return st;
}

static lp_status cifar_open_common(const lowp_params *p, int label_bytes, void **state_out,
                                   int64_t *length_out)
{
    const char *root;
    int train;
    LP_TRY(lowp_params_get_string(p, "root", NULL, &root));
    LP_TRY(lowp_params_get_bool(p, "train", 0, &train));
    cifar_ds *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    d->label_bytes = label_bytes;
    snprintf(d->root, sizeof d->root, "%s", root);
    const char *names[CIFAR_MAX_FILES];
    int n = 0;
    char *dir = NULL;
    lp_status st = LP_OK;
    if (label_bytes == 1) {
        static const char *const tr[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                         "data_batch_4.bin", "data_batch_5.bin"};
        if (train)
            for (n = 0; n < 5; n++)
                names[n] = tr[n];
        else
            names[n++] = "test_batch.bin";
        st = cifar_dir(root, "cifar-10-batches-bin", names[0], &dir);
    } else {
        names[n++] = train ? "train.bin" : "test.bin";
        st = cifar_dir(root, "cifar-100-binary", names[0], &dir);
    }
    /* no binary batch where it would be: the python version, if it is there */
    char *probe = NULL;
    struct stat pb;
    if (st == LP_OK && (st = lp_path_join(dir, names[0], &probe)) == LP_OK && stat(probe, &pb) != 0 &&
        has_python(root, label_bytes, train)) {
        free(probe);
        free(dir);
        st = cifar_open_python(d, root, label_bytes, train);
        if (st != LP_OK) {
            cifar_close(d);
            return st;
        }
        *state_out = d;
        *length_out = d->first[d->n_py];
        return LP_OK;
    }
    free(probe);
    int64_t rec = label_bytes + CIFAR_PIXELS;
    for (int i = 0; i < n && st == LP_OK; i++) {
        char *path = NULL;
        st = lp_path_join(dir, names[i], &path);
        if (st == LP_OK)
            st = lp_recfile_open(&d->files[i], path);
        if (st != LP_OK) {
            free(path);
            break;
        }
        d->n_files++;
        struct stat sb;
        if (d->files[i].is_gz)
            st = lp_error(LOWP_ERR_UNSUPPORTED, "%s: gzip'ed CIFAR batches are not supported; unpack them", path);
        else if (fstat(d->files[i].fd, &sb) != 0 || sb.st_size % rec != 0)
            st = lp_error(LOWP_ERR_FORMAT, "%s: size %lld is not a whole number of %lld-byte records",
                          path, (long long)sb.st_size, (long long)rec);
        else {
            lp_recfile_set_layout(&d->files[i], 0, rec);
            d->first[i + 1] = d->first[i] + sb.st_size / rec;
        }
        free(path);
    }
    free(dir);
    if (st != LP_OK) {
        cifar_close(d);
        return st;
    }
    *state_out = d;
    *length_out = d->first[d->n_files];
    return LP_OK;
}

static lp_status cifar10_open(const lowp_params *p, void **s, int64_t *n) { return cifar_open_common(p, 1, s, n); }
static lp_status cifar100_open(const lowp_params *p, void **s, int64_t *n) { return cifar_open_common(p, 2, s, n); }

static lp_status cifar_get(void *state, int64_t index, lowp_sample *s)
{
    cifar_ds *d = state;
    int f = 0;
    if (d->n_py) {   /* the python version: planes R, G, B of 32x32, as the .bin records */
        while (f + 1 < d->n_py && index >= d->first[f + 1])
            f++;
        d->rec[d->label_bytes - 1] = (unsigned char)d->py[f].labels[index - d->first[f]];
        if (d->label_bytes == 2)
            d->rec[0] = 0;
        memcpy(d->rec + d->label_bytes, d->py[f].pixels + (index - d->first[f]) * CIFAR_PIXELS, CIFAR_PIXELS);
    } else {
        while (f + 1 < d->n_files && index >= d->first[f + 1])
            f++;
        LP_TRY(lp_recfile_read(&d->files[f], index - d->first[f], d->rec));
    }
    /* The label bytes say whether this is a CIFAR file at all (a CIFAR100 file read as
     * CIFAR10 has the same record count only by chance). */
    int fine = d->rec[d->label_bytes - 1], n_fine = d->label_bytes == 1 ? 10 : 100;
    if (fine >= n_fine || (d->label_bytes == 2 && d->rec[0] >= 20))
        return lp_error(LOWP_ERR_FORMAT, "%s: record %lld has label %d%s, not a CIFAR%d class (0..%d): "
                        "not a CIFAR%d batch?", d->files[f].path, (long long)(index - d->first[f]), fine,
                        d->label_bytes == 2 && d->rec[0] >= 20 ? " (or coarse label >= 20)" : "", n_fine,
                        n_fine - 1, n_fine);
    int64_t dims[3] = {32, 32, 3};
    lp_tensor *t;
    LP_TRY(lp_tensor_new(LP_F32, 3, dims, &t));
    float *x = t->data;
    const unsigned char *px = d->rec + d->label_bytes;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 1024; i++)
            x[i * 3 + c] = (float)px[c * 1024 + i];
    LP_TRY(lp_sample_add_input(s, t));
    return lp_sample_add_class(s, d->rec[d->label_bytes - 1]);
}

static const char *cifar_describe(void *state) { return ((cifar_ds *)state)->root; }

static const lowp_param_spec cifar_params[] = {
    {"root", LOWP_PARAM_STRING, 1, 1},
    {"train", LOWP_PARAM_BOOL, 0, 0},
    {"download", LOWP_PARAM_BOOL, 0, 0},
    {NULL, 0, 0, 0},
};

const lowp_dataset_vtable lp_ds_cifar10 = {
    "CIFAR10", cifar_params, cifar10_open, cifar_get, cifar_close, cifar_describe,
};
const lowp_dataset_vtable lp_ds_cifar100 = {
    "CIFAR100", cifar_params, cifar100_open, cifar_get, cifar_close, cifar_describe,
};
