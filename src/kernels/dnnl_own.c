/* dnnl_own.c — lowp's own vectorized kernels inside oneDNN steps, for ops that real models
 * run but oneDNN 2.6 has no fast primitive for (docs/engine.md, "Own kernels"):
 *   - Add/Sub/Mul/Div with a broadcast oneDNN's binary kernels refuse (only its `ref:any`
 *     loops take [N,C,T] + [N,1,1], or both operands broadcast);
 *   - ReduceSum/Mean/Max/Min over one run of adjacent axes;
 *   - Pad in reflect and edge modes, and constant Pads that crop;
 *   - Log (oneDNN 2.6's eltwise log is off by up to 1.4e-3 relative near 1 and flushes
 *     denormals), evaluated in double like the reference;
 *   - Clip whose bounds are computed at run time (openWakeWord's melspectrogram clips to
 *     max - 80 dB).
 * Their claims and geometry are dnnl_ops.c's; here the steps are built and run. They read
 * plain float inputs (a reorder first when the producer keeps a private layout or 8-bit
 * integers) and write plain float, parallel over independent rows and column blocks (OpenMP,
 * the plan's threads, one thread below OWN_PAR_MIN outputs), inner loops vectorized.
 * Results equal the reference kernels' bit for bit: the binary ops round one IEEE operation on
 * floats (the reference's double then float rounding of +,-,*,/ on floats is the same);
 * reductions accumulate in double in the reference's order (every output's terms in
 * increasing index), and max/min take the reference's comparison (NaN sticks, the first of
 * equal values stays); Pad copies with the reference's source index (lp_pad_source). Log is
 * the one exception: own_log below, within 1 ulp (see there). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "ops/shape_copy.h"

/* Fewer output elements than this run on one thread: a parallel region would cost more. */
#define OWN_PAR_MIN 16384
/* Column block of the row loops: work items are (row, block) pairs. */
#define OWN_BLOCK 2048

static int threads_for(const lp_prep_ctx *pc, int64_t work)
{
    return work >= OWN_PAR_MIN && pc->threads > 1 ? pc->threads : 1;
}

static float *data_of(dnnl_memory_t m)
{
    void *p = NULL;
    dnnl_memory_get_data_handle(m, &p);
    return p;
}

/* Value v as plain float32 (a reorder when it is stored otherwise). */
static lp_status plain_in(dn_step *st, const lp_prep_ctx *pc, int v, dnnl_memory_t *m)
{
    const lp_shape *s = &pc->g->values[v].shape;
    dnnl_memory_desc_t md;
    dn_plain_md(&md, dnnl_f32, s->ndim, s->d);
    return dn_input(st, pc, v, &md, m);
}

/* The step's output v, stored plain float32. */
static lp_status plain_out(dn_step *st, const lp_prep_ctx *pc, int v, dnnl_memory_t *m)
{
    const lp_shape *s = &pc->g->values[v].shape;
    dnnl_memory_desc_t md;
    dn_plain_md(&md, dnnl_f32, s->ndim, s->d);
    LP_TRY(dn_mem_value(st, pc, v, &md, m));
    dn_set_output(st, pc, v, &md);
    return LP_OK;
}

/* A zeroed state of `size` bytes owned by the step (run by `run` after its reorders). */
static void *own_state(dn_step *st, size_t size, lp_status (*run)(void *, const lp_run_ctx *), const char *impl)
{
    void *s = calloc(1, size);
    if (!s) {
        lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing a step");
        return NULL;
    }
    st->custom_arg = s;
    st->custom_free = free;
    st->custom = run;
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%slowp:%s", k ? "," : "", impl);
    return s;
}

/* ---- binary with broadcasting ---- */

typedef struct own_bin {
    dnnl_memory_t a, b, y;
    dnnl_alg_kind_t alg;
    int threads, nd;                    /* canonical rank: size-1 dims dropped, runs merged */
    int64_t dims[LP_MAX_DIMS];
    int64_t sa[LP_MAX_DIMS], sb[LP_MAX_DIMS]; /* element strides; 0 along a broadcast dim */
} own_bin;

