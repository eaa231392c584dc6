/* quantize.c — QDQ insertion: one representation for quantization (DESIGN.md): the quantized
 * model is the ONNX graph with QuantizeLinear/DequantizeLinear pairs. */
#include "quant/quantize.h"

#include "quant/adaround.h"
#include "quant/build.h"
#include "quant/equalize.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/infer.h"
#include "ir/upgrade.h"
#include "ops/requant.h"
#include "onnx/model.h"

/* Multiply-adds per element of a weighted node's input: what the dynamic form's run-time
 * quantization of that input (DynamicQuantizeLinear's min/max and quantizing passes, the
 * integer op's source reorder and zero-point correction, the Cast and scale Mul after) is
 * spread over. Conv: M * k... / (group * strides...) -- each input element reaches M / group
 * output channels at k... / strides... positions (a depthwise Conv: k / stride); Gemm and
 * MatMul: the weight's N columns. Shapes of the activations do not enter. */
double lp_dynamic_macs_per_input(const lp_graph *g, const lp_node *n)
{
    const lp_tensor *w = g->values[n->in[1]].init;
    if (n->op == LP_OP_Gemm)
        return (double)w->dims[lp_attr_int(n, "transB", 0) ? 0 : 1];
    if (n->op == LP_OP_MatMul)
        return (double)w->dims[1];
    double m = (double)w->dims[0] / (double)(lp_attr_int(n, "group", 1) > 0 ? lp_attr_int(n, "group", 1) : 1);
    const lp_attr *st = lp_node_attr(n, "strides");
    for (int k = 2; k < w->ndim; k++) {
        int64_t s = st && st->ints && k - 2 < st->n ? st->ints[k - 2] : 1;
        m *= (double)w->dims[k] / (double)(s > 0 ? s : 1);
    }
    return m;
}

/* The dynamic form pays only from this many multiply-adds per input element on
 * (lp_dynamic_macs_per_input; measured in docs/quantization.md, "What dynamic INT8 leaves
 * float"). LOWP_DYNAMIC_MIN_MACS overrides it (0: every weighted node but depthwise
 * convolutions), for measuring. */
#define DYNAMIC_MIN_MACS 128.0

double lp_dynamic_min_macs(void)
{
    const char *e = getenv("LOWP_DYNAMIC_MIN_MACS");
    return e && *e ? strtod(e, NULL) : DYNAMIC_MIN_MACS;
}

lp_capability lp_quant_capability(const lp_graph *g, int ni)
{
    const lp_node *n = &g->nodes[ni];
    lp_capability c = { 0 };
    if (n->dead || n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0)
        return c;
    const lp_value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
    if (x->kind == LP_VALUE_CONST || (x->dtype && x->dtype != LP_F32))
        return c;
    bool w_const = w->kind == LP_VALUE_CONST && w->init->dtype == LP_F32;
    switch (n->op) {
    case LP_OP_Conv:
        c.int8 = c.weighted = w_const && w->init->ndim >= 3;
        break;
    case LP_OP_Gemm:
        c.int8 = c.weighted = w_const && w->init->ndim == 2 && !lp_attr_int(n, "transA", 0);
        break;
    case LP_OP_MatMul:
        c.weighted = w_const && w->init->ndim == 2;
        c.int8 = c.weighted || (!w_const && (!w->dtype || w->dtype == LP_F32));
        break;
    case LP_OP_LSTM: /* dynamic only (static leaves recurrent ops float): constant W and R,
                        layout 0 -- DynamicQuantizeLSTM has no layout attribute */
        c.dynamic = w_const && w->init->ndim == 3 && n->n_in > 2 && n->in[2] >= 0 &&
                    g->values[n->in[2]].kind == LP_VALUE_CONST && g->values[n->in[2]].init->dtype == LP_F32 &&
                    g->values[n->in[2]].init->ndim == 3 && lp_attr_int(n, "layout", 0) == 0;
        break;
    default:
        break;
    }
    c.bf16 = c.int8;
    /* Dynamic INT8 pays only on ops with enough multiply-adds per input element for the run-time
     * quantization (lp_dynamic_macs_per_input; docs/quantization.md), and never on depthwise
     * convolutions (any channel multiplier: no reduction over channels for INT8 to speed up).
     * Static INT8 keeps both: there the quantized data flows on without those passes. */
    c.dynamic |= c.int8 && c.weighted && !lp_conv_depthwise(g, n, false) &&
                 lp_dynamic_macs_per_input(g, n) >= lp_dynamic_min_macs();
    return c;
}

void lp_qparams(double lo, double hi, bool symmetric, float *scale, int32_t *zp)
{
    lo = fmin(lo, 0.0);
    hi = fmax(hi, 0.0);
    if (symmetric) {
        double a = fmax(-lo, hi);
        *scale = a > 0 ? (float)(a / 127.0) : 1.0f;
        *zp = 0;
        return;
    }
    double s = (hi - lo) / 255.0;
    if (!(s > 0)) {
        *scale = 1.0f;
        *zp = 0;
        return;
    }
    *scale = (float)s;
    *zp = lp_requant((float)(-lo / s), 0, 0, 255);
}

/* ---- building blocks ---- */

typedef struct qdq_cache {
    int value, dq_out;          /* activation value -> its dequantized twin */
    float scale;
    int32_t zp;
    bool is_signed;
} qdq_cache;

typedef struct synth_obs {
    int value;                  /* a tensor the quantizer created (SmoothQuant's scaled input) or
                                   rescaled (equalization) */
    lp_observer *obs;           /* min/max only: ranges for it are minmax */
    lp_channel_stats ch;        /* rescaled per-channel statistics (channels 0: none) */
    double *div;                /* x_c is now the calibrated x_c / div[c] (n_div; NULL: not known) */
    int64_t n_div;
} synth_obs;

