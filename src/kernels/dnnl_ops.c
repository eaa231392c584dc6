/* dnnl_ops.c — what the oneDNN backend claims and how it builds each op family's
 * primitives: convolution, deconvolution, Gemm/MatMul, pooling, normalizations, softmax,
 * eltwise, binary, concat, transpose, slice and pad. Primitives are created here, once per plan. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/dnnl_internal.h"
#include "ops/conv_ref.h"
#include "ops/reduce.h"
#include "ops/requant.h"
#include "ops/shape_copy.h"

/* ---- small helpers ---- */

static const lp_shape *shape(const lp_graph *g, int v) { return &g->values[v].shape; }

static bool all_f32(const lp_graph *g, const lp_node *n, int first, int last)
{
    for (int k = first; k <= last && k < n->n_in; k++)
        if (n->in[k] >= 0 && !dn_value_f32(g, n->in[k]))
            return false;
    return true;
}

static bool nonempty(const lp_graph *g, int v)
{
    const lp_shape *s = shape(g, v);
    return lp_numel(s->ndim, s->d) > 0;
}

/* Exactly one output used, float32, static, non-empty. */
static bool one_output(const lp_graph *g, const lp_node *n)
{
    for (int k = 1; k < n->n_out; k++)
        if (n->out[k] >= 0)
            return false;
    return n->n_out >= 1 && dn_value_f32(g, n->out[0]) && nonempty(g, n->out[0]);
}

void dn_md_any(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, nd, d, dt, dnnl_format_tag_any);
}

bool dn_md_strided(dnnl_memory_desc_t *md, int nd, const int64_t *dims, const int64_t *strides, dnnl_data_type_t dt)
{
    dnnl_dims_t d, s;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i], s[i] = strides[i];
    return dnnl_memory_desc_init_by_strides(md, nd, d, dt, s) == dnnl_success;
}

/* oneDNN's "ref" implementations are plain loops, slower than lowp's reference kernels. */
static bool is_ref_impl(dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl ||
           strncmp(impl, "ref", 3) == 0;
}

lp_status dn_pd_create(dnnl_primitive_desc_t *pd, const void *desc, dnnl_primitive_attr_t attr)
{
    dnnl_status_t s = dnnl_primitive_desc_create(pd, desc, attr, dn_engine(), NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        *pd = NULL;
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: no implementation");
    }
    if (is_ref_impl(*pd)) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL; /* (callers clean up what is set: never a destroyed descriptor) */
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: only a reference implementation");
    }
    return LP_OK;
}

/* Whether oneDNN has a fast implementation of `desc` with plain layouts (supports checks). */
static bool probe(const void *desc)
{
    dnnl_primitive_desc_t pd;
    if (dn_pd_create(&pd, desc, NULL) != LP_OK) {
        lp_error(LP_OK, "%s", "");
        return false;
    }
    dnnl_primitive_desc_destroy(pd);
    return true;
}

const dnnl_memory_desc_t *dn_q_md(dnnl_primitive_desc_t pd, int arg)
{
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

/* Value v as input bytes described by `view` (same bytes as its plain form, e.g. a
 * transposed or collapsed view): bound directly when stored plain, else via a plain copy. */
static lp_status input_view(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *view,
                            dnnl_memory_t *out)
{
    dnnl_memory_desc_t have, plain;
    dn_value_md(pc, v, &have);
    dn_plain_md(&plain, dnnl_f32, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
    if (dnnl_memory_desc_equal(&have, &plain))
        return dn_mem_value(st, pc, v, view, out);
    dnnl_memory_t tmp;
    LP_TRY(dn_input_plain(st, pc, v, &tmp));
    void *h = NULL;
    dnnl_memory_get_data_handle(tmp, &h);
    return dn_mem(st, view, h, out);
}

lp_status dn_input_view(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *view,
                        dnnl_memory_t *out)
{
    return input_view(st, pc, v, view, out);
}

/* The output value as bytes described by `md` (plain layouts only when not private). */
static lp_status output(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *md, dnnl_memory_t *out)
{
    LP_TRY(dn_mem_value(st, pc, v, md, out));
    dn_set_output(st, pc, v, md);
    return LP_OK;
}

/* Output stored plain but the primitive sees `view` of it (collapsed or expanded dims). */
static lp_status output_view(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *view,
                             dnnl_memory_t *out)
{
    dnnl_memory_desc_t plain;
    dn_plain_md(&plain, dnnl_f32, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
    LP_TRY(dn_mem_value(st, pc, v, view, out));
    dn_set_output(st, pc, v, &plain);
    return LP_OK;
}

/* The output stored as `md` when it may be private, else plain seen through `md`. */
static lp_status output_priv_or_view(dn_step *st, const lp_prep_ctx *pc, int v, bool out_priv,
                                     const dnnl_memory_desc_t *md, dnnl_memory_t *out)
{
    return out_priv ? output(st, pc, v, md, out) : output_view(st, pc, v, md, out);
}

/* r, after freeing pd when r failed: for the steps between creating a primitive descriptor and
 * handing it to dn_add_primitive. */
static lp_status pd_check(dnnl_primitive_desc_t pd, lp_status r)
{
    if (r != LP_OK)
        dnnl_primitive_desc_destroy(pd);
    return r;
}

/* The primitive's dst: the output value itself when it may be stored as `want` (private,
 * or `want` is plain); else a temporary, and *plain_out the plain output to reorder into
 * after the primitive (reorder_out). */
static lp_status output_or_temp(dn_step *st, const lp_prep_ctx *pc, int v, bool out_priv,
                                const dnnl_memory_desc_t *want, dnnl_memory_t *out, dnnl_memory_t *plain_out)
{
    dnnl_memory_desc_t plain;
    dn_plain_md(&plain, dnnl_f32, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
    *plain_out = NULL;
    if (out_priv || dnnl_memory_desc_equal(&plain, want))
        return output(st, pc, v, want, out);
    LP_TRY(dn_mem_temp(st, want, out));
    return output(st, pc, v, &plain, plain_out);
}

static lp_status reorder_out(dn_step *st, dnnl_memory_t from, dnnl_memory_t to)
{
    return dn_reorder_q(st, from, NULL, to, NULL);
}

/* A reorder of `from` (memory with md mf) into a new temporary of md `to`, executed per run. */
static lp_status convert(dn_step *st, dnnl_memory_t from, const dnnl_memory_desc_t *to, dnnl_memory_t *out)
{
    const dnnl_memory_desc_t *mf;
    dnnl_memory_get_memory_desc(from, &mf);
    if (dnnl_memory_desc_equal(mf, to)) {
        *out = from;
        return LP_OK;
    }
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, mf, dn_engine(), to, dn_engine(), NULL) != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: no reorder");
    dnnl_primitive_t r;
    dnnl_status_t s = dnnl_primitive_create(&r, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: no reorder");
    LP_TRY(dn_mem_temp(st, to, out));
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, *out } };
    return dn_add_exec(st, r, 2, args);
}

static dnnl_data_type_t compute_dt(const lp_prep_ctx *pc)
{
    return pc->precision == LOWP_BFLOAT16 && lp_dnnl_bf16_supported() ? dnnl_bf16 : dnnl_f32;
}

/* How a BF16 step stores value v in a private layout: BF16 when every reader runs in BF16
 * too (they would convert it anyway), else float. */
static dnnl_data_type_t private_dt(const lp_prep_ctx *pc, int v, bool out_priv)
{
    return out_priv && compute_dt(pc) == dnnl_bf16 && pc->value_reader_precision &&
                   pc->value_reader_precision[v] == LOWP_BFLOAT16
               ? dnnl_bf16
               : dnnl_f32;
}

/* ---- post-ops ---- */

/* When dims (rank nd) are out's (rank R) with size-1 dims inserted: operand dims sr (aligned to
 * out) mapped onto dims in d1. (Matching greedily is right: where out has a 1, so has sr.) */
static bool ones_inserted(int R, const int64_t *out, const int64_t *sr, int nd, const int64_t *dims, int64_t *d1)
{
    int j = 0;
    for (int k = 0; k < nd; k++) {
        if (j < R && dims[k] == out[j])
            d1[k] = sr[j++];
        else if (dims[k] == 1)
            d1[k] = 1;
        else
            return false;
    }
    return j == R;
}

lp_status dn_attr(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, int nd, const int64_t *dims,
                  bool allow_private, dnnl_primitive_attr_t *attr, dnnl_exec_arg_t *args, int *nargs)
{
    const lp_graph *g = pc->g;
    dnnl_post_ops_t po = NULL;
    if (dnnl_primitive_attr_create(attr) != dnnl_success)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "oneDNN: attr");
    dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (!ch || ch->n_post == 0)
        return LP_OK;
    lp_status r = LP_OK;
    if (dnnl_post_ops_create(&po) != dnnl_success) {
        r = lp_error(LOWP_ERR_OUT_OF_MEMORY, "oneDNN: post-ops");
        goto done;
    }
    const lp_shape *out = shape(g, ch->out_value);
    for (int i = 0; i < ch->n_post && r == LP_OK; i++) {
        const dn_post *p = &ch->post[i];
        if (p->as_sum) {
            if (dnnl_post_ops_append_sum(po, p->sum_scale ? p->sum_scale : 1.f) != dnnl_success)
                r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: sum post-op");
            continue;
        }
        if (p->kind == DN_POST_ELTWISE) {
            if (!dn_post_fits(ch->post, i, p)) /* the fuser never builds such a list */
                r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: two eltwise post-ops of one algorithm with different "
                                                   "parameters (oneDNN would run both with the first one's)");
            else if (dnnl_post_ops_append_eltwise(po, 1.f, p->alg, p->alpha, p->beta) != dnnl_success)
                r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: eltwise post-op");
            continue;
        }
        if (p->mem) {
            if (dnnl_post_ops_append_binary(po, p->alg, &p->md) != dnnl_success)
                r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: binary post-op");
            else
                args[(*nargs)++] = (dnnl_exec_arg_t){ DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, p->mem };
            continue;
        }
        /* The operand's shape right-aligned to the logical output, then fit to the
         * primitive's dims: same rank, all-ones, the full tensor, or collapsed leading dims. */
        const lp_shape *us = shape(g, p->value);
        int R = out->ndim;
        int64_t sr[DNNL_MAX_NDIMS], d1[DNNL_MAX_NDIMS];
        for (int k = 0; k < R; k++) {
            int j = k - (R - us->ndim);
            sr[k] = j >= 0 ? us->d[j] : 1;
        }
        int64_t un = lp_numel(R, sr), on = lp_numel(R, out->d), pn = lp_numel(nd, dims);
        bool full = un == on;
        if (nd == R) {
            memcpy(d1, sr, (size_t)R * sizeof *sr);
        } else if (un == 1) {
            for (int k = 0; k < nd; k++)
                d1[k] = 1;
        } else if (full && pn == on) {
            memcpy(d1, dims, (size_t)nd * sizeof *dims);
        } else if (ones_inserted(R, out->d, sr, nd, dims, d1)) {
            /* dims are the output's with size-1 dims inserted (a 1-D convolution as 2-D) */
        } else if (nd == 2 && R >= 2) {
            int64_t lead = lp_numel(R - 1, sr);
            if ((lead != 1 && lead != dims[0]) || sr[R - 1] != dims[1]) {
                r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: post-op operand shape");
                break;
            }
            d1[0] = lead;
            d1[1] = sr[R - 1];
        } else {
            r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: post-op operand shape");
            break;
        }
        dnnl_memory_desc_t md, have;
        dnnl_memory_t m;
        dn_value_md(pc, p->value, &have);
        bool same_dims = have.ndims == nd && memcmp(have.dims, d1, (size_t)nd * sizeof d1[0]) == 0;
        if (allow_private && same_dims && !dn_value_const(g, p->value) && !dn_value_quantized(pc, p->value, NULL)) {
            md = have; /* a residual kept in a neighbour's layout */
            r = dn_mem_value(st, pc, p->value, &md, &m);
        } else {
            dn_plain_md(&md, dnnl_f32, nd, d1);
            r = input_view(st, pc, p->value, &md, &m);
        }
        if (r == LP_OK && dnnl_post_ops_append_binary(po, p->alg, &md) != dnnl_success)
            r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: binary post-op");
        if (r == LP_OK)
            args[(*nargs)++] = (dnnl_exec_arg_t){ DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, m };
    }
    if (r == LP_OK && dnnl_primitive_attr_set_post_ops(*attr, po) != dnnl_success)
        r = lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: post-ops");
done:
    if (po)
        dnnl_post_ops_destroy(po);
    if (r != LP_OK) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return r;
}

/* The descriptor of one binary primitive, dst = post-ops(src0 `alg` src1), with the chain's
 * post-ops (dn_attr over dims, allow_private as there): args[3..*nargs) get the post-ops'
 * operands; args[0..2] are the caller's (SRC_0, SRC_1, DST). */
static lp_status binary_pd(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, int nd, const int64_t *dims,
                           bool allow_private, dnnl_alg_kind_t alg, const dnnl_memory_desc_t *src0_md,
                           const dnnl_memory_desc_t *src1_md, const dnnl_memory_desc_t *dst_md,
                           dnnl_primitive_desc_t *pd, dnnl_exec_arg_t *args, int *nargs)
{
    *nargs = 3;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, ch, nd, dims, allow_private, &attr, args, nargs));
    dnnl_binary_desc_t d;
    if (dnnl_binary_desc_init(&d, alg, src0_md, src1_md, dst_md) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: binary descriptor");
    }
    return dn_pd_create(pd, &d, attr);
}

/* ---- sum post-ops: a residual Add done in place ---- */

/* How many times the step's nodes read value v. */
static int step_reads(const lp_prep_ctx *pc, int v)
{
    int k = 0;
    for (int j = 0; j < pc->n_nodes; j++) {
        const lp_node *n = &pc->g->nodes[pc->nodes[j]];
        for (int i = 0; i < n->n_in; i++)
            k += n->in[i] == v;
    }
    return k;
}

/* The residual of a sum post-op, copied into dst before the primitive accumulates onto it
 * (into a quantized dst: quantized as the residual's DequantizeLinear says, whose scale the
 * sum post-op's scale undoes); or summed in place, when dst is value dst_value's storage, the
 * residual is stored exactly so (layout, data type, quantization) and nothing reads it after
 * this step. */
lp_status dn_copy_sum_operand(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, dnnl_memory_t dst,
                              int dst_value)
{
    for (int i = 0; i < ch->n_post; i++) {
        if (!ch->post[i].as_sum)
            continue;
        int v = ch->post[i].value;
        dn_quant want_q = { 0 }, have_q = { 0 };
        if (ch->q_tail.on && !dn_value_dq(pc->g, v, &want_q))
            return LOWP_ERR_UNSUPPORTED;
        dn_value_quantized(pc, v, &have_q);
        bool same_q = have_q.on == want_q.on && (!have_q.on || (have_q.dt == want_q.dt && have_q.scale == want_q.scale &&
                                                                 have_q.zp == want_q.zp));
        dnnl_memory_desc_t have;
        const dnnl_memory_desc_t *want;
        dn_value_md(pc, v, &have);
        dnnl_memory_get_memory_desc(dst, &want);
        if (dst_value >= 0 && same_q && dnnl_memory_desc_equal(&have, want) && step_reads(pc, v) == 1 &&
            lp_prep_may_overwrite(pc, dst_value, v)) {
            st->share_in = v;
            return LP_OK;
        }
        return dn_copy_into(st, pc, v, dst, &want_q);
    }
    return LP_OK;
}

/* Builds with the first residual Add (a full-size runtime operand) as a sum post-op, which
 * keeps oneDNN's fastest convolutions (they take no full-size binary operand); then, if that
 * fails, as a binary post-op. */
lp_status dn_with_sum(dn_build_fn build, dn_step *st, const lp_prep_ctx *pc, const lp_node *n,
                          const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    const lp_shape *os = shape(g, ch->out_value);
    for (int i = 0; i < ch->n_post; i++) {
        const dn_post *p = &ch->post[i];
        if (p->kind != DN_POST_BINARY || p->alg != dnnl_binary_add || p->mem || p->value < 0 ||
            dn_value_const(g, p->value) || lp_numel(shape(g, p->value)->ndim, shape(g, p->value)->d) != lp_numel(os->ndim, os->d))
            continue;
        dn_chain c2 = *ch;
        c2.post[i].as_sum = true;
        dn_mark m = dn_checkpoint(st);
        lp_status r = build(st, pc, n, &c2, priv);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY)
            return r;
        dn_rollback(st, m);
        break;
    }
    return build(st, pc, n, ch, priv);
}

/* ---- Conv ---- */

bool dn_conv_geometry(const lp_graph *g, const lp_node *n, lp_conv *cv)
{
    lp_tensor x, w;
    const lp_shape *xs = shape(g, n->in[0]), *ws = shape(g, n->in[1]);
    lp_tensor_view(&x, LOWP_FLOAT, xs->ndim, xs->d, NULL);
    lp_tensor_view(&w, LOWP_FLOAT, ws->ndim, ws->d, NULL);
    lp_status s = lp_conv_setup(n, &x, &w, cv);
    if (s != LP_OK)
        lp_error(LP_OK, "%s", ""); /* not ours to report: the reference kernel will */
    return s == LP_OK;
}

