/* grad_linalg.c — backward of Gemm and MatMul, as matrix products (Gemm first as oneDNN's
 * inner product where it is one, MatMul as oneDNN's matmuls where it is dense: dnnl_nn.h). */
#include <stdlib.h>
#include <string.h>

#include "ops/matmul_ref.h"
#include "train/dnnl_nn.h"
#include "train/grad.h"

/* The Gemm an inner product is: A (M,K) not transposed, alpha = 1, C absent or a bias of N
 * values ((N) or (1,N)) with beta = 1, all float32. */
typedef struct ip_geom {
    int64_t M, K, N;
    bool transA, transB;
    const lp_tensor *bias;
} ip_geom;

/* A float32 Gemm with matching inner dims and a C (if any) of rank <= 2 that broadcasts to
 * (M,N): its sizes (any transA, transB; bias unset). */
static bool gemm_dims(const lp_node *n, int n_in, const lp_tensor *const *in, ip_geom *g)
{
    const lp_tensor *a = in[0], *b = in[1], *cc = n_in > 2 ? in[2] : NULL;
    if (a->dtype != LP_F32 || b->dtype != LP_F32 || a->ndim != 2 || b->ndim != 2)
        return false;
    g->transA = lp_attr_int(n, "transA", 0) != 0;
    g->transB = lp_attr_int(n, "transB", 0) != 0;
    g->M = a->dims[g->transA ? 1 : 0];
    g->K = a->dims[g->transA ? 0 : 1];
    g->N = g->transB ? b->dims[0] : b->dims[1];
    g->bias = NULL;
    if ((g->transB ? b->dims[1] : b->dims[0]) != g->K)
        return false;
    if (!cc)
        return true;
    int64_t yd[2] = { g->M, g->N };
    if (cc->dtype != LP_F32 || cc->ndim > 2)
        return false;
    for (int i = 0; i < cc->ndim; i++)
        if (cc->dims[i] != 1 && cc->dims[i] != yd[2 - cc->ndim + i])
            return false;
    return true;
}

static bool gemm_is_ip(const lp_node *n, int n_in, const lp_tensor *const *in, ip_geom *g)
{
    const lp_tensor *cc = n_in > 2 ? in[2] : NULL;
    if (!gemm_dims(n, n_in, in, g) || g->transA || lp_attr_float(n, "alpha", 1.0f) != 1.0f)
        return false;
    g->bias = cc;
    return !cc || (cc->dtype == LP_F32 && lp_attr_float(n, "beta", 1.0f) == 1.0f && lp_tensor_numel(cc) == g->N &&
                   (cc->ndim == 1 || (cc->ndim == 2 && cc->dims[0] == 1)));
}