typedef struct qctx {
    lp_graph *g;
    const lp_calibration *cal;
    const lp_recipe *recipe;
    qdq_cache *cache;
    int n_cache, cap_cache;
    synth_obs *synth;
    int n_synth;
    int64_t opset;
    bool any_int8;
    int *range_of;              /* per value (n_range): whose calibrated range its pairs take
                                   (scale propagation through MaxPool / Resize; NULL: its own) */
    int n_range;
    lp_qweights *keep;          /* the float weights rounded (main graph only), NULL: none */
    /* "" in the main graph; in a body "_" + the node that owns it: what the quantizer names
     * there must not shadow a name of an enclosing graph (ONNX forbids it), and outer values
     * and weights copied into bodies keep their outer names */
    char scope[160];
} qctx;

/* Statistics of activation v: calibrated, or derived for tensors the quantizer made. */
static const lp_observer *find_obs(const qctx *q, int v)
{
    for (int i = 0; i < q->n_synth; i++)
        if (q->synth[i].value == v)
            return q->synth[i].obs;
    return q->cal ? lp_calibration_find(q->cal, q->g->values[v].name) : NULL;
}

/* Per-channel statistics of activation v, likewise. */
static const lp_channel_stats *find_channels(const qctx *q, int v)
{
    for (int i = 0; i < q->n_synth; i++)
        if (q->synth[i].value == v)
            return q->synth[i].ch.channels ? &q->synth[i].ch : NULL;
    return q->cal ? lp_calibration_channels(q->cal, q->g->values[v].name) : NULL;
}

static lp_status add_qdq_node(lp_graph *g, const char *op, const char *name, int x, int scale, int zp, int out,
                              int axis)
{
    int in[3] = { x, scale, zp }, idx;
    LP_TRY(lp_qb_node(g, op, name, 3, in, 1, &out, &idx));
    return axis >= 0 ? lp_qb_attr_int(g, idx, "axis", axis) : LP_OK;
}

static lp_status act_qdq_params(qctx *q, int v, float scale, int32_t zp, bool sym, int *dq_out);

/* The dequantized twin of activation `v`, creating Q -> DQ after it on first use. */
static lp_status act_qdq(qctx *q, int v, const lp_quant_cfg *cfg, bool force_sym, int *dq_out)
{
    lp_graph *g = q->g;
    int from = v < q->n_range && q->range_of[v] >= 0 ? q->range_of[v] : v;
    const lp_observer *o = find_obs(q, from);
    if (!o && from != v)
        o = find_obs(q, from = v);
    if (!o)
        return lp_error(LOWP_ERR_INTERNAL, "no calibration statistics for tensor '%s'", g->values[v].name);
    bool sym = force_sym || cfg->act_symmetric;
    double lo, hi;
    bool synthetic = o->range == 0 && o->count; /* derived min/max only */
    lp_observer_range(o, synthetic ? LP_CALIB_MINMAX : cfg->algo, sym, cfg->percentile, &lo, &hi);
    float scale;
    int32_t zp;
    lp_qparams(lo, hi, sym, &scale, &zp);
    return act_qdq_params(q, v, scale, zp, sym, dq_out);
}

/* The dequantized twin of activation `v` with the given parameters (found or made). */
static lp_status act_qdq_params(qctx *q, int v, float scale, int32_t zp, bool sym, int *dq_out)
{
    lp_graph *g = q->g;
    char name[512];
    const char *vname = g->values[v].name;
    for (int i = 0; i < q->n_cache; i++) {
        const qdq_cache *c = &q->cache[i];
        if (c->value == v && c->scale == scale && c->zp == zp && c->is_signed == sym) {
            *dq_out = c->dq_out;
            return LP_OK;
        }
    }
    int s, z, qv, dq;
    snprintf(name, sizeof name, "%s%s_scale", vname, q->scope);
    LP_TRY(lp_qb_scalar(g, name, LP_F32, scale, &s));
    snprintf(name, sizeof name, "%s%s_zero_point", vname, q->scope);
    LP_TRY(lp_qb_scalar(g, name, sym ? LP_I8 : LP_U8, zp, &z));
    snprintf(name, sizeof name, "%s%s_quantized", vname, q->scope);
    LP_TRY(lp_graph_new_value(g, name, &qv));
    snprintf(name, sizeof name, "%s%s_dequantized", vname, q->scope);
    LP_TRY(lp_graph_new_value(g, name, &dq));
    vname = g->values[v].name; /* the values array may have moved */
    snprintf(name, sizeof name, "%s%s_QuantizeLinear", vname, q->scope);
    LP_TRY(add_qdq_node(g, "QuantizeLinear", name, v, s, z, qv, -1));
    snprintf(name, sizeof name, "%s%s_DequantizeLinear", vname, q->scope);
    LP_TRY(add_qdq_node(g, "DequantizeLinear", name, qv, s, z, dq, -1));
    if (q->n_cache == q->cap_cache) {
        int cap = q->cap_cache ? 2 * q->cap_cache : 32;
        qdq_cache *c = realloc(q->cache, (size_t)cap * sizeof *c);
        if (!c)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        q->cache = c;
        q->cap_cache = cap;
    }
    q->cache[q->n_cache++] = (qdq_cache){ .value = v, .dq_out = dq, .scale = scale, .zp = zp, .is_signed = sym };
    *dq_out = dq;
    return LP_OK;
}

/* The constants of a quantized tensor (values, scale, zero point: ownership passes, also on
 * failure), named after value `src`, and the DequantizeLinear `dq_name` that restores it. */
