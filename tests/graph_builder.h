/* graph_builder.h — what the kernel tests share to build small graphs in C: values, inputs fed
 * with given tensors, constants, nodes with attributes, outputs; and the fast-against-reference
 * plan comparison they all make (gb_compare_plans). Header-only (static inline), included once
 * per test program; the caller owns the rng and the contents. */
#ifndef LP_GRAPH_BUILDER_H
#define LP_GRAPH_BUILDER_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"
#include "ir/graph.h"
#include "lowp.h"
#include "test.h"

#define GB_MAX_FEED 8

typedef struct gb {
    lp_graph *g;
    int n_feed;
    lp_tensor *feed[GB_MAX_FEED];       /* the inputs' contents, in graph input order */
    int cnt;                            /* for unique names */
    int last_node;                      /* the node attr_* adds to */
} gb;

static inline gb *gb_new(int opset)
{
    gb *b = calloc(1, sizeof *b);
    CHECK_OK(lp_graph_new(&b->g));
    b->g->ir_version = 8;
    b->g->opsets = calloc(1, sizeof *b->g->opsets);
    b->g->opsets[0].domain = strdup("");
    b->g->opsets[0].version = opset;
    b->g->n_opsets = 1;
    b->g->inputs = calloc(GB_MAX_FEED, sizeof(int));
    b->g->outputs = calloc(GB_MAX_FEED, sizeof(int));
    return b;
}

static inline void gb_free(gb *b)
{
    for (int i = 0; i < b->n_feed; i++)
        lp_tensor_free(b->feed[i]);
    lp_graph_free(b->g);
    free(b);
}

static inline int gb_value(gb *b, const char *prefix)
{
    char name[64];
    snprintf(name, sizeof name, "%s%d", prefix, b->cnt++);
    int v = -1;
    CHECK_OK(lp_graph_add_value(b->g, name, &v));
    return v;
}

/* A graph input of t's type and shape, fed with t (the builder takes t). */
static inline int gb_feed(gb *b, lp_tensor *t)
{
    int v = gb_value(b, "in");
    lp_value *val = &b->g->values[v];
    val->kind = LP_VALUE_INPUT;
    val->dtype = t->dtype;
    val->shape.ndim = t->ndim;
    memcpy(val->shape.d, t->dims, (size_t)t->ndim * sizeof t->dims[0]);
    b->feed[b->n_feed++] = t;
    b->g->inputs[b->g->n_inputs++] = v;
    return v;
}

/* A constant (the graph takes t). */
static inline int gb_tensor(gb *b, lp_tensor *t)
{
    int v = gb_value(b, "c");
    lp_graph_set_const(b->g, v, t);
    return v;
}

/* A rank-0 constant of type dt. */
static inline int gb_scalar(gb *b, lp_dtype dt, double x)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(dt, 0, NULL, &t));
    lp_dtype_traits_of(dt)->set(t->data, 0, x);
    return gb_tensor(b, t);
}

/* A node op_type of `domain` ("" for ONNX) from in... to out... (existing values; -1 in either
 * is an omitted optional); attr_* add to it next. */
static inline void gb_node(gb *b, const char *op, const char *domain, int n_in, const int *in, int n_out,
                           const int *out)
{
    char name[64];
    snprintf(name, sizeof name, "n%d", b->cnt++);
    CHECK_OK(lp_graph_add_node(b->g, name, op, domain, n_in, in, n_out, out, &b->last_node));
}

/* op_type(in...) -> a new value, returned; -1 inputs are omitted optionals. */
static inline int gb_op(gb *b, const char *op, int n_in, const int *in)
{
    int y = gb_value(b, "v");
    gb_node(b, op, "", n_in, in, 1, &y);
    return y;
}
static inline int op1(gb *b, const char *op, int x) { return gb_op(b, op, 1, &x); }
static inline int op2(gb *b, const char *op, int x, int y)
{
    int in[2] = { x, y };
    return gb_op(b, op, 2, in);
}

