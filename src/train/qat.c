/* qat.c — the training graph of a QDQ model and the QDQ export of a trained one (qat.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/infer.h"
#include "onnx/model.h"
#include "quant/build.h"
#include "quant/quantize.h"
#include "train/qat.h"
#include "train/train.h"

static bool is_op(const lp_node *n, const char *op) { return !n->dead && !strcmp(n->op_type, op) && !n->domain[0]; }

static const lp_tensor *const_of(const lp_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == LP_VALUE_CONST ? g->values[v].init : NULL;
}

/* x = (q - z) s along the DequantizeLinear's axis, as a new float tensor. */
static lp_status dequantize(const lp_graph *g, int ni, lp_tensor **out)
{
    lp_tensor *outs[1] = { NULL };
    LP_TRY(lp_node_eval(g, ni, outs));
    *out = outs[0];
    return LP_OK;
}

/* The name a quantized constant came from: `qname` up to its last "_quantized" (the
 * quantizer names X's integers X_quantized, maybe with a suffix that made it unique). */
static void base_name(const char *qname, char *out, size_t cap)
{
    snprintf(out, cap, "%s", qname);
    char *last = NULL;
    for (char *p = strstr(out, "_quantized"); p; p = strstr(p + 1, "_quantized"))
        last = p;
    if (last && last != out)
        *last = 0;
}

/* The FP32 graph's float constant named `base`, when it has the shape of `like`. */
static lp_tensor *fp32_twin(const lp_graph *fp32, const char *base, const lp_tensor *like)
{
    int v = fp32 ? lp_graph_find_value(fp32, base) : -1;
    const lp_tensor *t = const_of(fp32, v);
    if (!t || t->dtype != LP_F32 || t->ndim != like->ndim ||
        memcmp(t->dims, like->dims, (size_t)t->ndim * sizeof *t->dims) != 0)
        return NULL;
    lp_tensor *c = NULL;
    return lp_tensor_clone(t, &c) == LP_OK ? c : NULL;
}

/* Points every reader of value `from` at `to`. */
static void rewire(lp_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == from)
                n->in[k] = to;
    }
}

/* Narrower weights in int8 containers: scales max|w| / (2^(bits-1) - 1) per channel (or per
 * tensor, as the recipe had it) and a Clip to [-(2^(bits-1) - 1), 2^(bits-1) - 1] between the
 * weight's QuantizeLinear and its DequantizeLinear (exported folded into the int8 constant). */
static lp_status narrow_weight(lp_graph *g, int dq, int qnode, int qout, const lp_tensor *w, int bits, int *clip_out)
{
    lp_node *n = &g->nodes[dq];
    const lp_tensor *s0 = const_of(g, n->in[1]);
    if (!s0 || s0->dtype != LP_F32)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "QAT: the weight scale is not a float constant");
    int64_t k = lp_tensor_numel(s0), inner = 1, count = 1;
    if (k > 1) {
        int axis;
        LP_TRY(lp_op_axis(n, lp_attr_int(n, "axis", 1), w->ndim, &axis));
        count = w->dims[axis];
        inner = lp_numel(w->ndim - axis - 1, w->dims + axis + 1);
        if (count != k)
            return lp_node_error(n, LOWP_ERR_SHAPE, "QAT: %lld scales for %lld channels", (long long)k, (long long)count);
    }
    lp_tensor *s = NULL;
    LP_TRY(lp_tensor_clone(s0, &s));
    float *sd = s->data;
    const float *wd = w->data;
    int qmax = (1 << (bits - 1)) - 1;
    for (int64_t c = 0; c < k; c++)
        sd[c] = 0;
    for (int64_t i = 0; i < lp_tensor_numel(w); i++) {
        int64_t c = k > 1 ? (i / inner) % count : 0;
        float a = wd[i] < 0 ? -wd[i] : wd[i];
        sd[c] = a > sd[c] ? a : sd[c];
    }
    for (int64_t c = 0; c < k; c++)
        sd[c] = sd[c] > 0 ? sd[c] / (float)qmax : 1.0f;
    char name[512];
    int sv, lo, hi, cv, ci;
    snprintf(name, sizeof name, "%s_scale%dbit", g->values[n->in[0]].name, bits);
    LP_TRY(lp_qb_const(g, name, s, &sv));
    g->nodes[dq].in[1] = sv;
    g->nodes[qnode].in[1] = sv;
    LP_TRY(lp_qb_scalar(g, "qat_clip_lo", LP_I8, -qmax, &lo));
    LP_TRY(lp_qb_scalar(g, "qat_clip_hi", LP_I8, qmax, &hi));
    snprintf(name, sizeof name, "%s_clipped", g->values[qout].name);
    LP_TRY(lp_qb_value(g, name, &cv));
    int in[3] = { qout, lo, hi };
    snprintf(name, sizeof name, "%s_Clip%dbit", g->nodes[dq].name, bits);
    LP_TRY(lp_qb_node(g, "Clip", name, 3, in, 1, &cv, &ci));
    *clip_out = cv;
    return LP_OK;
}

