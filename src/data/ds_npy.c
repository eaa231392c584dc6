/* ds_npy.c — the Npy dataset: one .npy file per model input (and per label), first axis =
 * samples; each sample is read by offset, so the files are never loaded whole. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "data/data.h"

typedef struct npy_file {
    char path[512];
    int fd;
    lp_dtype dtype;
    int ndim;                      /* of the whole array, >= 1 */
    int64_t dims[LP_MAX_DIMS];
    int64_t data_off;
    int64_t row_bytes;
} npy_file;

typedef struct npy_ds {
    int n_in, n_lab;
    npy_file files[2 * LOWP_SAMPLE_MAX_TENSORS];
} npy_ds;

static void npy_close(void *state)
{
    npy_ds *d = state;
    if (!d)
        return;
    for (int i = 0; i < d->n_in + d->n_lab; i++)
        if (d->files[i].fd >= 0)
            close(d->files[i].fd);
    free(d);
}

/* Finds `'key':` in the header dict; returns a pointer after the colon or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (isspace((unsigned char)*p))
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static lp_status npy_open_file(npy_file *f, const char *path)
{
    snprintf(f->path, sizeof f->path, "%s", path);
    f->fd = -1;
    LP_TRY(lp_file_open(path, 0, &f->fd, NULL));
    unsigned char pre[12];
    LP_TRY(lp_read_at(f->fd, pre, 10, 0, path));
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return lp_error(LOWP_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    int64_t hlen, hoff;
    if (pre[6] == 1) {
        hlen = pre[8] | pre[9] << 8;
        hoff = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        LP_TRY(lp_read_at(f->fd, pre, 12, 0, path));
        hlen = (int64_t)pre[8] | (int64_t)pre[9] << 8 | (int64_t)pre[10] << 16 | (int64_t)pre[11] << 24;
        hoff = 12;
    } else {
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy format version %d is not supported", path, pre[6]);
    }
    if (hlen <= 0 || hlen > (1 << 20))
        return lp_error(LOWP_ERR_FORMAT, "%s: bad .npy header length %lld", path, (long long)hlen);
    char *h = malloc((size_t)hlen + 1);
    if (!h)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = lp_read_at(f->fd, h, (size_t)hlen, hoff, path);
    if (st != LP_OK) {
        free(h);
        return st;
    }
    h[hlen] = 0;
    f->data_off = hoff + hlen;
    const char *descr = dict_value(h, "descr"), *fo = dict_value(h, "fortran_order"),
               *shape = dict_value(h, "shape");
    if (!descr || !fo || !shape || *descr != '\'' || *shape != '(') {
        free(h);
        return lp_error(LOWP_ERR_FORMAT, "%s: malformed .npy header", path);
    }
    char order = descr[1];
    char code[8] = {0};
    int k = 0;
    for (const char *p = descr + 2; *p && *p != '\'' && k < 7; p++)
        code[k++] = *p;
    f->dtype = LOWP_UNDEFINED;
    for (int t = 0; t < LP_DTYPE_COUNT; t++) {
        const lp_dtype_traits *tr = lp_dtype_traits_of((lp_dtype)t);
        if (tr->npy && tr->size && !strcmp(tr->npy, code))
            f->dtype = (lp_dtype)t;
    }
    bool ok = f->dtype != LOWP_UNDEFINED && (order == '<' || order == '|' || order == '=');
    bool fortran = !strncmp(fo, "True", 4);
    const char *p = shape + 1;
    f->ndim = 0;
    while (ok) {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || f->ndim == LP_MAX_DIMS) {
            free(h);
            return lp_error(LOWP_ERR_FORMAT, "%s: malformed or too long .npy shape", path);
        }
        f->dims[f->ndim++] = v;
        p = end;
    }
    free(h);
    if (!ok)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy dtype '%c%s' is not supported", path, order, code);
    if (f->ndim == 0)
        return lp_error(LOWP_ERR_SHAPE, "%s: a 0-d array has no samples (the first axis is the sample axis)", path);
    int64_t row = 1;   /* elements per sample, bounded as a tensor's are (2^40) before multiplying */
    for (int i = 1; i < f->ndim; i++) {
        if (f->dims[i] && row > (INT64_C(1) << 40) / f->dims[i])
            return lp_error(LOWP_ERR_SHAPE, "%s: a sample of this .npy shape would be too large", path);
        row *= f->dims[i];
    }
    if (fortran && row > 1)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported", path);
    f->row_bytes = row * (int64_t)lp_dtype_traits_of(f->dtype)->size;
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 ||
        (f->row_bytes && f->dims[0] > (sb.st_size - f->data_off) / f->row_bytes) || sb.st_size < f->data_off)
        return lp_error(LOWP_ERR_FORMAT, "%s: file is truncated (shape says %lld samples)", path,
                        (long long)f->dims[0]);
    return LP_OK;
}

