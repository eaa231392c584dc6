/* dnnl_core.c — the oneDNN backend's kernel vtable: step state, memories bound to plan
 * values, layout hand-over between steps, and the reference fallback. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

#include "engine/engine.h"
#include "kernels/dnnl_internal.h"

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void)
{
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
        engine = NULL;
}

dnnl_engine_t dn_engine(void)
{
    pthread_once(&engine_once, engine_init);
    return engine;
}

bool lp_dnnl_bf16_supported(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

dnnl_data_type_t dn_dt(lp_dtype t)
{
    return t == LOWP_BFLOAT16 ? dnnl_bf16 : dnnl_f32;
}

void dn_plain_md(dnnl_memory_desc_t *md, dnnl_data_type_t dt, int ndim, const int64_t *dims)
{
    dnnl_dims_t d = { 1 };
    int nd = ndim > 0 ? ndim : 1;
    for (int i = 0; i < ndim; i++)
        d[i] = dims[i];
    dnnl_memory_desc_init_by_strides(md, nd, d, dt, NULL);
}

bool dn_value_f32(const lp_graph *g, int v)
{
    return v >= 0 && g->values[v].dtype == LOWP_FLOAT && lp_shape_static(&g->values[v].shape) &&
           g->values[v].shape.ndim <= DNNL_MAX_NDIMS;
}

bool dn_value_const(const lp_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == LP_VALUE_CONST;
}

static const dn_step *producer(const lp_prep_ctx *pc, int v)
{
    int s = pc->value_step[v];
    if (s < 0 || s == pc->step || pc->steps[s].kernel != &lp_kernel_dnnl || !pc->steps[s].state)
        return NULL;
    const dn_step *st = pc->steps[s].state;
    return st->out_value == v ? st : NULL;
}

void dn_value_md(const lp_prep_ctx *pc, int v, dnnl_memory_desc_t *md)
{
    const dn_step *p = producer(pc, v);
    if (p) {
        *md = p->out_md;
        return;
    }
    const lp_value *val = &pc->g->values[v];
    dn_plain_md(md, dnnl_f32, val->shape.ndim, val->shape.d);
}

bool dn_value_quantized(const lp_prep_ctx *pc, int v, dn_quant *q)
{
    const dn_step *p = producer(pc, v);
    if (!p || !p->out_q.on)
        return false;
    if (q)
        *q = p->out_q;
    return true;
}

bool dn_value_private_ok(const lp_prep_ctx *pc, int v)
{
    return pc->value_reader_kernel[v] == &lp_kernel_dnnl;
}

static lp_status dn_fail(dnnl_status_t s, const char *what)
{
    if (s == dnnl_out_of_memory)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "oneDNN: out of memory (%s)", what);
    return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: %s failed (status %d)", what, (int)s);
}

lp_status dn_mem(dn_step *st, const dnnl_memory_desc_t *md, void *handle, dnnl_memory_t *out)
{
    if (st->n_mem == DN_MAX_MEM)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN step: too many memories");
    dnnl_status_t s = dnnl_memory_create(out, md, dn_engine(), handle ? handle : DNNL_MEMORY_NONE);
    if (s != dnnl_success)
        return dn_fail(s, "memory_create");
    st->mem[st->n_mem++] = *out;
    return LP_OK;
}

static lp_status dn_bind_to(dn_step *st, dnnl_memory_t m, void *const *where)
{
    if (st->n_bind == DN_MAX_MEM)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN step: too many bindings");
    st->bind[st->n_bind++] = (dn_bind){ .mem = m, .where = where, .last = NULL };
    return LP_OK;
}

lp_status dn_mem_value(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *md, dnnl_memory_t *out)
{
    if (dn_value_const(pc->g, v))
        return dn_mem(st, md, pc->g->values[v].init->data, out);
    LP_TRY(dn_mem(st, md, NULL, out));
    return dn_bind_to(st, *out, &pc->vals[v].data);
}

/* md re-described in dims `dims` of rank nd: the same bytes, size-1 dims inserted or dropped
 * (a 1-D convolution run as 2-D with H = 1 sees its (N, C, W) values as (N, C, 1, W)). */
bool dn_md_reshape(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md, int nd, const int64_t *dims)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    return dnnl_memory_desc_reshape(out, md, nd, d) == dnnl_success;
}

