/* test_train_grad.c — every backward of the training layer against finite differences, on
 * random shapes: one case per row of the backward table (src/train/grad.h) and per loss
 * (src/train/loss.h). A row without a case fails `rows_have_cases`, so a new backward cannot
 * land untested.
 *
 * The check: L = sum_k <y_k, R_k> over the graph outputs for fixed random R_k; the tape's
 * dL/dx for every float input and parameter is compared with (L(x+h) - L(x-h)) / 2h on up to
 * 24 random elements per tensor. Inputs are drawn away from kinks (ReLU at 0, Clip bounds,
 * pooling ties) by more than h, so the central difference sees one smooth piece. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "graph_builder.h"
#include "train/grad.h"
#include "train/loss.h"
#include "train/tape.h"
#include "train_test.h"

/* h = 1e-2 on float32 forwards: L sums O(100) products of O(1) values, so its rounding error
 * is ~1e-5 and the difference quotient's ~1e-3; the truncation error of a central difference
 * is h^2 f''' ~ 1e-4. Tolerance: 2e-3 absolute + 2 % relative covers both with margin and
 * still catches a wrong factor, sign, transposition or missing broadcast sum. */
#define FD_H 1e-2
#define FD_ABS 2e-3
#define FD_REL 2e-2

static uint64_t rng_state = 0x5eed;

static double urand(double lo, double hi) { return lo + (hi - lo) * lowp_random_uniform(&rng_state); }
static int irand(int lo, int hi) { return lo + (int)(lowp_random_next(&rng_state) % (uint64_t)(hi - lo + 1)); }

/* A float tensor with values in [lo, hi), kept at least 0.05 away from each point in avoid[]. */
static lp_tensor *randt(int nd, const int64_t *dims, double lo, double hi, int n_avoid, const double *avoid)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, nd, dims, &t));
    float *d = t->data;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++) {
        double x;
        bool ok;
        do {
            x = urand(lo, hi);
            ok = true;
            for (int k = 0; k < n_avoid; k++)
                ok &= fabs(x - avoid[k]) > 0.05;
        } while (!ok);
        d[i] = (float)x;
    }
    return t;
}

/* Distinct values spaced 0.05 apart in random order: no ties for max-pooling within 2h. */
static lp_tensor *distinct(int nd, const int64_t *dims)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, nd, dims, &t));
    train_test_distinct(t, 0.05, &rng_state);
    return t;
}

static int feed(gb *b, int nd, const int64_t *dims) { return gb_feed(b, randt(nd, dims, -1, 1, 0, NULL)); }
static int param(gb *b, int nd, const int64_t *dims) { return gb_tensor(b, randt(nd, dims, -1, 1, 0, NULL)); }
static int const_ints(gb *b, int n, const int64_t *v)
{
    lp_tensor *t = NULL;
    int64_t d = n;
    CHECK_OK(lp_tensor_new(LP_I64, 1, &d, &t));
    memcpy(t->data, v, (size_t)n * sizeof *v);
    return gb_tensor(b, t);
}

/* ---- the checker ---- */

typedef struct fd_state {
    lp_tape *tape;
    gb *b;
    lp_tensor *R[GB_MAX_FEED];
    bool training;
} fd_state;

static double fd_loss(fd_state *s)
{
    CHECK_OK(lp_tape_forward(s->tape, s->b->feed, s->training, 42));
    double L = 0;
    for (int k = 0; k < s->b->g->n_outputs; k++) {
        const lp_tensor *y = lp_tape_value(s->tape, s->b->g->outputs[k]);
        if (!y || y->dtype != LP_F32)
            continue;
        for (int64_t i = 0; i < lp_tensor_numel(y); i++)
            L += (double)((const float *)y->data)[i] * ((const float *)s->R[k]->data)[i];
    }
    return L;
}

/* Compares the tape's gradient of tensor `x` (value v) with central differences. */
static void fd_compare(fd_state *s, const char *op, int v, lp_tensor *x, const lp_tensor *analytic)
{
    CHECK_MSG(analytic != NULL, "%s: no gradient reached '%s'", op, s->b->g->values[v].name);
    if (!analytic)
        return;
    int64_t n = lp_tensor_numel(x);
    float *d = x->data;
    for (int t = 0; t < 24 && t < n; t++) {
        int64_t i = n <= 24 ? t : (int64_t)(lowp_random_next(&rng_state) % (uint64_t)n);
        float keep = d[i];
        d[i] = (float)(keep + FD_H);
        double lp = fd_loss(s);
        d[i] = (float)(keep - FD_H);
        double lm = fd_loss(s);
        d[i] = keep;
        double fd = (lp - lm) / (2 * FD_H), an = ((const float *)analytic->data)[i];
        CHECK_MSG(fabs(fd - an) <= FD_ABS + FD_REL * fmax(fabs(fd), fabs(an)),
                  "%s: d/d%s[%lld]: backward %.6g, finite difference %.6g", op, s->b->g->values[v].name,
                  (long long)i, an, fd);
    }
}

/* Runs the checker on the graph in b (outputs set): every float graph input and parameter. */
static void fd_check(gb *b, const char *op, bool training)
{
    fd_state s = { .b = b, .training = training };
    lp_tape_options o = { .learn_scale = true, .grad_inputs = true };
    CHECK_OK(lp_tape_create(b->g, &o, &s.tape));
    if (!s.tape)
        return;
    CHECK_OK(lp_tape_forward(s.tape, b->feed, training, 42));
    int seeds[GB_MAX_FEED];
    const lp_tensor *gr[GB_MAX_FEED];
    int ns = 0;
    for (int k = 0; k < b->g->n_outputs; k++) {
        const lp_tensor *y = lp_tape_value(s.tape, b->g->outputs[k]);
        CHECK(y != NULL);
        if (!y)
            goto done;
        s.R[k] = randt(y->ndim, y->dims, -1, 1, 0, NULL);
        if (y->dtype != LP_F32)
            continue;
        seeds[ns] = b->g->outputs[k];
        gr[ns++] = s.R[k];
    }
    CHECK_OK(lp_tape_backward(s.tape, ns, seeds, gr));
    /* copy the analytic gradients: the finite-difference forwards reset the tape */
    lp_tensor *an[64] = { NULL };
    int vs[64], nv = 0;
    for (int i = 0; i < b->g->n_inputs && nv < 64; i++) {
        int v = b->g->inputs[i];
        if (b->g->values[v].dtype == LP_F32) {
            vs[nv] = v;
            const lp_tensor *gv = lp_tape_grad(s.tape, v);
            if (gv)
                CHECK_OK(lp_tensor_clone(gv, &an[nv]));
            nv++;
        }
    }
    for (int i = 0; i < lp_tape_n_params(s.tape) && nv < 64; i++) {
        int v = lp_tape_param(s.tape, i);
        vs[nv] = v;
        const lp_tensor *gv = lp_tape_grad(s.tape, v);
        if (gv)
            CHECK_OK(lp_tensor_clone(gv, &an[nv]));
        nv++;
    }
    for (int i = 0; i < nv; i++) {
        int v = vs[i];
        lp_tensor *x = b->g->values[v].kind == LP_VALUE_CONST ? b->g->values[v].init : NULL;
        for (int k = 0; k < b->g->n_inputs; k++)
            if (b->g->inputs[k] == v)
                x = b->feed[k];
        fd_compare(&s, op, v, x, an[i]);
        lp_tensor_free(an[i]);
    }
done:
    for (int k = 0; k < b->g->n_outputs; k++)
        lp_tensor_free(s.R[k]);
    lp_tape_free(s.tape);
}