lp_status lp_qat_prepare(const lp_graph *qdq, const lp_graph *fp32, int weight_bits, lp_graph **out)
{
    if (weight_bits < 2 || weight_bits > 8)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "QAT: weight bits must be 2 to 8 (got %d)", weight_bits);
    lp_graph *g = NULL;
    LP_TRY(lp_graph_clone(qdq, &g));
    lp_status st = LP_OK;
    int n_nodes = g->n_nodes;
    for (int ni = 0; ni < n_nodes && st == LP_OK; ni++) {
        if (!is_op(&g->nodes[ni], "DequantizeLinear"))
            continue;
        int qv = g->nodes[ni].in[0];
        const lp_tensor *q = const_of(g, qv);
        if (!q || (q->dtype != LP_I8 && q->dtype != LP_U8 && q->dtype != LP_I32))
            continue;
        char name[512], base[480];
        base_name(g->values[qv].name, base, sizeof base);
        lp_tensor *w = fp32_twin(fp32, base, q);
        if (!w && (st = dequantize(g, ni, &w)) != LP_OK)
            break;
        snprintf(name, sizeof name, "%s", base);
        int wv, out_v;
        if ((st = lp_qb_const(g, name, w, &wv)) != LP_OK)
            break;
        if (q->dtype == LP_I32) { /* a bias: trained in float, requantized on export */
            out_v = g->nodes[ni].out[0];
            g->nodes[ni].dead = true;
            rewire(g, out_v, wv);
            continue;
        }
        /* a weight: w -> QuantizeLinear(scale, zero point of the DQ) -> DQ */
        snprintf(name, sizeof name, "%s_fakequant", g->values[qv].name);
        if ((st = lp_qb_value(g, name, &out_v)) != LP_OK)
            break;
        int in[3] = { wv, g->nodes[ni].in[1], g->nodes[ni].n_in > 2 ? g->nodes[ni].in[2] : -1 }, qi;
        snprintf(name, sizeof name, "%s_QuantizeLinear", g->nodes[ni].name);
        if ((st = lp_qb_node(g, "QuantizeLinear", name, in[2] >= 0 ? 3 : 2, in, 1, &out_v, &qi)) != LP_OK)
            break;
        const lp_attr *ax = lp_node_attr(&g->nodes[ni], "axis");
        if (ax)
            st = lp_qb_attr_int(g, qi, "axis", ax->i);
        if (st == LP_OK && weight_bits < 8 && q->dtype == LP_I8)
            st = narrow_weight(g, ni, qi, out_v, g->values[wv].init, weight_bits, &out_v);
        g->nodes[ni].in[0] = out_v;
    }
    return lp_graph_finish(g, st, out);
}

