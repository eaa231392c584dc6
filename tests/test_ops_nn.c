/* test_ops_nn.c — Conv, ConvTranspose, pooling and normalization: random shapes (fixed seed,
 * odd sizes, strides, dilations, pads, groups, depthwise) against independent naive
 * double-precision loops written here, plus shape inference with unknowns and errors. */
#include <stdint.h>
#include <time.h>

#include "test.h"

#include "op_harness.h"

/* ---------------- naive references ---------------- */

typedef struct geo {
    int nsp;
    int64_t in[3], k[3], out[3], s[3], d[3], p0[3];
} geo;

/* Flat index -> coordinates over dims[n] (row-major). */
static void unflat(int64_t i, int n, const int64_t *dims, int64_t *co)
{
    for (int j = n - 1; j >= 0; j--) {
        co[j] = i % dims[j];
        i /= dims[j];
    }
}

static int64_t prod(int n, const int64_t *d)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= d[i];
    return p;
}

/* y[n][m][o] = b[m] + sum_{c, k} x[n][g*Cg + c][o*s - p0 + k*d] * w[m][c][k], g = m / Mg */
static void ref_conv(const geo *G, int64_t N, int64_t C, int64_t M, int64_t group, const float *x,
                     const float *w, const float *b, double *y, double *mag)
{
    int64_t Cg = C / group, Mg = M / group, I = prod(G->nsp, G->in), O = prod(G->nsp, G->out), Kk = prod(G->nsp, G->k);
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t o = 0; o < O; o++) {
                int64_t oc[3], kc[3];
                unflat(o, G->nsp, G->out, oc);
                double s = b ? b[m] : 0, a = b ? fabs(b[m]) : 0;
                for (int64_t c = 0; c < Cg; c++)
                    for (int64_t k = 0; k < Kk; k++) {
                        unflat(k, G->nsp, G->k, kc);
                        int64_t xi = 0;
                        bool inside = true;
                        for (int j = 0; j < G->nsp; j++) {
                            int64_t p = oc[j] * G->s[j] - G->p0[j] + kc[j] * G->d[j];
                            inside = inside && p >= 0 && p < G->in[j];
                            xi = xi * G->in[j] + p;
                        }
                        if (!inside)
                            continue;
                        double v = (double)x[(n * C + (m / Mg) * Cg + c) * I + xi] * w[(m * Cg + c) * Kk + k];
                        s += v;
                        a += fabs(v);
                    }
                y[(n * M + m) * O + o] = s;
                mag[(n * M + m) * O + o] = a;
            }
}

/* ---------------- Conv ---------------- */

