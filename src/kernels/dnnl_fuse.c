/* dnnl_fuse.c — which nodes the oneDNN backend runs as one step: an op followed by a chain
 * of post-ops (activations, binary ops with a constant or a residual tensor), and the
 * decomposed LayerNorm, GELU and HardSwish subgraphs that PyTorch and Paddle export. The same walkers
 * serve the fuse hook (following the graph's readers) and prepare (following the group). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/dnnl_internal.h"

/* Who reads a value: the whole graph (fuse time) or just the group (prepare time). */
typedef struct walk {
    const lp_graph *g;
    const lp_fuse_ctx *fc;      /* fuse time */
    const int *grp;             /* prepare time */
    int n_grp;
    const lp_qconst *const *qconst; /* per value: a folded quantized constant's origin */
} walk;

#define MAX_READERS 4

/* The readers of v, or -1 when v cannot be internal to a group (a graph output, or a
 * reader already taken). */
static int readers(const walk *w, int v, int *out)
{
    int n = 0;
    if (w->fc) {
        if (w->g->values[v].is_output)
            return -1;
        const int *r;
        int nr = lp_fuse_readers(w->fc, v, &r);
        for (int i = 0; i < nr; i++) {
            if (w->fc->taken[r[i]] || n == MAX_READERS)
                return -1;
            bool dup = false;
            for (int j = 0; j < n; j++)
                dup |= out[j] == r[i];
            if (!dup)
                out[n++] = r[i];
        }
        return n;
    }
    for (int i = 0; i < w->n_grp; i++) {
        const lp_node *nd = &w->g->nodes[w->grp[i]];
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] == v && n < MAX_READERS) {
                out[n++] = w->grp[i];
                break;
            }
    }
    return n;
}

/* The single reader of v, or -1. */
static int single_reader(const walk *w, int v)
{
    int r[MAX_READERS];
    return readers(w, v, r) == 1 ? r[0] : -1;
}

static bool is_op(const lp_graph *g, int ni, const char *op)
{
    return ni >= 0 && g->nodes[ni].op == lp_op_find("", op);
}

/* The value of a constant scalar (any numeric type, numel 1). */
static bool const_scalar(const lp_graph *g, int v, double *out)
{
    if (v < 0 || g->values[v].kind != LP_VALUE_CONST || lp_tensor_numel(g->values[v].init) != 1)
        return false;
    lp_dtype t = g->values[v].init->dtype;
    if (t != LOWP_FLOAT && t != LOWP_DOUBLE && t != LOWP_INT64 && t != LOWP_INT32)
        return false;
    *out = lp_tensor_get(g->values[v].init, 0);
    return true;
}

static bool near(double a, double b) { return fabs(a - b) <= 1e-4 * fabs(b); }

/* The input of binary node ni that is not v (-1 if both or neither are v); *first = v is input 0. */
static int other_input(const lp_node *n, int v, bool *first)
{
    if (n->n_in != 2 || n->n_out != 1)
        return -1;
    if (n->in[0] == v && n->in[1] != v) {
        *first = true;
        return n->in[1];
    }
    if (n->in[1] == v && n->in[0] != v) {
        *first = false;
        return n->in[0];
    }
    return -1;
}

/* Ops of two inputs that are an eltwise of one of them when the other is a constant scalar:
 * Max(x, c) and Min(x, c) (either order) as clip_v2 to [c, inf) or (-inf, c]; Sub(c, x) as
 * linear -x + c (one rounding, as c - x has); Div(c, x) as pow with alpha c, beta -1 (oneDNN
 * divides: c / x); Pow(x, 2) as square (x * x rounded once, as the reference's double product
 * is). *src: which input is x. */