static lp_status dq_const(lp_graph *g, const char *scope, int src, const char *dq_name, lp_tensor *qt,
                          lp_tensor *scale, lp_tensor *zp, int axis, int *dq_out)
{
    char name[512];
    const char *suffix[3] = { "quantized", "scale", "zero_point" };
    lp_tensor *t[3] = { qt, scale, zp };
    int v[3], dq;
    lp_status st = LP_OK;
    for (int k = 0; k < 3; k++) {
        if (st == LP_OK) {
            snprintf(name, sizeof name, "%s%s_%s", g->values[src].name, scope, suffix[k]);
            st = lp_qb_const(g, name, t[k], &v[k]);
        } else {
            lp_tensor_free(t[k]);
        }
    }
    if (st == LP_OK) {
        snprintf(name, sizeof name, "%s%s_dequantized", g->values[src].name, scope);
        st = lp_graph_new_value(g, name, &dq);
    }
    if (st == LP_OK)
        st = add_qdq_node(g, "DequantizeLinear", dq_name, v[0], v[1], v[2], dq, axis);
    if (st == LP_OK)
        *dq_out = dq;
    return st;
}

/* Per-channel divisors of tensor v that equalization or SmoothQuant introduced after
 * calibration (x_c is now x_c / div[c]), or NULL. */
static const double *find_div(const qctx *q, int v, int64_t *n)
{
    for (int i = 0; i < q->n_synth; i++)
        if (q->synth[i].value == v) {
            *n = q->synth[i].n_div;
            return q->synth[i].div;
        }
    return NULL;
}

/* The integers and scales of node ni's constant weight w along `axis` (-1: per tensor):
 * symmetric to cfg's weight bits, rounded to nearest, or learned against the calibration's
 * moments of the node's input x (recipe learned_rounding). */
static lp_status quant_weight(qctx *q, int ni, int x, int w, int axis, const lp_quant_cfg *cfg, lp_tensor **qt,
                              float **sc, int64_t *n)
{
    const lp_tensor *wt = q->g->values[w].init;
    int bits = cfg->weight_bits ? cfg->weight_bits : 8;
    const lp_gram *h = q->recipe->learned_rounding && q->cal ? lp_grams_find(q->cal->grams, q->g->nodes[ni].name) : NULL;
    if (!h)
        return lp_quantize_weight_bits(wt, axis, bits, qt, sc, n);
    int64_t n_div = 0;
    const double *div = find_div(q, x, &n_div);
    return lp_adaround_weight(&q->g->nodes[ni], wt, h, div, n_div, axis, (1 << (bits - 1)) - 1, qt, sc, n);
}

/* Constant weight `w` as the int8 tensor qt with scales sc (n_sc; qt is taken over, also on
 * failure) and the DequantizeLinear that restores it; *dq_out its output. */
static lp_status weight_qdq(qctx *q, const char *node, int w, int axis, lp_tensor *qt, const float *sc, int64_t n_sc,
                            int *dq_out)
{
    lp_graph *g = q->g;
    lp_tensor *st_t = NULL, *zt = NULL;
    int64_t cdims[1] = { n_sc };
    lp_status st = lp_tensor_new(LP_F32, axis >= 0 ? 1 : 0, cdims, &st_t);
    if (st == LP_OK)
        st = lp_tensor_new(LP_I8, axis >= 0 ? 1 : 0, cdims, &zt);
    if (st != LP_OK) {
        lp_tensor_free(qt);
        lp_tensor_free(st_t);
        return st;
    }
    memcpy(st_t->data, sc, (size_t)n_sc * sizeof *sc);
    char name[512];
    snprintf(name, sizeof name, "%s_weight_DequantizeLinear", node);
    return dq_const(g, q->scope, w, name, qt, st_t, zt, axis >= 0 && q->opset >= 13 ? axis : -1, dq_out);
}

/* Bias (1-D float const of length n_w or 1) -> int32 with scale s_x * s_w[c]. */
static lp_status bias_qdq(qctx *q, const char *node, int b, float s_x, const float *s_w, int64_t n_w, int *dq_out)
{
    lp_graph *g = q->g;
    const lp_tensor *bt = g->values[b].init;
    int64_t n = lp_tensor_numel(bt);
    if (bt->ndim != 1 || (n_w != 1 && n_w != n))
        return LP_OK; /* leave it float */
    bool per_ch = n_w > 1 && q->opset >= 13;
    if (n_w > 1 && !per_ch)
        return LP_OK;
    lp_tensor *qt = NULL, *st_t = NULL, *zt = NULL;
    int64_t cdims[1] = { n };
    LP_TRY(lp_tensor_new(LP_I32, 1, bt->dims, &qt));
    lp_status st = lp_tensor_new(LP_F32, per_ch ? 1 : 0, cdims, &st_t);
    if (st == LP_OK)
        st = lp_tensor_new(LP_I32, per_ch ? 1 : 0, cdims, &zt);
    if (st != LP_OK) {
        lp_tensor_free(qt);
        lp_tensor_free(st_t);
        return st;
    }
    const float *bd = bt->data;
    int32_t *qd = qt->data;
    float *sd = st_t->data;
    for (int64_t c = 0; c < n; c++) {
        float s = s_x * s_w[n_w > 1 ? c : 0];
        if (per_ch || c == 0)
            sd[per_ch ? c : 0] = s;
        double v = nearbyint((double)bd[c] / s);
        qd[c] = v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : (int32_t)v;
    }
    char name[512];
    snprintf(name, sizeof name, "%s_bias_DequantizeLinear", node);
    return dq_const(g, q->scope, b, name, qt, st_t, zt, per_ch ? 0 : -1, dq_out);
}