/* The plain strides of x (rank <= y's, right-aligned) over y's dims, 0 where x broadcasts. */
static bool bcast_strides(const lp_shape *x, const lp_shape *y, int64_t *s)
{
    int off = y->ndim - x->ndim;
    if (off < 0)
        return false;
    int64_t st = 1;
    for (int k = y->ndim - 1; k >= 0; k--) {
        int64_t d = k >= off ? x->d[k - off] : 1;
        if (d != 1 && d != y->d[k])
            return false;
        s[k] = d == 1 ? 0 : st;
        st *= d;
    }
    return true;
}

/* y's dims with a's and b's strides, size-1 dims dropped and neighbours merged where both
 * operands step through them alike; false when a or b does not broadcast onto y. */
static bool bin_layout(const lp_shape *as, const lp_shape *bs, const lp_shape *ys, own_bin *o)
{
    int64_t sa[LP_MAX_DIMS], sb[LP_MAX_DIMS];
    if (ys->ndim > LP_MAX_DIMS || !bcast_strides(as, ys, sa) || !bcast_strides(bs, ys, sb))
        return false;
    o->nd = 0;
    for (int k = 0; k < ys->ndim; k++) {
        if (ys->d[k] == 1)
            continue;
        int p = o->nd - 1;
        if (p >= 0 && o->sa[p] == sa[k] * ys->d[k] && o->sb[p] == sb[k] * ys->d[k]) {
            o->dims[p] *= ys->d[k];
            o->sa[p] = sa[k];
            o->sb[p] = sb[k];
            continue;
        }
        o->dims[o->nd] = ys->d[k];
        o->sa[o->nd] = sa[k];
        o->sb[o->nd++] = sb[k];
    }
    if (o->nd == 0) { /* one element */
        o->nd = 1;
        o->dims[0] = 1;
        o->sa[0] = o->sb[0] = 1;
    }
    return true;
}

bool dn_own_binary_fits(const lp_shape *a, const lp_shape *b, const lp_shape *y)
{
    own_bin o;
    return bin_layout(a, b, y, &o);
}

/* y[0..n) = a op b, a and b stepping by 1 or 0 (a broadcast value). */
#define BIN_LOOPS(OP)                                                                              \
    do {                                                                                           \
        if (ia && ib) {                                                                            \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = a[i] OP b[i];               \
        } else if (ia) {                                                                           \
            float bv = b[0];                                                                       \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = a[i] OP bv;                 \
        } else {                                                                                   \
            float av = a[0];                                                                       \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = av OP b[i];                 \
        }                                                                                          \
    } while (0)

static void bin_span(dnnl_alg_kind_t alg, const float *a, bool ia, const float *b, bool ib, float *y, int64_t n)
{
    switch (alg) {
    case dnnl_binary_add: BIN_LOOPS(+); break;
    case dnnl_binary_sub: BIN_LOOPS(-); break;
    case dnnl_binary_mul: BIN_LOOPS(*); break;
    default: BIN_LOOPS(/); break;
    }
}

static lp_status bin_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const own_bin *o = arg;
    const float *a = data_of(o->a), *b = data_of(o->b);
    float *y = data_of(o->y);
    int nd = o->nd;
    int64_t len = o->dims[nd - 1], rows = 1;
    for (int k = 0; k < nd - 1; k++)
        rows *= o->dims[k];
    int64_t blocks = (len + OWN_BLOCK - 1) / OWN_BLOCK;
    bool ia = o->sa[nd - 1] != 0, ib = o->sb[nd - 1] != 0;
#pragma omp parallel for schedule(static) num_threads(o->threads)
    for (int64_t item = 0; item < rows * blocks; item++) {
        int64_t row = item / blocks, i0 = item % blocks * OWN_BLOCK, n = len - i0 < OWN_BLOCK ? len - i0 : OWN_BLOCK;
        int64_t oa = 0, ob = 0, rem = row;
        for (int k = nd - 2; k >= 0; k--) {
            int64_t i = rem % o->dims[k];
            rem /= o->dims[k];
            oa += i * o->sa[k];
            ob += i * o->sb[k];
        }
        bin_span(o->alg, a + oa + (ia ? i0 : 0), ia, b + ob + (ib ? i0 : 0), ib, y + row * len + i0, n);
    }
    return LP_OK;
}