lp_status dn_mem_as(dn_step *st, dnnl_memory_t m, const dnnl_memory_desc_t *md, dnnl_memory_t *out)
{
    void *handle = NULL;
    dnnl_memory_get_data_handle(m, &handle);
    for (int i = 0; i < st->n_bind; i++)
        if (st->bind[i].mem == m) { /* bound to a value or the scratch: follow it too */
            LP_TRY(dn_mem(st, md, NULL, out));
            return dn_bind_to(st, *out, st->bind[i].where);
        }
    return dn_mem(st, md, handle, out);
}

lp_status dn_mem_temp(dn_step *st, const dnnl_memory_desc_t *md, dnnl_memory_t *out)
{
    if (st->n_buf == DN_MAX_MEM)
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN step: too many buffers");
    size_t size = dnnl_memory_desc_get_size(md);
    void *b = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
    if (!b)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing a oneDNN step");
    memset(b, 0, (size + 63) / 64 * 64 + 64);
    st->buf[st->n_buf++] = b;
    return dn_mem(st, md, b, out);
}

lp_status dn_add_exec(dn_step *st, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    if (st->n_exec == DN_MAX_EXEC || nargs > DN_MAX_ARGS) {
        dnnl_primitive_destroy(prim);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN step: too many primitives");
    }
    dn_exec *e = &st->exec[st->n_exec++];
    e->prim = prim;
    e->nargs = nargs;
    memcpy(e->args, args, (size_t)nargs * sizeof *args);
    return LP_OK;
}

/* A reorder from `from` (stored as fq, NULL: float) to `to` (stored as tq): one primitive
 * changes layout and quantizes (x / s + zp), dequantizes ((q - zp) * s) or requantizes. */
static lp_status reorder_prim_q(const dnnl_memory_desc_t *from, const dn_quant *fq, const dnnl_memory_desc_t *to,
                                const dn_quant *tq, dnnl_primitive_t *out)
{
    dnnl_primitive_attr_t attr = NULL;
    bool fon = fq && fq->on, ton = tq && tq->on;
    if (fon || ton) {
        float scale = (fon ? fq->scale : 1.f) / (ton ? tq->scale : 1.f);
        if (dnnl_primitive_attr_create(&attr) != dnnl_success)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "oneDNN: attr");
        if ((scale != 1.f && dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale) != dnnl_success) ||
            (fon && fq->zp && dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &fq->zp) != dnnl_success) ||
            (ton && tq->zp && dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &tq->zp) != dnnl_success)) {
            dnnl_primitive_attr_destroy(attr);
            return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: quantizing reorder attributes");
        }
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, from, dn_engine(), to, dn_engine(), attr);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return dn_fail(s, "reorder");
    s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success ? LP_OK : dn_fail(s, "reorder");
}

static lp_status reorder_prim(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, dnnl_primitive_t *out)
{
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, from, dn_engine(), to, dn_engine(), NULL);
    if (s != dnnl_success)
        return dn_fail(s, "reorder");
    s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success ? LP_OK : dn_fail(s, "reorder");
}

bool dn_quant_same(const dn_quant *a, const dn_quant *b)
{
    bool aon = a && a->on, bon = b && b->on;
    if (!aon || !bon)
        return aon == bon;
    return a->dt == b->dt && a->scale == b->scale && a->zp == b->zp;
}

static lp_status reorder_one(dn_step *st, dnnl_memory_t from, const dn_quant *fq, dnnl_memory_t to, const dn_quant *tq)
{
    const dnnl_memory_desc_t *mf, *mt;
    dnnl_memory_get_memory_desc(from, &mf);
    dnnl_memory_get_memory_desc(to, &mt);
    dnnl_primitive_t r;
    LP_TRY(reorder_prim_q(mf, fq, mt, tq, &r));
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    return dn_add_exec(st, r, 2, args);
}

/* md alone in its buffer: no offset, no bytes but its (padded) elements. */
static bool md_dense(const dnnl_memory_desc_t *md)
{
    if (md->format_kind != dnnl_blocked || md->offset0 != 0 || md->ndims < 1)
        return false;
    size_t n = md->data_type == dnnl_f32 || md->data_type == dnnl_s32 ? 4 : md->data_type == dnnl_bf16 ? 2 : 1;
    for (int d = 0; d < md->ndims; d++)
        n *= (size_t)md->padded_dims[d];
    return dnnl_memory_desc_get_size(md) == n;
}