/* The scale of an activation's DQ twin (from the cache). */
static float cached_scale(const qctx *q, int dq)
{
    for (int i = 0; i < q->n_cache; i++)
        if (q->cache[i].dq_out == dq)
            return q->cache[i].scale;
    return 0;
}

/* Bias correction: the mean output shift that weight quantization causes, (W_q - W) . E[x],
 * is subtracted from the bias, with E[x] per input channel from calibration. Conv: channel c
 * of group g feeds outputs of that group; Gemm: the reduced feature. Writes a new bias const. */
static lp_status bias_correct(qctx *q, int ni, int x, int w, int axis, const lp_tensor *wq, const float *sc, int64_t nsc)
{
    lp_graph *g = q->g;
    const lp_channel_stats *cs = find_channels(q, x);
    const lp_tensor *wt = g->values[w].init, *bt = g->values[g->nodes[ni].in[2]].init;
    bool conv = g->nodes[ni].op == LP_OP_Conv, trans_b = !conv && lp_attr_int(&g->nodes[ni], "transB", 0);
    int64_t m_out = conv || trans_b ? wt->dims[0] : wt->dims[1];
    int64_t k_in = conv ? wt->dims[1] : trans_b ? wt->dims[1] : wt->dims[0];
    int64_t groups = conv ? lp_attr_int(&g->nodes[ni], "group", 1) : 1;
    if (!cs || lp_tensor_numel(bt) != m_out || groups < 1 || cs->channels != k_in * groups)
        return LP_OK; /* statistics do not line up with the weight: leave the bias */
    lp_tensor *nb = NULL;
    lp_status st = lp_tensor_clone(bt, &nb);
    if (st == LP_OK) {
        int64_t inner = 1; /* kernel elements per (output, input channel) */
        for (int d = 2; conv && d < wt->ndim; d++)
            inner *= wt->dims[d];
        const float *wf = wt->data;
        const int8_t *wi = wq->data;
        float *b = nb->data;
        for (int64_t m = 0; m < m_out; m++) {
            double delta = 0;
            for (int64_t k = 0; k < k_in; k++) {
                int64_t cin = conv ? (m / (m_out / groups)) * k_in + k : k;
                double mean = cs->sum[cin] / (double)cs->count;
                for (int64_t e = 0; e < inner; e++) {
                    int64_t i = conv || trans_b ? (m * k_in + k) * inner + e : k * m_out + m;
                    int64_t ch = axis < 0 ? 0 : m; /* the output channel's scale */
                    delta += ((double)wi[i] * sc[nsc > 1 ? ch : 0] - wf[i]) * mean;
                }
            }
            b[m] = (float)(b[m] - delta);
        }
        char name[512];
        int bv;
        snprintf(name, sizeof name, "%s%s_corrected", g->values[g->nodes[ni].in[2]].name, q->scope);
        st = lp_qb_const(g, name, nb, &bv);
        nb = NULL;
        if (st == LP_OK)
            g->nodes[ni].in[2] = bv;
    }
    lp_tensor_free(nb);
    return st;
}

/* Records derived statistics for tensor v: min/max, per-channel ones when ch is not NULL, and
 * its per-channel divisors div (n_div; may be NULL). ch's arrays and div are taken over, also
 * on failure. */