void dn_conv_dims_of(const lp_conv *cv, dn_conv_dims *d)
{
    const lp_window *w = &cv->win;
    int nsp = w->nsp, off = LP_SP - nsp;
    d->nd = nsp + 2;
    d->src[0] = cv->N, d->src[1] = cv->C, d->dst[0] = cv->N, d->dst[1] = cv->M;
    d->wn = 0;
    if (cv->group > 1)
        d->wei[d->wn++] = cv->group;
    d->wei[d->wn++] = cv->M / cv->group;
    d->wei[d->wn++] = cv->C / cv->group;
    d->padded = false;
    for (int i = 0; i < nsp; i++) {
        d->src[2 + i] = w->in[off + i];
        d->dst[2 + i] = w->out[off + i];
        d->wei[d->wn++] = w->k[off + i];
        d->strides[i] = w->stride[off + i];
        d->dil[i] = w->dil[off + i] - 1;
        d->pad_l[i] = w->pad0[off + i];
        d->pad_r[i] = w->pad1[off + i];
        d->padded |= d->pad_l[i] != 0 || d->pad_r[i] > 0;
    }
}

static bool conv_supports(const lp_graph *g, const lp_node *n)
{
    lp_conv cv;
    if (n->n_in < 2 || !all_f32(g, n, 0, 2) || !one_output(g, n) || !dn_value_const(g, n->in[1]) ||
        (n->n_in > 2 && n->in[2] >= 0 && !dn_value_const(g, n->in[2])))
        return false;
    int r = shape(g, n->in[0])->ndim;
    return r >= 3 && r <= 5 && shape(g, n->in[1])->ndim == r && nonempty(g, n->in[0]) && dn_conv_geometry(g, n, &cv) &&
           cv.group >= 1 && cv.C % cv.group == 0 && cv.M % cv.group == 0;
}

/* Adds primitive pd's execution with src, weights, dst and an optional bias (NULL: none) in
 * args[0..3]; args[4..na) are the post-ops' operands dn_attr added. */
static lp_status add_weighted(dn_step *st, const lp_prep_ctx *pc, dnnl_primitive_desc_t pd, dnnl_memory_t src,
                              dnnl_memory_t wei, dnnl_memory_t dst, dnnl_memory_t bias, dnnl_exec_arg_t *args, int na)
{
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, src };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, wei };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, dst };
    args[3] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, bias };
    if (!bias) /* drop the bias slot */
        args[3] = args[--na];
    return dn_add_primitive(st, pc, pd, na, args);
}

/* The rest of a Conv / ConvTranspose build: the primitive for descriptor `desc` (consumes
 * `attr`), then source (`src`, or node input 0 as the primitive wants it), constant weights
 * (`wei_data` as `wei_plain`), optional bias, destination (or a temporary reordered into the
 * plain output) and the residual sum operand, then the step. */
static lp_status weighted_finish_src(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                                     const void *desc, dnnl_primitive_attr_t attr, dnnl_memory_t src,
                                     const void *wei_data, const dnnl_memory_desc_t *wei_plain,
                                     const dnnl_memory_desc_t *bia_md, int out_v, bool out_priv,
                                     dnnl_exec_arg_t *args, int na)
{
    const lp_graph *g = pc->g;
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, desc, attr));
    dnnl_memory_t ms = src, mw, mb = NULL, md, mplain = NULL;
    lp_status r;
    if ((!src && (r = dn_input(st, pc, n->in[0], dn_q_md(pd, DNNL_ARG_SRC), &ms)) != LP_OK) ||
        (r = dn_const(st, wei_data, wei_plain, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw)) != LP_OK ||
        (bia_md && (r = dn_mem(st, bia_md, g->values[n->in[2]].init->data, &mb)) != LP_OK) ||
        (r = output_or_temp(st, pc, out_v, out_priv, dn_q_md(pd, DNNL_ARG_DST), &md, &mplain)) != LP_OK ||
        (r = dn_copy_sum_operand(st, pc, ch, md, mplain ? -1 : out_v)) != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    LP_TRY(add_weighted(st, pc, pd, ms, mw, md, mb, args, na));
    return mplain ? reorder_out(st, md, mplain) : LP_OK;
}

static lp_status weighted_finish(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                                 const void *desc, dnnl_primitive_attr_t attr, const dnnl_memory_desc_t *wei_plain,
                                 const dnnl_memory_desc_t *bia_md, int out_v, bool out_priv, dnnl_exec_arg_t *args,
                                 int na)
{
    return weighted_finish_src(st, pc, n, ch, desc, attr, NULL, pc->g->values[n->in[1]].init->data, wei_plain, bia_md,
                               out_v, out_priv, args, na);
}

/* Winograd F(2x2,3x3) / F(4x4,3x3), oneDNN's jit_*_wino kernels, does a 3x3 stride-1
 * convolution in fewer multiplications: on ResNet-50's 3x3 layers (64-512 channels) it is
 * 1.4-1.8x faster than the direct kernels, with the same error against the reference
 * (docs/engine.md). With few channels the direct kernels win, so: FP32, one group, 3x3,
 * stride 1, no dilation, at least 64 input and output channels. LOWP_WINOGRAD=0 turns it off. */
static bool winograd_fits(const lp_conv *cv, const dn_conv_dims *geo, dnnl_data_type_t dt)
{
    const char *env = getenv("LOWP_WINOGRAD");
    if (dt != dnnl_f32 || (env && strcmp(env, "0") == 0) || geo->nd != 4 || cv->group != 1 || cv->C < 64 ||
        cv->M < 64)
        return false;
    for (int i = 0; i < 2; i++)
        if (geo->wei[2 + i] != 3 || geo->strides[i] != 1 || geo->dil[i] != 0)
            return false;
    return true;
}

/* Reorder planning (docs/engine.md, "Layouts"): Winograd convolutions take and give nChw16c,
 * oneDNN's direct FP32 kernel of choice (brgconv) channels-last, and every place where one
 * meets the other costs a reorder (IS-Net FP32: 26-34 per run, around its Concats). Giving
 * the direct convolutions nChw16c too (oneDNN's blocked direct kernels) removes most of them,
 * but measured on IS-Net FP32 (CPU time per run, 6 interleaved rounds) the blocked direct
 * kernels cost more than the reorders they save (~10 % slower per run): oneDNN's choice stays
 * the rule, and LOWP_CONV_LAYOUT=blocked selects the one-layout plan (FP32 plans with a
 * Winograd convolution) to measure it on other CPUs and models. */
static bool graph_prefers_blocked(const lp_prep_ctx *pc)
{
    const char *env = getenv("LOWP_CONV_LAYOUT");
    if (!env || strcmp(env, "blocked") != 0 || compute_dt(pc) != dnnl_f32)
        return false;
    const lp_graph *g = pc->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        lp_conv cv;
        dn_conv_dims geo;
        if (n->dead || n->op != LP_OP_Conv || n->n_in < 2 || n->in[0] < 0 || !dn_value_f32(g, n->in[0]) ||
            dn_int8_leader(g, pc->qconst, i) || !dn_conv_geometry(g, n, &cv))
            continue;
        dn_conv_dims_of(&cv, &geo);
        if (winograd_fits(&cv, &geo, dnnl_f32))
            return true;
    }
    return false;
}

/* The channel-blocked FP32 md (nCw16c / nChw16c / nCdhw16c) of dims (rank 3-5). */
static void md_blocked16(dnnl_memory_desc_t *md, int nd, const int64_t *dims)
{
    static const dnnl_format_tag_t tags[6] = { 0, 0, 0, dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b };
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tags[nd]);
}

static lp_status conv_build_alg(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv,
                                const lp_conv *cv, const dn_conv_dims *geo, dnnl_alg_kind_t alg, bool blocked)
{
    int nd = geo->nd, wn = geo->wn;
    const int64_t *sd = geo->src, *wd = geo->wei, *dd = geo->dst;
    dnnl_data_type_t dt = compute_dt(pc);
    int out_v = ch->out_value;
    bool out_priv = priv && dn_value_private_ok(pc, out_v);
    bool wino = alg == dnnl_convolution_winograd; /* its source and destination are blocked */
    dnnl_memory_desc_t src_md, wei_md, bia_md, dst_md, wei_plain;
    if (priv || wino || dt != dnnl_f32)
        dn_md_any(&src_md, nd, sd, dt);
    else
        dn_plain_md(&src_md, dt, nd, sd);
    dn_md_any(&wei_md, wn, wd, dt);
    dn_plain_md(&wei_plain, dnnl_f32, wn, wd);
    bool has_bias = n->n_in > 2 && n->in[2] >= 0;
    if (has_bias)
        dn_plain_md(&bia_md, dnnl_f32, 1, &cv->M);
    if (priv || wino) /* plain outputs too: a blocked convolution plus a reorder beats a plain one */
        dn_md_any(&dst_md, nd, dd, private_dt(pc, out_v, out_priv));
    else
        dn_plain_md(&dst_md, dnnl_f32, nd, dd);
    if (blocked) { /* graph_prefers_blocked */
        if (cv->C >= 16)
            md_blocked16(&src_md, nd, sd);
        if (out_priv)
            md_blocked16(&dst_md, nd, dd);
    }
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 4;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, ch, nd, dd, priv, &attr, args, &na));
    dnnl_convolution_desc_t cd;
    if (dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, &src_md, &wei_md,
                                                   has_bias ? &bia_md : NULL, &dst_md, geo->strides, geo->dil,
                                                   geo->pad_l, geo->pad_r) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: convolution descriptor");
    }
    return weighted_finish(st, pc, n, ch, &cd, attr, &wei_plain, has_bias ? &bia_md : NULL, out_v, out_priv,
                           args, na);
}

/* A 1-D convolution of one input channel with a large stride s -- an STFT exported as Conv
 * (openWakeWord's melspectrogram: k = 512, s = 160, 257 filters) -- as a matrix product over
 * frames: F[t][i] = x[t*s + i] (im2col), y[o][t] = sum_i w[o][i] F[t][i] + b[o] = (w F^T)[o][t].
 * Measured on that STFT (docs/performance.md, "1-D large-stride convolutions"), oneDNN's
 * direct brgconv kernel already runs it as fast as this matmul (0.54 vs 0.55 ms per conv) and
 * faster than a phase-decomposed stride-1 form (0.69 ms); bench/conv1d_bench.c measured it
 * again at batch 1 and 16 on short inputs too (0.6-1.5x of the direct kernel, within the
 * load's noise): the rule is the direct convolution, and this formulation runs only with
 * LOWP_CONV_FRAMES=1, to measure it again on other shapes or CPUs (test_kernels checks it
 * against the reference). Same products, another order. INT8 does gain (dnnl_frames.c). */
static bool frames_fits(const lp_conv *cv, const dn_conv_dims *geo, const dn_chain *ch, dnnl_data_type_t dt)
{
    const char *env = getenv("LOWP_CONV_FRAMES");
    return env && strcmp(env, "1") == 0 && dt == dnnl_f32 && geo->nd == 3 && cv->group == 1 && cv->C == 1 &&
           cv->N == 1 && ch->n_post == 0 && geo->dil[0] == 0 && geo->pad_l[0] == 0 && geo->pad_r[0] <= 0;
}

static lp_status conv_build_frames(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                                   const dn_conv_dims *geo)
{
    const lp_graph *g = pc->g;
    int x = n->in[0], out_v = ch->out_value;
    int64_t s = geo->strides[0], k = geo->wei[2], O = geo->dst[1], T = geo->dst[2];
    /* the frames (dnnl_frames.c): (1, k, T) channels-last, the same bytes as (T, k) plain */
    int64_t fd[2] = { T, k }, fd3[3] = { 1, k, T };
    if ((k + s - 1) / s > DN_MAX_EXEC - 2 || (T - 1) * s + k > geo->src[2]) /* the frames stay inside x */
        return LOWP_ERR_UNSUPPORTED;
    dnnl_memory_desc_t fplain, fnwc;
    dn_plain_md(&fplain, dnnl_f32, 2, fd);
    dn_md_channels_last(&fnwc, 3, fd3, dnnl_f32);
    dnnl_memory_t mf;
    LP_TRY(dn_frames_input(st, pc, x, geo, NULL, &fnwc, &mf));
    LP_TRY(dn_mem_as(st, mf, &fplain, &mf));
    /* (T,k) x (k,O) + b: the frames by the transposed weights (prepacked once); the (T,O)
     * result is reordered into the (O,T) output */
    int64_t wd[2] = { k, O }, ws[2] = { 1, k }, cd[2] = { T, O }, cs[2] = { 1, T }, biad[2] = { 1, O };
    dnnl_memory_desc_t w_view, w_md, c_md, c_out, bia_md;
    dn_md_strided(&w_view, 2, wd, ws, dnnl_f32);
    dn_md_any(&w_md, 2, wd, dnnl_f32);
    dn_plain_md(&c_md, dnnl_f32, 2, cd);
    dn_md_strided(&c_out, 2, cd, cs, dnnl_f32);
    bool has_bias = n->n_in > 2 && n->in[2] >= 0;
    if (has_bias)
        dn_plain_md(&bia_md, dnnl_f32, 2, biad);
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 4;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, ch, 2, cd, false, &attr, args, &na));
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &fplain, &w_md, has_bias ? &bia_md : NULL, &c_md) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: matmul descriptor");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    dnnl_memory_t mw, mbias = NULL, mc, mo;
    lp_status r = dn_const(st, g->values[n->in[1]].init->data, &w_view, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    if (r == LP_OK && has_bias)
        r = dn_mem(st, &bia_md, g->values[n->in[2]].init->data, &mbias);
    if (r == LP_OK)
        r = dn_mem_temp(st, &c_md, &mc);
    if (r == LP_OK)
        r = output_view(st, pc, out_v, &c_out, &mo);
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    LP_TRY(add_weighted(st, pc, pd, mf, mw, mc, mbias, args, na));
    return reorder_out(st, mc, mo);
}

/* A 1-D depthwise convolution as 2-D with H = 1: oneDNN 2.6 has no fast 1-D depthwise kernel
 * (its 1-D form lands on x64:gemm:jit, one small GEMM per channel and image) but two 2-D ones,
 * brdgmm_dw (channels-last) and jit_dw (nChw16c), which take any channel count. Measured
 * (bench/conv1d_bench.c, docs/performance.md "1-D convolutions"): Silero VAD v4's 258-channel
 * k 5 conv at batch 16 drops from ~1.7 ms to ~8 us; 16-512 channels, 2-1000 positions,
 * strides, dilations: 10-300x. Grouped (C/g > 1) and ordinary 1-D convolutions run the same
 * kernel in both forms, so only depthwise ones are rewritten. The values keep their rank:
 * the primitive sees (N, C, 1, W) views of them (dn_md_reshape). */
static bool conv1d_as_2d(const lp_conv *cv, const dn_conv_dims *geo, dn_conv_dims *out)
{
    const char *env = getenv("LOWP_CONV1D_AS_2D");
    if (geo->nd != 3 || cv->group < 2 || cv->C != cv->group || cv->M != cv->group || (env && strcmp(env, "0") == 0))
        return false;
    *out = *geo;
    out->nd = 4;
    out->src[2] = out->dst[2] = out->wei[out->wn - 1] = 1; /* H = 1, and kernel height 1 */
    out->src[3] = geo->src[2], out->dst[3] = geo->dst[2], out->wei[out->wn++] = geo->wei[geo->wn - 1];
    out->strides[0] = 1, out->dil[0] = 0, out->pad_l[0] = out->pad_r[0] = 0;
    out->strides[1] = geo->strides[0], out->dil[1] = geo->dil[0];
    out->pad_l[1] = geo->pad_l[0], out->pad_r[1] = geo->pad_r[0];
    return true;
}

static lp_status conv_build1(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    lp_conv cv;
    if (!dn_conv_geometry(pc->g, n, &cv))
        return LOWP_ERR_UNSUPPORTED;
    dn_conv_dims geo, geo2;
    dn_conv_dims_of(&cv, &geo);
    if (priv && conv1d_as_2d(&cv, &geo, &geo2)) { /* (with plain layouts it lands on gemm again) */
        dn_mark m = dn_checkpoint(st);
        lp_status r = conv_build_alg(st, pc, n, ch, priv, &cv, &geo2, dnnl_convolution_direct, false);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY)
            return r;
        dn_rollback(st, m);
        lp_error(LP_OK, "%s", "");
    }
    if (frames_fits(&cv, &geo, ch, compute_dt(pc))) {
        dn_mark m = dn_checkpoint(st);
        lp_status r = conv_build_frames(st, pc, n, ch, &geo);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY)
            return r;
        dn_rollback(st, m);
        lp_error(LP_OK, "%s", "");
    }
    if (winograd_fits(&cv, &geo, compute_dt(pc))) {
        dn_mark m = dn_checkpoint(st);
        lp_status r = conv_build_alg(st, pc, n, ch, priv, &cv, &geo, dnnl_convolution_winograd, false);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY)
            return r;
        dn_rollback(st, m); /* no Winograd kernel for this CPU or case */
        lp_error(LP_OK, "%s", "");
    }
    if (priv && compute_dt(pc) == dnnl_f32 && geo.nd >= 3 && cv.group == 1 && cv.M >= 16 &&
        graph_prefers_blocked(pc)) {
        dn_mark m = dn_checkpoint(st);
        lp_status r = conv_build_alg(st, pc, n, ch, priv, &cv, &geo, dnnl_convolution_direct, true);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY)
            return r;
        dn_rollback(st, m); /* no fast blocked kernel: oneDNN's choice */
        lp_error(LP_OK, "%s", "");
    }
    return conv_build_alg(st, pc, n, ch, priv, &cv, &geo, dnnl_convolution_direct, false);
}

