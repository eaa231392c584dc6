/* quant.h — what quant.c's integer kernels share with the com.microsoft quantized ops
 * (quant_contrib.c). */
#ifndef LP_OPS_QUANT_H
#define LP_OPS_QUANT_H

#include "ops/matmul_ref.h"
#include "ops/op.h"

/* a: (..., M, K), b: (..., K, N) u8/i8 -> acc: (..., M, N) int32 = (a - a_zp) * (b - b_zp),
 * zero points (may be NULL) per tensor, per row of a / column of b; errors name c's node. */
lp_status lp_qmatmul_acc(const lp_run_ctx *c, const lp_tensor *a, const lp_tensor *azp, const lp_tensor *b,
                         const lp_tensor *bzp, lp_matmul *mm, int32_t *acc);

/* DynamicQuantizeLinear of x[0..n): y (uint8), *scale = (max(0, max x) - min(0, min x)) / 255,
 * *zp = saturate(round(-min / scale)), y = saturate(round(x / scale) + zp); all zeros give 0. */
void lp_dynamic_quantize(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zp);
/* Its three parts, for callers that split x (the oneDNN backend's threads): the range of
 * x[0..n) including 0, NaN ignored (ranges of pieces combine by min/max); the scale and zero
 * point of a range; the quantization of x[0..n) with them. */
void lp_dynamic_range(const float *x, int64_t n, float *mn, float *mx);
void lp_dynamic_params(float mn, float mx, float *scale, uint8_t *zp);
void lp_dynamic_apply(const float *x, int64_t n, uint8_t *y, float scale, uint8_t zp);

#endif
