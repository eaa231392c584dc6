/* rnn.c — the recurrent ops RNN, GRU and LSTM (opsets 1-14+), and com.microsoft's
 * DynamicQuantizeLSTM (an LSTM with 8-bit weights): attributes, shape inference and
 * the plain C reference kernel. One batch row and one time step at a time, written for
 * clarity; the oneDNN kernel (kernels/dnnl_rnn.c) is the fast twin. Shapes: ops/rnn.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops/rnn.h"

/* ---------------- attributes ---------------- */

static const struct act_def {
    const char *name;
    lp_rnn_act act;
    int n_alpha, n_beta;        /* how many of activation_alpha / activation_beta it takes */
    float alpha, beta;          /* defaults: those of the ONNX op of the same name */
} act_defs[] = {
    { "Relu", LP_ACT_RELU, 0, 0, 0.0f, 0.0f },
    { "Tanh", LP_ACT_TANH, 0, 0, 0.0f, 0.0f },
    { "Sigmoid", LP_ACT_SIGMOID, 0, 0, 0.0f, 0.0f },
    { "Affine", LP_ACT_AFFINE, 1, 1, 1.0f, 0.0f },
    { "LeakyRelu", LP_ACT_LEAKYRELU, 1, 0, 0.01f, 0.0f },
    { "ThresholdedRelu", LP_ACT_THRESHOLDEDRELU, 1, 0, 1.0f, 0.0f },
    { "ScaledTanh", LP_ACT_SCALEDTANH, 1, 1, 1.0f, 1.0f },
    { "HardSigmoid", LP_ACT_HARDSIGMOID, 1, 1, 0.2f, 0.5f },
    { "Elu", LP_ACT_ELU, 1, 0, 1.0f, 0.0f },
    { "Softsign", LP_ACT_SOFTSIGN, 0, 0, 0.0f, 0.0f },
    { "Softplus", LP_ACT_SOFTPLUS, 0, 0, 0.0f, 0.0f },
};

static const struct kind_def {
    const char *op;
    lp_rnn_kind kind;
    bool quantized;
    int gates, n_fn;
    lp_rnn_act defaults[3];
} kind_defs[] = {
    { "RNN", LP_RNN_VANILLA, false, 1, 1, { LP_ACT_TANH } },
    { "GRU", LP_RNN_GRU, false, 3, 2, { LP_ACT_SIGMOID, LP_ACT_TANH } },
    { "LSTM", LP_RNN_LSTM, false, 4, 3, { LP_ACT_SIGMOID, LP_ACT_TANH, LP_ACT_TANH } },
    { "DynamicQuantizeLSTM", LP_RNN_LSTM, true, 4, 3, { LP_ACT_SIGMOID, LP_ACT_TANH, LP_ACT_TANH } },
};

