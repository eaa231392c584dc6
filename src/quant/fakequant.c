/* fakequant.c — the trainable form of a QDQ graph's weights and back, for quantization-aware
 * training: an int8 constant weight behind a DequantizeLinear becomes a float constant behind
 * QuantizeLinear -> DequantizeLinear (same scale and zero point), which the training engine
 * trains through the straight-through estimator; folding quantizes the trained float weights
 * with those scales again, so the model is the standard QDQ form it was. The integer range of
 * each weight (its largest |q|: 127 for int8, 7 for 4-bit weights) rides on the temporary
 * QuantizeLinear as attribute lowp_qmax (never written to files), and folding clamps to it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "ops/requant.h"
#include "quant/build.h"
#include "quant/quantize.h"

static bool const_of(const lp_graph *g, int v, lp_dtype dt)
{
    return v >= 0 && g->values[v].kind == LP_VALUE_CONST && g->values[v].init->dtype == dt;
}

/* Element i of a per-axis (or scalar) parameter p along `axis` of a tensor of dims d. */
static int64_t param_index(const lp_tensor *p, const lp_tensor *t, int axis, int64_t i)
{
    if (lp_tensor_numel(p) <= 1)
        return 0;
    int64_t inner = 1;
    for (int k = axis + 1; k < t->ndim; k++)
        inner *= t->dims[k];
    return (i / inner) % t->dims[axis];
}

lp_status lp_qdq_unfold_weights(lp_graph *g, int *n_out)
{
    int n = 0, n_nodes = g->n_nodes;
    for (int i = 0; i < n_nodes; i++) {
        lp_node *d = &g->nodes[i];
        if (d->dead || d->op != LP_OP_DequantizeLinear || d->n_in < 2 || !const_of(g, d->in[0], LP_I8) ||
            !const_of(g, d->in[1], LP_F32) || (d->n_in > 2 && d->in[2] >= 0 && !const_of(g, d->in[2], LP_I8)))
            continue;
        const lp_tensor *q = g->values[d->in[0]].init, *s = g->values[d->in[1]].init;
        const lp_tensor *z = d->n_in > 2 && d->in[2] >= 0 ? g->values[d->in[2]].init : NULL;
        int axis = (int)lp_attr_int(d, "axis", 1);
        if (axis < 0)
            axis += q->ndim;
        if (lp_tensor_numel(s) > 1 && (axis < 0 || axis >= q->ndim || q->dims[axis] != lp_tensor_numel(s)))
            continue;
        lp_tensor *w = NULL;
        LP_TRY(lp_tensor_new(LP_F32, q->ndim, q->dims, &w));
        for (int64_t k = 0; k < lp_tensor_numel(q); k++) {
            int64_t c = param_index(s, q, axis, k);
            int32_t zp = z ? ((const int8_t *)z->data)[lp_tensor_numel(z) > 1 ? c : 0] : 0;
            ((float *)w->data)[k] = (float)(((const int8_t *)q->data)[k] - zp) * ((const float *)s->data)[c];
        }
        char name[512];
        int wv, qv, qn;
        snprintf(name, sizeof name, "%s_float", g->values[d->in[0]].name);
        LP_TRY(lp_qb_const(g, name, w, &wv));
        snprintf(name, sizeof name, "%s_fakequant", g->values[g->nodes[i].in[0]].name);
        LP_TRY(lp_qb_value(g, name, &qv));
        d = &g->nodes[i];
        int in[3] = { wv, d->in[1], d->n_in > 2 ? d->in[2] : -1 };
        snprintf(name, sizeof name, "%s_QuantizeLinear", g->nodes[i].name);
        LP_TRY(lp_qb_node(g, "QuantizeLinear", name, in[2] >= 0 ? 3 : 2, in, 1, &qv, &qn));
        if (lp_tensor_numel(s) > 1)
            LP_TRY(lp_qb_attr_int(g, qn, "axis", axis));
        int qmax = 1;
        for (int64_t k = 0; k < lp_tensor_numel(g->values[g->nodes[i].in[0]].init); k++)
            qmax = abs(((const int8_t *)g->values[g->nodes[i].in[0]].init->data)[k]) > qmax
                       ? abs(((const int8_t *)g->values[g->nodes[i].in[0]].init->data)[k]) : qmax;
        LP_TRY(lp_qb_attr_int(g, qn, "lowp_qmax", qmax > 127 ? 127 : qmax));
        g->nodes[i].in[0] = qv;
        n++;
    }
    if (n_out)
        *n_out = n;
    LP_TRY(lp_graph_compact(g));
    return lp_graph_toposort(g);
}

lp_status lp_qdq_fold_weights(lp_graph *g)
{
    lp_consumers cons;
    LP_TRY(lp_graph_consumers(g, &cons));
    lp_status st = LP_OK;
    int n_nodes = g->n_nodes;
    for (int i = 0; i < n_nodes && st == LP_OK; i++) {
        lp_node *qn = &g->nodes[i];
        if (qn->dead || qn->op != LP_OP_QuantizeLinear || qn->n_in < 3 || !const_of(g, qn->in[0], LP_F32) ||
            !const_of(g, qn->in[1], LP_F32) || !const_of(g, qn->in[2], LP_I8))
            continue;
        const lp_tensor *w = g->values[qn->in[0]].init, *s = g->values[qn->in[1]].init, *z = g->values[qn->in[2]].init;
        int qmax = (int)lp_attr_int(qn, "lowp_qmax", 127);
        int axis = (int)lp_attr_int(qn, "axis", 1);
        if (axis < 0)
            axis += w->ndim;
        lp_tensor *q = NULL;
        st = lp_tensor_new(LP_I8, w->ndim, w->dims, &q);
        for (int64_t k = 0; st == LP_OK && k < lp_tensor_numel(w); k++) {
            int64_t c = param_index(s, w, axis, k);
            int32_t zp = ((const int8_t *)z->data)[lp_tensor_numel(z) > 1 ? c : 0];
            int32_t lo = zp - qmax < -128 ? -128 : zp - qmax, hi = zp + qmax > 127 ? 127 : zp + qmax;
            ((int8_t *)q->data)[k] = (int8_t)lp_requant(((const float *)w->data)[k] / ((const float *)s->data)[c], zp, lo, hi);
        }
        int qv = -1;
        char name[512];
        snprintf(name, sizeof name, "%s_trained", g->values[qn->in[0]].name);
        if (st == LP_OK)
            st = lp_qb_const(g, name, q, &qv);
        else
            lp_tensor_free(q);
        qn = &g->nodes[i];
        int out = qn->out[0];
        for (int k = cons.start[out]; st == LP_OK && k < cons.start[out + 1]; k++) { /* the DQ readers */
            lp_node *r = &g->nodes[cons.node[k]];
            for (int a = 0; a < r->n_in; a++)
                if (r->in[a] == out)
                    r->in[a] = qv;
        }
        if (st == LP_OK)
            g->nodes[i].dead = true;
    }
    lp_consumers_free(&cons);
    LP_TRY(st);
    return lp_graph_compact(g);
}