static void test_conv_random(void)
{
    rng_seed(42);
    int cases = 0;
    for (int trial = 0; trial < 120; trial++) {
        geo G = { .nsp = trial % 5 == 0 ? 1 : trial % 7 == 0 ? 3 : 2 };
        int64_t N = rng_int(1, 2), group, C, M;
        int mode = trial % 3;
        if (mode == 0) {
            group = 1;
            C = rng_int(1, 5);
            M = rng_int(1, 6);
        } else if (mode == 1) {
            group = rng_int(2, 3);
            C = group * rng_int(1, 3);
            M = group * rng_int(1, 3);
        } else { /* depthwise, multiplier 1 or 2 */
            group = C = rng_int(2, 6);
            M = C * rng_int(1, 2);
        }
        const char *autopad = trial % 6 == 1 ? "SAME_UPPER" : trial % 6 == 3 ? "SAME_LOWER" : trial % 6 == 5 ? "VALID" : NULL;
        int64_t pads[6], kdims[3];
        for (int j = 0; j < G.nsp; j++) {
            G.k[j] = rng_int(1, G.nsp == 3 ? 3 : 4);
            G.s[j] = rng_int(1, 3);
            G.d[j] = rng_int(1, 2);
            int64_t dk = (G.k[j] - 1) * G.d[j] + 1;
            G.in[j] = dk + rng_int(0, G.nsp == 3 ? 4 : 9);
            pads[j] = rng_int(0, 2);
            pads[G.nsp + j] = rng_int(0, 2);
            if (autopad && autopad[0] == 'S') {
                G.out[j] = (G.in[j] + G.s[j] - 1) / G.s[j];
                int64_t total = (G.out[j] - 1) * G.s[j] + dk - G.in[j];
                total = total < 0 ? 0 : total;
                G.p0[j] = autopad[5] == 'U' ? total / 2 : total - total / 2;
            } else if (autopad) {
                G.p0[j] = 0;
                G.out[j] = (G.in[j] - dk) / G.s[j] + 1;
            } else {
                G.p0[j] = pads[j];
                G.out[j] = (G.in[j] + pads[j] + pads[G.nsp + j] - dk) / G.s[j] + 1;
            }
            kdims[j] = G.k[j];
        }
        int64_t xd[5] = { N, C }, wd[5] = { M, C / group }, yd[5] = { N, M };
        for (int j = 0; j < G.nsp; j++) {
            xd[2 + j] = G.in[j];
            wd[2 + j] = G.k[j];
            yd[2 + j] = G.out[j];
        }
        bool with_b = trial % 2 == 0;
        tcase t = mk("Conv", with_b ? 3 : 2, 1);
        if (group > 1 || trial % 4 == 0)
            attr_int(&t, "group", group);
        if (trial % 4 == 1)
            attr_ints(&t, "kernel_shape", G.nsp, kdims);
        attr_ints(&t, "strides", G.nsp, G.s);
        attr_ints(&t, "dilations", G.nsp, G.d);
        if (autopad)
            attr_str(&t, "auto_pad", autopad);
        else
            attr_ints(&t, "pads", 2 * G.nsp, pads);
        lp_tensor *in[3] = { rand_f32(G.nsp + 2, xd), rand_f32(G.nsp + 2, wd), with_b ? rand_f32(1, D(M)) : NULL };
        lp_tensor *y[1];
        CHECK_OK(eval(&t, 11, with_b ? 3 : 2, in, 1, y));
        CHECK_MSG(dims_are(y[0], G.nsp + 2, yd), "trial %d: output shape", trial);
        if (dims_are(y[0], G.nsp + 2, yd)) {
            int64_t ny = lp_tensor_numel(y[0]);
            double *ref = malloc((size_t)ny * sizeof *ref), *mag = malloc((size_t)ny * sizeof *mag);
            ref_conv(&G, N, C, M, group, in[0]->data, in[1]->data, with_b ? in[2]->data : NULL, ref, mag);
            int64_t K = C / group * prod(G.nsp, G.k), bad = 0;
            for (int64_t i = 0; i < ny; i++)
                bad += !close_to(((float *)y[0]->data)[i], ref[i], mag[i], K);
            CHECK_MSG(bad == 0, "trial %d (nsp %d, group %lld): %lld of %lld outputs off", trial, G.nsp,
                      (long long)group, (long long)bad, (long long)ny);
            free(ref);
            free(mag);
            cases++;
        }
        done(&t, 3, in, 1, y);
    }
    CHECK(cases == 120);
}

static void test_conv_infer_unknown(void)
{
    tcase t = mk("Conv", 2, 1);
    attr_ints(&t, "strides", 2, D(2, 2));
    attr_ints(&t, "pads", 4, D(1, 1, 1, 1));
    lp_vinfo x = { .dtype = LP_F32, .shape = { 4, { LP_DIM_SYM0, 3, LP_DIM_UNKNOWN, 32 } } };
    lp_vinfo w = { .dtype = LP_F32, .shape = { 4, { 8, 3, 3, 3 } } };
    const lp_vinfo *in[2] = { &x, &w };
    lp_vinfo out[1];
    CHECK_OK(infer_only(&t, 13, 2, in, 1, out));
    CHECK(out[0].dtype == LP_F32 && out[0].shape.ndim == 4);
    CHECK(out[0].shape.d[0] == LP_DIM_SYM0 && out[0].shape.d[1] == 8);
    CHECK(out[0].shape.d[2] == LP_DIM_UNKNOWN && out[0].shape.d[3] == 16);
    /* unknown rank of X: rank from W, spatial dims unknown */
    lp_vinfo xr = { .dtype = LP_F32, .shape = { .ndim = -1 } };
    in[0] = &xr;
    CHECK_OK(infer_only(&t, 13, 2, in, 1, out));
    CHECK(out[0].shape.ndim == 4 && out[0].shape.d[1] == 8 && out[0].shape.d[3] == LP_DIM_UNKNOWN);
    /* unknown weights: only N known */
    lp_vinfo wr = { .dtype = LP_F32, .shape = { .ndim = -1 } };
    in[0] = &x;
    in[1] = &wr;
    CHECK_OK(infer_only(&t, 13, 2, in, 1, out));
    CHECK(out[0].shape.ndim == 4 && out[0].shape.d[1] == LP_DIM_UNKNOWN);
    /* definite channel mismatch fails, naming the node */
    w.shape.d[1] = 4;
    in[1] = &w;
    CHECK(infer_only(&t, 13, 2, in, 1, out) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "n0") != NULL);
    lp_graph_free(t.g);
}