lp_status dn_own_binary_build(dn_step *st, const lp_prep_ctx *pc, int a, int b, int y, dnnl_alg_kind_t alg)
{
    const lp_graph *g = pc->g;
    own_bin *o = own_state(st, sizeof *o, bin_run, "broadcast");
    if (!o)
        return LOWP_ERR_OUT_OF_MEMORY;
    if (!bin_layout(&g->values[a].shape, &g->values[b].shape, &g->values[y].shape, o))
        return LOWP_ERR_UNSUPPORTED;
    o->alg = alg;
    o->threads = threads_for(pc, lp_numel(g->values[y].shape.ndim, g->values[y].shape.d));
    LP_TRY(plain_in(st, pc, a, &o->a));
    LP_TRY(plain_in(st, pc, b, &o->b));
    return plain_out(st, pc, y, &o->y);
}

/* ---- reductions over one run of axes: x as [outer, red, inner] ---- */

typedef struct own_red {
    dnnl_memory_t x, y;
    dn_red_kind kind;
    int threads;
    int64_t outer, red, inner;
} own_red;

bool dn_own_reduce_fits(const lp_shape *x, const bool *reduced, int64_t *outer, int64_t *red, int64_t *inner)
{
    int first = -1, last = -1;
    for (int k = 0; k < x->ndim; k++)
        if (reduced[k] && x->d[k] != 1) {
            if (first < 0)
                first = k;
            last = k;
        }
    int64_t o = 1, r = 1, i = 1;
    for (int k = 0; k < x->ndim; k++) {
        if (first >= 0 && k >= first && k <= last) {
            if (!reduced[k] && x->d[k] != 1)
                return false; /* a kept axis between reduced ones */
            r *= x->d[k];
        } else if (first >= 0 && k > last)
            i *= x->d[k];
        else
            o *= x->d[k];
    }
    *outer = o, *red = r, *inner = i;
    return r > 0;
}

/* Max/Min as the reference takes them: the new value when it is larger (smaller) or NaN, so a
 * NaN stays and the first of equal values (0 and -0) is kept. */
#define RED_MAX_STEP(acc, v) ((v) > (acc) || (v) != (v) ? (v) : (acc))
#define RED_MIN_STEP(acc, v) ((v) < (acc) || (v) != (v) ? (v) : (acc))

/* Outputs [i0, i0 + n) of outer index o, inner > 1: the terms of each output are a column. */
static void red_columns(const own_red *s, const float *x, float *y, int64_t o, int64_t i0, int64_t n)
{
    const float *xp = x + o * s->red * s->inner + i0;
    float *yp = y + o * s->inner + i0;
    if (s->kind == DN_RED_SUM || s->kind == DN_RED_MEAN) {
        double acc[OWN_BLOCK];
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) acc[i] = 0;
        for (int64_t r = 0; r < s->red; r++) {
            const float *xr = xp + r * s->inner;
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) acc[i] += xr[i];
        }
        double div = s->kind == DN_RED_MEAN ? (double)s->red : 1.0;
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) yp[i] = (float)(acc[i] / div);
        return;
    }
    float acc[OWN_BLOCK];
    float init = s->kind == DN_RED_MAX ? -INFINITY : INFINITY;
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) acc[i] = init;
    for (int64_t r = 0; r < s->red; r++) {
        const float *xr = xp + r * s->inner;
        if (s->kind == DN_RED_MAX) {
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) acc[i] = RED_MAX_STEP(acc[i], xr[i]);
        } else {
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) acc[i] = RED_MIN_STEP(acc[i], xr[i]);
        }
    }
    memcpy(yp, acc, (size_t)n * sizeof *yp);
}

/* Max or min of x[0..n) in order (from `acc`). */
static float red_row_mm(dn_red_kind kind, const float *x, int64_t n, float acc)
{
    if (kind == DN_RED_MAX) {
        for (int64_t r = 0; r < n; r++)
            acc = RED_MAX_STEP(acc, x[r]);
    } else {
        for (int64_t r = 0; r < n; r++)
            acc = RED_MIN_STEP(acc, x[r]);
    }
    return acc;
}