/* oneDNN 2.6.3's jit reorder from plain (nchw) to channels-last with a zero point writes wrong
 * values for some shapes (more than 16 channels not a multiple of 4, 64 or 256 positions per
 * channel: nchw 1x23x8x8 -> nhwc u8, zero point 128, is wrong nearly everywhere; found by
 * tests/test_kernels_int8.c on other seeds). So a reorder with a zero point that also changes
 * the layout goes in two: the layout change alone (no attributes) on the 8-bit side where it
 * can, then the (de)quantization between equal layouts -- one more pass, over bytes. */
lp_status dn_reorder_q(dn_step *st, dnnl_memory_t from, const dn_quant *fq, dnnl_memory_t to, const dn_quant *tq)
{
    const dnnl_memory_desc_t *mf, *mt;
    dnnl_memory_get_memory_desc(from, &mf);
    dnnl_memory_get_memory_desc(to, &mt);
    if (mf->ndims != mt->ndims) { /* one side seen with size-1 dims more (dn_md_reshape) */
        dnnl_memory_desc_t r;
        if (!dn_md_reshape(&r, mf, mt->ndims, mt->dims))
            return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: a reorder between ranks %d and %d", mf->ndims, mt->ndims);
        LP_TRY(dn_mem_as(st, from, &r, &from));
        dnnl_memory_get_memory_desc(from, &mf);
    }
    dnnl_memory_desc_t from_as_to = *mf;
    from_as_to.data_type = mt->data_type;
    if (!((fq && fq->on && fq->zp) || (tq && tq->on && tq->zp)) || dnnl_memory_desc_equal(&from_as_to, mt) ||
        mf->extra.flags || mt->extra.flags)
        return reorder_one(st, from, fq, to, tq);
    /* the layout first (in from's type, into to's layout), or the conversion first (into
       from's layout, in to's type): whichever moves 8-bit data, if its buffer can be made */
    bool from_8bit = mf->data_type == dnnl_u8 || mf->data_type == dnnl_s8;
    bool layout_first = md_dense(mt) && (from_8bit || !md_dense(mf));
    if (!layout_first && !md_dense(mf))
        return reorder_one(st, from, fq, to, tq);
    dnnl_memory_desc_t mid = layout_first ? *mt : *mf;
    mid.data_type = layout_first ? mf->data_type : mt->data_type;
    dnnl_memory_t mm;
    LP_TRY(dn_mem_temp(st, &mid, &mm));
    if (layout_first) {
        LP_TRY(reorder_one(st, from, NULL, mm, NULL));
        return reorder_one(st, mm, fq, to, tq);
    }
    LP_TRY(reorder_one(st, from, fq, mm, tq));
    return reorder_one(st, mm, NULL, to, NULL);
}

lp_status dn_input_q(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *want, const dn_quant *wq,
                     dnnl_memory_t *out)
{
    dnnl_memory_desc_t have, plain;
    dn_quant hq = { 0 };
    dn_value_md(pc, v, &have);
    dn_value_quantized(pc, v, &hq);
    if (want && want->ndims != have.ndims && !dn_md_reshape(&have, &have, want->ndims, want->dims))
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: value seen in rank %d", want->ndims);
    dnnl_memory_t src;
    LP_TRY(dn_mem_value(st, pc, v, &have, &src));
    if (!want && hq.on) { /* "as stored" means float to callers that know no quantization */
        const lp_value *val = &pc->g->values[v];
        dn_plain_md(&plain, dnnl_f32, val->shape.ndim, val->shape.d);
        want = &plain;
    }
    if (!want || (dnnl_memory_desc_equal(&have, want) && dn_quant_same(&hq, wq))) {
        *out = src;
        return LP_OK;
    }
    LP_TRY(dn_mem_temp(st, want, out));
    return dn_reorder_q(st, src, &hq, *out, wq);
}

lp_status dn_input(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *want, dnnl_memory_t *out)
{
    return dn_input_q(st, pc, v, want, NULL, out);
}

dn_mark dn_checkpoint(const dn_step *st)
{
    return (dn_mark){ st->n_exec, st->n_bind, st->n_mem, st->n_buf, st->share_in, strlen(st->impl) };
}

