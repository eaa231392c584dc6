/* matmul_ref.c — numpy matmul shape rules and the walk over broadcast batch elements,
 * shared by MatMul, MatMulInteger and QLinearMatMul. */
#include "ops/matmul_ref.h"

#include <string.h>

static bool dims_clash(int64_t a, int64_t b) { return lp_dim_known(a) && lp_dim_known(b) && a != b; }

lp_status lp_matmul_infer(const lp_node *n, const lp_shape *a, const lp_shape *b, lp_shape *y)
{
    y->ndim = -1;
    if (a->ndim == 0 || b->ndim == 0)
        return lp_node_error(n, LOWP_ERR_SHAPE, "MatMul inputs must have rank >= 1");
    if (a->ndim < 0 || b->ndim < 0)
        return LP_OK;
    int64_t Ka = a->d[a->ndim - 1], Kb = b->d[b->ndim >= 2 ? b->ndim - 2 : 0];
    if (dims_clash(Ka, Kb))
        return lp_node_error(n, LOWP_ERR_SHAPE, "inner dims differ: %lld vs %lld", (long long)Ka, (long long)Kb);
    lp_shape ab = { .ndim = a->ndim > 2 ? a->ndim - 2 : 0 }, bb = { .ndim = b->ndim > 2 ? b->ndim - 2 : 0 };
    memcpy(ab.d, a->d, (size_t)ab.ndim * sizeof ab.d[0]);
    memcpy(bb.d, b->d, (size_t)bb.ndim * sizeof bb.d[0]);
    const lp_shape *pair[2] = { &ab, &bb };
    LP_TRY(lp_broadcast_shapes(n, 2, pair, y));
    if (a->ndim >= 2)
        y->d[y->ndim++] = a->d[a->ndim - 2];
    if (b->ndim >= 2)
        y->d[y->ndim++] = b->d[b->ndim - 1];
    if (y->ndim > LP_MAX_DIMS)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "result rank exceeds %d", LP_MAX_DIMS);
    return LP_OK;
}

lp_status lp_matmul_setup(const lp_node *n, const lp_tensor *a, const lp_tensor *b, lp_matmul *mm)
{
    lp_shape as, bs, ys;
    lp_shape_of(a, &as);
    lp_shape_of(b, &bs);
    LP_TRY(lp_matmul_infer(n, &as, &bs, &ys));
    memset(mm, 0, sizeof *mm);
    mm->M = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1;
    mm->K = a->dims[a->ndim - 1];
    mm->N = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
    mm->nb = ys.ndim - (a->ndim >= 2) - (b->ndim >= 2);
    memcpy(mm->batch, ys.d, (size_t)mm->nb * sizeof mm->batch[0]);
    int anb = a->ndim > 2 ? a->ndim - 2 : 0, bnb = b->ndim > 2 ? b->ndim - 2 : 0;
    lp_broadcast_strides(anb, a->dims, mm->nb, mm->batch, mm->a_stride);
    lp_broadcast_strides(bnb, b->dims, mm->nb, mm->batch, mm->b_stride);
    mm->count = lp_numel(mm->nb, mm->batch);
    return LP_OK;
}

void lp_matmul_offsets(const lp_matmul *mm, int64_t i, int64_t *a_off, int64_t *b_off)
{
    int64_t ao = 0, bo = 0;
    for (int k = mm->nb - 1; k >= 0; k--) {
        int64_t idx = i % mm->batch[k];
        i /= mm->batch[k];
        ao += idx * mm->a_stride[k];
        bo += idx * mm->b_stride[k];
    }
    *a_off = ao * mm->M * mm->K;
    *b_off = bo * mm->K * mm->N;
}