lp_status lp_qat_learn_zero_points(lp_graph *g, int *n_out)
{
    int n_nodes = g->n_nodes, count = 0;
    lp_status st = LP_OK;
    for (int ni = 0; ni < n_nodes && st == LP_OK; ni++) {
        const lp_node *n = &g->nodes[ni];
        if (!is_op(n, "QuantizeLinear") || n->n_in < 3 || const_of(g, n->in[0]))
            continue;
        int sv = n->in[1], zv = n->in[2], qout = n->out[0];
        const lp_tensor *s = const_of(g, sv), *z = const_of(g, zv);
        if (!s || s->dtype != LP_F32 || lp_tensor_numel(s) != 1 || !z || lp_tensor_numel(z) != 1 ||
            (z->dtype != LP_I8 && z->dtype != LP_U8))
            continue;
        /* b = z s: round(b / s) is z again, so the first forward is the PTQ model's */
        lp_tensor *b = NULL;
        if ((st = lp_tensor_new(LP_F32, z->ndim, z->dims, &b)) != LP_OK)
            break;
        ((float *)b->data)[0] = (float)lp_tensor_get_int(z, 0) * ((const float *)s->data)[0];
        char name[512];
        int bv, zero, zq;
        snprintf(name, sizeof name, "%s_offset", g->values[zv].name);
        if ((st = lp_qb_const(g, name, b, &bv)) != LP_OK ||
            (st = lp_qb_scalar(g, "qat_offset_zero_point", z->dtype, 0, &zero)) != LP_OK)
            break;
        snprintf(name, sizeof name, "%s_learned", g->values[zv].name);
        if ((st = lp_qb_value(g, name, &zq)) != LP_OK)
            break;
        int in[3] = { bv, sv, zero };
        snprintf(name, sizeof name, "%s_zero_point", g->nodes[ni].name);
        if ((st = lp_qb_node(g, "QuantizeLinear", name, 3, in, 1, &zq, NULL)) != LP_OK)
            break;
        g->nodes[ni].in[2] = zq;
        for (int k = 0; k < g->n_nodes; k++) { /* the pair's DequantizeLinears */
            lp_node *m = &g->nodes[k];
            if (is_op(m, "DequantizeLinear") && m->n_in > 2 && m->in[0] == qout && m->in[1] == sv && m->in[2] == zv)
                m->in[2] = zq;
        }
        count++;
    }
    if (st == LP_OK)
        st = lp_graph_compact(g);
    if (st == LP_OK)
        st = lp_graph_toposort(g);
    if (n_out)
        *n_out = count;
    return st;
}

/* The scale constant behind value v when a DequantizeLinear produces it, else NULL. */
static const lp_tensor *dq_scale(const lp_graph *g, int v)
{
    int p = v >= 0 ? g->values[v].producer : -1;
    if (p < 0 || !is_op(&g->nodes[p], "DequantizeLinear"))
        return NULL;
    const lp_tensor *s = const_of(g, g->nodes[p].in[1]);
    return s && s->dtype == LP_F32 ? s : NULL;
}

/* b (float, (M)) between a quantized input (scale s_x, one value) and weight (s_w: 1 or M
 * values) -> int32 b / (s_x s_w) with a DequantizeLinear. */
