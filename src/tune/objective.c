/* objective.c — what "better" means among passing recipes: performance, modelsize,
 * footprint, or a weighted mix; and the measurements behind them.
 *
 * Latency is measured with the engine (median of repeated batch-1 runs) and reported, but the
 * ranking of `performance` uses the deterministic cost model (lp_tune_cost: MACs weighted by
 * precision) so that the same seed gives the same result and a resumed tune ends like an
 * uninterrupted one -- run-to-run timing noise would otherwise decide between near-equal
 * recipes -- and so that the tuner does not depend on today's engine running INT8 faster
 * than FP32. docs/tuning.md says more. */
#include <stdlib.h>
#include <string.h>

#include "onnx/model.h"
#include "tune/tune.h"

static const char *const obj_names[] = { "performance", "modelsize", "footprint" };

lp_status lp_tune_parse_objective(lowp_tuner *t, const char *spec)
{
    t->n_obj = 0;
    const char *p = spec && *spec ? spec : "performance";
    while (*p) {
        size_t n = strcspn(p, ":=,");
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (strlen(obj_names[i]) == n && !strncmp(p, obj_names[i], n))
                k = i;
        if (k < 0)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                            "objective '%s': unknown objective '%.*s' (known: performance, modelsize, footprint; "
                            "weighted: performance:0.7,modelsize:0.3)", spec, (int)n, p);
        if (t->n_obj == LP_TUNE_MAX_OBJECTIVES)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "objective '%s': too many objectives", spec);
        double w = 1.0;
        p += n;
        if (*p == ':' || *p == '=') {
            char *end;
            w = strtod(p + 1, &end);
            if (end == p + 1 || !(w >= 0))
                return lp_error(LOWP_ERR_INVALID_ARGUMENT, "objective '%s': expected a weight >= 0 after '%s'", spec,
                                obj_names[k]);
            p = end;
        }
        t->obj[t->n_obj] = (lp_objective_kind)k;
        t->obj_w[t->n_obj++] = w;
        if (*p == ',')
            p++;
        else if (*p)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "objective '%s': unexpected '%s'", spec, p);
    }
    double sum = 0;
    for (int i = 0; i < t->n_obj; i++)
        sum += t->obj_w[i];
    if (!(sum > 0))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "objective '%s': the weights add up to 0", spec);
    for (int i = 0; i < t->n_obj; i++)
        t->obj_w[i] /= sum;
    return LP_OK;
}

double lp_tune_objective(const lowp_tuner *t, double cost, int64_t bytes, int64_t footprint)
{
    double v = 0;
    for (int i = 0; i < t->n_obj; i++) {
        double x = 1;
        if (t->obj[i] == LP_OBJ_PERFORMANCE)
            x = cost / (t->base_cost > 0 ? t->base_cost : 1);
        else if (t->obj[i] == LP_OBJ_MODELSIZE)
            x = t->base_bytes > 0 ? (double)bytes / (double)t->base_bytes : 1;
        else
            x = t->base_footprint > 0 ? (double)footprint / (double)t->base_footprint : 1;
        v += t->obj_w[i] * x;
    }
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The bytes the plan's constants take at the precision they are kept in for the kernels that
 * read them: a weight folded from DequantizeLinear as its integers, a float constant that only
 * BF16 steps read in 16 bits, anything else as it is. (The plan also keeps the folded float
 * copy of a quantized weight for its reference twin; counting that would make every precision
 * weigh the same, and footprint could not tell an INT8 model from an FP32 one.) Activations are
 * already counted at their stored precision by the arena. */
static lp_status stored_weight_bytes(const lp_plan *plan, int64_t *out)
{
    const lp_graph *g = plan->g;
    unsigned char *bf16_only = malloc((size_t)g->n_values + 1); /* 2 unread, 1 bf16 readers only, 0 else */
    if (!bf16_only)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "footprint: out of memory");
    memset(bf16_only, 2, (size_t)g->n_values + 1);
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        const char *want = lp_attr_str(n, LP_ATTR_PRECISION, NULL);
        bool bf16 = want ? strcmp(want, "bf16") == 0 : plan->opt.precision == LOWP_BFLOAT16;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && bf16_only[n->in[k]])
                bf16_only[n->in[k]] = bf16;
    }
    int64_t total = 0;
    for (int v = 0; v < g->n_values; v++) {
        const lp_tensor *init = g->values[v].init;
        if (g->values[v].kind != LP_VALUE_CONST || !init)
            continue;
        if (plan->qconst && plan->qconst[v])
            total += (int64_t)plan->qconst[v]->q->nbytes;
        else if (init->dtype == LOWP_FLOAT && bf16_only[v] == 1)
            total += (int64_t)init->nbytes / 2;
        else
            total += (int64_t)init->nbytes;
    }
    free(bf16_only);
    *out = total;
    return LP_OK;
}

lp_status lp_tune_measure(lowp_tuner *t, const lp_graph *g, double *latency_ms, int64_t *bytes, int64_t *footprint)
{
    /* size: the exported model */
    uint8_t *buf = NULL;
    size_t size = 0;
    lp_status st = lp_onnx_write(g, &buf, &size);
    free(buf);
    LP_TRY(st);
    *bytes = (int64_t)size;
    /* latency and peak memory: a batch-1 plan */
    lowp_session_options so = lowp_session_options_default();
    so.threads = t->opt.threads;
    lowp_session *s = NULL;
    LP_TRY(lp_session_create_graph(g, &so, &s));
    const lp_tensor *in[LOWP_SAMPLE_MAX_TENSORS];
    for (int i = 0; i < t->n_sample; i++)
        in[i] = t->sample[i];
    lp_plan *plan = NULL;
    st = s->g->n_inputs == t->n_sample ? lp_session_plan(s, in, &plan)
                                       : lp_error(LOWP_ERR_UNSUPPORTED, "the model has %d inputs, the evaluation "
                                                  "data %d", s->g->n_inputs, t->n_sample);
    double times[64];
    int n = 0;
    if (st == LP_OK) {
        for (int w = 0; w < 2 && st == LP_OK; w++)
            st = lp_plan_run(plan, in, NULL, NULL);
        double start = lp_tune_now();
        while (st == LP_OK && n < 64 && (n < 5 || lp_tune_now() - start < 0.25)) {
            double a = lp_tune_now();
            st = lp_plan_run(plan, in, NULL, NULL);
            times[n++] = lp_tune_now() - a;
        }
    }
    if (st == LP_OK) {
        qsort(times, (size_t)n, sizeof *times, cmp_double);
        *latency_ms = 1000 * (n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]));
        int64_t w = 0;
        st = stored_weight_bytes(plan, &w);
        *footprint = (int64_t)plan->arena_size + (int64_t)plan->scratch_size + w;
    }
    lowp_session_free(s);
    return st;
}