static bool scalar_eltwise(const lp_graph *g, const lp_node *n, dn_post *p, int *src)
{
    const char *op = n->op_type;
    bool minmax = strcmp(op, "Max") == 0 || strcmp(op, "Min") == 0;
    bool div = strcmp(op, "Div") == 0;
    if (n->n_in != 2 || *n->domain || !(minmax || div || strcmp(op, "Sub") == 0 || strcmp(op, "Pow") == 0))
        return false;
    double c;
    int k = -1;
    for (int i = 0; i < 2 && k < 0; i++)
        if (const_scalar(g, n->in[1 - i], &c) && dn_value_f32(g, n->in[i]) && !dn_value_const(g, n->in[i]))
            k = i;
    if (k < 0 || ((div || strcmp(op, "Sub") == 0) && k != 1) || (strcmp(op, "Pow") == 0 && (k != 0 || c != 2.0)))
        return false;
    const lp_shape *xs = &g->values[n->in[k]].shape, *ys = &g->values[n->out[0]].shape;
    if (xs->ndim != ys->ndim || memcmp(xs->d, ys->d, (size_t)xs->ndim * sizeof xs->d[0]) != 0 || isnan(c))
        return false;
    *src = k;
    if (minmax) {
        bool max = strcmp(op, "Max") == 0;
        p->alg = dnnl_eltwise_clip_v2;
        p->alpha = max ? (float)c : -INFINITY;
        p->beta = max ? INFINITY : (float)c;
    } else if (div) {
        p->alg = dnnl_eltwise_pow; /* c * x^-1 */
        p->alpha = (float)c;
        p->beta = -1.f;
    } else if (strcmp(op, "Sub") == 0) {
        p->alg = dnnl_eltwise_linear;
        p->alpha = -1.f;
        p->beta = (float)c;
    } else {
        p->alg = dnnl_eltwise_square;
    }
    return true;
}

int dn_eltwise_src(const lp_graph *g, int ni)
{
    dn_post p;
    int k = 0;
    return scalar_eltwise(g, &g->nodes[ni], &p, &k) ? k : 0;
}

bool dn_eltwise_of(const lp_graph *g, int ni, dn_post *p, int *n_post)
{
    const lp_node *n = &g->nodes[ni];
    if (n->op < 0 || n->n_in < 1 || n->n_out != 1 || !dn_value_f32(g, n->out[0]))
        return false;
    const char *op = n->op_type;
    *n_post = 1;
    p[0] = (dn_post){ .kind = DN_POST_ELTWISE };
    int k;
    if (scalar_eltwise(g, n, p, &k))
        return true;
    if (!dn_value_f32(g, n->in[0]))
        return false;
    if (strcmp(op, "Relu") == 0)
        p[0].alg = dnnl_eltwise_relu;
    else if (strcmp(op, "LeakyRelu") == 0) {
        p[0].alg = dnnl_eltwise_relu;
        p[0].alpha = lp_attr_float(n, "alpha", 0.01f);
    } else if (strcmp(op, "Sigmoid") == 0)
        p[0].alg = dnnl_eltwise_logistic;
    else if (strcmp(op, "Tanh") == 0)
        p[0].alg = dnnl_eltwise_tanh;
    else if (strcmp(op, "HardSwish") == 0)
        p[0].alg = dnnl_eltwise_hardswish;
    else if (strcmp(op, "HardSigmoid") == 0) {
        p[0].alg = dnnl_eltwise_linear;
        p[0].alpha = lp_attr_float(n, "alpha", 0.2f);
        p[0].beta = lp_attr_float(n, "beta", 0.5f);
        p[1] = (dn_post){ .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_clip_v2, .alpha = 0.f, .beta = 1.f };
        *n_post = 2;
    } else if (strcmp(op, "Neg") == 0) {
        p[0].alg = dnnl_eltwise_linear; /* -x: exact */
        p[0].alpha = -1.f;
    } else if (strcmp(op, "Abs") == 0)
        p[0].alg = dnnl_eltwise_abs;
    else if (strcmp(op, "Exp") == 0)
        p[0].alg = dnnl_eltwise_exp;
    else if (strcmp(op, "Sqrt") == 0)
        p[0].alg = dnnl_eltwise_sqrt;
    else if (strcmp(op, "Clip") == 0) {
        double lo = -FLT_MAX, hi = FLT_MAX;
        if (lp_graph_opset(g, "") < 11) {
            lo = lp_attr_float(n, "min", -FLT_MAX);
            hi = lp_attr_float(n, "max", FLT_MAX);
        } else {
            if (n->n_in > 1 && n->in[1] >= 0 && !const_scalar(g, n->in[1], &lo))
                return false;
            if (n->n_in > 2 && n->in[2] >= 0 && !const_scalar(g, n->in[2], &hi))
                return false;
        }
        if (!(lo <= hi)) /* ONNX then sets everything to max; leave that to the reference */
            return false;
        p[0].alg = dnnl_eltwise_clip_v2;
        p[0].alpha = (float)lo;
        p[0].beta = (float)hi;
    } else
        return false;
    return n->n_in == 1 || strcmp(op, "Clip") == 0;
}