void dn_rollback(dn_step *st, dn_mark m)
{
    while (st->n_exec > m.n_exec)
        dnnl_primitive_destroy(st->exec[--st->n_exec].prim);
    while (st->n_mem > m.n_mem)
        dnnl_memory_destroy(st->mem[--st->n_mem]);
    while (st->n_buf > m.n_buf)
        free(st->buf[--st->n_buf]);
    st->n_bind = m.n_bind;
    st->share_in = m.share_in;
    st->impl[m.impl_len] = 0;
}

lp_status dn_copy_into(dn_step *st, const lp_prep_ctx *pc, int v, dnnl_memory_t dst, const dn_quant *dq)
{
    dnnl_memory_desc_t have;
    const dnnl_memory_desc_t *want;
    dn_value_md(pc, v, &have);
    dnnl_memory_get_memory_desc(dst, &want);
    dnnl_memory_t src;
    dn_quant hq = { 0 };
    dn_value_quantized(pc, v, &hq);
    LP_TRY(dn_mem_value(st, pc, v, &have, &src));
    return dn_reorder_q(st, src, &hq, dst, dq);
}

lp_status dn_input_plain(dn_step *st, const lp_prep_ctx *pc, int v, dnnl_memory_t *out)
{
    dnnl_memory_desc_t plain;
    const lp_value *val = &pc->g->values[v];
    dn_plain_md(&plain, dnnl_f32, val->shape.ndim, val->shape.d);
    return dn_input(st, pc, v, &plain, out);
}

lp_status dn_const(dn_step *st, const void *data, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                   dnnl_memory_t *out)
{
    dnnl_memory_t src;
    LP_TRY(dn_mem_temp(st, to, out));
    LP_TRY(dn_mem(st, from, (void *)data, &src));
    dnnl_primitive_t r;
    LP_TRY(reorder_prim(from, to, &r));
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, src }, { DNNL_ARG_TO, *out } };
    dnnl_status_t s = dnnl_primitive_execute(r, st->stream, 2, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(st->stream);
    dnnl_primitive_destroy(r);
    return s == dnnl_success ? LP_OK : dn_fail(s, "weight reorder");
}

lp_status dn_add_primitive(dn_step *st, const lp_prep_ctx *pc, dnnl_primitive_desc_t pd, int nargs,
                           dnnl_exec_arg_t *args)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) {
        size_t k = strlen(st->impl);
        snprintf(st->impl + k, sizeof st->impl - k, "%s%s", k ? "," : "", impl);
    }
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sp_size = sp ? dnnl_memory_desc_get_size(sp) : 0;
    dnnl_primitive_t prim;
    dnnl_status_t s = dnnl_primitive_create(&prim, pd);
    lp_status r = LP_OK;
    if (s != dnnl_success)
        r = dn_fail(s, "primitive_create");
    if (r == LP_OK && sp_size) {
        dnnl_memory_t m;
        if (*pc->scratch_bytes < sp_size)
            *pc->scratch_bytes = sp_size;
        if ((r = dn_mem(st, sp, NULL, &m)) == LP_OK && (r = dn_bind_to(st, m, pc->scratch)) == LP_OK)
            args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, m };
        if (r != LP_OK)
            dnnl_primitive_destroy(prim);
    }
    dnnl_primitive_desc_destroy(pd);
    if (r != LP_OK)
        return r;
    return dn_add_exec(st, prim, nargs, args);
}

void dn_set_output(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *md)
{
    const lp_value *val = &pc->g->values[v];
    st->out_value = v;
    st->out_md = *md;
    /* readers see the value in its own rank (a 1-D convolution's 2-D dst: H = 1 dropped; a
       scalar is rank 1, as dn_plain_md has it) */
    int64_t one = 1;
    int nd = val->shape.ndim > 0 ? val->shape.ndim : 1;
    if (md->ndims != nd && !dn_md_reshape(&st->out_md, md, nd, val->shape.ndim > 0 ? val->shape.d : &one))
        st->out_md = *md;
    dnnl_memory_desc_t plain;
    dn_plain_md(&plain, dnnl_f32, val->shape.ndim, val->shape.d);
    st->out_private = !dnnl_memory_desc_equal(&plain, &st->out_md);
    size_t need = dnnl_memory_desc_get_size(md);
    if (pc->value_bytes[v] < need)
        pc->value_bytes[v] = need;
}