static void test_conv_errors(void)
{
    /* input smaller than the kernel */
    tcase t = mk("Conv", 2, 1);
    lp_tensor *in[2] = { rand_f32(4, D(1, 1, 2, 2)), rand_f32(4, D(1, 1, 3, 3)) }, *y[1];
    CHECK(eval(&t, 11, 2, in, 1, y) == LOWP_ERR_SHAPE);
    done(&t, 2, in, 1, y);
    /* bad auto_pad */
    t = mk("Conv", 2, 1);
    attr_str(&t, "auto_pad", "MIDDLE");
    in[0] = rand_f32(4, D(1, 1, 5, 5));
    in[1] = rand_f32(4, D(1, 1, 3, 3));
    CHECK(eval(&t, 11, 2, in, 1, y) == LOWP_ERR_FORMAT);
    done(&t, 2, in, 1, y);
    /* group not dividing the output channels */
    t = mk("Conv", 2, 1);
    attr_int(&t, "group", 2);
    in[0] = rand_f32(4, D(1, 4, 5, 5));
    in[1] = rand_f32(4, D(3, 2, 3, 3));
    CHECK(eval(&t, 11, 2, in, 1, y) == LOWP_ERR_SHAPE);
    done(&t, 2, in, 1, y);
    /* bias of the wrong length */
    t = mk("Conv", 3, 1);
    lp_tensor *in3[3] = { rand_f32(4, D(1, 2, 5, 5)), rand_f32(4, D(3, 2, 3, 3)), rand_f32(1, D(2)) };
    CHECK(eval(&t, 11, 3, in3, 1, y) == LOWP_ERR_SHAPE);
    done(&t, 3, in3, 1, y);
}

/* The pads attribute of Conv, ConvTranspose and the pools (one reader, lp_window_pads):
 * begins then ends per spatial dim, asymmetric ones landing on the right side; another count
 * or a negative pad refused, naming the node. */