/* Training forward: oneDNN's inner product where the Gemm is one, else the op's kernel. */
static lp_status gemm_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    ip_geom g;
    if (gemm_is_ip(c->node, c->n_in, c->in, &g)) {
        lp_status st = lp_dnt_ip_forward((lp_dnt_op **)f->cache, g.M, g.K, g.N, g.transB, c->in[0]->data,
                                         c->in[1]->data, g.bias ? g.bias->data : NULL, c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    } else if (gemm_dims(c->node, c->n_in, c->in, &g)) { /* the other forms: a matmul, then beta C */
        const lp_tensor *cc = c->n_in > 2 ? c->in[2] : NULL;
        float beta = lp_attr_float(c->node, "beta", 1.0f);
        lp_status st = lp_dnt_gemm_forward((lp_dnt_op **)f->cache, g.M, g.K, g.N, g.transA, g.transB,
                                           lp_attr_float(c->node, "alpha", 1.0f), c->in[0]->data, c->in[1]->data,
                                           c->out[0]->data);
        if (st == LP_OK && cc && beta != 0.0f) {
            int64_t yd[2] = { g.M, g.N }, cs[2];
            lp_broadcast_strides(cc->ndim, cc->dims, 2, yd, cs);
            float *y = c->out[0]->data;
            const float *cd = cc->data;
            for (int64_t i = 0; i < g.M; i++)
                for (int64_t j = 0; j < g.N; j++)
                    y[i * g.N + j] += beta * cd[i * cs[0] + j * cs[1]];
        }
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_op_get(c->node->op)->run(c);
}

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
    ip_geom ip;
    if (gemm_is_ip(c->node, c->n_in, c->in, &ip)) {
        float *dbias = ip.bias && c->din[2] ? c->din[2]->data : NULL;
        lp_status fast = lp_dnt_ip_backward((lp_dnt_op **)c->cache, M, K, N, tb, ip.bias != NULL, A, B, g,
                                            c->din[0] ? c->din[0]->data : NULL, c->din[1] ? c->din[1]->data : NULL,
                                            dbias, c->din_fresh);
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    if (gemm_dims(c->node, c->n_in, c->in, &ip)) { /* the other forms: dA, dB as matmuls */
        lp_status fast = lp_dnt_gemm_backward((lp_dnt_op **)c->cache, M, K, N, ta, tb, alpha, A, B, g,
                                              c->din[0] ? c->din[0]->data : NULL,
                                              c->din[1] ? c->din[1]->data : NULL, c->din_fresh);
        if (fast == LP_OK && c->n_in > 2 && c->in[2] && c->din[2]) {
            if (c->din_fresh & 4u)
                memset(c->din[2]->data, 0, c->din[2]->nbytes);
            int64_t od[2] = { M, N };
            lp_grad_unbroadcast(c->in[2], 2, od, g, beta, c->din[2]->data);
        }
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    lp_grad_zero_fresh(c); /* the products below add */
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

const lp_grad_def lp_graddef_Gemm = { .name = "Gemm", .diff_in = 7, .param_in = 7, .forward = gemm_forward,
                                      .backward = gemm_bw, .free_cache = lp_dnt_op_free, .bwd_overwrites = true };

/* The MatMul as nb dense products (M,K) x (K,N) for oneDNN's matmul: a shared 2-D B (a
 * transformer's weight: A's batch folds into M), or equal batch dims on both sides (attention's
 * products). False for the other broadcasts and for 1-D operands (the loops run those). */
static bool mm_dense(const lp_tensor *a, const lp_tensor *b, int64_t *nb, int64_t *M, int64_t *K, int64_t *N)
{
    if (a->dtype != LP_F32 || b->dtype != LP_F32 || a->ndim < 2 || b->ndim < 2 ||
        a->dims[a->ndim - 1] != b->dims[b->ndim - 2])
        return false;
    *K = a->dims[a->ndim - 1];
    *N = b->dims[b->ndim - 1];
    if (b->ndim == 2) {
        *nb = 1;
        *M = *K ? lp_tensor_numel(a) / *K : 0;
    } else {
        if (a->ndim != b->ndim)
            return false;
        for (int i = 0; i < a->ndim - 2; i++)
            if (a->dims[i] != b->dims[i])
                return false;
        *M = a->dims[a->ndim - 2];
        *nb = lp_numel(a->ndim - 2, a->dims);
    }
    return *nb > 0 && *M > 0 && *K > 0 && *N > 0;
}

/* Training forward: oneDNN's matmul where the product is dense (mm_dense), else the op's kernel. */
static lp_status matmul_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    int64_t nb, M, K, N;
    if (c->n_in >= 2 && c->in[0] && c->in[1] && mm_dense(c->in[0], c->in[1], &nb, &M, &K, &N)) {
        lp_status st = lp_dnt_mm_forward((lp_dnt_op **)f->cache, nb, M, K, N, c->in[0]->data, c->in[1]->data,
                                         c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    } else if (c->n_in >= 2 && c->in[0] && c->in[1] && c->in[0]->dtype == LP_F32 && c->in[1]->dtype == LP_F32) {
        lp_matmul mm; /* broadcasting: one batched matmul */
        lp_status st = lp_matmul_setup(c->node, c->in[0], c->in[1], &mm);
        if (st == LP_OK)
            st = lp_dnt_bmm_forward((lp_dnt_op **)f->cache, &mm, c->in[0]->data, c->in[1]->data, c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_grad_run_kernel(f);
}

/* numpy matmul with broadcast batch dims: per batch element, dA += g B^T, dB += A^T g (a
 * broadcast operand gets the sum over the batch elements that shared it); as oneDNN matmuls
 * where the product is dense, else as batched matmuls over the full batch summed after. */
static lp_status matmul_bw(const lp_grad_ctx *c)
{
    const lp_tensor *a = c->in[0], *b = c->in[1];
    LP_TRY(lp_grad_want_f32(c, a, "A"));
    LP_TRY(lp_grad_want_f32(c, b, "B"));
    int64_t nb, dM, dK, dN;
    if (mm_dense(a, b, &nb, &dM, &dK, &dN)) {
        lp_status fast = lp_dnt_mm_backward((lp_dnt_op **)c->cache, nb, dM, dK, dN, a->data, b->data,
                                            c->dout[0]->data, c->din[0] ? c->din[0]->data : NULL,
                                            c->din[1] ? c->din[1]->data : NULL, c->din_fresh);
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    lp_matmul mm;
    LP_TRY(lp_matmul_setup(c->node, a, b, &mm));
    if (!mm_dense(a, b, &nb, &dM, &dK, &dN)) { /* broadcasting: batched matmuls, then the sums */
        lp_status fast = lp_dnt_bmm_backward((lp_dnt_op **)c->cache, &mm, a->data, b->data, c->dout[0]->data,
                                             c->din[0] ? c->din[0]->data : NULL, c->din[1] ? c->din[1]->data : NULL,
                                             c->din_fresh, lp_tensor_numel(a), lp_tensor_numel(b));
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    lp_grad_zero_fresh(c); /* the products below add */
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

const lp_grad_def lp_graddef_MatMul = { .name = "MatMul", .diff_in = 3, .param_in = 3, .forward = matmul_forward,
                                        .backward = matmul_bw, .free_cache = lp_dnt_op_free,
                                        .fwd_overwrites = true, .bwd_overwrites = true };
