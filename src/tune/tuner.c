/* tuner.c — the tuning loop: FP32 baseline once, then trial by trial a point from the
 * strategy -> quantize -> evaluate -> measure -> record, the exit policy, and the hand-back
 * (best model, best_recipe.json, reports, summary). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "dist/dist.h"
#include "kernels/dnnl.h"
#include "metric/metric.h"
#include "onnx/model.h"
#include "tune/tune.h"

double lp_tune_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool lp_tune_writer(const lowp_tuner *t) { return !lp_dist_active(t->opt.comm) || t->opt.comm->rank == 0; }

/* Seconds since the start: in a distributed tune, rank 0's as of the last trial, so that the
 * ranks agree on timeouts. */
static double elapsed(const lowp_tuner *t)
{
    return lp_dist_active(t->opt.comm) ? t->agreed_elapsed : lp_tune_now() - t->t0;
}

lowp_tune_options lowp_tune_options_default(void)
{
    return (lowp_tune_options){ .strategy = "auto", .approach = "post_training_static_quant", .relative = 1,
                                .tolerance = 0.01, .higher_is_better = -1, .objective = "performance",
                                .seed = 1978, .workspace = "./lowp_workspace", .n_sampling_sizes = 1,
                                .sampling_sizes = { 100 } };
}

/* The YAML node at tuning.<a>.<b> (b may be NULL), to tell "given" from "default". */
static const lp_yval *given(const lowp_config *c, const char *a, const char *b)
{
    const lp_yval *v = c->root ? lp_yval_get(lp_yval_get(c->root, "tuning"), a) : NULL;
    return b ? lp_yval_get(v, b) : v;
}

lowp_status lowp_tune_options_from_config(const lowp_config *c, lowp_tune_options *o)
{
    if (!c || !o)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tune_options_from_config: NULL argument");
    *o = lowp_tune_options_default();
    if (given(c, "strategy", "name"))
        o->strategy = c->tuning.strategy;
    o->approach = c->quantization.approach == LP_APPROACH_DYNAMIC ? "post_training_dynamic_quant"
                                                                 : "post_training_static_quant";
    o->relative = c->tuning.relative;
    o->tolerance = c->tuning.criterion;
    if (given(c, "accuracy_criterion", "higher_is_better"))
        o->higher_is_better = c->tuning.higher_is_better;
    o->objective = c->tuning.objective;
    o->timeout = (double)c->tuning.timeout;
    if (given(c, "exit_policy", "max_trials"))
        o->max_trials = (int)(c->tuning.max_trials > 1000000 ? 1000000 : c->tuning.max_trials);
    o->seed = c->tuning.random_seed;
    o->performance_only = c->tuning.performance_only;
    o->qoperator = c->model.framework && !strcmp(c->model.framework, "onnxrt_qlinearops");
    o->tensorboard = c->tuning.tensorboard;
    o->workspace = c->tuning.workspace_path;
    if (c->tuning.resume) {
        o->resume = 1;
        o->resume_from = c->tuning.resume;
    }
    o->n_sampling_sizes = c->quantization.n_sampling_size > 8 ? 8 : c->quantization.n_sampling_size;
    for (int i = 0; i < o->n_sampling_sizes; i++)
        o->sampling_sizes[i] = c->quantization.sampling_size[i];
    o->config = c;
    return LP_OK;
}

void lowp_tuner_free(lowp_tuner *t)
{
    if (!t)
        return;
    if (t->history)
        fclose(t->history);
    if (t->sens_log)
        fclose(t->sens_log);
    free(t->strategy_name);
    free(t->approach_name);
    free(t->objective_spec);
    free(t->workspace);
    free(t->output);
    free(t->resume_from);
    free(t->model_path);
    lowp_session_free(t->fp32);
    lp_tune_probe_free(t->probe);
    lowp_dataloader_free(t->train);
    lp_graph_free(t->qat_graph);
    free(t->qat_prec);
    lowp_dataloader_free(t->calib);
    lowp_dataloader_free(t->eval);
    lowp_metric_free(t->metric);
    lowp_transform_free(t->post);
    if (t->ev_owned && t->ev.free)
        t->ev.free(t->ev.user);
    free(t->metric_name);
    for (int i = 0; i < t->n_sample; i++)
        lp_tensor_free(t->sample[i]);
    lowp_sample_clear(&t->tb_batch);
    free(t->ops);
    for (int i = 0; i < LP_TUNE_MAX_SAMPLINGS; i++)
        lowp_calibration_free(t->cal[i]), lowp_calibration_free(t->cal_moments[i]);
    for (int i = 0; i < t->n_cfgs; i++) {
        if (t->sens)
            free(t->sens[i]);
        if (t->sens_sqnr)
            free(t->sens_sqnr[i]);
    }
    free(t->sens);
    free(t->sens_sqnr);
    free(t->cfgs);
    for (int i = 0; i < t->n_trials; i++) {
        free(t->trials[i].prec);
        free(t->trials[i].key);
    }
    free(t->trials);
    lp_tune_history_free(t->hist, t->n_hist);
    lp_tune_pending_free(t);
    if (t->lock_fd >= 0)
        close(t->lock_fd); /* releases the workspace */
    free(t);
}