/* Attributes of the last node added (the node copies them). */
static inline void gb_attr(gb *b, lp_attr a) { CHECK_OK(lp_node_add_attr(&b->g->nodes[b->last_node], &a)); }
static inline void attr_i(gb *b, const char *name, int64_t v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_INT, .i = v });
}
static inline void attr_f(gb *b, const char *name, float v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_FLOAT, .f = v });
}
static inline void attr_ints(gb *b, const char *name, int n, const int64_t *v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_INTS, .n = n, .ints = (int64_t *)v });
}
static inline void attr_floats(gb *b, const char *name, int n, const float *v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_FLOATS, .n = n, .floats = (float *)v });
}
static inline void attr_s(gb *b, const char *name, const char *s)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_STRING, .s = (char *)s, .s_len = strlen(s) });
}
static inline void attr_strs(gb *b, const char *name, int n, char *const *s)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_STRINGS, .n = n, .strings = (char **)s });
}

/* An integer in [lo, hi] drawn from *rng (lowp_random_next). */
static inline int gb_rnd(uint64_t *rng, int lo, int hi) { return lo + (int)(lowp_random_next(rng) % (uint64_t)(hi - lo + 1)); }

/* A convolution's geometry over an (N, C, in...) input: group, output channels M, and per
 * spatial dim kernel, stride, dilation and pads (begins, then ends) -- or, `same`, auto_pad
 * SAME_UPPER (no dilation). */
typedef struct gb_conv {
    int nsp;
    int64_t C, M, group, k[3], s[3], d[3], p[6];
    bool same;
} gb_conv;

enum { GB_CONV_SAME = 1, GB_CONV_UNPADDED = 2 }; /* what gb_conv_random may draw too */

/* A random geometry valid over dims xd (N, C, in...) of nsp spatial dims, drawn from *rng:
 * `kind` (< 0: drawn) 0 plain, 1 depthwise (M = C half the time, else a multiple), 2 / 3
 * groups of 2 / 3 where C divides; M = group x 1..5; kernels 1-5, dilation 2 one time in four,
 * strides 1-3, pads 0-2 below the kernel, each window fitting the padded input; with
 * GB_CONV_SAME one time in six SAME_UPPER (strides 1-2), with GB_CONV_UNPADDED each dim
 * unpadded one time in five. */
static inline gb_conv gb_conv_random(uint64_t *rng, int nsp, const int64_t *xd, int kind, unsigned flags)
{
    gb_conv cv = { .nsp = nsp, .C = xd[1], .group = 1 };
    if (kind < 0)
        kind = gb_rnd(rng, 0, 3);
    if (kind == 1)
        cv.group = cv.C;
    else if (kind == 2 && cv.C % 2 == 0)
        cv.group = 2;
    else if (kind == 3 && cv.C % 3 == 0)
        cv.group = 3;
    cv.M = cv.group * gb_rnd(rng, 1, 5);
    if (kind == 1 && gb_rnd(rng, 0, 1))
        cv.M = cv.C;
    cv.same = (flags & GB_CONV_SAME) && gb_rnd(rng, 0, 5) == 0;
    int64_t *k = cv.k, *s = cv.s, *d = cv.d, *p = cv.p;
    for (int i = 0; i < nsp; i++) {
        bool unpadded = (flags & GB_CONV_UNPADDED) && gb_rnd(rng, 0, 4) == 0;
        do {
            k[i] = gb_rnd(rng, 1, 5);
            d[i] = gb_rnd(rng, 0, 3) == 0 ? 2 : 1;
            s[i] = gb_rnd(rng, 1, 3);
            p[i] = gb_rnd(rng, 0, 2);
            p[nsp + i] = gb_rnd(rng, 0, 2);
            if (unpadded)
                p[i] = p[nsp + i] = 0;
        } while ((k[i] - 1) * d[i] + 1 > xd[2 + i] + p[i] + p[nsp + i] || p[i] >= k[i] || p[nsp + i] >= k[i]);
        if (cv.same)
            d[i] = 1, s[i] = gb_rnd(rng, 1, 2);
    }
    return cv;
}