static lp_status bias_export(lp_graph *g, int ni)
{
    lp_node *n = &g->nodes[ni];
    if (n->n_in < 3 || (!is_op(n, "Conv") && !is_op(n, "Gemm")))
        return LP_OK;
    int bv = n->in[2];
    const lp_tensor *b = const_of(g, bv), *sx = dq_scale(g, n->in[0]), *sw = dq_scale(g, n->in[1]);
    if (!b || b->dtype != LP_F32 || b->ndim != 1 || !sx || !sw || lp_tensor_numel(sx) != 1)
        return LP_OK;
    int64_t m = lp_tensor_numel(b), nw = lp_tensor_numel(sw);
    if (nw != 1 && nw != m)
        return LP_OK;
    bool per_ch = nw > 1;
    lp_tensor *qt = NULL, *st_t = NULL, *zt = NULL;
    int64_t cd[1] = { m };
    lp_status st = lp_tensor_new(LP_I32, 1, b->dims, &qt);
    if (st == LP_OK)
        st = lp_tensor_new(LP_F32, per_ch ? 1 : 0, cd, &st_t);
    if (st == LP_OK)
        st = lp_tensor_new(LP_I32, per_ch ? 1 : 0, cd, &zt);
    if (st != LP_OK) {
        lp_tensor_free(qt);
        lp_tensor_free(st_t);
        lp_tensor_free(zt);
        return st;
    }
    float sxv = ((const float *)sx->data)[0];
    for (int64_t c = 0; c < m; c++) {
        float s = sxv * ((const float *)sw->data)[per_ch ? c : 0];
        if (per_ch || c == 0)
            ((float *)st_t->data)[per_ch ? c : 0] = s;
        double v = s > 0 ? nearbyint((double)((const float *)b->data)[c] / s) : 0;
        ((int32_t *)qt->data)[c] = v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : (int32_t)v;
    }
    char name[512], base[400];
    snprintf(base, sizeof base, "%s", g->values[bv].name);
    int v[3], dq;
    const char *suffix[3] = { "quantized", "scale", "zero_point" };
    lp_tensor *t[3] = { qt, st_t, zt };
    for (int k = 0; k < 3; k++) {
        if (st == LP_OK) {
            snprintf(name, sizeof name, "%s_%s", base, suffix[k]);
            st = lp_qb_const(g, name, t[k], &v[k]);
        } else
            lp_tensor_free(t[k]);
    }
    if (st == LP_OK) {
        snprintf(name, sizeof name, "%s_dequantized", base);
        st = lp_qb_value(g, name, &dq);
    }
    int idx;
    if (st == LP_OK) {
        snprintf(name, sizeof name, "%s_bias_DequantizeLinear", g->nodes[ni].name);
        st = lp_qb_node(g, "DequantizeLinear", name, 3, v, 1, &dq, &idx);
    }
    if (st == LP_OK && per_ch)
        st = lp_qb_attr_int(g, idx, "axis", 0);
    if (st == LP_OK)
        g->nodes[ni].in[2] = dq;
    return st;
}

lp_status lp_qat_export(const lp_graph *train, lp_graph **out)
{
    lp_graph *g = NULL;
    LP_TRY(lp_graph_clone(train, &g));
    lp_status st = LP_OK;
    int n_nodes = g->n_nodes;
    for (int ni = 0; ni < n_nodes && st == LP_OK; ni++) {
        lp_node *n = &g->nodes[ni];
        if (!is_op(n, "QuantizeLinear") || !const_of(g, n->in[0]) || g->values[n->in[0]].init->dtype != LP_F32)
            continue;
        for (int k = 1; k < n->n_in; k++)
            if (n->in[k] >= 0 && !const_of(g, n->in[k]))
                goto next; /* a scale computed at run time: not a weight */
        lp_tensor *outs[1] = { NULL };
        if ((st = lp_node_eval(g, ni, outs)) != LP_OK)
            break;
        char name[512];
        snprintf(name, sizeof name, "%s_quantized", g->values[g->nodes[ni].in[0]].name);
        int qv;
        if ((st = lp_qb_const(g, name, outs[0], &qv)) != LP_OK)
            break;
        g->nodes[ni].dead = true;
        rewire(g, g->nodes[ni].out[0], qv);
    next:;
    }
    /* narrowed weights: the Clip after the folded QuantizeLinear folds too */
    for (int ni = 0; ni < n_nodes && st == LP_OK; ni++) {
        lp_node *n = &g->nodes[ni];
        if (!is_op(n, "Clip") || !const_of(g, n->in[0]) || g->values[n->in[0]].init->dtype != LP_I8)
            continue;
        bool all_const = true;
        for (int k = 1; k < n->n_in; k++)
            all_const &= n->in[k] < 0 || const_of(g, n->in[k]) != NULL;
        lp_tensor *outs[1] = { NULL };
        int cv;
        if (!all_const || (st = lp_node_eval(g, ni, outs)) != LP_OK)
            continue;
        char name[512];
        snprintf(name, sizeof name, "%s", g->values[g->nodes[ni].in[0]].name);
        if ((st = lp_qb_const(g, name, outs[0], &cv)) != LP_OK)
            break;
        g->nodes[ni].dead = true;
        rewire(g, g->nodes[ni].out[0], cv);
    }
    for (int ni = 0; ni < n_nodes && st == LP_OK; ni++)
        st = bias_export(g, ni);
    return lp_graph_finish(g, st, out);
}