static lp_status dup_str(const char *s, char **out)
{
    *out = NULL;
    if (s && !(*out = strdup(s)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    return LP_OK;
}

/* Zeros shaped like the model's inputs, symbolic or unknown dims 1 (for latency, when no data
 * comes through lowp: a user evaluator with dynamic quantization). */
static lp_status zero_sample(lowp_tuner *t)
{
    const lp_graph *g = t->fp32->g;
    if (g->n_inputs > LOWP_SAMPLE_MAX_TENSORS)
        return lp_error(LOWP_ERR_UNSUPPORTED, "the model has %d inputs (at most %d supported)", g->n_inputs,
                        LOWP_SAMPLE_MAX_TENSORS);
    for (int i = 0; i < g->n_inputs; i++) {
        const lp_value *v = &g->values[g->inputs[i]];
        int64_t dims[LP_MAX_DIMS];
        int nd = v->shape.ndim > 0 ? v->shape.ndim : 0;
        for (int k = 0; k < nd && k < LP_MAX_DIMS; k++)
            dims[k] = lp_dim_known(v->shape.d[k]) ? v->shape.d[k] : 1;
        LP_TRY(lp_tensor_new(v->dtype != LOWP_UNDEFINED ? v->dtype : LOWP_FLOAT, nd, dims, &t->sample[i]));
        t->n_sample = i + 1;
    }
    return LP_OK;
}

/* The first sample of the evaluation data (else the calibration data, else zeros) as batch-1
 * tensors (for latency). */
static lp_status take_sample(lowp_tuner *t)
{
    lowp_dataloader *dl = t->eval ? t->eval : t->calib;
    if (!dl)
        return zero_sample(t);
    lowp_sample b = { 0 };
    int64_t n = 0;
    lowp_dataloader_reset(dl);
    lp_status st = lowp_dataloader_next(dl, &b, &n);
    lowp_dataloader_reset(dl);
    if (st == LP_OK && n == 0)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: the %s dataloader yielded no samples",
                      lowp_dataloader_describe(dl), dl == t->eval ? "evaluation" : "calibration");
    for (int i = 0; st == LP_OK && i < b.n_inputs; i++) {
        const lp_tensor *x = b.inputs[i];
        int64_t dims[LP_MAX_DIMS];
        memcpy(dims, x->dims, sizeof dims);
        if (x->ndim > 0)
            dims[0] = 1;
        st = lp_tensor_new(x->dtype, x->ndim, dims, &t->sample[i]);
        if (st == LP_OK) {
            memcpy(t->sample[i]->data, x->data, t->sample[i]->nbytes);
            t->n_sample = i + 1;
        }
    }
    lowp_sample_clear(&b);
    return st;
}

/* MACs per sample of each tunable op, from a batch-1 plan's static shapes. */
static lp_status count_macs(lowp_tuner *t)
{
    lp_plan *p = NULL;
    const lp_tensor *in[LOWP_SAMPLE_MAX_TENSORS];
    for (int i = 0; i < t->n_sample; i++)
        in[i] = t->sample[i];
    if (t->fp32->g->n_inputs != t->n_sample)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: batches have %d inputs, the model %d",
                        lowp_dataloader_describe(t->eval ? t->eval : t->calib), t->n_sample, t->fp32->g->n_inputs);
    LP_TRY(lp_plan_compile(t->fp32->g, in, &p));
    const lp_graph *g = p->g;
    for (int i = 0; i < t->n_ops; i++) {
        lp_tune_op *op = &t->ops[i];
        op->macs = 1;
        for (int k = 0; k < g->n_nodes; k++) {
            const lp_node *n = &g->nodes[k];
            if (n->dead || strcmp(n->name, op->name) != 0 || n->n_out < 1 || n->out[0] < 0 || n->n_in < 2)
                continue;
            const lp_value *y = &g->values[n->out[0]], *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
            if (y->shape.ndim < 1 || !lp_shape_static(&y->shape))
                break;
            double out = (double)lp_numel(y->shape.ndim, y->shape.d);
            double inner = 1;
            if (!strcmp(n->op_type, "Conv") && w->shape.ndim >= 3 && lp_shape_static(&w->shape))
                inner = (double)lp_numel(w->shape.ndim, w->shape.d) / (double)w->shape.d[0];
            else if (x->shape.ndim >= 1 && lp_shape_static(&x->shape))
                inner = (double)x->shape.d[x->shape.ndim - 1]; /* Gemm with transA=0, MatMul */
            op->macs = out * inner;
            break;
        }
    }
    lp_plan_free(p);
    return LP_OK;
}

static lp_status builtin_eval(void *user, const lowp_eval_request *rq, double *value_out);

/* The one constructor behind both public ones: `ev` scores candidates (NULL: the built-in
 * evaluation data + metric). Owns everything handed in, also when it fails. */