/* oneDNN 2.6's JIT kernels build one eltwise injector per algorithm for a primitive's post-ops:
 * a second post-op of an algorithm already in the list runs with the first one's alpha and beta
 * (Conv -> LeakyRelu(0.2) -> Relu computed LeakyRelu twice; HardSigmoid's clip and a Clip's
 * share dnnl_eltwise_clip_v2). A post-op fits the list when every earlier post-op of its
 * algorithm has its parameters. */
bool dn_post_fits(const dn_post *post, int n, const dn_post *p)
{
    if (p->kind != DN_POST_ELTWISE)
        return true;
    for (int i = 0; i < n; i++)
        if (post[i].kind == DN_POST_ELTWISE && !post[i].as_sum && post[i].alg == p->alg &&
            (post[i].alpha != p->alpha || post[i].beta != p->beta))
            return false;
    return true;
}

/* x (..., dims) broadcast onto dst without changing dst: each right-aligned dim 1 or equal. */
static bool broadcasts_onto(const lp_shape *x, const lp_shape *dst)
{
    if (x->ndim > dst->ndim)
        return false;
    for (int i = 0; i < x->ndim; i++) {
        int64_t a = x->d[x->ndim - 1 - i], b = dst->d[dst->ndim - 1 - i];
        if (a != 1 && a != b)
            return false;
    }
    return true;
}

/* Operand shapes oneDNN's fast kernels take as binary post-ops: a scalar, the whole
 * tensor, or one value per output channel (dim 1 of a convolution, the last dim of a matrix
 * product). Others would select oneDNN's slow reference implementation. */
static bool post_operand_ok(const lp_graph *g, int leader, const lp_shape *u, const lp_shape *v)
{
    int64_t un = lp_numel(u->ndim, u->d), vn = lp_numel(v->ndim, v->d);
    if (un == 1 || un == vn)
        return true;
    const char *op = g->nodes[leader].op_type;
    int oc = strcmp(op, "Conv") == 0 || strcmp(op, "ConvTranspose") == 0 || strcmp(op, "ConvInteger") == 0 ? 1
             : strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0 || strcmp(op, "MatMulInteger") == 0 ? v->ndim - 1
                                                                                                  : -1;
    if (oc < 0)
        return false;
    for (int k = 0; k < v->ndim; k++) {
        int j = k - (v->ndim - u->ndim);
        int64_t d = j >= 0 ? u->d[j] : 1;
        if (k != oc && d != 1)
            return false;
    }
    return true;
}

/* A binary node ni reading chain value v as a post-op of `leader`; fills p[0] and returns 1,
 * or for Sub(u, v) p[0..1] = (v - u, negated) and returns 2 (exact: c - x == -(x - c) in IEEE
 * arithmetic); 0 when it is none. */
static int binary_post(const lp_graph *g, int leader, int ni, int v, dn_post *p)
{
    const lp_node *n = &g->nodes[ni];
    static const struct { const char *op; dnnl_alg_kind_t alg; bool commutes; } ops[] = {
        { "Add", dnnl_binary_add, true }, { "Mul", dnnl_binary_mul, true },
        { "Sub", dnnl_binary_sub, false }, { "Div", dnnl_binary_div, false },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(n->op_type, ops[i].op) != 0 || *n->domain)
            continue;
        bool first;
        int u = other_input(n, v, &first);
        bool negate = !first && ops[i].alg == dnnl_binary_sub;
        if (u < 0 || (!first && !ops[i].commutes && !negate) || !dn_value_f32(g, u) || !dn_value_f32(g, n->out[0]))
            return 0;
        const lp_shape *vs = &g->values[v].shape, *os = &g->values[n->out[0]].shape;
        if (os->ndim != vs->ndim || memcmp(os->d, vs->d, (size_t)vs->ndim * sizeof vs->d[0]) != 0 ||
            !broadcasts_onto(&g->values[u].shape, vs) || !post_operand_ok(g, leader, &g->values[u].shape, vs))
            return 0;
        p[0] = (dn_post){ .kind = DN_POST_BINARY, .alg = ops[i].alg, .value = u };
        if (!negate)
            return 1;
        p[1] = (dn_post){ .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_linear, .alpha = -1.f };
        return 2;
    }
    return 0;
}