static lp_status red_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const own_red *s = arg;
    const float *x = data_of(s->x);
    float *y = data_of(s->y);
    if (s->inner > 1) {
        int64_t blocks = (s->inner + OWN_BLOCK - 1) / OWN_BLOCK;
#pragma omp parallel for schedule(static) num_threads(s->threads)
        for (int64_t item = 0; item < s->outer * blocks; item++) {
            int64_t o = item / blocks, i0 = item % blocks * OWN_BLOCK;
            red_columns(s, x, y, o, i0, s->inner - i0 < OWN_BLOCK ? s->inner - i0 : OWN_BLOCK);
        }
        return LP_OK;
    }
    bool mm = s->kind == DN_RED_MAX || s->kind == DN_RED_MIN;
    float init = s->kind == DN_RED_MAX ? -INFINITY : INFINITY;
    if (mm && s->outer < s->threads) { /* few long rows: split each, then combine in order */
        for (int64_t o = 0; o < s->outer; o++) {
            const float *xr = x + o * s->red;
            int nt = s->threads;
            float part[64];
            if (nt > 64)
                nt = 64;
            int64_t per = (s->red + nt - 1) / nt;
#pragma omp parallel for schedule(static) num_threads(nt)
            for (int t = 0; t < nt; t++) {
                int64_t r0 = t * per < s->red ? t * per : s->red, r1 = r0 + per < s->red ? r0 + per : s->red;
                part[t] = red_row_mm(s->kind, xr + r0, r1 - r0, init);
            }
            y[o] = red_row_mm(s->kind, part, nt, init);
        }
        return LP_OK;
    }
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int64_t o = 0; o < s->outer; o++) {
        const float *xr = x + o * s->red;
        if (mm) {
            y[o] = red_row_mm(s->kind, xr, s->red, init);
        } else {
            double acc = 0; /* in order: the reference's sum, bit for bit */
            for (int64_t r = 0; r < s->red; r++)
                acc += xr[r];
            y[o] = (float)(s->kind == DN_RED_MEAN ? acc / (double)s->red : acc);
        }
    }
    return LP_OK;
}

lp_status dn_own_reduce_build(dn_step *st, const lp_prep_ctx *pc, int x, int y, dn_red_kind kind, const bool *reduced)
{
    const lp_shape *xs = &pc->g->values[x].shape;
    own_red *s = own_state(st, sizeof *s, red_run, "reduce");
    if (!s)
        return LOWP_ERR_OUT_OF_MEMORY;
    if (!dn_own_reduce_fits(xs, reduced, &s->outer, &s->red, &s->inner))
        return LOWP_ERR_UNSUPPORTED;
    s->kind = kind;
    s->threads = threads_for(pc, lp_numel(xs->ndim, xs->d));
    LP_TRY(plain_in(st, pc, x, &s->x));
    return plain_out(st, pc, y, &s->y);
}

/* ---- Pad: every mode, crops ---- */

typedef struct own_pad {
    dnnl_memory_t x, y;
    int threads, r;
    float fill;
    int64_t yd[LP_MAX_DIMS], xstride[LP_MAX_DIMS];
    int64_t map_at[LP_MAX_DIMS];        /* where axis k's source indices start in map[] */
    int64_t lo, hi, shift;              /* last axis: outputs [lo, hi) copy x[o - shift] */
    int64_t map[];                      /* per axis, for each output index: the source index or -1 */
} own_pad;

static lp_status pad_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const own_pad *p = arg;
    const float *x = data_of(p->x);
    float *y = data_of(p->y);
    int r = p->r;
    int64_t len = p->yd[r - 1], rows = 1;
    for (int k = 0; k < r - 1; k++)
        rows *= p->yd[k];
    const int64_t *last = p->map + p->map_at[r - 1];
#pragma omp parallel for schedule(static) num_threads(p->threads)
    for (int64_t row = 0; row < rows; row++) {
        int64_t src = 0, rem = row;
        for (int k = r - 2; k >= 0 && src >= 0; k--) {
            int64_t i = p->map[p->map_at[k] + rem % p->yd[k]];
            rem /= p->yd[k];
            src = i < 0 ? -1 : src + i * p->xstride[k];
        }
        float *yr = y + row * len;
        if (src < 0) {
            for (int64_t o = 0; o < len; o++)
                yr[o] = p->fill;
            continue;
        }
        const float *xr = x + src;
        for (int64_t o = 0; o < p->lo; o++)
            yr[o] = last[o] < 0 ? p->fill : xr[last[o]];
        if (p->hi > p->lo)
            memcpy(yr + p->lo, xr + p->lo - p->shift, (size_t)(p->hi - p->lo) * sizeof *yr);
        for (int64_t o = p->hi; o < len; o++)
            yr[o] = last[o] < 0 ? p->fill : xr[last[o]];
    }
    return LP_OK;
}

