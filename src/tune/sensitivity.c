/* sensitivity.c — per-op sensitivity for the mse strategies and the report: for each op that
 * can be INT8, the model with only that op in INT8 runs beside the FP32 model on a few
 * calibration batches (plans compiled without fusion, watched through the engine's tap):
 *
 *     op SQNR     = 10 log10(sum x^2 / sum (x - x_q)^2) over the op's own output
 *                   -- the op's quantization error alone, its inputs being exact;
 *     sensitivity = 10 log10(noise / signal) over the model's outputs
 *                   -- how much that error matters where the metric looks (higher: worse).
 *
 * The fallback order follows the sensitivity: an op's own SQNR says nothing about how much
 * the layers after it amplify or absorb its error (a classifier's last Gemm has a fine SQNR
 * and moves the logits most). The batches and the FP32 values on them are taken once; then one
 * plan per op. Any model the engine runs, whatever framework it came from. Each op's result
 * goes to WORKSPACE/sensitivity.jsonl as soon as it is measured (the dashboard's live view). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tune.h"

#define SENS_MAX_SAMPLES 64
#define SENS_MAX_BATCHES 8
#define SENS_MAX_BYTES (256.0 * 1024 * 1024)

/* One watched value: the FP32 copies per batch and, for the op being measured, the energy. */
typedef struct slot {
    const char *name;
    bool is_output;             /* a model output */
    lp_tensor *ref[SENS_MAX_BATCHES];
    double signal, noise;
} slot;

typedef struct sens_ctx {
    slot *slots;
    int n_slots;
    int *map;                   /* plan value -> slot, -1 */
    const lp_graph *mapped;     /* the graph `map` indexes (the tap also sees control-flow
                                   bodies' values, which it leaves alone) */
    int batch;
    bool reference;
    int own;                    /* the slot of the op being measured (compare mode) */
} sens_ctx;

static int add_slot(sens_ctx *c, const char *name, bool is_output)
{
    for (int i = 0; i < c->n_slots; i++)
        if (!strcmp(c->slots[i].name, name)) {
            c->slots[i].is_output |= is_output;
            return i;
        }
    c->slots[c->n_slots].name = name;
    c->slots[c->n_slots].is_output = is_output;
    return c->n_slots++;
}

static lp_status tap(void *user, const lp_plan *plan, int node, int value, const lp_tensor *x)
{
    (void)node;
    sens_ctx *c = user;
    if (plan->g != c->mapped)
        return LP_OK;
    int s = c->map[value];
    if (s < 0 || x->dtype != LP_F32)
        return LP_OK;
    slot *sl = &c->slots[s];
    if (c->reference)
        return lp_tensor_clone(x, &sl->ref[c->batch]);
    if (s != c->own && !sl->is_output)
        return LP_OK;
    const lp_tensor *r = sl->ref[c->batch];
    if (!r || r->nbytes != x->nbytes)
        return LP_OK;
    const float *a = r->data, *b = x->data;
    int64_t n = lp_tensor_numel(x);
    double sig = 0, noi = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        sig += (double)a[i] * a[i];
        noi += d * d;
    }
    sl->signal += sig;
    sl->noise += noi;
    return LP_OK;
}

static lp_status map_plan(sens_ctx *c, const lp_plan *p)
{
    free(c->map);
    c->map = malloc((size_t)(p->g->n_values + 1) * sizeof *c->map);
    if (!c->map)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    c->mapped = p->g;
    for (int v = 0; v < p->g->n_values; v++)
        c->map[v] = -1;
    for (int s = 0; s < c->n_slots; s++) {
        int v = lp_graph_find_value(p->g, c->slots[s].name);
        if (v >= 0)
            c->map[v] = s;
    }
    return LP_OK;
}

