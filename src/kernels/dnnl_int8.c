/* dnnl_int8.c — INT8 execution of QDQ graphs on oneDNN: QuantizeLinear -> DequantizeLinear
 * pairs become 8-bit storage of the value (a quantizing reorder, or the u8/s8 destination of
 * the INT8 operation before them), and Conv / Gemm / MatMul whose input is such a value and
 * whose weights were folded from int8 DequantizeLinear run as u8/s8 x s8 primitives with
 * int32 accumulation, output scales s_x * s_w[c] (/ s_y when requantizing), zero points and
 * fused post-ops. Design: docs/engine.md, "INT8". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "ops/conv_ref.h"

static const lp_shape *shape(const lp_graph *g, int v) { return &g->values[v].shape; }

/* ---- recognising the patterns ---- */

bool dn_qnode_params(const lp_graph *g, int ni, dn_quant *q)
{
    const lp_node *n = &g->nodes[ni];
    if ((n->op != LP_OP_QuantizeLinear && n->op != LP_OP_DequantizeLinear) || *n->domain || n->n_in < 2 ||
        n->n_out < 1 || n->in[0] < 0 || n->in[1] < 0 || n->out[0] < 0)
        return false;
    const lp_value *s = &g->values[n->in[1]];
    if (s->kind != LP_VALUE_CONST || s->init->dtype != LP_F32 || lp_tensor_numel(s->init) != 1)
        return false;
    float scale = *(const float *)s->init->data;
    if (!(scale > 0) || !isfinite(scale))
        return false;
    lp_dtype dt = LP_U8;
    int32_t zp = 0;
    if (n->n_in > 2 && n->in[2] >= 0) {
        const lp_value *z = &g->values[n->in[2]];
        if (z->kind != LP_VALUE_CONST || lp_tensor_numel(z->init) != 1)
            return false;
        dt = z->init->dtype;
        if (dt == LP_U8)
            zp = *(const uint8_t *)z->init->data;
        else if (dt == LP_I8)
            zp = *(const int8_t *)z->init->data;
        else
            return false;
    }
    int qv = n->op == LP_OP_QuantizeLinear ? n->out[0] : n->in[0];
    if (g->values[qv].dtype != dt)
        return false;
    *q = (dn_quant){ .on = true, .dt = dt == LP_U8 ? dnnl_u8 : dnnl_s8, .scale = scale, .zp = zp };
    return true;
}

bool dn_value_dq(const lp_graph *g, int v, dn_quant *q)
{
    if (v < 0 || g->values[v].kind != LP_VALUE_INTERMEDIATE || !dn_value_f32(g, v))
        return false;
    int p = g->values[v].producer;
    return p >= 0 && g->nodes[p].op == LP_OP_DequantizeLinear && g->nodes[p].out[0] == v &&
           g->values[g->nodes[p].in[0]].kind != LP_VALUE_CONST && dn_qnode_params(g, p, q);
}

/* A folded int8 weight, symmetric (zero points 0), per tensor or per index of `axis`. */
static const lp_qconst *int8_weight(const lp_graph *g, const lp_qconst *const *qconst, int v, int axis)
{
    if (v < 0 || !qconst || !qconst[v] || g->values[v].kind != LP_VALUE_CONST)
        return NULL;
    const lp_qconst *qc = qconst[v];
    if (qc->q->dtype != LP_I8)
        return NULL;
    int64_t ns = lp_tensor_numel(qc->scale);
    if (ns != 1 && (qc->axis != axis || ns != qc->q->dims[axis]))
        return NULL;
    if (qc->zp)
        for (int64_t i = 0; i < lp_tensor_numel(qc->zp); i++)
            if (((const int8_t *)qc->zp->data)[i] != 0)
                return NULL;
    return qc;
}

static float qc_scale(const lp_qconst *qc, int64_t c)
{
    const float *s = qc->scale->data;
    return lp_tensor_numel(qc->scale) == 1 ? s[0] : s[c];
}

/* A constant bias of n values (shape (n), or (1, n) for Gemm). */
static bool bias_ok(const lp_graph *g, int v, int64_t n)
{
    if (v < 0)
        return true;
    if (g->values[v].kind != LP_VALUE_CONST || g->values[v].init->dtype != LP_F32)
        return false;
    const lp_tensor *t = g->values[v].init;
    return lp_tensor_numel(t) == n && (t->ndim == 1 || (t->ndim == 2 && t->dims[0] == 1));
}

bool dn_int8_leader(const lp_graph *g, const lp_qconst *const *qconst, int ni)
{
    const lp_node *n = &g->nodes[ni];
    dn_quant qx, qb;
    if (n->dead || n->dynamic || *n->domain || n->n_in < 2 || !dn_value_dq(g, n->in[0], &qx))
        return false;
    const lp_shape *ws = shape(g, n->in[1]);
    switch (n->op) {
    case LP_OP_Conv:
        return ws->ndim >= 3 && int8_weight(g, qconst, n->in[1], 0) &&
               bias_ok(g, n->n_in > 2 ? n->in[2] : -1, ws->d[0]);
    case LP_OP_Gemm: {
        bool tb = lp_attr_int(n, "transB", 0) != 0;
        if (lp_attr_int(n, "transA", 0) || lp_attr_float(n, "alpha", 1.f) != 1.f || ws->ndim != 2)
            return false;
        int64_t N = ws->d[tb ? 0 : 1];
        return int8_weight(g, qconst, n->in[1], tb ? 0 : 1) &&
               (n->n_in < 3 || n->in[2] < 0 || (lp_attr_float(n, "beta", 1.f) == 1.f && bias_ok(g, n->in[2], N)));
    }
    case LP_OP_MatMul:
        if (n->n_in != 2)
            return false;
        if (ws->ndim == 2 && int8_weight(g, qconst, n->in[1], 1))
            return true;
        return dn_value_dq(g, n->in[1], &qb) && qb.dt == dnnl_s8 && qb.zp == 0;
    default:
        return false;
    }
}

/* ---- attributes: scales, zero points, post-ops, requantization ---- */

bool dn_chain_scales(const dn_chain *ch)
{
    for (int i = 0; i < ch->n_post; i++) {
        const dn_post *p = &ch->post[i];
        if (!p->as_sum && !(p->kind == DN_POST_ELTWISE && (p->alg == dnnl_eltwise_relu || p->alg == dnnl_eltwise_clip_v2)))
            return false;
    }
    return true;
}

/* The primitive computes dst = post_ops(oscale[c] * (acc + bias[c])) in the float domain
 * (oneDNN 2.x applies the bias before the scales); a quantized result then needs x / s_y +
 * zp_y: folded into the scales when every post-op commutes with a positive scale (ReLU,
 * Clip with its bounds scaled), else a final linear post-op. */
static lp_status int8_attr(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, int nd, const int64_t *dims,
                           bool priv, float *oscale, int n_scale, int scale_mask, const dn_quant *qx, bool src_zp,
                           dnnl_primitive_attr_t *attr, dnnl_exec_arg_t *args, int *nargs)
{
    dn_chain c2 = *ch;
    const dn_quant *qy = &ch->q_tail;
    if (qy->on) {
        /* A residual summed into the quantized destination is there as its integers (zero
         * point 0): its scale s_r goes into the sum's scale. */
        for (int i = 0; i < c2.n_post; i++) {
            dn_quant qr;
            if (c2.post[i].as_sum) {
                if (!dn_value_dq(pc->g, c2.post[i].value, &qr) || qr.zp != 0)
                    return LOWP_ERR_UNSUPPORTED;
                c2.post[i].sum_scale = qr.scale;
            }
        }
        if (dn_chain_scales(&c2)) {
            for (int i = 0; i < n_scale; i++)
                oscale[i] /= qy->scale;
            for (int i = 0; i < c2.n_post; i++) {
                if (c2.post[i].as_sum)
                    c2.post[i].sum_scale /= qy->scale;
                if (c2.post[i].alg == dnnl_eltwise_clip_v2) {
                    c2.post[i].alpha /= qy->scale;
                    c2.post[i].beta /= qy->scale;
                }
            }
        } else {
            if (c2.n_post == DN_MAX_POST)
                return LOWP_ERR_UNSUPPORTED;
            c2.post[c2.n_post++] = (dn_post){ .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_linear,
                                              .alpha = 1.f / qy->scale, .beta = 0.f };
        }
    }
    LP_TRY(dn_attr(st, pc, &c2, nd, dims, priv, attr, args, nargs));
    bool ok = dnnl_primitive_attr_set_output_scales(*attr, n_scale, scale_mask, oscale) == dnnl_success;
    if (ok && src_zp && qx->zp)
        ok = dnnl_primitive_attr_set_zero_points(*attr, DNNL_ARG_SRC, 1, 0, &qx->zp) == dnnl_success;
    if (ok && qy->on && qy->zp)
        ok = dnnl_primitive_attr_set_zero_points(*attr, DNNL_ARG_DST, 1, 0, &qy->zp) == dnnl_success;
    if (!ok) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: INT8 attributes");
    }
    return LP_OK;
}