static lp_status add_synth(qctx *q, int v, double lo, double hi, lp_channel_stats *ch, double *div, int64_t n_div)
{
    synth_obs *so = realloc(q->synth, (size_t)(q->n_synth + 1) * sizeof *so);
    lp_observer *o = malloc(sizeof *o);
    if (so)
        q->synth = so;
    if (!so || !o) {
        free(o);
        free(div);
        if (ch)
            free(ch->min), free(ch->max), free(ch->sum);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    lp_observer_init(o);
    o->min = lo;
    o->max = hi;
    o->count = 1;
    q->synth[q->n_synth++] = (synth_obs){ .value = v, .obs = o, .ch = ch ? *ch : (lp_channel_stats){ 0 },
                                          .div = div, .n_div = div ? n_div : 0 };
    return LP_OK;
}

/* Equalization may rescale tensor v when its per-channel statistics are there, along the
 * channel axis calibration used (1 for rank >= 4, the last otherwise). */
static bool eq_ok(void *user, const lp_graph *g, int v, int rank, int axis, int64_t channels)
{
    (void)g;
    const qctx *q = user;
    const lp_channel_stats *cs = find_channels(q, v);
    return find_obs(q, v) && cs && cs->count > 0 && cs->channels == channels && axis == (rank >= 4 ? 1 : rank - 1);
}

/* Cross-layer equalization (equalize.h) of q->g; the tensors it rescales get statistics
 * derived from their per-channel ones (so their ranges are minmax). */
static lp_status equalize(qctx *q)
{
    lp_equalized e;
    LP_TRY(lp_equalize(q->g, 0, eq_ok, q, &e));
    lp_status st = LP_OK;
    for (int v = 0; v < e.n_values && st == LP_OK; v++) {
        if (!e.div[v])
            continue;
        const lp_channel_stats *cs = find_channels(q, v);
        int64_t n = cs->channels;
        lp_channel_stats ch = { .channels = n, .count = cs->count };
        ch.min = malloc((size_t)n * sizeof *ch.min);
        ch.max = malloc((size_t)n * sizeof *ch.max);
        ch.sum = malloc((size_t)n * sizeof *ch.sum);
        if (!ch.min || !ch.max || !ch.sum) {
            free(ch.min), free(ch.max), free(ch.sum);
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        double lo = INFINITY, hi = -INFINITY, *div = malloc((size_t)n * sizeof *div);
        if (div)
            memcpy(div, e.div[v], (size_t)n * sizeof *div);
        for (int64_t c = 0; c < n; c++) {
            double d = e.div[v][c];
            ch.min[c] = cs->min[c] / d;
            ch.max[c] = cs->max[c] / d;
            ch.sum[c] = cs->sum[c] / d;
            lo = fmin(lo, ch.min[c]);
            hi = fmax(hi, ch.max[c]);
        }
        st = add_synth(q, v, lo, hi, &ch, div, n);
    }
    lp_equalized_free(&e);
    return st;
}

/* SmoothQuant (Xiao et al. 2023): for an activation X read by int8 MatMul/Gemm nodes with
 * constant 2-D weights, s_k = max|X_k|^a / max|W_k|^(1-a) per input feature k; the readers then
 * read X/s (a Mul by a constant) and use s*W, so outliers of X move into the weights, which
 * quantize per channel. X/s has derived min/max ranges (minmax). */
static lp_status smooth(qctx *q, double alpha)
{
    lp_graph *g = q->g;
    int n_orig = g->n_nodes;
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].kind == LP_VALUE_CONST)
            continue;
        const lp_channel_stats *cs = find_channels(q, v);
        if (!cs)
            continue;
        int64_t K = cs->channels;
        int readers[64], nr = 0;
        for (int i = 0; i < n_orig && nr < 64; i++) {
            lp_node *n = &g->nodes[i];
            if (n->dead || n->in[0] != v || (n->op != LP_OP_MatMul && n->op != LP_OP_Gemm))
                continue;
            lp_precision p;
            lp_quant_cfg cfg;
            lp_recipe_get(q->recipe, n->name, &p, &cfg);
            lp_capability cap = lp_quant_capability(g, i);
            const lp_tensor *wt = cap.weighted ? g->values[n->in[1]].init : NULL;
            bool tb = n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0);
            if (p != LP_PREC_INT8 || !cap.int8 || !wt || wt->ndim != 2 || (tb ? wt->dims[1] : wt->dims[0]) != K)
                continue;
            readers[nr++] = i;
        }
        if (!nr)
            continue;
        double *s = calloc((size_t)K, sizeof *s);
        if (!s)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        for (int r = 0; r < nr; r++) { /* max |W| per input feature, over all readers */
            const lp_node *n = &g->nodes[readers[r]];
            const lp_tensor *wt = g->values[n->in[1]].init;
            bool tb = n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0);
            int64_t N = tb ? wt->dims[0] : wt->dims[1];
            const float *w = wt->data;
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < N; j++)
                    s[k] = fmax(s[k], fabs(w[tb ? j * K + k : k * N + j]));
        }
        lp_tensor *inv = NULL;
        int64_t kd[1] = { K };
        lp_status st = lp_tensor_new(LP_F32, 1, kd, &inv);
        if (st != LP_OK) {
            free(s);
            return st;
        }
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t k = 0; k < K; k++) {
            double xa = fmax(fabs(cs->min[k]), fabs(cs->max[k])), wa = s[k];
            double f = xa > 0 && wa > 0 ? pow(xa, alpha) / pow(wa, 1 - alpha) : 1.0;
            f = fmin(fmax(f, 1e-5), 1e5);
            s[k] = f;
            ((float *)inv->data)[k] = (float)(1.0 / f);
            lo = fmin(lo, cs->min[k] / f);
            hi = fmax(hi, cs->max[k] / f);
        }
        char name[512];
        int iv, xs, idx;
        snprintf(name, sizeof name, "%s%s_smooth_scale", g->values[v].name, q->scope);
        st = lp_qb_const(g, name, inv, &iv);
        if (st == LP_OK) {
            snprintf(name, sizeof name, "%s%s_smoothed", g->values[v].name, q->scope);
            st = lp_qb_value(g, name, &xs);
        }
        if (st == LP_OK) {
            int in[2] = { v, iv };
            snprintf(name, sizeof name, "%s%s_SmoothQuant_Mul", g->values[v].name, q->scope);
            st = lp_qb_node(g, "Mul", name, 2, in, 1, &xs, &idx);
        }
        for (int r = 0; r < nr && st == LP_OK; r++) { /* readers take X/s and s*W */
            lp_node *n = &g->nodes[readers[r]];
            lp_tensor *nw = NULL;
            st = lp_tensor_clone(g->values[n->in[1]].init, &nw);
            if (st != LP_OK)
                break;
            bool tb = n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0);
            int64_t N = tb ? nw->dims[0] : nw->dims[1];
            float *w = nw->data;
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < N; j++)
                    w[tb ? j * K + k : k * N + j] = (float)(w[tb ? j * K + k : k * N + j] * s[k]);
            int wv;
            snprintf(name, sizeof name, "%s%s_smoothed", g->values[n->in[1]].name, q->scope);
            st = lp_qb_const(g, name, nw, &wv);
            if (st == LP_OK) {
                g->nodes[readers[r]].in[0] = xs;
                g->nodes[readers[r]].in[1] = wv;
            }
        }
        int64_t n_prior = 0;
        const double *prior = find_div(q, v, &n_prior);
        for (int64_t k = 0; prior && n_prior == K && k < K; k++)
            s[k] *= prior[k]; /* X was equalized before: the divisors compose */
        if (st == LP_OK) /* derived statistics for X/s */
            st = add_synth(q, xs, lo, hi, NULL, s, K);
        else
            free(s);
        LP_TRY(st);
    }
    return LP_OK;
}

void lp_qweights_free(lp_qweights *k)
{
    for (int i = 0; k && i < k->n; i++) {
        free(k->w[i].dq_node);
        lp_tensor_free(k->w[i].w);
    }
    if (k)
        free(k->w), *k = (lp_qweights){ 0 };
}

const lp_qweight *lp_qweights_find(const lp_qweights *k, const char *dq_node)
{
    for (int i = 0; k && i < k->n; i++)
        if (!strcmp(k->w[i].dq_node, dq_node))
            return &k->w[i];
    return NULL;
}

