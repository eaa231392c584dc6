/* test_ops_linalg.c — Gemm, MatMul and Einsum against independent naive double-precision
 * loops on random shapes (fixed seed, odd sizes, transposes, broadcasting), plus inference
 * with unknown dims and the error paths. */
#include <stdint.h>

#include "test.h"

#include "op_harness.h"

/* ---------------- Gemm ---------------- */

static void test_gemm_random(void)
{
    rng_seed(11);
    /* C layouts: none, scalar, (N), (1,N), (M,1), (M,N) */
    for (int trial = 0; trial < 72; trial++) {
        int64_t M = rng_int(1, 40), N = rng_int(1, 40), K = rng_int(1, 70);
        int ta = trial & 1, tb = (trial >> 1) & 1, cl = (trial >> 2) % 6;
        float alpha = trial % 5 == 0 ? 1.0f : rng_float() * 2, beta = trial % 7 == 0 ? 1.0f : rng_float() * 2;
        tcase t = mk("Gemm", cl ? 3 : 2, 1);
        attr_int(&t, "transA", ta);
        attr_int(&t, "transB", tb);
        attr_float(&t, "alpha", alpha);
        attr_float(&t, "beta", beta);
        int64_t cd[6][2] = { { 0 }, { 0 }, { N }, { 1, N }, { M, 1 }, { M, N } };
        int cnd[6] = { 0, 0, 1, 2, 2, 2 };
        lp_tensor *in[3] = { rand_f32(2, ta ? D(K, M) : D(M, K)), rand_f32(2, tb ? D(N, K) : D(K, N)),
                             cl ? rand_f32(cnd[cl], cd[cl]) : NULL }, *y[1];
        CHECK_OK(eval(&t, 13, cl ? 3 : 2, in, 1, y));
        CHECK(dims_are(y[0], 2, D(M, N)));
        if (dims_are(y[0], 2, D(M, N))) {
            const float *a = in[0]->data, *b = in[1]->data, *c = cl ? in[2]->data : NULL;
            int bad = 0;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0, mag = 0;
                    for (int64_t p = 0; p < K; p++) {
                        double v = (double)a[ta ? p * M + i : i * K + p] * b[tb ? j * K + p : p * N + j];
                        s += v;
                        mag += fabs(v);
                    }
                    double cv = 0;
                    if (cl == 1) cv = c[0];
                    if (cl == 2 || cl == 3) cv = c[j];
                    if (cl == 4) cv = c[i];
                    if (cl == 5) cv = c[i * N + j];
                    double want = alpha * s + beta * cv;
                    bad += !close_to(((float *)y[0]->data)[i * N + j], want, fabs(alpha) * mag + fabs(beta * cv), K);
                }
            CHECK_MSG(bad == 0, "trial %d (M %lld N %lld K %lld ta %d tb %d C %d): %d off", trial, (long long)M,
                      (long long)N, (long long)K, ta, tb, cl, bad);
        }
        done(&t, 3, in, 1, y);
    }
}

static void test_gemm_errors_and_infer(void)
{
    tcase t = mk("Gemm", 2, 1);
    attr_int(&t, "transB", 1);
    lp_vinfo a = { .dtype = LP_F32, .shape = { 2, { LP_DIM_SYM0, 64 } } };
    lp_vinfo b = { .dtype = LP_F32, .shape = { 2, { 10, LP_DIM_UNKNOWN } } };
    const lp_vinfo *in[2] = { &a, &b };
    lp_vinfo out[1];
    CHECK_OK(infer_only(&t, 13, 2, in, 1, out));
    CHECK(out[0].shape.ndim == 2 && out[0].shape.d[0] == LP_DIM_SYM0 && out[0].shape.d[1] == 10);
    b.shape.d[1] = 63;
    CHECK(infer_only(&t, 13, 2, in, 1, out) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "n0") != NULL);
    /* before opset 11, C is required */
    b.shape.d[1] = 64;
    CHECK(infer_only(&t, 9, 2, in, 1, out) == LOWP_ERR_FORMAT);
    lp_graph_free(t.g);
    /* C that does not broadcast */
    t = mk("Gemm", 3, 1);
    lp_tensor *tin[3] = { rand_f32(2, D(3, 4)), rand_f32(2, D(4, 5)), rand_f32(1, D(3)) }, *y[1];
    CHECK(eval(&t, 13, 3, tin, 1, y) == LOWP_ERR_SHAPE);
    done(&t, 3, tin, 1, y);
}

