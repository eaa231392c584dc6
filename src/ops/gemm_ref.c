/* gemm_ref.c — reference matrix products: C is computed in 4 x 16 tiles whose accumulators
 * stay in registers while the reduction runs over K; B is read row by row (16 contiguous
 * values), A one broadcast value per row. Each C element is a plain in-order sum over K, so
 * results are the same bits whichever tile path or instruction set computed them. */
#include "ops/gemm_ref.h"

#include <string.h>

#define MR 4  /* rows of C per tile */
#define NR 16 /* columns of C per tile */

/* The tile loop is compiled for several instruction sets and picked at load time (GCC
 * function multi-versioning); without contraction (ISO C mode) every clone rounds alike. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LP_CLONES
#endif

/* acc (MR, NR) = sum over p of a[r][p * csa] * B[p][0 .. NR) for the MR rows a[r]. */
#define DEFINE_TILE(name, T)                                                                \
    LP_CLONES static void name(int64_t K, const T *const *a, int64_t csa, const T *B,        \
                               int64_t ldb, T acc[MR][NR])                                  \
    {                                                                                       \
        T c[MR][NR] = { { 0 } };                                                            \
        for (int64_t p = 0; p < K; p++) {                                                   \
            const T *b = B + p * ldb;                                                       \
            _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                          \
                T av = a[r][p * csa];                                                       \
                _Pragma("GCC unroll 16") for (int j = 0; j < NR; j++) c[r][j] += av * b[j]; \
            }                                                                               \
        }                                                                                   \
        memcpy(acc, c, sizeof c);                                                           \
    }

DEFINE_TILE(tile_f32, float)
DEFINE_TILE(tile_i32, int32_t)

/* The tiling walk: column strips of NR (B's strip stays in cache across all rows), MR rows
 * at a time. A short last row block repeats its last row (the extra results are dropped);
 * a narrow last strip takes a plain loop. STORE(i, j, v) writes the finished sum v. */
#define GEMM_BODY(T, TILE, STORE)                                                          \
    for (int64_t j0 = 0; j0 < N; j0 += NR) {                                               \
        int64_t nb = N - j0 < NR ? N - j0 : NR;                                            \
        for (int64_t i0 = 0; i0 < M; i0 += MR) {                                           \
            int64_t mb = M - i0 < MR ? M - i0 : MR;                                        \
            T acc[MR][NR];                                                                 \
            if (nb == NR) {                                                                \
                const T *rows[MR];                                                         \
                for (int r = 0; r < MR; r++)                                               \
                    rows[r] = A + (i0 + (r < mb ? r : mb - 1)) * rsa;                      \
                TILE(K, rows, csa, B + j0, ldb, acc);                                      \
            } else {                                                                       \
                memset(acc, 0, sizeof acc);                                                \
                for (int64_t p = 0; p < K; p++)                                            \
                    for (int64_t r = 0; r < mb; r++) {                                     \
                        T av = A[(i0 + r) * rsa + p * csa];                                \
                        for (int64_t j = 0; j < nb; j++)                                   \
                            acc[r][j] += av * B[p * ldb + j0 + j];                         \
                    }                                                                      \
            }                                                                              \
            for (int64_t r = 0; r < mb; r++)                                               \
                for (int64_t j = 0; j < nb; j++)                                           \
                    STORE(i0 + r, j0 + j, acc[r][j]);                                      \
        }                                                                                  \
    }

void lp_gemm_f32(int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t rsa, int64_t csa,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
#define STORE_F32(i, j, v) \
    (C[(i) * ldc + (j)] = beta == 0.0f ? alpha * (v) : alpha * (v) + beta * C[(i) * ldc + (j)])
    GEMM_BODY(float, tile_f32, STORE_F32)
#undef STORE_F32
}

void lp_gemm_i32(int64_t M, int64_t N, int64_t K,
                 const int32_t *A, int64_t rsa, int64_t csa,
                 const int32_t *B, int64_t ldb, int accumulate, int32_t *C, int64_t ldc)
{
#define STORE_I32(i, j, v) (C[(i) * ldc + (j)] = accumulate ? C[(i) * ldc + (j)] + (v) : (v))
    GEMM_BODY(int32_t, tile_i32, STORE_I32)
#undef STORE_I32
}
