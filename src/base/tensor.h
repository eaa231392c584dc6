/* tensor.h — a dense C-order array; the same object as the public lowp_tensor. */
#ifndef LP_TENSOR_H
#define LP_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/status.h"

#define LP_MAX_DIMS LOWP_MAX_DIMS

typedef struct lowp_tensor {
    lp_dtype dtype;
    int ndim;
    int64_t dims[LP_MAX_DIMS];
    void *data;       /* numel * size bytes; may be NULL when numel is 0 */
    size_t nbytes;
    bool owns_data;   /* free(data) in lp_tensor_free */
} lp_tensor;

/* Product of dims (1 for a scalar). */
/* The product of the dims; INT64_MAX when it overflows (dims read from a file can). */
int64_t lp_numel(int ndim, const int64_t *dims);
static inline int64_t lp_tensor_numel(const lp_tensor *t) { return lp_numel(t->ndim, t->dims); }

/* Advances the C-order multi-index idx over dims[0..nd) by one element (the last wraps to all
 * zeros; the caller counts the elements), keeping *off, when strides is not NULL, the offset
 * of that index in a tensor of those element strides (0 along broadcast dims). */
static inline void lp_index_next(int nd, const int64_t *dims, int64_t *idx, const int64_t *strides, int64_t *off)
{
    for (int k = nd - 1; k >= 0; k--) {
        if (strides)
            *off += strides[k];
        if (++idx[k] < dims[k])
            return;
        if (strides)
            *off -= strides[k] * dims[k];
        idx[k] = 0;
    }
}

/* A new tensor owning zeroed storage. Fails (naming `what`) on bad dims or OOM. */
lp_status lp_tensor_new(lp_dtype dtype, int ndim, const int64_t *dims, lp_tensor **out);
/* A deep copy. */
lp_status lp_tensor_clone(const lp_tensor *src, lp_tensor **out);
/* Fills a caller-owned header that views `data` (no ownership). */
void lp_tensor_view(lp_tensor *t, lp_dtype dtype, int ndim, const int64_t *dims, void *data);
void lp_tensor_free(lp_tensor *t);

/* Same dtype, shape and bytes. */
bool lp_tensor_equal(const lp_tensor *a, const lp_tensor *b);
/* Copies index `idx` of `t` along `axis` into `s` (t's shape without that axis, same dtype),
 * or with `write` from `s` into t. */
void lp_tensor_slice_copy(lp_tensor *t, int axis, int64_t idx, lp_tensor *s, bool write);
/* "float32[1,3,224,224]" into buf. */
const char *lp_shape_str(int ndim, const int64_t *dims, char *buf, size_t size);

/* Element i as double / as int64 (integer and bool types exact). */
static inline double lp_tensor_get(const lp_tensor *t, int64_t i)
{
    return lp_dtype_traits_of(t->dtype)->get(t->data, i);
}
int64_t lp_tensor_get_int(const lp_tensor *t, int64_t i);

#endif