/* ---- cases: each builds a random instance of its op into b ---- */

/* two shapes that broadcast: b's dims are a's with some set to 1 and maybe fewer leading dims */
static void bcast_shapes(int *nda, int64_t *da, int *ndb, int64_t *db)
{
    *nda = irand(1, 4);
    for (int k = 0; k < *nda; k++)
        da[k] = irand(1, 4);
    *ndb = irand(1, *nda);
    for (int k = 0; k < *ndb; k++)
        db[k] = irand(0, 2) == 0 ? 1 : da[*nda - *ndb + k];
    if (irand(0, 1)) { /* swap roles so both sides get broadcast sometimes */
        int64_t t[LP_MAX_DIMS];
        int tn = *nda;
        memcpy(t, da, sizeof t);
        *nda = *ndb;
        memcpy(da, db, sizeof t);
        *ndb = tn;
        memcpy(db, t, sizeof t);
    }
}

static void binary_case(gb *b, const char *op, double lo, double hi)
{
    int nda, ndb;
    int64_t da[LP_MAX_DIMS], db[LP_MAX_DIMS];
    bcast_shapes(&nda, da, &ndb, db);
    double avoid0 = 0;
    int a = gb_feed(b, randt(nda, da, lo, hi, 0, NULL));
    int c = irand(0, 1) ? gb_feed(b, randt(ndb, db, lo, hi, 1, &avoid0)) : gb_tensor(b, randt(ndb, db, lo, hi, 1, &avoid0));
    gb_output(b, op2(b, op, a, c));
}
static void case_add(gb *b) { binary_case(b, "Add", -1, 1); }
static void case_sub(gb *b) { binary_case(b, "Sub", -1, 1); }
static void case_mul(gb *b) { binary_case(b, "Mul", -1, 1); }
static void case_div(gb *b) { binary_case(b, "Div", 0.5, 2); }
static void case_pow(gb *b) { binary_case(b, "Pow", 0.5, 2); }

static void unary_case(gb *b, const char *op, double lo, double hi, int n_avoid, const double *avoid)
{
    int64_t d[4];
    int nd = irand(1, 4);
    for (int k = 0; k < nd; k++)
        d[k] = irand(1, 5);
    gb_output(b, op1(b, op, gb_feed(b, randt(nd, d, lo, hi, n_avoid, avoid))));
}
static const double zero[1] = { 0 };
static void case_relu(gb *b) { unary_case(b, "Relu", -2, 2, 1, zero); }
static void case_leakyrelu(gb *b)
{
    unary_case(b, "LeakyRelu", -2, 2, 1, zero);
    attr_f(b, "alpha", 0.1f);
}
static void case_clip(gb *b)
{
    double av[2] = { -0.5, 0.75 };
    int64_t d[2] = { irand(1, 5), irand(1, 5) };
    int in[3] = { gb_feed(b, randt(2, d, -2, 2, 2, av)), gb_scalar(b, LP_F32, -0.5), gb_scalar(b, LP_F32, 0.75) };
    gb_output(b, gb_op(b, "Clip", 3, in));
}
static void case_sigmoid(gb *b) { unary_case(b, "Sigmoid", -3, 3, 0, NULL); }
static void case_tanh(gb *b) { unary_case(b, "Tanh", -2, 2, 0, NULL); }
static void case_erf(gb *b) { unary_case(b, "Erf", -2, 2, 0, NULL); }
static void case_sqrt(gb *b) { unary_case(b, "Sqrt", 0.2, 3, 0, NULL); }
static void case_exp(gb *b) { unary_case(b, "Exp", -2, 2, 0, NULL); }
static void case_log(gb *b) { unary_case(b, "Log", 0.2, 3, 0, NULL); }
static void case_neg(gb *b) { unary_case(b, "Neg", -2, 2, 0, NULL); }
static void case_reciprocal(gb *b) { unary_case(b, "Reciprocal", 0.3, 3, 0, NULL); }
static void case_hardsigmoid(gb *b)
{
    double av[2] = { -2.5, 2.5 }; /* alpha x + beta leaves [0, 1] at x = -/+2.5 */
    unary_case(b, "HardSigmoid", -4, 4, 2, av);
}
static void case_hardswish(gb *b)
{
    double av[2] = { -3, 3 };
    unary_case(b, "HardSwish", -5, 5, 2, av);
}
static void case_identity(gb *b) { unary_case(b, "Identity", -2, 2, 0, NULL); }

static void softmax_case(gb *b, const char *op)
{
    int nd = irand(1, 4);
    int64_t d[4];
    for (int k = 0; k < nd; k++)
        d[k] = irand(1, 5);
    gb_output(b, op1(b, op, feed(b, nd, d)));
    attr_i(b, "axis", irand(-nd, nd - 1));
}
static void case_softmax(gb *b) { softmax_case(b, "Softmax"); }
static void case_logsoftmax(gb *b) { softmax_case(b, "LogSoftmax"); }

static void reduce_case(gb *b, const char *op, bool axes_input)
{
    int nd = irand(1, 4);
    int64_t d[4], axes[4];
    for (int k = 0; k < nd; k++)
        d[k] = irand(1, 4);
    int na = irand(0, nd);
    for (int k = 0; k < na; k++)
        axes[k] = k - (irand(0, 1) ? nd : 0);
    int x = feed(b, nd, d);
    if (axes_input && na) {
        gb_output(b, op2(b, op, x, const_ints(b, na, axes)));
    } else {
        gb_output(b, op1(b, op, x));
        if (na)
            attr_ints(b, "axes", na, axes);
    }
    attr_i(b, "keepdims", irand(0, 1));
}
static void case_reducemean(gb *b) { reduce_case(b, "ReduceMean", false); }
static void case_reducesum(gb *b) { reduce_case(b, "ReduceSum", true); }

