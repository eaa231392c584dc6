/* grad_util.c — the backward kernels' table lookup and shared helpers (broadcast reduction,
 * strided matrix products). */
#include <stdlib.h>
#include <string.h>

#include "ops/gemm_ref.h"
#include "train/grad.h"

#define LP_GRAD_PTR(name) &lp_graddef_##name,
static const lp_grad_def *const grad_table[] = { LP_GRAD_ROWS(LP_GRAD_PTR) };
#undef LP_GRAD_PTR

int lp_grad_count(void) { return (int)(sizeof grad_table / sizeof grad_table[0]); }

const lp_grad_def *lp_grad_at(int i)
{
    return i >= 0 && i < lp_grad_count() ? grad_table[i] : NULL;
}

const lp_grad_def *lp_grad_find(const char *domain, const char *op_type)
{
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0)
        return NULL;
    for (int i = 0; i < lp_grad_count(); i++)
        if (strcmp(grad_table[i]->name, op_type) == 0)
            return grad_table[i];
    return NULL;
}

int64_t *lp_grad_bcast_offsets(int in_nd, const int64_t *in_dims, int out_nd, const int64_t *out_dims)
{
    int64_t strides[LP_MAX_DIMS];
    lp_broadcast_strides(in_nd, in_dims, out_nd, out_dims, strides);
    int64_t n = lp_numel(out_nd, out_dims);
    int64_t *off = malloc((size_t)(n > 0 ? n : 1) * sizeof *off);
    if (!off)
        return NULL;
    int64_t idx[LP_MAX_DIMS] = { 0 }, o = 0;
    for (int64_t i = 0; i < n; i++) {
        off[i] = o;
        lp_index_next(out_nd, out_dims, idx, strides, &o); /* the input offset in step */
    }
    return off;
}

void lp_grad_unbroadcast(const lp_tensor *in, int out_nd, const int64_t *out_dims, const float *g,
                         float scale, float *din)
{
    int64_t n = lp_numel(out_nd, out_dims);
    if (in->ndim == out_nd && memcmp(in->dims, out_dims, (size_t)out_nd * sizeof *out_dims) == 0) {
        for (int64_t i = 0; i < n; i++)
            din[i] += scale * g[i];
        return;
    }
    if (lp_tensor_numel(in) == 1) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            s += g[i];
        din[0] += scale * (float)s;
        return;
    }
    int64_t strides[LP_MAX_DIMS];
    lp_broadcast_strides(in->ndim, in->dims, out_nd, out_dims, strides);
    int64_t idx[LP_MAX_DIMS] = { 0 }, o = 0;
    for (int64_t i = 0; i < n; i++) {
        din[o] += scale * g[i];
        lp_index_next(out_nd, out_dims, idx, strides, &o);
    }
}

lp_status lp_grad_matmul(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t ars,
                         int64_t acs, const float *B, int64_t brs, int64_t bcs, float beta, float *C)
{
    if (M <= 0 || N <= 0)
        return LP_OK;
    if (K <= 0) {
        for (int64_t i = 0; i < M * N; i++)
            C[i] = beta == 0 ? 0.0f : beta * C[i];
        return LP_OK;
    }
    float *tmp = NULL;
    if (bcs != 1) {
        tmp = malloc((size_t)(K * N) * sizeof *tmp);
        if (!tmp)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for a %lldx%lld gradient product",
                            (long long)K, (long long)N);
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++)
                tmp[k * N + j] = B[k * brs + j * bcs];
        B = tmp;
        brs = N;
    }
    lp_gemm_f32(M, N, K, alpha, A, ars, acs, B, brs, beta, C, N);
    free(tmp);
    return LP_OK;
}

lp_status lp_grad_run_kernel(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    for (int k = 0; k < c->n_out; k++)
        if (c->out[k] && c->out[k]->nbytes)
            memset(c->out[k]->data, 0, c->out[k]->nbytes);
    return lp_op_get(c->node->op)->run(c);
}

void lp_grad_zero_fresh(const lp_grad_ctx *c)
{
    for (int k = 0; k < c->n_in && k < 32; k++)
        if ((c->din_fresh >> k & 1u) && c->din[k])
            memset(c->din[k]->data, 0, c->din[k]->nbytes);
}

lp_status lp_grad_want_f32(const lp_grad_ctx *c, const lp_tensor *t, const char *what)
{
    if (!t || t->dtype != LP_F32)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "backward: %s is %s; float32 is supported", what,
                             t ? lp_dtype_traits_of(t->dtype)->name : "missing");
    return LP_OK;
}