/* The bias in the accumulator's domain (float, one per output channel): an int32 bias
 * folded from DequantizeLinear with scale s_x * s_w[c] is its integers exactly; a float
 * bias is divided by the output scale; the zero-point compensation -zp_x * sum_k w[c,k]
 * (comp, may be NULL) is added. Returns a step-owned buffer, or NULL when there is none. */
static lp_status acc_bias(dn_step *st, const lp_prep_ctx *pc, int b, int64_t n, const float *oscale, const double *comp,
                          dnnl_memory_t *out)
{
    *out = NULL;
    if (b < 0 && !comp)
        return LP_OK;
    dnnl_memory_desc_t md;
    dn_plain_md(&md, dnnl_f32, 1, &n);
    LP_TRY(dn_mem_temp(st, &md, out));
    float *acc = NULL;
    dnnl_memory_get_data_handle(*out, (void **)&acc);
    const lp_qconst *qc = b >= 0 && pc->qconst ? pc->qconst[b] : NULL;
    for (int64_t c = 0; c < n; c++) {
        double v = 0;
        if (qc && qc->q->dtype == LP_I32) {
            int32_t z = qc->zp ? ((const int32_t *)qc->zp->data)[lp_tensor_numel(qc->zp) == 1 ? 0 : c] : 0;
            double q = (double)((const int32_t *)qc->q->data)[c] - z;
            float s = qc_scale(qc, c);
            v = s == oscale[c] ? q : q * s / oscale[c];
        } else if (b >= 0) {
            v = (double)((const float *)pc->g->values[b].init->data)[c] / oscale[c];
        }
        acc[c] = (float)(v + (comp ? comp[c] : 0.0));
    }
    return LP_OK;
}

/* The destination: the output value itself (stored as `want`, quantized when the chain
 * ends quantized), or when the output must be plain float and `want` is not, a temporary
 * followed by a reorder (dequantizing a quantized result) into the plain output. */