lp_status dn_own_pad_build(dn_step *st, const lp_prep_ctx *pc, int x, int y, int mode, const int64_t *pads,
                           float fill)
{
    const lp_shape *xs = &pc->g->values[x].shape, *ys = &pc->g->values[y].shape;
    int r = xs->ndim;
    if (r < 1 || r > LP_MAX_DIMS || ys->ndim != r)
        return LOWP_ERR_UNSUPPORTED;
    int64_t n_map = 0;
    for (int k = 0; k < r; k++)
        n_map += ys->d[k];
    own_pad *p = own_state(st, sizeof *p + (size_t)n_map * sizeof p->map[0], pad_run,
                           mode == PAD_REFLECT ? "pad reflect" : mode == PAD_EDGE ? "pad edge" : "pad");
    if (!p)
        return LOWP_ERR_OUT_OF_MEMORY;
    p->r = r;
    p->fill = fill;
    int64_t at = 0, stride = 1;
    for (int k = r - 1; k >= 0; k--) {
        p->xstride[k] = stride;
        stride *= xs->d[k];
    }
    for (int k = 0; k < r; k++) {
        p->yd[k] = ys->d[k];
        p->map_at[k] = at;
        for (int64_t o = 0; o < ys->d[k]; o++)
            p->map[at + o] = lp_pad_source(o, pads[k], xs->d[k], (lp_pad_mode)mode);
        at += ys->d[k];
    }
    int64_t b = pads[r - 1], d = xs->d[r - 1], len = ys->d[r - 1];
    p->shift = b;
    p->lo = b <= 0 ? 0 : b < len ? b : len; /* (an end crop can leave fewer outputs than begin pads) */
    p->hi = b + d < len ? b + d : len;
    if (p->hi < p->lo)
        p->hi = p->lo;
    p->threads = threads_for(pc, lp_numel(ys->ndim, ys->d));
    LP_TRY(plain_in(st, pc, x, &p->x));
    return plain_out(st, pc, y, &p->y);
}

/* ---- Log ---- */

/* log(x) of float x, evaluated in double: x = 2^e * m with m in [sqrt(1/2), sqrt(2)),
 * log(x) = e ln2 + log1p(f), f = m - 1, and log1p(f) = 2 atanh(s), s = f / (2 + f), |s| <= 0.172:
 * 2s (1 + s^2/3 + s^4/5 + ... + s^18/19), whose truncation (s^20/21 < 2^-55 relative) and
 * double roundings leave the double result within ~2^-50 relative of log(x). Rounded to float
 * it equals the reference's (float)log((double)x) except where log(x) lies that close to a
 * midpoint between two floats (about one input in 10^7): then one ulp apart. Denormals are
 * scaled by 2^23 first; log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays NaN. */
#if defined(__GNUC__) && !defined(__clang__)
/* FP exception flags are never read: without trapping math the selects below if-convert and
 * the loop vectorizes (the results are the same) */
#define OWN_NO_TRAP __attribute__((optimize("no-trapping-math")))
#else
#define OWN_NO_TRAP
#endif

OWN_NO_TRAP static inline float own_log1(float x)
{
    /* branch-free, and the special cases told by the bits (float compares would keep the
       loop from vectorizing) */
    uint32_t x0, u, us;
    float xs = x * 0x1p23f;
    memcpy(&x0, &x, sizeof x0);
    memcpy(&us, &xs, sizeof us);
    bool sub = x0 < 0x00800000u; /* +0 or a positive denormal: scaled */
    u = sub ? us : x0;
    int e = (int)((u >> 23) & 0xff) - 127 - (sub ? 23 : 0);
    uint32_t mb = (u & 0x007fffffu) | 0x3f800000u; /* m in [1, 2) */
    bool big = mb > 0x3fb504f3u;                   /* m > sqrt(2): m / 2 */
    mb = big ? mb - 0x00800000u : mb;
    e += big;
    float m;
    memcpy(&m, &mb, sizeof m);
    double f = (double)m - 1.0, s = f / (2.0 + f), z = s * s;
    double p = 1.0 / 19;
    p = p * z + 1.0 / 17;
    p = p * z + 1.0 / 15;
    p = p * z + 1.0 / 13;
    p = p * z + 1.0 / 11;
    p = p * z + 1.0 / 9;
    p = p * z + 1.0 / 7;
    p = p * z + 1.0 / 5;
    p = p * z + 1.0 / 3;
    double r = (double)e * 0.69314718055994530942 + 2.0 * s + 2.0 * s * z * p;
    float y = (float)r;
    uint32_t a = x0 & 0x7fffffffu;
    y = a == 0 ? -INFINITY : y;                       /* +-0 */
    y = (x0 >> 31) && a != 0 ? NAN : y;               /* negative (NaN payloads: below) */
    y = x0 == 0x7f800000u ? INFINITY : y;             /* +inf */
    return a > 0x7f800000u ? x : y;                   /* NaN stays */
}