/* ---------------- MatMul ---------------- */

static void test_matmul_shapes(void)
{
    rng_seed(12);
    struct { int na; int64_t a[4]; int nb; int64_t b[4]; int ny; int64_t y[4]; } cs[] = {
        { 1, { 7 }, 1, { 7 }, 0, { 0 } },
        { 1, { 5 }, 2, { 5, 3 }, 1, { 3 } },
        { 2, { 4, 6 }, 1, { 6 }, 1, { 4 } },
        { 2, { 9, 17 }, 2, { 17, 33 }, 2, { 9, 33 } },
        { 3, { 3, 5, 7 }, 2, { 7, 18 }, 3, { 3, 5, 18 } },
        { 2, { 5, 7 }, 3, { 3, 7, 2 }, 3, { 3, 5, 2 } },
        { 4, { 2, 1, 3, 4 }, 3, { 3, 4, 5 }, 4, { 2, 3, 3, 5 } },
        { 3, { 1, 6, 4 }, 3, { 4, 4, 3 }, 3, { 4, 6, 3 } },
        { 3, { 2, 3, 4 }, 1, { 4 }, 2, { 2, 3 } },
        { 1, { 4 }, 3, { 2, 4, 3 }, 2, { 2, 3 } },
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        tcase t = mk("MatMul", 2, 1);
        lp_tensor *in[2] = { rand_f32(cs[k].na, cs[k].a), rand_f32(cs[k].nb, cs[k].b) }, *y[1];
        CHECK_OK(eval(&t, 13, 2, in, 1, y));
        CHECK_MSG(dims_are(y[0], cs[k].ny, cs[k].y), "case %zu: shape", k);
        if (dims_are(y[0], cs[k].ny, cs[k].y)) {
            /* independent reference: promote to rank 4 with explicit broadcast indices */
            int64_t A[4] = { 1, 1, 1, 1 }, B[4] = { 1, 1, 1, 1 };
            if (cs[k].na == 1) A[3] = cs[k].a[0];
            else for (int i = 0; i < cs[k].na; i++) A[4 - cs[k].na + i] = cs[k].a[i];
            if (cs[k].nb == 1) B[2] = cs[k].b[0];
            else for (int i = 0; i < cs[k].nb; i++) B[4 - cs[k].nb + i] = cs[k].b[i];
            int64_t b0 = A[0] > B[0] ? A[0] : B[0], b1 = A[1] > B[1] ? A[1] : B[1], M = A[2], Kd = A[3], N = B[3];
            const float *a = in[0]->data, *b = in[1]->data, *yv = y[0]->data;
            int bad = 0;
            for (int64_t i0 = 0; i0 < b0; i0++)
                for (int64_t i1 = 0; i1 < b1; i1++)
                    for (int64_t r = 0; r < M; r++)
                        for (int64_t c = 0; c < N; c++) {
                            double s = 0, mag = 0;
                            for (int64_t p = 0; p < Kd; p++) {
                                double v = (double)a[(((i0 % A[0]) * A[1] + i1 % A[1]) * M + r) * Kd + p] *
                                           b[(((i0 % B[0]) * B[1] + i1 % B[1]) * Kd + p) * N + c];
                                s += v;
                                mag += fabs(v);
                            }
                            bad += !close_to(yv[((i0 * b1 + i1) * M + r) * N + c], s, mag, Kd);
                        }
            CHECK_MSG(bad == 0, "case %zu: %d off", k, bad);
        }
        done(&t, 2, in, 1, y);
    }
}