static lp_status int8_dst(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, bool out_priv,
                          const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *view_f32, dnnl_memory_t *dst,
                          dnnl_memory_t *after)
{
    int v = ch->out_value;
    dnnl_memory_desc_t plain;
    dn_plain_md(&plain, dnnl_f32, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
    *after = NULL;
    const dnnl_memory_desc_t *vf = view_f32 ? view_f32 : &plain;
    if (out_priv || (!ch->q_tail.on && dnnl_memory_desc_equal(want, vf))) {
        LP_TRY(dn_mem_value(st, pc, v, want, dst));
        if (view_f32 && !ch->q_tail.on) {
            dn_set_output(st, pc, v, &plain);
        } else if (view_f32) { /* the same bytes as the plain quantized value */
            dnnl_memory_desc_t pq;
            dn_plain_md(&pq, ch->q_tail.dt, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
            dn_set_output(st, pc, v, &pq);
        } else {
            dn_set_output(st, pc, v, want);
        }
        st->out_q = ch->q_tail;
        return LP_OK;
    }
    LP_TRY(dn_mem_temp(st, want, dst));
    LP_TRY(dn_mem_value(st, pc, v, vf, after));
    dn_set_output(st, pc, v, &plain);
    return LP_OK;
}

/* Value v quantized as q, seen through `view` (the same bytes as its plain quantized form,
 * e.g. collapsed dims): bound directly when so stored, else through a converted copy. */
static lp_status input_view_q(dn_step *st, const lp_prep_ctx *pc, int v, const dn_quant *q,
                              const dnnl_memory_desc_t *view, dnnl_memory_t *out)
{
    dnnl_memory_desc_t have, plain;
    dn_quant hq = { 0 };
    dn_value_md(pc, v, &have);
    dn_value_quantized(pc, v, &hq);
    dn_plain_md(&plain, q->dt, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
    if (dnnl_memory_desc_equal(&have, &plain) && hq.on && hq.dt == q->dt && hq.scale == q->scale && hq.zp == q->zp)
        return dn_mem_value(st, pc, v, view, out);
    dnnl_memory_t tmp;
    LP_TRY(dn_input_q(st, pc, v, &plain, q, &tmp));
    void *h = NULL;
    dnnl_memory_get_data_handle(tmp, &h);
    return dn_mem(st, view, h, out);
}

/* Marks the step INT8 in its description ("int8,brgconv:avx512_core_vnni"). */
static void note_int8(dn_step *st)
{
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%sint8", k ? "," : "");
}

/* Adds the INT8 primitive of pd reading source ms and weights mw, writing md, with bias mb
 * (NULL: none; then a caller that kept args[3] for it, `bias_slot`, gets it filled from the
 * end) and the attribute's operands in args[3 or 4 .. na); r is the status of the setup
 * before: on failure pd is destroyed and r returned. */
static lp_status int8_exec(dn_step *st, const lp_prep_ctx *pc, lp_status r, dnnl_primitive_desc_t pd,
                           dnnl_memory_t ms, dnnl_memory_t mw, dnnl_memory_t md, dnnl_memory_t mb, bool bias_slot,
                           dnnl_exec_arg_t *args, int na)
{
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    note_int8(st);
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, mw };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    if (mb)
        args[3] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, mb };
    else if (bias_slot)
        args[3] = args[--na];
    return dn_add_primitive(st, pc, pd, na, args);
}

/* Constant 8-bit weights `data` (layout `from`) as memory of layout `to`, the primitive's. A
 * plain (unblocked) layout with a compensation buffer (an s8 source's, or a source zero
 * point's: sums of the weights per output channel, written by the reorder) is filled in two
 * reorders, the layout change alone and then the compensation between equal layouts: oneDNN
 * 2.6.3's jit reorder from plain to channels-last weights (oihw -> hwio, goihw -> hwigo: what
 * its gemm convolutions take) leaves the compensation 0 when it transposes 8 output channels
 * of 8 weights each, e.g. 8 channels in 2 groups of a 4x2 window (docs/engine.md, "INT8";
 * tools/dnnl_comp_repro.c). Blocked layouts (its other kernels') are filled right in one, and
 * oneDNN has no reorder adding the compensation to some of them (matmul's). */
static lp_status int8_weights(dn_step *st, const void *data, const dnnl_memory_desc_t *from,
                              const dnnl_memory_desc_t *to, dnnl_memory_t *out)
{
    dnnl_memory_desc_t bare = *to;
    memset(&bare.extra, 0, sizeof bare.extra);
    if (!to->extra.flags || to->format_kind != dnnl_blocked || to->format_desc.blocking.inner_nblks ||
        dnnl_memory_desc_equal(from, &bare))
        return dn_const(st, data, from, to, out);
    size_t size = dnnl_memory_desc_get_size(&bare);
    void *buf = malloc(size ? size : 1);
    if (!buf)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing INT8 weights");
    dnnl_memory_t a = NULL, b = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_stream_t stream = st->stream;
    dnnl_exec_arg_t args[2];
    dnnl_status_t s = dnnl_memory_create(&a, from, dn_engine(), (void *)data);
    if (s == dnnl_success)
        s = dnnl_memory_create(&b, &bare, dn_engine(), buf);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, from, dn_engine(), &bare, dn_engine(), NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&p, pd);
    if (s == dnnl_success) {
        args[0] = (dnnl_exec_arg_t){ DNNL_ARG_FROM, a };
        args[1] = (dnnl_exec_arg_t){ DNNL_ARG_TO, b };
        s = dnnl_primitive_execute(p, stream, 2, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(stream);
    if (p)
        dnnl_primitive_destroy(p);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (a)
        dnnl_memory_destroy(a);
    if (b)
        dnnl_memory_destroy(b);
    lp_status r = s == dnnl_success ? dn_const(st, buf, &bare, to, out)
                                    : lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: INT8 weight reorder (status %d)", (int)s);
    free(buf);
    return r;
}

/* Binary operand v of a chain ending in `out` holds one value per channel (its shape,
 * right-aligned to out's, is 1 but for out's channels, more than one). */
static bool per_channel(const lp_graph *g, int v, const lp_shape *out)
{
    if (v < 0 || out->ndim < 2 || shape(g, v)->ndim > out->ndim || out->d[1] < 2)
        return false;
    const lp_shape *vs = shape(g, v);
    if (lp_numel(vs->ndim, vs->d) != out->d[1]) /* (a scalar is none) */
        return false;
    for (int k = 0; k < vs->ndim; k++)
        if (vs->d[k] != (k + out->ndim - vs->ndim == 1 ? out->d[1] : 1))
            return false;
    return true;
}

/* Binds the per-channel binary operands of ch (scales, biases: the output's shape with every
 * dim but the channels 1) as views of their plain bytes with dims (1, C, 1, ...) of rank nd,
 * what a primitive of dims `dims` takes (dn_attr fits only operands of its own rank). oneDNN
 * 2.6 reads an operand with the destination's own dims (one image with one output point) as
 * full-size, which its fast INT8 convolutions take only in their layout (channels-last; a
 * plain one gets ref_int8): then channels-last, the same bytes. */
static lp_status channel_operands(dn_step *st, const lp_prep_ctx *pc, int nd, const int64_t *dims, dn_chain *ch)
{
    const lp_shape *out = shape(pc->g, ch->out_value);
    int64_t d1[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++)
        d1[i] = i == 1 ? dims[1] : 1;
    for (int i = 0; i < ch->n_post; i++) {
        dn_post *p = &ch->post[i];
        if (p->kind != DN_POST_BINARY || p->as_sum || p->mem || !per_channel(pc->g, p->value, out) ||
            out->d[1] != dims[1])
            continue;
        if (lp_numel(nd, dims) == dims[1])
            dn_md_channels_last(&p->md, nd, d1, dnnl_f32);
        else
            dn_plain_md(&p->md, dnnl_f32, nd, d1);
        LP_TRY(dn_input_view(st, pc, p->value, &p->md, &p->mem));
    }
    return LP_OK;
}

/* oneDNN 2.6.3's grouped INT8 convolutions on its gemm kernel apply per-channel binary post-ops
 * to the wrong channels from more than 16 channels per group on (tools/dnnl_postop_repro.c):
 * true when pd is such a convolution and ch has binary post-ops. */
static bool gemm_binary_posts(dnnl_primitive_desc_t pd, const lp_conv *cv, const dn_chain *ch)
{
    bool binary = false;
    for (int i = 0; i < ch->n_post; i++)
        binary |= ch->post[i].kind == DN_POST_BINARY && !ch->post[i].as_sum;
    const char *impl = NULL;
    return binary && cv->group > 1 && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
           impl && strstr(impl, "gemm");
}

/* Why the INT8 convolution pd of a QDQ Conv should run in FP32 instead (dequantized weights,
 * the source dequantized by a reorder; int8_or in dnnl_ops.c builds it), or NULL:
 * - gemm_binary_posts (wrong results);
 * - a depthwise convolution of stride 1 writing float through eltwise post-ops only, with a
 *   source zero point given to oneDNN (`src_zp`: padded, zero point not 0 -- every depthwise
 *   convolution after a HardSwish in PaddleOCR), that oneDNN runs on `jit_int8`: its fast
 *   depthwise kernel, brdgmm_dw, takes no source zero point. tools/dnnl_dw_bench.c on
 *   PaddleOCR's shapes, 1 thread, ms per convolution, jit_int8 with the zero point / the
 *   dequantizing reorder (with the zero point) + FP32 brdgmm_dw, float destination, stride 1,
 *   a HardSwish post-op: 48 ch 3x96 k5 0.0117 / 0.0082, 88 ch 3x96 k5 0.0223 / 0.0159 (batch
 *   16: 0.354 / 0.256), 200 ch 2x96 k5 0.0316 / 0.0185, 384 ch 10x10 k5 0.0377 / 0.0294, 480
 *   ch 6x80 k5 0.198 / 0.171. Per-channel binary post-ops (PPLCNetV3's affines around the
 *   HardSwish, DW_AFFINE=1) cost FP32 as much and leave a tie: 384 ch 0.0546 / 0.0503, 480 ch
 *   0.300 / 0.297 (in det's and rec's profiles FP32 came out 10 % slower). With a stride the
 *   reorder of the larger source eats the gain (192 ch 20x20 k5 s2: 0.0192 / 0.0245; 240 ch
 *   12x80 k5 s2x1: 0.099 / 0.102; 32 ch 6x96 s2x1: 0.0078 / 0.0077), and with an 8-bit
 *   destination FP32 needs a quantizing reorder too (96 ch 40x40 k3: 0.067 / 0.094; 16 ch
 *   160x160 k3: 0.171 / 0.252; 240 ch 12x80 k5: 0.210 / 0.219): those stay INT8, as do
 *   depthwise convolutions without a zero point (brdgmm_dw; INT8 ties FP32 there). */
static const char *int8_loses(dnnl_primitive_desc_t pd, const lp_conv *cv, const dn_chain *ch, bool src_zp)
{
    if (gemm_binary_posts(pd, cv, ch))
        return "oneDNN 2.6: binary post-ops of a grouped gemm INT8 convolution";
    bool unit_stride = true, eltwise_only = true;
    for (int i = 0; i < ch->n_post; i++)
        eltwise_only &= ch->post[i].kind == DN_POST_ELTWISE && !ch->post[i].as_sum;
    for (int i = LP_SP - cv->win.nsp; i < LP_SP; i++) /* (right-aligned) */
        unit_stride &= cv->win.stride[i] == 1;
    const char *impl = NULL;
    if (src_zp && unit_stride && eltwise_only && cv->group > 1 && cv->group == cv->C && cv->M == cv->C && !ch->q_tail.on &&
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
        strstr(impl, "jit_int8"))
        return "a depthwise INT8 convolution on jit_int8 (FP32 is faster)";
    return NULL;
}

/* ---- Conv ---- */

lp_status dn_conv_int8(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    lp_conv cv;
    dn_quant qx;
    if (!dn_conv_geometry(g, n, &cv) || !dn_value_dq(g, n->in[0], &qx))
        return LOWP_ERR_UNSUPPORTED;
    const lp_qconst *qw = int8_weight(g, pc->qconst, n->in[1], 0);
    if (!qw)
        return LOWP_ERR_UNSUPPORTED;
    dn_conv_dims geo, conv1;
    dn_conv_dims_of(&cv, &geo);
    bool frames = dn_frames_fits(&cv, &geo); /* one input channel: a 1x1 conv over frames (dnnl_frames.c) */
    if (frames)
        conv1 = geo, dn_frames_dims(&conv1, &geo);
    int nd = geo.nd, wn = geo.wn;
    const int64_t *sd = geo.src, *wd = geo.wei, *dd = geo.dst, *strides = geo.strides, *dil = geo.dil,
                  *pl = geo.pad_l, *pr = geo.pad_r;
    bool padded = geo.padded;
    int64_t M = cv.M, per_c = lp_tensor_numel(qw->q) / M;
    float *oscale = malloc((size_t)M * sizeof *oscale);
    double *comp = NULL;
    if (!oscale)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing an INT8 convolution");
    for (int64_t c = 0; c < M; c++)
        oscale[c] = qx.scale * qc_scale(qw, c);
    /* A source zero point without padding is a bias: sum_k (x - zp) w = sum_k x w - zp sum_k w,
     * which keeps oneDNN's brgemm convolutions (they take no source zero point). Padding
     * would add zp * w terms the input does not have: oneDNN's zero point then. */
    bool src_zp = qx.zp != 0 && padded;
    if (qx.zp != 0 && !padded) {
        if (!(comp = calloc((size_t)M, sizeof *comp))) {
            free(oscale);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing an INT8 convolution");
        }
        const int8_t *q = qw->q->data;
        for (int64_t c = 0; c < M; c++) {
            int64_t sum = 0;
            for (int64_t k = 0; k < per_c; k++)
                sum += q[c * per_c + k];
            comp[c] = -(double)qx.zp * (double)sum;
        }
    }
    int out_v = ch->out_value;
    bool out_priv = priv && dn_value_private_ok(pc, out_v);
    dnnl_data_type_t ddt = ch->q_tail.on ? ch->q_tail.dt : dnnl_f32;
    dnnl_memory_desc_t src_md, wei_md, wei_plain, bia_md, dst_md;
    dn_md_any(&src_md, nd, sd, qx.dt);
    dn_md_any(&wei_md, wn, wd, dnnl_s8);
    dn_plain_md(&wei_plain, dnnl_s8, wn, wd);
    dn_plain_md(&bia_md, dnnl_f32, 1, &M);
    if (priv)
        dn_md_any(&dst_md, nd, dd, ddt);
    else
        dn_plain_md(&dst_md, ddt, nd, dd);
    int b = n->n_in > 2 ? n->in[2] : -1;
    dnnl_memory_t mb = NULL;
    lp_status r = acc_bias(st, pc, b, M, oscale, comp, &mb);
    free(comp);
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 4;
    dnnl_primitive_attr_t attr = NULL;
    bool per_tensor = lp_tensor_numel(qw->scale) == 1;
    dn_chain pch = *ch;
    if (r == LP_OK)
        r = channel_operands(st, pc, nd, dd, &pch);
    if (r == LP_OK)
        r = int8_attr(st, pc, &pch, nd, dd, priv, oscale, per_tensor ? 1 : (int)M, per_tensor ? 0 : 1 << 1, &qx, src_zp,
                      &attr, args, &na);
    free(oscale);
    if (r != LP_OK) {
        if (attr)
            dnnl_primitive_attr_destroy(attr);
        return r;
    }
    dnnl_convolution_desc_t cd;
    if (dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
                                                   &wei_md, mb ? &bia_md : NULL, &dst_md, strides, dil, pl,
                                                   pr) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: INT8 convolution descriptor");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &cd, attr));
    const char *why = int8_loses(pd, &cv, ch, src_zp);
    if (why) { /* (then int8_or in dnnl_ops.c builds the FP32 convolution) */
        dnnl_primitive_desc_destroy(pd);
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s", why);
    }
    dnnl_memory_t ms, mw, md, mafter = NULL;
    r = frames ? dn_frames_input(st, pc, n->in[0], &conv1, &qx, dn_q_md(pd, DNNL_ARG_SRC), &ms)
               : dn_input_q(st, pc, n->in[0], dn_q_md(pd, DNNL_ARG_SRC), &qx, &ms);
    if (r == LP_OK)
        r = int8_weights(st, qw->q->data, &wei_plain, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    if (r == LP_OK)
        r = int8_dst(st, pc, ch, out_priv, dn_q_md(pd, DNNL_ARG_DST), NULL, &md, &mafter);
    if (r == LP_OK)
        r = dn_copy_sum_operand(st, pc, ch, md, mafter ? -1 : out_v);
    LP_TRY(int8_exec(st, pc, r, pd, ms, mw, md, mb, true, args, na));
    return mafter ? dn_reorder_q(st, md, &ch->q_tail, mafter, NULL) : LP_OK;
}

/* ---- Gemm / MatMul ---- */

lp_status dn_mm_int8(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    (void)priv;
    const lp_graph *g = pc->g;
    mm_spec m;
    dn_quant qx, qb = { 0 };
    bool gemm = n->op == LP_OP_Gemm;
    if (!(gemm ? dn_gemm_spec(g, n, &m) : dn_matmul_spec(g, n, &m)) || !dn_value_dq(g, m.a, &qx) || m.c_post >= 0)
        return LOWP_ERR_UNSUPPORTED;
    for (int i = 0; i < ch->n_post; i++)
        if (ch->post[i].as_sum) /* a residual is a binary post-op here */
            return LOWP_ERR_UNSUPPORTED;
    int nd = m.nd;
    int64_t N = m.dst[nd - 1];
    int axis = gemm && lp_attr_int(n, "transB", 0) ? 0 : 1;
    const lp_qconst *qw = g->values[m.b].kind == LP_VALUE_CONST ? int8_weight(g, pc->qconst, m.b, axis) : NULL;
    if (!qw && !(dn_value_dq(g, m.b, &qb) && qb.dt == dnnl_s8 && qb.zp == 0))
        return LOWP_ERR_UNSUPPORTED;
    if (m.bias >= 0 && (m.bias_dims[0] != 1 || m.bias_dims[1] != N))
        return LOWP_ERR_UNSUPPORTED;
    int n_scale = qw && lp_tensor_numel(qw->scale) > 1 ? (int)N : 1;
    float *oscale = malloc((size_t)N * sizeof *oscale);
    if (!oscale)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing an INT8 matmul");
    for (int64_t j = 0; j < N; j++)
        oscale[j] = qx.scale * (qw ? qc_scale(qw, j) : qb.scale);
    dnnl_memory_desc_t src_md, wei_view, wei_md, bia_md, dst_md;
    dn_plain_md(&src_md, qx.dt, nd, m.src);
    dn_md_strided(&wei_view, nd, m.wei, m.wei_str, dnnl_s8);
    if (qw)
        dn_md_any(&wei_md, nd, m.wei, dnnl_s8);
    else
        wei_md = wei_view;
    int64_t bd[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++)
        bd[i] = i == nd - 1 ? N : 1;
    dn_plain_md(&bia_md, dnnl_f32, nd, bd);
    dnnl_data_type_t ddt = ch->q_tail.on ? ch->q_tail.dt : dnnl_f32;
    dn_plain_md(&dst_md, ddt, nd, m.dst);
    dnnl_memory_t mb = NULL;
    lp_status r = acc_bias(st, pc, m.bias, N, oscale, NULL, &mb);
    if (r == LP_OK && mb) { /* acc_bias made it (N): view it as (1, ..., N) */
        void *h = NULL;
        dnnl_memory_get_data_handle(mb, &h);
        r = dn_mem(st, &bia_md, h, &mb);
    }
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 4;
    dnnl_primitive_attr_t attr = NULL;
    if (r == LP_OK)
        r = int8_attr(st, pc, ch, nd, m.dst, false, oscale, n_scale, n_scale > 1 ? 1 << (nd - 1) : 0, &qx, true, &attr,
                      args, &na);
    free(oscale);
    if (r != LP_OK) {
        if (attr)
            dnnl_primitive_attr_destroy(attr);
        return r;
    }
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &src_md, &wei_md, mb ? &bia_md : NULL, &dst_md) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: INT8 matmul descriptor");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    dnnl_memory_t ms, mw, md, mafter = NULL;
    dnnl_memory_desc_t dst_f32;
    dn_plain_md(&dst_f32, dnnl_f32, nd, m.dst);
    r = input_view_q(st, pc, m.a, &qx, &src_md, &ms);
    if (r == LP_OK)
        r = qw ? int8_weights(st, qw->q->data, &wei_view, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw)
               : input_view_q(st, pc, m.b, &qb, &wei_view, &mw);
    bool out_priv = dn_value_private_ok(pc, ch->out_value);
    if (r == LP_OK)
        r = int8_dst(st, pc, ch, out_priv || !ch->q_tail.on, &dst_md, &dst_f32, &md, &mafter);
    LP_TRY(int8_exec(st, pc, r, pd, ms, mw, md, mb, true, args, na));
    return mafter ? dn_reorder_q(st, md, &ch->q_tail, mafter, NULL) : LP_OK;
}

/* ---- MatMulInteger (dynamic quantization) ---- */

/* Value v is absent or a constant whose elements are all zero. */
static bool zero_or_absent(const lp_graph *g, int v)
{
    if (v < 0)
        return true;
    const lp_tensor *t = g->values[v].kind == LP_VALUE_CONST ? g->values[v].init : NULL;
    if (!t)
        return false;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        if (lp_tensor_get(t, i) != 0)
            return false;
    return true;
}

/* MatMulInteger(A u8 (..., M, K), B constant s8 (K, N), a_zero_point u8 scalar (constant or
 * run-time, e.g. DynamicQuantizeLinear's), b_zero_point zero): what dynamic quantization
 * exports (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scale) [-> Add bias]). */
bool dn_mmi_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 2 || n->n_out != 1 || n->in[0] < 0 || n->in[1] < 0 || n->out[0] < 0)
        return false;
    const lp_value *a = &g->values[n->in[0]], *b = &g->values[n->in[1]];
    if (a->dtype != LP_U8 || !lp_shape_static(&a->shape) || a->shape.ndim < 2 || b->kind != LP_VALUE_CONST ||
        b->init->dtype != LP_I8 || b->init->ndim != 2 || a->shape.d[a->shape.ndim - 1] != b->init->dims[0] ||
        lp_numel(a->shape.ndim, a->shape.d) == 0 || b->init->dims[1] == 0)
        return false;
    int za = n->n_in > 2 ? n->in[2] : -1;
    if (za >= 0 && (g->values[za].dtype != LP_U8 || !lp_shape_static(&g->values[za].shape) ||
                    lp_numel(g->values[za].shape.ndim, g->values[za].shape.d) != 1))
        return false;
    return zero_or_absent(g, n->n_in > 3 ? n->in[3] : -1);
}

