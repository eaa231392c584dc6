/* gemm_ref.h — plain blocked matrix products behind the reference Conv, Gemm, MatMul and
 * their integer twins. Row-major throughout; B's columns and C's columns are contiguous. */
#ifndef LP_GEMM_REF_H
#define LP_GEMM_REF_H

#include <stdint.h>

/* C (M,N; row stride ldc) = alpha * A (M,K) * B (K,N; row stride ldb) + beta * C.
 * A is read through strides (rsa between rows, csa between columns), so a transposed A is
 * passed as rsa = 1, csa = lda without a copy. beta == 0 overwrites C without reading it.
 * Accumulates in float, four rows of C at a time over a block of columns. */
void lp_gemm_f32(int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t rsa, int64_t csa,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* The same product in int32 arithmetic: C = A * B, or C += A * B when `accumulate`.
 * Exact as long as the sums fit int32: callers with 8-bit operands (|a|, |b| <= 255 after
 * zero-point subtraction) keep K <= LP_GEMM_I32_MAX_K. */
#define LP_GEMM_I32_MAX_K 33000
void lp_gemm_i32(int64_t M, int64_t N, int64_t K,
                 const int32_t *A, int64_t rsa, int64_t csa,
                 const int32_t *B, int64_t ldb, int accumulate, int32_t *C, int64_t ldc);

#endif