/* GELU from its head node h (Div(x, sqrt 2) or Mul(x, 1/sqrt 2)); nodes[5] in order. */
static bool gelu_match(const walk *w, int h, int *x_out, int *nodes)
{
    const lp_graph *g = w->g;
    const lp_node *hn = &g->nodes[h];
    double c;
    int x = -1;
    if (is_op(g, h, "Div") && hn->n_in == 2 && const_scalar(g, hn->in[1], &c) && near(c, sqrt(2.0)))
        x = hn->in[0];
    else if (is_op(g, h, "Mul") && hn->n_in == 2) {
        if (const_scalar(g, hn->in[1], &c) && near(c, sqrt(0.5)))
            x = hn->in[0];
        else if (const_scalar(g, hn->in[0], &c) && near(c, sqrt(0.5)))
            x = hn->in[1];
    }
    if (x < 0 || !dn_value_f32(g, x))
        return false;
    int e = single_reader(w, hn->out[0]);
    if (!is_op(g, e, "Erf") || g->nodes[e].in[0] != hn->out[0])
        return false;
    int a = single_reader(w, g->nodes[e].out[0]);
    bool first;
    int one = is_op(g, a, "Add") ? other_input(&g->nodes[a], g->nodes[e].out[0], &first) : -1;
    if (one < 0 || !const_scalar(g, one, &c) || !near(c, 1.0))
        return false;
    int e1 = g->nodes[a].out[0];
    int m3 = single_reader(w, e1);
    if (!is_op(g, m3, "Mul"))
        return false;
    int u = other_input(&g->nodes[m3], e1, &first);
    int m4 = u >= 0 ? single_reader(w, g->nodes[m3].out[0]) : -1;
    if (!is_op(g, m4, "Mul"))
        return false;
    int u4 = other_input(&g->nodes[m4], g->nodes[m3].out[0], &first);
    bool ok = (u == x && const_scalar(g, u4, &c) && near(c, 0.5)) ||  /* (x * (1+erf)) * 0.5 */
              (u4 == x && const_scalar(g, u, &c) && near(c, 0.5));     /* x * ((1+erf) * 0.5) */
    if (!ok || !dn_value_f32(g, g->nodes[m4].out[0]))
        return false;
    const lp_shape *xs = &g->values[x].shape, *ys = &g->values[g->nodes[m4].out[0]].shape;
    if (xs->ndim != ys->ndim || memcmp(xs->d, ys->d, (size_t)xs->ndim * sizeof xs->d[0]) != 0)
        return false;
    int n5[5] = { h, e, a, m3, m4 };
    memcpy(nodes, n5, sizeof n5);
    *x_out = x;
    return true;
}

/* HardSwish as exporters decompose it, from the two readers rd[0..1] of x (Paddle's hardswish,
 * PyTorch's at opsets < 14): x * Clip(x + 3, 0, 6) / 6 (or * 1/6; the Add's and the Mul's
 * operands in either order), and x * HardSigmoid(x) with alpha 1/6, beta 1/2. Fills nodes[]
 * in order and returns their count (4, 3 or 2), 0 when rd is not one of these. */