/* A run-time source zero point (a u8 scalar value, e.g. DynamicQuantizeLinear's) for
 * oneDNN: reordered to the s32 it wants by a one-element reorder per run; *arg is the
 * execution argument to pass with the primitive. */
static dnnl_data_type_t q8_dt(lp_dtype t) { return t == LP_I8 ? dnnl_s8 : dnnl_u8; }

static lp_status runtime_src_zp(dn_step *st, const lp_prep_ctx *pc, int za, dnnl_exec_arg_t *arg)
{
    int64_t one = 1;
    dnnl_memory_desc_t z8, z32;
    dnnl_memory_t mz8, mz;
    dn_plain_md(&z8, q8_dt(pc->g->values[za].dtype), 1, &one);
    dn_plain_md(&z32, dnnl_s32, 1, &one);
    LP_TRY(dn_mem_value(st, pc, za, &z8, &mz8));
    LP_TRY(dn_mem_temp(st, &z32, &mz));
    LP_TRY(dn_reorder_q(st, mz8, NULL, mz, NULL));
    *arg = (dnnl_exec_arg_t){ DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, mz };
    return LP_OK;
}

/* The zero point of a source from input za (absent: 0): a constant's value, or
 * DNNL_RUNTIME_S32_VAL when it is known only at run time. */