static void case_gemm(gb *b)
{
    int64_t M = irand(1, 5), K = irand(1, 6), N = irand(1, 5);
    int ta = irand(0, 1), tb = irand(0, 1);
    int64_t da[2] = { ta ? K : M, ta ? M : K }, db[2] = { tb ? N : K, tb ? K : N };
    int64_t dc[2] = { irand(0, 1) ? M : 1, irand(0, 1) ? N : 1 };
    int rc = irand(0, 2); /* C absent, (N) or (1) (rank 1), or rank 2 broadcasting either way */
    int in[3] = { feed(b, 2, da), param(b, 2, db), rc ? param(b, rc, dc + 2 - rc) : -1 };
    gb_output(b, gb_op(b, "Gemm", rc ? 3 : 2, in));
    attr_i(b, "transA", ta);
    attr_i(b, "transB", tb);
    attr_f(b, "alpha", irand(0, 1) ? 0.7f : 1.0f);
    attr_f(b, "beta", 1.3f);
}

/* the inner-product form (the oneDNN fast path): A not transposed, alpha = beta = 1, a bias */
static void case_gemm_ip(gb *b)
{
    int64_t M = irand(1, 5), K = irand(1, 6), N = irand(1, 5);
    int tb = irand(0, 1), rc = irand(1, 2); /* the bias as (N) or (1, N) */
    int64_t da[2] = { M, K }, db[2] = { tb ? N : K, tb ? K : N }, dc[2] = { 1, N };
    int in[3] = { feed(b, 2, da), param(b, 2, db), param(b, rc, dc + 2 - rc) };
    gb_output(b, gb_op(b, "Gemm", 3, in));
    attr_i(b, "transB", tb);
}

static void case_matmul(gb *b)
{
    int64_t M = irand(1, 4), K = irand(1, 5), N = irand(1, 4), B0 = irand(1, 3);
    int kind = irand(0, 4);
    if (kind == 0) { /* (B, M, K) x (K, N): a shared weight */
        int64_t da[3] = { B0, M, K }, db[2] = { K, N };
        gb_output(b, op2(b, "MatMul", feed(b, 3, da), param(b, 2, db)));
    } else if (kind == 1) { /* batched on both sides, one broadcast */
        int64_t da[4] = { B0, 2, M, K }, db[4] = { 1, 2, K, N };
        gb_output(b, op2(b, "MatMul", feed(b, 4, da), feed(b, 4, db)));
    } else if (kind == 2) { /* numpy broadcasting: either side 1 in any batch dim, ranks differ */
        int64_t bd[2] = { irand(1, 3), irand(1, 3) };
        int64_t da[4] = { irand(0, 1) ? bd[0] : 1, irand(0, 1) ? bd[1] : 1, M, K };
        int64_t db[4] = { irand(0, 1) ? bd[0] : 1, irand(0, 1) ? bd[1] : 1, K, N };
        int ra = irand(2, 4), rb = irand(2, 4); /* drop leading dims: rank 2 to 4 */
        gb_output(b, op2(b, "MatMul", feed(b, ra, da + 4 - ra), feed(b, rb, db + 4 - rb)));
    } else if (kind == 3) { /* a 1-D operand */
        int64_t dv[1] = { K }, dl[3] = { B0, K, N }, dr[3] = { B0, M, K };
        int r = irand(2, 3);
        if (irand(0, 1)) /* (K) x ([B,] K, N) */
            gb_output(b, op2(b, "MatMul", feed(b, 1, dv), feed(b, r, dl + 3 - r)));
        else /* ([B,] M, K) x (K) */
            gb_output(b, op2(b, "MatMul", feed(b, r, dr + 3 - r), feed(b, 1, dv)));
    } else { /* 2-D */
        int64_t da[2] = { M, K }, db[2] = { K, N };
        gb_output(b, op2(b, "MatMul", feed(b, 2, da), feed(b, 2, db)));
    }
}

static void case_conv(gb *b)
{
    int64_t group = irand(1, 2), Cg = irand(1, 3), Mg = irand(1, 3);
    int64_t k = irand(1, 3), H = irand(k, 7), W = irand(k, 7);
    int64_t dx[4] = { irand(1, 2), group * Cg, H, W }, dw[4] = { group * Mg, Cg, k, k }, dbias[1] = { group * Mg };
    int in[3] = { feed(b, 4, dx), param(b, 4, dw), param(b, 1, dbias) };
    gb_output(b, gb_op(b, "Conv", 3, in));
    int64_t s = irand(1, 2), p = irand(0, 1), ks[2] = { k, k };
    int64_t st[2] = { s, s }, pads[4] = { p, p, p, p };
    attr_ints(b, "kernel_shape", 2, ks);
    attr_ints(b, "strides", 2, st);
    attr_ints(b, "pads", 4, pads);
    attr_i(b, "group", group);
}

/* 1-D or 2-D, groups, strides, dilations, output_padding, and the output size from explicit
 * pads, auto_pad SAME_* or output_shape (which may pad with zeros at the end) */
static void case_convtranspose(gb *b)
{
    int nsp = irand(1, 2), form = irand(0, 2);
    int64_t group = irand(1, 2), Cg = irand(1, 3), Mg = irand(1, 3), k = irand(1, 3), s = irand(1, 2);
    int64_t d = irand(1, 2), op = irand(0, (int)s - 1), dk = (k - 1) * d + 1, p = irand(0, (int)(dk - 1) / 2);
    int64_t dx[4] = { irand(1, 2), group * Cg, 1, 1 }, dw[4] = { group * Cg, Mg, k, k }, dbias[1] = { group * Mg };
    int64_t ks[2] = { k, k }, st[2] = { s, s }, dl[2] = { d, d }, ops[2] = { op, op }, pads[4] = { p, p, p, p };
    int64_t os[2];
    for (int i = 0; i < nsp; i++) {
        dx[2 + i] = irand(1, 5);
        os[i] = s * (dx[2 + i] - 1) + op + dk + irand(-1, 1); /* one bigger: a zero column appended */
        if (os[i] < 1)
            os[i] = 1;
    }
    int in[3] = { feed(b, 2 + nsp, dx), param(b, 2 + nsp, dw), param(b, 1, dbias) };
    gb_output(b, gb_op(b, "ConvTranspose", 3, in));
    attr_ints(b, "kernel_shape", nsp, ks);
    attr_ints(b, "strides", nsp, st);
    attr_ints(b, "dilations", nsp, dl);
    attr_ints(b, "output_padding", nsp, ops);
    if (form == 0)
        attr_ints(b, "pads", 2 * nsp, pads);
    else if (form == 1)
        attr_s(b, "auto_pad", irand(0, 1) ? "SAME_UPPER" : "SAME_LOWER");
    else
        attr_ints(b, "output_shape", nsp, os);
    attr_i(b, "group", group);
}