static void test_matmul_int_and_infer(void)
{
    /* int32 inputs take the generic path, exactly */
    tcase t = mk("MatMul", 2, 1);
    lp_tensor *in[2] = { I32(2, D(2, 3), 1, 2, 3, 4, 5, 6), I32(2, D(3, 2), 7, 8, 9, 10, 11, 12) }, *y[1];
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_I32);
    const int32_t want[4] = { 58, 64, 139, 154 };
    for (int i = 0; y[0] && i < 4; i++)
        CHECK(((int32_t *)y[0]->data)[i] == want[i]);
    done(&t, 2, in, 1, y);
    /* unknown batch dims stay unknown */
    t = mk("MatMul", 2, 1);
    lp_vinfo a = { .dtype = LP_F32, .shape = { 3, { LP_DIM_SYM0, 4, 8 } } };
    lp_vinfo b = { .dtype = LP_F32, .shape = { 2, { 8, 16 } } };
    const lp_vinfo *vin[2] = { &a, &b };
    lp_vinfo out[1];
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, out));
    CHECK(out[0].shape.ndim == 3 && out[0].shape.d[0] == LP_DIM_SYM0 && out[0].shape.d[2] == 16);
    lp_vinfo r = { .dtype = LP_F32, .shape = { .ndim = -1 } };
    vin[1] = &r;
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, out));
    CHECK(out[0].shape.ndim == -1);
    b.shape.d[0] = 9;
    vin[1] = &b;
    CHECK(infer_only(&t, 13, 2, vin, 1, out) == LOWP_ERR_SHAPE);
    lp_graph_free(t.g);
}

/* ---------------- Einsum ---------------- */

/* Reference for the cases below: explicit loops per equation, in double. */
static void test_einsum_forms(void)
{
    rng_seed(13);
    const int I = 3, J = 4, K = 5, B = 2, H = 2;
    /* ij,jk->ik */
    {
        tcase t = mk("Einsum", 2, 1);
        attr_str(&t, "equation", "ij,jk->ik");
        lp_tensor *in[2] = { rand_f32(2, D(I, J)), rand_f32(2, D(J, K)) }, *y[1];
        CHECK_OK(eval(&t, 12, 2, in, 1, y));
        CHECK(dims_are(y[0], 2, D(I, K)));
        const float *a = in[0]->data, *b = in[1]->data;
        for (int i = 0; y[0] && i < I; i++)
            for (int k = 0; k < K; k++) {
                double s = 0;
                for (int j = 0; j < J; j++)
                    s += (double)a[i * J + j] * b[j * K + k];
                CHECK_NEAR(((float *)y[0]->data)[i * K + k], s, 1e-6);
            }
        done(&t, 2, in, 1, y);
    }
    /* implicit output: "ij,jk" is "ik"; with spaces */
    {
        tcase t = mk("Einsum", 2, 1);
        attr_str(&t, "equation", "ij, jk");
        lp_tensor *in[2] = { rand_f32(2, D(I, J)), rand_f32(2, D(J, K)) }, *y[1];
        CHECK_OK(eval(&t, 12, 2, in, 1, y));
        CHECK(dims_are(y[0], 2, D(I, K)));
        done(&t, 2, in, 1, y);
    }
    /* bhid,bhjd->bhij (attention scores) */
    {
        tcase t = mk("Einsum", 2, 1);
        attr_str(&t, "equation", "bhid,bhjd->bhij");
        lp_tensor *in[2] = { rand_f32(4, D(B, H, I, K)), rand_f32(4, D(B, H, J, K)) }, *y[1];
        CHECK_OK(eval(&t, 12, 2, in, 1, y));
        CHECK(dims_are(y[0], 4, D(B, H, I, J)));
        const float *q = in[0]->data, *k = in[1]->data;
        int bad = 0;
        for (int bh = 0; y[0] && bh < B * H; bh++)
            for (int i = 0; i < I; i++)
                for (int j = 0; j < J; j++) {
                    double s = 0;
                    for (int d = 0; d < K; d++)
                        s += (double)q[(bh * I + i) * K + d] * k[(bh * J + j) * K + d];
                    bad += fabs(((float *)y[0]->data)[(bh * I + i) * J + j] - s) > 1e-6;
                }
        CHECK(bad == 0);
        done(&t, 2, in, 1, y);
    }
    /* transpose, row sums, diagonal, trace-like total, inner product */
    {
        const char *eqs[] = { "ij->ji", "ij->i", "ii->i", "ii", "ij->" };
        for (int e = 0; e < 5; e++) {
            tcase t = mk("Einsum", 1, 1);
            attr_str(&t, "equation", eqs[e]);
            int64_t r = e == 2 || e == 3 ? J : I;
            lp_tensor *in[1] = { rand_f32(2, D(r, J)) }, *y[1];
            CHECK_OK(eval(&t, 12, 1, in, 1, y));
            const float *x = in[0]->data, *yv = y[0] ? y[0]->data : NULL;
            if (!yv)
                continue;
            if (e == 0) {
                CHECK(dims_are(y[0], 2, D(J, I)));
                for (int i = 0; i < I; i++)
                    for (int j = 0; j < J; j++)
                        CHECK(yv[j * I + i] == x[i * J + j]);
            } else if (e == 1) {
                CHECK(dims_are(y[0], 1, D(I)));
                for (int i = 0; i < I; i++) {
                    double s = 0;
                    for (int j = 0; j < J; j++)
                        s += x[i * J + j];
                    CHECK_NEAR(yv[i], s, 1e-6);
                }
            } else if (e == 2) {
                CHECK(dims_are(y[0], 1, D(J)));
                for (int i = 0; i < J; i++)
                    CHECK(yv[i] == x[i * J + i]);
            } else if (e == 3) { /* implicit: a repeated label is summed: the trace */
                CHECK(y[0]->ndim == 0);
                double s = 0;
                for (int i = 0; i < J; i++)
                    s += x[i * J + i];
                CHECK_NEAR(yv[0], s, 1e-6);
            } else {
                CHECK(y[0]->ndim == 0);
                double s = 0;
                for (int i = 0; i < I * J; i++)
                    s += x[i];
                CHECK_NEAR(yv[0], s, 1e-6);
            }
            done(&t, 1, in, 1, y);
        }
    }
    /* ellipsis with broadcasting: "...ij,...jk->...ik" on (2,1,I,J) x (3,J,K) */
    {
        tcase t = mk("Einsum", 2, 1);
        attr_str(&t, "equation", "...ij,...jk->...ik");
        lp_tensor *in[2] = { rand_f32(4, D(2, 1, I, J)), rand_f32(3, D(3, J, K)) }, *y[1];
        CHECK_OK(eval(&t, 12, 2, in, 1, y));
        CHECK(dims_are(y[0], 4, D(2, 3, I, K)));
        const float *a = in[0]->data, *b = in[1]->data;
        int bad = 0;
        for (int p = 0; y[0] && p < 2; p++)
            for (int q = 0; q < 3; q++)
                for (int i = 0; i < I; i++)
                    for (int k = 0; k < K; k++) {
                        double s = 0;
                        for (int j = 0; j < J; j++)
                            s += (double)a[(p * I + i) * J + j] * b[(q * J + j) * K + k];
                        bad += fabs(((float *)y[0]->data)[((p * 3 + q) * I + i) * K + k] - s) > 1e-6;
                    }
        CHECK(bad == 0);
        done(&t, 2, in, 1, y);
    }
}

