/* compare.c — per-layer SQNR of a quantized model against its FP32 original. */
#include "quant/compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/outfile.h"
#include "ir/infer.h"
#include "onnx/model.h"
#include "ops/op.h"

double lp_layer_sqnr(const lp_layer_error *e)
{
    if (e->noise <= 0)
        return INFINITY;
    if (e->signal <= 0)
        return -INFINITY;
    return 10.0 * log10(e->signal / e->noise);
}

double lp_layer_rel_error(const lp_layer_error *e) { return e->abs_ref > 0 ? e->abs_err / e->abs_ref : (e->abs_err > 0 ? INFINITY : 0); }

static int add_layer(lp_comparison *c, const char *node, const char *op, const char *tensor, bool weight)
{
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        lp_layer_error *l = realloc(c->layers, (size_t)cap * sizeof *l);
        if (!l)
            return -1;
        c->layers = l;
        c->cap = cap;
    }
    lp_layer_error *e = &c->layers[c->n];
    memset(e, 0, sizeof *e);
    e->node = strdup(node);
    e->op_type = strdup(op);
    e->tensor = strdup(tensor);
    e->is_weight = weight;
    if (!e->node || !e->op_type || !e->tensor) {
        free(e->node); free(e->op_type); free(e->tensor);
        return -1;
    }
    return c->n++;
}

static lp_status accumulate(lp_layer_error *e, const float *x, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - y[i];
        e->signal += (double)x[i] * x[i];
        e->noise += d * d;
        e->abs_err += fabs(d);
        e->abs_ref += fabs(x[i]);
    }
    e->count += n;
    LP_TRY(lp_tb_histo_add(&e->hist[0], x, n));
    return lp_tb_histo_add(&e->hist[1], y, n);
}

/* Weights: each node of the quantized graph that reads a DequantizeLinear of an int8 constant
 * is matched by name with the FP32 node; the FP32 node's float constant at the same input is
 * the reference. */
static lp_status compare_weights(lp_comparison *c, const lp_graph *fg, const lp_graph *qg)
{
    for (int i = 0; i < qg->n_nodes; i++) {
        const lp_node *n = &qg->nodes[i];
        int fn = -1;
        for (int k = 0; k < n->n_in; k++) {
            int p = n->in[k] >= 0 ? qg->values[n->in[k]].producer : -1;
            if (p < 0 || qg->nodes[p].op != LP_OP_DequantizeLinear)
                continue;
            const lp_value *qv = &qg->values[qg->nodes[p].in[0]];
            if (qv->kind != LP_VALUE_CONST || qv->init->dtype != LP_I8)
                continue;
            for (int j = 0; fn < 0 && j < fg->n_nodes; j++)
                if (strcmp(fg->nodes[j].name, n->name) == 0)
                    fn = j;
            if (fn < 0 || k >= fg->nodes[fn].n_in || fg->nodes[fn].in[k] < 0)
                break;
            const lp_value *fv = &fg->values[fg->nodes[fn].in[k]];
            if (fv->kind != LP_VALUE_CONST || fv->init->dtype != LP_F32)
                continue;
            lp_tensor *deq[1] = { NULL };
            LP_TRY(lp_node_eval(qg, p, deq));
            int l = add_layer(c, n->name, n->op_type, fv->name, true);
            if (l < 0) {
                lp_tensor_free(deq[0]);
                return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            }
            lp_status st = LP_OK;
            if (deq[0] && lp_tensor_numel(deq[0]) == lp_tensor_numel(fv->init))
                st = accumulate(&c->layers[l], fv->init->data, deq[0]->data, lp_tensor_numel(deq[0]));
            lp_tensor_free(deq[0]);
            LP_TRY(st);
        }
    }
    return LP_OK;
}