static int hswish_match(const walk *w, int x, const int *rd, int *nodes)
{
    const lp_graph *g = w->g;
    for (int i = 0; i < 2; i++) {
        int h = rd[i], m = rd[1 - i], list[4], n = 0, act, u;
        const lp_node *hn = &g->nodes[h];
        double c;
        bool first, add_form = is_op(g, h, "Add");
        if (is_op(g, h, "HardSigmoid") && hn->in[0] == x && near(lp_attr_float(hn, "alpha", 0.2f), 1.0 / 6) &&
            near(lp_attr_float(hn, "beta", 0.5f), 0.5)) {
            list[n++] = h;
            act = hn->out[0];
        } else if (add_form && (u = other_input(hn, x, &first)) >= 0 && const_scalar(g, u, &c) && c == 3.0) {
            int cl = single_reader(w, hn->out[0]), np;
            dn_post p[2];
            if (!is_op(g, cl, "Clip") || g->nodes[cl].in[0] != hn->out[0] || !dn_eltwise_of(g, cl, p, &np) ||
                p[0].alpha != 0.f || p[0].beta != 6.f)
                continue;
            list[n++] = h;
            list[n++] = cl;
            act = g->nodes[cl].out[0];
        } else {
            continue;
        }
        if (!is_op(g, m, "Mul") || single_reader(w, act) != m || other_input(&g->nodes[m], act, &first) != x)
            continue;
        list[n++] = m;
        int y = g->nodes[m].out[0];
        if (add_form) { /* then / 6 or * (1/6) */
            int d = single_reader(w, y);
            bool div6 = is_op(g, d, "Div") && g->nodes[d].in[0] == y && const_scalar(g, g->nodes[d].in[1], &c) && c == 6.0;
            bool mul6 = is_op(g, d, "Mul") && (u = other_input(&g->nodes[d], y, &first)) >= 0 && const_scalar(g, u, &c) &&
                        near(c, 1.0 / 6);
            if (!div6 && !mul6)
                continue;
            list[n++] = d;
            y = g->nodes[d].out[0];
        }
        const lp_shape *xs = &g->values[x].shape, *ys = &g->values[y].shape;
        if (!dn_value_f32(g, x) || !dn_value_f32(g, y) || xs->ndim != ys->ndim ||
            memcmp(xs->d, ys->d, (size_t)xs->ndim * sizeof xs->d[0]) != 0)
            continue;
        memcpy(nodes, list, (size_t)n * sizeof *list);
        return n;
    }
    return 0;
}

/* ReduceMean over the trailing axes with keepdims; *first_axis gets the first of them. */
static bool trailing_mean(const lp_graph *g, int ni, int x, int *first_axis)
{
    if (!is_op(g, ni, "ReduceMean") || g->nodes[ni].in[0] != x || lp_attr_int(&g->nodes[ni], "keepdims", 1) != 1)
        return false;
    const lp_node *n = &g->nodes[ni];
    int64_t axes[LP_MAX_DIMS];
    int na = 0;
    if (n->n_in > 1 && n->in[1] >= 0) {
        const lp_value *av = &g->values[n->in[1]];
        if (av->kind != LP_VALUE_CONST || lp_tensor_numel(av->init) > LP_MAX_DIMS)
            return false;
        na = (int)lp_tensor_numel(av->init);
        for (int i = 0; i < na; i++)
            axes[i] = lp_tensor_get_int(av->init, i);
    } else {
        const int64_t *a;
        na = lp_attr_ints(n, "axes", &a);
        if (na <= 0 || na > LP_MAX_DIMS)
            return false;
        memcpy(axes, a, (size_t)na * sizeof *a);
    }
    int rank = g->values[x].shape.ndim;
    if (na < 1 || rank < 1)
        return false;
    bool seen[LP_MAX_DIMS] = { false };
    for (int i = 0; i < na; i++) {
        int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (ax < 0 || ax >= rank || seen[ax])
            return false;
        seen[ax] = true;
    }
    for (int i = rank - na; i < rank; i++)
        if (!seen[i])
            return false;
    *first_axis = rank - na;
    return true;
}

/* A constant whose shape covers only the normalized (trailing from `axis`) dims of x. */
static bool ln_param(const lp_graph *g, int v, int x, int axis)
{
    if (!dn_value_const(g, v) || g->values[v].init->dtype != LOWP_FLOAT)
        return false;
    const lp_tensor *t = g->values[v].init;
    const lp_shape *xs = &g->values[x].shape;
    if (t->ndim > xs->ndim)
        return false;
    for (int i = 0; i < t->ndim; i++) {
        int xa = xs->ndim - t->ndim + i;
        if (t->dims[i] != 1 && (xa < axis || t->dims[i] != xs->d[xa]))
            return false;
    }
    return true;
}