/* INT8 when the node is a quantized pattern (an INT8 result then, or nothing: a chain that
 * ends in a quantized value has no float build); else float. */
static lp_status int8_or(dn_build_fn int8, dn_build_fn f32, bool f32_sum, dn_step *st, const lp_prep_ctx *pc,
                         const lp_node *n, const dn_chain *ch, bool priv)
{
    if (dn_int8_leader(pc->g, pc->qconst, (int)(n - pc->g->nodes))) {
        dn_mark m = dn_checkpoint(st);
        lp_status r = dn_with_sum(int8, st, pc, n, ch, priv);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY || ch->q_tail.on)
            return r;
        dn_rollback(st, m);
        lp_error(LP_OK, "%s", "");
    }
    if (ch->q_tail.on)
        return LOWP_ERR_UNSUPPORTED;
    return f32_sum ? dn_with_sum(f32, st, pc, n, ch, priv) : f32(st, pc, n, ch, priv);
}

static lp_status conv_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    return int8_or(dn_conv_int8, conv_build1, true, st, pc, n, ch, priv);
}

/* ---- ConvTranspose ---- */

static int64_t floor_half(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

/* oneDNN's deconvolution geometry of node n (ONNX's rules for pads, auto_pad, output_shape). */
static bool deconv_geometry(const lp_graph *g, const lp_node *n, int64_t *strides, int64_t *dil, int64_t *pl,
                            int64_t *pr)
{
    const lp_shape *xs = shape(g, n->in[0]), *ws = shape(g, n->in[1]), *ys = shape(g, n->out[0]);
    int nsp = xs->ndim - 2;
    const int64_t *v;
    const char *ap = lp_attr_str(n, "auto_pad", "NOTSET");
    bool upper = strcmp(ap, "SAME_UPPER") == 0, same = upper || strcmp(ap, "SAME_LOWER") == 0;
    bool have_os = lp_attr_ints(n, "output_shape", &v) >= 0;
    const int64_t *s = NULL, *d = NULL, *p = NULL, *op = NULL;
    if ((lp_attr_ints(n, "strides", &s) >= 0 && lp_attr_ints(n, "strides", &s) != nsp) ||
        (lp_attr_ints(n, "dilations", &d) >= 0 && lp_attr_ints(n, "dilations", &d) != nsp) ||
        (lp_attr_ints(n, "pads", &p) >= 0 && lp_attr_ints(n, "pads", &p) != 2 * nsp) ||
        (lp_attr_ints(n, "output_padding", &op) >= 0 && lp_attr_ints(n, "output_padding", &op) != nsp))
        return false;
    for (int i = 0; i < nsp; i++) {
        int64_t si = s ? s[i] : 1, di = d ? d[i] : 1, opi = op ? op[i] : 0;
        int64_t in = xs->d[2 + i], k = ws->d[2 + i], out = ys->d[2 + i];
        int64_t dk = (k - 1) * di + 1, full = si * (in - 1) + opi + dk;
        if (have_os || same) {
            int64_t total = full - out;
            pl[i] = upper ? floor_half(total) : total - floor_half(total);
        } else {
            pl[i] = strcmp(ap, "VALID") == 0 || !p ? 0 : p[i];
        }
        pr[i] = (in - 1) * si + dk - pl[i] - out;
        strides[i] = si;
        dil[i] = di - 1;
        if (pl[i] < 0 || pr[i] < 0 || si < 1 || di < 1)
            return false;
    }
    return true;
}

static bool deconv_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 2 || !all_f32(g, n, 0, 2) || !one_output(g, n) || !dn_value_const(g, n->in[1]) ||
        (n->n_in > 2 && n->in[2] >= 0 && !dn_value_const(g, n->in[2])))
        return false;
    int r = shape(g, n->in[0])->ndim;
    int64_t s[LP_SP], d[LP_SP], pl[LP_SP], pr[LP_SP];
    int64_t group = lp_attr_int(n, "group", 1);
    return r >= 3 && r <= 5 && shape(g, n->in[1])->ndim == r && nonempty(g, n->in[0]) && group >= 1 &&
           shape(g, n->in[0])->d[1] % group == 0 && deconv_geometry(g, n, s, d, pl, pr);
}

/* How ConvTranspose builds (docs/engine.md, "ConvTranspose"). oneDNN 2.6's deconvolution
 * applies its bias and post-ops in a scalar reference loop (40-60x the convolution itself), so
 * by default: kernel == stride to at least 16 channel-kernel positions as a 1x1 convolution +
 * pixel shuffle (dnnl_deconv.c); otherwise the deconvolution alone, then the bias and post-ops
 * as one binary primitive over its result. LOWP_DECONV=split skips the 1x1 form,
 * LOWP_DECONV=fused builds the deconvolution with fused bias and post-ops as before: both only
 * to measure (bench/deconv_bench.c). */
typedef enum deconv_mode { DECONV_FAST, DECONV_SPLIT, DECONV_FUSED } deconv_mode;

static deconv_mode deconv_mode_env(void)
{
    const char *env = getenv("LOWP_DECONV");
    return !env ? DECONV_FAST : strcmp(env, "split") == 0 ? DECONV_SPLIT : strcmp(env, "fused") == 0 ? DECONV_FUSED
                                                                                                     : DECONV_FAST;
}

/* The split form's second primitive: out = post-ops(out + bias) in place, in the layout the
 * deconvolution stored it (st->out_md), the bias laid out alike (oneDNN's binary kernel wants
 * that); with no bias, + 0: a zero operand carries the post-ops. */
static lp_status deconv_post(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool out_priv)
{
    const lp_graph *g = pc->g;
    int out_v = ch->out_value, nd = shape(g, out_v)->ndim;
    const int64_t *yd = shape(g, out_v)->d;
    int64_t bd[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++)
        bd[i] = 1;
    bool has_bias = n->n_in > 2 && n->in[2] >= 0;
    if (has_bias)
        bd[1] = yd[1];
    dnnl_memory_desc_t y_md = st->out_md, b_plain, b_md;
    dn_plain_md(&b_plain, dnnl_f32, nd, bd);
    dn_md_like(&y_md, nd, bd, &b_md);
    dnnl_memory_t my, mb;
    LP_TRY(dn_mem_value(st, pc, out_v, &y_md, &my));
    LP_TRY(has_bias ? dn_const(st, g->values[n->in[2]].init->data, &b_plain, &b_md, &mb) : dn_mem_temp(st, &b_md, &mb));
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na;
    dnnl_primitive_desc_t pd;
    LP_TRY(binary_pd(st, pc, ch, nd, yd, out_priv, dnnl_binary_add, &y_md, &b_md, &y_md, &pd, args, &na));
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_0, my };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_1, mb };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, my };
    return dn_add_primitive(st, pc, pd, na, args);
}

/* The deconvolution primitive; `split`: without bias and post-ops (deconv_post adds them);
 * `any_dst`: the destination in oneDNN's layout of choice (stored so when the output may be
 * private, else reordered to plain before deconv_post). */
static lp_status deconv_build_alg(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv,
                                  bool split, bool any_dst, const int64_t *s, const int64_t *d, const int64_t *pl,
                                  const int64_t *pr)
{
    const lp_graph *g = pc->g;
    const lp_shape *xs = shape(g, n->in[0]), *ws = shape(g, n->in[1]), *ys = shape(g, n->out[0]);
    int nd = xs->ndim, nsp = nd - 2;
    int64_t group = lp_attr_int(n, "group", 1), C = xs->d[1], Mg = ws->d[1];
    int64_t wd[DNNL_MAX_NDIMS];
    int wn = 0;
    /* ONNX weights (C, M/g, k...) are oneDNN's "iohw" / "giohw" */
    if (group > 1)
        wd[wn++] = group;
    wd[wn++] = Mg;
    wd[wn++] = C / group;
    for (int i = 0; i < nsp; i++)
        wd[wn++] = ws->d[2 + i];
    /* strides of the (g,) o, i, k... view over ONNX's (g,) i, o, k... bytes */
    int64_t wstr[DNNL_MAX_NDIMS], kprod = 1;
    for (int i = wn - 1; i >= wn - nsp; i--) {
        wstr[i] = kprod;
        kprod *= wd[i];
    }
    int o = group > 1 ? 1 : 0;
    wstr[o] = kprod;                         /* o */
    wstr[o + 1] = Mg * kprod;                /* i */
    if (group > 1)
        wstr[0] = (C / group) * Mg * kprod;  /* g */
    dnnl_memory_desc_t src_md, wei_md, wei_plain, bia_md, dst_md;
    dn_md_strided(&wei_plain, wn, wd, wstr, dnnl_f32);
    dnnl_data_type_t dt = compute_dt(pc);
    int out_v = ch->out_value;
    bool out_priv = priv && any_dst && dn_value_private_ok(pc, out_v);
    if (priv || any_dst || dt != dnnl_f32)
        dn_md_any(&src_md, nd, xs->d, dt);
    else
        dn_plain_md(&src_md, dt, nd, xs->d);
    dn_md_any(&wei_md, wn, wd, dt);
    bool has_bias = n->n_in > 2 && n->in[2] >= 0;
    int64_t M = ys->d[1];
    if (has_bias)
        dn_plain_md(&bia_md, dnnl_f32, 1, &M);
    if (any_dst)
        dn_md_any(&dst_md, nd, ys->d, dnnl_f32);
    else
        dn_plain_md(&dst_md, dnnl_f32, nd, ys->d);
    dnnl_dims_t ds, dd, dl, dr;
    for (int i = 0; i < nsp; i++)
        ds[i] = s[i], dd[i] = d[i], dl[i] = pl[i], dr[i] = pr[i];
    const dn_chain none = { .out_value = out_v };
    const dn_chain *fused = split ? &none : ch;
    bool fused_bias = has_bias && !split;
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 4;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, fused, nd, ys->d, priv, &attr, args, &na));
    dnnl_deconvolution_desc_t cd;
    if (dnnl_dilated_deconvolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md,
                                                     &wei_md, fused_bias ? &bia_md : NULL, &dst_md, ds, dd, dl,
                                                     dr) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: deconvolution descriptor");
    }
    LP_TRY(weighted_finish(st, pc, n, fused, &cd, attr, &wei_plain, fused_bias ? &bia_md : NULL, out_v, out_priv,
                           args, na));
    return split ? deconv_post(st, pc, n, ch, out_priv) : LP_OK;
}

static lp_status deconv_build1(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    int64_t s[LP_SP], d[LP_SP], pl[LP_SP], pr[LP_SP];
    if (!deconv_geometry(g, n, s, d, pl, pr))
        return LOWP_ERR_UNSUPPORTED;
    deconv_mode mode = deconv_mode_env();
    const lp_shape *ws = shape(g, n->in[1]);
    int64_t group = lp_attr_int(n, "group", 1), Mg = ws->d[1], MK = lp_numel(ws->ndim - 1, ws->d + 1);
    /* the 1x1 form: below 16 channel-kernel positions (PP-OCR's 1-channel head: 4) the
       channels-last 1x1 kernels run mostly empty vector lanes and the split form is faster
       (0.2 vs 1.1 ms on that head, bench/deconv_bench.c) */
    if (mode == DECONV_FAST && compute_dt(pc) == dnnl_f32 && MK >= 16 && dn_deconv_shuffle_fits(g, n, s, d, pl, pr)) {
        dn_mark m = dn_checkpoint(st);
        lp_status r = dn_deconv_shuffle(st, pc, n, ch);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY)
            return r;
        dn_rollback(st, m); /* post-ops it cannot take: the deconvolution */
        lp_error(LP_OK, "%s", "");
    }
    bool has_bias = n->n_in > 2 && n->in[2] >= 0;
    bool split = mode != DECONV_FUSED && (has_bias || ch->n_post > 0);
    for (int i = 0; split && i < ch->n_post; i++)
        if (ch->post[i].as_sum) /* the split form adds a residual as a binary post-op */
            return LOWP_ERR_UNSUPPORTED;
    if (!split)
        return deconv_build_alg(st, pc, n, ch, priv, false, priv, s, d, pl, pr);
    /* oneDNN's blocked deconvolution (format any) is 3-10x faster than its plain (gemm) one,
       except with few output channels per group, which the 16-channel blocks pad (1 -> 16:
       25x slower on PP-OCR's 1-channel head); its binary kernel takes blocked data when the
       bias is blocked alike, else the plain form */
    if (Mg >= 16 || group > 1) {
        dn_mark m = dn_checkpoint(st);
        lp_status r = deconv_build_alg(st, pc, n, ch, priv, true, true, s, d, pl, pr);
        if (r == LP_OK || r == LOWP_ERR_OUT_OF_MEMORY)
            return r;
        dn_rollback(st, m);
        lp_error(LP_OK, "%s", "");
    }
    return deconv_build_alg(st, pc, n, ch, priv, true, false, s, d, pl, pr);
}

static lp_status deconv_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    return dn_with_sum(deconv_build1, st, pc, n, ch, priv);
}

/* ---- Gemm and MatMul: one oneDNN matmul ---- */

static void dense_strides(int nd, const int64_t *dims, int64_t *str)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        str[i] = s;
        s *= dims[i];
    }
}

bool dn_gemm_spec(const lp_graph *g, const lp_node *n, mm_spec *m)
{
    if (n->n_in < 2 || !all_f32(g, n, 0, 2) || !one_output(g, n))
        return false;
    const lp_shape *as = shape(g, n->in[0]), *bs = shape(g, n->in[1]);
    if (as->ndim != 2 || bs->ndim != 2)
        return false;
    bool ta = lp_attr_int(n, "transA", 0) != 0, tb = lp_attr_int(n, "transB", 0) != 0;
    int64_t M = ta ? as->d[1] : as->d[0], K = ta ? as->d[0] : as->d[1], N = tb ? bs->d[0] : bs->d[1];
    memset(m, 0, sizeof *m);
    m->nd = 2;
    m->a = n->in[0], m->b = n->in[1];
    m->src[0] = M, m->src[1] = K;
    m->src_str[0] = ta ? 1 : K, m->src_str[1] = ta ? M : 1;
    m->wei[0] = K, m->wei[1] = N;
    m->wei_str[0] = tb ? 1 : N, m->wei_str[1] = tb ? K : 1;
    m->dst[0] = M, m->dst[1] = N;
    m->alpha = lp_attr_float(n, "alpha", 1.f);
    m->beta = lp_attr_float(n, "beta", 1.f);
    m->bias = m->c_post = -1;
    if (m->alpha != 1.f && !dn_value_const(g, m->b))
        return false;
    if (n->n_in > 2 && n->in[2] >= 0) {
        const lp_shape *cs = shape(g, n->in[2]);
        if (cs->ndim > 2)
            return false;
        int64_t c2[2] = { 1, 1 };
        for (int i = 0; i < cs->ndim; i++)
            c2[2 - cs->ndim + i] = cs->d[i];
        if ((c2[0] != 1 && c2[0] != M) || (c2[1] != 1 && c2[1] != N))
            return false;
        if (dn_value_const(g, n->in[2])) {
            m->bias = n->in[2]; /* oneDNN's bias is (1, N); others become a post-op operand */
            m->bias_dims[0] = c2[0], m->bias_dims[1] = c2[1];
        } else {
            if (m->beta != 1.f)
                return false;
            m->c_post = n->in[2];
        }
    }
    return M > 0 && N > 0 && K > 0;
}