/* Frees everything a build made, keeping the stream: the step can be built again. */
static void step_reset(dn_step *st)
{
    for (int i = 0; i < st->n_exec; i++)
        dnnl_primitive_destroy(st->exec[i].prim);
    for (int i = 0; i < st->n_mem; i++)
        dnnl_memory_destroy(st->mem[i]);
    for (int i = 0; i < st->n_buf; i++)
        free(st->buf[i]);
    if (st->custom_free)
        st->custom_free(st->custom_arg);
    for (int i = 0; i < st->n_ref_tmp; i++)
        if (st->ref_tmp[i].owns_data)
            free(st->ref_tmp[i].data);
    free(st->ref);
    free(st->ref_tmp);
    if (st->plain_reorder)
        dnnl_primitive_destroy(st->plain_reorder);
    if (st->plain_src)
        dnnl_memory_destroy(st->plain_src);
    if (st->plain_dst)
        dnnl_memory_destroy(st->plain_dst);
    free(st->plain_buf);
    dnnl_stream_t keep = st->stream;
    memset(st, 0, sizeof *st);
    st->stream = keep;
    st->out_value = -1;
    st->share_in = -1;
}

static void dn_release(void *state)
{
    dn_step *st = state;
    if (!st)
        return;
    step_reset(st);
    if (st->stream)
        dnnl_stream_destroy(st->stream);
    free(st);
}

/* The reference fallback: the group's nodes run by their reference kernels, inputs a
 * neighbour stored privately reordered to plain first. */
static lp_status build_reference(dn_step *st, const lp_prep_ctx *pc)
{
    const lp_graph *g = pc->g;
    st->ref = calloc((size_t)pc->n_nodes, sizeof *st->ref);
    st->ref_tmp = calloc((size_t)pc->n_nodes * LP_MAX_NODE_IO * 2, sizeof *st->ref_tmp);
    if (!st->ref || !st->ref_tmp)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing a step");
    for (int j = 0; j < pc->n_nodes; j++) {
        const lp_node *n = &g->nodes[pc->nodes[j]];
        dn_ref *r = &st->ref[st->n_ref++];
        r->op = lp_op_get(n->op);
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            r->in[k] = NULL;
            if (v < 0)
                continue;
            int jp = -1; /* made inside the group? */
            for (int i = 0; i < j; i++)
                for (int o = 0; o < g->nodes[pc->nodes[i]].n_out; o++)
                    if (g->nodes[pc->nodes[i]].out[o] == v)
                        jp = i * LP_MAX_NODE_IO + o;
            if (jp >= 0) {
                r->in[k] = st->ref[jp / LP_MAX_NODE_IO].out[jp % LP_MAX_NODE_IO];
                continue;
            }
            const dn_step *p = producer(pc, v);
            if (p && p->out_private) { /* a plain copy, made by a reorder before the nodes run */
                /* of the value's type: float, or the 8-bit integers of a u8/s8 value
                   (DynamicQuantizeLinear's, read by a ConvInteger that fell back) */
                lp_dtype dt = pc->g->values[v].dtype == LP_U8 || pc->g->values[v].dtype == LP_I8 ? pc->g->values[v].dtype
                                                                                                  : LOWP_FLOAT;
                dnnl_memory_desc_t plain;
                dn_plain_md(&plain, dt == LP_U8 ? dnnl_u8 : dt == LP_I8 ? dnnl_s8 : dnnl_f32, pc->vals[v].ndim,
                            pc->vals[v].dims);
                dnnl_memory_t m;
                LP_TRY(dn_input(st, pc, v, &plain, &m));
                void *data = NULL;
                dnnl_memory_get_data_handle(m, &data);
                lp_tensor *t = &st->ref_tmp[st->n_ref_tmp++];
                lp_tensor_view(t, dt, pc->vals[v].ndim, pc->vals[v].dims, data);
                r->in[k] = t;
            } else {
                r->in[k] = &pc->vals[v];
            }
        }
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            r->out[k] = NULL;
            if (v < 0)
                continue;
            if (j == pc->n_nodes - 1) {
                r->out[k] = &pc->vals[v];
                continue;
            }
            const lp_value *val = &g->values[v];
            size_t size = (size_t)lp_numel(val->shape.ndim, val->shape.d) * lp_dtype_traits_of(val->dtype)->size;
            lp_tensor *t = &st->ref_tmp[st->n_ref_tmp++];
            void *data = calloc(1, size ? size : 1);
            if (!data)
                return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing a step");
            lp_tensor_view(t, val->dtype, val->shape.ndim, val->shape.d, data);
            t->owns_data = true;
            r->out[k] = t;
        }
        r->ctx = (lp_run_ctx){ .node = n, .opset = lp_graph_opset(g, n->domain), .n_in = n->n_in,
                               .n_out = n->n_out, .in = r->in, .out = r->out };
    }
    const lp_node *last = &g->nodes[pc->nodes[pc->n_nodes - 1]];
    st->out_value = last->out[0];
    if (st->out_value >= 0) {
        const lp_value *val = &g->values[st->out_value];
        dn_plain_md(&st->out_md, dnnl_f32, val->shape.ndim, val->shape.d);
    }
    st->out_private = false;
    snprintf(st->impl + strlen(st->impl), sizeof st->impl - strlen(st->impl), "%sreference fallback",
             *st->impl ? "," : "");
    return LP_OK;
}