/* The decomposed LayerNorm led by ReduceMean r0. */
static bool ln_match(const walk *w, int r0, dn_group_info *info, int *nodes, int *n_nodes)
{
    const lp_graph *g = w->g;
    if (!is_op(g, r0, "ReduceMean"))
        return false;
    int x = g->nodes[r0].in[0], axis, axis2;
    if (!dn_value_f32(g, x) || !trailing_mean(g, r0, x, &axis))
        return false;
    int mean = g->nodes[r0].out[0];
    int sub = single_reader(w, mean);
    if (!is_op(g, sub, "Sub") || g->nodes[sub].in[0] != x || g->nodes[sub].in[1] != mean)
        return false;
    int d = g->nodes[sub].out[0];
    int rd[MAX_READERS];
    if (readers(w, d, rd) != 2)
        return false;
    int pw = -1, dv = -1;
    for (int i = 0; i < 2; i++) {
        const lp_node *n = &g->nodes[rd[i]];
        double c;
        if (is_op(g, rd[i], "Pow") && n->in[0] == d && const_scalar(g, n->in[1], &c) && c == 2.0)
            pw = rd[i];
        else if (is_op(g, rd[i], "Mul") && n->in[0] == d && n->in[1] == d)
            pw = rd[i];
        else if (is_op(g, rd[i], "Div") && n->in[0] == d)
            dv = rd[i];
    }
    if (pw < 0 || dv < 0)
        return false;
    int r1 = single_reader(w, g->nodes[pw].out[0]);
    if (r1 < 0 || !trailing_mean(g, r1, g->nodes[pw].out[0], &axis2) || axis2 != axis)
        return false;
    int add = single_reader(w, g->nodes[r1].out[0]);
    bool first;
    double eps;
    int ev = is_op(g, add, "Add") ? other_input(&g->nodes[add], g->nodes[r1].out[0], &first) : -1;
    if (ev < 0 || !const_scalar(g, ev, &eps) || eps < 0)
        return false;
    int sq = single_reader(w, g->nodes[add].out[0]);
    if (!is_op(g, sq, "Sqrt") || single_reader(w, g->nodes[sq].out[0]) != dv || g->nodes[dv].in[1] != g->nodes[sq].out[0])
        return false;
    int n = 0;
    int list[9] = { r0, sub, pw, r1, add, sq, dv };
    n = 7;
    info->ln_gamma = info->ln_beta = -1;
    int y = g->nodes[dv].out[0];
    int mul = single_reader(w, y);
    int gv = is_op(g, mul, "Mul") ? other_input(&g->nodes[mul], y, &first) : -1;
    if (gv >= 0 && ln_param(g, gv, x, axis)) {
        list[n++] = mul;
        info->ln_gamma = gv;
        y = g->nodes[mul].out[0];
        int ad = single_reader(w, y);
        int bv = is_op(g, ad, "Add") ? other_input(&g->nodes[ad], y, &first) : -1;
        if (bv >= 0 && ln_param(g, bv, x, axis)) {
            list[n++] = ad;
            info->ln_beta = bv;
            y = g->nodes[ad].out[0];
        }
    }
    if (!dn_value_f32(g, y))
        return false;
    info->pattern = DN_PAT_LAYERNORM;
    info->ln_x = x;
    info->ln_eps = (float)eps;
    info->ln_axis = axis;
    info->chain.n_post = 0;
    info->chain.out_value = y;
    memcpy(nodes, list, (size_t)n * sizeof *list);
    *n_nodes = n;
    return true;
}

/* QuantizeLinear node qn whose output only DequantizeLinear reads, with the same
 * parameters: the DQ node, its parameters in *q. */
static int qdq_pair(const walk *w, int qn, dn_quant *q)
{
    const lp_graph *g = w->g;
    dn_quant dq;
    if (!is_op(g, qn, "QuantizeLinear") || !dn_qnode_params(g, qn, q) || !dn_value_f32(g, g->nodes[qn].in[0]))
        return -1;
    int d = single_reader(w, g->nodes[qn].out[0]);
    if (!is_op(g, d, "DequantizeLinear") || g->nodes[d].in[0] != g->nodes[qn].out[0] || !dn_qnode_params(g, d, &dq) ||
        dq.dt != q->dt || dq.scale != q->scale || dq.zp != q->zp || !dn_value_f32(g, g->nodes[d].out[0]))
        return -1;
    return d;
}

/* An INT8 leader's chain may end in QuantizeLinear -> DequantizeLinear: the result is then
 * stored quantized (u8/s8 destination, requantized by the primitive). After a residual
 * (full-size) Add only for a convolution, when the residual is itself DequantizeLinear's
 * output of the same type with zero point 0: it is summed as integers (dn_copy_sum_operand). */