lp_status lp_rnn_attrs_of(const lp_node *n, lp_rnn_attrs *a)
{
    memset(a, 0, sizeof *a);
    const struct kind_def *k = NULL;
    for (size_t i = 0; i < sizeof kind_defs / sizeof kind_defs[0]; i++)
        if (strcmp(n->op_type, kind_defs[i].op) == 0)
            k = &kind_defs[i];
    if (!k)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "not a recurrent op");
    a->kind = k->kind;
    a->quantized = k->quantized;
    a->gates = k->gates;
    a->n_fn = k->n_fn;

    const char *dir = lp_attr_str(n, "direction", "forward");
    if (strcmp(dir, "forward") == 0)
        a->dirs = 1;
    else if (strcmp(dir, "reverse") == 0)
        a->dirs = 1, a->reverse = true;
    else if (strcmp(dir, "bidirectional") == 0)
        a->dirs = 2;
    else
        return lp_node_error(n, LOWP_ERR_FORMAT, "direction '%s' is not forward, reverse or bidirectional", dir);

    a->hidden = lp_node_attr(n, "hidden_size") ? lp_attr_int(n, "hidden_size", 0) : -1;
    if (lp_node_attr(n, "hidden_size") && a->hidden <= 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "hidden_size %lld must be positive", (long long)a->hidden);
    int64_t layout = a->quantized ? 0 : lp_attr_int(n, "layout", 0); /* com.microsoft's has none */
    if (layout != 0 && layout != 1)
        return lp_node_error(n, LOWP_ERR_FORMAT, "layout %lld is not 0 or 1", (long long)layout);
    a->layout1 = layout == 1;
    if (lp_node_attr(n, "clip")) {
        a->has_clip = true;
        a->clip = lp_attr_float(n, "clip", 0.0f);
        if (!(a->clip > 0.0f))
            return lp_node_error(n, LOWP_ERR_FORMAT, "clip %g must be positive", (double)a->clip);
    }
    a->input_forget = a->kind == LP_RNN_LSTM && lp_attr_int(n, "input_forget", 0) != 0;
    a->linear_before_reset = a->kind == LP_RNN_GRU && lp_attr_int(n, "linear_before_reset", 0) != 0;

    /* activations: n_fn per direction, forward's first; a list for one direction serves both */
    const lp_attr *acts = lp_node_attr(n, "activations");
    const float *alphas = NULL, *betas = NULL;
    int n_alpha = lp_attr_floats(n, "activation_alpha", &alphas), n_beta = lp_attr_floats(n, "activation_beta", &betas);
    int ia = 0, ib = 0;
    if (acts && acts->type != LP_ATTR_STRINGS)
        return lp_node_error(n, LOWP_ERR_FORMAT, "activations must be a list of strings");
    int n_given = acts ? acts->n : 0;
    if (acts && n_given != a->n_fn && n_given != a->n_fn * a->dirs)
        return lp_node_error(n, LOWP_ERR_FORMAT, "%d activations given, expected %d per direction (%d directions)",
                             n_given, a->n_fn, a->dirs);
    a->default_fns = true;
    for (int d = 0; d < a->dirs; d++)
        for (int j = 0; j < a->n_fn; j++) {
            lp_rnn_fn *f = &a->fn[d][j];
            if (!acts) {
                f->act = k->defaults[j];
                continue;
            }
            const char *name = acts->strings[(d * a->n_fn + j) % n_given];
            const struct act_def *ad = NULL;
            for (size_t i = 0; i < sizeof act_defs / sizeof act_defs[0]; i++)
                if (strcasecmp(name, act_defs[i].name) == 0)
                    ad = &act_defs[i];
            if (!ad)
                return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "activation '%s' is not one ONNX defines", name);
            f->act = ad->act;
            /* each function takes its own alphas and betas from the lists, in order */
            f->alpha = ad->n_alpha && ia < n_alpha ? alphas[ia] : ad->alpha;
            f->beta = ad->n_beta && ib < n_beta ? betas[ib] : ad->beta;
            ia += ad->n_alpha && ia < n_alpha;
            ib += ad->n_beta && ib < n_beta;
            if (f->act != k->defaults[j])
                a->default_fns = false;
        }
    if (a->dirs == 1)
        memcpy(a->fn[1], a->fn[0], sizeof a->fn[0]);
    return LP_OK;
}

/* ---------------- shapes ---------------- */

static bool clash(int64_t a, int64_t b) { return lp_dim_known(a) && lp_dim_known(b) && a != b; }

static const lp_shape *shape_or_null(const lp_infer_ctx *c, int i)
{
    return i < c->n_in && c->in[i] && c->in[i]->shape.ndim >= 0 ? &c->in[i]->shape : NULL;
}

/* Checks a state input (initial_h / initial_c) against (D, B, H) in the node's layout. */
static lp_status check_state(const lp_node *n, const lp_rnn_attrs *a, const char *what, const lp_shape *s,
                             const lp_rnn_dims *dm)
{
    if (!s)
        return LP_OK;
    int64_t want[3] = { a->dirs, dm->B, dm->H };
    if (a->layout1)
        want[0] = dm->B, want[1] = a->dirs;
    if (s->ndim != 3 || clash(s->d[0], want[0]) || clash(s->d[1], want[1]) || clash(s->d[2], want[2]))
        return lp_node_error(n, LOWP_ERR_SHAPE, "%s must be (%s, %s, H) = (%lld, %lld, %lld)", what,
                             a->layout1 ? "B" : "D", a->layout1 ? "D" : "B", (long long)want[0],
                             (long long)want[1], (long long)want[2]);
    return LP_OK;
}

