/* test_ops_shape.c — shape and data-movement ops: infer on static, symbolic and unknown
 * shapes, and run against hand-computed values (several dtypes, edge cases, bad input). */
#include <stdint.h>

#include "lowp.h"
#include "op_harness.h"

/* Two symbolic dims, as the IR codes them. */
#define N_ LP_DIM_SYM0
#define M_ (LP_DIM_SYM0 - 1)
#define U_ LP_DIM_UNKNOWN

/* ---- tensors and vinfos ---- */

/* A tensor of dims with values `v` (NULL: 0, 1, 2, ...). */
static lp_tensor *T(lp_dtype dt, int nd, const int64_t *dims, const double *v)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(dt, nd, dims, &t));
    if (!t)
        return NULL;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        lp_dtype_traits_of(dt)->set(t->data, i, v ? v[i] : (double)i);
    return t;
}

#define F(...) ((const double[]){ __VA_ARGS__ })
/* A 1-D int64 tensor of the n values listed. */
#define I64S(n, ...) T(LP_I64, 1, D(n), F(__VA_ARGS__))

static lp_vinfo V(lp_dtype dt, int nd, const int64_t *d)
{
    lp_vinfo v = { .dtype = dt, .shape.ndim = nd };
    for (int i = 0; i < nd; i++)
        v.shape.d[i] = d[i];
    return v;
}

/* A vinfo holding a known value (the tensor stays owned by the caller). */
static lp_vinfo VT(lp_tensor *t)
{
    lp_vinfo v = { .dtype = t->dtype, .value = t };
    lp_shape_of(t, &v.shape);
    return v;
}

static bool shape_is(const lp_shape *s, int nd, const int64_t *d)
{
    if (s->ndim != nd)
        return false;
    for (int i = 0; i < nd; i++)
        if (s->d[i] != d[i])
            return false;
    return true;
}

static bool vals_is(const lp_tensor *t, int n, const double *v)
{
    if (!t || lp_tensor_numel(t) != n)
        return false;
    for (int i = 0; i < n; i++)
        if (fabs(lp_tensor_get(t, i) - v[i]) > 1e-5 * (1 + fabs(v[i])))
            return false;
    return true;
}

#define CHECK_SHAPE(s, nd, ...) CHECK(shape_is((s), (nd), D(__VA_ARGS__)))
#define CHECK_DIMS(t, nd, ...) CHECK(dims_are((t), (nd), D(__VA_ARGS__)))
#define CHECK_VALS(t, ...)                                                    \
    do {                                                                      \
        const double w_[] = { __VA_ARGS__ };                                  \
        CHECK(vals_is((t), (int)(sizeof w_ / sizeof *w_), w_));               \
    } while (0)

/* ---- releasing results (cases build nodes and run them through op_harness.h) ---- */

static void release(lp_vinfo *v, int n)
{
    for (int i = 0; i < n; i++) {
        lp_tensor_free(v[i].value);
        v[i].value = NULL;
    }
}

static void freeall(lp_tensor **t, int n)
{
    for (int i = 0; i < n; i++) {
        lp_tensor_free(t[i]);
        t[i] = NULL;
    }
}

/* ---- Flatten ---- */

static void test_flatten(void)
{
    tcase t = mk("Flatten", 1, 1);
    lp_tensor *x = T(LP_F32, 3, D(2, 3, 4), NULL), *y[1];
    CHECK_OK(eval(&t, 13, 1, &x, 1, y));
    CHECK_DIMS(y[0], 2, 2, 12);
    CHECK(lp_tensor_numel(y[0]) == 24 && memcmp(y[0]->data, x->data, x->nbytes) == 0);
    freeall(y, 1);
    lp_graph_free(t.g);

    int64_t axes[] = { 0, 2, 3, -1, -3 };
    int64_t want[][2] = { { 1, 24 }, { 6, 4 }, { 24, 1 }, { 6, 4 }, { 1, 24 } };
    for (int i = 0; i < 5; i++) {
        t = mk("Flatten", 1, 1);
        attr_int(&t, "axis", axes[i]);
        CHECK_OK(eval(&t, 13, 1, &x, 1, y));
        CHECK(dims_are(y[0], 2, want[i]));
        freeall(y, 1);
        lp_graph_free(t.g);
    }
    /* negative axes came with opset 11; 4 is out of range */
    t = mk("Flatten", 1, 1);
    attr_int(&t, "axis", -1);
    CHECK(eval(&t, 9, 1, &x, 1, y) == LOWP_ERR_SHAPE);
    lp_graph_free(t.g);
    t = mk("Flatten", 1, 1);
    attr_int(&t, "axis", 4);
    CHECK(eval(&t, 13, 1, &x, 1, y) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "'n0'") != NULL); /* names the node */
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

static void test_flatten_symbolic(void)
{
    tcase t = mk("Flatten", 1, 1);
    lp_vinfo x = V(LP_F32, 4, D(N_, 3, 4, 5)), y;
    const lp_vinfo *in[] = { &x };
    CHECK_OK(infer_only(&t, 13, 1, in, 1, &y));
    CHECK_SHAPE(&y.shape, 2, N_, 60); /* a lone symbol survives */
    CHECK(y.dtype == LP_F32);
    lp_graph_free(t.g);

    t = mk("Flatten", 1, 1);
    attr_int(&t, "axis", 2);
    CHECK_OK(infer_only(&t, 13, 1, in, 1, &y));
    CHECK_SHAPE(&y.shape, 2, U_, 20); /* N*3 is not known */
    lp_graph_free(t.g);

    x = V(LP_F32, -1, NULL);
    t = mk("Flatten", 1, 1);
    CHECK_OK(infer_only(&t, 13, 1, in, 1, &y));
    CHECK_SHAPE(&y.shape, 2, U_, U_);
    lp_graph_free(t.g);
}

/* ---- Reshape ---- */