static void chain_q_tail(const walk *w, int ni, dn_chain *ch, int *nodes, int *n, int max)
{
    const lp_graph *g = w->g;
    int v = ch->out_value;
    const lp_shape *os = &g->values[v].shape;
    if (*n + 2 > max || !dn_int8_leader(g, w->qconst, ni))
        return;
    int residual = -1, n_full = 0;
    for (int i = 0; i < ch->n_post; i++) {
        const dn_post *p = &ch->post[i];
        if (p->kind == DN_POST_BINARY && p->value >= 0 &&
            lp_numel(g->values[p->value].shape.ndim, g->values[p->value].shape.d) == lp_numel(os->ndim, os->d)) {
            residual = p->alg == dnnl_binary_add ? p->value : -2;
            n_full++;
        }
    }
    dn_quant qr;
    if (n_full > 1 || residual == -2 ||
        (residual >= 0 && (g->nodes[ni].op != LP_OP_Conv || !dn_value_dq(g, residual, &qr) || qr.zp != 0)))
        return;
    int qn = single_reader(w, v);
    dn_quant q;
    int d = qn >= 0 && g->nodes[qn].in[0] == v ? qdq_pair(w, qn, &q) : -1;
    if (d < 0 || (residual >= 0 && q.dt != qr.dt))
        return;
    dn_post requant = { .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_linear, .alpha = 1.f / q.scale };
    if (!dn_chain_scales(ch) && !dn_post_fits(ch->post, ch->n_post, &requant))
        return; /* the INT8 builder's requantizing linear post-op would clash with the chain's */
    nodes[(*n)++] = qn;
    nodes[(*n)++] = d;
    ch->q_tail = q;
    ch->out_value = g->nodes[d].out[0];
}

/* Post-ops after leader ni: appends absorbed nodes to nodes[*n...]. */
static void chain_walk(const walk *w, int ni, dn_chain *ch, int *nodes, int *n, int max)
{
    const lp_graph *g = w->g;
    int v = g->nodes[ni].out[0];
    ch->n_post = 0;
    if (is_op(g, ni, "MatMulInteger") || is_op(g, ni, "ConvInteger")) { /* int32 continues through Cast to float */
        int r = single_reader(w, v);
        ch->out_value = v;
        if (r < 0 || *n >= max || !is_op(g, r, "Cast") || g->nodes[r].in[0] != v ||
            lp_attr_int(&g->nodes[r], "to", 0) != LOWP_FLOAT || !dn_value_f32(g, g->nodes[r].out[0]))
            return;
        nodes[(*n)++] = r;
        v = g->nodes[r].out[0];
    }
    for (;;) {
        ch->out_value = v;
        int rd[MAX_READERS];
        int nr = readers(w, v, rd);
        dn_post p[2];
        int np = 0;
        if (nr == 1 && *n < max && ch->n_post + 2 <= DN_MAX_POST) {
            int r = rd[0];
            if (dn_eltwise_of(g, r, p, &np) && g->nodes[r].in[dn_eltwise_src(g, r)] == v) {
                for (int i = 0; i < np; i++)
                    if (!dn_post_fits(ch->post, ch->n_post, &p[i]))
                        np = 0; /* ends the chain: the op runs as a step of its own */
            } else if ((np = binary_post(g, ni, r, v, p)) > 0) {
                for (int i = 0; i < np; i++)
                    if (!dn_post_fits(ch->post, ch->n_post, &p[i]))
                        np = 0;
            } else {
                np = 0;
            }
            if (np) {
                memcpy(ch->post + ch->n_post, p, (size_t)np * sizeof *p);
                ch->n_post += np;
                nodes[(*n)++] = r;
                v = g->nodes[r].out[0];
                continue;
            }
        }
        if (nr == 2 && *n + 5 <= max && ch->n_post < DN_MAX_POST) {
            int gn[5], x, nh;
            dn_post hs = { .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_hardswish };
            if ((nh = hswish_match(w, v, rd, gn)) > 0 && dn_post_fits(ch->post, ch->n_post, &hs)) {
                ch->post[ch->n_post++] = hs;
                memcpy(nodes + *n, gn, (size_t)nh * sizeof *gn);
                *n += nh;
                v = g->nodes[gn[nh - 1]].out[0];
                goto next;
            }
            for (int i = 0; i < 2; i++) {
                if (gelu_match(w, rd[i], &x, gn) && x == v && (rd[1 - i] == gn[3] || rd[1 - i] == gn[4])) {
                    ch->post[ch->n_post++] = (dn_post){ .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_gelu_erf };
                    memcpy(nodes + *n, gn, sizeof gn);
                    *n += 5;
                    v = g->nodes[gn[4]].out[0];
                    goto next;
                }
            }
        }
        chain_q_tail(w, ni, ch, nodes, n, max);
        return;
next:;
    }
}

