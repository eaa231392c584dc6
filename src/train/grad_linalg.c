/* grad_linalg.c — backward of Gemm and MatMul, as matrix products. */
#include <stdlib.h>

#include "ops/matmul_ref.h"
#include "train/grad.h"

/* Y (M,N) = alpha A' (M,K) B' (K,N) + beta C, A' = transA ? A^T : A, B' likewise. */
static lp_status gemm_bw(const lp_grad_ctx *c)
{
    const lp_tensor *a = c->in[0], *b = c->in[1];
    LP_TRY(lp_grad_want_f32(c, a, "A"));
    LP_TRY(lp_grad_want_f32(c, b, "B"));
    if (a->ndim != 2 || b->ndim != 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "backward: A and B must be 2-D");
    bool ta = lp_attr_int(c->node, "transA", 0) != 0, tb = lp_attr_int(c->node, "transB", 0) != 0;
    float alpha = lp_attr_float(c->node, "alpha", 1.0f), beta = lp_attr_float(c->node, "beta", 1.0f);
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t N = tb ? b->dims[0] : b->dims[1];
    const float *A = a->data, *B = b->data, *g = c->dout[0]->data;
    if (c->din[0]) {
        float *dA = c->din[0]->data;
        if (!ta) /* dA (M,K) += alpha g (M,N) B'^T (N,K) */
            LP_TRY(lp_grad_matmul(M, K, N, alpha, g, N, 1, B, tb ? K : 1, tb ? 1 : N, 1.0f, dA));
        else /* dA (K,M) += alpha B' (K,N) g^T (N,M) */
            LP_TRY(lp_grad_matmul(K, M, N, alpha, B, tb ? 1 : N, tb ? K : 1, g, 1, N, 1.0f, dA));
    }
    if (c->din[1]) {
        float *dB = c->din[1]->data;
        if (!tb) /* dB (K,N) += alpha A'^T (K,M) g (M,N) */
            LP_TRY(lp_grad_matmul(K, N, M, alpha, A, ta ? M : 1, ta ? 1 : K, g, N, 1, 1.0f, dB));
        else /* dB (N,K) += alpha g^T (N,M) A' (M,K) */
            LP_TRY(lp_grad_matmul(N, K, M, alpha, g, 1, N, A, ta ? 1 : K, ta ? M : 1, 1.0f, dB));
    }
    if (c->n_in > 2 && c->in[2] && c->din[2]) {
        int64_t od[2] = { M, N };
        lp_grad_unbroadcast(c->in[2], 2, od, g, beta, c->din[2]->data);
    }
    return LP_OK;
}

const lp_grad_def lp_graddef_Gemm = { .name = "Gemm", .diff_in = 7, .param_in = 7, .backward = gemm_bw };

/* numpy matmul with broadcast batch dims: per batch element, dA += g B^T, dB += A^T g (a
 * broadcast operand gets the sum over the batch elements that shared it). */
static lp_status matmul_bw(const lp_grad_ctx *c)
{
    const lp_tensor *a = c->in[0], *b = c->in[1];
    LP_TRY(lp_grad_want_f32(c, a, "A"));
    LP_TRY(lp_grad_want_f32(c, b, "B"));
    lp_matmul mm;
    LP_TRY(lp_matmul_setup(c->node, a, b, &mm));
    const float *A = a->data, *B = b->data, *g = c->dout[0]->data;
    int64_t M = mm.M, K = mm.K, N = mm.N;
    for (int64_t i = 0; i < mm.count; i++) {
        int64_t ao, bo;
        lp_matmul_offsets(&mm, i, &ao, &bo);
        const float *gi = g + i * M * N;
        if (c->din[0])
            LP_TRY(lp_grad_matmul(M, K, N, 1.0f, gi, N, 1, B + bo, 1, N, 1.0f, (float *)c->din[0]->data + ao));
        if (c->din[1])
            LP_TRY(lp_grad_matmul(K, N, M, 1.0f, A + ao, 1, K, gi, N, 1, 1.0f, (float *)c->din[1]->data + bo));
    }
    return LP_OK;
}

const lp_grad_def lp_graddef_MatMul = { .name = "MatMul", .diff_in = 3, .param_in = 3, .backward = matmul_bw };