static void test_pads_attribute(void)
{
    static const char *const ops[] = { "Conv", "ConvTranspose", "AveragePool", "MaxPool" };
    for (int k = 0; k < 4; k++) {
        bool conv = k < 2, transposed = k == 1;
        /* x (1, 2, 5, 5), w (2, 2, 3, 3) or kernel_shape 3x3; pads: top 1, left 0, bottom 2, right 1 */
        lp_vinfo x = { .dtype = LP_F32, .shape = { 4, { 1, 2, 5, 5 } } };
        lp_vinfo w = { .dtype = LP_F32, .shape = { 4, { 2, 2, 3, 3 } } };
        const lp_vinfo *in[2] = { &x, &w };
        lp_vinfo out[1];
        const int64_t *bad[2] = { D(1, 0, 2), D(1, 0, -2, 1) };
        for (int c = 0; c < 3; c++) {
            tcase t = mk(ops[k], conv ? 2 : 1, 1);
            if (!conv)
                attr_ints(&t, "kernel_shape", 2, D(3, 3));
            attr_ints(&t, "pads", c == 1 ? 3 : 4, c == 0 ? D(1, 0, 2, 1) : bad[c - 1]);
            lp_status st = infer_only(&t, 13, conv ? 2 : 1, in, 1, out);
            if (c == 0) {
                /* forward: in + p0 + p1 - 3 + 1; transposed: (in - 1) + 3 - p0 - p1 */
                int64_t h = transposed ? 5 + 2 - 1 - 2 : 5 + 1 + 2 - 2, wd = transposed ? 5 + 2 - 0 - 1 : 5 + 0 + 1 - 2;
                CHECK_MSG(st == LP_OK && out[0].shape.ndim == 4 && out[0].shape.d[2] == h && out[0].shape.d[3] == wd,
                          "%s: pads 1,0,2,1 give %lldx%lld, expected %lldx%lld", ops[k],
                          (long long)out[0].shape.d[2], (long long)out[0].shape.d[3], (long long)h, (long long)wd);
            } else {
                CHECK_MSG(st == LOWP_ERR_FORMAT && strstr(lowp_last_error(), "n0") &&
                              strstr(lowp_last_error(), c == 1 ? "pads has 3 values, expected 4" : "negative pads"),
                          "%s: bad pads %d: status %d, '%s'", ops[k], c, st, lowp_last_error());
            }
            lp_graph_free(t.g);
        }
    }
}

/* Time of the reference Conv on the shape the zoo's small CNNs use most. */
static void test_conv_speed(void)
{
    rng_seed(7);
    tcase t = mk("Conv", 3, 1);
    attr_ints(&t, "pads", 4, D(1, 1, 1, 1));
    lp_tensor *in[3] = { rand_f32(4, D(1, 32, 28, 28)), rand_f32(4, D(32, 32, 3, 3)), rand_f32(1, D(32)) }, *y[1];
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    const lp_op_def *def = &lp_opdef_Conv;
    lp_run_ctx rc = { .node = t.node, .opset = 13, .n_in = 3, .n_out = 1, .in = (const lp_tensor *const *)in, .out = y };
    struct timespec a, b;
#ifdef __SANITIZE_ADDRESS__
    int reps = 2; /* instrumented code: report the figure, do not judge it */
#else
    int reps = 50;
#endif
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < reps; i++)
        CHECK_OK(def->run(&rc));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) / reps;
    printf("info conv 3x3 32->32 @28x28: %.3f ms (%.2f GFLOP/s)\n", ms, 2.0 * 32 * 32 * 9 * 28 * 28 / (ms * 1e6));
#ifndef __SANITIZE_ADDRESS__
    CHECK(ms < 50); /* a sanity bound only (loaded CI machines); the figure is reported above */
#endif
    done(&t, 3, in, 1, y);
}

/* ---------------- ConvTranspose ---------------- */

/* y[n][g*Mg + m][i*s - p0 + k*d] += x[n][g*Cg + c][i] * w[g*Cg + c][m][k] */
static void ref_convt(const geo *G, int64_t N, int64_t C, int64_t M, int64_t group, const float *x,
                      const float *w, const float *b, double *y, double *mag)
{
    int64_t Cg = C / group, Mg = M / group, I = prod(G->nsp, G->in), O = prod(G->nsp, G->out), Kk = prod(G->nsp, G->k);
    for (int64_t i = 0; i < N * M * O; i++)
        y[i] = b ? b[(i / O) % M] : 0, mag[i] = b ? fabs(b[(i / O) % M]) : 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < I; i++)
                for (int64_t m = 0; m < Mg; m++)
                    for (int64_t k = 0; k < Kk; k++) {
                        int64_t ic[3], kc[3], oi = 0;
                        unflat(i, G->nsp, G->in, ic);
                        unflat(k, G->nsp, G->k, kc);
                        bool inside = true;
                        for (int j = 0; j < G->nsp; j++) {
                            int64_t p = ic[j] * G->s[j] - G->p0[j] + kc[j] * G->d[j];
                            inside = inside && p >= 0 && p < G->out[j];
                            oi = oi * G->out[j] + p;
                        }
                        if (!inside)
                            continue;
                        double v = (double)x[(n * C + c) * I + i] * w[(c * Mg + m) * Kk + k];
                        int64_t at = (n * M + (c / Cg) * Mg + m) * O + oi;
                        y[at] += v;
                        mag[at] += fabs(v);
                    }
}