/* Records float weight w of node `node` (its DequantizeLinear is named as weight_qdq names it). */
static lp_status keep_weight(lp_qweights *k, const char *node, const lp_tensor *w, int bits)
{
    if (k->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 16;
        lp_qweight *nw = realloc(k->w, (size_t)cap * sizeof *nw);
        if (!nw)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        k->w = nw;
        k->cap = cap;
    }
    lp_qweight *e = &k->w[k->n];
    *e = (lp_qweight){ .qmax = (1 << (bits - 1)) - 1 };
    size_t len = strlen(node) + sizeof "_weight_DequantizeLinear";
    if (!(e->dq_node = malloc(len)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(e->dq_node, len, "%s_weight_DequantizeLinear", node);
    lp_status st = lp_tensor_clone(w, &e->w);
    if (st != LP_OK) {
        free(e->dq_node);
        return st;
    }
    k->n++;
    return LP_OK;
}

static lp_status quantize_node(qctx *q, int ni, const lp_quant_cfg *cfg)
{
    lp_graph *g = q->g;
    lp_capability cap = lp_quant_capability(g, ni);
    if (!cap.int8)
        return LP_OK;
    char node_name[300];
    snprintf(node_name, sizeof node_name, "%s", g->nodes[ni].name);
    int op = g->nodes[ni].op;
    int x = g->nodes[ni].in[0], w = g->nodes[ni].in[1];
    if (!find_obs(q, x))
        return LP_OK; /* never reached during calibration: leave it FP32 */
    int xdq;
    LP_TRY(act_qdq(q, x, cfg, false, &xdq));
    g->nodes[ni].in[0] = xdq;
    if (!cap.weighted) { /* MatMul of two activations: B as int8 symmetric */
        if (!find_obs(q, w))
            return LP_OK;
        int wdq;
        LP_TRY(act_qdq(q, w, cfg, true, &wdq));
        g->nodes[ni].in[1] = wdq;
        return LP_OK;
    }
    const lp_tensor *wt = g->values[w].init;
    int axis = 0;
    if (op == LP_OP_Gemm)
        axis = lp_attr_int(&g->nodes[ni], "transB", 0) ? 0 : 1;
    else if (op == LP_OP_MatMul)
        axis = 1;
    if (!cfg->per_channel || q->opset < 13 || wt->ndim < 2)
        axis = -1;
    int wdq = -1;
    float *s_w = NULL;
    int64_t n_w = 0;
    lp_tensor *wq = NULL;
    LP_TRY(quant_weight(q, ni, x, w, axis, cfg, &wq, &s_w, &n_w));
    if (q->keep) {
        lp_status st = keep_weight(q->keep, node_name, wt, cfg->weight_bits ? cfg->weight_bits : 8);
        if (st != LP_OK) {
            lp_tensor_free(wq);
            free(s_w);
            return st;
        }
    }
    lp_node *n = &g->nodes[ni];
    bool has_bias = n->n_in > 2 && n->in[2] >= 0 && g->values[n->in[2]].kind == LP_VALUE_CONST &&
                    g->values[n->in[2]].init->dtype == LP_F32;
    has_bias &= op == LP_OP_Conv ||
                (op == LP_OP_Gemm && lp_attr_float(n, "beta", 1.0f) == 1.0f && lp_attr_float(n, "alpha", 1.0f) == 1.0f);
    lp_status st = has_bias && q->recipe->bias_correction ? bias_correct(q, ni, x, w, axis, wq, s_w, n_w) : LP_OK;
    if (st == LP_OK)
        st = weight_qdq(q, node_name, w, axis, wq, s_w, n_w, &wdq);
    else
        lp_tensor_free(wq);
    if (st == LP_OK)
        g->nodes[ni].in[1] = wdq;
    if (st == LP_OK && has_bias) {
        int bdq = -1;
        n = &g->nodes[ni];
        st = bias_qdq(q, node_name, n->in[2], cached_scale(q, xdq), s_w, n_w, &bdq);
        if (st == LP_OK && bdq >= 0)
            g->nodes[ni].in[2] = bdq;
    }
    free(s_w);
    return st;
}

/* Residual Adds read the quantized twin of a tensor that int8 nodes already read through a
 * Q/DQ pair (as ONNX Runtime's and LPOT's quantizers place them): the engine can then fuse
 * Conv + Add + ReLU and keep the block's output 8-bit. Graph outputs stay float. */
static void share_with_adds(qctx *q)
{
    lp_graph *g = q->g;
    for (int c = 0; c < q->n_cache; c++) {
        int v = q->cache[c].value, dq = q->cache[c].dq_out;
        bool first = true;
        for (int k = 0; k < c && first; k++)
            first = q->cache[k].value != v; /* several pairs for one tensor: use the first */
        if (!first || g->values[v].is_output)
            continue;
        for (int i = 0; i < g->n_nodes; i++) {
            lp_node *n = &g->nodes[i];
            if (n->dead || n->op != LP_OP_Add)
                continue;
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] == v)
                    n->in[k] = dq;
        }
    }
}

/* The first pair made for activation v (cache index), or -1. */
static int first_pair(const qctx *q, int v)
{
    for (int c = 0; c < q->n_cache; c++)
        if (q->cache[c].value == v)
            return c;
    return -1;
}

/* A Pad in constant mode whose fill is 0 (absent, or a constant zero): its result's range is
 * its input's (which always holds 0), and the fill is the zero point exactly. */