bool dn_matmul_spec(const lp_graph *g, const lp_node *n, mm_spec *m)
{
    if (n->n_in != 2 || !all_f32(g, n, 0, 1) || !one_output(g, n))
        return false;
    const lp_shape *as = shape(g, n->in[0]), *bs = shape(g, n->in[1]);
    if (as->ndim < 1 || bs->ndim < 1 || as->ndim > DNNL_MAX_NDIMS - 1 || bs->ndim > DNNL_MAX_NDIMS - 1)
        return false;
    int64_t a[DNNL_MAX_NDIMS], b[DNNL_MAX_NDIMS];
    int ra = as->ndim, rb = bs->ndim;
    memcpy(a, as->d, (size_t)ra * sizeof *a);
    memcpy(b, bs->d, (size_t)rb * sizeof *b);
    if (ra == 1) {
        a[1] = a[0], a[0] = 1, ra = 2;
    }
    if (rb == 1) {
        b[1] = 1, rb = 2;
    }
    memset(m, 0, sizeof *m);
    m->a = n->in[0], m->b = n->in[1];
    m->alpha = m->beta = 1.f;
    m->bias = m->c_post = -1;
    int64_t K = a[ra - 1], M = a[ra - 2], N = b[rb - 1];
    if (b[rb - 2] != K || M <= 0 || N <= 0 || K <= 0)
        return false;
    if (rb == 2 && dn_value_const(g, m->b) && ra > 2) {
        /* (..., M, K) x (K, N): one (P, K) x (K, N) product */
        m->nd = 2;
        m->src[0] = lp_numel(ra - 1, a), m->src[1] = K;
    } else {
        int r = ra > rb ? ra : rb;
        m->nd = r;
        for (int i = 0; i < r; i++) {
            int ia = i - (r - ra), ib = i - (r - rb);
            m->src[i] = ia >= 0 ? a[ia] : 1;
            m->wei[i] = ib >= 0 ? b[ib] : 1;
        }
        for (int i = 0; i < r - 2; i++) {
            if (m->src[i] != m->wei[i] && m->src[i] != 1 && m->wei[i] != 1)
                return false;
            m->dst[i] = m->src[i] > m->wei[i] ? m->src[i] : m->wei[i];
        }
    }
    int nd = m->nd;
    m->wei[nd - 2] = K, m->wei[nd - 1] = N;
    for (int i = 0; i < nd - 2; i++)
        if (nd == 2)
            break;
    if (nd == 2)
        m->dst[0] = m->src[0];
    m->dst[nd - 2] = m->src[nd - 2], m->dst[nd - 1] = N;
    dense_strides(nd, m->src, m->src_str);
    dense_strides(nd, m->wei, m->wei_str);
    return true;
}

static lp_status mm_build(dn_step *st, const lp_prep_ctx *pc, const mm_spec *m, const dn_chain *ch, bool priv)
{
    (void)priv;
    const lp_graph *g = pc->g;
    dnnl_data_type_t dt = compute_dt(pc);
    int nd = m->nd;
    dnnl_memory_desc_t src_view, src_md, wei_view, wei_md, bia_md, dst_md;
    dn_md_strided(&src_view, nd, m->src, m->src_str, dnnl_f32);
    dn_md_strided(&wei_view, nd, m->wei, m->wei_str, dnnl_f32);
    dn_plain_md(&src_md, dt, nd, m->src);
    bool b_const = dn_value_const(g, m->b);
    if (b_const)
        dn_md_any(&wei_md, nd, m->wei, dt);
    else
        wei_md = wei_view;
    dn_plain_md(&dst_md, dnnl_f32, nd, m->dst);
    /* Gemm's C: oneDNN's bias when (1, N); otherwise the first post-op (before the fused
     * activations): a runtime C as is, a constant C expanded once to (M, N) times beta */
    bool as_bias = m->bias >= 0 && m->bias_dims[0] == 1 && m->bias_dims[1] == m->dst[1];
    if (as_bias)
        dn_plain_md(&bia_md, dnnl_f32, nd, m->bias_dims);
    dn_chain chain = *ch;
    if (m->c_post >= 0 || (m->bias >= 0 && !as_bias)) {
        if (chain.n_post == DN_MAX_POST)
            return LOWP_ERR_UNSUPPORTED;
        memmove(chain.post + 1, chain.post, (size_t)chain.n_post * sizeof chain.post[0]);
        chain.post[0] = (dn_post){ .kind = DN_POST_BINARY, .alg = dnnl_binary_add, .value = m->c_post };
        chain.n_post++;
        if (m->c_post < 0) {
            dnnl_memory_desc_t full;
            dn_plain_md(&full, dnnl_f32, 2, m->dst);
            LP_TRY(dn_mem_temp(st, &full, &chain.post[0].mem));
            float *e = NULL;
            dnnl_memory_get_data_handle(chain.post[0].mem, (void **)&e);
            const float *c = g->values[m->bias].init->data;
            for (int64_t i = 0; i < m->dst[0]; i++)
                for (int64_t j = 0; j < m->dst[1]; j++)
                    e[i * m->dst[1] + j] = m->beta * c[(m->bias_dims[0] == 1 ? 0 : i) * m->bias_dims[1] +
                                                       (m->bias_dims[1] == 1 ? 0 : j)];
            chain.post[0].md = full;
            chain.post[0].value = -1;
        }
    }
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 4;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, &chain, nd, m->dst, false, &attr, args, &na));
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &src_md, &wei_md, as_bias ? &bia_md : NULL, &dst_md) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: matmul descriptor");
    }
    /* the src is given strided (transposed Gemm A) when f32: let matmul read it as is */
    if (dt == dnnl_f32) {
        dnnl_matmul_desc_t d2;
        if (dnnl_matmul_desc_init(&d2, &src_view, &wei_md, as_bias ? &bia_md : NULL, &dst_md) == dnnl_success)
            d = d2;
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    dnnl_memory_t ms, mw, mb = NULL, md;
    lp_status r = input_view(st, pc, m->a, &src_view, &ms);
    if (r == LP_OK)
        r = convert(st, ms, dn_q_md(pd, DNNL_ARG_SRC), &ms);
    if (r == LP_OK && b_const) {
        const float *w = g->values[m->b].init->data;
        if (m->alpha != 1.f) { /* alpha * A * B = A * (alpha B) */
            dnnl_memory_t tmp;
            if ((r = dn_mem_temp(st, &wei_view, &tmp)) == LP_OK) {
                float *sc = NULL;
                dnnl_memory_get_data_handle(tmp, (void **)&sc);
                int64_t cnt = lp_tensor_numel(g->values[m->b].init);
                for (int64_t i = 0; i < cnt; i++)
                    sc[i] = m->alpha * w[i];
                w = sc;
            }
        }
        if (r == LP_OK)
            r = dn_const(st, w, &wei_view, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    } else if (r == LP_OK) {
        r = input_view(st, pc, m->b, &wei_view, &mw);
    }
    if (r == LP_OK && as_bias) {
        const float *c = g->values[m->bias].init->data;
        if (m->beta != 1.f) {
            if ((r = dn_mem_temp(st, &bia_md, &mb)) == LP_OK) {
                float *sc = NULL;
                dnnl_memory_get_data_handle(mb, (void **)&sc);
                int64_t cnt = lp_tensor_numel(g->values[m->bias].init);
                for (int64_t i = 0; i < cnt; i++)
                    sc[i] = m->beta * c[i];
            }
        } else {
            r = dn_mem(st, &bia_md, (void *)c, &mb);
        }
    }
    if (r == LP_OK)
        r = output_view(st, pc, ch->out_value, &dst_md, &md);
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    return add_weighted(st, pc, pd, ms, mw, md, as_bias ? mb : NULL, args, na);
}

static bool gemm_supports(const lp_graph *g, const lp_node *n)
{
    mm_spec m;
    return dn_gemm_spec(g, n, &m);
}

static lp_status gemm_build1(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    mm_spec m;
    if (!dn_gemm_spec(pc->g, n, &m))
        return LOWP_ERR_UNSUPPORTED;
    return mm_build(st, pc, &m, ch, priv);
}

static bool matmul_supports(const lp_graph *g, const lp_node *n)
{
    mm_spec m;
    return dn_matmul_spec(g, n, &m);
}

static lp_status matmul_build1(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    mm_spec m;
    if (!dn_matmul_spec(pc->g, n, &m))
        return LOWP_ERR_UNSUPPORTED;
    return mm_build(st, pc, &m, ch, priv);
}

static lp_status gemm_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    return int8_or(dn_mm_int8, gemm_build1, false, st, pc, n, ch, priv);
}

static lp_status matmul_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    return int8_or(dn_mm_int8, matmul_build1, false, st, pc, n, ch, priv);
}

/* ---- pooling ---- */

typedef struct pool_spec {
    int nsp;
    dnnl_alg_kind_t alg;
    dnnl_dims_t k, s, d, pl, pr;
} pool_spec;

static bool pool_spec_of(const lp_graph *g, const lp_node *n, pool_spec *p)
{
    if (n->n_in != 1 || !all_f32(g, n, 0, 0) || !one_output(g, n))
        return false;
    const lp_shape *xs = shape(g, n->in[0]), *ys = shape(g, n->out[0]);
    int r = xs->ndim, nsp = r - 2;
    if (r < 3 || r > 5 || !nonempty(g, n->in[0]))
        return false;
    p->nsp = nsp;
    bool global = strncmp(n->op_type, "Global", 6) == 0;
    bool is_max = strstr(n->op_type, "Max") != NULL;
    if (global) {
        for (int i = 0; i < nsp; i++) {
            p->k[i] = xs->d[2 + i];
            p->s[i] = 1, p->d[i] = 0, p->pl[i] = p->pr[i] = 0;
        }
        p->alg = is_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
        return true;
    }
    const int64_t *ks;
    if (lp_attr_ints(n, "kernel_shape", &ks) != nsp)
        return false;
    int64_t k[LP_SP], in[LP_SP];
    for (int i = 0; i < nsp; i++)
        k[i] = ks[i], in[i] = xs->d[2 + i];
    lp_window w;
    bool ceil_mode = lp_attr_int(n, "ceil_mode", 0) != 0;
    if (lp_window_init(n, nsp, in, k, ceil_mode, &w) != LP_OK) {
        lp_error(LP_OK, "%s", "");
        return false;
    }
    bool include_pad = !is_max && lp_attr_int(n, "count_include_pad", 0) != 0;
    int off = LP_SP - nsp;
    for (int i = 0; i < nsp; i++) {
        int64_t dk = (w.k[off + i] - 1) * w.dil[off + i] + 1;
        if (w.out[off + i] != ys->d[2 + i])
            return false;
        p->k[i] = w.k[off + i];
        p->s[i] = w.stride[off + i];
        p->d[i] = w.dil[off + i] - 1;
        p->pl[i] = w.pad0[off + i];
        p->pr[i] = (w.out[off + i] - 1) * w.stride[off + i] + dk - in[i] - w.pad0[off + i];
        if (p->pr[i] < 0 || p->pl[i] < 0 || p->pl[i] >= dk || p->pr[i] >= dk)
            return false;
        if (include_pad && p->pr[i] != w.pad1[off + i]) /* ceil_mode's extra never counts */
            return false;
        if (!is_max && w.dil[off + i] != 1)
            return false;
    }
    p->alg = is_max ? dnnl_pooling_max : include_pad ? dnnl_pooling_avg_include_padding
                                                   : dnnl_pooling_avg_exclude_padding;
    return true;
}

static bool pool_supports(const lp_graph *g, const lp_node *n)
{
    pool_spec p;
    if (!pool_spec_of(g, n, &p))
        return false;
    const lp_shape *xs = shape(g, n->in[0]), *ys = shape(g, n->out[0]);
    dnnl_memory_desc_t src, dst;
    dn_plain_md(&src, dnnl_f32, xs->ndim, xs->d);
    dn_plain_md(&dst, dnnl_f32, ys->ndim, ys->d);
    dnnl_pooling_v2_desc_t d;
    return dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, p.alg, &src, &dst, p.s, p.k, p.d, p.pl,
                                             p.pr) == dnnl_success && probe(&d);
}

/* Source md: as stored when `priv`, else plain (a reorder when stored privately). */
static lp_status src_of(dn_step *st, const lp_prep_ctx *pc, int v, bool priv, dnnl_memory_desc_t *md,
                        dnnl_memory_t *m)
{
    if (priv && !dn_value_quantized(pc, v, NULL)) {
        dn_value_md(pc, v, md);
        return dn_input(st, pc, v, NULL, m);
    }
    dn_plain_md(md, dnnl_f32, shape(pc->g, v)->ndim, shape(pc->g, v)->d);
    return dn_input(st, pc, v, md, m);
}

void dn_md_channels_last(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt)
{
    static const dnnl_format_tag_t tags[6] = { 0, 0, 0, dnnl_acb, dnnl_acdb, dnnl_acdeb };
    if (nd < 3 || nd > 5) {
        dn_plain_md(md, dt, nd, dims);
        return;
    }
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, nd, d, dt, tags[nd]);
}

/* MaxPool -> Q -> DQ on 8-bit data: the maximum commutes with quantization (rounding is
 * monotonic), so pooling the integers is exact. The source is read as stored when it is
 * quantized alike (channels-last), else quantized into that form first. */
static lp_status pool_build_q(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const pool_spec *p,
                              const dn_chain *ch, bool priv)
{
    const dn_quant *q = &ch->q_tail;
    if (p->alg != dnnl_pooling_max)
        return LOWP_ERR_UNSUPPORTED;
    const lp_shape *xs = shape(pc->g, n->in[0]), *ys = shape(pc->g, ch->out_value);
    dnnl_memory_desc_t src_md, dst_md;
    if (priv) {
        dn_md_channels_last(&src_md, xs->ndim, xs->d, q->dt);
        dn_md_channels_last(&dst_md, ys->ndim, ys->d, q->dt);
    } else {
        dn_plain_md(&src_md, q->dt, xs->ndim, xs->d);
        dn_plain_md(&dst_md, q->dt, ys->ndim, ys->d);
    }
    dnnl_memory_t ms, md, deq;
    LP_TRY(dn_input_q(st, pc, n->in[0], &src_md, q, &ms));
    dnnl_pooling_v2_desc_t d;
    if (dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, p->alg, &src_md, &dst_md, p->s, p->k, p->d,
                                          p->pl, p->pr) != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: pooling descriptor");
    dnnl_primitive_attr_t attr;
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 2;
    LP_TRY(dn_attr(st, pc, NULL, 0, NULL, priv, &attr, args, &na));
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    LP_TRY(pd_check(pd, dn_q_result(st, pc, ch->out_value, q, priv, &dst_md, &md, &deq)));
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    LP_TRY(dn_add_primitive(st, pc, pd, na, args));
    if (deq)
        LP_TRY(dn_reorder_q(st, md, q, deq, NULL));
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, ",int8");
    return LP_OK;
}

static lp_status pool_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    pool_spec p;
    if (!pool_spec_of(pc->g, n, &p))
        return LOWP_ERR_UNSUPPORTED;
    if (ch->q_tail.on)
        return pool_build_q(st, pc, n, &p, ch, priv);
    const lp_shape *ys = shape(pc->g, ch->out_value);
    bool out_priv = priv && dn_value_private_ok(pc, ch->out_value);
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_memory_t ms, md;
    LP_TRY(src_of(st, pc, n->in[0], out_priv, &src_md, &ms));
    if (out_priv) /* a BF16 source stays BF16 when the readers run in BF16 */
        dn_md_any(&dst_md, ys->ndim, ys->d,
                  src_md.data_type == dnnl_bf16 ? private_dt(pc, ch->out_value, out_priv) : dnnl_f32);
    else
        dn_plain_md(&dst_md, dnnl_f32, ys->ndim, ys->d);
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 3;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, ch, ys->ndim, ys->d, priv, &attr, args, &na));
    dnnl_pooling_v2_desc_t d;
    if (dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, p.alg, &src_md, &dst_md, p.s, p.k, p.d, p.pl,
                                          p.pr) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: pooling descriptor");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    LP_TRY(pd_check(pd, output(st, pc, ch->out_value, dn_q_md(pd, DNNL_ARG_DST), &md)));
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    const dnnl_memory_desc_t *ws = dn_q_md(pd, DNNL_ARG_WORKSPACE);
    dnnl_memory_t mws;
    if (ws && dnnl_memory_desc_get_size(ws)) {
        LP_TRY(pd_check(pd, dn_mem_temp(st, ws, &mws)));
        args[2] = (dnnl_exec_arg_t){ DNNL_ARG_WORKSPACE, mws };
    } else {
        args[2] = args[--na];
    }
    return dn_add_primitive(st, pc, pd, na, args);
}

/* ---- BatchNormalization (inference, when not folded into a Conv) ---- */

static bool bn_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in != 5 || !all_f32(g, n, 0, 4) || !one_output(g, n) || lp_graph_opset(g, "") < 9 ||
        lp_attr_int(n, "training_mode", 0) != 0)
        return false;
    const lp_shape *xs = shape(g, n->in[0]);
    if (xs->ndim < 2 || xs->ndim > 5 || !nonempty(g, n->in[0]))
        return false;
    for (int k = 1; k < 5; k++)
        if (lp_numel(shape(g, n->in[k])->ndim, shape(g, n->in[k])->d) != xs->d[1] || shape(g, n->in[k])->ndim != 1)
            return false;
    return true;
}