static void test_convtranspose_random(void)
{
    rng_seed(4242);
    for (int trial = 0; trial < 60; trial++) {
        geo G = { .nsp = trial % 5 == 0 ? 1 : trial % 7 == 0 ? 3 : 2 };
        int64_t N = rng_int(1, 2), group = trial % 3 == 0 ? rng_int(2, 3) : 1;
        int64_t C = group * rng_int(1, 3), M = group * rng_int(1, 3);
        int64_t pads[6], opad[3], oshape[3];
        int style = trial % 4; /* 0 pads, 1 output_shape, 2 SAME_UPPER, 3 SAME_LOWER */
        for (int j = 0; j < G.nsp; j++) {
            G.k[j] = rng_int(1, 3);
            G.s[j] = rng_int(1, 3);
            G.d[j] = rng_int(1, 2);
            G.in[j] = rng_int(1, 5);
            int64_t dk = (G.k[j] - 1) * G.d[j] + 1;
            opad[j] = rng_int(0, (int)G.s[j] - 1);
            int64_t full = G.s[j] * (G.in[j] - 1) + opad[j] + dk;
            pads[j] = rng_int(0, (int)(dk - 1) / 2);
            pads[G.nsp + j] = rng_int(0, (int)(dk - 1) / 2);
            if (style == 0) {
                G.p0[j] = pads[j];
                G.out[j] = full - pads[j] - pads[G.nsp + j];
            } else {
                G.out[j] = style == 1 ? full - rng_int(0, 2) + 1 : G.in[j] * G.s[j];
                if (G.out[j] < 1)
                    G.out[j] = 1;
                oshape[j] = G.out[j];
                int64_t total = full - G.out[j];
                int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2); /* floor */
                G.p0[j] = style == 2 ? half : total - half;
            }
        }
        int64_t xd[5] = { N, C }, wd[5] = { C, M / group }, yd[5] = { N, M };
        for (int j = 0; j < G.nsp; j++) {
            xd[2 + j] = G.in[j];
            wd[2 + j] = G.k[j];
            yd[2 + j] = G.out[j];
        }
        bool with_b = trial % 2 == 1;
        tcase t = mk("ConvTranspose", with_b ? 3 : 2, 1);
        if (group > 1)
            attr_int(&t, "group", group);
        attr_ints(&t, "strides", G.nsp, G.s);
        attr_ints(&t, "dilations", G.nsp, G.d);
        attr_ints(&t, "output_padding", G.nsp, opad);
        if (style == 0)
            attr_ints(&t, "pads", 2 * G.nsp, pads);
        else if (style == 1)
            attr_ints(&t, "output_shape", G.nsp, oshape);
        else
            attr_str(&t, "auto_pad", style == 2 ? "SAME_UPPER" : "SAME_LOWER");
        lp_tensor *in[3] = { rand_f32(G.nsp + 2, xd), rand_f32(G.nsp + 2, wd), with_b ? rand_f32(1, D(M)) : NULL }, *y[1];
        CHECK_OK(eval(&t, 11, with_b ? 3 : 2, in, 1, y));
        CHECK_MSG(dims_are(y[0], G.nsp + 2, yd), "trial %d: output shape", trial);
        if (dims_are(y[0], G.nsp + 2, yd)) {
            int64_t ny = lp_tensor_numel(y[0]), bad = 0;
            double *ref = malloc((size_t)ny * sizeof *ref), *mag = malloc((size_t)ny * sizeof *mag);
            ref_convt(&G, N, C, M, group, in[0]->data, in[1]->data, with_b ? in[2]->data : NULL, ref, mag);
            for (int64_t i = 0; i < ny; i++)
                bad += !close_to(((float *)y[0]->data)[i], ref[i], mag[i], C / group * prod(G.nsp, G.k));
            CHECK_MSG(bad == 0, "trial %d (style %d): %lld of %lld outputs off", trial, style, (long long)bad, (long long)ny);
            free(ref);
            free(mag);
        }
        done(&t, 3, in, 1, y);
    }
}