/* Sizes from the shapes of X, W, R (unknown dims stay unknown), every input checked against
 * them. `in[i]` NULL: input i absent or of unknown rank. */
static lp_status rnn_shapes(const lp_node *n, const lp_rnn_attrs *a, const lp_shape *const *in, lp_rnn_dims *dm)
{
    const lp_shape *x = in[LP_RNN_X], *w = in[LP_RNN_W], *r = in[LP_RNN_R];
    dm->T = dm->B = dm->I = dm->H = LP_DIM_UNKNOWN;
    if (x) {
        if (x->ndim != 3)
            return lp_node_error(n, LOWP_ERR_SHAPE, "X must have rank 3, got %d", x->ndim);
        dm->T = x->d[a->layout1 ? 1 : 0];
        dm->B = x->d[a->layout1 ? 0 : 1];
        dm->I = x->d[2];
    }
    dm->H = a->hidden;
    if (r) {
        if (r->ndim != 3)
            return lp_node_error(n, LOWP_ERR_SHAPE, "R must have rank 3, got %d", r->ndim);
        if (!lp_dim_known(dm->H))
            dm->H = r->d[2];
        if (clash(r->d[0], a->dirs) || clash(r->d[2], dm->H) ||
            (lp_dim_known(dm->H) && clash(r->d[1], a->gates * dm->H)))
            return lp_node_error(n, LOWP_ERR_SHAPE, "R must be (%d, %d*H, H) with H = %lld", a->dirs, a->gates,
                                 (long long)dm->H);
    }
    if (w) {
        if (w->ndim != 3)
            return lp_node_error(n, LOWP_ERR_SHAPE, "W must have rank 3, got %d", w->ndim);
        if (!lp_dim_known(dm->H) && lp_dim_known(w->d[1]))
            dm->H = w->d[1] / a->gates;
        if (clash(w->d[0], a->dirs) || clash(w->d[2], dm->I) ||
            (lp_dim_known(dm->H) && clash(w->d[1], a->gates * dm->H)))
            return lp_node_error(n, LOWP_ERR_SHAPE, "W must be (%d, %d*H, I) with H = %lld, I = %lld", a->dirs,
                                 a->gates, (long long)dm->H, (long long)dm->I);
        if (!lp_dim_known(dm->I))
            dm->I = w->d[2];
    }
    const lp_shape *b = in[LP_RNN_B], *seq = in[LP_RNN_SEQ], *p = in[LP_RNN_P];
    if (b && (b->ndim != 2 || clash(b->d[0], a->dirs) ||
              (lp_dim_known(dm->H) && clash(b->d[1], 2 * a->gates * dm->H))))
        return lp_node_error(n, LOWP_ERR_SHAPE, "B must be (%d, %lld)", a->dirs, (long long)(2 * a->gates * dm->H));
    if (seq && (seq->ndim != 1 || clash(seq->d[0], dm->B)))
        return lp_node_error(n, LOWP_ERR_SHAPE, "sequence_lens must be (B) = (%lld)", (long long)dm->B);
    if (p && (p->ndim != 2 || clash(p->d[0], a->dirs) || (lp_dim_known(dm->H) && clash(p->d[1], 3 * dm->H))))
        return lp_node_error(n, LOWP_ERR_SHAPE, "P must be (%d, %lld)", a->dirs, (long long)(3 * dm->H));
    LP_TRY(check_state(n, a, "initial_h", in[LP_RNN_H0], dm));
    LP_TRY(check_state(n, a, "initial_c", in[LP_RNN_C0], dm));
    return LP_OK;
}