static bool pad_zero_fill(const lp_graph *g, const lp_node *n)
{
    const char *mode = lp_attr_str(n, "mode", "constant");
    if (strcmp(mode, "constant") != 0)
        return false;
    if (lp_graph_opset(g, "") < 11)
        return lp_attr_float(n, "value", 0.f) == 0.f;
    if (n->n_in < 3 || n->in[2] < 0)
        return true;
    const lp_value *c = &g->values[n->in[2]];
    return c->kind == LP_VALUE_CONST && lp_tensor_numel(c->init) == 1 && lp_tensor_get(c->init, 0) == 0.0;
}

/* Ops whose result holds values of their (first) input, moved or selected -- pooling the
 * maximum, resampling, and pure data movement (views, transposes, slices, zero padding) --
 * so that their result may be stored with their input's quantization parameters. */
static bool moves_values(const lp_graph *g, const lp_node *n)
{
    if (n->dead || *n->domain || n->n_out != 1 || n->n_in < 1)
        return false;
    switch (n->op) {
    case LP_OP_MaxPool: case LP_OP_GlobalMaxPool: case LP_OP_Resize: case LP_OP_Upsample:
    case LP_OP_Reshape: case LP_OP_Flatten: case LP_OP_Squeeze: case LP_OP_Unsqueeze:
    case LP_OP_Transpose: case LP_OP_Slice:
        return true;
    case LP_OP_Pad:
        return pad_zero_fill(g, n);
    default:
        return false;
    }
}

static bool float_act(const lp_graph *g, int v)
{
    return v >= 0 && g->values[v].kind != LP_VALUE_CONST && (!g->values[v].dtype || g->values[v].dtype == LP_F32);
}

/* Scale propagation (LPOT's scale_propagation_max_pooling, ONNX Runtime's QDQ propagation
 * through Reshape/Transpose): the result of an op that moves values (moves_values) is
 * quantized with its input's range, so that the op can pass the integers on unchanged (the
 * maximum, nearest sampling and data movement select values; linear and cubic sampling stay
 * within the input's range, up to cubic's small overshoot, which saturates). */
static lp_status propagate_ranges(qctx *q)
{
    lp_graph *g = q->g;
    q->range_of = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *q->range_of);
    if (!q->range_of)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    q->n_range = g->n_values;
    for (int v = 0; v < g->n_values; v++)
        q->range_of[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) { /* topological order: chains resolve to their first input */
        const lp_node *n = &g->nodes[i];
        if (!moves_values(g, n) || !float_act(g, n->in[0]) || !float_act(g, n->out[0]) || n->out[0] < 0)
            continue;
        int x = n->in[0];
        q->range_of[n->out[0]] = q->range_of[x] >= 0 ? q->range_of[x] : x;
    }
    return LP_OK;
}

/* INT8 that flows (docs/quantization.md): the ops that move or select values -- MaxPool,
 * Resize, Concat and the data movement ops (Reshape, Transpose, Slice, ...) -- read the dequantized twins of their inputs when their result is
 * quantized for an INT8 reader, so the engine passes 8-bit data through them instead of
 * dequantizing and quantizing again. MaxPool and Resize take their input's pair with their
 * result's parameters (equal by propagate_ranges: no requantization); a Concat input takes the pair it already
 * has, else one of its own range: the engine requantizes each input into the result's
 * scale. Walked from the last node back, so a Resize that feeds a Concat sees the Concat's
 * new pair, and a chain Add -> Reshape -> Transpose -> (MatMul) passes the pair back to the
 * Add. A node whose input already has a pair with other parameters stays float (two
 * pairs on one tensor would keep its producer from writing 8 bits). */
static lp_status share_with_moves(qctx *q, int n_orig)
{
    lp_graph *g = q->g;
    for (int i = n_orig - 1; i >= 0; i--) {
        lp_node *n = &g->nodes[i];
        bool concat = !n->dead && !*n->domain && n->op == LP_OP_Concat && n->n_out == 1;
        if ((!concat && !moves_values(g, n)) || n->out[0] < 0 || !float_act(g, n->out[0]))
            continue;
        int c = first_pair(q, n->out[0]);
        if (c < 0)
            continue; /* no INT8 reader quantizes the result */
        lp_precision p;
        lp_quant_cfg cfg;
        lp_recipe_get(q->recipe, n->name, &p, &cfg);
        if (p != LP_PREC_INT8)
            continue;
        if (!concat) {
            int x = n->in[0], cx = first_pair(q, x), dq;
            qdq_cache pc = q->cache[c];
            if (!float_act(g, x) || (cx >= 0 && (q->cache[cx].scale != pc.scale || q->cache[cx].zp != pc.zp ||
                                                 q->cache[cx].is_signed != pc.is_signed)))
                continue;
            LP_TRY(act_qdq_params(q, x, pc.scale, pc.zp, pc.is_signed, &dq));
            g->nodes[i].in[0] = dq;
            continue;
        }
        int dqs[LP_MAX_NODE_IO];
        bool ok = n->n_in <= LP_MAX_NODE_IO;
        for (int k = 0; k < n->n_in && ok; k++)
            ok = float_act(g, n->in[k]) && (first_pair(q, n->in[k]) >= 0 || find_obs(q, n->in[k]));
        for (int k = 0; k < g->nodes[i].n_in && ok; k++) { /* act_qdq adds nodes: n moves */
            int x = g->nodes[i].in[k], cx = first_pair(q, x);
            if (cx >= 0)
                dqs[k] = q->cache[cx].dq_out;
            else
                LP_TRY(act_qdq(q, x, &cfg, false, &dqs[k]));
        }
        for (int k = 0; k < g->nodes[i].n_in && ok; k++)
            g->nodes[i].in[k] = dqs[k];
    }
    return LP_OK;
}