static lp_status bn_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_shape *ys = shape(pc->g, ch->out_value);
    bool out_priv = priv && dn_value_private_ok(pc, ch->out_value);
    dnnl_memory_desc_t src_md, vec_md;
    dnnl_memory_t ms, md, mv[4];
    LP_TRY(src_of(st, pc, n->in[0], out_priv, &src_md, &ms));
    int64_t C = ys->d[1];
    dn_plain_md(&vec_md, dnnl_f32, 1, &C);
    for (int k = 0; k < 4; k++)
        LP_TRY(input_view(st, pc, n->in[1 + k], &vec_md, &mv[k]));
    dnnl_batch_normalization_desc_t d;
    unsigned flags = dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift;
    if (dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_inference, &src_md, lp_attr_float(n, "epsilon", 1e-5f),
                                                   flags) != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: batch normalization descriptor");
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 6;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, NULL, 0, NULL, priv, &attr, args, &na));
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    LP_TRY(pd_check(pd, output_priv_or_view(st, pc, ch->out_value, out_priv, &src_md, &md)));
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_SCALE, mv[0] };
    args[3] = (dnnl_exec_arg_t){ DNNL_ARG_SHIFT, mv[1] };
    args[4] = (dnnl_exec_arg_t){ DNNL_ARG_MEAN, mv[2] };
    args[5] = (dnnl_exec_arg_t){ DNNL_ARG_VARIANCE, mv[3] };
    return dn_add_primitive(st, pc, pd, na, args);
}

/* ---- LayerNorm: the op, and the decomposed subgraph ---- */

/* y = (x - mean) / sqrt(var + eps) * gamma + beta over dims [axis, rank): one oneDNN layer
 * normalization over the last dim of the (P, Q) view. */
static lp_status ln_build_common(dn_step *st, const lp_prep_ctx *pc, int x, int gamma, int beta, float eps, int axis,
                                 int out_v)
{
    const lp_graph *g = pc->g;
    const lp_shape *xs = shape(g, x);
    int64_t dims[2] = { lp_numel(axis, xs->d), lp_numel(xs->ndim - axis, xs->d + axis) };
    dnnl_memory_desc_t view, vec;
    dn_plain_md(&view, dnnl_f32, 2, dims);
    dn_plain_md(&vec, dnnl_f32, 1, &dims[1]);
    dnnl_memory_t ms, md, mg = NULL, mb = NULL;
    LP_TRY(input_view(st, pc, x, &view, &ms));
    int pv[2] = { gamma, beta };
    dnnl_memory_t *pm[2] = { &mg, &mb };
    for (int i = 0; i < 2; i++) {
        if (pv[i] < 0)
            continue;
        const lp_tensor *t = g->values[pv[i]].init;
        if (lp_tensor_numel(t) == dims[1]) {
            LP_TRY(dn_mem(st, &vec, t->data, pm[i]));
            continue;
        }
        /* broadcast over the normalized dims: expand once */
        LP_TRY(dn_mem_temp(st, &vec, pm[i]));
        float *e = NULL;
        dnnl_memory_get_data_handle(*pm[i], (void **)&e);
        int64_t st_t[LP_MAX_DIMS], nn = xs->ndim - axis;
        lp_broadcast_strides(t->ndim, t->dims, (int)nn, xs->d + axis, st_t);
        for (int64_t q = 0; q < dims[1]; q++) {
            int64_t rem = q, src = 0;
            for (int64_t a = nn - 1; a >= 0; a--) {
                src += (rem % xs->d[axis + a]) * st_t[a];
                rem /= xs->d[axis + a];
            }
            e[q] = ((const float *)t->data)[src];
        }
    }
    unsigned flags = (gamma >= 0 ? dnnl_use_scale : 0) | (beta >= 0 ? dnnl_use_shift : 0);
    dnnl_layer_normalization_desc_t d;
    if (dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_inference, &view, NULL, eps, flags) != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: layer normalization descriptor");
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 0;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, NULL, 0, NULL, false, &attr, args, &na));
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    lp_status r = output_view(st, pc, out_v, &view, &md);
    args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    if (mg)
        args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_SCALE, mg };
    if (mb)
        args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_SHIFT, mb };
    static const int stats[2] = { DNNL_ARG_MEAN, DNNL_ARG_VARIANCE };
    for (int i = 0; i < 2 && r == LP_OK; i++) {
        const dnnl_memory_desc_t *sm = dn_q_md(pd, stats[i]);
        dnnl_memory_t m;
        if (sm && dnnl_memory_desc_get_size(sm) && (r = dn_mem_temp(st, sm, &m)) == LP_OK)
            args[na++] = (dnnl_exec_arg_t){ stats[i], m };
    }
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    return dn_add_primitive(st, pc, pd, na, args);
}

static bool ln_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 2 || !all_f32(g, n, 0, 2) || !one_output(g, n) || !dn_value_const(g, n->in[1]) ||
        (n->n_in > 2 && n->in[2] >= 0 && !dn_value_const(g, n->in[2])))
        return false;
    const lp_shape *xs = shape(g, n->in[0]);
    int64_t axis = lp_attr_int(n, "axis", -1);
    if (axis < 0)
        axis += xs->ndim;
    if (axis < 0 || axis >= xs->ndim || !nonempty(g, n->in[0]))
        return false;
    for (int k = 1; k < 3 && k < n->n_in; k++) {
        if (n->in[k] < 0)
            continue;
        const lp_shape *ps = shape(g, n->in[k]);
        if (ps->ndim > xs->ndim)
            return false;
        for (int i = 0; i < ps->ndim; i++) {
            int xa = xs->ndim - ps->ndim + i;
            if (ps->d[i] != 1 && (xa < axis || ps->d[i] != xs->d[xa]))
                return false;
        }
    }
    return true;
}

static lp_status ln_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    (void)priv;
    int64_t axis = lp_attr_int(n, "axis", -1);
    if (axis < 0)
        axis += shape(pc->g, n->in[0])->ndim;
    return ln_build_common(st, pc, n->in[0], n->in[1], n->n_in > 2 ? n->in[2] : -1, lp_attr_float(n, "epsilon", 1e-5f),
                           (int)axis, ch->out_value);
}

/* ---- Softmax / LogSoftmax ---- */

static bool softmax_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in != 1 || !all_f32(g, n, 0, 0) || !one_output(g, n) || !nonempty(g, n->in[0]))
        return false;
    int r = shape(g, n->in[0])->ndim;
    int64_t axis = lp_attr_int(n, "axis", lp_graph_opset(g, "") < 13 ? 1 : -1);
    if (axis < 0)
        axis += r;
    if (r < 1 || axis < 0 || axis >= r)
        return false;
    const lp_shape *xs = shape(g, n->in[0]);
    int64_t dims[2] = { lp_numel((int)axis, xs->d), lp_numel(r - (int)axis, xs->d + axis) };
    dnnl_memory_desc_t md;
    bool old = lp_graph_opset(g, "") < 13;
    if (old)
        dn_plain_md(&md, dnnl_f32, 2, dims);
    else
        dn_plain_md(&md, dnnl_f32, r, xs->d);
    dnnl_softmax_v2_desc_t d;
    dnnl_alg_kind_t alg = strcmp(n->op_type, "LogSoftmax") == 0 ? dnnl_softmax_log : dnnl_softmax_accurate;
    return dnnl_softmax_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &md, &md, old ? 1 : (int)axis) ==
               dnnl_success && probe(&d);
}

static lp_status softmax_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    const lp_shape *xs = shape(g, n->in[0]);
    int r = xs->ndim;
    bool old = lp_graph_opset(g, "") < 13;
    int64_t axis = lp_attr_int(n, "axis", old ? 1 : -1);
    if (axis < 0)
        axis += r;
    dnnl_alg_kind_t alg = strcmp(n->op_type, "LogSoftmax") == 0 ? dnnl_softmax_log : dnnl_softmax_accurate;
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_memory_t ms, md;
    bool out_priv = priv && !old && dn_value_private_ok(pc, ch->out_value);
    int dnnl_axis = (int)axis;
    if (old) { /* the input coerced to 2-D at axis */
        int64_t dims[2] = { lp_numel((int)axis, xs->d), lp_numel(r - (int)axis, xs->d + axis) };
        dn_plain_md(&src_md, dnnl_f32, 2, dims);
        LP_TRY(input_view(st, pc, n->in[0], &src_md, &ms));
        dst_md = src_md;
        dnnl_axis = 1;
    } else {
        LP_TRY(src_of(st, pc, n->in[0], out_priv, &src_md, &ms));
        dst_md = src_md;
    }
    dnnl_softmax_v2_desc_t d;
    if (dnnl_softmax_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &src_md, &dst_md, dnnl_axis) != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: softmax descriptor");
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 2;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, NULL, 0, NULL, priv, &attr, args, &na));
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &d, attr));
    LP_TRY(pd_check(pd, output_priv_or_view(st, pc, ch->out_value, out_priv, &dst_md, &md)));
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    return dn_add_primitive(st, pc, pd, na, args);
}

/* ---- 8-bit data movement: op -> Q -> DQ on integers (docs/engine.md, "INT8 that flows") ---- */

/* md's element strides when it is laid out by strides alone (plain, channels-last, a
 * transposed view; no channel blocks). */
static bool md_strides(const dnnl_memory_desc_t *md, int64_t *str)
{
    if (md->format_kind != dnnl_blocked || md->format_desc.blocking.inner_nblks != 0)
        return false;
    for (int i = 0; i < md->ndims; i++)
        str[i] = md->format_desc.blocking.strides[i];
    return true;
}

/* 8-bit data moved by lowp's own loop, for what oneDNN 2.6 cannot describe: Slice windows
 * with steps (it refuses some such strides as a memory descriptor, e.g. dims 3x2 with
 * strides 18x12). The source has 256 values, so lut[q] = requant((q - zp_x) * s_x / s_y +
 * zp_y) -- or its dequantized float, for a result read as float -- is computed once with the
 * reference's arithmetic (DequantizeLinear's float product, QuantizeLinear's lp_requant) and
 * the move is exact. Walked with both tensors' element strides, the result's smallest
 * innermost; contiguous rows copied, or requantized 8 at a time (q8_row). */
typedef struct q8_job {
    dnnl_memory_t src, dst;             /* bound memories: the source, the whole result */
    int nd;
    int64_t dims[DNNL_MAX_NDIMS], xs[DNNL_MAX_NDIMS], ys[DNNL_MAX_NDIMS];
    int64_t x0, y0;                     /* element offsets of the first element */
    bool f32;                           /* the result is float (lutf), else 8-bit (lut) */
    bool identity;                      /* lut[q] == q: a copy */
    bool s8_in, s8_out;
    float zp_x, s_x, s_y, zp_y, lo, hi; /* the table's arithmetic, for q8_row */
    uint8_t lut[256];
    float lutf[256];
} q8_job;

/* A contiguous row of n integers requantized by the table's arithmetic, 8 at a time with SSE2
 * (bit for bit the table: the same float product and quotient, rounded half to even by adding
 * and subtracting 1.5 * 2^23 -- exact below 2^22 -- then the zero point and the clamp; as
 * dnnl_resize.c's rs_store); the rest by the table. */
static void q8_row(const q8_job *b, const uint8_t *x, uint8_t *y, int64_t n)
{
    int64_t k = 0;
    if (b->identity) {
        memcpy(y, x, (size_t)n);
        return;
    }
#if defined(__SSE2__)
    const __m128 zx = _mm_set1_ps(b->zp_x), sx = _mm_set1_ps(b->s_x), sy = _mm_set1_ps(b->s_y),
                 vlo = _mm_set1_ps(-512.0f), vhi = _mm_set1_ps(512.0f), vm = _mm_set1_ps(12582912.0f),
                 zy = _mm_set1_ps(b->zp_y), qlo = _mm_set1_ps(b->lo), qhi = _mm_set1_ps(b->hi);
    const __m128i zero = _mm_setzero_si128();
    for (; k + 8 <= n; k += 8) {
        __m128i b8 = _mm_loadl_epi64((const __m128i *)(x + k)), w16, q[2];
        if (b->s8_in)
            w16 = _mm_srai_epi16(_mm_unpacklo_epi8(b8, b8), 8);
        else
            w16 = _mm_unpacklo_epi8(b8, zero);
        __m128i i32[2] = { _mm_srai_epi32(_mm_unpacklo_epi16(w16, w16), 16),
                           _mm_srai_epi32(_mm_unpackhi_epi16(w16, w16), 16) };
        for (int h = 0; h < 2; h++) {
            __m128 f = _mm_mul_ps(_mm_sub_ps(_mm_cvtepi32_ps(i32[h]), zx), sx); /* DequantizeLinear */
            __m128 v = _mm_min_ps(_mm_max_ps(_mm_div_ps(f, sy), vlo), vhi);
            v = _mm_add_ps(_mm_sub_ps(_mm_add_ps(v, vm), vm), zy);
            q[h] = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(v, qlo), qhi));
        }
        __m128i w = _mm_packs_epi32(q[0], q[1]); /* -128..255 fit int16 */
        _mm_storel_epi64((__m128i *)(y + k), b->s8_out ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w));
    }
#endif
    for (; k < n; k++)
        y[k] = b->lut[x[k]];
}

typedef struct q8_jobs {
    int n, threads;
    q8_job job[];
} q8_jobs;

static lp_status q8_jobs_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const q8_jobs *s = arg;
    for (int j = 0; j < s->n; j++) {
        const q8_job *b = &s->job[j];
        void *xh = NULL, *yh = NULL;
        dnnl_memory_get_data_handle(b->src, &xh);
        dnnl_memory_get_data_handle(b->dst, &yh);
        const uint8_t *x = (const uint8_t *)xh + b->x0;
        int nd = b->nd;
        int64_t inner = b->dims[nd - 1], outer = 1, xi = b->xs[nd - 1], yi = b->ys[nd - 1];
        for (int d = 0; d < nd - 1; d++)
            outer *= b->dims[d];
        int threads = outer >= 64 * s->threads ? s->threads : 1;
#pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int64_t o = outer * t / nt, end = outer * (t + 1) / nt, idx[DNNL_MAX_NDIMS], xo = 0, yo = b->y0;
            int64_t rest = o; /* the first row's index, then an odometer */
            for (int d = nd - 2; d >= 0; d--) {
                idx[d] = rest % b->dims[d];
                rest /= b->dims[d];
                xo += idx[d] * b->xs[d];
                yo += idx[d] * b->ys[d];
            }
            for (; o < end; o++) {
                const uint8_t *xr = x + xo;
                if (b->f32) {
                    float *yr = (float *)yh + yo;
                    for (int64_t k = 0; k < inner; k++)
                        yr[k * yi] = b->lutf[xr[k * xi]];
                } else if (xi == 1 && yi == 1) {
                    q8_row(b, xr, (uint8_t *)yh + yo, inner);
                } else {
                    uint8_t *yr = (uint8_t *)yh + yo;
                    for (int64_t k = 0; k < inner; k++)
                        yr[k * yi] = b->lut[xr[k * xi]];
                }
                for (int d = nd - 2; d >= 0; d--) { /* next row */
                    xo += b->xs[d];
                    yo += b->ys[d];
                    if (++idx[d] < b->dims[d])
                        break;
                    xo -= idx[d] * b->xs[d];
                    yo -= idx[d] * b->ys[d];
                    idx[d] = 0;
                }
            }
        }
    }
    return LP_OK;
}

/* A job moving nd dims from src (8-bit as hq, strides xs from element x0) into dst (strides
 * ys from y0), quantized as q -- dequantized into float when f32. */