static lp_status rnn_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    lp_rnn_attrs a;
    LP_TRY(lp_rnn_attrs_of(n, &a));
    int n_in = a.quantized ? 12 : a.kind == LP_RNN_LSTM ? 8 : 6;
    if (c->n_in > n_in)
        return lp_node_error(n, LOWP_ERR_FORMAT, "%d inputs given, %s takes at most %d", c->n_in, n->op_type, n_in);
    const lp_shape *in[8] = { 0 };
    lp_shape wt[2];
    lp_dtype dt = LOWP_UNDEFINED;
    for (int i = 0; i < c->n_in && i < 8; i++) {
        in[i] = shape_or_null(c, i);
        if (a.quantized && in[i] && (i == LP_RNN_W || i == LP_RNN_R)) {
            /* (D, K, 4H) int8: checked as the (D, 4H, K) it stands for */
            const lp_shape *q = in[i];
            if (q->ndim != 3)
                return lp_node_error(n, LOWP_ERR_SHAPE, "%s must have rank 3, got %d", i == LP_RNN_W ? "W" : "R", q->ndim);
            wt[i - 1] = *q;
            wt[i - 1].d[1] = q->d[2];
            wt[i - 1].d[2] = q->d[1];
            in[i] = &wt[i - 1];
        }
        if (!c->in[i] || i == LP_RNN_SEQ || (a.quantized && (i == LP_RNN_W || i == LP_RNN_R)))
            continue;
        lp_dtype t = c->in[i]->dtype;
        if (t != LOWP_UNDEFINED && dt != LOWP_UNDEFINED && t != dt)
            return lp_node_error(n, LOWP_ERR_SHAPE, "input %d is %s, X is %s", i, lp_dtype_traits_of(t)->name,
                                 lp_dtype_traits_of(dt)->name);
        if (t != LOWP_UNDEFINED)
            dt = t;
    }
    if (dt != LOWP_UNDEFINED && !lp_dtype_traits_of(dt)->is_float)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "inputs are %s, expected a float type", lp_dtype_traits_of(dt)->name);
    if (c->n_in > LP_RNN_SEQ && c->in[LP_RNN_SEQ] && c->in[LP_RNN_SEQ]->dtype != LOWP_UNDEFINED &&
        c->in[LP_RNN_SEQ]->dtype != LOWP_INT32)
        return lp_node_error(n, LOWP_ERR_FORMAT, "sequence_lens must be int32");
    lp_rnn_dims dm;
    LP_TRY(rnn_shapes(n, &a, in, &dm));
    if (c->n_out > (a.kind == LP_RNN_LSTM ? 3 : 2))
        return lp_node_error(n, LOWP_ERR_FORMAT, "%d outputs, %s has at most %d", c->n_out, n->op_type,
                             a.kind == LP_RNN_LSTM ? 3 : 2);
    for (int o = 0; o < c->n_out; o++) {
        lp_vinfo *v = &c->out[o];
        v->dtype = dt;
        if (o == LP_RNN_Y) {
            int64_t y[4] = { dm.T, a.dirs, dm.B, dm.H }, y1[4] = { dm.B, dm.T, a.dirs, dm.H };
            lp_vinfo_set(v, dt, 4, a.layout1 ? y1 : y);
        } else {
            int64_t s[3] = { a.dirs, dm.B, dm.H }, s1[3] = { dm.B, a.dirs, dm.H };
            lp_vinfo_set(v, dt, 3, a.layout1 ? s1 : s);
        }
    }
    return LP_OK;
}

/* ---------------- reference kernel ---------------- */

static float act(const lp_rnn_fn *f, float x)
{
    switch (f->act) {
    case LP_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case LP_ACT_TANH: return tanhf(x);
    case LP_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case LP_ACT_AFFINE: return f->alpha * x + f->beta;
    case LP_ACT_LEAKYRELU: return x >= 0.0f ? x : f->alpha * x;
    case LP_ACT_THRESHOLDEDRELU: return x > f->alpha ? x : 0.0f;
    case LP_ACT_SCALEDTANH: return f->alpha * tanhf(f->beta * x);
    case LP_ACT_HARDSIGMOID: return fminf(fmaxf(f->alpha * x + f->beta, 0.0f), 1.0f);
    case LP_ACT_ELU: return x >= 0.0f ? x : f->alpha * (expf(x) - 1.0f);
    case LP_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case LP_ACT_SOFTPLUS: return x > 20.0f ? x : log1pf(expf(x));
    }
    return x;
}