lp_status lp_recipe_mark_bf16(lp_graph *g, const lp_recipe *r)
{
    size_t len = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        lp_precision p;
        lp_quant_cfg cfg;
        lp_recipe_get(r, g->nodes[i].name, &p, &cfg);
        if (p == LP_PREC_BF16 && lp_quant_capability(g, i).bf16)
            len += strlen(g->nodes[i].name) + 1;
    }
    if (!len)
        return LP_OK;
    char *list = calloc(len + 1, 1);
    if (!list)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        lp_precision p;
        lp_quant_cfg cfg;
        lp_recipe_get(r, g->nodes[i].name, &p, &cfg);
        if (p == LP_PREC_BF16 && lp_quant_capability(g, i).bf16) {
            if (*list)
                strcat(list, ",");
            strcat(list, g->nodes[i].name);
        }
    }
    lp_status st = lp_graph_set_meta(g, LP_META_BF16_NODES, list);
    free(list);
    return st;
}

/* Whether the recipe puts a node of g in INT8 that can take it. */
static lp_status find_int8(void *user, lp_graph *g, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    qctx *q = user;
    for (int i = 0; i < g->n_nodes && !q->any_int8; i++) {
        lp_precision p;
        lp_quant_cfg cfg;
        lp_recipe_get(q->recipe, g->nodes[i].name, &p, &cfg);
        q->any_int8 = p == LP_PREC_INT8 && lp_quant_capability(g, i).int8;
    }
    return LP_OK;
}

/* QDQ into graph g (the main graph or a control-flow body: each is a graph of its own, with
 * its own activation pairs; the calibration knows body values by name). */
static lp_status quantize_nodes(const qctx *parent, lp_graph *g, const char *scope)
{
    qctx q = { .g = g, .cal = parent->cal, .recipe = parent->recipe, .opset = parent->opset,
               .keep = *scope ? NULL : parent->keep };
    snprintf(q.scope, sizeof q.scope, "%s", scope);
    lp_status st = LP_OK;
    if (parent->recipe->equalization)
        st = equalize(&q);
    if (st == LP_OK && parent->recipe->smooth_quant_alpha > 0)
        st = smooth(&q, parent->recipe->smooth_quant_alpha);
    int n_orig = g->n_nodes;
    if (st == LP_OK)
        st = propagate_ranges(&q);
    for (int i = 0; i < n_orig && st == LP_OK; i++) {
        lp_precision p;
        lp_quant_cfg cfg;
        lp_recipe_get(q.recipe, g->nodes[i].name, &p, &cfg);
        if (p == LP_PREC_INT8)
            st = quantize_node(&q, i, &cfg);
    }
    if (st == LP_OK)
        share_with_adds(&q);
    if (st == LP_OK)
        st = share_with_moves(&q, n_orig);
    free(q.cache);
    free(q.range_of);
    for (int i = 0; i < q.n_synth; i++) {
        free(q.synth[i].obs);
        free(q.synth[i].ch.min), free(q.synth[i].ch.max), free(q.synth[i].ch.sum);
        free(q.synth[i].div);
    }
    free(q.synth);
    return st;
}

static lp_status quantize_body(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)depth;
    char scope[160];
    snprintf(scope, sizeof scope, "_%.150s", parent->nodes[node].name);
    LP_TRY(quantize_nodes(user, sub, scope));
    LP_TRY(lp_graph_compact(sub));
    return lp_graph_toposort(sub);
}

lp_status lp_quant_upgraded(const lp_graph *src, int64_t need, const char *what, lp_graph **out)
{
    int64_t from = lp_graph_opset(src, "");
    LP_TRY(lp_graph_clone(src, out));
    if (from >= 13)
        return LP_OK;
    lp_status st = lp_graph_upgrade(*out, NULL);
    if (st == LP_OK)
        return LP_OK;
    lp_graph_free(*out); /* partly rewritten */
    *out = NULL;
    if (from >= need && st != LOWP_ERR_OUT_OF_MEMORY)
        return lp_graph_clone(src, out); /* usable as it is, per tensor */
    return lp_error_prefix(st, "the model imports ONNX opset %lld; %s needs opset %lld or newer (13 for per-channel "
                               "weights) and upgrading it to 13 failed", (long long)from, what, (long long)need);
}

lp_status lp_quantize_graph(const lp_graph *src, const lp_calibration *cal, const lp_recipe *r, lp_graph **out)
{
    return lp_quantize_graph_keep(src, cal, r, out, NULL);
}

lp_status lp_quantize_graph_keep(const lp_graph *src, const lp_calibration *cal, const lp_recipe *r, lp_graph **out,
                                 lp_qweights *keep)
{
    qctx q = { .cal = cal, .recipe = r, .opset = lp_graph_opset(src, ""), .keep = keep };
    LP_TRY(lp_graph_walk_subgraphs((lp_graph *)src, find_int8, &q)); /* reads only */
    find_int8(&q, (lp_graph *)src, NULL, 0, 0);
    bool any_int8 = q.any_int8;
    if (any_int8 && !cal)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "INT8 nodes need calibration statistics (no calibration given)");
    if (any_int8)
        LP_TRY(lp_quant_upgraded(src, 10, "INT8 (QuantizeLinear/DequantizeLinear)", &q.g));
    else
        LP_TRY(lp_graph_clone(src, &q.g));
    q.opset = lp_graph_opset(q.g, "");
    lp_status st = any_int8 ? quantize_nodes(&q, q.g, "") : LP_OK;
    if (st == LP_OK && any_int8)
        st = lp_graph_walk_subgraphs(q.g, quantize_body, &q);
    if (st == LP_OK)
        st = lp_recipe_mark_bf16(q.g, r);
    return lp_graph_finish(q.g, st, out); /* compact drops the float weights the int8 ones replaced */
}
