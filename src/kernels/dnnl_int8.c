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
    dn_conv_dims geo;
    dn_conv_dims_of(&cv, &geo);
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
    if (r == LP_OK)
        r = int8_attr(st, pc, ch, nd, dd, priv, oscale, per_tensor ? 1 : (int)M, per_tensor ? 0 : 1 << 1, &qx, src_zp,
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
    dnnl_memory_t ms, mw, md, mafter = NULL;
    if ((r = dn_input_q(st, pc, n->in[0], dn_q_md(pd, DNNL_ARG_SRC), &qx, &ms)) != LP_OK ||
        (r = dn_const(st, qw->q->data, &wei_plain, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw)) != LP_OK ||
        (r = int8_dst(st, pc, ch, out_priv, dn_q_md(pd, DNNL_ARG_DST), NULL, &md, &mafter)) != LP_OK ||
        (r = dn_copy_sum_operand(st, pc, ch, md, mafter ? -1 : out_v)) != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    note_int8(st);
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, mw };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    args[3] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, mb };
    if (!mb)
        args[3] = args[--na];
    LP_TRY(dn_add_primitive(st, pc, pd, na, args));
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
        r = qw ? dn_const(st, qw->q->data, &wei_view, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw)
               : input_view_q(st, pc, m.b, &qb, &wei_view, &mw);
    bool out_priv = dn_value_private_ok(pc, ch->out_value);
    if (r == LP_OK)
        r = int8_dst(st, pc, ch, out_priv || !ch->q_tail.on, &dst_md, &dst_f32, &md, &mafter);
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    note_int8(st);
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, mw };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    args[3] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, mb };
    if (!mb)
        args[3] = args[--na];
    LP_TRY(dn_add_primitive(st, pc, pd, na, args));
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
    bool zp_runtime = za >= 0 && !dn_value_const(g, za);
    int32_t zp = za >= 0 && !zp_runtime ? (int32_t)lp_tensor_get(g->values[za].init, 0) : 0;
    if (zp_runtime)
        zp = DNNL_RUNTIME_S32_VAL;
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
    dnnl_memory_t ms, mw, md, mz8, mz;
    lp_status r = dn_mem_value(st, pc, n->in[0], &src_md, &ms);
    if (r == LP_OK)
        r = dn_const(st, w->data, &wei_plain, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    if (r == LP_OK)
        r = dn_mem_value(st, pc, out_v, &dst_md, &md);
    if (r == LP_OK && zp_runtime) { /* the zero point, u8 -> s32, before the product */
        int64_t one = 1;
        dnnl_memory_desc_t z8, z32;
        dn_plain_md(&z8, dnnl_u8, 1, &one);
        dn_plain_md(&z32, dnnl_s32, 1, &one);
        if ((r = dn_mem_value(st, pc, za, &z8, &mz8)) == LP_OK && (r = dn_mem_temp(st, &z32, &mz)) == LP_OK &&
            (r = dn_reorder_q(st, mz8, NULL, mz, NULL)) == LP_OK)
            args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, mz };
    }
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

/* ---- QuantizeLinear -> DequantizeLinear as 8-bit storage ---- */

/* Channels-last (INT8 convolutions' layout) for a feature map some convolution reads, else
 * plain. Other readers (a residual Add, pooling) dequantize through a reorder from either
 * layout at the same cost, so one convolution reader is enough to choose channels-last and
 * spare every convolution a reorder of its input. */
static void qdq_layout(const lp_prep_ctx *pc, int v, dnnl_data_type_t dt, dnnl_memory_desc_t *md)
{
    const lp_graph *g = pc->g;
    const lp_shape *s = shape(g, v);
    bool conv_reader = false;
    for (int i = 0; i < g->n_nodes && s->ndim >= 3 && s->ndim <= 5; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == v)
                conv_reader |= g->nodes[i].op == LP_OP_Conv && k == 0;
    if (!conv_reader) {
        dn_plain_md(md, dt, s->ndim, s->d);
        return;
    }
    static const dnnl_format_tag_t tags[6] = { 0, 0, 0, dnnl_acb, dnnl_acdb, dnnl_acdeb };
    dnnl_dims_t d;
    for (int i = 0; i < s->ndim; i++)
        d[i] = s->d[i];
    dnnl_memory_desc_init_by_tag(md, s->ndim, d, dt, tags[s->ndim]);
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
        qdq_layout(pc, v, q->dt, &md);
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