/* The pre-activation clip ("applied to the input of activations"). */
static float clipped(const lp_rnn_attrs *a, float x)
{
    return a->has_clip ? fminf(fmaxf(x, -a->clip), a->clip) : x;
}

/* sum_k m[j*K + k] * v[k]: row j of m (rows of K) times v */
static float dot(const float *m, int64_t j, int64_t K, const float *v)
{
    float s = 0.0f;
    for (int64_t k = 0; k < K; k++)
        s += m[j * K + k] * v[k];
    return s;
}

/* The operands of one direction, as float32. */
typedef struct rnn_dir {
    const float *w;             /* (G*H, I) */
    const float *r;             /* (G*H, H) */
    const float *wb, *rb;       /* (G*H) each, or NULL */
    const float *p;             /* (3*H) peepholes i o f, or NULL */
    const lp_rnn_fn *fn;        /* f, g, h */
} rnn_dir;

/* Work rows of one cell update. */
typedef struct rnn_work {
    float *g;                   /* (G*H) gate pre-activations, then activations */
    float *tmp;                 /* (H) GRU: r (.) h or Rh h */
} rnn_work;

/* Bias of gate row j (both biases; 0 when B is absent). */
static float bias(const rnn_dir *d, int64_t j) { return d->wb ? d->wb[j] + d->rb[j] : 0.0f; }

/* One time step of one batch row: h (H) and, for LSTM, c (H) are updated in place from x (I). */
static void cell(const lp_rnn_attrs *a, const rnn_dir *d, const lp_rnn_dims *dm, const float *x, float *h,
                 float *c, rnn_work *wk)
{
    int64_t H = dm->H, I = dm->I;
    float *g = wk->g;
    const lp_rnn_fn *f = &d->fn[0], *gf = &d->fn[1], *hf = &d->fn[2];
    switch (a->kind) {
    case LP_RNN_VANILLA:
        /* Ht = f(Wi x + Ri h + Wbi + Rbi) */
        for (int64_t j = 0; j < H; j++)
            g[j] = act(f, clipped(a, dot(d->w, j, I, x) + dot(d->r, j, H, h) + bias(d, j)));
        memcpy(h, g, (size_t)H * sizeof *h);
        break;
    case LP_RNN_GRU: {
        /* z = f(Wz x + Rz h + b), r = f(Wr x + Rr h + b) */
        for (int64_t j = 0; j < 2 * H; j++)
            g[j] = act(f, clipped(a, dot(d->w, j, I, x) + dot(d->r, j, H, h) + bias(d, j)));
        const float *z = g, *r = g + H;
        float *hh = g + 2 * H;
        if (a->linear_before_reset) {
            /* hh = g(Wh x + Wbh + r (.) (Rh h + Rbh)) */
            for (int64_t j = 0; j < H; j++) {
                float rh = dot(d->r, 2 * H + j, H, h) + (d->rb ? d->rb[2 * H + j] : 0.0f);
                float wx = dot(d->w, 2 * H + j, I, x) + (d->wb ? d->wb[2 * H + j] : 0.0f);
                hh[j] = act(gf, clipped(a, wx + r[j] * rh));
            }
        } else {
            /* hh = g(Wh x + Rh (r (.) h) + Rbh + Wbh) */
            for (int64_t k = 0; k < H; k++)
                wk->tmp[k] = r[k] * h[k];
            for (int64_t j = 0; j < H; j++)
                hh[j] = act(gf, clipped(a, dot(d->w, 2 * H + j, I, x) + dot(d->r, 2 * H + j, H, wk->tmp) +
                                               bias(d, 2 * H + j)));
        }
        /* Ht = (1 - z) (.) hh + z (.) h */
        for (int64_t j = 0; j < H; j++)
            h[j] = (1.0f - z[j]) * hh[j] + z[j] * h[j];
        break;
    }
    case LP_RNN_LSTM: {
        /* pre-activations of i, o, f, c (rows 0, H, 2H, 3H) */
        for (int64_t j = 0; j < 4 * H; j++)
            g[j] = dot(d->w, j, I, x) + dot(d->r, j, H, h) + bias(d, j);
        float *gi = g, *go = g + H, *gf_ = g + 2 * H, *gc = g + 3 * H;
        for (int64_t j = 0; j < H; j++) {
            /* i = f(... + Pi (.) C(t-1)),  f = f(... + Pf (.) C(t-1)) or 1 - i */
            float i = act(f, clipped(a, gi[j] + (d->p ? d->p[j] * c[j] : 0.0f)));
            float fg = a->input_forget ? 1.0f - i : act(f, clipped(a, gf_[j] + (d->p ? d->p[2 * H + j] * c[j] : 0.0f)));
            float cc = act(gf, clipped(a, gc[j]));
            /* Ct = f (.) C(t-1) + i (.) c;  o = f(... + Po (.) Ct);  Ht = o (.) h(Ct) */
            c[j] = fg * c[j] + i * cc;
            float o = act(f, clipped(a, go[j] + (d->p ? d->p[H + j] * c[j] : 0.0f)));
            h[j] = o * act(hf, c[j]);
        }
        break;
    }
    }
}