static void test_reshape(void)
{
    lp_tensor *x = T(LP_I64, 3, D(2, 3, 4), NULL), *y[1];
    struct {
        int n;
        double shape[4];
        int nd;
        int64_t want[4];
        int allowzero;
    } cases[] = {
        { 2, { 0, -1 }, 2, { 2, 12 }, 0 },
        { 1, { -1 }, 1, { 24 }, 0 },
        { 4, { 4, 1, -1, 2 }, 4, { 4, 1, 3, 2 }, 0 },
        { 3, { 0, 0, 4 }, 3, { 2, 3, 4 }, 0 },
        { 3, { 1, 0, 8 }, 3, { 1, 3, 8 }, 0 }, /* 0 copies dim 1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tcase t = mk("Reshape", 2, 1);
        lp_tensor *in[2] = { x, T(LP_I64, 1, D(cases[i].n), cases[i].shape) };
        CHECK_OK(eval(&t, 14, 2, in, 1, y));
        CHECK(dims_are(y[0], cases[i].nd, cases[i].want));
        CHECK(y[0] && memcmp(y[0]->data, x->data, x->nbytes) == 0);
        freeall(y, 1);
        lp_tensor_free(in[1]);
        lp_graph_free(t.g);
    }
    /* allowzero: a 0 is a zero-size dim */
    lp_tensor *e = T(LP_F32, 2, D(0, 3), NULL);
    tcase t = mk("Reshape", 2, 1);
    attr_int(&t, "allowzero", 1);
    lp_tensor *in[2] = { e, I64S(3, 3, 0, 1) };
    CHECK_OK(eval(&t, 14, 2, in, 1, y));
    CHECK_DIMS(y[0], 3, 3, 0, 1);
    freeall(y, 1);
    lp_tensor_free(in[1]);
    lp_graph_free(t.g);
    lp_tensor_free(e);

    /* errors: two -1, element count, 0 beyond the rank, -2 */
    lp_tensor *bad[] = { I64S(3, -1, -1, 2), I64S(3, 5, 5, 1), I64S(4, 2, 3, 4, 0), I64S(3, 2, -2, -12) };
    for (int i = 0; i < 4; i++) {
        t = mk("Reshape", 2, 1);
        lp_tensor *bin[2] = { x, bad[i] };
        CHECK_MSG(eval(&t, 14, 2, bin, 1, y) == LOWP_ERR_SHAPE, "case %d", i);
        lp_tensor_free(bad[i]);
        lp_graph_free(t.g);
    }
    lp_tensor_free(x);
}

static void test_reshape_symbolic(void)
{
    lp_vinfo x = V(LP_F32, 3, D(N_, 3, 4)), y;
    lp_tensor *s = I64S(2, 0, -1);
    lp_vinfo sv = VT(s);
    const lp_vinfo *in[] = { &x, &sv };
    tcase t = mk("Reshape", 2, 1);
    CHECK_OK(infer_only(&t, 13, 2, in, 1, &y));
    CHECK_SHAPE(&y.shape, 2, N_, 12); /* N cancels against the copied N */
    lp_tensor_free(s);

    s = I64S(4, -1, 3, 2, 2);
    sv = VT(s);
    CHECK_OK(infer_only(&t, 13, 2, in, 1, &y));
    CHECK_SHAPE(&y.shape, 4, U_, 3, 2, 2); /* -1 = N, but N is not in the shape input */
    lp_tensor_free(s);

    /* [N, 12] -> [N?]: shape [-1, 3, 4] from [N, 12] */
    x = V(LP_F32, 2, D(N_, 12));
    s = I64S(3, 0, 3, -1);
    sv = VT(s);
    CHECK_OK(infer_only(&t, 13, 2, in, 1, &y));
    CHECK_SHAPE(&y.shape, 3, N_, 3, 4);
    lp_tensor_free(s);

    /* shape not known: rank from its length, dims unknown */
    sv = V(LP_I64, 1, D(3));
    CHECK_OK(infer_only(&t, 13, 2, in, 1, &y));
    CHECK_SHAPE(&y.shape, 3, U_, U_, U_);
    sv = V(LP_I64, 1, D(N_));
    CHECK_OK(infer_only(&t, 13, 2, in, 1, &y));
    CHECK(y.shape.ndim == -1);
    lp_graph_free(t.g);
}

/* ---- Transpose ---- */

static void test_transpose(void)
{
    /* x[i][j][k] = 12i + 4j + k, (2,3,4); perm (1,2,0): y[j][k][i] */
    lp_tensor *x = T(LP_F32, 3, D(2, 3, 4), NULL), *y[1];
    tcase t = mk("Transpose", 1, 1);
    attr_ints(&t, "perm", 3, D(1, 2, 0));
    CHECK_OK(eval(&t, 13, 1, &x, 1, y));
    CHECK_DIMS(y[0], 3, 3, 4, 2);
    bool ok = y[0] != NULL;
    for (int j = 0; j < 3 && ok; j++)
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 2; i++)
                ok &= ((float *)y[0]->data)[(j * 4 + k) * 2 + i] == (float)(12 * i + 4 * j + k);
    CHECK(ok);
    freeall(y, 1);
    lp_graph_free(t.g);

    /* default: reverse; bool and float16 move as bytes */
    lp_dtype dts[] = { LP_BOOL, LP_F16, LP_I64, LP_F64 };
    for (int d = 0; d < 4; d++) {
        lp_tensor *b = T(dts[d], 2, D(2, 3), F(1, 0, 0, 1, 1, 0));
        t = mk("Transpose", 1, 1);
        CHECK_OK(eval(&t, 13, 1, &b, 1, y));
        CHECK_DIMS(y[0], 2, 3, 2);
        CHECK_VALS(y[0], 1, 1, 0, 1, 0, 0);
        freeall(y, 1);
        lp_tensor_free(b);
        lp_graph_free(t.g);
    }

    /* symbols move with their axes; a bad perm fails */
    t = mk("Transpose", 1, 1);
    attr_ints(&t, "perm", 4, D(0, 2, 3, 1));
    lp_vinfo xv = V(LP_F32, 4, D(N_, 3, M_, 5)), yv;
    const lp_vinfo *in[] = { &xv };
    CHECK_OK(infer_only(&t, 13, 1, in, 1, &yv));
    CHECK_SHAPE(&yv.shape, 4, N_, M_, 5, 3);
    xv = V(LP_F32, -1, NULL);
    CHECK_OK(infer_only(&t, 13, 1, in, 1, &yv));
    CHECK_SHAPE(&yv.shape, 4, U_, U_, U_, U_);
    lp_graph_free(t.g);
    t = mk("Transpose", 1, 1);
    attr_ints(&t, "perm", 3, D(0, 0, 1));
    CHECK(eval(&t, 13, 1, &x, 1, y) == LOWP_ERR_SHAPE);
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

/* ---- Concat / Split ---- */

static void test_concat(void)
{
    lp_tensor *in[3] = { T(LP_F32, 2, D(2, 1), F(1, 2)), T(LP_F32, 2, D(2, 3), F(3, 4, 5, 6, 7, 8)),
                         T(LP_F32, 2, D(2, 0), NULL) };
    lp_tensor *y[1];
    tcase t = mk("Concat", 3, 1);
    attr_int(&t, "axis", -1);
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    CHECK_DIMS(y[0], 2, 2, 4);
    CHECK_VALS(y[0], 1, 3, 4, 5, 2, 6, 7, 8);
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("Concat", 2, 1);
    attr_int(&t, "axis", 0);
    CHECK(eval(&t, 13, 2, in, 1, y) == LOWP_ERR_SHAPE); /* dim 1: 1 vs 3 */
    lp_graph_free(t.g);

    lp_tensor *h[2] = { T(LP_F16, 1, D(2), F(1, 2)), T(LP_F16, 1, D(1), F(-3)) };
    t = mk("Concat", 2, 1);
    attr_int(&t, "axis", 0);
    CHECK_OK(eval(&t, 13, 2, h, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_F16);
    CHECK_VALS(y[0], 1, 2, -3);
    freeall(y, 1);
    freeall(h, 2);
    lp_graph_free(t.g);

    /* symbolic: other axes keep symbols, the axis sums known parts only */
    lp_vinfo a = V(LP_F32, 2, D(N_, 3)), b = V(LP_F32, 2, D(N_, 5)), yv;
    const lp_vinfo *vin[] = { &a, &b };
    t = mk("Concat", 2, 1);
    attr_int(&t, "axis", 1);
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 2, N_, 8);
    b = V(LP_F32, 2, D(U_, M_));
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 2, N_, U_);
    b = V(LP_F32, 3, D(1, 2, 3));
    CHECK(infer_only(&t, 13, 2, vin, 1, &yv) == LOWP_ERR_SHAPE);
    lp_graph_free(t.g);
    freeall(in, 3);
}

