/* dnnl_train.c — the helpers of dnnl_train.h, shared by the training layer's oneDNN fast
 * paths (dnnl_conv.c, dnnl_ops.c). */
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "train/dnnl_train.h"

dnnl_engine_t lp_dnt_engine(void) { return dn_engine(); }

bool lp_dnt_enabled(void)
{
    const char *k = getenv("LOWP_KERNELS");
    return !(k && !strcmp(k, "reference")) && dn_engine() != NULL;
}

lp_status lp_dnt_pd(dnnl_primitive_desc_t *pd, const void *desc, const_dnnl_primitive_desc_t hint,
                    const_dnnl_primitive_attr_t attr)
{
    *pd = NULL;
    if (!dn_engine() || dnnl_primitive_desc_create(pd, desc, attr, dn_engine(), hint) != dnnl_success) {
        *pd = NULL;
        return LOWP_ERR_UNSUPPORTED;
    }
    /* oneDNN's "ref" implementations are plain loops, slower than lowp's own */
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl ||
        strstr(impl, "ref")) { /* "ref:any", "bnorm_ref:any", ... */
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
        return LOWP_ERR_UNSUPPORTED;
    }
    return LP_OK;
}

lp_status lp_dnt_prim(dnnl_primitive_t *p, const_dnnl_primitive_desc_t pd)
{
    if (dnnl_primitive_create(p, pd) != dnnl_success) {
        *p = NULL;
        return LOWP_ERR_UNSUPPORTED;
    }
    return LP_OK;
}

lp_status lp_dnt_reorder(dnnl_primitive_t *p, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, bool sum)
{
    *p = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    lp_status st = LOWP_ERR_UNSUPPORTED;
    if (sum && (dnnl_primitive_attr_create(&attr) != dnnl_success || dnnl_post_ops_create(&po) != dnnl_success ||
                dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
                dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success))
        goto out;
    if (dnnl_reorder_primitive_desc_create(&pd, from, dn_engine(), to, dn_engine(), attr) != dnnl_success) {
        pd = NULL;
        goto out;
    }
    st = lp_dnt_prim(p, pd);
out:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

const dnnl_memory_desc_t *lp_dnt_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

void lp_dnt_plain(dnnl_memory_desc_t *md, int nd, const int64_t *dims) { dn_plain_md(md, dnnl_f32, nd, dims); }

lp_status lp_dnt_buf_own(lp_dnt_buf *b, const dnnl_memory_desc_t *md)
{
    memset(b, 0, sizeof *b);
    b->md = *md;
    size_t n = dnnl_memory_desc_get_size(md);
    b->own = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    if (!b->own)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for a %zu-byte oneDNN training buffer", n);
    if (dnnl_memory_create(&b->mem, md, dn_engine(), b->own) != dnnl_success) {
        lp_dnt_buf_free(b);
        return LOWP_ERR_UNSUPPORTED;
    }
    return LP_OK;
}

lp_status lp_dnt_buf_ext(lp_dnt_buf *b, const dnnl_memory_desc_t *md)
{
    memset(b, 0, sizeof *b);
    b->md = *md;
    if (dnnl_memory_create(&b->mem, md, dn_engine(), DNNL_MEMORY_NONE) != dnnl_success) {
        b->mem = NULL;
        return LOWP_ERR_UNSUPPORTED;
    }
    return LP_OK;
}

lp_status lp_dnt_bind(lp_dnt_buf *b, const void *data)
{
    return dnnl_memory_set_data_handle(b->mem, (void *)data) == dnnl_success ? LP_OK : LOWP_ERR_UNSUPPORTED;
}

void lp_dnt_buf_free(lp_dnt_buf *b)
{
    if (b->mem)
        dnnl_memory_destroy(b->mem);
    free(b->own);
    memset(b, 0, sizeof *b);
}

lp_status lp_dnt_exec(dnnl_stream_t s, dnnl_primitive_t p, int n, const int *kinds, const dnnl_memory_t *mems)
{
    dnnl_exec_arg_t args[16];
    if (n > 16)
        return LOWP_ERR_UNSUPPORTED;
    for (int i = 0; i < n; i++)
        args[i] = (dnnl_exec_arg_t){ kinds[i], mems[i] };
    /* the primitive was created for these memories: a failure now is not a case to fall back on
     * (a gradient may be half added), it is an error */
    if (dnnl_primitive_execute(p, s, n, args) != dnnl_success || dnnl_stream_wait(s) != dnnl_success)
        return lp_error(LOWP_ERR_INTERNAL, "oneDNN: a training primitive failed to run");
    return LP_OK;
}

lp_status lp_dnt_exec_reorder(dnnl_stream_t s, dnnl_primitive_t p, const lp_dnt_buf *from, const lp_dnt_buf *to)
{
    int kinds[2] = { DNNL_ARG_FROM, DNNL_ARG_TO };
    dnnl_memory_t mems[2] = { from->mem, to->mem };
    return lp_dnt_exec(s, p, 2, kinds, mems);
}

void lp_dnt_add(float *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

lp_status lp_dnt_relayout(const lp_dnt_layout *lay, int nd, const int64_t *dims, bool to_lay, bool sum,
                          const void *src, void *dst)
{
    dnnl_memory_desc_t plain;
    lp_dnt_plain(&plain, nd, dims);
    const dnnl_memory_desc_t *from = to_lay ? &plain : &lay->md, *to = to_lay ? &lay->md : &plain;
    dnnl_primitive_t r = NULL;
    dnnl_stream_t s = NULL;
    lp_dnt_buf a = { 0 }, b = { 0 };
    lp_status st = lp_dnt_reorder(&r, from, to, sum);
    if (st == LP_OK && dnnl_stream_create(&s, dn_engine(), dnnl_stream_default_flags) != dnnl_success) {
        s = NULL;
        st = LOWP_ERR_UNSUPPORTED;
    }
    if (st == LP_OK)
        st = lp_dnt_buf_ext(&a, from);
    if (st == LP_OK)
        st = lp_dnt_buf_ext(&b, to);
    if (st == LP_OK)
        st = lp_dnt_bind(&a, src);
    if (st == LP_OK)
        st = lp_dnt_bind(&b, dst);
    if (st == LP_OK)
        st = lp_dnt_exec_reorder(s, r, &a, &b);
    lp_dnt_buf_free(&a);
    lp_dnt_buf_free(&b);
    if (s)
        dnnl_stream_destroy(s);
    if (r)
        dnnl_primitive_destroy(r);
    /* a value already in a oneDNN layout must come back: a refusal here is not a fallback */
    return st == LOWP_ERR_UNSUPPORTED ? lp_error(LOWP_ERR_INTERNAL, "oneDNN: no reorder for a training tensor's layout")
                                      : st;
}