static void pool_case(gb *b, const char *op)
{
    int64_t k = irand(1, 3), dx[4] = { irand(1, 2), irand(1, 3), irand(k, 6), irand(k, 6) };
    int x = gb_feed(b, distinct(4, dx));
    gb_output(b, op1(b, op, x));
    int64_t ks[2] = { k, k }, st[2] = { irand(1, 2), irand(1, 2) }, p = k > 1 ? irand(0, 1) : 0;
    int64_t pads[4] = { p, p, p, p };
    attr_ints(b, "kernel_shape", 2, ks);
    attr_ints(b, "strides", 2, st);
    attr_ints(b, "pads", 4, pads);
    if (!strcmp(op, "AveragePool"))
        attr_i(b, "count_include_pad", irand(0, 1));
}
static void case_maxpool(gb *b) { pool_case(b, "MaxPool"); }
static void case_averagepool(gb *b) { pool_case(b, "AveragePool"); }
static void case_gap(gb *b)
{
    int64_t dx[4] = { irand(1, 2), irand(1, 3), irand(1, 4), irand(1, 4) };
    gb_output(b, op1(b, "GlobalAveragePool", feed(b, 4, dx)));
}
static void case_gmp(gb *b)
{
    int64_t dx[4] = { irand(1, 2), irand(1, 3), irand(1, 4), irand(1, 4) };
    gb_output(b, op1(b, "GlobalMaxPool", gb_feed(b, distinct(4, dx))));
}

static void case_bn(gb *b)
{
    int64_t C = irand(1, 3), dx[4] = { irand(2, 3), C, irand(1, 3), irand(1, 3) }, dc[1] = { C };
    int in[5] = { feed(b, 4, dx), param(b, 1, dc), param(b, 1, dc), param(b, 1, dc),
                  gb_tensor(b, randt(1, dc, 0.5, 1.5, 0, NULL)) };
    gb_output(b, gb_op(b, "BatchNormalization", 5, in));
    attr_f(b, "epsilon", 1e-3f);
}

static void case_flatten(gb *b)
{
    int64_t d[3] = { irand(1, 3), irand(1, 3), irand(1, 3) };
    gb_output(b, op1(b, "Flatten", feed(b, 3, d)));
    attr_i(b, "axis", irand(0, 3));
}
static void case_reshape(gb *b)
{
    int64_t d[3] = { irand(1, 3), irand(1, 3), irand(1, 3) }, shape[2] = { d[0] * d[1], -1 };
    gb_output(b, op2(b, "Reshape", feed(b, 3, d), const_ints(b, 2, shape)));
}
static void case_squeeze(gb *b)
{
    int64_t d[3] = { irand(1, 3), 1, irand(1, 3) }, ax[1] = { 1 };
    gb_output(b, op2(b, "Squeeze", feed(b, 3, d), const_ints(b, 1, ax)));
}
static void case_unsqueeze(gb *b)
{
    int64_t d[2] = { irand(1, 3), irand(1, 3) }, ax[1] = { irand(0, 2) };
    gb_output(b, op2(b, "Unsqueeze", feed(b, 2, d), const_ints(b, 1, ax)));
}
static void case_transpose(gb *b)
{
    int64_t d[4] = { irand(1, 3), irand(1, 3), irand(1, 3), irand(1, 3) }, perm[4] = { 0, 1, 2, 3 };
    for (int i = 3; i > 0; i--) {
        int j = irand(0, i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    gb_output(b, op1(b, "Transpose", feed(b, 4, d)));
    attr_ints(b, "perm", 4, perm);
}
static void case_concat(gb *b)
{
    int ax = irand(0, 2), n = irand(1, 3);
    int in[3];
    for (int i = 0; i < n; i++) {
        int64_t d[3] = { 2, 3, 2 };
        d[ax] = irand(1, 3);
        in[i] = i == 1 ? param(b, 3, d) : feed(b, 3, d);
    }
    gb_output(b, gb_op(b, "Concat", n, in));
    attr_i(b, "axis", ax);
}
static void case_dropout(gb *b)
{
    int64_t d[2] = { irand(1, 4), irand(1, 4) };
    gb_output(b, op2(b, "Dropout", feed(b, 2, d), gb_scalar(b, LP_F32, 0.3)));
}

/* DequantizeLinear: y = (q - z) s is smooth in s (q is an integer input) */
static void case_dequantize(gb *b)
{
    int64_t C = irand(1, 3), d[2] = { irand(1, 3), C }, dc[1] = { C };
    lp_tensor *q = NULL, *z = NULL;
    CHECK_OK(lp_tensor_new(LP_I8, 2, d, &q));
    CHECK_OK(lp_tensor_new(LP_I8, 1, dc, &z));
    for (int64_t i = 0; i < lp_tensor_numel(q); i++)
        ((int8_t *)q->data)[i] = (int8_t)irand(-100, 100);
    for (int64_t i = 0; i < C; i++)
        ((int8_t *)z->data)[i] = (int8_t)irand(-3, 3);
    int in[3] = { gb_feed(b, q), gb_feed(b, randt(1, dc, 0.05, 0.2, 0, NULL)), gb_tensor(b, z) };
    gb_output(b, gb_op(b, "DequantizeLinear", 3, in));
    attr_i(b, "axis", 1);
}

/* ---- data movement (grad_index.c): each through its own forward kernel ---- */

static int const_ints_shaped(gb *b, int nd, const int64_t *dims, const int64_t *v)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_I64, nd, dims, &t));
    memcpy(t->data, v, (size_t)lp_tensor_numel(t) * sizeof *v);
    return gb_tensor(b, t);
}