static int32_t src_zp_of(const lp_graph *g, int za)
{
    if (za < 0)
        return 0;
    return dn_value_const(g, za) ? (int32_t)lp_tensor_get(g->values[za].init, 0) : DNNL_RUNTIME_S32_VAL;
}

/* u8 x s8 -> s32 by oneDNN's INT8 matmul, A's zero point given to it (a run-time one through
 * a one-element reorder to s32 per run). When the chain absorbed the Cast to float, the
 * destination is float and the rest of the chain (the scale Mul, the bias Add, activations)
 * are post-ops; else the destination is the int32 result itself. */
lp_status dn_mmi_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    (void)priv;
    const lp_graph *g = pc->g;
    if (!dn_mmi_supports(g, n))
        return LOWP_ERR_UNSUPPORTED;
    const lp_shape *as = shape(g, n->in[0]);
    const lp_tensor *w = g->values[n->in[1]].init;
    int64_t K = w->dims[0], N = w->dims[1], M = lp_numel(as->ndim - 1, as->d);
    int64_t sd[2] = { M, K }, wd[2] = { K, N }, dd[2] = { M, N };
    int out_v = ch->out_value;
    bool to_float = out_v != n->out[0];
    dnnl_memory_desc_t src_md, wei_md, wei_plain, dst_md, out_md;
    dn_plain_md(&src_md, dnnl_u8, 2, sd);
    dn_md_any(&wei_md, 2, wd, dnnl_s8);
    dn_plain_md(&wei_plain, dnnl_s8, 2, wd);
    dn_plain_md(&dst_md, to_float ? dnnl_f32 : dnnl_s32, 2, dd);
    dn_plain_md(&out_md, to_float ? dnnl_f32 : dnnl_s32, shape(g, out_v)->ndim, shape(g, out_v)->d);
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 3;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, ch, 2, dd, false, &attr, args, &na));
    int za = n->n_in > 2 ? n->in[2] : -1;
    int32_t zp = src_zp_of(g, za);
    if (zp && dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: MatMulInteger zero point");
    }
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &src_md, &wei_md, NULL, &dst_md) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: MatMulInteger descriptor");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    dnnl_memory_t ms, mw, md;
    lp_status r = dn_mem_value(st, pc, n->in[0], &src_md, &ms);
    if (r == LP_OK)
        r = int8_weights(st, w->data, &wei_plain, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    if (r == LP_OK)
        r = dn_mem_value(st, pc, out_v, &dst_md, &md);
    if (r == LP_OK && zp == DNNL_RUNTIME_S32_VAL)
        r = runtime_src_zp(st, pc, za, &args[na++]);
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    dn_set_output(st, pc, out_v, &out_md);
    st->out_private = false; /* an int32 result is plain too: its readers take the bytes as they are */
    note_int8(st);
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, mw };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    return dn_add_primitive(st, pc, pd, na, args);
}

/* ---- ConvInteger (dynamic quantization, ONNX Runtime's quantizer) ---- */

/* The weights w - zw[m] of a ConvInteger as s8 for oneDNN: w8 = w - off and the rest,
 * (off - zw[m]) * (the window sum of x - zx over the input channels of m's group), as a
 * correction. off is zw itself when every w - zw fits s8 (no correction: CORR_NONE); else 128
 * for u8 weights (w - 128 always fits) and 0 for s8 ones. ONNX Runtime's u8 weights are
 * asymmetric per tensor: a few w - zw of most layers lie outside s8. With one weight zero
 * point and one group every output channel takes the same window sum of all channels
 * (CORR_BROADCAST, corr[0]: convint_correction); else each its group's, scaled per channel
 * (CORR_PER_CHANNEL, corr[m] for the M output channels: convint_correction_grouped -- the
 * depthwise convolutions of ORT-quantized MobileNet-like models). w8 and corr may be NULL. */
enum { CORR_NONE, CORR_BROADCAST, CORR_PER_CHANNEL };

static int convint_weights(const lp_graph *g, const lp_node *n, int8_t *w8, float *corr)
{
    const lp_tensor *w = g->values[n->in[1]].init;
    int zwv = n->n_in > 3 ? n->in[3] : -1;
    const lp_tensor *zw = zwv >= 0 ? g->values[zwv].init : NULL;
    int64_t M = w->dims[0], total = lp_tensor_numel(w), per = total / M, nz = zw ? lp_tensor_numel(zw) : 1;
    bool fits = true;
    for (int64_t i = 0; i < total && fits; i++) {
        int64_t d = (int64_t)lp_tensor_get(w, i) - (zw ? (int64_t)lp_tensor_get(zw, nz == 1 ? 0 : i / per) : 0);
        fits = d >= -128 && d <= 127;
    }
    int32_t off = w->dtype == LP_U8 ? 128 : 0;
    for (int64_t m = 0; corr && !fits && m < M; m++)
        corr[m] = (float)(off - (zw ? (int32_t)lp_tensor_get(zw, nz == 1 ? 0 : m) : 0));
    for (int64_t i = 0; w8 && i < total; i++)
        w8[i] = (int8_t)((int32_t)lp_tensor_get(w, i) -
                         (!fits ? off : zw ? (int32_t)lp_tensor_get(zw, nz == 1 ? 0 : i / per) : 0));
    return fits ? CORR_NONE : nz == 1 && lp_attr_int(n, "group", 1) == 1 ? CORR_BROADCAST : CORR_PER_CHANNEL;
}

/* ConvInteger(x u8/s8 (N,C,in...), w constant u8/s8 (M,C/group,k...), x_zero_point constant
 * or run-time scalar, w_zero_point constant per tensor or per output channel). */
bool dn_convint_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 2 || n->n_out != 1 || n->in[0] < 0 || n->in[1] < 0 || n->out[0] < 0)
        return false;
    const lp_value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
    if ((x->dtype != LP_U8 && x->dtype != LP_I8) || !lp_shape_static(&x->shape) || x->shape.ndim < 3 ||
        x->shape.ndim > 5 || w->kind != LP_VALUE_CONST || (w->init->dtype != LP_U8 && w->init->dtype != LP_I8) ||
        w->init->ndim != x->shape.ndim || lp_numel(x->shape.ndim, x->shape.d) == 0 ||
        lp_tensor_numel(w->init) == 0 || !lp_shape_static(&g->values[n->out[0]].shape))
        return false;
    int za = n->n_in > 2 ? n->in[2] : -1, zw = n->n_in > 3 ? n->in[3] : -1;
    if (za >= 0 && (g->values[za].dtype != x->dtype || !lp_shape_static(&g->values[za].shape) ||
                    lp_numel(g->values[za].shape.ndim, g->values[za].shape.d) != 1))
        return false;
    if (zw >= 0 && (g->values[zw].kind != LP_VALUE_CONST || g->values[zw].init->dtype != w->init->dtype ||
                    (lp_tensor_numel(g->values[zw].init) != 1 &&
                     lp_tensor_numel(g->values[zw].init) != w->init->dims[0])))
        return false;
    lp_conv cv;
    return dn_conv_geometry(g, n, &cv);
}

/* Value v, 8-bit integers of type dt, as memory of layout `want`: bound as stored (by a
 * oneDNN producer in its layout, else plain), or through a temporary filled by a reorder. */
static lp_status input_q8_as(dn_step *st, const lp_prep_ctx *pc, int v, dnnl_data_type_t dt,
                             const dnnl_memory_desc_t *want, dnnl_memory_t *out)
{
    dnnl_memory_desc_t have;
    dn_value_md(pc, v, &have);
    if (have.data_type != dt) /* not a oneDNN step's output (those say f32): plain */
        dn_plain_md(&have, dt, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
    if (dnnl_memory_desc_equal(&have, want))
        return dn_mem_value(st, pc, v, want, out);
    dnnl_memory_t from;
    LP_TRY(dn_mem_value(st, pc, v, &have, &from));
    LP_TRY(dn_mem_temp(st, want, out));
    return dn_reorder_q(st, from, NULL, *out, NULL);
}

/* A convolution primitive descriptor (consumes attr). */
static lp_status conv_pd(dnnl_primitive_desc_t *pd, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *wei,
                         const dnnl_memory_desc_t *dst, const dn_conv_dims *geo, bool pointwise,
                         dnnl_primitive_attr_t attr)
{
    static const dnnl_dims_t ones = { 1, 1, 1 }, zeros = { 0, 0, 0 };
    dnnl_convolution_desc_t d;
    if (dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_direct, src, wei,
                                                   NULL, dst, pointwise ? ones : geo->strides,
                                                   pointwise ? zeros : geo->dil, pointwise ? zeros : geo->pad_l,
                                                   pointwise ? zeros : geo->pad_r) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: ConvInteger descriptor");
    }
    return dn_pd_create(pd, &d, attr);
}

