/* elementwise_util.h — helpers shared by the elementwise and reduction kernels: a broadcast
 * iterator, exact integer element access, and the common infer steps. */
#ifndef LP_ELEMENTWISE_UTIL_H
#define LP_ELEMENTWISE_UTIL_H

#include "ops/op.h"

/* ---- dtype classes ---- */

/* float32, float64, float16, bfloat16. */
bool lp_ew_is_float(lp_dtype t);
/* Every integer type and bool. */
bool lp_ew_is_int(lp_dtype t);

/* Element i of an integer or bool tensor, exactly. uint64 comes back as its bit pattern
 * (compare such values with lp_ew_int_less, convert them with lp_ew_int_to_double). */
int64_t lp_ew_geti(const lp_tensor *t, int64_t i);
/* Stores v into element i of an integer or bool tensor, wrapping modulo 2^bits like a
 * NumPy astype (bool: v != 0). */
void lp_ew_seti(lp_tensor *t, int64_t i, int64_t v);
/* Stores v into element i of t (any numeric dtype), rounded once to nearest even: float16
 * and bfloat16 too (not via a float32 rounding first); integer types truncate toward zero
 * and saturate, NaN -> 0 (the dtype traits' set). */
void lp_ew_setd(lp_tensor *t, int64_t i, double v);
/* a < b for two values read by lp_ew_geti from a tensor of dtype t. */
static inline bool lp_ew_int_less(lp_dtype t, int64_t a, int64_t b)
{
    return t == LP_U64 ? (uint64_t)a < (uint64_t)b : a < b;
}
static inline double lp_ew_int_to_double(lp_dtype t, int64_t v)
{
    return t == LP_U64 ? (double)(uint64_t)v : (double)v;
}

/* ---- broadcast iteration ---- */

#define LP_EW_MAX_OPERANDS 3

/* Walks the elements of an output of dims `dims` in C order, keeping each operand's element
 * offset in off[j]:
 *     lp_ew_iter it;
 *     lp_ew_iter_init(&it, y->ndim, y->dims);
 *     lp_ew_iter_add(&it, strides_of_a); ...
 *     for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) y[i] = a[it.off[0]] ... */
typedef struct lp_ew_iter {
    int nd, n_ops;
    int64_t dims[LP_MAX_DIMS], idx[LP_MAX_DIMS];
    int64_t stride[LP_EW_MAX_OPERANDS][LP_MAX_DIMS];
    int64_t off[LP_EW_MAX_OPERANDS];
} lp_ew_iter;

void lp_ew_iter_init(lp_ew_iter *it, int nd, const int64_t *dims);
/* Adds an operand with element strides stride[nd] (0 along broadcast or reduced dims). */
void lp_ew_iter_add(lp_ew_iter *it, const int64_t *stride);
void lp_ew_iter_next(lp_ew_iter *it);

/* Sets `it` up to walk output y with the n inputs broadcast onto it; fails (naming the node)
 * when an input does not broadcast to y's shape. */
lp_status lp_ew_iter_bcast(lp_ew_iter *it, const lp_node *node, const lp_tensor *y, int n,
                           const lp_tensor *const *in);

/* ---- infer steps ---- */

/* Fails unless dtype t is unknown or a numeric type (float_only: a float type). */
lp_status lp_ew_check_dtype(const lp_node *node, lp_dtype t, bool float_only, const char *what);
/* The dtype shared by inputs [first, first + n) (NULL inputs skipped); fails when two known
 * dtypes differ. LOWP_UNDEFINED when none is known. */
lp_status lp_ew_same_dtype(const lp_infer_ctx *c, int first, int n, lp_dtype *dtype_out);
/* Output 0 gets dtype `dtype` and the broadcast shape of inputs [0, n) (NULL inputs skipped). */
lp_status lp_ew_infer_bcast(lp_infer_ctx *c, int n, lp_dtype dtype);

#endif