static void test_einsum_errors(void)
{
    const char *bad_eqs[] = { "ij,jk->il", "ij->ii", "i.j->i", "ij,jk,kl->il", "i#->i" };
    for (int e = 0; e < 5; e++) {
        tcase t = mk("Einsum", 2, 1);
        attr_str(&t, "equation", bad_eqs[e]);
        lp_tensor *in[2] = { rand_f32(2, D(3, 4)), rand_f32(2, D(4, 5)) }, *y[1];
        lp_status st = eval(&t, 12, 2, in, 1, y);
        CHECK_MSG(st == LOWP_ERR_FORMAT || st == LOWP_ERR_SHAPE, "'%s' gave %d", bad_eqs[e], st);
        done(&t, 2, in, 1, y);
    }
    /* label dims that disagree */
    tcase t = mk("Einsum", 2, 1);
    attr_str(&t, "equation", "ij,jk->ik");
    lp_tensor *in[2] = { rand_f32(2, D(3, 4)), rand_f32(2, D(5, 5)) }, *y[1];
    CHECK(eval(&t, 12, 2, in, 1, y) == LOWP_ERR_SHAPE);
    done(&t, 2, in, 1, y);
}

int main(void)
{
    RUN(test_gemm_random);
    RUN(test_gemm_errors_and_infer);
    RUN(test_matmul_shapes);
    RUN(test_matmul_int_and_infer);
    RUN(test_einsum_forms);
    RUN(test_einsum_errors);
    return TEST_SUMMARY("test_ops_linalg");
}