static lp_status dn_prepare_step(const lp_prep_ctx *pc, void **state_out)
{
    dn_step *st = calloc(1, sizeof *st);
    if (!st)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing a oneDNN step");
    st->out_value = -1;
    st->share_in = -1;
    if (!dn_engine() || dnnl_stream_create(&st->stream, dn_engine(), dnnl_stream_default_flags) != dnnl_success) {
        free(st);
        return lp_error(LOWP_ERR_INTERNAL, "oneDNN: cannot create a CPU engine or stream");
    }
    dn_group_info info;
    lp_status s = LOWP_ERR_UNSUPPORTED;
    /* Tests force the reference fallback for steps led by an op type. */
    const char *force = getenv("LOWP_DNNL_TEST_FALLBACK");
    bool forced = force && strcmp(force, pc->g->nodes[pc->nodes[0]].op_type) == 0;
    if (!forced && dn_group_analyze(pc->g, pc->qconst, pc->nodes, pc->n_nodes, &info)) {
        /* Private layouts first; then plain; then the reference kernels. */
        if ((s = dn_build(st, pc, &info, true)) != LP_OK && s != LOWP_ERR_OUT_OF_MEMORY) {
            step_reset(st);
            s = dn_build(st, pc, &info, false);
        }
    }
    if (s != LP_OK && s != LOWP_ERR_OUT_OF_MEMORY) {
        step_reset(st);
        s = build_reference(st, pc);
    }
    if (s != LP_OK) {
        dn_release(st);
        return s;
    }
    if (st->share_in >= 0)
        lp_prep_share_storage(pc, st->out_value, st->share_in);
    *state_out = st;
    return LP_OK;
}

/* Profiling: the step's primitive kinds, distinct, in execution order ("reorder+convolution"),
 * "reference" for the reference fallback; which executions are reorders. */
static void find_kinds(dn_step *st)
{
    size_t k = 0;
    for (int i = 0; i < st->n_exec; i++) {
        const_dnnl_primitive_desc_t pd = NULL;
        dnnl_primitive_kind_t kind = dnnl_undefined_primitive;
        if (dnnl_primitive_get_primitive_desc(st->exec[i].prim, &pd) == dnnl_success && pd)
            dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind);
        if (kind == dnnl_reorder)
            st->reorder_mask |= 1u << i;
        const char *name = kind == dnnl_undefined_primitive ? "?" : dnnl_prim_kind2str(kind);
        char item[40], have[sizeof st->kinds + 2];
        snprintf(item, sizeof item, "+%s+", name);
        snprintf(have, sizeof have, "+%s+", st->kinds);
        if (!strstr(have, item) && k < sizeof st->kinds)
            k += (size_t)snprintf(st->kinds + k, sizeof st->kinds - k, "%s%s", k ? "+" : "", name);
    }
    if ((st->custom || st->custom_pre) && k < sizeof st->kinds)
        k += (size_t)snprintf(st->kinds + k, sizeof st->kinds - k, "%slowp", k ? "+" : "");
    if (st->n_ref && k < sizeof st->kinds)
        snprintf(st->kinds + k, sizeof st->kinds - k, "%sreference", k ? "+" : "");
}

