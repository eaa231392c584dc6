/* dnnl_rnn.c — ONNX RNN, GRU and LSTM on oneDNN's RNN primitives (vanilla_rnn, gru, lbr_gru,
 * lstm with peepholes), FP32. Claims what oneDNN computes as ONNX does: the default activations
 * (RNN: Tanh, Relu, LeakyRelu or Sigmoid, one for both directions), no clip, no input_forget,
 * constant W, R, B and P; sequence_lens absent, or all equal to T at run time -- a call with
 * shorter rows runs the reference kernel (ops/rnn.c), which is also the twin the tests compare
 * against. com.microsoft's DynamicQuantizeLSTM runs as the FP32 LSTM of its dequantized weights.
 * Design and numbers: docs/engine.md, "Recurrent networks". */
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "ops/rnn.h"

/* oneDNN's gate g is ONNX's gate map[g]. LSTM: oneDNN i f c o, ONNX i o f c; GRU: oneDNN
 * u r o, ONNX z r h (the same gates); peepholes: oneDNN i f o, ONNX i o f. */
static const int lstm_gate[4] = { 0, 2, 3, 1 };
static const int same_gate[4] = { 0, 1, 2, 3 };
static const int lstm_peep[3] = { 0, 2, 1 };

typedef struct rnn_state {
    lp_rnn_attrs a;
    lp_rnn_dims dm;
    const lp_op_def *ref;           /* the reference kernel, for rows shorter than T */
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    /* run-time memories (handles set per run) and prepared weights */
    dnnl_memory_t src_layer, src_iter, src_iter_c, dst_layer, dst_iter, dst_iter_c;
    dnnl_memory_t w_layer, w_iter, w_peep, bias, scratch;
    void *w_buf[4];                 /* the reordered weights' storage */
    void *scratch_buf;
    /* temporaries where ONNX's layout is not oneDNN's: Y (T, B, D*H) of a layout-0
     * bidirectional node, or of a node without Y; states (D, B, H) of a layout-1 bidirectional node */
    float *y_tmp, *h_in, *c_in, *h_out, *c_out;
    char impl[96];
} rnn_state;

static lp_status dnnl_fail(const lp_node *n, dnnl_status_t s, const char *what)
{
    return lp_node_error(n, LOWP_ERR_INTERNAL, "oneDNN: %s failed (status %d)", what, (int)s);
}

/* ---------------- what is claimed ---------------- */

static bool const_f32(const lp_graph *g, int v) { return dn_value_f32(g, v) && dn_value_const(g, v); }

static int input(const lp_node *n, int i) { return i < n->n_in ? n->in[i] : -1; }

/* The vanilla RNN's activation in oneDNN's terms; false when oneDNN has none for it. */
static bool vanilla_act(const lp_rnn_attrs *a, dnnl_alg_kind_t *alg, float *alpha)
{
    const lp_rnn_fn *f = &a->fn[0][0];
    if (a->dirs == 2 && (a->fn[1][0].act != f->act || a->fn[1][0].alpha != f->alpha))
        return false;
    *alpha = 0.0f;
    switch (f->act) {
    case LP_ACT_TANH: *alg = dnnl_eltwise_tanh; return true;
    case LP_ACT_SIGMOID: *alg = dnnl_eltwise_logistic; return true;
    case LP_ACT_RELU: *alg = dnnl_eltwise_relu; return true;
    case LP_ACT_LEAKYRELU: *alg = dnnl_eltwise_relu; *alpha = f->alpha; return true;
    default: return false;
    }
}