static lp_status create(const lowp_model *model, lowp_dataloader *calib, lowp_dataloader *eval, lowp_metric *metric,
                        lowp_transform *post, const lowp_evaluator *ev, const lowp_tune_options *options,
                        lowp_tuner **out)
{
    lowp_tuner *t = NULL;
    lp_status st = LP_OK;
    if (!model || !out)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_create: NULL model or output");
    else if (!ev && (!eval || !metric))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_create: NULL evaluation data or metric");
    else if (ev && !ev->fn)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_create_with_evaluator: the evaluator has no function");
    else if (!(t = calloc(1, sizeof *t)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != LP_OK) {
        lowp_dataloader_free(calib);
        lowp_dataloader_free(eval);
        lowp_metric_free(metric);
        lowp_transform_free(post);
        if (ev && ev->free)
            ev->free(ev->user);
        return st;
    }
    if (ev) {
        t->ev = *ev;
        t->ev_owned = true;
    } else {
        t->ev = (lowp_evaluator){ .fn = builtin_eval, .user = t, .higher_is_better = lowp_metric_higher_is_better(metric) != 0 };
    }
    st = dup_str(ev ? (ev->name && *ev->name ? ev->name : "user metric") : lowp_metric_name(metric), &t->metric_name);
    t->calib = calib, t->eval = eval, t->metric = metric, t->post = post;
    t->lock_fd = -1;
    t->opt = options ? *options : lowp_tune_options_default();
    lowp_tune_options d = lowp_tune_options_default();
    lowp_tune_options *o = &t->opt;
    if (!o->strategy)
        o->strategy = d.strategy;
    if (!o->approach)
        o->approach = d.approach;
    if (!o->workspace)
        o->workspace = d.workspace;
    if (o->n_sampling_sizes <= 0) {
        o->n_sampling_sizes = 1;
        o->sampling_sizes[0] = 100;
    }
    if (o->n_sampling_sizes > LP_TUNE_MAX_SAMPLINGS)
        o->n_sampling_sizes = LP_TUNE_MAX_SAMPLINGS;
    for (int i = 0; i < o->n_sampling_sizes && st == LP_OK; i++)
        if (o->sampling_sizes[i] < 1)
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "calibration sampling size %lld: must be positive",
                          (long long)o->sampling_sizes[i]);
    if (st == LP_OK && strcmp(o->approach, "post_training_static_quant") && strcmp(o->approach, "post_training_dynamic_quant") &&
        strcmp(o->approach, "post_training_auto_quant"))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "approach '%s': expected post_training_static_quant, "
                      "post_training_dynamic_quant or post_training_auto_quant", o->approach);
    if (st == LP_OK && !lp_tune_strategy_find(o->strategy)) {
        char known[512];
        size_t n = 0;
        known[0] = 0;
        for (int i = 0; lowp_tune_strategy_at(i) && n < sizeof known; i++)
            n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", lowp_tune_strategy_at(i)->name);
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "unknown tuning strategy '%s' (known: %s)", o->strategy, known);
    }
    if (st == LP_OK && o->comm && o->comm->size > 1 &&
        (!o->comm->gather || !o->comm->bcast || o->comm->rank < 0 || o->comm->rank >= o->comm->size))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "options.comm: rank %d of %d, or no gather/bcast", o->comm->rank,
                      o->comm->size);
    if (st == LP_OK && (o->ranks_per_trial < 0 || o->trial_batch < 0 || o->trial_batch > 1024))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "ranks_per_trial %d, trial_batch %d: want >= 0 (0: the default), "
                      "trial_batch <= 1024", o->ranks_per_trial, o->trial_batch);
    if (st == LP_OK && !(o->tolerance == o->tolerance))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "tolerance: not a number");
    if (st == LP_OK)
        st = dup_str(o->strategy, &t->strategy_name);
    t->ev.name = t->metric_name;
    if (st == LP_OK)
        st = dup_str(o->approach, &t->approach_name);
    if (st == LP_OK)
        st = dup_str(o->objective ? o->objective : "performance", &t->objective_spec);
    if (st == LP_OK)
        st = dup_str(o->workspace, &t->workspace);
    if (st == LP_OK)
        st = dup_str(o->resume_from, &t->resume_from);
    if (st == LP_OK)
        st = dup_str(model->path ? model->path : "model", &t->model_path);
    if (st == LP_OK)
        st = o->output ? dup_str(o->output, &t->output) : lp_path_join(t->workspace, "best_model.onnx", &t->output);
    if (st == LP_OK) {
        o->strategy = t->strategy_name, o->approach = t->approach_name, o->objective = t->objective_spec;
        o->workspace = t->workspace, o->output = t->output, o->resume_from = t->resume_from;
        st = lp_tune_parse_objective(t, t->objective_spec);
    }
    if (st == LP_OK && !t->calib && strcmp(o->approach, "post_training_dynamic_quant"))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s needs calibration data (no calibration dataloader given)", o->approach);
    if (st == LP_OK) {
        lowp_session_options so = lowp_session_options_default();
        so.threads = o->threads;
        st = lp_session_create_graph(model->graph, &so, &t->fp32);
    }
    t->bf16 = lp_dnnl_bf16_supported();
    if (st == LP_OK)
        st = take_sample(t);
    if (st == LP_OK)
        st = lp_tune_build_space(t, o->config);
    if (st == LP_OK)
        st = count_macs(t);
    o->config = NULL; /* not kept */
    if (st != LP_OK) {
        lowp_tuner_free(t);
        return st;
    }
    t->hib = o->higher_is_better >= 0 ? o->higher_is_better != 0 : t->ev.higher_is_better != 0;
    t->max_trials = o->max_trials > 0 ? o->max_trials : 100;
    t->keep_searching = o->max_trials > 0 || o->timeout > 0;
    t->rng = (uint64_t)o->seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    t->baseline = t->target = NAN;
    *out = t;
    return LP_OK;
}