/* An attribute with the source zero point zp (0: none; DNNL_RUNTIME_S32_VAL: given per run)
 * and output scale `scale` (1: none) added to *attr (made when NULL). */
static lp_status zp_scale_attr(dn_step *st, const lp_prep_ctx *pc, int32_t zp, float scale,
                               dnnl_primitive_attr_t *attr)
{
    if (!*attr)
        LP_TRY(dn_attr(st, pc, NULL, 0, NULL, false, attr, NULL, NULL));
    if ((zp && dnnl_primitive_attr_set_zero_points(*attr, DNNL_ARG_SRC, 1, 0, &zp) != dnnl_success) ||
        (scale != 1.f && dnnl_primitive_attr_set_output_scales(*attr, 1, 0, &scale) != dnnl_success)) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: ConvInteger attributes");
    }
    return LP_OK;
}

/* The weight correction corr * S of convint_weights into *out ((N,1,out...) f32, plain):
 * S, the window sums of x - zx over all channels. A 1x1 INT8 convolution of x to one channel
 * of ones, scaled by corr (T, the channel sums), then an FP32 convolution of T with one k...
 * window of ones in the convolution's geometry (zero padding: the padded x - zx are 0). That
 * second convolution was an average pooling counting the padding until oneDNN 2.6.3 turned
 * out to pool one plain channel on its `simple_nchw` kernel: 23 ms for a 512x512 map and a
 * 3x3 window, against 1.2 ms for the convolution (x64:gemm:jit; 1 thread) -- IS-Net's
 * ORT-quantized file runs 110 of them per image. ms is x in layout src_md. */
static lp_status convint_correction(dn_step *st, const lp_prep_ctx *pc, const dn_conv_dims *geo, int32_t corr,
                                    int32_t zp, const dnnl_exec_arg_t *zarg, dnnl_memory_t ms,
                                    const dnnl_memory_desc_t *src_md, dnnl_memory_t *out)
{
    static const dnnl_format_tag_t nxc[6] = { 0, 0, 0, dnnl_acb, dnnl_acdb, dnnl_acdeb };
    int nd = geo->nd;
    dnnl_dims_t td, cd, wd, kd;
    memcpy(td, geo->src, sizeof td);
    memcpy(cd, geo->dst, sizeof cd);
    td[1] = cd[1] = 1;
    wd[0] = kd[0] = kd[1] = 1;
    wd[1] = geo->src[1];
    for (int i = 2; i < nd; i++) {
        wd[i] = 1;
        kd[i] = geo->wei[geo->wn - nd + i];
    }
    dnnl_memory_desc_t w_md, w_any, t_md, t_plain, c_md, k_md, k_any;
    dn_plain_md(&w_md, dnnl_s8, nd, wd);
    dn_md_any(&w_any, nd, wd, dnnl_s8);
    /* one channel: channels-last (what the fast kernels write) has the bytes of plain */
    dnnl_memory_desc_init_by_tag(&t_md, nd, td, dnnl_f32, nxc[nd]);
    dn_plain_md(&t_plain, dnnl_f32, nd, td);
    dn_plain_md(&c_md, dnnl_f32, nd, cd);
    dn_plain_md(&k_md, dnnl_f32, nd, kd);
    dn_md_any(&k_any, nd, kd, dnnl_f32);
    dnnl_primitive_attr_t attr = NULL, kattr = NULL;
    dnnl_primitive_desc_t tpd = NULL, kpd = NULL;
    lp_status r = zp_scale_attr(st, pc, zp, (float)corr, &attr);
    if (r == LP_OK)
        r = conv_pd(&tpd, src_md, &w_any, &t_md, geo, true, attr);
    /* the window sums in plain layouts, else channels-last: the same bytes for one channel
       (oneDNN 2.6.3 has only its reference kernel for some plain 1-D geometries) */
    for (int lay = 0; r == LP_OK && lay < 2 && !kpd; lay++) {
        if (lay == 1) {
            t_plain = t_md;
            dnnl_memory_desc_init_by_tag(&c_md, nd, cd, dnnl_f32, nxc[nd]);
        }
        if ((r = dn_attr(st, pc, NULL, 0, NULL, false, &kattr, NULL, NULL)) == LP_OK &&
            conv_pd(&kpd, &t_plain, &k_any, &c_md, geo, false, kattr) != LP_OK) {
            if (lay == 0)
                lp_error(LP_OK, "%s", "");
        }
    }
    if (r == LP_OK && !kpd)
        r = LOWP_ERR_UNSUPPORTED;
    int64_t nw = lp_numel(nd, wd), nk = lp_numel(nd, kd);
    int8_t *ones = r == LP_OK ? malloc((size_t)nw) : NULL;
    float *kones = r == LP_OK ? malloc((size_t)nk * sizeof *kones) : NULL;
    if (r == LP_OK && (!ones || !kones))
        r = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing an integer convolution");
    dnnl_memory_t mw, mk, mt, mtp;
    if (r == LP_OK) {
        memset(ones, 1, (size_t)nw);
        for (int64_t i = 0; i < nk; i++)
            kones[i] = 1.f;
        r = int8_weights(st, ones, &w_md, dn_q_md(tpd, DNNL_ARG_WEIGHTS), &mw);
    }
    if (r == LP_OK)
        r = dn_const(st, kones, &k_md, dn_q_md(kpd, DNNL_ARG_WEIGHTS), &mk);
    free(ones);
    free(kones);
    if (r == LP_OK)
        r = dn_mem_temp(st, &t_md, &mt);
    void *th = NULL;
    if (r == LP_OK) {
        dnnl_memory_get_data_handle(mt, &th);
        r = dn_mem(st, dn_q_md(kpd, DNNL_ARG_SRC), th, &mtp);
    }
    if (r == LP_OK)
        r = dn_mem_temp(st, dn_q_md(kpd, DNNL_ARG_DST), out);
    if (r != LP_OK) {
        if (tpd)
            dnnl_primitive_desc_destroy(tpd);
        if (kpd)
            dnnl_primitive_desc_destroy(kpd);
        return r;
    }
    dnnl_exec_arg_t targs[DN_MAX_ARGS] = { { DNNL_ARG_SRC, ms }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DST, mt } };
    int tn = 3;
    if (zp == DNNL_RUNTIME_S32_VAL)
        targs[tn++] = *zarg;
    if ((r = dn_add_primitive(st, pc, tpd, tn, targs)) != LP_OK) {
        dnnl_primitive_desc_destroy(kpd);
        return r;
    }
    dnnl_exec_arg_t kargs[DN_MAX_ARGS] = { { DNNL_ARG_SRC, mtp }, { DNNL_ARG_WEIGHTS, mk }, { DNNL_ARG_DST, *out } };
    return dn_add_primitive(st, pc, kpd, 3, kargs);
}

/* The weight correction of CORR_PER_CHANNEL into *out ((N,M,out...) f32, channels-last):
 * the convolution itself, source zero point and all, with weights of ones (each output
 * channel's window sum of x - zx over its group's input channels) and output scales corr[m].
 * For a depthwise convolution that is one more depthwise pass, far cheaper than the
 * reference kernel these ran on before. ms is x in layout src_md. */
static lp_status convint_correction_grouped(dn_step *st, const lp_prep_ctx *pc, const dn_conv_dims *geo,
                                            const float *corr, int64_t M, int32_t zp, const dnnl_exec_arg_t *zarg,
                                            dnnl_memory_t ms, const dnnl_memory_desc_t *src_md, dnnl_memory_t *out)
{
    static const dnnl_format_tag_t nxc[6] = { 0, 0, 0, dnnl_acb, dnnl_acdb, dnnl_acdeb };
    bool same = true;
    for (int64_t m = 1; m < M; m++)
        same &= corr[m] == corr[0];
    dnnl_memory_desc_t w_md, w_any, c_md;
    dn_plain_md(&w_md, dnnl_s8, geo->wn, geo->wei);
    dn_md_any(&w_any, geo->wn, geo->wei, dnnl_s8);
    dnnl_memory_desc_init_by_tag(&c_md, geo->nd, geo->dst, dnnl_f32, nxc[geo->nd]);
    dnnl_primitive_attr_t attr = NULL;
    LP_TRY(zp_scale_attr(st, pc, zp, 1.f, &attr));
    if (dnnl_primitive_attr_set_output_scales(attr, same ? 1 : M, same ? 0 : 1 << 1, corr) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: ConvInteger correction scales");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(conv_pd(&pd, src_md, &w_any, &c_md, geo, false, attr));
    int64_t nw = lp_numel(geo->wn, geo->wei);
    int8_t *ones = malloc((size_t)nw);
    lp_status r = ones ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing an integer convolution");
    dnnl_memory_t mw;
    if (r == LP_OK) {
        memset(ones, 1, (size_t)nw);
        r = int8_weights(st, ones, &w_md, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    }
    free(ones);
    if (r == LP_OK)
        r = dn_mem_temp(st, &c_md, out);
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    dnnl_exec_arg_t args[DN_MAX_ARGS] = { { DNNL_ARG_SRC, ms }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DST, *out } };
    int na = 3;
    if (zp == DNNL_RUNTIME_S32_VAL)
        args[na++] = *zarg;
    return dn_add_primitive(st, pc, pd, na, args);
}

/* m = post-ops of ch (m `alg` src1), in place in layout md: one binary primitive. */
static lp_status binary_into(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, int nd, const int64_t *dims,
                             dnnl_alg_kind_t alg, const dnnl_memory_desc_t *md, dnnl_memory_t m,
                             const dnnl_memory_desc_t *src1_md, dnnl_memory_t src1)
{
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 3;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, ch, nd, dims, false, &attr, args, &na));
    dnnl_binary_desc_t bd;
    if (dnnl_binary_desc_init(&bd, alg, md, src1_md, md) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: ConvInteger correction");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &bd, attr));
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_0, m };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_1, src1 };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, m };
    return dn_add_primitive(st, pc, pd, na, args);
}