static void q8_job_set(q8_job *b, dnnl_memory_t src, const dn_quant *hq, int64_t x0, const int64_t *xs,
                       dnnl_memory_t dst, const dn_quant *q, bool f32, int64_t y0, const int64_t *ys, int nd,
                       const int64_t *dims)
{
    int order[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++)
        order[i] = i;
    for (int i = 1; i < nd; i++) /* by the result's strides, largest first (stable) */
        for (int j = i; j > 0 && ys[order[j]] > ys[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    *b = (q8_job){ .src = src, .dst = dst, .nd = nd, .x0 = x0, .y0 = y0, .f32 = f32, .identity = true,
                   .s8_in = hq->dt == dnnl_s8, .s8_out = q->dt == dnnl_s8, .zp_x = (float)hq->zp,
                   .s_x = hq->scale, .s_y = q->scale, .zp_y = (float)q->zp };
    for (int i = 0; i < nd; i++) {
        b->dims[i] = dims[order[i]];
        b->xs[i] = xs[order[i]];
        b->ys[i] = ys[order[i]];
    }
    int32_t lo, hi;
    lp_quant_range(q->dt == dnnl_s8, &lo, &hi);
    b->lo = (float)lo;
    b->hi = (float)hi;
    for (int v = 0; v < 256; v++) {
        int32_t qx = hq->dt == dnnl_s8 ? (int32_t)(int8_t)v : v;
        float f = (float)(qx - hq->zp) * hq->scale;          /* DequantizeLinear */
        int32_t r = lp_requant(f / q->scale, q->zp, lo, hi);  /* QuantizeLinear */
        b->lut[v] = (uint8_t)r;                               /* (the low byte: s8 two's complement) */
        b->lutf[v] = (float)(r - q->zp) * q->scale;          /* DequantizeLinear */
        b->identity &= b->lut[v] == v;
    }
}

/* The quantized result y (as q, stored as `ymd`) of a data-movement op, written by one reorder
 * from `src` (the input as stored: 8-bit as hq, or float) into `view` -- y's bytes described
 * in the source's index space: the integers copied when hq is q (no requantization: the
 * quantizer gives such ops their input's parameters), else (re)quantized. `window`: view is
 * a window of y (Pad's interior), into which oneDNN 2.6's quantizing reorders drop the
 * destination's zero point (test_qdata_random), so a (re)quantization goes through a dense
 * temporary first. When y's readers want float, the integers go to a temporary dequantized
 * after (dn_q_result). *ints (may be NULL): the memory holding y's integers. */
static lp_status q_move_into(dn_step *st, const lp_prep_ctx *pc, int y, const dn_quant *q, bool priv,
                             const dnnl_memory_desc_t *ymd, const dnnl_memory_desc_t *view, dnnl_memory_t src,
                             const dn_quant *hq, bool window, dnnl_memory_t *ints, const char *what)
{
    dnnl_memory_t md, deq, mv;
    if (window && !dn_quant_same(hq, q)) {
        const dnnl_memory_desc_t *sm;
        dnnl_memory_get_memory_desc(src, &sm);
        dnnl_memory_desc_t dense;
        dn_plain_md(&dense, q->dt, sm->ndims, sm->dims);
        dnnl_memory_t tmp;
        LP_TRY(dn_mem_temp(st, &dense, &tmp));
        LP_TRY(dn_reorder_q(st, src, hq, tmp, q));
        src = tmp;
        hq = q;
    }
    LP_TRY(dn_q_result(st, pc, y, q, priv, ymd, &md, &deq));
    if (deq) {
        void *h = NULL;
        dnnl_memory_get_data_handle(md, &h);
        LP_TRY(dn_mem(st, view, h, &mv));
    } else {
        LP_TRY(dn_mem_value(st, pc, y, view, &mv));
    }
    if (ints)
        *ints = md;
    LP_TRY(dn_reorder_q(st, src, hq, mv, q));
    if (deq)
        LP_TRY(dn_reorder_q(st, md, q, deq, NULL));
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%sint8 %s:%s", k ? "," : "", what, q->dt == dnnl_u8 ? "u8" : "s8");
    return LP_OK;
}

/* When y's bytes seen as `view` (in x's index space) are x's as stored, quantized alike, and
 * the plan lets y share x's storage: no work at all (y is stored as ymd). */
static bool q_alias(dn_step *st, const lp_prep_ctx *pc, int x, int y, const dn_quant *q, bool priv,
                    const dnnl_memory_desc_t *ymd, const dnnl_memory_desc_t *view)
{
    dnnl_memory_desc_t have;
    dn_quant hq = { 0 };
    dn_value_md(pc, x, &have);
    dn_value_quantized(pc, x, &hq);
    if (!priv || !dn_value_private_ok(pc, y) || !dn_quant_same(&hq, q) || !dnnl_memory_desc_equal(&have, view) ||
        !lp_prep_may_alias(pc, y, x))
        return false;
    dn_set_output(st, pc, y, ymd);
    st->out_q = *q;
    st->share_in = x;
    snprintf(st->impl, sizeof st->impl, "view,int8");
    snprintf(st->kinds, sizeof st->kinds, "view"); /* the profile's primitive column */
    return true;
}

/* x as stored: its memory and quantization. */
static lp_status q_source(dn_step *st, const lp_prep_ctx *pc, int x, dnnl_memory_desc_t *have, dn_quant *hq,
                          dnnl_memory_t *src)
{
    *hq = (dn_quant){ 0 };
    dn_value_md(pc, x, have);
    dn_value_quantized(pc, x, hq);
    return dn_mem_value(st, pc, x, have, src);
}

/* y (layout ymd) from x read through `view` (x's index space): a view of x's bytes when
 * q_alias allows, else one reordering move of x as stored. */
static lp_status q_view_into(dn_step *st, const lp_prep_ctx *pc, int x, int y, const dn_quant *q, bool priv,
                             const dnnl_memory_desc_t *ymd, const dnnl_memory_desc_t *view, const char *what)
{
    if (q_alias(st, pc, x, y, q, priv, ymd, view))
        return LP_OK;
    dnnl_memory_desc_t have;
    dn_quant hq;
    dnnl_memory_t src;
    LP_TRY(q_source(st, pc, x, &have, &hq, &src));
    return q_move_into(st, pc, y, q, priv, ymd, view, src, &hq, false, NULL, what);
}

/* Reshape, Flatten, Squeeze, Unsqueeze of float data: the plan's views. */
static bool view_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 1 || !all_f32(g, n, 0, 0) || !one_output(g, n) || !nonempty(g, n->in[0]))
        return false;
    const lp_shape *xs = shape(g, n->in[0]), *ys = shape(g, n->out[0]);
    return xs->ndim <= DNNL_MAX_NDIMS && ys->ndim <= DNNL_MAX_NDIMS &&
           lp_numel(xs->ndim, xs->d) == lp_numel(ys->ndim, ys->d);
}

/* ... followed by Q -> DQ: y is x's integers in plain order -- x's own storage when x is
 * stored plain with y's parameters, else one reorder (to plain order, requantizing if
 * needed) writing y's bytes seen with x's dims. */
static lp_status view_build_q(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    if (!ch->q_tail.on || ch->n_post)
        return LOWP_ERR_UNSUPPORTED;
    const dn_quant *q = &ch->q_tail;
    int x = n->in[0], y = ch->out_value;
    const lp_shape *xs = shape(pc->g, x), *ys = shape(pc->g, y);
    dnnl_memory_desc_t ymd, view;
    dn_plain_md(&ymd, q->dt, ys->ndim, ys->d);
    dn_plain_md(&view, q->dt, xs->ndim, xs->d);
    return q_view_into(st, pc, x, y, q, priv, &ymd, &view, "reshape");
}

/* ---- Transpose: one reorder into the output's plain bytes, seen with permuted strides ---- */

/* The permutation of node n (attribute perm, default reversed); false if it is not one. */
static bool transpose_perm(const lp_node *n, int r, int64_t *perm)
{
    const int64_t *pa = NULL;
    int np = lp_attr_ints(n, "perm", &pa);
    if (np >= 0 && np != r)
        return false;
    bool seen[DNNL_MAX_NDIMS] = { false };
    for (int i = 0; i < r; i++) {
        perm[i] = np == r ? pa[i] : r - 1 - i;
        if (perm[i] < 0 || perm[i] >= r || seen[perm[i]])
            return false;
        seen[perm[i]] = true;
    }
    return true;
}

static bool transpose_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in != 1 || !all_f32(g, n, 0, 0) || !one_output(g, n) || !nonempty(g, n->in[0]))
        return false;
    int r = shape(g, n->in[0])->ndim;
    int64_t perm[DNNL_MAX_NDIMS];
    return r >= 2 && r <= 6 && transpose_perm(n, r, perm);
}

/* Transpose -> Q -> DQ: one reorder of x as stored (any layout) into y -- channels-last when
 * a convolution reads it (dn_q_layout), else plain -- seen with y's strides permuted back
 * into x's index space; none when that is x's own layout (NHWC -> NCHW into channels-last). */
static lp_status transpose_build_q(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                                   bool priv)
{
    const dn_quant *q = &ch->q_tail;
    int x = n->in[0], y = ch->out_value;
    const lp_shape *xs = shape(pc->g, x), *ys = shape(pc->g, y);
    int r = xs->ndim;
    int64_t perm[DNNL_MAX_NDIMS], ystr[DNNL_MAX_NDIMS], vstr[DNNL_MAX_NDIMS];
    if (ch->n_post || !transpose_perm(n, r, perm))
        return LOWP_ERR_UNSUPPORTED;
    dnnl_memory_desc_t ymd, view;
    if (priv)
        dn_q_layout(pc, y, q->dt, &ymd);
    else
        dn_plain_md(&ymd, q->dt, ys->ndim, ys->d);
    if (!md_strides(&ymd, ystr))
        return LOWP_ERR_UNSUPPORTED;
    for (int i = 0; i < r; i++)
        vstr[perm[i]] = ystr[i];
    dn_md_strided(&view, r, xs->d, vstr, q->dt);
    return q_view_into(st, pc, x, y, q, priv, &ymd, &view, "transpose");
}

/* y = transpose(x, perm): y's plain strides, assigned to the x dimension each output axis
 * comes from, describe y's bytes in x's index space; a reorder from x writes y. */
static lp_status transpose_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    if (ch->q_tail.on)
        return transpose_build_q(st, pc, n, ch, priv);
    const lp_shape *xs = shape(pc->g, n->in[0]);
    int r = xs->ndim;
    int64_t perm[DNNL_MAX_NDIMS];
    if (!transpose_perm(n, r, perm))
        return LOWP_ERR_UNSUPPORTED;
    dnnl_dims_t dims, strides;
    int64_t stride = 1;
    for (int i = r - 1; i >= 0; i--) {
        strides[perm[i]] = stride;
        stride *= xs->d[perm[i]];
    }
    for (int i = 0; i < r; i++)
        dims[i] = xs->d[i];
    dnnl_memory_desc_t src_md, dst_md;
    dn_plain_md(&src_md, dnnl_f32, r, xs->d);
    if (dnnl_memory_desc_init_by_strides(&dst_md, r, dims, dnnl_f32, strides) != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: transpose descriptor");
    dnnl_memory_t ms, md;
    LP_TRY(input_view(st, pc, n->in[0], &src_md, &ms));
    LP_TRY(output_view(st, pc, ch->out_value, &dst_md, &md));
    return dn_reorder_q(st, ms, NULL, md, NULL);
}

/* ---- eltwise: one primitive per oneDNN algorithm, in place after the first ---- */

static bool eltwise_supports(const lp_graph *g, const lp_node *n)
{
    dn_post p[2];
    int np;
    return one_output(g, n) && dn_eltwise_of(g, (int)(n - g->nodes), p, &np);
}

static lp_status eltwise_run_posts(dn_step *st, const lp_prep_ctx *pc, int x, const dn_post *p, int np, int out_v,
                                   bool priv)
{
    bool out_priv = priv && dn_value_private_ok(pc, out_v);
    dnnl_memory_desc_t md_;
    dnnl_memory_t ms, md;
    LP_TRY(src_of(st, pc, x, out_priv, &md_, &ms));
    LP_TRY(output_priv_or_view(st, pc, out_v, out_priv, &md_, &md));
    for (int i = 0; i < np; i++) {
        dnnl_eltwise_desc_t d;
        if (dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, p[i].alg, &md_, p[i].alpha, p[i].beta) !=
            dnnl_success)
            return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: eltwise descriptor");
        dnnl_exec_arg_t args[DN_MAX_ARGS];
        int na = 2;
        dnnl_primitive_attr_t attr;
        LP_TRY(dn_attr(st, pc, NULL, 0, NULL, priv, &attr, args, &na));
        dnnl_primitive_desc_t pd;
        LP_TRY(dn_pd_create(&pd, &d, attr));
        args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, i == 0 ? ms : md };
        args[1] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
        LP_TRY(dn_add_primitive(st, pc, pd, na, args));
    }
    return LP_OK;
}

static lp_status eltwise_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    dn_post p[2];
    int np;
    if (!dn_eltwise_of(pc->g, (int)(n - pc->g->nodes), p, &np))
        return LOWP_ERR_UNSUPPORTED;
    return eltwise_run_posts(st, pc, n->in[dn_eltwise_src(pc->g, (int)(n - pc->g->nodes))], p, np, ch->out_value,
                             priv);
}

/* ---- binary Add/Sub/Mul/Div with broadcasting of the second operand ---- */

/* Which input is oneDNN's src0 (the one shaped like the output); -1: none. Sub(c, x) with x
 * the full-shaped one is x - c negated (exact: IEEE subtraction is antisymmetric). */
static int binary_src0(const lp_graph *g, const lp_node *n)
{
    if (n->n_in != 2 || !all_f32(g, n, 0, 1) || !one_output(g, n))
        return -1;
    const lp_shape *ys = shape(g, n->out[0]);
    bool swaps = strcmp(n->op_type, "Add") == 0 || strcmp(n->op_type, "Mul") == 0 || strcmp(n->op_type, "Sub") == 0;
    for (int k = 0; k < (swaps ? 2 : 1); k++) {
        const lp_shape *s = shape(g, n->in[k]);
        if (s->ndim == ys->ndim && memcmp(s->d, ys->d, (size_t)s->ndim * sizeof s->d[0]) == 0)
            return k;
    }
    return -1;
}

/* oneDNN's binary primitive has a fast kernel for it (the second operand broadcast as its
 * jit kernels take it: a scalar, per channel, per last dim, the whole tensor). */
static bool binary_dnnl(const lp_graph *g, const lp_node *n)
{
    int k0 = binary_src0(g, n);
    if (k0 < 0 || shape(g, n->out[0])->ndim < 1)
        return false;
    const lp_shape *ys = shape(g, n->out[0]), *bs = shape(g, n->in[1 - k0]);
    int nd = ys->ndim;
    int64_t bd[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - bs->ndim);
        bd[i] = j >= 0 ? bs->d[j] : 1;
    }
    dnnl_memory_desc_t a_md, b_md;
    dn_plain_md(&a_md, dnnl_f32, nd, ys->d);
    dn_plain_md(&b_md, dnnl_f32, nd, bd);
    dnnl_binary_desc_t d;
    return dnnl_binary_desc_init(&d, dnnl_binary_add, &a_md, &b_md, &a_md) == dnnl_success && probe(&d);
}

/* Any other broadcast (both operands broadcast, or one oneDNN runs only in its reference
 * loops: Silero VAD's [N,C,T] + [N,1,1]) runs on lowp's own kernel (dnnl_own.c), alone. */
static bool binary_own(const lp_graph *g, const lp_node *n)
{
    return n->n_in == 2 && all_f32(g, n, 0, 1) && one_output(g, n) && nonempty(g, n->in[0]) && nonempty(g, n->in[1]) &&
           dn_own_binary_fits(shape(g, n->in[0]), shape(g, n->in[1]), shape(g, n->out[0]));
}

static bool binary_supports(const lp_graph *g, const lp_node *n)
{
    /* Sub(c, x), Div(c, x) with a scalar c: eltwise */
    return eltwise_supports(g, n) || binary_dnnl(g, n) || binary_own(g, n);
}

static dnnl_alg_kind_t binary_alg(const char *op)
{
    static const struct { const char *op; dnnl_alg_kind_t alg; } algs[] = {
        { "Add", dnnl_binary_add }, { "Sub", dnnl_binary_sub }, { "Mul", dnnl_binary_mul }, { "Div", dnnl_binary_div },
    };
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(op, algs[i].op) == 0)
            return algs[i].alg;
    return dnnl_binary_add;
}

static lp_status binary_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    if (eltwise_supports(g, n)) /* Sub(c, x) with a scalar c: never leads a chain */
        return eltwise_build(st, pc, n, ch, priv);
    if (!binary_dnnl(g, n)) {
        if (ch->n_post || ch->q_tail.on || !binary_own(g, n))
            return LOWP_ERR_UNSUPPORTED;
        return dn_own_binary_build(st, pc, n->in[0], n->in[1], n->out[0], binary_alg(n->op_type));
    }
    int k0 = binary_src0(g, n);
    if (k0 < 0)
        return LOWP_ERR_UNSUPPORTED;
    int a = n->in[k0], b = n->in[1 - k0];
    dn_chain negated;
    if (k0 == 1 && strcmp(n->op_type, "Sub") == 0) { /* -(x - c), then the chain's post-ops */
        dn_post neg = { .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_linear, .alpha = -1.f };
        if (ch->n_post + 1 > DN_MAX_POST)
            return LOWP_ERR_UNSUPPORTED;
        for (int i = 0; i < ch->n_post; i++)
            if (!dn_post_fits(&neg, 1, &ch->post[i]))
                return LOWP_ERR_UNSUPPORTED;
        negated = *ch;
        negated.post[0] = neg;
        memcpy(negated.post + 1, ch->post, (size_t)ch->n_post * sizeof *ch->post);
        negated.n_post = ch->n_post + 1;
        ch = &negated;
    }
    dnnl_alg_kind_t alg = binary_alg(n->op_type);
    const lp_shape *ys = shape(g, n->out[0]), *bs = shape(g, b);
    int nd = ys->ndim;
    bool out_priv = priv && dn_value_private_ok(pc, ch->out_value);
    dnnl_memory_desc_t a_md, b_md, dst_md;
    dnnl_memory_t ma, mb, md;
    LP_TRY(src_of(st, pc, a, out_priv, &a_md, &ma));
    int64_t bd[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - bs->ndim);
        bd[i] = j >= 0 ? bs->d[j] : 1;
    }
    bool b_full = lp_numel(nd, bd) == lp_numel(nd, ys->d);
    if (out_priv && b_full && !dn_value_const(g, b) && !dn_value_quantized(pc, b, NULL)) {
        dn_value_md(pc, b, &b_md);
        LP_TRY(dn_input(st, pc, b, NULL, &mb));
    } else {
        dn_plain_md(&b_md, dnnl_f32, nd, bd);
        LP_TRY(input_view(st, pc, b, &b_md, &mb));
    }
    dst_md = a_md;
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na;
    dnnl_primitive_desc_t pd;
    LP_TRY(binary_pd(st, pc, ch, nd, ys->d, priv, alg, &a_md, &b_md, &dst_md, &pd, args, &na));
    LP_TRY(pd_check(pd, output_priv_or_view(st, pc, ch->out_value, out_priv, &dst_md, &md)));
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_0, ma };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_SRC_1, mb };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    return dn_add_primitive(st, pc, pd, na, args);
}