bool dn_qmove_op(const lp_graph *g, int ni)
{
    const lp_node *n = &g->nodes[ni];
    if (n->dead || n->dynamic || *n->domain)
        return false;
    switch (n->op) {
    case LP_OP_MaxPool: case LP_OP_GlobalMaxPool: case LP_OP_Concat: case LP_OP_Resize: case LP_OP_Upsample:
    case LP_OP_Slice: case LP_OP_Pad: case LP_OP_Transpose:
    case LP_OP_Reshape: case LP_OP_Flatten: case LP_OP_Squeeze: case LP_OP_Unsqueeze:
        return dn_supports_q(g, ni);
    default:
        return false;
    }
}

bool dn_qmove_keeps_layout(const lp_graph *g, int ni)
{
    int op = g->nodes[ni].op;
    return op != LP_OP_Transpose && op != LP_OP_Reshape && op != LP_OP_Flatten && op != LP_OP_Squeeze &&
           op != LP_OP_Unsqueeze && dn_qmove_op(g, ni);
}

/* Recognises a group starting at nodes[0] following readers through `w`. */
static int group_walk(const walk *w, int ni, dn_group_info *info, int *nodes, int max)
{
    const lp_graph *g = w->g;
    memset(info, 0, sizeof *info);
    info->ln_x = info->ln_gamma = info->ln_beta = info->gelu_x = info->qdq_x = -1;
    int n = 0;
    if (ln_match(w, ni, info, nodes, &n))
        return n;
    dn_quant q;
    int d = max >= 2 ? qdq_pair(w, ni, &q) : -1;
    if (d >= 0) {
        info->pattern = DN_PAT_QDQ;
        info->qdq_x = g->nodes[ni].in[0];
        info->chain.out_value = g->nodes[d].out[0];
        info->chain.q_tail = q;
        nodes[0] = ni;
        nodes[1] = d;
        return 2;
    }
    int x;
    if (max >= 5 && gelu_match(w, ni, &x, nodes)) {
        info->pattern = DN_PAT_GELU;
        info->gelu_x = x;
        info->chain.out_value = g->nodes[nodes[4]].out[0];
        return 5;
    }
    if (max >= 3 && dn_qmove_op(g, ni)) { /* MaxPool | Concat | Resize | data movement -> Q -> DQ: on 8 bits */
        int v = g->nodes[ni].out[0], qn = single_reader(w, v);
        d = qn >= 0 && g->nodes[qn].in[0] == v ? qdq_pair(w, qn, &q) : -1;
        if (d >= 0) {
            info->pattern = DN_PAT_CHAIN;
            info->chain.out_value = g->nodes[d].out[0];
            info->chain.q_tail = q;
            nodes[0] = ni;
            nodes[1] = qn;
            nodes[2] = d;
            return 3;
        }
    }
    if (!dn_chain_leader(g, ni))
        return 0;
    nodes[0] = ni;
    n = 1;
    info->pattern = DN_PAT_CHAIN;
    chain_walk(w, ni, &info->chain, nodes, &n, max);
    return n;
}

int dn_fuse(const lp_fuse_ctx *fc, int ni, int *group, int max)
{
    if (!dn_engine())
        return 0;
    walk w = { .g = fc->g, .fc = fc, .qconst = fc->qconst };
    dn_group_info info;
    int n = group_walk(&w, ni, &info, group, max);
    return n >= 2 ? n : 0;
}

bool dn_group_analyze(const lp_graph *g, const lp_qconst *const *qconst, const int *nodes, int n,
                      dn_group_info *info)
{
    if (n == 1) {
        memset(info, 0, sizeof *info);
        info->ln_x = info->ln_gamma = info->ln_beta = info->gelu_x = info->qdq_x = -1;
        info->pattern = DN_PAT_CHAIN;
        info->chain.out_value = g->nodes[nodes[0]].out[0];
        return dn_supports_node(g, nodes[0]);
    }
    walk w = { .g = g, .grp = nodes, .n_grp = n, .qconst = qconst };
    int again[LP_MAX_FUSED];
    int m = group_walk(&w, nodes[0], info, again, LP_MAX_FUSED);
    return m == n && memcmp(again, nodes, (size_t)n * sizeof *nodes) == 0;
}