/* u8/s8 x s8 -> s32 convolution with oneDNN's source zero point (which pads with it, as
 * ConvInteger's x - x_zero_point pads with 0). With the Cast to float absorbed the result is
 * float and the chain's scale Mul, bias Add and activations are post-ops. A weight
 * correction (convint_weights) broadcasts over the channels, which oneDNN 2.6's fast
 * convolutions do not take as a binary post-op: the convolution then writes float
 * channels-last and a binary primitive adds the correction with the chain as its post-ops,
 * in place (then a reorder when the output must be plain). Without the Cast the destination is the int32 result (then only without a
 * correction: a float sum would not be exact in int32 beyond 2^24). */
static lp_status convint_build_one(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                                   bool priv)
{
    const lp_graph *g = pc->g;
    lp_conv cv;
    if (!dn_convint_supports(g, n) || !dn_conv_geometry(g, n, &cv))
        return LOWP_ERR_UNSUPPORTED;
    dn_conv_dims geo;
    dn_conv_dims_of(&cv, &geo);
    const lp_tensor *w = g->values[n->in[1]].init;
    int out_v = ch->out_value;
    bool to_float = out_v != n->out[0];
    int kind = convint_weights(g, n, NULL, NULL);
    if (kind != CORR_NONE && !to_float)
        return LOWP_ERR_UNSUPPORTED;
    dn_conv_dims conv1; /* one input channel: a 1x1 conv over frames, as dn_conv_int8 (dnnl_frames.c) */
    bool frames = kind == CORR_NONE && dn_frames_fits(&cv, &geo);
    if (frames)
        conv1 = geo, dn_frames_dims(&conv1, &geo);
    int nd = geo.nd;
    static const dnnl_format_tag_t nxc[6] = { 0, 0, 0, dnnl_acb, dnnl_acdb, dnnl_acdeb };
    dnnl_data_type_t xdt = q8_dt(g->values[n->in[0]].dtype);
    int za = n->n_in > 2 ? n->in[2] : -1;
    int32_t zp = src_zp_of(g, za);
    bool out_priv = priv && to_float && dn_value_private_ok(pc, out_v);
    dnnl_memory_desc_t src_md, wei_md, wei_plain, dst_md;
    dn_md_any(&src_md, nd, geo.src, xdt);
    dn_md_any(&wei_md, geo.wn, geo.wei, dnnl_s8);
    dn_plain_md(&wei_plain, dnnl_s8, geo.wn, geo.wei);
    dnnl_dims_t dd;
    memcpy(dd, geo.dst, sizeof dd);
    /* The chain after the convolution on a binary primitive (`split`): with a weight correction,
     * and for grouped convolutions on oneDNN's gemm kernel with binary post-ops -- oneDNN 2.6.3
     * applies per-channel binary post-ops there to the wrong channels from more than 16
     * channels per group on (tools/dnnl_postop_repro.c; docs/engine.md, "ConvInteger"). */
    bool split = kind != CORR_NONE;
    bool binary_post = false;
    for (int i = 0; i < ch->n_post; i++)
        binary_post |= ch->post[i].kind == DN_POST_BINARY;
    if (!split && to_float && binary_post && cv.group > 1) {
        dnnl_memory_desc_t probe_dst;
        dnnl_memory_desc_init_by_tag(&probe_dst, nd, dd, dnnl_f32, nxc[nd]);
        dnnl_primitive_attr_t pattr = NULL;
        dnnl_primitive_desc_t probe;
        LP_TRY(zp_scale_attr(st, pc, zp, 1.f, &pattr));
        if (conv_pd(&probe, &src_md, &wei_md, &probe_dst, &geo, false, pattr) == LP_OK) {
            split = gemm_binary_posts(probe, &cv, ch);
            dnnl_primitive_desc_destroy(probe);
        }
    }
    for (int i = 0; split && i < ch->n_post; i++)
        if (ch->post[i].as_sum) /* gave wrong results in Silero VAD (tests/controlflow.sh): the
                                   residual goes through the binary path below */
            return LOWP_ERR_UNSUPPORTED;
    if (split)
        dnnl_memory_desc_init_by_tag(&dst_md, nd, dd, dnnl_f32, nxc[nd]);
    else if (priv) /* (INT8 convolutions are fast only channels-last or blocked) */
        dn_md_any(&dst_md, nd, geo.dst, to_float ? dnnl_f32 : dnnl_s32);
    else
        dn_plain_md(&dst_md, to_float ? dnnl_f32 : dnnl_s32, nd, geo.dst);
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 3;
    dnnl_primitive_attr_t attr = NULL;
    dn_chain pch = *ch;
    if (!split) {
        LP_TRY(channel_operands(st, pc, nd, geo.dst, &pch));
        LP_TRY(dn_attr(st, pc, &pch, nd, geo.dst, priv, &attr, args, &na));
    }
    LP_TRY(zp_scale_attr(st, pc, zp, 1.f, &attr));
    dnnl_primitive_desc_t pd;
    LP_TRY(conv_pd(&pd, &src_md, &wei_md, &dst_md, &geo, false, attr));
    dnnl_memory_t ms, mw, md, mcorr = NULL, mafter = NULL;
    dnnl_exec_arg_t zarg;
    int8_t *w8 = malloc((size_t)lp_tensor_numel(w));
    float *corr = malloc((size_t)cv.M * sizeof *corr);
    lp_status r = w8 && corr ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing an integer convolution");
    if (r == LP_OK) {
        convint_weights(g, n, w8, corr);
        r = int8_weights(st, w8, &wei_plain, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    }
    free(w8);
    dnnl_memory_desc_t xplain; /* frames: from x plain */
    if (frames)
        dn_plain_md(&xplain, xdt, 3, conv1.src);
    if (r == LP_OK)
        r = input_q8_as(st, pc, n->in[0], xdt, frames ? &xplain : dn_q_md(pd, DNNL_ARG_SRC), &ms);
    if (r == LP_OK && frames)
        r = dn_frames_of(st, ms, &conv1, xdt, dn_q_md(pd, DNNL_ARG_SRC), &ms);
    if (r == LP_OK && zp == DNNL_RUNTIME_S32_VAL && (r = runtime_src_zp(st, pc, za, &zarg)) == LP_OK)
        args[na++] = zarg;
    if (r == LP_OK && kind == CORR_BROADCAST)
        r = convint_correction(st, pc, &geo, (int32_t)corr[0], zp, &zarg, ms, dn_q_md(pd, DNNL_ARG_SRC), &mcorr);
    if (r == LP_OK && kind == CORR_PER_CHANNEL)
        r = convint_correction_grouped(st, pc, &geo, corr, cv.M, zp, &zarg, ms, dn_q_md(pd, DNNL_ARG_SRC), &mcorr);
    free(corr);
    if (r == LP_OK && kind == CORR_NONE && split) { /* + 0: a zero operand carries the chain */
        int64_t one[5] = { 1, 1, 1, 1, 1 }; /* (nd <= 5) */
        dnnl_memory_desc_t zmd;
        dn_plain_md(&zmd, dnnl_f32, nd, one);
        r = dn_mem_temp(st, &zmd, &mcorr);
    }
    if (r == LP_OK && split) { /* the convolution into the output (channels-last) or a temporary */
        if (out_priv) {
            r = dn_mem_value(st, pc, out_v, &dst_md, &md);
            dn_set_output(st, pc, out_v, &dst_md);
        } else {
            r = dn_mem_temp(st, &dst_md, &md);
        }
    } else if (r == LP_OK && to_float) {
        r = int8_dst(st, pc, ch, out_priv, dn_q_md(pd, DNNL_ARG_DST), NULL, &md, &mafter);
        if (r == LP_OK)
            r = dn_copy_sum_operand(st, pc, ch, md, mafter ? -1 : out_v);
    } else if (r == LP_OK) { /* int32 sums: plain (readers take the bytes as they are) */
        dnnl_memory_desc_t plain;
        dn_plain_md(&plain, dnnl_s32, nd, geo.dst);
        if (dnnl_memory_desc_equal(&plain, dn_q_md(pd, DNNL_ARG_DST)))
            r = dn_mem_value(st, pc, out_v, &plain, &md);
        else if ((r = dn_mem_temp(st, dn_q_md(pd, DNNL_ARG_DST), &md)) == LP_OK)
            r = dn_mem_value(st, pc, out_v, &plain, &mafter);
        dn_set_output(st, pc, out_v, &plain);
        st->out_private = false;
    }
    LP_TRY(int8_exec(st, pc, r, pd, ms, mw, md, NULL, false, args, na));
    if (!split)
        return mafter ? dn_reorder_q(st, md, NULL, mafter, NULL) : LP_OK;
    /* out = chain(conv + correction): a binary add broadcasting the correction over channels
     * (CORR_BROADCAST) or adding it channel by channel (CORR_PER_CHANNEL, the same layout).
     * Binary primitives are fast only with one layout in and out: the chain up to a
     * full-size operand (a residual) is that add's post-ops; the rest goes on a second
     * binary adding the residual converted to the layout of the result. */
    int64_t full = lp_numel(nd, geo.dst), at = ch->n_post;
    for (int i = 0; i < ch->n_post && at == ch->n_post; i++) {
        const dn_post *p = &ch->post[i];
        const lp_shape *vs = p->value >= 0 ? shape(g, p->value) : NULL, *os = shape(g, out_v);
        if (p->kind == DN_POST_BINARY && !p->mem && vs && full > 1 && !per_channel(g, p->value, os) &&
            vs->ndim == os->ndim && memcmp(vs->d, os->d, (size_t)os->ndim * sizeof *os->d) == 0)
            at = i; /* (the output's own shape: a scalar or a per-channel operand of a one-point output is none) */
    }
    dn_chain head = *ch, tail = *ch;
    head.n_post = (int)at;
    tail.n_post = at < ch->n_post ? ch->n_post - (int)at - 1 : 0;
    if (tail.n_post)
        memmove(tail.post, ch->post + at + 1, (size_t)tail.n_post * sizeof *tail.post);
    /* The add sees the spatial dims flattened, (N, M, S) channels-last + (N, 1, S), or (N, M) +
     * (N, 1) for one output point (the same bytes): oneDNN 2.6's binary broadcasting over
     * channels has only a reference kernel when a trailing dim is 1 (a 1-D or Hx1 output). */
    bool bc = kind == CORR_BROADCAST;
    int64_t S = lp_numel(nd - 2, geo.dst + 2), bd[3] = { geo.dst[0], geo.dst[1], S },
            cd[3] = { bc ? geo.dst[0] : 1, 1, bc ? S : 1 };
    int bn = S == 1 ? 2 : 3;
    dnnl_memory_desc_t b_md, c_md;
    if (bn == 3 && bd[1] > 1)
        dn_md_channels_last(&b_md, 3, bd, dnnl_f32);
    else /* (one channel: the same bytes, and the binary wants one layout) */
        dn_plain_md(&b_md, dnnl_f32, bn, bd);
    if (kind == CORR_PER_CHANNEL)
        c_md = b_md;
    else
        dn_plain_md(&c_md, dnnl_f32, bn, cd);
    void *hd = NULL, *hc = NULL; /* (the output value's storage is bound per run: a view of it too) */
    dnnl_memory_get_data_handle(md, &hd);
    dnnl_memory_get_data_handle(mcorr, &hc);
    dnnl_memory_t mb, mc;
    LP_TRY(out_priv ? dn_mem_value(st, pc, out_v, &b_md, &mb) : dn_mem(st, &b_md, hd, &mb));
    LP_TRY(dn_mem(st, &c_md, hc, &mc));
    LP_TRY(channel_operands(st, pc, bn, bd, &head));
    LP_TRY(binary_into(st, pc, &head, bn, bd, dnnl_binary_add, &b_md, mb, &c_md, mc));
    dnnl_memory_desc_t out_md = dst_md;
    dnnl_memory_t mo = md;
    if (!out_priv) {
        dn_plain_md(&out_md, dnnl_f32, nd, geo.dst);
        LP_TRY(dn_mem_value(st, pc, out_v, &out_md, &mo));
        dn_set_output(st, pc, out_v, &out_md);
        LP_TRY(dn_reorder_q(st, md, NULL, mo, NULL));
    }
    if (at == ch->n_post)
        return LP_OK;
    const dn_post *res = &ch->post[at];
    dnnl_memory_t mr;
    LP_TRY(dn_input(st, pc, res->value, &out_md, &mr));
    return binary_into(st, pc, &tail, nd, geo.dst, res->alg, &out_md, mo, &out_md,
                       mr);
}

/* A residual Add as oneDNN's sum post-op first (fast convolutions take no full-size binary
 * post-op), then as a binary one. */
lp_status dn_convint_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    return dn_with_sum(convint_build_one, st, pc, n, ch, priv);
}