static void case_gather(gb *b)
{
    int64_t d[3] = { irand(1, 3), irand(2, 4), irand(1, 3) }, idx[4], nd = irand(1, 4);
    int ax = irand(0, 2);
    for (int i = 0; i < nd; i++) /* repeats and negative indices: both must add up */
        idx[i] = irand(-(int)d[ax], (int)d[ax] - 1);
    gb_output(b, op2(b, "Gather", feed(b, 3, d), const_ints_shaped(b, 1, &nd, idx)));
    attr_i(b, "axis", ax);
}
static void case_slice(gb *b)
{
    int64_t d[3] = { irand(2, 5), irand(2, 5), irand(1, 3) };
    int64_t starts[2] = { irand(-2, 1), irand(0, 1) }, ends[2] = { 100, irand(-1, 4) }, axes[2] = { 0, 1 },
            steps[2] = { irand(1, 2), irand(0, 1) ? 1 : -1 };
    if (steps[1] < 0) {
        starts[1] = -1;
        ends[1] = -100;
    }
    int n = 2;
    int in[5] = { feed(b, 3, d), const_ints(b, n, starts), const_ints(b, n, ends), const_ints(b, n, axes),
                  const_ints(b, n, steps) };
    gb_output(b, gb_op(b, "Slice", 5, in));
}
static void case_split(gb *b)
{
    int64_t d[2] = { irand(1, 3), irand(3, 6) }, sizes[2];
    sizes[0] = irand(1, (int)d[1] - 1);
    sizes[1] = d[1] - sizes[0];
    int in[2] = { feed(b, 2, d), const_ints(b, 2, sizes) };
    int out[2] = { gb_value(b, "s"), gb_value(b, "s") };
    CHECK_OK(lp_graph_add_node(b->g, "split", "Split", "", 2, in, 2, out, &b->last_node));
    attr_i(b, "axis", 1);
    gb_output(b, out[0]);
    gb_output(b, out[1]);
}
static void case_pad(gb *b)
{
    static const char *modes[3] = { "constant", "edge", "reflect" };
    int64_t d[2] = { irand(2, 4), irand(2, 4) }, pads[4] = { irand(0, 1), irand(0, 1), irand(0, 1), irand(0, 1) };
    int in[3] = { feed(b, 2, d), const_ints(b, 4, pads), gb_scalar(b, LP_F32, 0.5) };
    gb_output(b, gb_op(b, "Pad", 3, in));
    attr_s(b, "mode", modes[irand(0, 2)]);
}
static void case_expand(gb *b)
{
    int64_t d[2] = { irand(1, 3), 1 }, shape[3] = { 2, d[0], irand(1, 3) };
    gb_output(b, op2(b, "Expand", feed(b, 2, d), const_ints(b, 3, shape)));
}
static void case_tile(gb *b)
{
    int64_t d[2] = { irand(1, 3), irand(1, 3) }, rep[2] = { irand(1, 3), irand(1, 2) };
    gb_output(b, op2(b, "Tile", feed(b, 2, d), const_ints(b, 2, rep)));
}
static void case_gatherelements(gb *b)
{
    int64_t d[2] = { irand(2, 4), irand(2, 4) }, id[2] = { irand(1, 4), d[1] }, idx[16];
    for (int i = 0; i < id[0] * id[1]; i++)
        idx[i] = irand(0, (int)d[0] - 1);
    gb_output(b, op2(b, "GatherElements", feed(b, 2, d), const_ints_shaped(b, 2, id, idx)));
    attr_i(b, "axis", 0);
}
static void case_gathernd(gb *b)
{
    int64_t d[3] = { irand(2, 3), irand(2, 3), irand(1, 3) }, id[2] = { irand(1, 3), 2 }, idx[6];
    for (int i = 0; i < id[0]; i++) {
        idx[2 * i] = irand(0, (int)d[0] - 1);
        idx[2 * i + 1] = irand(0, (int)d[1] - 1);
    }
    gb_output(b, op2(b, "GatherND", feed(b, 3, d), const_ints_shaped(b, 2, id, idx)));
}
static void case_depthtospace(gb *b)
{
    int64_t d[4] = { 1, 4 * irand(1, 2), irand(1, 3), irand(1, 3) };
    gb_output(b, op1(b, "DepthToSpace", feed(b, 4, d)));
    attr_i(b, "blocksize", 2);
    attr_s(b, "mode", irand(0, 1) ? "DCR" : "CRD");
}
static void case_spacetodepth(gb *b)
{
    int64_t d[4] = { 1, irand(1, 2), 2 * irand(1, 2), 2 * irand(1, 2) };
    gb_output(b, op1(b, "SpaceToDepth", feed(b, 4, d)));
    attr_i(b, "blocksize", 2);
}
static void case_layernorm(gb *b)
{
    /* at least 3 normalized values: over 2, x_hat is +-1 whatever x (a near-singular map whose
     * finite differences at h = 1e-2 are not accurate when the two values are close) */
    int64_t d[3] = { irand(1, 3), irand(2, 4), irand(3, 5) };
    int ax = irand(1, 2);
    int in[3] = { feed(b, 3, d), param(b, 3 - ax, d + ax), param(b, 1, d + 2) };
    gb_output(b, gb_op(b, "LayerNormalization", 3, in));
    attr_i(b, "axis", ax);
}

static void variadic_case(gb *b, const char *op, bool distinct_values)
{
    int n = irand(1, 3), in[3];
    int64_t d[2] = { irand(1, 3), irand(2, 4) };
    for (int k = 0; k < n; k++) {
        int64_t dk[2] = { irand(0, 1) ? d[0] : 1, d[1] }; /* some broadcast */
        /* Max/Min: values spaced apart so that no two inputs tie within 2h */
        lp_tensor *t = randt(2, dk, -1, 1, 0, NULL);
        if (distinct_values)
            for (int64_t i = 0; i < lp_tensor_numel(t); i++)
                ((float *)t->data)[i] = (float)(0.3 * k + 0.1 * irand(0, 2) + 0.9 * irand(0, 3));
        in[k] = k == 1 ? gb_tensor(b, t) : gb_feed(b, t);
    }
    gb_output(b, gb_op(b, op, n, in));
}
static void case_sum(gb *b) { variadic_case(b, "Sum", false); }
static void case_mean(gb *b) { variadic_case(b, "Mean", false); }
static void case_max(gb *b) { variadic_case(b, "Max", true); }
static void case_min(gb *b) { variadic_case(b, "Min", true); }
static void case_where(gb *b)
{
    int64_t d[2] = { irand(1, 3), irand(1, 4) }, d1[1] = { d[1] };
    lp_tensor *cond = NULL;
    CHECK_OK(lp_tensor_new(LP_BOOL, 2, d, &cond));
    for (int64_t i = 0; i < lp_tensor_numel(cond); i++)
        ((uint8_t *)cond->data)[i] = (uint8_t)irand(0, 1);
    int in[3] = { gb_tensor(b, cond), feed(b, 2, d), param(b, 1, d1) };
    gb_output(b, gb_op(b, "Where", 3, in));
}