lowp_status lowp_tuner_create(const lowp_model *model, lowp_dataloader *calib, lowp_dataloader *eval,
                              lowp_metric *metric, lowp_transform *post, const lowp_tune_options *options,
                              lowp_tuner **out)
{
    return create(model, calib, eval, metric, post, NULL, options, out);
}

lowp_status lowp_tuner_create_with_evaluator(const lowp_model *model, lowp_dataloader *calib,
                                             const lowp_evaluator *evaluator, const lowp_tune_options *options,
                                             lowp_tuner **out)
{
    if (!evaluator) {
        lowp_dataloader_free(calib);
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_create_with_evaluator: NULL evaluator");
    }
    return create(model, calib, NULL, NULL, NULL, evaluator, options, out);
}

lowp_status lowp_evaluator_run(const lowp_evaluator *ev, const lowp_model *model, const lowp_session_options *options,
                               double *value_out)
{
    if (!ev || !ev->fn || !model || !value_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_evaluator_run: NULL argument");
    lowp_session *s = NULL;
    LP_TRY(lowp_session_create(model, options, &s));
    lowp_eval_request rq = { .model = model, .session = s, .trial = 0, .note = "FP32" };
    double v = NAN;
    lp_status st = ev->fn(ev->user, &rq, &v);
    lowp_session_free(s);
    LP_TRY(st);
    *value_out = v;
    return LP_OK;
}

lowp_status lowp_tuner_create_from_config(const lowp_model *model, const lowp_config *cfg,
                                          const lowp_tune_options *options, lowp_tuner **out)
{
    if (!model || !cfg || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_create_from_config: NULL argument");
    lowp_tune_options o;
    if (options)
        o = *options;
    else
        LP_TRY(lowp_tune_options_from_config(cfg, &o));
    o.config = cfg;
    lowp_dataloader *cal = NULL, *ev = NULL;
    lowp_metric *m = NULL;
    lowp_transform *post = NULL;
    lp_status st = lowp_config_dataloader(cfg, "evaluation.accuracy", 0, 0, &ev);
    if (st == LP_OK && strcmp(o.approach ? o.approach : "", "post_training_dynamic_quant") != 0) {
        int64_t max = 0;
        for (int i = 0; i < o.n_sampling_sizes; i++)
            max = o.sampling_sizes[i] > max ? o.sampling_sizes[i] : max;
        st = lowp_config_dataloader(cfg, "quantization.calibration", 0, max, &cal);
    }
    if (st == LP_OK)
        st = lowp_config_metric(cfg, &m);
    if (st == LP_OK)
        st = lowp_config_postprocess(cfg, &post);
    if (st != LP_OK) {
        lowp_dataloader_free(cal);
        lowp_dataloader_free(ev);
        lowp_metric_free(m);
        lowp_transform_free(post);
        return st;
    }
    return lowp_tuner_create(model, cal, ev, m, post, &o, out);
}

/* ---- progress ---- */

static int best_index(const lowp_tuner *t);

static void progress(lowp_tuner *t, const char *phase, int64_t done, int64_t total, const char *note, bool finished)
{
    if (!t->opt.progress)
        return;
    int b = best_index(t);
    double el = lp_tune_now() - t->t0, eta = -1;
    if (t->n_trials > 0 && t->eval_seconds > 0) {
        eta = (t->max_trials - t->n_trials) * t->eval_seconds * 1.3;
        if (t->opt.timeout > 0 && eta > t->opt.timeout - el)
            eta = t->opt.timeout - el > 0 ? t->opt.timeout - el : 0;
    }
    bool running = !finished && !strcmp(phase, "trial"); /* the trial under way is not counted yet */
    lowp_tune_progress p = { .phase = phase, .trial = t->n_trials + running, .max_trials = t->max_trials, .done = done,
                             .total = total, .baseline = t->baseline, .target = t->target,
                             .accuracy = t->n_trials ? t->trials[t->n_trials - 1].t.accuracy : NAN,
                             .best = b >= 0 && t->trials[b].t.passed ? t->trials[b].t.accuracy : NAN,
                             .met = b >= 0 && t->trials[b].t.passed, .finished = finished, .elapsed = el, .eta = eta,
                             .note = note ? note : "",
                             .passed = finished && t->n_trials && t->trials[t->n_trials - 1].t.passed,
                             .higher_is_better = t->hib,
                             .trial_seconds = t->eval_seconds > 0 ? t->eval_seconds : NAN,
                             .budget_bound = t->keep_searching || t->strategy_keeps_searching };
    t->opt.progress(t->opt.progress_user, &p);
}

void lp_tune_announce(lowp_tuner *t, const char *phase, const char *note) { progress(t, phase, 0, 0, note, true); }

typedef struct eval_progress {
    lowp_tuner *t;
    const char *phase, *note;
} eval_progress;

static void on_eval(void *user, int64_t done, int64_t total)
{
    eval_progress *e = user;
    progress(e->t, e->phase, done, total, e->note, false);
}

/* The built-in scorer: the evaluation dataloader through the candidate's session, the metric. */
static lp_status builtin_eval(void *user, const lowp_eval_request *rq, double *value_out)
{
    lowp_tuner *t = user;
    eval_progress ep = { t, rq->trial ? "trial" : "baseline", rq->note };
    /* compare_label false (LPOT's gpt2 / oob examples): scored against the FP32 model's outputs */
    lowp_eval_options eo = { .reference = lowp_metric_compare_label(t->metric) ? NULL : t->fp32,
                             .postprocess = t->post, .progress = on_eval, .progress_user = &ep };
    lowp_eval_result r;
    /* distributed: every rank scores its share of the batches, all get the one value */
    LP_TRY(lowp_evaluate_distributed(t->opt.comm, rq->session, rq->model, t->eval, t->metric, &eo, &r));
    *value_out = r.value;
    return LP_OK;
}

/* compare_label false with a relative criterion: the FP32 baseline scores itself perfectly (0
 * for MAE/MSE/RMSE), so a loss relative to it means nothing. The criterion is then relative
 * to the FP32 outputs' own size: the metric of an all-zero output against them (MSE: the mean
 * square of the FP32 outputs), scored on the same data — `relative: 0.01` with MSE allows an
 * error of 1 % of the outputs' power (20 dB). */
static lp_status zero_output_score(lowp_tuner *t, double *out)
{
    lp_graph *g = NULL;
    LP_TRY(lp_graph_clone_shared(t->fp32->g, &g));
    lp_status st = LP_OK;
    for (int i = 0; st == LP_OK && i < g->n_outputs; i++) { /* output i becomes x - x */
        int x = g->outputs[i], z = -1;
        st = lp_graph_new_value(g, "lowp_zero", &z);
        if (st == LP_OK) {
            g->values[z].dtype = g->values[x].dtype;
            g->values[z].shape = g->values[x].shape;
            int in[2] = { x, x };
            st = lp_graph_add_node(g, "lowp_zero", "Sub", "", 2, in, 1, &z, NULL);
        }
        if (st == LP_OK)
            g->outputs[i] = z;
    }
    lowp_session_options so = lowp_session_options_default();
    so.threads = t->opt.threads;
    lowp_session *s = NULL;
    if (st == LP_OK)
        st = lp_session_create_graph(g, &so, &s);
    lowp_model m = { .graph = g };
    lowp_eval_options eo = { .reference = t->fp32, .postprocess = t->post };
    lowp_eval_result r;
    if (st == LP_OK)
        st = lowp_evaluate_distributed(t->opt.comm, s, &m, t->eval, t->metric, &eo, &r);
    lowp_session_free(s);
    lp_graph_free(g);
    if (st != LP_OK)
        return lp_error_prefix(st, "the FP32 outputs' size (compare_label: false, relative criterion)");
    *out = r.value;
    return LP_OK;
}

/* Scores a candidate through the evaluator (trial 0: the baseline) and measures it. */
lp_status lp_tune_evaluate(lowp_tuner *t, const lp_graph *g, int trial, const char *note, double *acc,
                           double *latency, int64_t *bytes, int64_t *footprint)
{
    lowp_session_options so = lowp_session_options_default();
    so.threads = t->opt.threads;
    lowp_session *s = NULL;
    LP_TRY(lp_session_create_graph(g, &so, &s));
    lowp_model m = { .graph = (lp_graph *)g };
    lowp_eval_request rq = { .model = &m, .session = s, .trial = trial, .note = note, .workspace = t->workspace,
                             .cancelled = &t->cancelled };
    double start = lp_tune_now(), v = NAN;
    if (t->ev.fn != builtin_eval && !t->opt.performance_only) /* the built-in reports per batch itself */
        progress(t, trial ? "trial" : "baseline", 0, 0, note, false);
    /* performance_only (LPOT's exit policy): no accuracy, the candidate is only measured.
     * Distributed, the built-in evaluation is split over the ranks; a user's evaluator (a
     * program, a callback) runs on rank 0, its value shared. */
    bool dist = lp_dist_active(t->opt.comm), own = t->ev.fn == builtin_eval || !dist || t->opt.comm->rank == 0;
    lp_status st = t->opt.performance_only || !own ? LP_OK : t->ev.fn(t->ev.user, &rq, &v);
    lowp_session_free(s);
    if (st == LP_OK && trial == 0 && !(v == v) && !t->opt.performance_only && own)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: the FP32 model scored NaN", t->metric_name);
    if (!dist || (st != LP_OK && lp_dist_error_shared()))
        LP_TRY(st);
    if (!dist) {
        if (trial == 0)
            t->eval_seconds = lp_tune_now() - start;
        *acc = v;
        return lp_tune_measure(t, g, latency, bytes, footprint);
    }
    /* rank 0 measures (a timing: one clock decides) and shares the value, the measurements and
     * its elapsed time */
    struct { double acc, latency; int64_t bytes, footprint; double elapsed, eval_seconds; } ms = { v, 0, 0, 0, 0, 0 };
    if (st == LP_OK && t->opt.comm->rank == 0) {
        ms.eval_seconds = lp_tune_now() - start;
        st = lp_tune_measure(t, g, &ms.latency, &ms.bytes, &ms.footprint);
        ms.elapsed = lp_tune_now() - t->t0;
    }
    void *got = NULL;
    size_t n = 0;
    LP_TRY(lp_dist_share(t->opt.comm, st, &ms, sizeof ms, &got, &n));
    if (n == sizeof ms)
        memcpy(&ms, got, sizeof ms);
    free(got);
    if (n != sizeof ms)
        return lp_error(LOWP_ERR_INTERNAL, "distributed tune: a short measurement from rank 0");
    if (trial == 0)
        t->eval_seconds = ms.eval_seconds;
    t->agreed_elapsed = ms.elapsed;
    *acc = ms.acc, *latency = ms.latency, *bytes = ms.bytes, *footprint = ms.footprint;
    return LP_OK;
}

/* ---- trials ---- */

static bool passes(const lowp_tuner *t, double acc)
{
    if (t->opt.performance_only) /* no accuracy goal: the first recipe is the answer */
        return true;
    if (!(acc == acc))
        return false;
    double eps = 1e-12 * (fabs(t->target) + 1);
    return t->hib ? acc >= t->target - eps : acc <= t->target + eps;
}

static bool more_accurate(const lowp_tuner *t, double a, double b)
{
    if (!(a == a))
        return false;
    if (!(b == b))
        return true;
    return t->hib ? a > b : a < b;
}

bool lp_tune_better(const lowp_tuner *t, const lp_tune_rec *a, const lp_tune_rec *b)
{
    if (a->t.passed != b->t.passed)
        return a->t.passed;
    double eps = 1e-9;
    if (a->t.passed) {
        if (fabs(a->t.objective - b->t.objective) > eps)
            return a->t.objective < b->t.objective;
        if (a->t.accuracy != b->t.accuracy)
            return more_accurate(t, a->t.accuracy, b->t.accuracy);
    } else {
        if (a->t.accuracy != b->t.accuracy)
            return more_accurate(t, a->t.accuracy, b->t.accuracy);
        if (fabs(a->t.objective - b->t.objective) > eps)
            return a->t.objective < b->t.objective;
    }
    return a->t.index < b->t.index;
}

static int best_index(const lowp_tuner *t)
{
    int b = -1;
    for (int i = 0; i < t->n_trials; i++)
        if (b < 0 || lp_tune_better(t, &t->trials[i], &t->trials[b]))
            b = i;
    return b;
}

int lp_tune_best_config(const lowp_tuner *t)
{
    int b = -1;
    for (int i = 0; i < t->n_trials; i++)
        if (b < 0 || more_accurate(t, t->trials[i].t.accuracy, t->trials[b].t.accuracy))
            b = i;
    return b < 0 ? 0 : t->trials[b].config;
}

static bool budget_spent(lowp_tuner *t)
{
    if (t->n_trials >= t->max_trials)
        return true;
    return t->opt.timeout > 0 && elapsed(t) >= t->opt.timeout;
}

lowp_status lowp_tuner_try(lowp_tuner *t, int config, const unsigned char *precision, const char *note,
                           lowp_tune_trial *trial_out, int *stop_out)
{
    int dummy_stop;
    lowp_tune_trial dummy_trial;
    if (!stop_out)
        stop_out = &dummy_stop;
    if (!trial_out)
        trial_out = &dummy_trial;
    memset(trial_out, 0, sizeof *trial_out);
    trial_out->accuracy = NAN;
    if (!t || !precision || config < 0 || config >= t->n_cfgs)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_try: bad argument");
    *stop_out = t->stopped;
    if (t->stopped)
        return LP_OK;
    unsigned char *prec = malloc((size_t)t->n_ops + 1);
    if (!prec)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(prec, precision, (size_t)t->n_ops);
    lp_tune_normalize(t, prec);
    int low = 0;
    for (int i = 0; i < t->n_ops; i++)
        low += prec[i] != LP_PREC_FP32;
    if (!low) { /* the FP32 model itself: known, and not a quantization */
        free(prec);
        return LP_OK;
    }
    char *key = lp_tune_key(t, config, prec);
    if (!key) {
        free(prec);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int i = 0; i < t->n_trials; i++)
        if (!strcmp(t->trials[i].key, key)) { /* tried before in this run */
            *trial_out = t->trials[i].t;
            free(prec);
            free(key);
            if (++t->dup_streak > 100000)
                t->stopped = true; /* a strategy going round in circles */
            *stop_out = t->stopped;
            return LP_OK;
        }
    t->dup_streak = 0;
    if (t->cancelled) {
        free(prec);
        free(key);
        return lp_error(LOWP_ERR_CANCELLED, "cancelled before trial %d (the history keeps %d trials: resume continues)",
                        t->n_trials + 1, t->n_trials);
    }
    if (budget_spent(t)) {
        free(prec);
        free(key);
        t->stopped = true;
        *stop_out = 1;
        return LP_OK;
    }
    if (t->n_trials == t->cap_trials) {
        int cap = t->cap_trials ? 2 * t->cap_trials : 32;
        lp_tune_rec *r = realloc(t->trials, (size_t)cap * sizeof *r);
        if (!r) {
            free(prec);
            free(key);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        t->trials = r;
        t->cap_trials = cap;
    }
    lp_tune_rec rec = { .config = config, .prec = prec, .key = key, .rv = t->rv };
    snprintf(rec.note, sizeof rec.note, "%s", note ? note : "");
    snprintf(rec.strategy, sizeof rec.strategy, "%s", t->cur_strategy ? t->cur_strategy : t->strategy_name);
    rec.cost = lp_tune_cost(t, prec);
    for (int i = 0; i < t->n_ops; i++)
        rec.n_prec[prec[i]]++;
    const lp_tune_hist *h = lp_tune_history_find(t, key);
    const lp_tune_pending *pd = h ? NULL : lp_tune_pending_find(t, key);
    lp_status st = LP_OK;
    lp_graph *g = NULL;
    if (h) {
        rec.t = h->t;
        rec.replayed = true;
    } else if (pd) {   /* evaluated ahead by one rank (parallel trials) */
        st = pd->status == LP_OK ? LP_OK : lp_error(pd->status, "%s", pd->message);
        rec.t = pd->t;
    } else {
        double start = lp_tune_now();
        st = lp_tune_build_graph(t, config, prec, &t->rv, &g);
        if (st == LP_OK)
            st = lp_tune_evaluate(t, g, t->n_trials + 1, rec.note, &rec.t.accuracy, &rec.t.latency_ms, &rec.t.model_bytes,
                          &rec.t.footprint_bytes);
        rec.t.seconds = lp_tune_now() - start;
    }
    rec.t.index = t->n_trials + 1;
    rec.t.passed = passes(t, rec.t.accuracy);
    rec.t.objective = lp_tune_objective(t, rec.cost, rec.t.model_bytes, rec.t.footprint_bytes);
    /* a trial replayed into the same workspace has its event file there already */
    if (st == LP_OK && t->opt.tensorboard && lp_tune_writer(t) && !(rec.replayed && t->hist_in_place))
        st = lp_tune_tensorboard(t, g, &rec);
    lp_graph_free(g);
    if (st != LP_OK) {
        free(prec);
        free(key);
        return lp_error_prefix(st, "trial %d (%s)", t->n_trials + 1, t->cfgs[config].name);
    }
    t->trials[t->n_trials++] = rec;
    if (!rec.replayed || !t->hist_in_place)
        LP_TRY(lp_tune_history_append(t, &rec));
    if (rec.t.passed && ((!t->keep_searching && !t->strategy_keeps_searching) || t->opt.performance_only))
        t->stopped = true;
    if (budget_spent(t))
        t->stopped = true;
    progress(t, "trial", 0, 0, rec.note, true);
    *trial_out = rec.t;
    *stop_out = t->stopped;
    return LP_OK;
}

lowp_status lowp_tuner_set_training_data(lowp_tuner *t, lowp_dataloader *train)
{
    if (!t || !train)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_set_training_data: NULL argument");
    lowp_dataloader_free(t->train);
    t->train = train;
    return LP_OK;
}

void lowp_tuner_cancel(lowp_tuner *t)
{
    if (t)
        t->cancelled = 1;
}

/* ---- accessors for strategies ---- */

int lowp_tuner_op_count(const lowp_tuner *t) { return t ? t->n_ops : 0; }
const char *lowp_tuner_op_name(const lowp_tuner *t, int i) { return t && i >= 0 && i < t->n_ops ? t->ops[i].name : NULL; }
const char *lowp_tuner_op_type(const lowp_tuner *t, int i) { return t && i >= 0 && i < t->n_ops ? t->ops[i].op_type : NULL; }
int lowp_tuner_op_allows(const lowp_tuner *t, int i, lowp_tune_precision p)
{
    return t && i >= 0 && i < t->n_ops && (unsigned)p < 3 && t->ops[i].allow[p];
}
int lowp_tuner_config_count(const lowp_tuner *t) { return t ? t->n_cfgs : 0; }
const char *lowp_tuner_config_name(const lowp_tuner *t, int c) { return t && c >= 0 && c < t->n_cfgs ? t->cfgs[c].name : NULL; }
uint64_t *lowp_tuner_rng(lowp_tuner *t) { return t ? &t->rng : NULL; }
int lowp_tuner_trial_count(const lowp_tuner *t) { return t ? t->n_trials : 0; }

lowp_status lowp_tuner_trial(const lowp_tuner *t, int i, lowp_tune_trial *out)
{
    if (!t || !out || i < 0 || i >= t->n_trials)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_trial: no trial %d", i);
    *out = t->trials[i].t;
    return LP_OK;
}

int lowp_tuner_best(const lowp_tuner *t, int *config_out, unsigned char *prec_out)
{
    int b = t ? best_index(t) : -1;
    if (b >= 0 && config_out)
        *config_out = t->trials[b].config;
    if (b >= 0 && prec_out)
        memcpy(prec_out, t->trials[b].prec, (size_t)t->n_ops);
    return b;
}

/* ---- the run ---- */

static lp_status save_outputs(lowp_tuner *t, int b)
{
    const lp_tune_rec *r = &t->trials[b];
    lp_graph *g = NULL;
    LP_TRY(lp_tune_build_graph(t, r->config, r->prec, &r->rv, &g));
    lowp_model m = { .graph = g }, *qo = NULL;
    bool qop = t->opt.qoperator && t->cfgs[r->config].approach == LP_APPROACH_STATIC_QUANT;
    lp_status st = qop ? lowp_model_to_qoperator(&m, &qo) : LP_OK;
    if (st == LP_OK)
        st = lowp_model_save(qo ? qo : &m, t->output);
    lowp_model_free(qo);
    lp_graph_free(g);
    LP_TRY(st);
    lp_recipe *rec = NULL;
    LP_TRY(lp_tune_recipe(t, r->config, r->prec, &r->rv, &rec));
    char *path = NULL;
    st = lp_path_join(t->workspace, "best_recipe.json", &path);
    if (st == LP_OK)
        st = lowp_recipe_save(rec, path);
    free(path);
    lp_recipe_free(rec);
    return st;
}

lowp_status lowp_tuner_run(lowp_tuner *t, lowp_tune_summary *s)
{
    if (!t || !s)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_run: NULL argument");
    if (t->ran)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tuner_run: a tuner runs once");
    t->ran = true;
    t->t0 = lp_tune_now();
    LP_TRY(lp_tune_history_open(t));
    /* the FP32 baseline, once */
    double acc;
    lp_status st = lp_tune_evaluate(t, t->fp32->g, 0, "FP32", &acc, &t->base_latency, &t->base_bytes, &t->base_footprint);
    if (st != LP_OK)
        return lp_error_prefix(st, "FP32 baseline");
    if (t->cancelled)
        return lp_error(LOWP_ERR_CANCELLED, "cancelled after the FP32 baseline");
    bool each = t->ev.fn == builtin_eval && lp_metric_multi_each(t->metric) && !t->opt.performance_only;
    if (each) { /* multi_metrics without weights: each metric against its own FP32 value */
        if (lp_dist_active(t->opt.comm))
            return lp_error(LOWP_ERR_UNSUPPORTED, "multi_metrics without weights: not under mpirun yet "
                            "(give 'weight', or tune in one process)");
        int n = 0;
        LP_TRY(lp_metric_multi_freeze(t->metric, t->opt.relative, &n, NULL, 0));
        acc = 0; /* the worst metric's change from its baseline, higher is better */
        t->hib = true;
    }
    t->baseline = acc;
    t->base_cost = 1.0;
    double scale = fabs(acc);
    if (t->opt.relative && acc == 0 && !each && t->ev.fn == builtin_eval && !lowp_metric_compare_label(t->metric) &&
        !t->opt.performance_only)
        LP_TRY(zero_output_score(t, &scale));
    double d = t->opt.relative && !each ? scale * t->opt.tolerance : t->opt.tolerance;
    t->target = t->hib ? acc - d : acc + d;
    progress(t, "baseline", 0, 0, "FP32", true);
    /* the strategy */
    const lowp_tune_strategy *strat = lp_tune_strategy_find(t->strategy_name);
    t->strategy_keeps_searching = strat->keeps_searching;
    t->cur_strategy = strat->name;
    snprintf(t->summary_strategy, sizeof t->summary_strategy, "%s", strat->name);
    LP_TRY(strat->run(t, strat->user));
    int b = best_index(t);
    if (b < 0)
        return lp_error(LOWP_ERR_UNSUPPORTED, "strategy '%s' tried no recipe: %s", strat->name,
                        t->stopped ? "the time or trial budget ran out before its first trial"
                                   : "every point it proposed was the FP32 model (all ops kept in FP32)");
    /* one writer: rank 0 (its failure is every rank's). Writing quantizes the best recipe and
     * the report charts its per-op sensitivity: both need its calibration, which all ranks
     * make together (a resumed tune that replayed every trial has none yet). */
    lp_status wst = LP_OK;
    if (lp_dist_active(t->opt.comm) && t->cfgs[t->trials[b].config].approach == LP_APPROACH_STATIC_QUANT) {
        lowp_calibration *cal = NULL;
        LP_TRY(lp_tune_calibration(t, t->cfgs[t->trials[b].config].sampling, lp_tune_needs_samples(&t->trials[b].rv), &cal));
    }
    if (lp_tune_writer(t))
        wst = save_outputs(t, b);
    if (lp_dist_active(t->opt.comm))
        wst = lp_dist_agree(t->opt.comm, wst, NULL, 0, NULL, NULL, NULL, NULL, NULL);
    LP_TRY(wst);
    const lp_tune_rec *r = &t->trials[b];
    memset(s, 0, sizeof *s);
    s->baseline = t->baseline;
    s->target = t->target;
    s->best = r->t.accuracy;
    double loss = t->baseline != 0 ? (t->baseline - r->t.accuracy) / fabs(t->baseline) : 0;
    s->relative_loss = t->hib ? loss : -loss;
    s->met = r->t.passed;
    s->trials = t->n_trials;
    s->best_trial = r->t.index;
    s->baseline_latency_ms = t->base_latency;
    s->best_latency_ms = r->t.latency_ms;
    s->speedup = r->t.latency_ms > 0 ? t->base_latency / r->t.latency_ms : NAN;
    s->baseline_bytes = t->base_bytes;
    s->best_bytes = r->t.model_bytes;
    s->n_int8 = r->n_prec[LP_PREC_INT8];
    s->n_bf16 = r->n_prec[LP_PREC_BF16];
    s->n_fp32 = r->n_prec[LP_PREC_FP32];
    s->strategy = t->summary_strategy;
    s->output = t->output;
    s->workspace = t->workspace;
    s->seconds = lp_tune_now() - t->t0;
    wst = lp_tune_writer(t) ? lp_tune_write_reports(t, s) : LP_OK;
    if (lp_dist_active(t->opt.comm))
        wst = lp_dist_agree(t->opt.comm, wst, NULL, 0, NULL, NULL, NULL, NULL, NULL);
    LP_TRY(wst);
    s->seconds = lp_tune_now() - t->t0; /* the reports' sensitivity chart included */
    progress(t, "done", 0, 0, NULL, true);
    return LP_OK;
}