/* The weights' dims of cv: (M, C / group, k...) into wd[2 + nsp]. */
static inline void gb_conv_wdims(const gb_conv *cv, int64_t *wd)
{
    wd[0] = cv->M;
    wd[1] = cv->C / cv->group;
    for (int i = 0; i < cv->nsp; i++)
        wd[2 + i] = cv->k[i];
}

/* A Conv of cv over value x of dims xd with weights w and bias (-1: none); its output's dims
 * into yd[2 + nsp]; returns the output. */
static inline int gb_conv_node(gb *b, const gb_conv *cv, int x, const int64_t *xd, int w, int bias, int64_t *yd)
{
    int nsp = cv->nsp, in[3] = { x, w, bias };
    int y = gb_op(b, "Conv", bias >= 0 ? 3 : 2, in);
    attr_i(b, "group", cv->group);
    attr_ints(b, "strides", nsp, cv->s);
    if (cv->same) {
        attr_s(b, "auto_pad", "SAME_UPPER");
    } else {
        attr_ints(b, "dilations", nsp, cv->d);
        attr_ints(b, "pads", 2 * nsp, cv->p);
    }
    yd[0] = xd[0];
    yd[1] = cv->M;
    for (int i = 0; i < nsp; i++)
        yd[2 + i] = cv->same ? (xd[2 + i] + cv->s[i] - 1) / cv->s[i]
                             : (xd[2 + i] + cv->p[i] + cv->p[nsp + i] - ((cv->k[i] - 1) * cv->d[i] + 1)) / cv->s[i] + 1;
    return y;
}

/* "conv2d C3 M6 g1 k3 s1 d1 p1,1" of cv into buf. */
static inline void gb_conv_str(const gb_conv *cv, char *buf, size_t size)
{
    snprintf(buf, size, "conv%dd C%lld M%lld g%lld k%lld s%lld d%lld p%lld,%lld", cv->nsp, (long long)cv->C,
             (long long)cv->M, (long long)cv->group, (long long)cv->k[0], (long long)cv->s[0], (long long)cv->d[0],
             (long long)cv->p[0], (long long)cv->p[cv->nsp]);
}

/* A float32 tensor of uniform values in [-scale, scale) drawn from *rng (lowp_random_next). */
static inline lp_tensor *gb_rand_tensor(uint64_t *rng, int ndim, const int64_t *dims, double scale)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, ndim, dims, &t));
    for (int64_t i = 0; t && i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)((2 * lowp_random_uniform(rng) - 1) * scale);
    return t;
}

/* Runs graph g (a session of it) on x fed to its first input: its first output (caller frees). */
static inline lp_tensor *gb_run(const lp_graph *g, const lp_tensor *x)
{
    lowp_session *s = NULL;
    lp_tensor *y = NULL;
    CHECK_OK(lp_session_create_graph(g, NULL, &s));
    const char *name = g->values[g->inputs[0]].name;
    if (s)
        CHECK_OK(lowp_session_run(s, 1, &name, (const lowp_tensor *const *)&x, 1, &y));
    lowp_session_free(s);
    return y;
}

/* max|x| over a tensor (float32, or any type through its traits). */
static inline double gb_max_abs(const lp_tensor *t)
{
    double m = 0;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        m = fmax(m, fabs(t->dtype == LP_F32 ? ((const float *)t->data)[i] : lp_tensor_get(t, i)));
    return m;
}