/* ---------------- pooling ---------------- */

/* 2-D pooling by definition: windows over the padded input; max ignores the padding,
 * average divides by the taps inside the input (or inside input + explicit pads). */
static void test_pool_random(void)
{
    rng_seed(99);
    for (int trial = 0; trial < 80; trial++) {
        bool is_max = trial % 2 == 0, ceil_mode = trial % 3 == 0, incl = trial % 4 == 1;
        int64_t N = rng_int(1, 2), C = rng_int(1, 3), k[2], s[2], d[2] = { 1, 1 }, p[4], in[2], out[2];
        for (int j = 0; j < 2; j++) {
            k[j] = rng_int(1, 4);
            s[j] = rng_int(1, 3);
            if (is_max)
                d[j] = rng_int(1, 2);
            p[j] = rng_int(0, (int)k[j] - 1);
            p[2 + j] = rng_int(0, (int)k[j] - 1);
            int64_t dk = (k[j] - 1) * d[j] + 1;
            in[j] = dk + rng_int(0, 8);
            int64_t span = in[j] + p[j] + p[2 + j] - dk;
            out[j] = ceil_mode ? (span + s[j] - 1) / s[j] + 1 : span / s[j] + 1;
            if (ceil_mode && (out[j] - 1) * s[j] >= in[j] + p[j])
                out[j]--;
        }
        tcase t = mk(is_max ? "MaxPool" : "AveragePool", 1, 1);
        attr_ints(&t, "kernel_shape", 2, k);
        attr_ints(&t, "strides", 2, s);
        attr_ints(&t, "pads", 4, p);
        if (is_max)
            attr_ints(&t, "dilations", 2, d);
        if (ceil_mode)
            attr_int(&t, "ceil_mode", 1);
        if (incl)
            attr_int(&t, "count_include_pad", 1);
        lp_tensor *in0[1] = { rand_f32(4, D(N, C, in[0], in[1])) }, *y[1];
        CHECK_OK(eval(&t, 12, 1, in0, 1, y));
        CHECK_MSG(dims_are(y[0], 4, D(N, C, out[0], out[1])), "trial %d: output shape", trial);
        if (dims_are(y[0], 4, D(N, C, out[0], out[1]))) {
            const float *x = in0[0]->data, *yv = y[0]->data;
            int bad = 0;
            for (int64_t pl = 0; pl < N * C; pl++)
                for (int64_t oh = 0; oh < out[0]; oh++)
                    for (int64_t ow = 0; ow < out[1]; ow++) {
                        double best = -INFINITY, sum = 0;
                        int64_t cnt = 0;
                        for (int64_t a = 0; a < k[0]; a++)
                            for (int64_t b = 0; b < k[1]; b++) {
                                int64_t h = oh * s[0] - p[0] + a * d[0], w = ow * s[1] - p[1] + b * d[1];
                                bool inside = h >= 0 && h < in[0] && w >= 0 && w < in[1];
                                bool in_pad = h < in[0] + p[2] && w < in[1] + p[3];
                                if (inside) {
                                    double v = x[(pl * in[0] + h) * in[1] + w];
                                    best = v > best ? v : best;
                                    sum += v;
                                }
                                cnt += incl ? in_pad : inside;
                            }
                        double want = is_max ? best : sum / (double)cnt;
                        double got = yv[(pl * out[0] + oh) * out[1] + ow];
                        bad += !(fabs(got - want) <= 1e-6 * (1 + fabs(want)));
                    }
            CHECK_MSG(bad == 0, "trial %d (%s): %d outputs off", trial, is_max ? "max" : "avg", bad);
        }
        done(&t, 1, in0, 1, y);
    }
}