/* Node n's attributes and sizes when oneDNN can run it (shapes static, float32). */
static bool rnn_claimable(const lp_graph *g, const lp_node *n, lp_rnn_attrs *a, lp_rnn_dims *dm)
{
    if (lp_rnn_attrs_of(n, a) != LP_OK || a->has_clip || a->input_forget)
        return false;
    dnnl_alg_kind_t alg;
    float alpha;
    if (a->kind == LP_RNN_VANILLA ? !vanilla_act(a, &alg, &alpha) : !a->default_fns)
        return false;
    int x = input(n, LP_RNN_X), w = input(n, LP_RNN_W), r = input(n, LP_RNN_R);
    if (!dn_value_f32(g, x) || (a->quantized ? !dn_value_const(g, w) || !dn_value_const(g, r)
                                             : !const_f32(g, w) || !const_f32(g, r)))
        return false;
    for (int i = LP_RNN_B; i < n->n_in; i++) {
        int v = n->in[i];
        if (v < 0)
            continue;
        if (i >= LP_RNN_W_SCALE ? !dn_value_const(g, v) /* DynamicQuantizeLSTM's scales, zero points */
            : i == LP_RNN_SEQ   ? g->values[v].dtype != LOWP_INT32
            : (i == LP_RNN_H0 || i == LP_RNN_C0) ? !dn_value_f32(g, v)
                                                 : !const_f32(g, v))
            return false;
    }
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] >= 0 && !dn_value_f32(g, n->out[o]))
            return false;
    const lp_shape *xs = &g->values[x].shape;
    if (xs->ndim != 3 || g->values[r].shape.ndim != 3)
        return false;
    dm->T = xs->d[a->layout1 ? 1 : 0];
    dm->B = xs->d[a->layout1 ? 0 : 1];
    dm->I = xs->d[2];
    dm->H = g->values[r].shape.d[a->quantized ? 1 : 2];
    int seq = input(n, LP_RNN_SEQ);
    if (seq >= 0 && dn_value_const(g, seq)) /* rows shorter than T: the reference kernel's */
        for (int64_t b = 0; b < lp_tensor_numel(g->values[seq].init); b++)
            if (lp_tensor_get_int(g->values[seq].init, b) != dm->T)
                return false;
    return dm->T > 0 && dm->B > 0 && dm->I > 0 && dm->H > 0;
}

/* ---------------- building ---------------- */

static void md_tag(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tag);
}

/* Weights in oneDNN's plain ldigo order, from ONNX's (D, G*H, K): out[d][k][g][h] =
 * m[d][map[g]*H + h][k]. */
static void pack_ldigo(const float *m, int64_t D, int64_t K, int G, int64_t H, const int *map, float *out)
{
    for (int64_t d = 0; d < D; d++)
        for (int64_t k = 0; k < K; k++)
            for (int g = 0; g < G; g++)
                for (int64_t h = 0; h < H; h++)
                    out[((d * K + k) * G + g) * H + h] = m[(d * G * H + map[g] * H + h) * K + k];
}

/* Plain data described by `from`, reordered once into a memory of `to` (storage in *buf). */
static lp_status reorder_const(rnn_state *s, const lp_node *n, const void *data, const dnnl_memory_desc_t *from,
                               const dnnl_memory_desc_t *to, void **buf, dnnl_memory_t *out)
{
    dnnl_memory_t src = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_status_t e;
    if (!(*buf = calloc(1, dnnl_memory_desc_get_size(to) + 64)))
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for the weights");
    if ((e = dnnl_memory_create(out, to, dn_engine(), *buf)) != dnnl_success ||
        (e = dnnl_memory_create(&src, from, dn_engine(), (void *)data)) != dnnl_success ||
        (e = dnnl_reorder_primitive_desc_create(&pd, from, dn_engine(), to, dn_engine(), NULL)) != dnnl_success ||
        (e = dnnl_primitive_create(&r, pd)) != dnnl_success)
        goto done;
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, src }, { DNNL_ARG_TO, *out } };
    if ((e = dnnl_primitive_execute(r, s->stream, 2, args)) == dnnl_success)
        e = dnnl_stream_wait(s->stream);
done:
    if (r)
        dnnl_primitive_destroy(r);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src)
        dnnl_memory_destroy(src);
    return e == dnnl_success ? LP_OK : dnnl_fail(n, e, "weight reorder");
}

