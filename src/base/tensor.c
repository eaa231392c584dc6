/* tensor.c — tensor allocation, copies, and the public lowp_tensor_* calls. */
#include "base/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t lp_numel(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, dims[i], &n))
            return dims[i] < 0 ? -1 : INT64_MAX; /* saturates: dims from files can overflow */
    return n;
}

/* The checks every tensor header passes (dtype, rank, dims); its byte size into *nbytes. */
static lp_status check_header(lp_dtype dtype, int ndim, const int64_t *dims, size_t *nbytes)
{
    size_t esize = lp_dtype_traits_of(dtype)->size;
    if (!esize)
        return lp_error(LOWP_ERR_UNSUPPORTED, "tensor dtype %d (%s) is not supported", (int)dtype,
                        lp_dtype_traits_of(dtype)->name);
    if (ndim < 0 || ndim > LP_MAX_DIMS)
        return lp_error(LOWP_ERR_UNSUPPORTED, "tensor rank %d is outside 0..%d", ndim, LP_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return lp_error(LOWP_ERR_SHAPE, "tensor dim %d is negative (%lld)", i, (long long)dims[i]);
        if (dims[i] && n > (INT64_C(1) << 40) / dims[i])
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "tensor of %s is too large", lp_dtype_traits_of(dtype)->name);
        n *= dims[i];
    }
    *nbytes = (size_t)n * esize;
    return LP_OK;
}

lp_status lp_tensor_new(lp_dtype dtype, int ndim, const int64_t *dims, lp_tensor **out)
{
    size_t nbytes;
    LP_TRY(check_header(dtype, ndim, dims, &nbytes));
    lp_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory allocating a tensor");
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->nbytes = nbytes;
    t->data = calloc(1, t->nbytes ? t->nbytes : 1);
    t->owns_data = true;
    if (!t->data) {
        free(t);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes", nbytes);
    }
    *out = t;
    return LP_OK;
}

lp_status lp_tensor_clone(const lp_tensor *src, lp_tensor **out)
{
    lp_tensor *t;
    LP_TRY(lp_tensor_new(src->dtype, src->ndim, src->dims, &t));
    if (src->nbytes)
        memcpy(t->data, src->data, src->nbytes);
    *out = t;
    return LP_OK;
}

void lp_tensor_view(lp_tensor *t, lp_dtype dtype, int ndim, const int64_t *dims, void *data)
{
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->data = data;
    t->nbytes = (size_t)lp_numel(ndim, dims) * lp_dtype_traits_of(dtype)->size;
}

void lp_tensor_free(lp_tensor *t)
{
    if (!t)
        return;
    if (t->owns_data)
        free(t->data);
    free(t);
}

bool lp_tensor_equal(const lp_tensor *a, const lp_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

const char *lp_shape_str(int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "[");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

int64_t lp_tensor_get_int(const lp_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LP_I64: return ((const int64_t *)t->data)[i];
    case LP_I32: return ((const int32_t *)t->data)[i];
    case LP_U64: return (int64_t)((const uint64_t *)t->data)[i];
    default: return (int64_t)lp_tensor_get(t, i);
    }
}

/* ---- public API ---- */

lowp_status lowp_tensor_create(lowp_dtype dtype, int ndim, const int64_t *dims, const void *data,
                               lowp_tensor **tensor_out)
{
    if (!tensor_out || (ndim > 0 && !dims))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tensor_create: NULL argument");
    lp_tensor *t;
    LP_TRY(lp_tensor_new(dtype, ndim, dims, &t));
    if (data && t->nbytes)
        memcpy(t->data, data, t->nbytes);
    *tensor_out = t;
    return LP_OK;
}

lowp_status lowp_tensor_wrap(lowp_dtype dtype, int ndim, const int64_t *dims, void *data,
                             lowp_tensor **tensor_out)
{
    if (!tensor_out || (ndim > 0 && !dims))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tensor_wrap: NULL argument");
    size_t nbytes;
    LP_TRY(check_header(dtype, ndim, dims, &nbytes));
    if (nbytes && !data)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tensor_wrap: NULL data for %zu bytes", nbytes);
    lp_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory allocating a tensor");
    lp_tensor_view(t, dtype, ndim, dims, data); /* owns_data false: the caller's memory */
    *tensor_out = t;
    return LP_OK;
}

void lowp_tensor_free(lowp_tensor *tensor) { lp_tensor_free(tensor); }
lowp_dtype lowp_tensor_dtype(const lowp_tensor *t) { return t->dtype; }
int lowp_tensor_ndim(const lowp_tensor *t) { return t->ndim; }
const int64_t *lowp_tensor_dims(const lowp_tensor *t) { return t->dims; }
int64_t lowp_tensor_numel(const lowp_tensor *t) { return lp_tensor_numel(t); }
void *lowp_tensor_data(lowp_tensor *t) { return t->data; }
size_t lowp_tensor_nbytes(const lowp_tensor *t) { return t->nbytes; }

void lp_tensor_slice_copy(lp_tensor *t, int axis, int64_t idx, lp_tensor *s, bool write)
{
    int64_t outer = 1, inner = (int64_t)lp_dtype_traits_of(t->dtype)->size;
    for (int i = 0; i < axis; i++)
        outer *= t->dims[i];
    for (int i = axis + 1; i < t->ndim; i++)
        inner *= t->dims[i];
    uint8_t *td = t->data, *sd = s->data;
    for (int64_t o = 0; o < outer && inner; o++) {
        uint8_t *a = td + (size_t)(o * t->dims[axis] + idx) * (size_t)inner, *b = sd + (size_t)(o * inner);
        memcpy(write ? a : b, write ? b : a, (size_t)inner);
    }
}