/* ---- QuantizeLinear -> DequantizeLinear as 8-bit storage ---- */

/* Channels-last (INT8 convolutions' layout) for a feature map some convolution reads -- or
 * an op that passes 8-bit data on in its layout (MaxPool, Concat, Resize, Slice, Pad: their
 * results feed convolutions again) -- else plain (Reshape and Transpose readers want it so). Other readers (a residual Add, float pooling) dequantize through a
 * reorder from either layout at the same cost, so one such reader is enough to choose
 * channels-last and spare every convolution a reorder of its input. */
void dn_q_layout(const lp_prep_ctx *pc, int v, dnnl_data_type_t dt, dnnl_memory_desc_t *md)
{
    const lp_graph *g = pc->g;
    const lp_shape *s = shape(g, v);
    bool cl_reader = false;
    for (int i = 0; i < g->n_nodes && s->ndim >= 3 && s->ndim <= 5 && !cl_reader; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == v && !g->nodes[i].dead)
                cl_reader |= (g->nodes[i].op == LP_OP_Conv && k == 0) || dn_qmove_keeps_layout(g, i);
    if (cl_reader)
        dn_md_channels_last(md, s->ndim, s->d, dt);
    else
        dn_plain_md(md, dt, s->ndim, s->d);
}

lp_status dn_q_result(dn_step *st, const lp_prep_ctx *pc, int v, const dn_quant *q, bool priv,
                      const dnnl_memory_desc_t *md, dnnl_memory_t *dst, dnnl_memory_t *deq)
{
    *deq = NULL;
    if (priv && dn_value_private_ok(pc, v)) {
        LP_TRY(dn_mem_value(st, pc, v, md, dst));
        dn_set_output(st, pc, v, md);
        st->out_q = *q;
        return LP_OK;
    }
    const lp_shape *s = shape(pc->g, v);
    dnnl_memory_desc_t plain;
    LP_TRY(dn_mem_temp(st, md, dst));
    dn_plain_md(&plain, dnnl_f32, s->ndim, s->d);
    LP_TRY(dn_mem_value(st, pc, v, &plain, deq));
    dn_set_output(st, pc, v, &plain);
    return LP_OK;
}

lp_status dn_qdq_build(dn_step *st, const lp_prep_ctx *pc, const dn_group_info *info, bool priv)
{
    int x = info->qdq_x, v = info->chain.out_value;
    const dn_quant *q = &info->chain.q_tail;
    const lp_shape *s = shape(pc->g, v);
    dnnl_memory_desc_t have, md;
    dn_quant hq = { 0 };
    dn_value_md(pc, x, &have);
    dn_value_quantized(pc, x, &hq);
    dnnl_memory_t src, dst;
    LP_TRY(dn_mem_value(st, pc, x, &have, &src));
    if (priv && dn_value_private_ok(pc, v)) {
        dn_q_layout(pc, v, q->dt, &md);
        LP_TRY(dn_mem_value(st, pc, v, &md, &dst));
        dn_set_output(st, pc, v, &md);
        st->out_q = *q;
        LP_TRY(dn_reorder_q(st, src, &hq, dst, q));
    } else { /* readers want float: quantize, then dequantize into the plain output */
        dnnl_memory_t tmp;
        dn_plain_md(&md, q->dt, s->ndim, s->d);
        LP_TRY(dn_mem_temp(st, &md, &tmp));
        LP_TRY(dn_reorder_q(st, src, &hq, tmp, q));
        dn_plain_md(&md, dnnl_f32, s->ndim, s->d);
        LP_TRY(dn_mem_value(st, pc, v, &md, &dst));
        dn_set_output(st, pc, v, &md);
        LP_TRY(dn_reorder_q(st, tmp, q, dst, NULL));
    }
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%squantize:%s", k ? "," : "", q->dt == dnnl_u8 ? "u8" : "s8");
    return LP_OK;
}