/* ---- Concat ---- */

static bool concat_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 1 || n->n_in > DN_MAX_ARGS - 4 || !one_output(g, n))
        return false;
    int r = shape(g, n->out[0])->ndim;
    int64_t axis = lp_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += r;
    if (r < 1 || axis < 0 || axis >= r)
        return false;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] < 0 || !dn_value_f32(g, n->in[k]) || shape(g, n->in[k])->ndim != r || !nonempty(g, n->in[k]))
            return false;
    return true;
}

/* Concat -> Q -> DQ on 8-bit data: each input, as its producer stores it (float, or 8-bit
 * with its own scale and zero point), goes into its slice of the 8-bit result: copied by one
 * reorder when its parameters are the result's, else (re)quantized by a reorder into a dense
 * temporary and copied. oneDNN 2.6's reorder drops zero points when it writes into a slice of
 * a tensor laid out like its source (acdb -> acdb: checked in test_qmove_random), so it cannot
 * requantize straight into the slice; lowp's own loop can (q8_job, exact) but measured slower
 * than the two JIT reorders (docs/engine.md), so it serves only what oneDNN cannot do. */
static lp_status concat_build_q(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, int axis,
                                bool priv)
{
    const dn_quant *q = &ch->q_tail;
    const lp_shape *ys = shape(pc->g, ch->out_value);
    int r = ys->ndim;
    dnnl_memory_desc_t dst_md;
    if (priv)
        dn_md_channels_last(&dst_md, r, ys->d, q->dt);
    else
        dn_plain_md(&dst_md, q->dt, r, ys->d);
    dnnl_memory_t md, deq;
    LP_TRY(dn_q_result(st, pc, ch->out_value, q, priv, &dst_md, &md, &deq));
    void *tmp = NULL;
    if (deq)
        dnnl_memory_get_data_handle(md, &tmp);
    dnnl_dims_t off = { 0 }, dims;
    for (int k = 0; k < n->n_in; k++) {
        const lp_shape *xs = shape(pc->g, n->in[k]);
        for (int i = 0; i < r; i++)
            dims[i] = xs->d[i];
        dnnl_memory_desc_t sub;
        if (dnnl_memory_desc_init_submemory(&sub, &dst_md, dims, off) != dnnl_success)
            return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: concat slice");
        off[axis] += xs->d[axis];
        dnnl_memory_t ms, mx;
        if (deq)
            LP_TRY(dn_mem(st, &sub, tmp, &ms));
        else
            LP_TRY(dn_mem_value(st, pc, ch->out_value, &sub, &ms));
        dn_quant hq = { 0 };
        dn_value_quantized(pc, n->in[k], &hq);
        if (dn_quant_same(&hq, q)) {
            dnnl_memory_desc_t have;
            dn_value_md(pc, n->in[k], &have);
            LP_TRY(dn_mem_value(st, pc, n->in[k], &have, &mx));
        } else {
            dnnl_memory_desc_t dense;
            if (priv)
                dn_md_channels_last(&dense, r, xs->d, q->dt);
            else
                dn_plain_md(&dense, q->dt, r, xs->d);
            LP_TRY(dn_input_q(st, pc, n->in[k], &dense, q, &mx));
        }
        LP_TRY(dn_reorder_q(st, mx, NULL, ms, NULL));
    }
    if (deq)
        LP_TRY(dn_reorder_q(st, md, q, deq, NULL));
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%sint8 concat:%s", k ? "," : "", q->dt == dnnl_u8 ? "u8" : "s8");
    return LP_OK;
}

static lp_status concat_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_shape *ys = shape(pc->g, ch->out_value);
    int r = ys->ndim;
    int64_t axis = lp_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += r;
    if (ch->q_tail.on)
        return concat_build_q(st, pc, n, ch, (int)axis, priv);
    bool out_priv = priv && dn_value_private_ok(pc, ch->out_value);
    dnnl_memory_desc_t src_md[DN_MAX_ARGS], dst_md;
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 0;
    for (int k = 0; k < n->n_in; k++) {
        dnnl_memory_t m;
        LP_TRY(src_of(st, pc, n->in[k], out_priv, &src_md[k], &m));
        args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_MULTIPLE_SRC + k, m };
    }
    if (out_priv)
        dn_md_any(&dst_md, r, ys->d, dnnl_f32);
    else
        dn_plain_md(&dst_md, dnnl_f32, r, ys->d);
    dnnl_primitive_attr_t attr;
    dnnl_exec_arg_t none[1];
    int nn = 0;
    LP_TRY(dn_attr(st, pc, NULL, 0, NULL, priv, &attr, none, &nn));
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_concat_primitive_desc_create(&pd, &dst_md, n->n_in, (int)axis, src_md, attr, dn_engine());
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: concat");
    dnnl_memory_t md;
    LP_TRY(pd_check(pd, output(st, pc, ch->out_value, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), &md)));
    args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, md };
    return dn_add_primitive(st, pc, pd, na, args);
}

/* ---- Slice, Pad: data moves as oneDNN reorders, on the producer's layout when they can ---- */

/* The node's run context at compile time: x's header (dims), the constant other inputs. */
static void const_ctx(const lp_graph *g, const lp_node *n, lp_tensor *hx, const lp_tensor **in, lp_run_ctx *c)
{
    const lp_value *vx = &g->values[n->in[0]];
    lp_tensor_view(hx, vx->dtype, vx->shape.ndim, vx->shape.d, NULL);
    in[0] = hx;
    for (int k = 1; k < n->n_in && k < LP_MAX_NODE_IO; k++)
        in[k] = n->in[k] >= 0 ? g->values[n->in[k]].init : NULL;
    *c = (lp_run_ctx){ .node = n, .opset = lp_graph_opset(g, n->domain), .n_in = n->n_in, .n_out = 1, .in = in };
}

/* Static float data in and out, every other input constant. */
static bool moves_const_args(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 1 || !all_f32(g, n, 0, 0) || !one_output(g, n) || !nonempty(g, n->in[0]) || !nonempty(g, n->out[0]))
        return false;
    for (int k = 1; k < n->n_in; k++)
        if (n->in[k] >= 0 && !dn_value_const(g, n->in[k]))
            return false;
    return true;
}

static bool slice_window_of(const lp_graph *g, const lp_node *n, int64_t *start, int64_t *step, int64_t *len)
{
    lp_tensor hx;
    const lp_tensor *in[LP_MAX_NODE_IO] = { 0 };
    lp_run_ctx c;
    const_ctx(g, n, &hx, in, &c);
    if (lp_slice_window(&c, start, step, len) != LP_OK) {
        lp_error(LP_OK, "%s", ""); /* the reference kernel reports it */
        return false;
    }
    for (int k = 0; k < hx.ndim; k++)
        if (step[k] <= 0) /* a reversed slice is no memory view */
            return false;
    return true;
}

static bool slice_supports(const lp_graph *g, const lp_node *n)
{
    int64_t start[LP_MAX_DIMS], step[LP_MAX_DIMS], len[LP_MAX_DIMS];
    return moves_const_args(g, n) && shape(g, n->in[0])->ndim <= DNNL_MAX_NDIMS &&
           slice_window_of(g, n, start, step, len);
}

/* x[start : start + (len-1)*step + 1] copied into a buffer whose axes are padded, then seen with
 * the steps: oneDNN refuses a strided view one of whose axes spans len * step past the next
 * axis's stride (an odd axis stepped by 2, say), though its last element (len-1) * step lies
 * inside. An axis is padded to what its outer neighbour's step needs: len * step / that step,
 * under twice the window's extent; a buffer over 4x x's size (three or more such axes, each
 * nearly doubled) leaves the Slice to the reference kernel. */
static lp_status slice_padded(dn_step *st, const lp_prep_ctx *pc, int x, const int64_t *start, const int64_t *step,
                              const int64_t *len, dnnl_memory_t *out)
{
    const lp_shape *xs = shape(pc->g, x);
    int r = xs->ndim;
    int64_t win[DNNL_MAX_NDIMS], pad[DNNL_MAX_NDIMS], xst[DNNL_MAX_NDIMS], pst[DNNL_MAX_NDIMS],
        vst[DNNL_MAX_NDIMS], stp[DNNL_MAX_NDIMS], off = 0;
    dense_strides(r, xs->d, xst);
    for (int k = 0; k < r; k++) {
        stp[k] = len[k] > 1 ? step[k] : 1; /* an axis of one element has no step */
        win[k] = (len[k] - 1) * stp[k] + 1;
        off += start[k] * xst[k];
    }
    for (int k = 0; k < r; k++) {
        int64_t outer = k > 0 ? stp[k - 1] : 1;
        pad[k] = win[k];
        if (k > 0 && len[k] * stp[k] > pad[k] * outer)
            pad[k] = (len[k] * stp[k] + outer - 1) / outer;
    }
    dense_strides(r, pad, pst);
    if (pst[0] * pad[0] > 4 * lp_numel(r, xs->d))
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN Slice: padded window too large");
    for (int k = 0; k < r; k++)
        vst[k] = pst[k] * stp[k];
    dnnl_memory_desc_t from, into, buf, view;
    if (!dn_md_strided(&from, r, win, xst, dnnl_f32) || !dn_md_strided(&into, r, win, pst, dnnl_f32) ||
        !dn_md_strided(&view, r, len, vst, dnnl_f32))
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN Slice: no strided view");
    from.offset0 = off;
    dn_plain_md(&buf, dnnl_f32, r, pad);
    dnnl_memory_t mx, mb, mi;
    void *h = NULL;
    LP_TRY(input_view(st, pc, x, &from, &mx));
    LP_TRY(dn_mem_temp(st, &buf, &mb));
    dnnl_memory_get_data_handle(mb, &h);
    LP_TRY(dn_mem(st, &into, h, &mi));
    LP_TRY(dn_reorder_q(st, mx, NULL, mi, NULL));
    return dn_mem(st, &view, h, out);
}

/* Slice -> Q -> DQ: with steps of 1, the window on whole channel blocks and y's parameters
 * x's, one reorder copying a sub-memory of x as stored into y (channels-last when a
 * convolution reads it, else plain). Otherwise a q8_job: x's integers as stored (or x
 * quantized into a dense temporary by a reorder when it is float or blocked) walked with its
 * strides times the steps, requantized by the table when the parameters differ, written
 * into y -- or, when y's readers want float, dequantized straight into it. Exact. */
static lp_status slice_build_q(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                               const int64_t *start, const int64_t *step, const int64_t *len, bool priv)
{
    const dn_quant *q = &ch->q_tail;
    int x = n->in[0], y = ch->out_value;
    const lp_shape *xs = shape(pc->g, x);
    int r = xs->ndim;
    dnnl_memory_desc_t ymd, have, sub;
    if (priv)
        dn_q_layout(pc, y, q->dt, &ymd);
    else
        dn_plain_md(&ymd, q->dt, r, len);
    dn_quant hq;
    dnnl_memory_t src;
    LP_TRY(q_source(st, pc, x, &have, &hq, &src));
    bool unit = true;
    for (int k = 0; k < r; k++)
        unit &= step[k] == 1;
    dnnl_dims_t sub_dims = { 0 }, sub_off = { 0 };
    for (int k = 0; k < r; k++)
        sub_dims[k] = len[k], sub_off[k] = start[k];
    if (unit && dn_quant_same(&hq, q) && dnnl_memory_desc_init_submemory(&sub, &have, sub_dims, sub_off) == dnnl_success) {
        dnnl_memory_t ms;
        LP_TRY(dn_mem_value(st, pc, x, &sub, &ms));
        return q_move_into(st, pc, y, q, priv, &ymd, &ymd, ms, &hq, false, NULL, "slice");
    }
    int64_t xst[DNNL_MAX_NDIMS], yst[DNNL_MAX_NDIMS], x0 = 0;
    if (!hq.on || !md_strides(&have, xst)) { /* quantized (or unblocked) into a dense temporary */
        dnnl_memory_desc_t dense;
        dn_plain_md(&dense, hq.on ? hq.dt : q->dt, r, xs->d);
        LP_TRY(dn_input_q(st, pc, x, &dense, hq.on ? &hq : q, &src));
        if (!hq.on)
            hq = *q;
        dense_strides(r, xs->d, xst);
    } else {
        x0 = have.offset0;
    }
    int64_t vst[DNNL_MAX_NDIMS];
    for (int k = 0; k < r; k++) {
        vst[k] = xst[k] * step[k];
        x0 += start[k] * xst[k];
    }
    bool q8 = priv && dn_value_private_ok(pc, y);
    if (!q8)
        dn_plain_md(&ymd, dnnl_f32, r, len);
    dnnl_memory_t md;
    LP_TRY(dn_mem_value(st, pc, y, &ymd, &md));
    dn_set_output(st, pc, y, &ymd);
    if (q8)
        st->out_q = *q;
    md_strides(&ymd, yst);
    q8_jobs *jobs = calloc(1, sizeof *jobs + sizeof jobs->job[0]);
    if (!jobs)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing Slice");
    st->custom_arg = jobs;
    st->custom_free = free;
    jobs->threads = pc->threads > 0 ? pc->threads : 1;
    jobs->n = 1;
    q8_job_set(&jobs->job[0], src, &hq, x0, vst, md, q, !q8, 0, yst, r, len);
    st->custom = q8_jobs_run; /* after the executions: a quantizing reorder of x */
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%sint8 slice:%s,lowp", k ? "," : "", q->dt == dnnl_u8 ? "u8" : "s8");
    return LP_OK;
}

/* Slice as one reorder: from a sub-memory of x as its producer stores it (steps of 1) into the
 * output laid out alike; else from a strided view of plain x into a plain output. Exact. */
static lp_status slice_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    int x = n->in[0], y = ch->out_value;
    int64_t start[LP_MAX_DIMS], step[LP_MAX_DIMS], len[LP_MAX_DIMS];
    if (ch->n_post || !slice_window_of(g, n, start, step, len))
        return LOWP_ERR_UNSUPPORTED;
    if (ch->q_tail.on)
        return slice_build_q(st, pc, n, ch, start, step, len, priv);
    const lp_shape *xs = shape(g, x);
    int r = xs->ndim;
    bool unit = true;
    for (int k = 0; k < r; k++)
        unit &= step[k] == 1;
    dnnl_memory_desc_t have, sub, dst_md;
    dn_value_md(pc, x, &have);
    dnnl_memory_t ms, md;
    dnnl_dims_t sub_dims = { 0 }, sub_off = { 0 };
    for (int k = 0; k < r; k++)
        sub_dims[k] = len[k], sub_off[k] = start[k];
    if (unit && priv && dn_value_private_ok(pc, y) && !dn_value_quantized(pc, x, NULL) &&
        dn_md_like(&have, r, len, &dst_md) &&
        dnnl_memory_desc_init_submemory(&sub, &have, sub_dims, sub_off) == dnnl_success) {
        LP_TRY(dn_mem_value(st, pc, x, &sub, &ms));
        LP_TRY(output(st, pc, y, &dst_md, &md));
        snprintf(st->impl, sizeof st->impl, "reorder, layout kept");
        return dn_reorder_q(st, ms, NULL, md, NULL);
    }
    int64_t xst[DNNL_MAX_NDIMS], vst[DNNL_MAX_NDIMS], off = 0;
    dense_strides(r, xs->d, xst);
    for (int k = 0; k < r; k++) {
        vst[k] = xst[k] * step[k];
        off += start[k] * xst[k];
    }
    dnnl_memory_desc_t view;
    bool padded = !dn_md_strided(&view, r, len, vst, dnnl_f32);
    if (padded)
        LP_TRY(slice_padded(st, pc, x, start, step, len, &ms));
    else {
        view.offset0 = off;
        LP_TRY(input_view(st, pc, x, &view, &ms));
    }
    dn_plain_md(&dst_md, dnnl_f32, r, len);
    LP_TRY(output(st, pc, y, &dst_md, &md));
    snprintf(st->impl, sizeof st->impl, padded ? "reorder, window padded" : "reorder, plain");
    return dn_reorder_q(st, ms, NULL, md, NULL);
}

/* The Pad's mode, pads and fill (the reference's geometry); false when it has none. */
static bool pad_geometry_of(const lp_graph *g, const lp_node *n, lp_pad_mode *mode, int64_t *pads, double *fill)
{
    lp_tensor hx;
    const lp_tensor *in[LP_MAX_NODE_IO] = { 0 };
    lp_run_ctx c;
    const_ctx(g, n, &hx, in, &c);
    if (lp_pad_window(&c, mode, pads, fill) != LP_OK) {
        lp_error(LP_OK, "%s", "");
        return false;
    }
    return true;
}