/* the loss ops: (N, C[, d]) scores, random targets (some ignored), optional class weights, each
 * reduction; SoftmaxCrossEntropyLoss also with its log_prob output in the sum */
static void loss_case(gb *b, const char *op)
{
    static const char *reds[3] = { "none", "sum", "mean" };
    int spatial = irand(0, 1);
    int64_t N = irand(1, 3), C = irand(2, 4), dd = irand(1, 3);
    int64_t dx[3] = { N, C, dd }, dt[2] = { N, dd }, tv[9];
    for (int i = 0; i < N * (spatial ? dd : 1); i++)
        tv[i] = irand(0, (int)C); /* C is the ignore_index below */
    tv[0] = irand(0, (int)C - 1); /* one counted target: a mean over none is 0/0 (NaN, as ONNX) */
    int in[3] = { feed(b, spatial ? 3 : 2, dx), const_ints_shaped(b, spatial ? 2 : 1, dt, tv),
                  gb_tensor(b, randt(1, &C, 0.5, 2, 0, NULL)) };
    int nin = irand(0, 1) ? 3 : 2;
    int out[2] = { gb_value(b, "l"), gb_value(b, "p") };
    int nout = !strcmp(op, "SoftmaxCrossEntropyLoss") ? irand(1, 2) : 1;
    CHECK_OK(lp_graph_add_node(b->g, "loss", op, "", nin, in, nout, out, &b->last_node));
    attr_s(b, "reduction", reds[irand(0, 2)]);
    attr_i(b, "ignore_index", C);
    for (int k = 0; k < nout; k++)
        gb_output(b, out[k]);
}
static void case_nll(gb *b) { loss_case(b, "NegativeLogLikelihoodLoss"); }
static void case_sce(gb *b) { loss_case(b, "SoftmaxCrossEntropyLoss"); }

typedef struct fd_case {
    const char *op;
    void (*build)(gb *b);
    bool training;
} fd_case;