static void test_maxpool_indices_and_types(void)
{
    /* 1x1x3x3, 2x2 windows stride 1: maxima and their flat indices, row- and column-major */
    for (int order = 0; order < 2; order++) {
        tcase t = mk("MaxPool", 1, 2);
        attr_ints(&t, "kernel_shape", 2, D(2, 2));
        attr_int(&t, "storage_order", order);
        lp_tensor *in[1] = { F32(4, D(1, 1, 3, 3), 1, 9, 2, 3, 4, 8, 7, 5, 6) }, *y[2];
        CHECK_OK(eval(&t, 12, 1, in, 2, y));
        const float want[4] = { 9, 9, 7, 8 };
        /* row-major flat positions of 9, 9, 7, 8 are 1, 1, 6, 5; column-major (h + w*3): 3, 3, 2, 7 */
        const int64_t want_rm[4] = { 1, 1, 6, 5 }, want_cm[4] = { 3, 3, 2, 7 };
        for (int i = 0; y[1] && i < 4; i++) {
            CHECK(((float *)y[0]->data)[i] == want[i]);
            CHECK(((int64_t *)y[1]->data)[i] == (order ? want_cm : want_rm)[i]);
        }
        CHECK(y[1] && y[1]->dtype == LP_I64);
        done(&t, 1, in, 2, y);
    }
    /* uint8 and int8 inputs keep their type */
    tcase t = mk("MaxPool", 1, 1);
    attr_ints(&t, "kernel_shape", 1, D(2));
    attr_ints(&t, "strides", 1, D(2));
    lp_tensor *in[1] = { I8(3, D(1, 1, 4), -5, -7, 100, -128) }, *y[1];
    CHECK_OK(eval(&t, 12, 1, in, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_I8 && ((int8_t *)y[0]->data)[0] == -5 && ((int8_t *)y[0]->data)[1] == 100);
    done(&t, 1, in, 1, y);
}

static void test_global_pools(void)
{
    tcase t = mk("GlobalAveragePool", 1, 1);
    lp_tensor *in[1] = { F32(4, D(1, 2, 2, 2), 1, 2, 3, 4, -1, -2, -3, 10) }, *y[1];
    CHECK_OK(eval(&t, 13, 1, in, 1, y));
    CHECK(dims_are(y[0], 4, D(1, 2, 1, 1)));
    CHECK(y[0] && ((float *)y[0]->data)[0] == 2.5f && ((float *)y[0]->data)[1] == 1.0f);
    done(&t, 1, in, 1, y);
    t = mk("GlobalMaxPool", 1, 1);
    in[0] = F32(3, D(1, 2, 3), 1, 5, 3, -4, -2, -3);
    CHECK_OK(eval(&t, 13, 1, in, 1, y));
    CHECK(dims_are(y[0], 3, D(1, 2, 1)));
    CHECK(y[0] && ((float *)y[0]->data)[0] == 5.0f && ((float *)y[0]->data)[1] == -2.0f);
    done(&t, 1, in, 1, y);
}

/* ---------------- normalization ---------------- */

static void test_batchnorm(void)
{
    rng_seed(5);
    tcase t = mk("BatchNormalization", 5, 1);
    attr_float(&t, "epsilon", 1e-3f);
    lp_tensor *in[5] = { rand_f32(4, D(2, 3, 4, 5)), rand_f32(1, D(3)), rand_f32(1, D(3)), rand_f32(1, D(3)),
                         rand_f32(1, D(3)) }, *y[1];
    for (int i = 0; i < 3; i++)
        ((float *)in[4]->data)[i] = fabsf(((float *)in[4]->data)[i]) + 0.1f; /* variances > 0 */
    CHECK_OK(eval(&t, 15, 5, in, 1, y));
    const float *x = in[0]->data, *sc = in[1]->data, *b = in[2]->data, *mu = in[3]->data, *var = in[4]->data;
    int bad = 0;
    for (int64_t i = 0; y[0] && i < 120; i++) {
        int c = (int)((i / 20) % 3);
        double want = (x[i] - mu[c]) / sqrt(var[c] + 1e-3) * sc[c] + b[c];
        bad += fabs(((float *)y[0]->data)[i] - want) > 1e-5 * (1 + fabs(want));
    }
    CHECK(bad == 0);
    done(&t, 5, in, 1, y);
    /* training mode is refused clearly */
    t = mk("BatchNormalization", 5, 3);
    attr_int(&t, "training_mode", 1);
    lp_tensor *in2[5] = { rand_f32(2, D(2, 3)), rand_f32(1, D(3)), rand_f32(1, D(3)), rand_f32(1, D(3)), rand_f32(1, D(3)) };
    lp_tensor *y3[3];
    CHECK(eval(&t, 15, 5, in2, 3, y3) == LOWP_ERR_UNSUPPORTED);
    CHECK(strstr(lowp_last_error(), "training") != NULL);
    done(&t, 5, in2, 3, y3);
}

static void test_layernorm(void)
{
    rng_seed(6);
    /* X (2,3,4), axis -2: normalize over (3,4); Scale (3,4), B (4) broadcast */
    tcase t = mk("LayerNormalization", 3, 3);
    attr_int(&t, "axis", -2);
    lp_tensor *in[3] = { rand_f32(3, D(2, 3, 4)), rand_f32(2, D(3, 4)), rand_f32(1, D(4)) }, *y[3];
    CHECK_OK(eval(&t, 17, 3, in, 3, y));
    CHECK(dims_are(y[1], 3, D(2, 1, 1)) && dims_are(y[2], 3, D(2, 1, 1)));
    const float *x = in[0]->data, *sc = in[1]->data, *b = in[2]->data;
    int bad = 0;
    for (int r = 0; y[2] && r < 2; r++) {
        double mean = 0, var = 0;
        for (int j = 0; j < 12; j++)
            mean += x[r * 12 + j] / 12.0;
        for (int j = 0; j < 12; j++)
            var += (x[r * 12 + j] - mean) * (x[r * 12 + j] - mean) / 12.0;
        double istd = 1 / sqrt(var + 1e-5);
        bad += fabs(((float *)y[1]->data)[r] - mean) > 1e-6 || fabs(((float *)y[2]->data)[r] - istd) > 1e-5 * istd;
        for (int j = 0; j < 12; j++) {
            double want = (x[r * 12 + j] - mean) * istd * sc[j] + b[j % 4];
            bad += fabs(((float *)y[0]->data)[r * 12 + j] - want) > 1e-5 * (1 + fabs(want));
        }
    }
    CHECK(bad == 0);
    done(&t, 3, in, 3, y);
}

static void test_instancenorm(void)
{
    rng_seed(8);
    tcase t = mk("InstanceNormalization", 3, 1);
    attr_float(&t, "epsilon", 1e-2f);
    lp_tensor *in[3] = { rand_f32(4, D(2, 3, 2, 5)), rand_f32(1, D(3)), rand_f32(1, D(3)) }, *y[1];
    CHECK_OK(eval(&t, 6, 3, in, 1, y));
    const float *x = in[0]->data, *sc = in[1]->data, *b = in[2]->data;
    int bad = 0;
    for (int p = 0; y[0] && p < 6; p++) {
        double mean = 0, var = 0;
        for (int j = 0; j < 10; j++)
            mean += x[p * 10 + j] / 10.0;
        for (int j = 0; j < 10; j++)
            var += (x[p * 10 + j] - mean) * (x[p * 10 + j] - mean) / 10.0;
        for (int j = 0; j < 10; j++) {
            double want = (x[p * 10 + j] - mean) / sqrt(var + 1e-2) * sc[p % 3] + b[p % 3];
            bad += fabs(((float *)y[0]->data)[p * 10 + j] - want) > 1e-5 * (1 + fabs(want));
        }
    }
    CHECK(bad == 0);
    done(&t, 3, in, 1, y);
}

int main(void)
{
    RUN(test_conv_random);
    RUN(test_conv_infer_unknown);
    RUN(test_conv_errors);
    RUN(test_pads_attribute);
    RUN(test_conv_speed);
    RUN(test_convtranspose_random);
    RUN(test_pool_random);
    RUN(test_maxpool_indices_and_types);
    RUN(test_global_pools);
    RUN(test_batchnorm);
    RUN(test_layernorm);
    RUN(test_instancenorm);
    return TEST_SUMMARY("test_ops_nn");
}