/* A constant Pad without crops: oneDNN's fill + reorder (else lowp's own kernel). */
static bool pad_window_of(const lp_graph *g, const lp_node *n, int64_t *pads, double *fill)
{
    lp_pad_mode mode;
    if (!pad_geometry_of(g, n, &mode, pads, fill))
        return false;
    for (int k = 0; k < 2 * shape(g, n->in[0])->ndim; k++)
        if (pads[k] < 0) /* a crop */
            return false;
    return mode == PAD_CONSTANT;
}

/* Any Pad: the constant ones as fill + reorder, reflect, edge and crops on lowp's own kernel
 * (dnnl_own.c) -- as float only (followed by Q -> DQ, pad_q_supports: the constant one's 8-bit form). */
static bool pad_supports(const lp_graph *g, const lp_node *n)
{
    int64_t pads[2 * LP_MAX_DIMS];
    double fill;
    lp_pad_mode mode;
    int r = moves_const_args(g, n) ? shape(g, n->in[0])->ndim : 0;
    return r >= 1 && r <= DNNL_MAX_NDIMS && pad_geometry_of(g, n, &mode, pads, &fill);
}

static bool pad_q_supports(const lp_graph *g, const lp_node *n)
{
    int64_t pads[2 * LP_MAX_DIMS];
    double fill;
    return moves_const_args(g, n) && shape(g, n->in[0])->ndim <= DNNL_MAX_NDIMS && pad_window_of(g, n, pads, &fill);
}

typedef struct pad_state {
    dnnl_memory_t dst;
    size_t count;               /* floats (bytes when q8) in the output's storage */
    float fill;
    bool q8;                    /* an 8-bit output: every byte is `q_fill` */
    uint8_t q_fill;
} pad_state;

static lp_status pad_fill(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const pad_state *ps = arg;
    float *d = NULL;
    dnnl_memory_get_data_handle(ps->dst, (void **)&d);
    if (ps->q8)
        memset(d, ps->q_fill, ps->count);
    else if (ps->fill == 0.f && !signbit(ps->fill))
        memset(d, 0, ps->count * sizeof *d);
    else
        for (size_t i = 0; i < ps->count; i++)
            d[i] = ps->fill;
    return LP_OK;
}

/* Pad's interior: *sub, x's dims at the begin pads within y's md `ymd`, and the step's fill
 * state (owned by the step). */
static lp_status pad_interior(dn_step *st, const dnnl_memory_desc_t *ymd, const lp_shape *xs, const int64_t *pads,
                              dnnl_memory_desc_t *sub, pad_state **ps)
{
    dnnl_dims_t sub_dims = { 0 }, sub_off = { 0 };
    for (int k = 0; k < xs->ndim; k++)
        sub_dims[k] = xs->d[k], sub_off[k] = pads[k];
    if (dnnl_memory_desc_init_submemory(sub, ymd, sub_dims, sub_off) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    if (!(*ps = calloc(1, sizeof **ps)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing Pad");
    st->custom_arg = *ps;
    st->custom_free = free;
    return LP_OK;
}

/* Pad -> Q -> DQ: y's integers (channels-last when a convolution reads it, else plain) filled
 * with the fill's quantized value -- the zero point for 0, as QuantizeLinear makes it --
 * then x reordered as stored into y's interior. Exact. */
static lp_status pad_build_q(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                             const int64_t *pads, double fill, bool priv)
{
    const dn_quant *q = &ch->q_tail;
    int x = n->in[0], y = ch->out_value;
    const lp_shape *xs = shape(pc->g, x), *ys = shape(pc->g, y);
    int r = xs->ndim;
    dnnl_memory_desc_t ymd, have, sub;
    if (priv)
        dn_q_layout(pc, y, q->dt, &ymd);
    else
        dn_plain_md(&ymd, q->dt, r, ys->d);
    pad_state *ps;
    LP_TRY(pad_interior(st, &ymd, xs, pads, &sub, &ps));
    int32_t lo, hi;
    lp_quant_range(q->dt == dnnl_s8, &lo, &hi);
    ps->q8 = true;
    ps->q_fill = (uint8_t)lp_requant((float)fill / q->scale, q->zp, lo, hi);
    ps->count = dnnl_memory_desc_get_size(&ymd);
    dn_quant hq;
    dnnl_memory_t src;
    LP_TRY(q_source(st, pc, x, &have, &hq, &src));
    LP_TRY(q_move_into(st, pc, y, q, priv, &ymd, &sub, src, &hq, true, &ps->dst, "pad"));
    st->custom_pre = pad_fill;
    return LP_OK;
}

/* Pad (constant mode, no crops): the output filled, then x reordered into the sub-memory that
 * is its interior -- in the producer's layout when the interior starts on a channel block and
 * a non-zero fill would not land in a block's padding channels; else plain. Exact. */
static lp_status pad_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    int x = n->in[0], y = ch->out_value;
    int64_t pads[2 * LP_MAX_DIMS];
    double fill;
    lp_pad_mode mode;
    if (ch->n_post)
        return LOWP_ERR_UNSUPPORTED;
    if (!pad_window_of(g, n, pads, &fill)) {
        if (ch->q_tail.on || !pad_geometry_of(g, n, &mode, pads, &fill))
            return LOWP_ERR_UNSUPPORTED;
        return dn_own_pad_build(st, pc, x, y, (int)mode, pads, (float)fill);
    }
    if (ch->q_tail.on)
        return pad_build_q(st, pc, n, ch, pads, fill, priv);
    const lp_shape *xs = shape(g, x), *ys = shape(g, y);
    int r = xs->ndim;
    dnnl_memory_desc_t have, like_x, dst_md, sub;
    dn_value_md(pc, x, &have);
    bool like = priv && dn_value_private_ok(pc, y) && !dn_value_quantized(pc, x, NULL) &&
                dn_md_like(&have, r, ys->d, &dst_md) && dn_md_like(&have, r, xs->d, &like_x) &&
                dnnl_memory_desc_equal(&like_x, &have);
    if (like && have.format_desc.blocking.inner_nblks == 1) {
        int64_t blk = have.format_desc.blocking.inner_blks[0];
        like = pads[1] % blk == 0 && (fill == 0.0 || (xs->d[1] % blk == 0 && ys->d[1] % blk == 0));
    }
    if (!like) {
        dn_plain_md(&dst_md, dnnl_f32, r, ys->d);
        dn_plain_md(&have, dnnl_f32, r, xs->d);
    }
    pad_state *ps;
    LP_TRY(pad_interior(st, &dst_md, xs, pads, &sub, &ps));
    ps->fill = (float)fill;
    ps->count = dnnl_memory_desc_get_size(&dst_md) / sizeof(float);
    dnnl_memory_t ms, msub;
    LP_TRY(dn_input(st, pc, x, &have, &ms));
    LP_TRY(output(st, pc, y, &dst_md, &ps->dst));
    LP_TRY(dn_mem_value(st, pc, y, &sub, &msub));
    st->custom_pre = pad_fill;
    snprintf(st->impl, sizeof st->impl, "fill + reorder, %s", like ? "layout kept" : "plain");
    return dn_reorder_q(st, ms, NULL, msub, NULL);
}

/* ---- ReduceSum/Mean/Max/Min over one run of axes: lowp's own kernel (dnnl_own.c) ---- */

static bool reduce_kind(const lp_node *n, dn_red_kind *kind)
{
    static const struct { const char *op; dn_red_kind kind; } kinds[] = {
        { "ReduceSum", DN_RED_SUM }, { "ReduceMean", DN_RED_MEAN }, { "ReduceMax", DN_RED_MAX }, { "ReduceMin", DN_RED_MIN },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(n->op_type, kinds[i].op) == 0) {
            *kind = kinds[i].kind;
            return true;
        }
    return false;
}

/* The reduced axes (the reference's reading of axes and noop_with_empty_axes). */
static bool reduce_axes_of(const lp_graph *g, const lp_node *n, bool *reduced)
{
    lp_tensor hx;
    const lp_tensor *in[LP_MAX_NODE_IO] = { 0 };
    lp_run_ctx c;
    const_ctx(g, n, &hx, in, &c);
    bool noop;
    if (lp_reduce_window(&c, &noop, reduced) != LP_OK) {
        lp_error(LP_OK, "%s", "");
        return false;
    }
    return true;
}

static bool reduce_supports(const lp_graph *g, const lp_node *n)
{
    bool reduced[LP_MAX_DIMS];
    int64_t o, r, i;
    dn_red_kind kind;
    return reduce_kind(n, &kind) && moves_const_args(g, n) && reduce_axes_of(g, n, reduced) &&
           dn_own_reduce_fits(shape(g, n->in[0]), reduced, &o, &r, &i);
}

static lp_status reduce_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    (void)priv;
    bool reduced[LP_MAX_DIMS];
    dn_red_kind kind;
    if (ch->n_post || ch->q_tail.on || !reduce_kind(n, &kind) || !reduce_axes_of(pc->g, n, reduced))
        return LOWP_ERR_UNSUPPORTED;
    return dn_own_reduce_build(st, pc, n->in[0], n->out[0], kind, reduced);
}

/* ---- Clip: constant bounds as eltwise; bounds computed at run time on lowp's own kernel ---- */

static bool clip_own(const lp_graph *g, const lp_node *n)
{
    if (lp_graph_opset(g, n->domain) < 11 || n->n_in < 1 || !all_f32(g, n, 0, 2) || !one_output(g, n))
        return false;
    for (int k = 1; k < n->n_in && k < 3; k++)
        if (n->in[k] >= 0 && lp_numel(shape(g, n->in[k])->ndim, shape(g, n->in[k])->d) != 1)
            return false;
    return true;
}

static bool clip_supports(const lp_graph *g, const lp_node *n)
{
    return eltwise_supports(g, n) || clip_own(g, n);
}

static lp_status clip_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    if (eltwise_supports(pc->g, n))
        return eltwise_build(st, pc, n, ch, priv);
    if (ch->n_post || ch->q_tail.on || !clip_own(pc->g, n))
        return LOWP_ERR_UNSUPPORTED;
    return dn_own_clip_build(st, pc, n->in[0], n->n_in > 1 ? n->in[1] : -1, n->n_in > 2 ? n->in[2] : -1, n->out[0]);
}

/* ---- Log: lowp's own kernel (dnnl_own.c; oneDNN's log is not accurate enough) ---- */

static bool log_supports(const lp_graph *g, const lp_node *n)
{
    return n->n_in == 1 && all_f32(g, n, 0, 0) && one_output(g, n);
}

static lp_status log_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    (void)priv;
    if (ch->n_post || ch->q_tail.on)
        return LOWP_ERR_UNSUPPORTED;
    return dn_own_log_build(st, pc, n->in[0], n->out[0]);
}

/* ---- GELU (the Erf subgraph) as one eltwise ---- */

static lp_status gelu_build(dn_step *st, const lp_prep_ctx *pc, const dn_group_info *info, bool priv)
{
    dn_post p = { .kind = DN_POST_ELTWISE, .alg = dnnl_eltwise_gelu_erf };
    return eltwise_run_posts(st, pc, info->gelu_x, &p, 1, info->chain.out_value, priv);
}

/* ---- the table ---- */

typedef struct dn_op {
    const char *name;
    bool (*supports)(const lp_graph *g, const lp_node *n);
    dn_build_fn build;
    bool leader;                        /* may take a post-op chain */
} dn_op;

static const dn_op ops[] = {
    { "Conv", conv_supports, conv_build, true },
    { "ConvTranspose", deconv_supports, deconv_build, true },
    { "Gemm", gemm_supports, gemm_build, true },
    { "MatMul", matmul_supports, matmul_build, true },
    { "MatMulInteger", dn_mmi_supports, dn_mmi_build, true },
    { "ConvInteger", dn_convint_supports, dn_convint_build, true },
    { "DynamicQuantizeLinear", dn_dynq_supports, dn_dynq_build, false },
    { "MaxPool", pool_supports, pool_build, false },
    { "AveragePool", pool_supports, pool_build, false },
    { "GlobalAveragePool", pool_supports, pool_build, false },
    { "GlobalMaxPool", pool_supports, pool_build, false },
    { "BatchNormalization", bn_supports, bn_build, false },
    { "LayerNormalization", ln_supports, ln_build, false },
    { "Softmax", softmax_supports, softmax_build, false },
    { "LogSoftmax", softmax_supports, softmax_build, false },
    { "Relu", eltwise_supports, eltwise_build, false },
    { "LeakyRelu", eltwise_supports, eltwise_build, false },
    { "Clip", clip_supports, clip_build, false },
    { "Sigmoid", eltwise_supports, eltwise_build, false },
    { "Tanh", eltwise_supports, eltwise_build, false },
    { "HardSigmoid", eltwise_supports, eltwise_build, false },
    { "HardSwish", eltwise_supports, eltwise_build, false },
    { "Neg", eltwise_supports, eltwise_build, false },
    { "Abs", eltwise_supports, eltwise_build, false },
    { "Exp", eltwise_supports, eltwise_build, false },
    { "Sqrt", eltwise_supports, eltwise_build, false },
    { "Log", log_supports, log_build, false },
    { "Max", eltwise_supports, eltwise_build, false },
    { "Min", eltwise_supports, eltwise_build, false },
    { "Pow", eltwise_supports, eltwise_build, false },
    { "Add", binary_supports, binary_build, true },
    { "Sub", binary_supports, binary_build, true },
    { "Mul", binary_supports, binary_build, true },
    { "Div", binary_supports, binary_build, true },
    { "Concat", concat_supports, concat_build, false },
    { "Transpose", transpose_supports, transpose_build, false },
    { "Slice", slice_supports, slice_build, false },
    { "Pad", pad_supports, pad_build, false },
    { "ReduceSum", reduce_supports, reduce_build, false },
    { "ReduceMean", reduce_supports, reduce_build, false },
    { "ReduceMax", reduce_supports, reduce_build, false },
    { "ReduceMin", reduce_supports, reduce_build, false },
    { "Resize", dn_resize_supports, dn_resize_build, false },
    { "Upsample", dn_resize_supports, dn_resize_build, false },
};

/* Ops run only as op -> Q -> DQ on 8-bit data (as float they stay the plan's view steps). */
static const dn_op q_ops[] = {
    { "Reshape", view_supports, view_build_q, false },
    { "Flatten", view_supports, view_build_q, false },
    { "Squeeze", view_supports, view_build_q, false },
    { "Unsqueeze", view_supports, view_build_q, false },
};

static const dn_op *find_op(const lp_graph *g, int ni, const dn_op *table, size_t n_table)
{
    const lp_node *n = &g->nodes[ni];
    if (n->op < 0 || *n->domain)
        return NULL;
    for (size_t i = 0; i < n_table; i++)
        if (strcmp(n->op_type, table[i].name) == 0)
            return &table[i];
    return NULL;
}

static const dn_op *op_of(const lp_graph *g, int ni) { return find_op(g, ni, ops, sizeof ops / sizeof ops[0]); }

/* The op of node ni in either table (a q_ops one only when it is followed by Q -> DQ). */
static const dn_op *any_op_of(const lp_graph *g, int ni)
{
    const dn_op *op = op_of(g, ni);
    return op ? op : find_op(g, ni, q_ops, sizeof q_ops / sizeof q_ops[0]);
}

bool dn_supports_q(const lp_graph *g, int ni)
{
    const dn_op *op = any_op_of(g, ni);
    /* followed by Q -> DQ: a Pad only as the constant one (its 8-bit form) */
    return op && !g->nodes[ni].dynamic && (op->supports == pad_supports ? pad_q_supports : op->supports)(g, &g->nodes[ni]);
}

bool dn_supports_node(const lp_graph *g, int ni)
{
    const dn_op *op = op_of(g, ni);
    return op && !g->nodes[ni].dynamic && op->supports(g, &g->nodes[ni]);
}

bool dn_chain_leader(const lp_graph *g, int ni)
{
    const dn_op *op = op_of(g, ni);
    /* a binary op on lowp's own broadcasting kernel runs alone */
    return op && op->leader && dn_supports_node(g, ni) && !eltwise_supports(g, &g->nodes[ni]) &&
           (op->build != binary_build || binary_dnnl(g, &g->nodes[ni]));
}

lp_status dn_build(dn_step *st, const lp_prep_ctx *pc, const dn_group_info *info, bool allow_private)
{
    const lp_graph *g = pc->g;
    switch (info->pattern) {
    case DN_PAT_LAYERNORM:
        return ln_build_common(st, pc, info->ln_x, info->ln_gamma, info->ln_beta, info->ln_eps, info->ln_axis,
                               info->chain.out_value);
    case DN_PAT_GELU:
        return gelu_build(st, pc, info, allow_private);
    case DN_PAT_QDQ:
        return dn_qdq_build(st, pc, info, allow_private);
    case DN_PAT_CHAIN: {
        const dn_op *op = info->chain.q_tail.on ? any_op_of(g, pc->nodes[0]) : op_of(g, pc->nodes[0]);
        if (!op)
            return LOWP_ERR_UNSUPPORTED;
        return op->build(st, pc, &g->nodes[pc->nodes[0]], &info->chain, allow_private);
    }
    default:
        return LOWP_ERR_UNSUPPORTED;
    }
}