static const fd_case cases[] = {
    { "Add", case_add, 0 }, { "Sub", case_sub, 0 }, { "Mul", case_mul, 0 }, { "Div", case_div, 0 },
    { "Pow", case_pow, 0 }, { "Relu", case_relu, 0 }, { "LeakyRelu", case_leakyrelu, 0 },
    { "Clip", case_clip, 0 }, { "Sigmoid", case_sigmoid, 0 }, { "Tanh", case_tanh, 0 },
    { "Erf", case_erf, 0 }, { "Sqrt", case_sqrt, 0 }, { "Exp", case_exp, 0 }, { "Log", case_log, 0 },
    { "Neg", case_neg, 0 }, { "Reciprocal", case_reciprocal, 0 }, { "HardSigmoid", case_hardsigmoid, 0 },
    { "HardSwish", case_hardswish, 0 }, { "Identity", case_identity, 0 },
    { "Softmax", case_softmax, 0 }, { "LogSoftmax", case_logsoftmax, 0 },
    { "ReduceMean", case_reducemean, 0 }, { "ReduceSum", case_reducesum, 0 },
    { "Gemm", case_gemm, 0 }, { "Gemm", case_gemm_ip, 0 }, { "MatMul", case_matmul, 0 }, { "Conv", case_conv, 0 }, { "ConvTranspose", case_convtranspose, 0 },
    { "MaxPool", case_maxpool, 0 }, { "AveragePool", case_averagepool, 0 },
    { "GlobalAveragePool", case_gap, 0 }, { "GlobalMaxPool", case_gmp, 0 },
    { "BatchNormalization", case_bn, 1 }, { "BatchNormalization", case_bn, 0 },
    { "Flatten", case_flatten, 0 }, { "Reshape", case_reshape, 0 }, { "Squeeze", case_squeeze, 0 },
    { "Unsqueeze", case_unsqueeze, 0 }, { "Transpose", case_transpose, 0 }, { "Concat", case_concat, 0 },
    { "Dropout", case_dropout, 1 }, { "Dropout", case_dropout, 0 },
    { "DequantizeLinear", case_dequantize, 0 },
    { "Gather", case_gather, 0 }, { "Slice", case_slice, 0 }, { "Split", case_split, 0 }, { "Pad", case_pad, 0 },
    { "Expand", case_expand, 0 }, { "Tile", case_tile, 0 }, { "GatherElements", case_gatherelements, 0 },
    { "GatherND", case_gathernd, 0 }, { "DepthToSpace", case_depthtospace, 0 },
    { "SpaceToDepth", case_spacetodepth, 0 }, { "LayerNormalization", case_layernorm, 0 },
    { "Sum", case_sum, 0 }, { "Mean", case_mean, 0 }, { "Max", case_max, 0 }, { "Min", case_min, 0 },
    { "Where", case_where, 0 }, { "NegativeLogLikelihoodLoss", case_nll, 0 },
    { "SoftmaxCrossEntropyLoss", case_sce, 0 },
    /* QuantizeLinear: see test_fake_quant_lsq (rounding has no finite difference to compare) */
    { "QuantizeLinear", NULL, 0 },
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static void test_rows_have_cases(void)
{
    for (int i = 0; i < lp_grad_count(); i++) {
        bool found = false;
        for (int c = 0; c < N_CASES && !found; c++)
            found = !strcmp(cases[c].op, lp_grad_at(i)->name);
        CHECK_MSG(found, "backward of %s has no finite-difference case in tests/test_train_grad.c",
                  lp_grad_at(i)->name);
    }
}

static void test_backward_vs_finite_differences(void)
{
    for (int c = 0; c < N_CASES; c++) {
        if (!cases[c].build)
            continue;
        for (int rep = 0; rep < 4; rep++) { /* four random instances per op */
            gb *b = gb_new(17);
            cases[c].build(b);
            int failed = lp_test_cur_failed;
            lp_test_cur_failed = 0;
            fd_check(b, cases[c].op, cases[c].training);
            if (lp_test_cur_failed)
                printf("  (%s instance %d, training %d)\n", cases[c].op, rep, cases[c].training);
            lp_test_cur_failed |= failed;
            gb_free(b);
        }
    }
}

/* Q -> DQ sharing one scale: the tape's gradients against LSQ's closed form (Esser et al.,
 * eq. 3): dy/dx = 1 inside the integer range, 0 outside; dy/ds = round(x/s) - x/s inside,
 * q_min - z or q_max - z where it clips. Computed here independently of grad_quant.c. */
static void test_fake_quant_lsq(void)
{
    for (int rep = 0; rep < 4; rep++) {
        gb *b = gb_new(13);
        int64_t d[2] = { irand(1, 4), irand(2, 6) };
        float s = (float)urand(0.01, 0.05);
        int zq = irand(-5, 5);
        lp_tensor *x = randt(2, d, -4, 4, 0, NULL); /* beyond the range at these scales: some clip */
        int xv = gb_feed(b, x), sv = gb_tensor(b, randt(0, NULL, s, s, 0, NULL));
        int zv = gb_scalar(b, LP_I8, zq);
        int qin[3] = { xv, sv, zv };
        int q = gb_op(b, "QuantizeLinear", 3, qin);
        int dqin[3] = { q, sv, zv };
        int y = gb_op(b, "DequantizeLinear", 3, dqin);
        gb_output(b, y);
        lp_tape *t = NULL;
        lp_tape_options o = { .learn_scale = true, .grad_inputs = true };
        CHECK_OK(lp_tape_create(b->g, &o, &t));
        CHECK_OK(lp_tape_forward(t, b->feed, true, 1));
        lp_tensor *R = randt(2, d, -1, 1, 0, NULL);
        const lp_tensor *Rc = R;
        CHECK_OK(lp_tape_backward(t, 1, &y, &Rc));
        const lp_tensor *gx = lp_tape_grad(t, xv), *gs = lp_tape_grad(t, sv);
        CHECK(gx && gs && lp_tape_n_params(t) == 1);
        double want_s = 0;
        int clipped = 0;
        for (int64_t i = 0; gx && i < lp_tensor_numel(x); i++) {
            double xs = ((float *)x->data)[i] / s, r = nearbyint(xs) + zq;
            double ri = ((float *)R->data)[i];
            bool in = r >= -128 && r <= 127;
            clipped += !in;
            CHECK_NEAR(((float *)gx->data)[i], in ? ri : 0.0, 1e-5);
            want_s += ri * (in ? nearbyint(xs) - xs : (r < -128 ? -128 : 127) - zq);
        }
        /* float32 sums of O(20) terms of O(100): 1e-4 relative */
        if (gs)
            CHECK_NEAR(((float *)gs->data)[0], want_s, 1e-4 * fmax(1, fabs(want_s)));
        lp_tensor_free(R);
        lp_tape_free(t);
        gb_free(b);
    }
}

/* A learned zero point (qat.c's lp_qat_learn_zero_points): z = Q(b, s, 0) = round(b / s) feeds
 * a Q -> DQ pair. As a function of the integer z, the pair is linear where nothing changes sides
 * of the clipping bounds -- (q_max - z) s where it clips high, (q_min - z) s low, independent of
 * z inside -- so a finite difference with step 1 in z (b +- s) is exact there. x is drawn so no
 * element is within 1 of a bound: the tape's dL/db (straight-through through both rounds) must
 * equal (L(b + s) - L(b - s)) / 2s. int8 and uint8, several clipping at either end. */
static void test_fake_quant_zero_point(void)
{
    for (int rep = 0; rep < 6; rep++) {
        bool u8 = rep % 2;
        int lo = u8 ? 0 : -128, hi = u8 ? 255 : 127, z = u8 ? irand(20, 235) : irand(-100, 100);
        float s = (float)urand(0.01, 0.05);
        int64_t d[2] = { irand(1, 4), irand(2, 6) };
        lp_tensor *x = NULL;
        CHECK_OK(lp_tensor_new(LP_F32, 2, d, &x));
        for (int64_t i = 0; i < lp_tensor_numel(x); i++) {
            int kind = irand(0, 2), r; /* r = round(x / s) + z: below, inside or above the range */
            r = kind == 0 ? lo - irand(2, 40) : kind == 1 ? irand(lo + 1, hi - 1) : hi + irand(2, 40);
            ((float *)x->data)[i] = (float)((r - z + urand(-0.4, 0.4)) * s);
        }
        gb *b = gb_new(13);
        int xv = gb_feed(b, x), sv = gb_tensor(b, randt(0, NULL, s, s, 0, NULL));
        int bv = gb_tensor(b, randt(0, NULL, z * s, z * s, 0, NULL));
        int y = train_test_learned_qdq(b, xv, sv, bv, u8 ? LP_U8 : LP_I8);
        gb_output(b, y);
        lp_tape *t = NULL;
        CHECK_OK(lp_tape_create(b->g, NULL, &t));
        CHECK(t && lp_tape_n_params(t) == 1 && lp_tape_param(t, 0) == bv);
        lp_tensor *R = randt(2, d, -1, 1, 0, NULL);
        const lp_tensor *Rc = R;
        double L[2] = { 0, 0 };
        float *bd = b->g->values[bv].init->data, b0 = bd[0];
        for (int k = 0; t && k < 2; k++) {
            bd[0] = b0 + (k ? -s : s);
            CHECK_OK(lp_tape_forward(t, b->feed, true, 1));
            const lp_tensor *yt = lp_tape_value(t, y);
            for (int64_t i = 0; yt && i < lp_tensor_numel(yt); i++)
                L[k] += (double)((const float *)yt->data)[i] * ((const float *)R->data)[i];
        }
        bd[0] = b0;
        if (t) {
            CHECK_OK(lp_tape_forward(t, b->feed, true, 1));
            CHECK_OK(lp_tape_backward(t, 1, &y, &Rc));
        }
        const lp_tensor *gb_ = t ? lp_tape_grad(t, bv) : NULL;
        double fd = (L[0] - L[1]) / (2 * s);
        /* y is float32 of magnitude <= 10: each element's difference carries ~1e-6 of rounding,
         * over 2s ~ 0.02..0.1 and up to 24 elements: 1e-3 absolute covers it; a dropped or
         * doubled contribution of one clipped element is >= 0.02 * |R| apart */
        CHECK_MSG(gb_ && fabs(((const float *)gb_->data)[0] - fd) <= 1e-3 + 1e-3 * fabs(fd),
                  "zero point (%s, z %d): backward %.6g, finite difference %.6g", u8 ? "uint8" : "int8", z,
                  gb_ ? ((const float *)gb_->data)[0] : NAN, fd);
        lp_tensor_free(R);
        lp_tape_free(t);
        gb_free(b);
    }
}

/* Each loss against finite differences of itself. */
static void test_losses(void)
{
    for (int i = 0; i < lp_loss_count(); i++) {
        const lp_loss_def *L = lp_loss_at(i);
        for (int rep = 0; rep < 3; rep++) {
            int64_t N = irand(1, 5), C = irand(2, 7), dy[2] = { N, C };
            lp_tensor *y = randt(2, dy, -3, 3, 0, NULL), *teacher = randt(2, dy, -3, 3, 0, NULL);
            lp_tensor *labels = NULL, *dyt = NULL;
            if (!strcmp(L->name, "MSELoss"))
                labels = randt(2, dy, -1, 1, 0, NULL);
            else {
                CHECK_OK(lp_tensor_new(LP_I64, 1, &N, &labels));
                for (int64_t k = 0; k < N; k++)
                    ((int64_t *)labels->data)[k] = irand(0, (int)C - 1);
            }
            CHECK_OK(lp_tensor_new(LP_F32, 2, dy, &dyt));
            lp_loss_params p = lp_loss_params_default();
            p.temperature = 2.0;
            double loss;
            CHECK_OK(L->fn(y, labels, teacher, &p, &loss, dyt));
            for (int64_t k = 0; k < N * C; k++) {
                float *yd = y->data, keep = yd[k];
                double lp, lm;
                lp_tensor *scratch = NULL;
                CHECK_OK(lp_tensor_new(LP_F32, 2, dy, &scratch));
                yd[k] = (float)(keep + FD_H);
                CHECK_OK(L->fn(y, labels, teacher, &p, &lp, scratch));
                yd[k] = (float)(keep - FD_H);
                CHECK_OK(L->fn(y, labels, teacher, &p, &lm, scratch));
                yd[k] = keep;
                lp_tensor_free(scratch);
                double fd = (lp - lm) / (2 * FD_H), an = ((float *)dyt->data)[k];
                CHECK_MSG(fabs(fd - an) <= FD_ABS + FD_REL * fmax(fabs(fd), fabs(an)),
                          "%s: d/dy[%lld]: %.6g vs finite difference %.6g", L->name, (long long)k, an, fd);
            }
            lp_tensor_free(y);
            lp_tensor_free(teacher);
            lp_tensor_free(labels);
            lp_tensor_free(dyt);
        }
    }
}

/* A node without a backward on the gradient path is an error naming it. */
static void test_missing_backward_is_named(void)
{
    gb *b = gb_new(17);
    int64_t d[2] = { 2, 3 };
    int x = feed(b, 2, d);
    int w = param(b, 2, d);
    int y = op2(b, "Mul", x, w);
    int z = op1(b, "Sin", y);
    gb_output(b, z);
    lp_tape *t = NULL;
    CHECK_OK(lp_tape_create(b->g, NULL, &t));
    CHECK_OK(lp_tape_forward(t, b->feed, true, 1));
    lp_tensor *R = randt(2, d, -1, 1, 0, NULL);
    const lp_tensor *Rc = R;
    CHECK(lp_tape_backward(t, 1, &z, &Rc) == LOWP_ERR_UNSUPPORTED);
    CHECK(strstr(lowp_last_error(), "Sin") != NULL);
    lp_tensor_free(R);
    lp_tape_free(t);
    gb_free(b);
}

/* A LayerNorm and a GELU as opset-13 exports decompose them: their one-element constants
 * (epsilon, the exponent, 1/sqrt(2), 1, 1/2, a 1/sqrt(d) scale) are part of the formula, not
 * parameters -- trained, Adam drove vit_s's epsilons below zero and Sqrt to NaN. Only the
 * LayerNorm's scale and shift (D values each) and the Gemm's weight and bias train. */
static void test_formula_scalars_not_trained(void)
{
    gb *b = gb_new(17);
    int64_t d[2] = { 3, 8 }, dd[1] = { 8 }, wd[2] = { 8, 4 }, bd[1] = { 4 }, ax[1] = { -1 };
    float cv[6] = { 1e-5f, 2.0f, 0.70710678f, 1.0f, 0.5f, 0.25f };
    int k[6];
    for (int i = 0; i < 6; i++) {
        lp_tensor *c = NULL;
        CHECK_OK(lp_tensor_new(LP_F32, 0, NULL, &c));
        ((float *)c->data)[0] = cv[i];
        k[i] = gb_tensor(b, c);
    }
    int x = feed(b, 2, d), gamma = param(b, 1, dd), beta = param(b, 1, dd);
    int mean = op1(b, "ReduceMean", x);
    attr_ints(b, "axes", 1, ax);
    int xc = op2(b, "Sub", x, mean);
    int var = op1(b, "ReduceMean", op2(b, "Pow", xc, k[1]));
    attr_ints(b, "axes", 1, ax);
    int n = op2(b, "Div", xc, op1(b, "Sqrt", op2(b, "Add", var, k[0])));
    int ln = op2(b, "Add", op2(b, "Mul", n, gamma), beta);
    /* GELU: x * (erf(x / sqrt 2) + 1) * 0.5, then a scale */
    int ge = op2(b, "Mul", op2(b, "Mul", ln, op2(b, "Add", op1(b, "Erf", op2(b, "Mul", ln, k[2])), k[3])), k[4]);
    int gin[3] = { op2(b, "Mul", ge, k[5]), param(b, 2, wd), param(b, 1, bd) };
    gb_output(b, gb_op(b, "Gemm", 3, gin));
    lp_tape *t = NULL;
    CHECK_OK(lp_tape_create(b->g, NULL, &t));
    CHECK(lp_tape_n_params(t) == 4);
    for (int i = 0; t && i < lp_tape_n_params(t); i++) {
        const lp_tensor *p = b->g->values[lp_tape_param(t, i)].init;
        CHECK_MSG(p && lp_tensor_numel(p) > 1, "parameter %d has %lld element(s)", i,
                  p ? (long long)lp_tensor_numel(p) : -1LL);
    }
    lp_tape_free(t);
    gb_free(b);
}

/* The same cases on the reference twins alone (the run above takes the oneDNN fast paths
 * where they apply: src/train/dnnl_*.c). */
static void test_reference_twins_vs_finite_differences(void)
{
    setenv("LOWP_KERNELS", "reference", 1);
    test_backward_vs_finite_differences();
    unsetenv("LOWP_KERNELS");
}

int main(void)
{
    unsetenv("LOWP_KERNELS");
    RUN(test_rows_have_cases);
    RUN(test_backward_vs_finite_differences);
    RUN(test_reference_twins_vs_finite_differences);
    RUN(test_fake_quant_lsq);
    RUN(test_fake_quant_zero_point);
    RUN(test_losses);
    RUN(test_missing_backward_is_named);
    RUN(test_formula_scalars_not_trained);
    return TEST_SUMMARY("test_train_grad");
}