lp_status lp_rnn_dequantize(const lp_node *n, const lp_tensor *q, const lp_tensor *scale, const lp_tensor *zp,
                            float **out)
{
    *out = NULL;
    if (!q || !scale || !zp || q->ndim != 3 || (q->dtype != LP_I8 && q->dtype != LP_U8) || zp->dtype != q->dtype ||
        scale->dtype != LP_F32)
        return lp_node_error(n, LOWP_ERR_FORMAT, "quantized weights must be int8 or uint8 (D, K, 4H) with float "
                                                 "scales and zero points of their type");
    int64_t D = q->dims[0], K = q->dims[1], N = q->dims[2], ns = lp_tensor_numel(scale);
    if ((ns != D && ns != D * N) || lp_tensor_numel(zp) != ns)
        return lp_node_error(n, LOWP_ERR_SHAPE, "weight scales and zero points must have %lld or %lld values, got %lld "
                                                "and %lld", (long long)D, (long long)(D * N), (long long)ns,
                             (long long)lp_tensor_numel(zp));
    float *w = malloc((size_t)(D * K * N > 0 ? D * K * N : 1) * sizeof *w);
    if (!w)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory dequantizing weights");
    const float *sc = scale->data;
    for (int64_t d = 0; d < D; d++)
        for (int64_t j = 0; j < N; j++) {
            int64_t si = ns == D ? d : d * N + j;
            double z = lp_tensor_get(zp, si);
            for (int64_t k = 0; k < K; k++) /* (D, K, N) -> (D, N, K) */
                w[(d * N + j) * K + k] = (float)((lp_tensor_get(q, (d * K + k) * N + j) - z) * sc[si]);
        }
    *out = w;
    return LP_OK;
}

/* A float32 copy of t's data (or t's data itself when float32). *owned: what to free. */
static lp_status as_f32(const lp_node *n, const lp_tensor *t, const float **out, float **owned)
{
    *out = NULL;
    *owned = NULL;
    if (!t)
        return LP_OK;
    if (t->dtype == LP_F32) {
        *out = t->data;
        return LP_OK;
    }
    int64_t cnt = lp_tensor_numel(t);
    float *f = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *f);
    if (!f)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory converting an input to float32");
    for (int64_t i = 0; i < cnt; i++)
        f[i] = (float)lp_tensor_get(t, i);
    *out = *owned = f;
    return LP_OK;
}