/* The loop, compiled for AVX-512 and AVX2 besides the baseline (picked at load time): it is
 * compute-bound, and the build targets plain x86-64. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
OWN_NO_TRAP static void own_log_span(const float *x, float *y, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = own_log1(x[i]);
}

typedef struct own_un {
    dnnl_memory_t x, y;
    int threads;
    int64_t n;
} own_un;

static lp_status log_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const own_un *s = arg;
    const float *x = data_of(s->x);
    float *y = data_of(s->y);
    int64_t blocks = (s->n + OWN_BLOCK - 1) / OWN_BLOCK;
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int64_t b = 0; b < blocks; b++)
        own_log_span(x + b * OWN_BLOCK, y + b * OWN_BLOCK, s->n - b * OWN_BLOCK < OWN_BLOCK ? s->n - b * OWN_BLOCK : OWN_BLOCK);
    return LP_OK;
}

lp_status dn_own_log_build(dn_step *st, const lp_prep_ctx *pc, int x, int y)
{
    const lp_shape *xs = &pc->g->values[x].shape;
    own_un *s = own_state(st, sizeof *s, log_run, "log");
    if (!s)
        return LOWP_ERR_OUT_OF_MEMORY;
    s->n = lp_numel(xs->ndim, xs->d);
    /* ~1 ns an element: a second thread pays from a few thousand on */
    s->threads = s->n >= OWN_PAR_MIN / 4 && pc->threads > 1 ? pc->threads : 1;
    LP_TRY(plain_in(st, pc, x, &s->x));
    return plain_out(st, pc, y, &s->y);
}

/* ---- Clip with bounds read at run time ---- */

typedef struct own_clip {
    dnnl_memory_t x, y, lo, hi;         /* lo, hi: NULL when absent */
    int threads;
    int64_t n;
} own_clip;

static lp_status clip_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const own_clip *s = arg;
    const float *x = data_of(s->x);
    float *y = data_of(s->y);
    float lo = s->lo ? data_of(s->lo)[0] : -INFINITY, hi = s->hi ? data_of(s->hi)[0] : INFINITY;
    int64_t blocks = (s->n + OWN_BLOCK - 1) / OWN_BLOCK;
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int64_t b = 0; b < blocks; b++) {
        const float *xb = x + b * OWN_BLOCK;
        float *yb = y + b * OWN_BLOCK;
        int64_t n = s->n - b * OWN_BLOCK < OWN_BLOCK ? s->n - b * OWN_BLOCK : OWN_BLOCK;
        /* the reference's order: min first, so a bound above max gives max; NaN stays */
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float v = xb[i] < lo ? lo : xb[i];
            yb[i] = v > hi ? hi : v;
        }
    }
    return LP_OK;
}

lp_status dn_own_clip_build(dn_step *st, const lp_prep_ctx *pc, int x, int lo, int hi, int y)
{
    const lp_shape *xs = &pc->g->values[x].shape;
    own_clip *s = own_state(st, sizeof *s, clip_run, "clip");
    if (!s)
        return LOWP_ERR_OUT_OF_MEMORY;
    s->n = lp_numel(xs->ndim, xs->d);
    s->threads = threads_for(pc, s->n);
    LP_TRY(plain_in(st, pc, x, &s->x));
    if (lo >= 0)
        LP_TRY(plain_in(st, pc, lo, &s->lo));
    if (hi >= 0)
        LP_TRY(plain_in(st, pc, hi, &s->hi));
    return plain_out(st, pc, y, &s->y);
}