static lp_status npy_ds_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    npy_ds *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < 2 * LOWP_SAMPLE_MAX_TENSORS; i++)
        d->files[i].fd = -1;
    lp_status st = LP_OK;
    int n_in = 0, n_lab = 0;
    const char *path;
    st = lowp_params_get_string_at(p, "inputs", 0, &path, &n_in);
    if (st == LP_OK)
        st = lowp_params_get_string_at(p, "labels", 0, &path, &n_lab);
    if (st == LP_OK && (n_in < 1 || n_in > LOWP_SAMPLE_MAX_TENSORS || n_lab > LOWP_SAMPLE_MAX_TENSORS))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "Npy takes 1..%d input files and 0..%d label files",
                      LOWP_SAMPLE_MAX_TENSORS, LOWP_SAMPLE_MAX_TENSORS);
    for (int i = 0; i < n_in + n_lab && st == LP_OK; i++) {
        int n;
        st = lowp_params_get_string_at(p, i < n_in ? "inputs" : "labels", i < n_in ? i : i - n_in, &path, &n);
        if (st == LP_OK) {
            if (i < n_in) d->n_in++;
            else d->n_lab++;
            st = npy_open_file(&d->files[i], path);
        }
        if (st == LP_OK && d->files[i].dims[0] != d->files[0].dims[0])
            st = lp_error(LOWP_ERR_SHAPE, "%s has %lld samples but %s has %lld (the first axes must match)",
                          d->files[i].path, (long long)d->files[i].dims[0], d->files[0].path,
                          (long long)d->files[0].dims[0]);
    }
    if (st != LP_OK) {
        npy_close(d);
        return st;
    }
    *state_out = d;
    *length_out = d->files[0].dims[0];
    return LP_OK;
}

static lp_status npy_get(void *state, int64_t index, lowp_sample *s)
{
    npy_ds *d = state;
    for (int i = 0; i < d->n_in + d->n_lab; i++) {
        npy_file *f = &d->files[i];
        lp_tensor *t;
        LP_TRY(lp_tensor_new(f->dtype, f->ndim - 1, f->dims + 1, &t));
        lp_status st = lp_read_at(f->fd, t->data, (size_t)f->row_bytes, f->data_off + index * f->row_bytes, f->path);
        if (st != LP_OK) {
            lp_tensor_free(t);
            return st;
        }
        if (f->dtype == LP_BOOL)
            for (size_t k = 0; k < t->nbytes; k++)
                ((unsigned char *)t->data)[k] = ((unsigned char *)t->data)[k] != 0;
        LP_TRY(i < d->n_in ? lp_sample_add_input(s, t) : lp_sample_add_label(s, t));
    }
    return LP_OK;
}

static const char *npy_describe(void *state) { return ((npy_ds *)state)->files[0].path; }

static const lowp_param_spec npy_params[] = {
    {"inputs", LOWP_PARAM_STRING_LIST, 1, 1},
    {"labels", LOWP_PARAM_STRING_LIST, 0, 2},
    {NULL, 0, 0, 0},
};

const lowp_dataset_vtable lp_ds_npy = {
    "Npy", npy_params, npy_ds_open, npy_get, npy_close, npy_describe,
};