lp_status lp_tune_compute_sensitivity(lowp_tuner *t, int config)
{
    if (t->sens[config])
        return LP_OK;
    const lp_graph *g = t->fp32->g;
    double *sens = malloc((size_t)(t->n_ops + 1) * sizeof *sens), *sqnr = malloc((size_t)(t->n_ops + 1) * sizeof *sqnr);
    unsigned char *prec = malloc((size_t)t->n_ops + 1);
    int *own = malloc((size_t)(t->n_ops + 1) * sizeof *own);
    sens_ctx c = { 0 };
    c.slots = calloc((size_t)(t->n_ops + g->n_outputs + 1), sizeof *c.slots);
    lowp_sample batches[SENS_MAX_BATCHES];
    memset(batches, 0, sizeof batches);
    int n_batches = 0;
    lp_plan *fp = NULL;
    lp_status st = sens && sqnr && prec && own && c.slots ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_plan_options po = lp_plan_options_default();
    po.threads = t->opt.threads > 0 ? t->opt.threads : 1;
    po.no_fuse = true; /* every op's own output is seen */
    /* what to watch: each op's output and the model outputs */
    for (int i = 0; st == LP_OK && i < t->n_ops; i++)
        own[i] = add_slot(&c, t->ops[i].out_name, false); /* a body op's: seen only at the outputs */
    for (int i = 0; st == LP_OK && i < g->n_outputs; i++)
        add_slot(&c, g->values[g->outputs[i]].name, true);
    /* a few batches of the same shape, and the FP32 model's values on them, once */
    lowp_dataloader *dl = t->calib ? t->calib : t->eval;
    if (!dl) { /* a user evaluator with no data through lowp: the latency sample */
        for (int i = 0; st == LP_OK && i < t->n_sample; i++)
            if ((st = lp_tensor_clone(t->sample[i], &batches[0].inputs[i])) == LP_OK)
                batches[0].n_inputs = i + 1;
        n_batches = 1;
    }
    lowp_dataloader_reset(dl);
    int64_t seen = 0;
    while (dl && st == LP_OK && seen < SENS_MAX_SAMPLES && n_batches < SENS_MAX_BATCHES) {
        int64_t n = 0;
        lowp_sample *b = &batches[n_batches];
        st = lowp_dataloader_next(dl, b, &n);
        if (st != LP_OK || n == 0)
            break;
        if (n_batches > 0 && b->inputs[0]->dims[0] != batches[0].inputs[0]->dims[0]) {
            lowp_sample_clear(b);
            break; /* a last partial batch: enough data already */
        }
        if (b->n_inputs != g->n_inputs) {
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: batches have %d inputs, the model %d",
                          lowp_dataloader_describe(dl), b->n_inputs, g->n_inputs);
            n_batches++;
            break;
        }
        n_batches++;
        seen += n;
    }
    lowp_dataloader_reset(dl);
    if (st == LP_OK && n_batches == 0)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: no data for the sensitivity analysis", lowp_dataloader_describe(dl));
    if (st == LP_OK)
        st = lp_plan_compile_opt(g, (const lp_tensor **)batches[0].inputs, &po, &fp);
    if (st == LP_OK)
        st = map_plan(&c, fp);
    if (st == LP_OK) { /* the FP32 copies of one batch: keep them under SENS_MAX_BYTES */
        double bytes = 0;
        for (int v = 0; v < fp->g->n_values; v++)
            if (c.map[v] >= 0 && lp_shape_static(&fp->g->values[v].shape))
                bytes += 4.0 * (double)lp_numel(fp->g->values[v].shape.ndim, fp->g->values[v].shape.d);
        while (n_batches > 1 && bytes * n_batches > SENS_MAX_BYTES)
            lowp_sample_clear(&batches[--n_batches]);
    }
    c.reference = true;
    for (int k = 0; st == LP_OK && k < n_batches; k++) {
        c.batch = k;
        st = lp_plan_run(fp, (const lp_tensor **)batches[k].inputs, tap, &c);
    }
    lp_plan_free(fp);
    /* each op alone in INT8 */
    c.reference = false;
    for (int i = 0; st == LP_OK && i < t->n_ops; i++) {
        sens[i] = -INFINITY;
        sqnr[i] = NAN;
        if (!t->ops[i].allow[LP_PREC_INT8])
            continue;
        if (t->opt.progress) {
            lowp_tune_progress p = { .phase = "sensitivity", .trial = t->n_trials, .max_trials = t->max_trials,
                                     .done = i, .total = t->n_ops, .baseline = t->baseline, .target = t->target,
                                     .accuracy = NAN, .best = NAN, .elapsed = lp_tune_now() - t->t0, .eta = -1,
                                     .note = t->ops[i].name };
            t->opt.progress(t->opt.progress_user, &p);
        }
        memset(prec, LP_PREC_FP32, (size_t)t->n_ops);
        prec[i] = LP_PREC_INT8;
        lp_graph *qg = NULL;
        lp_plan *qp = NULL;
        /* ranking needs no block reconstruction: it would train once per op */
        lp_tune_recovery rv = t->rv;
        rv.block_recon = false;
        st = lp_tune_build_graph(t, config, prec, &rv, &qg);
        if (st == LP_OK)
            st = lp_plan_compile_opt(qg, (const lp_tensor **)batches[0].inputs, &po, &qp);
        if (st == LP_OK)
            st = map_plan(&c, qp);
        for (int s = 0; s < c.n_slots; s++)
            c.slots[s].signal = c.slots[s].noise = 0;
        c.own = own[i];
        for (int k = 0; st == LP_OK && k < n_batches; k++) {
            c.batch = k;
            st = lp_plan_run(qp, (const lp_tensor **)batches[k].inputs, tap, &c);
        }
        lp_plan_free(qp);
        lp_graph_free(qg);
        if (st != LP_OK)
            break;
        double sig = 0, noi = 0;
        for (int s = 0; s < c.n_slots; s++)
            if (c.slots[s].is_output)
                sig += c.slots[s].signal, noi += c.slots[s].noise;
        const slot *o = &c.slots[own[i]];
        sens[i] = 10 * log10((noi > 0 ? noi : 1e-30) / (sig > 0 ? sig : 1e-30));
        sqnr[i] = o->noise > 0 ? 10 * log10(o->signal / o->noise) : INFINITY;
        st = lp_tune_sens_log_append(t, config, i, sens[i], sqnr[i]); /* the dashboard shows it now */
    }
    for (int s = 0; c.slots && s < c.n_slots; s++)
        for (int k = 0; k < SENS_MAX_BATCHES; k++)
            lp_tensor_free(c.slots[s].ref[k]);
    for (int k = 0; k < SENS_MAX_BATCHES; k++)
        lowp_sample_clear(&batches[k]);
    free(c.slots);
    free(c.map);
    free(prec);
    free(own);
    if (st != LP_OK) {
        free(sens);
        free(sqnr);
        return st;
    }
    t->sens[config] = sens;
    t->sens_sqnr[config] = sqnr;
    return LP_OK;
}

lowp_status lowp_tuner_sensitivity(lowp_tuner *t, int config, const double **db_out)
{
    if (!t || !db_out || config < 0 || config >= t->n_cfgs)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_sensitivity: bad argument");
    LP_TRY(lp_tune_compute_sensitivity(t, config));
    *db_out = t->sens[config];
    return LP_OK;
}