lowp_status lowp_comparison_create(const lowp_model *fp32, const lowp_model *quant, lowp_comparison **out)
{
    if (!fp32 || !quant || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_comparison_create: NULL argument");
    lp_comparison *c = calloc(1, sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lowp_session_options o = lowp_session_options_default();
    lp_status st = lowp_session_create(fp32, &o, &c->fp32);
    if (st == LP_OK)
        st = lowp_session_create(quant, &o, &c->quant);
    if (st == LP_OK && (c->fp32->g->n_inputs != c->quant->g->n_inputs))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "the two models have different inputs");
    /* one row per FP32 node output that the quantized model also computes */
    const lp_graph *fg = c->fp32 ? c->fp32->g : NULL, *qg = c->quant ? c->quant->g : NULL;
    for (int i = 0; st == LP_OK && i < fg->n_nodes; i++) {
        const lp_node *n = &fg->nodes[i];
        for (int k = 0; st == LP_OK && k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            const lp_value *v = &fg->values[n->out[k]];
            if ((v->dtype && v->dtype != LP_F32) || lp_graph_find_value(qg, v->name) < 0)
                continue;
            int l = add_layer(c, n->name, n->op_type, v->name, false);
            if (l < 0 || lp_strmap_put(&c->index, c->layers[l].tensor, l) != LP_OK)
                st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
    }
    if (st == LP_OK)
        st = compare_weights(c, fg, qg);
    if (st != LP_OK) {
        lowp_comparison_free(c);
        return st;
    }
    *out = c;
    return LP_OK;
}

void lowp_comparison_free(lowp_comparison *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        free(c->layers[i].node);
        free(c->layers[i].op_type);
        free(c->layers[i].tensor);
        lp_tb_histo_free(&c->layers[i].hist[0]);
        lp_tb_histo_free(&c->layers[i].hist[1]);
    }
    free(c->layers);
    lp_strmap_clear(&c->index);
    for (int i = 0; i < c->n_ref; i++)
        lp_tensor_free(c->ref[i]);
    free(c->ref);
    lowp_session_free(c->fp32);
    lowp_session_free(c->quant);
    free(c);
}

typedef struct tap_ctx {
    lp_comparison *c;
    bool reference;             /* first run: keep copies; second: compare */
    const lp_plan *ref_plan;
} tap_ctx;

static lp_status tap(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t)
{
    (void)node;
    tap_ctx *tc = user;
    lp_comparison *c = tc->c;
    const char *name = plan->g->values[value].name;
    int l = lp_strmap_get(&c->index, name);
    if (l < 0 || t->dtype != LP_F32)
        return LP_OK;
    if (tc->reference) {
        lp_tensor_free(c->ref[l]);
        c->ref[l] = NULL;
        return lp_tensor_clone(t, &c->ref[l]);
    }
    const lp_tensor *r = c->ref[l];
    if (r && r->nbytes == t->nbytes)
        return accumulate(&c->layers[l], r->data, t->data, lp_tensor_numel(t));
    return LP_OK;
}

static lp_status run_with_tap(lowp_session *s, int n_inputs, const char *const *names, const lowp_tensor *const *inputs,
                              tap_ctx *tc)
{
    const lp_tensor *ordered_store[16], **ordered = ordered_store;
    if (s->g->n_inputs > 16 && !(ordered = malloc((size_t)s->g->n_inputs * sizeof *ordered)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_plan *plan = NULL;
    lp_status st = lp_session_bind(s, n_inputs, names, inputs, ordered);
    if (st == LP_OK)
        st = lp_session_plan(s, ordered, &plan);
    if (st == LP_OK)
        st = lp_plan_run(plan, ordered, tap, tc);
    if (ordered != ordered_store)
        free(ordered);
    return st;
}

lowp_status lowp_comparison_feed(lowp_comparison *c, int n_inputs, const char *const *input_names,
                                 const lowp_tensor *const *inputs)
{
    if (!c)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_comparison_feed: NULL comparison");
    if (!c->ref) {
        if (!(c->ref = calloc((size_t)c->n + 1, sizeof *c->ref)))
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        c->n_ref = c->n;
    }
    tap_ctx tc = { .c = c, .reference = true };
    LP_TRY(run_with_tap(c->fp32, n_inputs, input_names, inputs, &tc));
    tc.reference = false;
    LP_TRY(run_with_tap(c->quant, n_inputs, input_names, inputs, &tc));
    c->samples += n_inputs && inputs[0]->ndim ? inputs[0]->dims[0] : 1;
    return LP_OK;
}

static int by_sqnr(const void *a, const void *b)
{
    double x = lp_layer_sqnr(a), y = lp_layer_sqnr(b);
    if (x != y)
        return x < y ? -1 : 1;
    return strcmp(((const lp_layer_error *)a)->tensor, ((const lp_layer_error *)b)->tensor);
}

void lp_comparison_sort(lp_comparison *c)
{
    lp_strmap_clear(&c->index); /* indices change; feeding after sorting is not allowed */
    qsort(c->layers, (size_t)c->n, sizeof *c->layers, by_sqnr);
}

lp_status lp_comparison_tb_histograms(lp_comparison *c, int side, lp_tb_file *f, int64_t step)
{
    if (c->index.count)
        lp_comparison_sort(c);
    for (int i = 0; i < c->n; i++)
        if (c->layers[i].count)
            LP_TRY(lp_tb_histogram(f, step, c->layers[i].tensor, &c->layers[i].hist[side]));
    return LP_OK;
}

lowp_status lowp_comparison_tensorboard(lowp_comparison *c, const char *dir, int64_t step)
{
    if (!c || !dir)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_comparison_tensorboard: NULL argument");
    static const char *const runs[2] = { "fp32", "quantized" };
    for (int side = 0; side < 2; side++) {
        char *path = NULL;
        lp_tb_file f;
        lp_status st = lp_path_join(dir, runs[side], &path);
        if (st == LP_OK)
            st = lp_tb_begin(&f);
        if (st == LP_OK) {
            st = lp_comparison_tb_histograms(c, side, &f, step);
            if (st == LP_OK)
                st = lp_tb_commit(&f, path);
            else
                lp_tb_free(&f);
        }
        free(path);
        LP_TRY(st);
    }
    return LP_OK;
}

static void histogram_json(lp_json *j, const lp_tb_histo *h, double *limits, double *counts)
{
    int m = lp_tb_histo_encode(h, limits, counts);
    lp_json_begin_object(j);
    lp_json_key(j, "min"); lp_json_double(j, m ? h->min : 0);
    lp_json_key(j, "max"); lp_json_double(j, m ? h->max : 0);
    lp_json_key(j, "num"); lp_json_double(j, h->num);
    lp_json_key(j, "sum"); lp_json_double(j, h->sum);
    lp_json_key(j, "sum_squares"); lp_json_double(j, h->sum_squares);
    lp_json_key(j, "skipped"); lp_json_int(j, h->skipped);
    lp_json_key(j, "bucket_limit");
    lp_json_begin_array_flat(j);
    for (int i = 0; i < m; i++)
        lp_json_double(j, limits[i]);
    lp_json_end_array(j);
    lp_json_key(j, "bucket");
    lp_json_begin_array_flat(j);
    for (int i = 0; i < m; i++)
        lp_json_double(j, counts[i]);
    lp_json_end_array(j);
    lp_json_end_object(j);
}

/* The JSON of both public calls: per layer its SQNR numbers, or its two histograms. */
static lp_status comparison_json(lp_comparison *c, bool histograms, char **json_out)
{
    if (c->index.count)
        lp_comparison_sort(c);
    int nb = histograms ? lp_tb_bucket_count() : 0;
    double *limits = NULL, *counts = NULL;
    if (histograms && (!(limits = malloc((size_t)(nb + 1) * sizeof *limits)) ||
                       !(counts = malloc((size_t)(nb + 1) * sizeof *counts)))) {
        free(limits);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    lp_json j;
    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "samples");
    lp_json_int(&j, c->samples);
    lp_json_key(&j, "layers");
    lp_json_begin_array(&j);
    for (int i = 0; i < c->n; i++) {
        const lp_layer_error *e = &c->layers[i];
        if (!e->count)
            continue;
        lp_json_begin_object(&j);
        lp_json_key(&j, "node"); lp_json_string(&j, e->node);
        lp_json_key(&j, "op_type"); lp_json_string(&j, e->op_type);
        lp_json_key(&j, "tensor"); lp_json_string(&j, e->tensor);
        lp_json_key(&j, "kind"); lp_json_string(&j, e->is_weight ? "weight" : "activation");
        if (histograms) {
            lp_json_key(&j, "fp32"); histogram_json(&j, &e->hist[0], limits, counts);
            lp_json_key(&j, "quantized"); histogram_json(&j, &e->hist[1], limits, counts);
        } else {
            lp_json_key(&j, "sqnr_db"); lp_json_double(&j, lp_layer_sqnr(e));
            lp_json_key(&j, "rel_error"); lp_json_double(&j, lp_layer_rel_error(e));
        }
        lp_json_end_object(&j);
    }
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    free(limits);
    free(counts);
    return lp_json_finish(&j, json_out);
}

lowp_status lowp_comparison_json(lowp_comparison *c, char **json_out)
{
    if (!c || !json_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_comparison_json: NULL argument");
    return comparison_json(c, false, json_out);
}

lowp_status lowp_comparison_histograms_json(lowp_comparison *c, char **json_out)
{
    if (!c || !json_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_comparison_histograms_json: NULL argument");
    return comparison_json(c, true, json_out);
}