static const dnnl_memory_desc_t *pd_md(dnnl_primitive_desc_t pd, int arg)
{
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

/* The operation descriptor for node n's kind (mds NULL where absent). */
static dnnl_status_t rnn_desc(const lp_rnn_attrs *a, dnnl_rnn_desc_t *rd, const dnnl_memory_desc_t *src_layer,
                              const dnnl_memory_desc_t *src_iter, const dnnl_memory_desc_t *src_iter_c,
                              const dnnl_memory_desc_t *w_layer, const dnnl_memory_desc_t *w_iter,
                              const dnnl_memory_desc_t *w_peep, const dnnl_memory_desc_t *bias,
                              const dnnl_memory_desc_t *dst_layer, const dnnl_memory_desc_t *dst_iter,
                              const dnnl_memory_desc_t *dst_iter_c)
{
    dnnl_prop_kind_t pk = dnnl_forward_inference;
    dnnl_rnn_direction_t dir = a->dirs == 2 ? dnnl_bidirectional_concat
                               : a->reverse ? dnnl_unidirectional_right2left
                                            : dnnl_unidirectional_left2right;
    switch (a->kind) {
    case LP_RNN_VANILLA: {
        dnnl_alg_kind_t alg = dnnl_eltwise_tanh;
        float alpha = 0.0f;
        vanilla_act(a, &alg, &alpha);
        return dnnl_vanilla_rnn_forward_desc_init(rd, pk, alg, dir, src_layer, src_iter, w_layer, w_iter, bias,
                                                  dst_layer, dst_iter, 0, alpha, 0.0f);
    }
    case LP_RNN_GRU:
        return (a->linear_before_reset ? dnnl_lbr_gru_forward_desc_init : dnnl_gru_forward_desc_init)(
            rd, pk, dir, src_layer, src_iter, w_layer, w_iter, bias, dst_layer, dst_iter, 0);
    case LP_RNN_LSTM:
        return dnnl_lstm_forward_desc_init_v3(rd, pk, dir, src_layer, src_iter, src_iter_c, w_layer, w_iter, w_peep,
                                              NULL, bias, dst_layer, dst_iter, dst_iter_c, 0);
    }
    return dnnl_unimplemented;
}

static void rnn_release(void *state)
{
    rnn_state *s = state;
    if (!s)
        return;
    dnnl_memory_t mems[] = { s->src_layer, s->src_iter, s->src_iter_c, s->dst_layer, s->dst_iter, s->dst_iter_c,
                             s->w_layer, s->w_iter, s->w_peep, s->bias, s->scratch };
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    if (s->prim)
        dnnl_primitive_destroy(s->prim);
    if (s->stream)
        dnnl_stream_destroy(s->stream);
    for (int i = 0; i < 4; i++)
        free(s->w_buf[i]);
    free(s->scratch_buf);
    free(s->y_tmp);
    free(s->h_in);
    free(s->c_in);
    free(s->h_out);
    free(s->c_out);
    free(s);
}

/* The biases in oneDNN's ldgo order: Wb + Rb per gate; lbr_gru keeps Rbh apart as a 4th. */
static void pack_bias(const lp_rnn_attrs *a, const float *b, int64_t H, const int *map, int nb, float *out)
{
    int G = a->gates;
    for (int64_t d = 0; d < a->dirs; d++) {
        const float *wb = b + d * 2 * G * H, *rb = wb + G * H;
        for (int g = 0; g < nb; g++)
            for (int64_t h = 0; h < H; h++) {
                float v;
                if (g == G) /* lbr_gru's extra bias: Rbh */
                    v = rb[2 * H + h];
                else if (a->linear_before_reset && g == 2)
                    v = wb[2 * H + h];
                else
                    v = wb[map[g] * H + h] + rb[map[g] * H + h];
                out[(d * nb + g) * H + h] = v;
            }
    }
}

static lp_status rnn_build(rnn_state *s, const lp_graph *g, const lp_node *n)
{
    const lp_rnn_attrs *a = &s->a;
    int64_t T = s->dm.T, B = s->dm.B, I = s->dm.I, H = s->dm.H, D = a->dirs;
    int G = a->gates, nb = G + (a->kind == LP_RNN_GRU && a->linear_before_reset);
    const int *map = a->kind == LP_RNN_LSTM ? lstm_gate : same_gate;
    bool lstm = a->kind == LP_RNN_LSTM;
    /* X (T, B, I) or (B, T, I); Y as (T, B, D*H) or (B, T, D*H); states (1, D, B, H) */
    int64_t xd[3] = { T, B, I }, yd[3] = { T, B, D * H }, sd[4] = { 1, D, B, H };
    int64_t wld[5] = { 1, D, I, G, H }, wid[5] = { 1, D, H, G, H }, pd3[4] = { 1, D, 3, H }, bd[4] = { 1, D, nb, H };
    dnnl_format_tag_t seq_tag = a->layout1 ? dnnl_ntc : dnnl_tnc;
    dnnl_memory_desc_t m_src, m_dst, m_state, m_wl, m_wi, m_wp, m_b, m_wl_any, m_wi_any;
    md_tag(&m_src, 3, xd, seq_tag);
    md_tag(&m_dst, 3, yd, seq_tag);
    md_tag(&m_state, 4, sd, dnnl_ldnc);
    md_tag(&m_wl, 5, wld, dnnl_ldigo);
    md_tag(&m_wi, 5, wid, dnnl_ldigo);
    md_tag(&m_wp, 4, pd3, dnnl_ldgo);
    md_tag(&m_b, 4, bd, dnnl_ldgo);
    md_tag(&m_wl_any, 5, wld, dnnl_format_tag_any);
    md_tag(&m_wi_any, 5, wid, dnnl_format_tag_any);
    int p = input(n, LP_RNN_P);
    bool peep = lstm && p >= 0;
    bool has_y = n->n_out > LP_RNN_Y && n->out[LP_RNN_Y] >= 0;

    dnnl_rnn_desc_t rd;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t e = rnn_desc(a, &rd, &m_src, &m_state, lstm ? &m_state : NULL, &m_wl_any, &m_wi_any,
                               peep ? &m_wp : NULL, &m_b, &m_dst, &m_state, lstm ? &m_state : NULL);
    if (e == dnnl_success && (e = dnnl_primitive_attr_create(&attr)) == dnnl_success &&
        (e = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) == dnnl_success)
        e = dnnl_primitive_desc_create(&pd, &rd, attr, dn_engine(), NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (e != dnnl_success)
        return dnnl_fail(n, e, "RNN primitive descriptor");
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(s->impl, sizeof s->impl, "oneDNN %s %s", n->op_type, impl ? impl : "");

    lp_status st = LP_OK;
    float *plain = NULL, *wf = NULL, *rf = NULL;
    const float *w, *r;
    if (a->quantized) { /* DynamicQuantizeLSTM: the float LSTM of its dequantized weights */
        const lp_value *v = g->values;
        if ((st = lp_rnn_dequantize(n, v[n->in[LP_RNN_W]].init, v[n->in[LP_RNN_W_SCALE]].init,
                                    v[n->in[LP_RNN_W_ZP]].init, &wf)) != LP_OK ||
            (st = lp_rnn_dequantize(n, v[n->in[LP_RNN_R]].init, v[n->in[LP_RNN_R_SCALE]].init,
                                    v[n->in[LP_RNN_R_ZP]].init, &rf)) != LP_OK)
            goto done;
        w = wf;
        r = rf;
    } else {
        w = g->values[n->in[LP_RNN_W]].init->data;
        r = g->values[n->in[LP_RNN_R]].init->data;
    }
    int b = input(n, LP_RNN_B);
    size_t n_plain = (size_t)(D * (I > H ? I : H) * G * H + D * nb * H + D * 3 * H);
    if (!(plain = calloc(n_plain, sizeof *plain))) {
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory packing the weights");
        goto done;
    }
    pack_ldigo(w, D, I, G, H, map, plain);
    if ((st = reorder_const(s, n, plain, &m_wl, pd_md(pd, DNNL_ARG_WEIGHTS_LAYER), &s->w_buf[0], &s->w_layer)) != LP_OK)
        goto done;
    pack_ldigo(r, D, H, G, H, map, plain);
    if ((st = reorder_const(s, n, plain, &m_wi, pd_md(pd, DNNL_ARG_WEIGHTS_ITER), &s->w_buf[1], &s->w_iter)) != LP_OK)
        goto done;
    memset(plain, 0, n_plain * sizeof *plain);
    if (b >= 0)
        pack_bias(a, g->values[b].init->data, H, map, nb, plain);
    if ((st = reorder_const(s, n, plain, &m_b, pd_md(pd, DNNL_ARG_BIAS), &s->w_buf[2], &s->bias)) != LP_OK)
        goto done;
    if (peep) {
        const float *pp = g->values[p].init->data;
        for (int64_t d = 0; d < D; d++)
            for (int k = 0; k < 3; k++)
                memcpy(plain + (d * 3 + k) * H, pp + (d * 3 + lstm_peep[k]) * H, (size_t)H * sizeof *plain);
        if ((st = reorder_const(s, n, plain, &m_wp, pd_md(pd, DNNL_ARG_WEIGHTS_PEEPHOLE), &s->w_buf[3],
                                        &s->w_peep)) != LP_OK)
        goto done;
    }

    /* run-time memories: handles are set per run */
    size_t sc = dnnl_memory_desc_get_size(pd_md(pd, DNNL_ARG_SCRATCHPAD));
    size_t ns = (size_t)(D * B * H);
    e = dnnl_success;
    if (!(s->scratch_buf = malloc(sc ? sc : 1)) || !(s->h_in = calloc(ns, sizeof(float))) ||
        !(s->c_in = calloc(ns, sizeof(float))) || !(s->h_out = calloc(ns, sizeof(float))) ||
        !(s->c_out = calloc(ns, sizeof(float))) ||
        ((!has_y || (D == 2 && !a->layout1)) && !(s->y_tmp = malloc((size_t)(T * B * D * H) * sizeof(float))))) {
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for the RNN buffers");
        goto done;
    }
    if ((e = dnnl_memory_create(&s->scratch, pd_md(pd, DNNL_ARG_SCRATCHPAD), dn_engine(), s->scratch_buf)) ||
        (e = dnnl_memory_create(&s->src_layer, &m_src, dn_engine(), DNNL_MEMORY_NONE)) ||
        (e = dnnl_memory_create(&s->dst_layer, &m_dst, dn_engine(), DNNL_MEMORY_NONE)) ||
        (e = dnnl_memory_create(&s->src_iter, &m_state, dn_engine(), DNNL_MEMORY_NONE)) ||
        (e = dnnl_memory_create(&s->dst_iter, &m_state, dn_engine(), DNNL_MEMORY_NONE)) ||
        (lstm && (e = dnnl_memory_create(&s->src_iter_c, &m_state, dn_engine(), DNNL_MEMORY_NONE))) ||
        (lstm && (e = dnnl_memory_create(&s->dst_iter_c, &m_state, dn_engine(), DNNL_MEMORY_NONE))) ||
        (e = dnnl_primitive_create(&s->prim, pd)))
        st = dnnl_fail(n, e, "RNN memory or primitive creation");
done:
    free(plain);
    free(wf);
    free(rf);
    dnnl_primitive_desc_destroy(pd);
    return st;
}

static bool rnn_supports(const lp_graph *g, int ni)
{
    const lp_node *n = &g->nodes[ni];
    if (n->op != LP_OP_RNN && n->op != LP_OP_GRU && n->op != LP_OP_LSTM && n->op != LP_OP_DynamicQuantizeLSTM)
        return false;
    lp_rnn_attrs a;
    lp_rnn_dims dm;
    return dn_engine() && rnn_claimable(g, n, &a, &dm);
}

static lp_status rnn_prepare(const lp_graph *g, int ni, void **state_out)
{
    const lp_node *n = &g->nodes[ni];
    rnn_state *s = calloc(1, sizeof *s);
    if (!s)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = LP_OK;
    if (!rnn_claimable(g, n, &s->a, &s->dm))
        st = lp_node_error(n, LOWP_ERR_INTERNAL, "the oneDNN RNN kernel was chosen for a node it cannot run");
    else if (dnnl_stream_create(&s->stream, dn_engine(), dnnl_stream_default_flags) != dnnl_success)
        st = lp_node_error(n, LOWP_ERR_INTERNAL, "oneDNN: cannot create a stream");
    if (st == LP_OK)
        st = rnn_build(s, g, n);
    if (st != LP_OK) {
        rnn_release(s);
        return st;
    }
    s->ref = lp_op_get(n->op);
    *state_out = s;
    return LP_OK;
}

/* (B, D, H) <-> (D, B, H): the states of a layout-1 node against oneDNN's ldnc. */
static void swap_bd(const float *src, int64_t n0, int64_t n1, int64_t H, float *dst)
{
    for (int64_t i = 0; i < n0; i++)
        for (int64_t j = 0; j < n1; j++)
            memcpy(dst + (j * n0 + i) * H, src + (i * n1 + j) * H, (size_t)H * sizeof *dst);
}

static lp_status rnn_run(void *state, const lp_run_ctx *c)
{
    rnn_state *s = state;
    const lp_rnn_attrs *a = &s->a;
    int64_t T = s->dm.T, B = s->dm.B, H = s->dm.H, D = a->dirs;
    const lp_tensor *seq = c->n_in > LP_RNN_SEQ ? c->in[LP_RNN_SEQ] : NULL;
    if (seq)
        for (int64_t b = 0; b < B; b++)
            if (((const int32_t *)seq->data)[b] != T)
                return s->ref->run(c); /* oneDNN runs every row to T */
    /* states: ONNX (D, B, H) is oneDNN's ldnc; layout 1 (B, D, H) is too when D = 1 */
    bool swap = a->layout1 && D == 2;
    const lp_tensor *h0 = c->n_in > LP_RNN_H0 ? c->in[LP_RNN_H0] : NULL;
    const lp_tensor *c0 = c->n_in > LP_RNN_C0 ? c->in[LP_RNN_C0] : NULL;
    lp_tensor *y = c->n_out > LP_RNN_Y ? c->out[LP_RNN_Y] : NULL;
    lp_tensor *yh = c->n_out > LP_RNN_YH ? c->out[LP_RNN_YH] : NULL;
    lp_tensor *yc = c->n_out > LP_RNN_YC ? c->out[LP_RNN_YC] : NULL;
    void *h_in = s->h_in, *c_in = s->c_in;
    if (h0 && !swap)
        h_in = h0->data;
    else if (h0)
        swap_bd(h0->data, B, D, H, s->h_in);
    if (c0 && !swap)
        c_in = c0->data;
    else if (c0)
        swap_bd(c0->data, B, D, H, s->c_in);
    /* Y: oneDNN writes (T, B, D*H) or (B, T, D*H); ONNX's layout-1 Y (B, T, D, H) is that */
    void *y_out = y && !s->y_tmp ? y->data : s->y_tmp; /* no Y wanted: oneDNN writes y_tmp */
    void *h_out = yh && !swap ? yh->data : s->h_out, *c_out = yc && !swap ? yc->data : s->c_out;

    dnnl_memory_set_data_handle(s->src_layer, c->in[LP_RNN_X]->data);
    dnnl_memory_set_data_handle(s->src_iter, h_in);
    dnnl_memory_set_data_handle(s->dst_layer, y_out);
    dnnl_memory_set_data_handle(s->dst_iter, h_out);
    int nargs = 0;
    dnnl_exec_arg_t args[12];
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_LAYER, s->src_layer };
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_ITER, s->src_iter };
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS_LAYER, s->w_layer };
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS_ITER, s->w_iter };
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, s->bias };
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_DST_LAYER, s->dst_layer };
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_DST_ITER, s->dst_iter };
    args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, s->scratch };
    if (a->kind == LP_RNN_LSTM) {
        dnnl_memory_set_data_handle(s->src_iter_c, c_in);
        dnnl_memory_set_data_handle(s->dst_iter_c, c_out);
        args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_ITER_C, s->src_iter_c };
        args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_DST_ITER_C, s->dst_iter_c };
        if (s->w_peep)
            args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS_PEEPHOLE, s->w_peep };
    }
    dnnl_status_t e = dnnl_primitive_execute(s->prim, s->stream, nargs, args);
    if (e == dnnl_success)
        e = dnnl_stream_wait(s->stream);
    if (e != dnnl_success)
        return dnnl_fail(c->node, e, "RNN execution");
    if (y && s->y_tmp && y_out == s->y_tmp && D == 2 && !a->layout1) {
        /* (T, B, D*H) -> ONNX's (T, D, B, H) */
        const float *src = s->y_tmp;
        float *dst = y->data;
        for (int64_t t = 0; t < T; t++)
            swap_bd(src + t * B * D * H, B, D, H, dst + t * D * B * H);
    }
    if (swap && yh)
        swap_bd(s->h_out, D, B, H, yh->data);
    if (swap && yc)
        swap_bd(s->c_out, D, B, H, yc->data);
    return LP_OK;
}

static const char *rnn_describe(void *state) { return ((rnn_state *)state)->impl; }

const lp_kernel lp_kernel_dnnl_rnn = {
    .name = "dnnl_rnn",
    .supports = rnn_supports,
    .prepare = rnn_prepare,
    .run = rnn_run,
    .release = rnn_release,
    .describe = rnn_describe,
};