/* X, W, R (and B, P, initial states) -> Y, Y_h, Y_c, for every direction and batch row. */
static lp_status rnn_run(const lp_run_ctx *c)
{
    const lp_node *n = c->node;
    lp_rnn_attrs a;
    LP_TRY(lp_rnn_attrs_of(n, &a));
    const lp_tensor *in[8] = { 0 };
    lp_shape shp[8];
    const lp_shape *sp[8] = { 0 };
    for (int i = 0; i < c->n_in && i < 8; i++)
        if ((in[i] = c->in[i])) {
            lp_shape_of(in[i], &shp[i]);
            if (a.quantized && (i == LP_RNN_W || i == LP_RNN_R)) { /* (D, K, 4H) stands for (D, 4H, K) */
                shp[i].d[1] = in[i]->dims[2];
                shp[i].d[2] = in[i]->dims[1];
            }
            sp[i] = &shp[i];
        }
    for (int i = 0; i < 3; i++)
        if (!in[i])
            return lp_node_error(n, LOWP_ERR_FORMAT, "required input %s is missing", i == 0 ? "X" : i == 1 ? "W" : "R");
    lp_dtype dt = in[LP_RNN_X]->dtype;
    if (a.quantized && (c->n_in < 12 || !c->in[LP_RNN_W_SCALE] || !c->in[LP_RNN_W_ZP] || !c->in[LP_RNN_R_SCALE] ||
                        !c->in[LP_RNN_R_ZP]))
        return lp_node_error(n, LOWP_ERR_FORMAT, "W_scale, W_zero_point, R_scale and R_zero_point are required");
    for (int i = 0; i < 8; i++)
        if (in[i] && i != LP_RNN_SEQ && !(a.quantized && (i == LP_RNN_W || i == LP_RNN_R)) && in[i]->dtype != dt)
            return lp_node_error(n, LOWP_ERR_SHAPE, "input %d is not of X's type", i);
    if (!lp_dtype_traits_of(dt)->is_float)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "X is %s, expected a float type", lp_dtype_traits_of(dt)->name);
    if (in[LP_RNN_SEQ] && in[LP_RNN_SEQ]->dtype != LOWP_INT32)
        return lp_node_error(n, LOWP_ERR_FORMAT, "sequence_lens must be int32");
    lp_rnn_dims dm;
    LP_TRY(rnn_shapes(n, &a, sp, &dm));
    int64_t T = dm.T, B = dm.B, I = dm.I, H = dm.H, D = a.dirs, G = a.gates;
    if (in[LP_RNN_SEQ])
        for (int64_t b = 0; b < B; b++) {
            int32_t L = ((const int32_t *)in[LP_RNN_SEQ]->data)[b];
            if (L < 0 || L > T)
                return lp_node_error(n, LOWP_ERR_SHAPE, "sequence_lens[%lld] = %d is outside [0, %lld]", (long long)b,
                                     (int)L, (long long)T);
        }
    for (int o = 0; o < c->n_out; o++)
        if (c->out[o] && c->out[o]->dtype != dt)
            return lp_node_error(n, LOWP_ERR_SHAPE, "output %d is not of X's type", o);

    lp_status st = LP_OK;
    const float *f[8] = { 0 };
    float *owned[8] = { 0 };
    float *y = NULL, *yh = NULL, *yc = NULL, *work = NULL;
    for (int i = 0; i < 8 && st == LP_OK; i++)
        if (a.quantized && (i == LP_RNN_W || i == LP_RNN_R)) {
            int s0 = i == LP_RNN_W ? LP_RNN_W_SCALE : LP_RNN_R_SCALE;
            st = lp_rnn_dequantize(n, in[i], c->in[s0], c->in[s0 + 1], &owned[i]);
            f[i] = owned[i];
        } else if (i != LP_RNN_SEQ) {
            st = as_f32(n, in[i], &f[i], &owned[i]);
        }
    /* results in float32: Y (T*D*B*H), Y_h and Y_c (D*B*H) each; work: h, c, gates, tmp */
    size_t ny = (size_t)(T * D * B * H), ns = (size_t)(D * B * H), nw = (size_t)(2 * H + G * H + H);
    if (st == LP_OK && (!(y = calloc(ny ? ny : 1, sizeof *y)) || !(yh = calloc(ns ? ns : 1, sizeof *yh)) ||
                        !(yc = calloc(ns ? ns : 1, sizeof *yc)) || !(work = calloc(nw ? nw : 1, sizeof *work))))
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for the recurrent state");
    if (st != LP_OK)
        goto done;

    const int32_t *seq = in[LP_RNN_SEQ] ? in[LP_RNN_SEQ]->data : NULL;
    float *h = work, *cs = work + H;
    rnn_work wk = { .g = work + 2 * H, .tmp = work + 2 * H + G * H };
    for (int64_t d = 0; d < D; d++) {
        rnn_dir dir = {
            .w = f[LP_RNN_W] + d * G * H * I,
            .r = f[LP_RNN_R] + d * G * H * H,
            .wb = f[LP_RNN_B] ? f[LP_RNN_B] + d * 2 * G * H : NULL,
            .rb = f[LP_RNN_B] ? f[LP_RNN_B] + d * 2 * G * H + G * H : NULL,
            .p = a.kind == LP_RNN_LSTM && f[LP_RNN_P] ? f[LP_RNN_P] + d * 3 * H : NULL,
            .fn = a.fn[d],
        };
        bool backward = a.reverse || d == 1;
        for (int64_t b = 0; b < B; b++) {
            /* state rows: (D, B, H), or (B, D, H) in layout 1 */
            int64_t srow = (a.layout1 ? b * D + d : d * B + b) * H;
            for (int64_t j = 0; j < H; j++) {
                h[j] = f[LP_RNN_H0] ? f[LP_RNN_H0][srow + j] : 0.0f;
                cs[j] = f[LP_RNN_C0] ? f[LP_RNN_C0][srow + j] : 0.0f;
            }
            int64_t L = seq ? seq[b] : T;
            for (int64_t s = 0; s < L; s++) {
                int64_t t = backward ? L - 1 - s : s;
                /* X row: (T, B, I), or (B, T, I);  Y row: (T, D, B, H), or (B, T, D, H) */
                const float *x = f[LP_RNN_X] + (a.layout1 ? b * T + t : t * B + b) * I;
                cell(&a, &dir, &dm, x, h, cs, &wk);
                memcpy(y + (a.layout1 ? (b * T + t) * D + d : (t * D + d) * B + b) * H, h, (size_t)H * sizeof *h);
            }
            /* Y_h / Y_c: the state after the last step processed (zeros for an empty sequence,
             * as ONNX Runtime does); Y stays zero past a row's length */
            if (L > 0) {
                memcpy(yh + srow, h, (size_t)H * sizeof *h);
                memcpy(yc + srow, cs, (size_t)H * sizeof *cs);
            }
        }
    }
    const float *res[3] = { y, yh, yc };
    for (int o = 0; o < c->n_out && o < 3; o++) {
        lp_tensor *t = c->out[o];
        if (!t)
            continue;
        if (dt == LP_F32) {
            memcpy(t->data, res[o], (size_t)lp_tensor_numel(t) * sizeof(float));
            continue;
        }
        const lp_dtype_traits *tr = lp_dtype_traits_of(dt);
        for (int64_t i = 0; i < lp_tensor_numel(t); i++)
            tr->set(t->data, i, res[o][i]);
    }
done:
    for (int i = 0; i < 8; i++)
        free(owned[i]);
    free(y);
    free(yh);
    free(yc);
    free(work);
    return st;
}

const lp_op_def lp_opdef_RNN = {
    .name = "RNN", .min_in = 3, .max_in = 6, .min_out = 0, .max_out = 2,
    .infer = rnn_infer, .run = rnn_run,
};

const lp_op_def lp_opdef_GRU = {
    .name = "GRU", .min_in = 3, .max_in = 6, .min_out = 0, .max_out = 2,
    .infer = rnn_infer, .run = rnn_run,
};

const lp_op_def lp_opdef_LSTM = {
    .name = "LSTM", .min_in = 3, .max_in = 8, .min_out = 0, .max_out = 3,
    .infer = rnn_infer, .run = rnn_run,
};

const lp_op_def lp_opdef_DynamicQuantizeLSTM = {
    .name = "DynamicQuantizeLSTM", .domain = "com.microsoft", .min_in = 12, .max_in = 12, .min_out = 0, .max_out = 3,
    .optional_in = 0xF8u, /* B, sequence_lens, initial_h, initial_c, P */
    .infer = rnn_infer, .run = rnn_run,
};
