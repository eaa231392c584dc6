/* dnnl_nn.h — oneDNN twins of the training forwards and backwards of the activations
 * (eltwise), pooling, BatchNormalization, LayerNormalization, Softmax/LogSoftmax, Gemm (inner
 * product; its other forms as matmuls) and MatMul (matmul, broadcasting too), on the tape's
 * plain layouts (dnnl_nn.c). Each returns LOWP_ERR_UNSUPPORTED, without a message, when oneDNN does not
 * take the case (or LOWP_KERNELS=reference): the caller then runs its reference loops. A
 * backward ADDS into its gradients, or writes them where `fresh` says they hold nothing yet
 * (grad.h's din_fresh). The primitives live in the node's tape cache (lp_dnt_op_free). */
#ifndef LP_TRAIN_DNNL_NN_H
#define LP_TRAIN_DNNL_NN_H

#include <oneapi/dnnl/dnnl.h>

#include "ops/conv_ref.h"
#include "ops/matmul_ref.h"

typedef struct lp_dnt_op lp_dnt_op;
void lp_dnt_op_free(void *state);

/* y = f(x) over n values; oneDNN's eltwise algorithm `alg` with its alpha, beta. */
lp_status lp_dnt_eltwise_forward(lp_dnt_op **cache, dnnl_alg_kind_t alg, float alpha, float beta, int64_t n,
                                 const float *x, float *y);
/* dx (+)= dy * f'(data): data is x, or y for the *_use_dst_for_bwd algorithms. */
lp_status lp_dnt_eltwise_backward(lp_dnt_op **cache, dnnl_alg_kind_t alg, float alpha, float beta, int64_t n,
                                  const float *data, const float *dy, float *dx, bool fresh);

/* Max (with its workspace: the backward needs the forward run here) or average pooling
 * (dnnl_pooling_max, dnnl_pooling_avg_include_padding / _exclude_padding) of planes
 * (N, C) over window w (2-D or 3-D only... or 1-D: any nsp the window has). */
lp_status lp_dnt_pool_forward(lp_dnt_op **cache, dnnl_alg_kind_t alg, int64_t N, int64_t C, const lp_window *w,
                              const float *x, float *y);
lp_status lp_dnt_pool_backward(lp_dnt_op **cache, dnnl_alg_kind_t alg, int64_t N, int64_t C, const lp_window *w,
                               const float *dy, float *dx, bool fresh);

/* Training-mode batch normalization of x (N, C, S) with per-channel scale and shift: y, and the
 * batch mean and (population) variance per channel (the caller moves the running statistics).
 * x and y in oneDNN layout `lay` (the tape's blocked activations, (N, C, spatial...)), or plain
 * with lay NULL. */
lp_status lp_dnt_bn_forward(lp_dnt_op **cache, const dnnl_memory_desc_t *lay, int64_t N, int64_t C, int64_t S,
                            float eps, const float *x, const float *scale, const float *shift, float *y, float *mean,
                            float *var);
/* Its backward through the batch statistics: dx, dscale, dshift (each may be NULL) -- written
 * where bit 0, 1, 2 of `fresh` is set, added to otherwise; x, dy and dx in layout `lay`. */
lp_status lp_dnt_bn_backward(lp_dnt_op **cache, const dnnl_memory_desc_t *lay, int64_t N, int64_t C, int64_t S,
                             float eps, const float *x, const float *mean, const float *var, const float *scale,
                             const float *shift, const float *dy, float *dx, float *dscale, float *dshift,
                             unsigned fresh);

/* Softmax (log: LogSoftmax) of x viewed as (outer, n, inner) along n. */
lp_status lp_dnt_softmax_forward(lp_dnt_op **cache, bool log, int64_t outer, int64_t n, int64_t inner,
                                 const float *x, float *y);
/* dx (+)= its backward from the output y and dy. */
lp_status lp_dnt_softmax_backward(lp_dnt_op **cache, bool log, int64_t outer, int64_t n, int64_t inner,
                                  const float *y, const float *dy, float *dx, bool fresh);

/* Gemm as an inner product: y (M,N) = a (M,K) B' + bias, B' = B^T for B (N,K) (transB) or B
 * for B (K,N); bias (N) or NULL. */
lp_status lp_dnt_ip_forward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool transB, const float *a,
                            const float *b, const float *bias, float *y);
/* da, db (B's shape), dbias (each may be NULL) (+)= its gradients; bits 0, 1, 2 of `fresh`:
 * written instead of added. `bias`: the forward had one. */
lp_status lp_dnt_ip_backward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool transB, bool bias,
                             const float *a, const float *b, const float *dy, float *da, float *db, float *dbias,
                             unsigned fresh);

/* Layer normalization of x viewed as (rows, D) with per-position scale and shift (D; shift may
 * be NULL): y. The rows' mean and variance stay in the state for the backward. */
lp_status lp_dnt_ln_forward(lp_dnt_op **cache, int64_t rows, int64_t D, float eps, const float *x, const float *scale,
                            const float *shift, float *y);
/* Its backward (the forward must have run here: LOWP_ERR_UNSUPPORTED otherwise): dx, dscale,
 * dshift (each may be NULL) -- written where bit 0, 1, 2 of `fresh` is set, added to otherwise. */
lp_status lp_dnt_ln_backward(lp_dnt_op **cache, int64_t rows, int64_t D, float eps, const float *x, const float *scale,
                             const float *shift, const float *dy, float *dx, float *dscale, float *dshift,
                             unsigned fresh);

/* A batch of nb matrix products y (M,N) = a (M,K) b (K,N), all dense row-major. */
lp_status lp_dnt_mm_forward(lp_dnt_op **cache, int64_t nb, int64_t M, int64_t K, int64_t N, const float *a,
                            const float *b, float *y);
/* Its backward as matmuls: da (+)= dy b^T, db (+)= a^T dy (each may be NULL); bits 0, 1 of
 * `fresh`: written instead of added. */
lp_status lp_dnt_mm_backward(lp_dnt_op **cache, int64_t nb, int64_t M, int64_t K, int64_t N, const float *a,
                             const float *b, const float *dy, float *da, float *db, unsigned fresh);

/* numpy's broadcasting MatMul (mm: lp_matmul_setup's walk, 2-D matrices; the dense forms above
 * are faster where they apply) as one batched matmul whose operands broadcast their batch dims. */
lp_status lp_dnt_bmm_forward(lp_dnt_op **cache, const lp_matmul *mm, const float *a, const float *b, float *y);
/* Its backward: da (na values), db (nbv) (+)= dY B^T, A^T dY as batched matmuls over the full
 * batch, summed over the batch elements an operand broadcast to; bits 0, 1 of `fresh` as above. */
lp_status lp_dnt_bmm_backward(lp_dnt_op **cache, const lp_matmul *mm, const float *a, const float *b, const float *dy,
                              float *da, float *db, unsigned fresh, int64_t na, int64_t nbv);

/* Gemm's product in any form: y (M,N) = alpha A' B', A' = A^T (A stored (K,M)) with ta, else A
 * (M,K); B' likewise. The caller adds beta C. */
lp_status lp_dnt_gemm_forward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool ta, bool tb, float alpha,
                              const float *a, const float *b, float *y);
/* da, db (the stored shapes; each may be NULL) (+)= alpha dY B'^T, alpha A'^T dY (transposed
 * back where A, B are stored transposed); bits 0, 1 of `fresh` as above. */
lp_status lp_dnt_gemm_backward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool ta, bool tb, float alpha,
                               const float *a, const float *b, const float *dy, float *da, float *db, unsigned fresh);

#endif