/* max|a - ref| / max|ref| over two tensors of ref's size and type (NaN counts as the worst). */
static inline double gb_norm_err(const lp_tensor *a, const lp_tensor *ref)
{
    const float *x = a->data, *y = ref->data;
    bool f32 = a->dtype == LP_F32 && ref->dtype == LP_F32;
    double m = 0, r = 0;
    for (int64_t i = 0; i < lp_tensor_numel(ref); i++) {
        double xi = f32 ? x[i] : lp_tensor_get(a, i), yi = f32 ? y[i] : lp_tensor_get(ref, i);
        double d = fabs(xi - yi);
        if (!(d <= m))
            m = isnan(d) ? INFINITY : d;
        if (fabs(yi) > r)
            r = fabs(yi);
    }
    return m / (r > 1e-30 ? r : 1.0);
}

/* Whether a agrees with r: both NaN, or equal (infinities, signed zeros included), or -- ulps
 * > 0 and both finite of one sign -- at most `ulps` floats apart. */
static inline bool gb_agrees(float a, float r, int ulps)
{
    if (isnan(a) || isnan(r))
        return isnan(a) && isnan(r);
    if (memcmp(&a, &r, sizeof a) == 0)
        return true;
    if (isinf(a) || isinf(r) || ulps == 0 || signbit(a) != signbit(r))
        return false;
    int32_t ia, ir;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ir, &r, sizeof ir);
    return llabs((long long)ia - ir) <= ulps;
}

/* How gb_compare_plans builds, runs and judges; zero-initialize and set what differs (a NULL
 * one: all of it zero). */
typedef struct gb_compare_opt {
    const lp_plan_options *fast;    /* the fast plan's options (NULL: lp_plan_options_default()) */
    double atol;                    /* an absolute error allowed on top of tol * max|ref| */
    /* a per-output atol instead, asked after the reference run (which ref_tap saw) */
    double (*out_atol)(void *user, const lp_plan *ref, int o);
    void *out_atol_user;
    lp_tap_fn ref_tap;              /* sees the reference run (NULL: none) */
    void *ref_tap_user;
    bool elementwise;               /* instead of the bound: float32 outputs agree element by
                                       element within `ulps` (gb_agrees) */
    int ulps;
    bool verbose;                   /* print each output's error */
    lp_plan **ref;                  /* receives the reference plan (the caller frees it); NULL: freed */
    double worst;                   /* out: the largest error / bound over the outputs */
} gb_compare_opt;

/* Compiles g with the reference kernels only and with every backend (opt->fast), runs the
 * reference plan once and the fast one twice on `in` (the second run must give the same bytes:
 * the bindings are cached after the first), and compares every output's shape, type and values:
 * max|fast - ref| / max|ref| <= tol + atol / max|ref| (gb_norm_err; or opt->elementwise).
 * Hands back the fast plan in *fast whenever it compiled (the caller frees it; NULL: freed)
 * for the caller's own kernel and layout checks. True when every check passed. */
