/* dnnl_train.h — what the training layer's oneDNN fast paths share (dnnl_train.c): the
 * switch (LOWP_KERNELS=reference turns every one off), primitive creation that refuses
 * oneDNN's own reference implementations, and memories kept across training steps in a tape
 * node's cache (grad.h), bound to the tape's tensors at each run.
 *
 * A fast path returns LOWP_ERR_UNSUPPORTED, without a message, when oneDNN does not take the
 * case; the caller then runs the reference loops (the "twin"). Both are held against finite
 * differences (tests/test_train_grad.c, under both kernel settings) and against each other on
 * random shapes (tests/test_train_twins.c). */
#ifndef LP_TRAIN_DNNL_TRAIN_H
#define LP_TRAIN_DNNL_TRAIN_H

#include <oneapi/dnnl/dnnl.h>

#include "ir/graph.h"

/* How a tape value's data is laid out: plain (on false), or in a oneDNN layout `md` (a
 * channel-blocked activation kept between consecutive oneDNN ops; same element count, no
 * padding, so elementwise ops run on the raw buffer). */
typedef struct lp_dnt_layout {
    bool on;
    dnnl_memory_desc_t md;
} lp_dnt_layout;

/* Copies src (laid out as `lay`) into dst in the plain layout of dims (rank nd), or, with
 * to_lay, the other way (adding into dst when `sum`). */
lp_status lp_dnt_relayout(const lp_dnt_layout *lay, int nd, const int64_t *dims, bool to_lay, bool sum,
                          const void *src, void *dst);

/* True unless LOWP_KERNELS=reference or oneDNN has no CPU engine. */
bool lp_dnt_enabled(void);
dnnl_engine_t lp_dnt_engine(void);

/* A primitive descriptor for `desc` (hint: the forward's, for backward primitives; attr may be
 * NULL and is not consumed); LOWP_ERR_UNSUPPORTED when oneDNN has none or only a "ref" one. */
lp_status lp_dnt_pd(dnnl_primitive_desc_t *pd, const void *desc, const_dnnl_primitive_desc_t hint,
                    const_dnnl_primitive_attr_t attr);
/* The primitive of pd (the pd stays the caller's). */
lp_status lp_dnt_prim(dnnl_primitive_t *p, const_dnnl_primitive_desc_t pd);
/* A reorder primitive from layout `from` to `to`; with `sum` it adds into the destination. */
lp_status lp_dnt_reorder(dnnl_primitive_t *p, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, bool sum);
/* pd's md for query `what` (dnnl_query_src_md, ...). */
const dnnl_memory_desc_t *lp_dnt_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what);
/* A dense f32 md of dims (rank nd) in the plain row-major layout. */
void lp_dnt_plain(dnnl_memory_desc_t *md, int nd, const int64_t *dims);

/* A memory: over an owned buffer (lp_dnt_buf_own) or over the caller's data, bound per run
 * (lp_dnt_buf_ext then lp_dnt_bind). */
typedef struct lp_dnt_buf {
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    void *own;
} lp_dnt_buf;

lp_status lp_dnt_buf_own(lp_dnt_buf *b, const dnnl_memory_desc_t *md);
lp_status lp_dnt_buf_ext(lp_dnt_buf *b, const dnnl_memory_desc_t *md);
lp_status lp_dnt_bind(lp_dnt_buf *b, const void *data);
void lp_dnt_buf_free(lp_dnt_buf *b);

/* Runs p with (kind, memory) pairs on stream s and waits; a failure is LOWP_ERR_INTERNAL (not
 * a case to fall back on: a gradient may be half added). */
lp_status lp_dnt_exec(dnnl_stream_t s, dnnl_primitive_t p, int n, const int *kinds, const dnnl_memory_t *mems);
/* Runs reorder p from `from` to `to`. */
lp_status lp_dnt_exec_reorder(dnnl_stream_t s, dnnl_primitive_t p, const lp_dnt_buf *from, const lp_dnt_buf *to);

/* dst[i] += src[i], i < n. */
void lp_dnt_add(float *dst, const float *src, int64_t n);

#endif