/* Runs the step; with `prof` (profiling), times each reorder into it. */
static lp_status run_step(dn_step *st, const lp_run_ctx *c, lp_step_prof *prof)
{
    for (int i = 0; i < st->n_bind; i++) {
        dn_bind *b = &st->bind[i];
        if (*b->where != b->last) {
            if (dnnl_memory_set_data_handle(b->mem, *b->where) != dnnl_success)
                return lp_error(LOWP_ERR_INTERNAL, "oneDNN: cannot bind a tensor");
            b->last = *b->where;
        }
    }
    if (st->custom_pre)
        LP_TRY(st->custom_pre(st->custom_arg, c));
    for (int i = 0; i < st->n_exec; i++) {
        bool timed = prof && (st->reorder_mask & (1u << i));
        double t0 = timed ? lp_now_s() : 0;
        dnnl_status_t s = dnnl_primitive_execute(st->exec[i].prim, st->stream, st->exec[i].nargs, st->exec[i].args);
        if (s != dnnl_success)
            return lp_node_error(c->node, LOWP_ERR_INTERNAL, "oneDNN: primitive execution failed (status %d)", (int)s);
        if (timed) {
            dnnl_stream_wait(st->stream);
            prof->reorders++;
            prof->reorder_s += lp_now_s() - t0;
        }
    }
    if (st->n_exec)
        dnnl_stream_wait(st->stream);
    if (st->custom)
        LP_TRY(st->custom(st->custom_arg, c));
    for (int i = 0; i < st->n_ref; i++)
        LP_TRY(st->ref[i].op->run(&st->ref[i].ctx));
    return LP_OK;
}

static lp_status dn_run(void *state, const lp_run_ctx *c) { return run_step(state, c, NULL); }

static lp_status dn_run_profiled(void *state, const lp_run_ctx *c, lp_step_prof *prof)
{
    dn_step *st = state;
    if (!st->kinds[0])
        find_kinds(st);
    prof->primitive = st->kinds[0] ? st->kinds : NULL;
    return run_step(st, c, prof);
}

static const lp_tensor *dn_plain(void *state, int value, const lp_tensor *t)
{
    dn_step *st = state;
    if (value != st->out_value || !st->out_private)
        return t;
    if (!st->plain_reorder) { /* float, or the 8-bit integers of a u8/s8 value (DynamicQuantizeLinear's);
                                 one reorder: to plain is no direction dn_reorder_q splits for */
        dnnl_memory_desc_t plain;
        dn_plain_md(&plain, t->dtype == LP_U8 ? dnnl_u8 : t->dtype == LP_I8 ? dnnl_s8 : dnnl_f32, t->ndim, t->dims);
        size_t size = dnnl_memory_desc_get_size(&plain);
        if (!(st->plain_buf = malloc(size ? size : 1)) ||
            reorder_prim_q(&st->out_md, &st->out_q, &plain, NULL, &st->plain_reorder) != LP_OK ||
            dnnl_memory_create(&st->plain_src, &st->out_md, dn_engine(), DNNL_MEMORY_NONE) != dnnl_success ||
            dnnl_memory_create(&st->plain_dst, &plain, dn_engine(), st->plain_buf) != dnnl_success)
            return t; /* cannot show it: the tap sees the raw layout */
        lp_tensor_view(&st->plain, t->dtype == LP_U8 || t->dtype == LP_I8 ? t->dtype : LOWP_FLOAT, t->ndim, t->dims,
                       st->plain_buf);
    }
    dnnl_memory_set_data_handle(st->plain_src, t->data);
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, st->plain_src }, { DNNL_ARG_TO, st->plain_dst } };
    dnnl_primitive_execute(st->plain_reorder, st->stream, 2, args);
    dnnl_stream_wait(st->stream);
    return &st->plain;
}

static const char *dn_describe(void *state)
{
    dn_step *st = state;
    return st->impl;
}

static bool dn_supports(const lp_graph *g, int ni)
{
    return dn_engine() && dn_supports_node(g, ni);
}

static lp_status dn_prepare_unused(const lp_graph *g, int ni, void **state_out)
{
    (void)g; (void)ni; (void)state_out;
    return lp_error(LOWP_ERR_INTERNAL, "the oneDNN backend prepares through prepare_step");
}

const lp_kernel lp_kernel_dnnl = {
    .name = "dnnl",
    .supports = dn_supports,
    .prepare = dn_prepare_unused,
    .run = dn_run,
    .release = dn_release,
    .run_profiled = dn_run_profiled,
    .fuse = dn_fuse,
    .prepare_step = dn_prepare_step,
    .plain = dn_plain,
    .describe = dn_describe,
};