static inline bool gb_compare_graph(const char *what, const lp_graph *g, const lp_tensor *const *in, double tol,
                                    gb_compare_opt *opt, lp_plan **fast)
{
    gb_compare_opt none = { 0 };
    gb_compare_opt *c = opt ? opt : &none;
    lp_plan_options ro = lp_plan_options_default(), fo = c->fast ? *c->fast : lp_plan_options_default();
    ro.reference_only = true;
    lp_plan *pr = NULL, *pf = NULL;
    lp_tensor *first[GB_MAX_FEED] = { 0 };
    bool ok = false;
    c->worst = 0;
    if (lp_plan_compile_opt(g, in, &ro, &pr) != LP_OK || lp_plan_run(pr, in, c->ref_tap, c->ref_tap_user) != LP_OK) {
        CHECK_MSG(0, "%s: the reference plan %s: %s", what, pr ? "fails" : "does not compile", lowp_last_error());
        goto done;
    }
    if (lp_plan_compile_opt(g, in, &fo, &pf) != LP_OK) {
        CHECK_MSG(0, "%s: the fast plan does not compile: %s", what, lowp_last_error());
        goto done;
    }
    int n_out = pf->g->n_outputs;
    if (lp_plan_run(pf, in, NULL, NULL) != LP_OK) {
        CHECK_MSG(0, "%s: the fast plan fails: %s", what, lowp_last_error());
        goto done;
    }
    for (int o = 0; o < n_out && o < GB_MAX_FEED; o++)
        CHECK_OK(lp_tensor_clone(&pf->vals[pf->g->outputs[o]], &first[o]));
    if (lp_plan_run(pf, in, NULL, NULL) != LP_OK) {
        CHECK_MSG(0, "%s: the fast plan fails on its second run: %s", what, lowp_last_error());
        goto done;
    }
    ok = n_out == pr->g->n_outputs;
    CHECK_MSG(ok, "%s: %d outputs, the reference %d", what, n_out, pr->g->n_outputs);
    for (int o = 0; ok && o < n_out; o++) {
        const lp_tensor *a = &pf->vals[pf->g->outputs[o]], *r = &pr->vals[pr->g->outputs[o]];
        bool same = first[o] && first[o]->nbytes == a->nbytes && memcmp(first[o]->data, a->data, a->nbytes) == 0;
        CHECK_MSG(same, "%s: output %d: a second run gives other bytes", what, o);
        bool shape = a->dtype == r->dtype && a->ndim == r->ndim &&
                     memcmp(a->dims, r->dims, (size_t)a->ndim * sizeof a->dims[0]) == 0;
        CHECK_MSG(shape, "%s: output %d: shape or type differs from the reference", what, o);
        ok = ok && same && shape;
        if (!shape)
            continue;
        if (c->elementwise) {
            int64_t n = lp_tensor_numel(r), bad = 0, at = -1;
            for (int64_t i = 0; i < n; i++) {
                double x = lp_tensor_get(a, i), y = lp_tensor_get(r, i);
                bool agree = r->dtype == LP_F32 ? gb_agrees((float)x, (float)y, c->ulps) : x == y || (isnan(x) && isnan(y));
                if (!agree && bad++ == 0)
                    at = i;
            }
            CHECK_MSG(bad == 0, "%s: output %d: %lld of %lld elements differ, first [%lld] %.9g vs reference %.9g", what,
                      o, (long long)bad, (long long)n, (long long)at, at >= 0 ? lp_tensor_get(a, at) : 0.0,
                      at >= 0 ? lp_tensor_get(r, at) : 0.0);
            ok = ok && bad == 0;
            continue;
        }
        double m = gb_max_abs(r), atol = c->out_atol ? c->out_atol(c->out_atol_user, pr, o) : c->atol;
        double err = gb_norm_err(a, r), bound = tol + (m > 1e-30 ? atol / m : atol);
        CHECK_MSG(err <= bound, "%s: output %d normalized error %.3g > %.3g (max|ref| %.3g)", what, o, err, bound, m);
        ok = ok && err <= bound;
        c->worst = fmax(c->worst, bound > 0 ? err / bound : err > 0 ? INFINITY : 0);
        if (c->verbose)
            printf("  %s: output %d error %.3g, bound %.3g\n", what, o, err, bound);
    }
done:
    for (int o = 0; o < GB_MAX_FEED; o++)
        lp_tensor_free(first[o]);
    if (c->ref)
        *c->ref = pr;
    else
        lp_plan_free(pr);
    if (fast)
        *fast = pf;
    else
        lp_plan_free(pf);
    return ok;
}

/* gb_compare_graph of b's graph on b's inputs. */
static inline bool gb_compare_plans(const char *what, gb *b, double tol, gb_compare_opt *opt, lp_plan **fast)
{
    const lp_tensor *in[GB_MAX_FEED];
    for (int i = 0; i < b->n_feed; i++)
        in[i] = b->feed[i];
    return gb_compare_graph(what, b->g, in, tol, opt, fast);
}

static inline void gb_output(gb *b, int v)
{
    if (b->g->values[v].is_output)
        return;
    b->g->outputs[b->g->n_outputs++] = v;
    b->g->values[v].is_output = true;
}

#endif