static void test_split(void)
{
    lp_tensor *x = T(LP_I32, 2, D(2, 6), NULL), *y[4];
    /* equal parts along axis 1 */
    tcase t = mk("Split", 1, 3);
    attr_int(&t, "axis", 1);
    CHECK_OK(eval(&t, 13, 1, &x, 3, y));
    CHECK_DIMS(y[0], 2, 2, 2);
    CHECK_VALS(y[0], 0, 1, 6, 7);
    CHECK_VALS(y[2], 4, 5, 10, 11);
    freeall(y, 3);
    lp_graph_free(t.g);

    /* sizes as an input (13+) and as an attribute (< 13), a zero-size part */
    lp_tensor *in[2] = { x, I64S(3, 1, 0, 5) };
    t = mk("Split", 2, 3);
    attr_int(&t, "axis", -1);
    CHECK_OK(eval(&t, 13, 2, in, 3, y));
    CHECK_DIMS(y[1], 2, 2, 0);
    CHECK_VALS(y[0], 0, 6);
    CHECK_VALS(y[2], 1, 2, 3, 4, 5, 7, 8, 9, 10, 11);
    freeall(y, 3);
    lp_graph_free(t.g);
    lp_tensor_free(in[1]);

    t = mk("Split", 1, 2);
    attr_ints(&t, "split", 2, D(1, 1));
    CHECK_OK(eval(&t, 11, 1, &x, 2, y));
    CHECK_DIMS(y[1], 2, 1, 6);
    CHECK_VALS(y[1], 6, 7, 8, 9, 10, 11);
    freeall(y, 2);
    lp_graph_free(t.g);

    /* an omitted output is not written */
    t = mk("Split", 1, 2);
    bool skip[2] = { true, false };
    CHECK_OK(eval_skip(&t, 13, 1, &x, 2, y, skip));
    CHECK_VALS(y[1], 6, 7, 8, 9, 10, 11);
    freeall(y, 2);
    lp_graph_free(t.g);

    /* 6 into 4 equal parts; lengths that do not add up */
    t = mk("Split", 1, 4);
    attr_int(&t, "axis", 1);
    CHECK(eval(&t, 13, 1, &x, 4, y) == LOWP_ERR_SHAPE);
    lp_graph_free(t.g);
    t = mk("Split", 1, 2);
    attr_int(&t, "axis", 1);
    attr_ints(&t, "split", 2, D(2, 3));
    CHECK(eval(&t, 11, 1, &x, 2, y) == LOWP_ERR_SHAPE);
    lp_graph_free(t.g);

    /* symbolic: the split axis of N is unknown, the others keep symbols */
    lp_vinfo xv = V(LP_F32, 2, D(M_, N_)), yv[2];
    const lp_vinfo *vin[] = { &xv };
    t = mk("Split", 1, 2);
    attr_int(&t, "axis", 1);
    CHECK_OK(infer_only(&t, 13, 1, vin, 2, yv));
    CHECK_SHAPE(&yv[0].shape, 2, M_, U_);
    CHECK_SHAPE(&yv[1].shape, 2, M_, U_);
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

/* ---- Slice ---- */

static void test_slice(void)
{
    /* x: (3, 4) = 0..11 */
    lp_tensor *x = T(LP_F32, 2, D(3, 4), NULL), *y[1];
    struct {
        int n;
        double starts[2], ends[2], axes[2], steps[2];
        int64_t want_dims[2];
        int n_want;
        double want[12];
    } cases[] = {
        /* x[0:2, 1:3] */
        { 2, { 0, 1 }, { 2, 3 }, { 0, 1 }, { 1, 1 }, { 2, 2 }, 4, { 1, 2, 5, 6 } },
        /* x[:, ::-2] with end clamped from INT64_MIN-like */
        { 1, { -1 }, { -1000 }, { 1 }, { -2 }, { 3, 2 }, 6, { 3, 1, 7, 5, 11, 9 } },
        /* x[1:1000] (end out of range), axis -2 */
        { 1, { 1 }, { 1000 }, { -2 }, { 1 }, { 2, 4 }, 8, { 4, 5, 6, 7, 8, 9, 10, 11 } },
        /* x[10:] start out of range: empty */
        { 1, { 10 }, { 20 }, { 0 }, { 1 }, { 0, 4 }, 0, { 0 } },
        /* x[2:0:-1, -1:] */
        { 2, { 2, -1 }, { 0, 4 }, { 0, 1 }, { -1, 1 }, { 2, 1 }, 2, { 11, 7 } },
        /* x[::3, ::5] */
        { 2, { 0, 0 }, { 3, 4 }, { 0, 1 }, { 3, 5 }, { 1, 1 }, 1, { 0 } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = cases[i].n;
        lp_tensor *in[5] = { x, T(LP_I64, 1, D(n), cases[i].starts), T(LP_I64, 1, D(n), cases[i].ends),
                             T(LP_I32, 1, D(n), cases[i].axes), T(LP_I64, 1, D(n), cases[i].steps) };
        tcase t = mk("Slice", 5, 1);
        CHECK_OK(eval(&t, 13, 5, in, 1, y));
        CHECK_MSG(dims_are(y[0], 2, cases[i].want_dims), "case %zu", i);
        CHECK_MSG(vals_is(y[0], cases[i].n_want, cases[i].want), "case %zu", i);
        freeall(y, 1);
        freeall(in + 1, 4);
        lp_graph_free(t.g);
    }

    /* default axes and steps (opset 10+ inputs omitted) */
    lp_tensor *in[3] = { x, I64S(2, 1, 1), I64S(2, 3, 3) };
    tcase t = mk("Slice", 3, 1);
    CHECK_OK(eval(&t, 10, 3, in, 1, y));
    CHECK_DIMS(y[0], 2, 2, 2);
    CHECK_VALS(y[0], 5, 6, 9, 10);
    freeall(y, 1);
    freeall(in + 1, 2);
    lp_graph_free(t.g);

    /* opset 1-9: attributes */
    t = mk("Slice", 1, 1);
    attr_ints(&t, "starts", 1, D(-2));
    attr_ints(&t, "ends", 1, D(INT64_MAX));
    attr_ints(&t, "axes", 1, D(1));
    CHECK_OK(eval(&t, 9, 1, &x, 1, y));
    CHECK_DIMS(y[0], 2, 3, 2);
    CHECK_VALS(y[0], 2, 3, 6, 7, 10, 11);
    freeall(y, 1);
    lp_graph_free(t.g);

    /* step 0 and repeated axes fail */
    lp_tensor *bad[5] = { x, I64S(1, 0), I64S(1, 1), I64S(1, 0), I64S(1, 0) };
    t = mk("Slice", 5, 1);
    CHECK(eval(&t, 13, 5, bad, 1, y) == LOWP_ERR_SHAPE);
    freeall(bad + 1, 4);
    lp_tensor *rep[4] = { x, I64S(2, 0, 0), I64S(2, 1, 1), I64S(2, 1, 1) };
    CHECK(eval(&t, 13, 4, rep, 1, y) == LOWP_ERR_SHAPE);
    freeall(rep + 1, 3);
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

static void test_slice_symbolic(void)
{
    lp_vinfo x = V(LP_F32, 3, D(N_, 10, M_)), yv;
    lp_tensor *s = I64S(2, 0, 2), *e = I64S(2, INT64_MAX, 8), *a = I64S(2, 2, 1);
    lp_vinfo sv = VT(s), ev = VT(e), av = VT(a);
    const lp_vinfo *in[] = { &x, &sv, &ev, &av };
    tcase t = mk("Slice", 4, 1);
    CHECK_OK(infer_only(&t, 13, 4, in, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, N_, 6, M_); /* [0:] keeps M */
    /* starts not known: the sliced axes become unknown, the others stay */
    sv = V(LP_I64, 1, D(2));
    CHECK_OK(infer_only(&t, 13, 4, in, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, N_, U_, U_);
    /* axes not known either: all unknown, rank kept */
    av = V(LP_I64, 1, D(2));
    CHECK_OK(infer_only(&t, 13, 4, in, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, U_, U_, U_);
    lp_graph_free(t.g);
    lp_tensor_free(s);
    lp_tensor_free(e);
    lp_tensor_free(a);
}

/* ---- Squeeze / Unsqueeze ---- */

static void test_squeeze(void)
{
    lp_tensor *x = T(LP_U8, 4, D(1, 3, 1, 2), NULL), *y[1];
    tcase t = mk("Squeeze", 1, 1);
    CHECK_OK(eval(&t, 13, 1, &x, 1, y));
    CHECK_DIMS(y[0], 2, 3, 2);
    CHECK_VALS(y[0], 0, 1, 2, 3, 4, 5);
    freeall(y, 1);
    lp_graph_free(t.g);

    lp_tensor *in[2] = { x, I64S(1, -2) };
    t = mk("Squeeze", 2, 1);
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_DIMS(y[0], 3, 1, 3, 2);
    freeall(y, 1);
    lp_tensor_free(in[1]);
    in[1] = I64S(1, 1);
    CHECK(eval(&t, 13, 2, in, 1, y) == LOWP_ERR_SHAPE); /* dim 1 is 3 */
    lp_tensor_free(in[1]);
    lp_graph_free(t.g);

    t = mk("Squeeze", 1, 1);
    attr_ints(&t, "axes", 2, D(0, 2));
    CHECK_OK(eval(&t, 11, 1, &x, 1, y));
    CHECK_DIMS(y[0], 2, 3, 2);
    freeall(y, 1);
    lp_graph_free(t.g);

    /* symbolic: axes given keep the other symbols; no axes with a symbol: rank unknown */
    lp_vinfo xv = V(LP_F32, 3, D(N_, 1, M_)), yv;
    const lp_vinfo *vin[] = { &xv };
    t = mk("Squeeze", 1, 1);
    attr_ints(&t, "axes", 1, D(1));
    CHECK_OK(infer_only(&t, 11, 1, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 2, N_, M_);
    lp_graph_free(t.g);
    t = mk("Squeeze", 1, 1);
    CHECK_OK(infer_only(&t, 13, 1, vin, 1, &yv));
    CHECK(yv.shape.ndim == -1);
    lp_graph_free(t.g);
    /* axes computed, only their count known: that many fewer dims, all unknown; more axes
     * than dims: rank unknown */
    lp_vinfo av = V(LP_I64, 1, D(1));
    const lp_vinfo *vin2[] = { &xv, &av };
    t = mk("Squeeze", 2, 1);
    CHECK_OK(infer_only(&t, 13, 2, vin2, 1, &yv));
    CHECK_SHAPE(&yv.shape, 2, U_, U_);
    av = V(LP_I64, 1, D(4));
    CHECK_OK(infer_only(&t, 13, 2, vin2, 1, &yv));
    CHECK(yv.shape.ndim == -1);
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

static void test_unsqueeze(void)
{
    lp_tensor *x = T(LP_BOOL, 2, D(3, 2), F(1, 0, 1, 1, 0, 0)), *y[1];
    lp_tensor *in[2] = { x, I64S(3, 4, 0, -2) };
    tcase t = mk("Unsqueeze", 2, 1);
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_DIMS(y[0], 5, 1, 3, 2, 1, 1);
    CHECK_VALS(y[0], 1, 0, 1, 1, 0, 0);
    freeall(y, 1);
    lp_tensor_free(in[1]);
    in[1] = I64S(2, 1, 1);
    CHECK(eval(&t, 13, 2, in, 1, y) == LOWP_ERR_SHAPE); /* repeated */
    lp_tensor_free(in[1]);
    in[1] = I64S(1, 3);
    CHECK(eval(&t, 13, 2, in, 1, y) == LOWP_ERR_SHAPE); /* out of range for rank 3 */
    lp_tensor_free(in[1]);
    lp_graph_free(t.g);

    t = mk("Unsqueeze", 1, 1);
    attr_ints(&t, "axes", 1, D(1));
    CHECK_OK(eval(&t, 11, 1, &x, 1, y));
    CHECK_DIMS(y[0], 3, 3, 1, 2);
    freeall(y, 1);
    CHECK(eval(&t, 13, 1, &x, 1, y) == LOWP_ERR_FORMAT); /* 13+: axes is an input */
    lp_graph_free(t.g);

    lp_vinfo xv = V(LP_F32, 2, D(N_, M_)), av = V(LP_I64, 1, D(2)), yv;
    const lp_vinfo *vin[] = { &xv, &av };
    lp_tensor *a = I64S(1, 0);
    t = mk("Unsqueeze", 2, 1);
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 4, U_, U_, U_, U_);
    av = V(LP_I64, 1, D(LP_MAX_DIMS)); /* past the rank lowp holds: rank unknown */
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK(yv.shape.ndim == -1);
    av = VT(a);
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, 1, N_, M_);
    lp_graph_free(t.g);
    lp_tensor_free(a);
    lp_tensor_free(x);
}

/* ---- Gather ---- */

static void test_gather(void)
{
    lp_tensor *x = T(LP_I64, 2, D(3, 2), F(10, 11, 20, 21, 30, 31)), *y[1];
    lp_tensor *in[2] = { x, T(LP_I64, 2, D(2, 2), F(0, 1, -1, 0)) };
    tcase t = mk("Gather", 2, 1);
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_DIMS(y[0], 3, 2, 2, 2);
    CHECK_VALS(y[0], 10, 11, 20, 21, 30, 31, 10, 11);
    freeall(y, 1);
    lp_graph_free(t.g);
    lp_tensor_free(in[1]);

    /* axis 1, int32 scalar index: rank drops */
    in[1] = T(LP_I32, 0, NULL, F(-1));
    t = mk("Gather", 2, 1);
    attr_int(&t, "axis", 1);
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_DIMS(y[0], 1, 3);
    CHECK_VALS(y[0], 11, 21, 31);
    freeall(y, 1);
    lp_tensor_free(in[1]);

    in[1] = I64S(1, 2);
    CHECK(eval(&t, 13, 2, in, 1, y) == LOWP_ERR_INVALID_ARGUMENT); /* 2 >= dim 2 */
    lp_tensor_free(in[1]);
    lp_graph_free(t.g);

    lp_vinfo xv = V(LP_F32, 3, D(N_, 7, 5)), iv = V(LP_I64, 2, D(M_, 4)), yv;
    const lp_vinfo *vin[] = { &xv, &iv };
    t = mk("Gather", 2, 1);
    attr_int(&t, "axis", 1);
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 4, N_, M_, 4, 5);
    iv = V(LP_F32, 1, D(2));
    CHECK(infer_only(&t, 13, 2, vin, 1, &yv) == LOWP_ERR_SHAPE); /* float indices */
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

/* ---- Shape / Size ---- */

static void test_shape_size(void)
{
    lp_tensor *x = T(LP_F32, 4, D(2, 3, 4, 5), NULL), *y[1];
    tcase t = mk("Shape", 1, 1);
    CHECK_OK(eval(&t, 13, 1, &x, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_I64);
    CHECK_VALS(y[0], 2, 3, 4, 5);
    freeall(y, 1);
    lp_graph_free(t.g);

    struct { int64_t start, end; int n; double want[4]; } cases[] = {
        { 1, 3, 2, { 3, 4 } }, { -1, 100, 1, { 5 } }, { -10, -1, 3, { 2, 3, 4 } }, { 3, 1, 0, { 0 } },
    };
    for (int i = 0; i < 4; i++) {
        t = mk("Shape", 1, 1);
        attr_int(&t, "start", cases[i].start);
        attr_int(&t, "end", cases[i].end);
        CHECK_OK(eval(&t, 15, 1, &x, 1, y));
        CHECK_MSG(vals_is(y[0], cases[i].n, cases[i].want), "case %d", i);
        freeall(y, 1);
        /* before opset 15 start/end do not exist */
        CHECK_OK(eval(&t, 14, 1, &x, 1, y));
        CHECK_VALS(y[0], 2, 3, 4, 5);
        freeall(y, 1);
        lp_graph_free(t.g);
    }

    /* infer sets the value only when the dims it reads are known */
    lp_vinfo xv = V(LP_F32, 3, D(N_, 3, 4)), yv;
    const lp_vinfo *vin[] = { &xv };
    t = mk("Shape", 1, 1);
    CHECK_OK(infer_only(&t, 15, 1, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 1, 3);
    CHECK(yv.value == NULL);
    attr_int(&t, "start", 1);
    CHECK_OK(infer_only(&t, 15, 1, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 1, 2);
    CHECK(yv.value != NULL);
    CHECK_VALS(yv.value, 3, 4);
    release(&yv, 1);
    xv = V(LP_F32, -1, NULL);
    CHECK_OK(infer_only(&t, 15, 1, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 1, U_);
    lp_graph_free(t.g);

    t = mk("Size", 1, 1);
    CHECK_OK(eval(&t, 13, 1, &x, 1, y));
    CHECK_DIMS(y[0], 0, 0);
    CHECK_VALS(y[0], 120);
    freeall(y, 1);
    xv = V(LP_F32, 2, D(N_, 0));
    CHECK_OK(infer_only(&t, 13, 1, vin, 1, &yv));
    CHECK(yv.value && lp_tensor_get_int(yv.value, 0) == 0); /* a zero dim decides */
    release(&yv, 1);
    xv = V(LP_F32, 2, D(N_, 2));
    CHECK_OK(infer_only(&t, 13, 1, vin, 1, &yv));
    CHECK(yv.value == NULL && yv.shape.ndim == 0);
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

/* ---- Expand / Tile ---- */

static void test_expand(void)
{
    lp_tensor *x = T(LP_F32, 2, D(3, 1), F(1, 2, 3)), *y[1];
    lp_tensor *in[2] = { x, I64S(3, 2, 1, 2) };
    tcase t = mk("Expand", 2, 1);
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_DIMS(y[0], 3, 2, 3, 2);
    CHECK_VALS(y[0], 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3);
    freeall(y, 1);
    lp_tensor_free(in[1]);
    in[1] = I64S(2, 4, 1);
    CHECK(eval(&t, 13, 2, in, 1, y) == LOWP_ERR_SHAPE); /* 3 vs 4 */
    lp_tensor_free(in[1]);

    lp_vinfo xv = V(LP_F32, 2, D(N_, 1)), sv = V(LP_I64, 1, D(3)), yv;
    const lp_vinfo *vin[] = { &xv, &sv };
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, U_, U_, U_);
    lp_tensor *s = I64S(2, 1, 6);
    sv = VT(s);
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 2, N_, 6);
    lp_tensor_free(s);
    lp_graph_free(t.g);
    lp_tensor_free(x);
}

static void test_tile(void)
{
    lp_tensor *x = T(LP_I16, 2, D(2, 2), F(1, 2, 3, 4)), *y[1];
    lp_tensor *in[2] = { x, I64S(2, 2, 3) };
    tcase t = mk("Tile", 2, 1);
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_DIMS(y[0], 2, 4, 6);
    CHECK_VALS(y[0], 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4);
    freeall(y, 1);
    lp_tensor_free(in[1]);
    in[1] = I64S(2, 1, 0);
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_DIMS(y[0], 2, 2, 0);
    freeall(y, 1);
    lp_tensor_free(in[1]);
    in[1] = I64S(1, 2);
    CHECK(eval(&t, 13, 2, in, 1, y) == LOWP_ERR_SHAPE); /* one repeat for rank 2 */
    lp_tensor_free(in[1]);

    lp_vinfo xv = V(LP_F32, 3, D(N_, M_, 2)), rv, yv;
    lp_tensor *r = I64S(3, 1, 2, 2);
    rv = VT(r);
    const lp_vinfo *vin[] = { &xv, &rv };
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, N_, U_, 4);
    lp_graph_free(t.g);
    lp_tensor_free(r);
    lp_tensor_free(x);
}

/* ---- Pad ---- */

static void test_pad(void)
{
    /* x: (2, 3) = [[1 2 3] [4 5 6]], pads: 1 row before, 2 cols after, 1 col before */
    lp_tensor *x = T(LP_F32, 2, D(2, 3), F(1, 2, 3, 4, 5, 6)), *y[1];
    lp_tensor *p = I64S(4, 1, 1, 0, 2), *cv = T(LP_F32, 0, NULL, F(9));
    lp_tensor *in[3] = { x, p, cv };
    tcase t = mk("Pad", 3, 1);
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    CHECK_DIMS(y[0], 2, 3, 6);
    CHECK_VALS(y[0], 9, 9, 9, 9, 9, 9, /**/ 9, 1, 2, 3, 9, 9, /**/ 9, 4, 5, 6, 9, 9);
    freeall(y, 1);
    /* default constant 0 */
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_VALS(y[0], 0, 0, 0, 0, 0, 0, /**/ 0, 1, 2, 3, 0, 0, /**/ 0, 4, 5, 6, 0, 0);
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("Pad", 2, 1);
    attr_str(&t, "mode", "reflect");
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_VALS(y[0], 5, 4, 5, 6, 5, 4, /**/ 2, 1, 2, 3, 2, 1, /**/ 5, 4, 5, 6, 5, 4);
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("Pad", 2, 1);
    attr_str(&t, "mode", "edge");
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_VALS(y[0], 1, 1, 2, 3, 3, 3, /**/ 1, 1, 2, 3, 3, 3, /**/ 4, 4, 5, 6, 6, 6);
    freeall(y, 1);
    lp_graph_free(t.g);

    /* opset < 11: attributes; negative pads crop */
    t = mk("Pad", 1, 1);
    attr_ints(&t, "pads", 4, D(0, -1, 1, 0));
    attr_float(&t, "value", -1.5f);
    CHECK_OK(eval(&t, 10, 1, &x, 1, y));
    CHECK_DIMS(y[0], 2, 3, 2);
    CHECK_VALS(y[0], 2, 3, 5, 6, -1.5, -1.5);
    freeall(y, 1);
    lp_graph_free(t.g);

    /* int64 data with an int64 constant; a constant of another type fails */
    lp_tensor *xi = T(LP_I64, 1, D(2), F(7, 8)), *pi = I64S(2, 1, 1), *ci = T(LP_I64, 1, D(1), F(-3));
    lp_tensor *ini[3] = { xi, pi, ci };
    t = mk("Pad", 3, 1);
    CHECK_OK(eval(&t, 13, 3, ini, 1, y));
    CHECK_VALS(y[0], -3, 7, 8, -3);
    freeall(y, 1);
    ini[2] = cv;
    CHECK(eval(&t, 13, 3, ini, 1, y) == LOWP_ERR_SHAPE);
    ini[2] = ci;
    lp_graph_free(t.g);

    /* symbolic: unpadded axes keep their symbol */
    lp_vinfo xv = V(LP_F32, 3, D(N_, M_, 4)), pv = VT(I64S(6, 0, 0, 1, 0, 0, 1)), yv;
    const lp_vinfo *vin[] = { &xv, &pv };
    t = mk("Pad", 2, 1);
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, N_, M_, 6);
    lp_tensor_free(pv.value);
    pv = V(LP_I64, 1, D(6));
    CHECK_OK(infer_only(&t, 13, 2, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 3, U_, U_, U_);
    lp_graph_free(t.g);
    freeall(ini, 3);
    lp_tensor_free(x);
    lp_tensor_free(p);
    lp_tensor_free(cv);
}

/* ---- Resize ---- */

static void test_resize(void)
{
    lp_tensor *y[1];
    /* nearest, scales (1,1,2,3) on 2x2: ONNX's test_resize_upsample_scales_nearest */
    lp_tensor *x = T(LP_F32, 4, D(1, 1, 2, 2), F(1, 2, 3, 4));
    lp_tensor *sc = T(LP_F32, 1, D(4), F(1, 1, 2, 3));
    lp_tensor *in[4] = { x, NULL, sc, NULL };
    tcase t = mk("Resize", 3, 1);
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    CHECK_DIMS(y[0], 4, 1, 1, 4, 6);
    CHECK_VALS(y[0], 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4);
    freeall(y, 1);
    lp_graph_free(t.g);
    lp_tensor_free(sc);

    /* linear, downsample 0.6: test_resize_downsample_scales_linear (half_pixel) */
    lp_tensor *x8 = T(LP_F32, 4, D(1, 1, 2, 4), F(1, 2, 3, 4, 5, 6, 7, 8));
    sc = T(LP_F32, 1, D(4), F(1, 1, 0.6f, 0.6f));
    in[0] = x8;
    in[2] = sc;
    t = mk("Resize", 3, 1);
    attr_str(&t, "mode", "linear");
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    CHECK_DIMS(y[0], 4, 1, 1, 1, 2);
    CHECK_VALS(y[0], 2.6666665, 4.333333);
    freeall(y, 1);
    lp_graph_free(t.g);

    /* align_corners uses the reference's float output length (4 * 0.6 = 2.4) */
    t = mk("Resize", 3, 1);
    attr_str(&t, "mode", "linear");
    attr_str(&t, "coordinate_transformation_mode", "align_corners");
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    CHECK_VALS(y[0], 1, 3.142857);
    freeall(y, 1);
    lp_graph_free(t.g);
    lp_tensor_free(sc);

    /* sizes, nearest: test_resize_downsample_sizes_nearest -> [[1 3]] ... (1,1,1,3) */
    lp_tensor *sz = I64S(4, 1, 1, 1, 3);
    lp_tensor *in4[4] = { x8, NULL, NULL, sz };
    t = mk("Resize", 4, 1);
    CHECK_OK(eval(&t, 13, 4, in4, 1, y));
    CHECK_DIMS(y[0], 4, 1, 1, 1, 3);
    CHECK_VALS(y[0], 1, 2, 4);
    freeall(y, 1);
    /* both scales and sizes: an error */
    in4[2] = sz;
    CHECK(eval(&t, 13, 4, in4, 1, y) == LOWP_ERR_FORMAT);
    lp_graph_free(t.g);
    lp_tensor_free(sz);

    /* opset 10: (X, scales), asymmetric, nearest truncates: x[floor(o / 2)] */
    lp_tensor *x3 = T(LP_I64, 1, D(3), F(5, 6, 7));
    sc = T(LP_F32, 1, D(1), F(2));
    lp_tensor *in2[2] = { x3, sc };
    t = mk("Resize", 2, 1);
    CHECK_OK(eval(&t, 10, 2, in2, 1, y));
    CHECK_VALS(y[0], 5, 5, 6, 6, 7, 7);
    freeall(y, 1);
    lp_graph_free(t.g);
    /* linear in 1-D, asymmetric: 5, 5.5, 6, 6.5, 7, 7 */
    lp_tensor *xf = T(LP_F64, 1, D(3), F(5, 6, 7));
    in2[0] = xf;
    t = mk("Resize", 2, 1);
    attr_str(&t, "mode", "linear");
    CHECK_OK(eval(&t, 10, 2, in2, 1, y));
    CHECK_VALS(y[0], 5, 5.5, 6, 6.5, 7, 7);
    freeall(y, 1);
    lp_graph_free(t.g);
    lp_tensor_free(sc);

    /* symbolic: a scale of 1 keeps the symbol; unknown scales give unknown dims */
    lp_vinfo xv = V(LP_F32, 4, D(N_, 3, 10, 10)), rv = V(LP_F32, 1, D(0)), sv = VT(T(LP_F32, 1, D(4), F(1, 1, 2, 0.5))), yv;
    const lp_vinfo *vin[] = { &xv, &rv, &sv };
    t = mk("Resize", 3, 1);
    CHECK_OK(infer_only(&t, 13, 3, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 4, N_, 3, 20, 5);
    lp_tensor_free(sv.value);
    sv = V(LP_F32, 1, D(4));
    CHECK_OK(infer_only(&t, 13, 3, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 4, U_, U_, U_, U_);
    lp_graph_free(t.g);

    lp_tensor_free(x);
    lp_tensor_free(x8);
    lp_tensor_free(x3);
    lp_tensor_free(xf);
}

/* ---- Constant / ConstantOfShape / Range ---- */

static void test_constant(void)
{
    lp_tensor *y[1];
    tcase t = mk("Constant", 0, 1);
    attr_tensor(&t, "value", T(LP_I32, 2, D(2, 2), F(1, -2, 3, -4)));
    CHECK_OK(eval(&t, 13, 0, NULL, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_I32);
    CHECK_VALS(y[0], 1, -2, 3, -4);
    freeall(y, 1);
    lp_vinfo yv;
    CHECK_OK(infer_only(&t, 13, 0, NULL, 1, &yv));
    CHECK(yv.value && yv.value->dtype == LP_I32 && yv.shape.ndim == 2);
    release(&yv, 1);
    lp_graph_free(t.g);

    t = mk("Constant", 0, 1);
    attr_ints(&t, "value_ints", 3, D(4, 5, 6));
    CHECK_OK(eval(&t, 13, 0, NULL, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_I64);
    CHECK_DIMS(y[0], 1, 3);
    CHECK_VALS(y[0], 4, 5, 6);
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("Constant", 0, 1);
    attr_float(&t, "value_float", 2.5f);
    CHECK_OK(eval(&t, 13, 0, NULL, 1, y));
    CHECK_DIMS(y[0], 0, 0);
    CHECK_VALS(y[0], 2.5);
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("Constant", 0, 1);
    attr_floats(&t, "value_floats", 2, (const float[]){ 0.5f, -1 });
    CHECK_OK(eval(&t, 13, 0, NULL, 1, y));
    CHECK_VALS(y[0], 0.5, -1);
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("Constant", 0, 1);
    attr_str(&t, "value_string", "x");
    CHECK(eval(&t, 13, 0, NULL, 1, y) == LOWP_ERR_UNSUPPORTED);
    lp_graph_free(t.g);
    t = mk("Constant", 0, 1);
    CHECK(eval(&t, 13, 0, NULL, 1, y) == LOWP_ERR_FORMAT);
    lp_graph_free(t.g);
}

static void test_constant_of_shape(void)
{
    lp_tensor *y[1], *s = I64S(2, 2, 3);
    tcase t = mk("ConstantOfShape", 1, 1);
    CHECK_OK(eval(&t, 9, 1, &s, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_F32);
    CHECK_DIMS(y[0], 2, 2, 3);
    CHECK_VALS(y[0], 0, 0, 0, 0, 0, 0);
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("ConstantOfShape", 1, 1);
    attr_tensor(&t, "value", T(LP_I32, 1, D(1), F(7)));
    CHECK_OK(eval(&t, 9, 1, &s, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_I32);
    CHECK_VALS(y[0], 7, 7, 7, 7, 7, 7);
    freeall(y, 1);
    lp_tensor *e = T(LP_I64, 1, D(0), NULL); /* shape [] -> a scalar */
    CHECK_OK(eval(&t, 9, 1, &e, 1, y));
    CHECK_DIMS(y[0], 0, 0);
    CHECK_VALS(y[0], 7);
    freeall(y, 1);
    lp_tensor_free(e);

    lp_vinfo sv = V(LP_I64, 1, D(3)), yv;
    const lp_vinfo *vin[] = { &sv };
    CHECK_OK(infer_only(&t, 9, 1, vin, 1, &yv));
    CHECK(yv.dtype == LP_I32);
    CHECK_SHAPE(&yv.shape, 3, U_, U_, U_);
    lp_graph_free(t.g);
    lp_tensor_free(s);
}

static void test_range(void)
{
    lp_tensor *y[1];
    lp_tensor *in[3] = { T(LP_F32, 0, NULL, F(1)), T(LP_F32, 0, NULL, F(5)), T(LP_F32, 0, NULL, F(2)) };
    tcase t = mk("Range", 3, 1);
    CHECK_OK(eval(&t, 11, 3, in, 1, y));
    CHECK_DIMS(y[0], 1, 2);
    CHECK_VALS(y[0], 1, 3);
    freeall(y, 1);
    freeall(in, 3);

    in[0] = T(LP_I32, 0, NULL, F(10));
    in[1] = T(LP_I32, 0, NULL, F(6));
    in[2] = T(LP_I32, 0, NULL, F(-3));
    CHECK_OK(eval(&t, 11, 3, in, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_I32);
    CHECK_VALS(y[0], 10, 7);
    freeall(y, 1);
    lp_tensor_free(in[2]);
    in[2] = T(LP_I32, 0, NULL, F(1)); /* limit below start: empty */
    CHECK_OK(eval(&t, 11, 3, in, 1, y));
    CHECK_DIMS(y[0], 1, 0);
    freeall(y, 1);
    lp_tensor_free(in[2]);
    in[2] = T(LP_I32, 0, NULL, F(0));
    CHECK(eval(&t, 11, 3, in, 1, y) == LOWP_ERR_INVALID_ARGUMENT);
    freeall(in, 3);

    in[0] = T(LP_I64, 0, NULL, F(0));
    in[1] = T(LP_I64, 0, NULL, F(5));
    in[2] = T(LP_I64, 0, NULL, F(2));
    CHECK_OK(eval(&t, 11, 3, in, 1, y));
    CHECK_VALS(y[0], 0, 2, 4);
    freeall(y, 1);
    lp_vinfo a = VT(in[0]), b = V(LP_I64, 0, NULL), c = VT(in[2]), yv;
    const lp_vinfo *vin[] = { &a, &b, &c };
    CHECK_OK(infer_only(&t, 11, 3, vin, 1, &yv));
    CHECK_SHAPE(&yv.shape, 1, U_);
    freeall(in, 3);
    lp_graph_free(t.g);
}

/* ---- Identity / Dropout ---- */

static void test_identity_dropout(void)
{
    lp_tensor *x = T(LP_F16, 2, D(2, 2), F(1, 2, 3, 4)), *y[2];
    tcase t = mk("Identity", 1, 1);
    CHECK_OK(eval(&t, 13, 1, &x, 1, y));
    CHECK(y[0] && lp_tensor_equal(x, y[0]));
    freeall(y, 1);
    lp_graph_free(t.g);

    t = mk("Dropout", 1, 2);
    CHECK_OK(eval(&t, 13, 1, &x, 2, y));
    CHECK(y[0] && lp_tensor_equal(x, y[0]));
    CHECK(y[1] && y[1]->dtype == LP_BOOL);
    CHECK_VALS(y[1], 1, 1, 1, 1);
    freeall(y, 2);
    CHECK_OK(eval(&t, 7, 1, &x, 2, y)); /* before 10 the mask had the data type */
    CHECK(y[1] && y[1]->dtype == LP_F16);
    freeall(y, 2);
    lp_tensor *in[3] = { x, T(LP_F32, 0, NULL, F(0.3)), T(LP_BOOL, 0, NULL, F(0)) };
    CHECK_OK(eval(&t, 13, 3, in, 2, y));
    CHECK(y[0] && lp_tensor_equal(x, y[0]));
    freeall(y, 2);
    lp_tensor_free(in[2]);
    in[2] = T(LP_BOOL, 0, NULL, F(1));
    CHECK(eval(&t, 13, 3, in, 2, y) == LOWP_ERR_UNSUPPORTED); /* training needs a random mask */
    lp_tensor_free(in[1]);
    in[1] = T(LP_F32, 0, NULL, F(0));
    CHECK_OK(eval(&t, 13, 3, in, 2, y)); /* ... unless the ratio is 0 */
    CHECK(y[0] && lp_tensor_equal(x, y[0]));
    CHECK_VALS(y[1], 1, 1, 1, 1);
    freeall(y, 2);
    lp_graph_free(t.g);
    freeall(in, 3);

    lp_vinfo xv = V(LP_F32, 2, D(N_, 3)), yv[2];
    const lp_vinfo *vin[] = { &xv };
    t = mk("Dropout", 1, 2);
    CHECK_OK(infer_only(&t, 12, 1, vin, 2, yv));
    CHECK_SHAPE(&yv[0].shape, 2, N_, 3);
    CHECK_SHAPE(&yv[1].shape, 2, N_, 3);
    lp_graph_free(t.g);
}

int main(void)
{
    RUN(test_flatten);
    RUN(test_flatten_symbolic);
    RUN(test_reshape);
    RUN(test_reshape_symbolic);
    RUN(test_transpose);
    RUN(test_concat);
    RUN(test_split);
    RUN(test_slice);
    RUN(test_slice_symbolic);
    RUN(test_squeeze);
    RUN(test_unsqueeze);
    RUN(test_gather);
    RUN(test_shape_size);
    RUN(test_expand);
    RUN(test_tile);
    RUN(test_pad);
    RUN(test_resize);
    RUN(test_constant);
    RUN(test_constant_of_shape);
    RUN(test_range);
    RUN(test_identity_dropout);
    return TEST_SUMMARY("test_ops_shape");
}