/* Feeds up to `want` samples of `dl` to a new calibration of `fp32`. */
static lp_status calibrate(const lp_graph *fp32, lowp_dataloader *dl, int64_t want, lowp_calibration **out)
{
    lowp_model m = { .graph = (lp_graph *)fp32 };
    lowp_calibration *cal = NULL;
    LP_TRY(lowp_calibration_create(&m, NULL, &cal));
    const char *names[LOWP_SAMPLE_MAX_TENSORS];
    int n_in = 0;
    for (int i = 0; i < fp32->n_inputs && n_in < LOWP_SAMPLE_MAX_TENSORS; i++)
        if (fp32->values[fp32->inputs[i]].kind != LP_VALUE_CONST)
            names[n_in++] = fp32->values[fp32->inputs[i]].name;
    lowp_sample b = { 0 };
    int64_t have = 0, n = 0;
    lp_status st = LP_OK;
    lowp_dataloader_reset(dl);
    while (have < want && (st = lowp_dataloader_next(dl, &b, &n)) == LP_OK && n > 0) {
        if (b.n_inputs < n_in)
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: %d inputs per sample, the model takes %d",
                          lowp_dataloader_describe(dl), b.n_inputs, n_in);
        else
            st = lowp_calibration_feed(cal, n_in, names, (const lowp_tensor *const *)b.inputs);
        have += n;
        lowp_sample_clear(&b);
        if (st != LP_OK)
            break;
    }
    lowp_sample_clear(&b);
    if (st == LP_OK && have == 0)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: no calibration samples", lowp_dataloader_describe(dl));
    if (st != LP_OK) {
        lowp_calibration_free(cal);
        return st;
    }
    *out = cal;
    return LP_OK;
}

lp_status lp_qat_run(const lp_graph *fp32, const lp_recipe *recipe, lowp_dataloader *calib, int64_t calib_samples,
                     int weight_bits, lowp_dataloader *data, const lp_train_options *o, lp_train_result *result,
                     lp_graph **ptq_out, lp_graph **qat_out)
{
    if (recipe->approach != LP_APPROACH_STATIC_QUANT)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "quantization-aware training starts from a static recipe "
                                                   "(the recipe says post_training_dynamic_quant)");
    lowp_calibration *cal = NULL;
    LP_TRY(calibrate(fp32, calib, calib_samples > 0 ? calib_samples : 100, &cal));
    const lp_graph *opt = cal->session->g; /* the optimized FP32 graph the recipe names refer to */
    lp_graph *qdq = NULL, *train = NULL, *teacher = NULL;
    lp_status st = lp_quantize_graph(opt, cal, recipe, &qdq);
    if (st == LP_OK)
        st = lp_qat_prepare(qdq, opt, weight_bits, &train);
    if (st == LP_OK && o->learn_zero_point)
        st = lp_qat_learn_zero_points(train, NULL);
    if (st == LP_OK && weight_bits < 8) { /* the PTQ model at that width: plain rounding */
        lp_graph *narrow = NULL;
        st = lp_qat_export(train, &narrow);
        lp_graph_free(qdq);
        qdq = narrow;
    }
    lp_train_options to = *o;
    const lp_loss_def *loss = lp_loss_find(o->criterion);
    if (st == LP_OK && loss && loss->needs_teacher && !to.teacher) {
        st = lp_graph_clone(opt, &teacher);
        to.teacher = teacher;
    }
    if (st == LP_OK)
        st = lp_train_run(train, &to, data, NULL, result);
    if (st == LP_OK)
        st = lp_qat_export(train, qat_out);
    if (st == LP_OK && ptq_out) {
        *ptq_out = qdq;
        qdq = NULL;
    }
    lp_graph_free(qdq);
    lp_graph_free(train);
    lp_graph_free(teacher);
    lowp_calibration_free(cal);
    return st;
}
