/* matmul_ref.h — numpy matmul shape rules and batch walking, shared by MatMul,
 * MatMulInteger and QLinearMatMul. */
#ifndef LP_MATMUL_REF_H
#define LP_MATMUL_REF_H

#include "ops/op.h"

/* Result shape of a (..., M, K) x b (..., K, N) with broadcast batch dims; a 1-D a is (1, K)
 * and a 1-D b is (K, 1), the added dim dropped from the result. Unknowns stay unknown. */
lp_status lp_matmul_infer(const lp_node *n, const lp_shape *a, const lp_shape *b, lp_shape *y);

typedef struct lp_matmul {
    int64_t M, K, N;
    int nb;                               /* result batch rank */
    int64_t batch[LP_MAX_DIMS];
    int64_t a_stride[LP_MAX_DIMS], b_stride[LP_MAX_DIMS]; /* in matrices, 0 where broadcast */
    int64_t count;                        /* batch elements */
} lp_matmul;

lp_status lp_matmul_setup(const lp_node *n, const lp_tensor *a, const lp_tensor *b, lp_matmul *mm);
/* Element offsets of batch element i's matrices in a and b; the result's is i * M * N. */
void lp_matmul_offsets(const lp_matmul *mm, int64_t i, int64_t *a_off, int64_t *b_off);

#endif
