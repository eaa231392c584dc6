/* cmd_prune.c — `lowp prune MODEL -o OUT.onnx`: magnitude pruning (unstructured, N:M, channel)
 * into standard ONNX, with a per-tensor report, the size and the measured speed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/json.h"
#include "cli/cli.h"
#include "cli/cli_data.h"
#include "config/config.h"
#include "onnx/model.h"
#include "prune/prune.h"
#include "train/loss.h"
#include "train/train.h"

static const char usage[] =
    "usage: lowp prune MODEL -o OUT.onnx [--pattern P] [--sparsity S] [--names LIST] [options]\n"
    "       lowp prune MODEL -o OUT.onnx --config FILE.yaml\n"
    "\n"
    "Prunes the weights of MODEL's Conv, Gemm and MatMul layers by magnitude, one-shot, and writes\n"
    "standard ONNX (the model optimized: BatchNormalization folded). Prints what each weight\n"
    "lost, the sizes, and the latency before and after (lowp's engine, zeros as input).\n"
    "\n"
    "  -o, --output FILE      the pruned model (written via a temporary name)\n"
    "  -p, --pattern P        unstructured (default): each weight's smallest |w| set to zero;\n"
    "                         N:M, e.g. 2:4: N kept of every M along each layer's reduction axis;\n"
    "                         channel: whole output channels removed and their readers shrunk\n"
    "                         (the model gets smaller and faster)\n"
    "  -s, --sparsity S       fraction to remove, in [0, 1) (default 0.5; unused by N:M)\n"
    "      --names LIST       comma-separated weight or node names or regular expressions\n"
    "                         (default: every layer)\n"
    "  -c, --config FILE      LPOT YAML: pruning.approach.weight_compression (target_sparsity,\n"
    "                         pruners with prune_type basic_magnitude, names, pattern, epochs)\n"
    "                         and pruning.train (fine-tuning: dataloader, optimizer, criterion,\n"
    "                         start/end_epoch, iteration, frequency; the options below override it)\n"
    "  -b, --batch-size N     the second batch size timed (default 64; 0: only batch 1)\n"
    "\n"
    "Fine-tuning after pruning (the training engine; pruned weights stay zero):\n"
    "      --train SPEC       labelled training data, e.g.\n"
    "                         FashionMNIST:/usr/share/datasets/fashion-mnist:train=true\n"
    "  -T, --transform LIST   transforms of the training and evaluation data (repeatable)\n"
    "      --epochs N         fine-tuning epochs (default 1 with --train)\n"
    "      --iterations N     at most N batches an epoch (default: all)\n"
    "      --train-batch N    training batch size (default 64)\n"
    "      --lr X             SGD learning rate (default 0.01; momentum 0.9, cosine schedule)\n"
    "      --distill T        distil from the unpruned model (KnowledgeDistillationLoss at\n"
    "                         temperature T, half labels, half teacher)\n"
    "      --gradual          unstructured: raise the sparsity from 0 to the target over the\n"
    "                         first half of the epochs, pruning by magnitude at each epoch\n"
    "                         (with --config: the pruners' start_epoch / end_epoch say when)\n"
    "      --eval SPEC        also measure top-1 on SPEC before and after (-n samples)\n"
    "  -n, --limit N          evaluation samples (default: all)\n"
    "  -j, --json             print the report as JSON\n"
    "  -q, --quiet            no per-tensor table\n"
    "  -h, --help             show this help\n"
    "\n"
    "example: lowp prune models/resnet_s.onnx -o resnet_s.pruned.onnx --pattern channel --sparsity 0.5\n";

typedef struct opts {
    const char *model, *output, *pattern, *names, *config, *train, *eval;
    double sparsity, lr, distill;
    long batch, epochs, iterations, train_batch, limit;
    bool json, quiet, gradual;
    lp_cli_data_opts data;
} opts;

static int parse(int argc, char **argv, opts *o)
{
    const char *cmd = "prune";
    *o = (opts){ .sparsity = 0.5, .batch = 64, .epochs = -1, .lr = NAN, .distill = NAN };
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
#define VALUE(s, l) ((r = lp_cli_option(cmd, argc, argv, &i, s, l, &v)) != 0)
        if (lp_cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return -1;
        } else if ((r = lp_cli_data_option(cmd, argc, argv, &i, &o->data)) != 0) {
            if (r < 0)
                return 1;
        } else if (VALUE("-o", "--output")) o->output = v;
        else if (VALUE(NULL, "--train")) o->train = v;
        else if (VALUE(NULL, "--eval")) o->eval = v;
        else if (VALUE(NULL, "--epochs")) {
            if (r > 0 && !lp_cli_int(v, 0, 100000, &o->epochs))
                return lp_cli_usage_error(cmd, "--epochs wants an integer in [0, 100000], got '%s'", v);
        } else if (VALUE(NULL, "--iterations")) {
            if (r > 0 && !lp_cli_int(v, 1, 1L << 40, &o->iterations))
                return lp_cli_usage_error(cmd, "--iterations wants a positive integer, got '%s'", v);
        } else if (VALUE(NULL, "--train-batch")) {
            if (r > 0 && !lp_cli_int(v, 1, 65536, &o->train_batch))
                return lp_cli_usage_error(cmd, "--train-batch wants an integer in [1, 65536], got '%s'", v);
        } else if (VALUE("-n", "--limit")) {
            if (r > 0 && !lp_cli_int(v, 1, 1L << 40, &o->limit))
                return lp_cli_usage_error(cmd, "--limit wants a positive integer, got '%s'", v);
        } else if (VALUE(NULL, "--lr")) {
            if (r > 0 && (!lp_cli_number(v, 0, 100, &o->lr) || o->lr <= 0))
                return lp_cli_usage_error(cmd, "--lr wants a number in (0, 100], got '%s'", v);
        } else if (VALUE(NULL, "--distill")) {
            if (r > 0 && (!lp_cli_number(v, 0, 1000, &o->distill) || !(o->distill > 0)))
                return lp_cli_usage_error(cmd, "--distill wants a temperature in (0, 1000], got '%s'", v);
        } else if (!strcmp(argv[i], "--gradual")) o->gradual = true;
        else if (VALUE("-p", "--pattern")) o->pattern = v;
        else if (VALUE("-c", "--config")) o->config = v;
        else if (VALUE(NULL, "--names")) o->names = v;
        else if (VALUE("-s", "--sparsity")) {
            if (r > 0 && (!lp_cli_number(v, 0, 1, &o->sparsity) || o->sparsity >= 1))
                return lp_cli_usage_error(cmd, "--sparsity wants a fraction in [0, 1), got '%s'", v);
        } else if (VALUE("-b", "--batch-size")) {
            if (r > 0 && !lp_cli_int(v, 0, 4096, &o->batch))
                return lp_cli_usage_error(cmd, "--batch-size wants an integer in [0, 4096], got '%s'", v);
        } else if (lp_cli_model_arg(cmd, argv[i], &o->json, &o->quiet, &o->model) != LP_EXIT_OK)
            return LP_EXIT_USAGE;
        if (r < 0)
            return LP_EXIT_USAGE; /* (not r: -1 is the help's exit 0) */
#undef VALUE
    }
    if (!o->model)
        return lp_cli_usage_error(cmd, "which model? (lowp prune MODEL -o OUT.onnx ...)");
    if (!o->output)
        return lp_cli_usage_error(cmd, "-o OUT.onnx is required");
    if (o->config && (o->pattern || o->names))
        return lp_cli_usage_error(cmd, "--config describes the pruners: --pattern and --names go with no --config");
    if (o->config)
        return 0; /* the rest depends on pruning.train: checked by prune_config */
    if (o->epochs < 0)
        o->epochs = o->train ? 1 : 0;
    if (o->epochs > 0 && !o->train)
        return lp_cli_usage_error(cmd, "--epochs needs labelled training data: --train SPEC");
    if (o->gradual && (o->epochs < 2 || (o->pattern && strcmp(o->pattern, "unstructured"))))
        return lp_cli_usage_error(cmd, "--gradual is for unstructured pruning with --train and --epochs 2 or more");
    return 0;
}

/* A number or string of the report as text. */
static const char *txt(const lp_cj *v, const char *dflt)
{
    return v && (v->type == LP_CJ_NUMBER || v->type == LP_CJ_STRING) ? v->str : dflt;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median latency (ms) of `m` on zero inputs with batch b (the first dim of every input when
 * unknown or symbolic); NAN when an input has another unknown dim. */
static double latency_ms(const lowp_model *m, long b)
{
    const lp_graph *g = m->graph;
    int n = g->n_inputs < LOWP_SAMPLE_MAX_TENSORS ? g->n_inputs : LOWP_SAMPLE_MAX_TENSORS;
    lowp_tensor *in[LOWP_SAMPLE_MAX_TENSORS] = { 0 };
    const char *names[LOWP_SAMPLE_MAX_TENSORS];
    double t[25], res = NAN;
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        const lp_value *v = &g->values[g->inputs[i]];
        int64_t dims[8];
        ok = v->shape.ndim >= 0 && v->shape.ndim <= 8;
        for (int d = 0; ok && d < v->shape.ndim; d++) {
            dims[d] = lp_dim_known(v->shape.d[d]) ? v->shape.d[d] : d == 0 ? b : -1;
            ok = dims[d] >= 0;
        }
        names[i] = v->name;
        ok = ok && lowp_tensor_create((lowp_dtype)v->dtype, v->shape.ndim, dims, NULL, &in[i]) == LOWP_OK;
    }
    lowp_session *s = NULL;
    if (ok && lowp_session_create(m, NULL, &s) == LOWP_OK) {
        int runs = 0;
        double t0 = now_s();
        for (int r = 0; r < 28 && ok && (r < 8 || now_s() - t0 < 2.0); r++) {
            lowp_tensor *out = NULL;
            double a = now_s();
            ok = lowp_session_run(s, n, names, (const lowp_tensor *const *)in, 1, &out) == LOWP_OK;
            if (r >= 3 && ok) /* three warm-up runs */
                t[runs++] = (now_s() - a) * 1e3;
            lowp_tensor_free(out);
        }
        if (ok && runs) {
            qsort(t, (size_t)runs, sizeof *t, cmp_d);
            res = t[runs / 2];
        }
    }
    lowp_session_free(s);
    for (int i = 0; i < n; i++)
        lowp_tensor_free(in[i]);
    return res;
}

/* Top-1 of `m` on the --eval data; *rc set on failure. */
static double top1(const opts *o, const lowp_model *m, int *rc)
{
    lowp_dataloader *dl = NULL;
    lowp_metric *metric = NULL;
    lowp_session *s = NULL;
    lowp_eval_result r = { .value = NAN };
    *rc = lp_cli_dataloader(o->eval, o->data.n_transforms, o->data.transforms, 100, o->limit, &dl);
    if (!*rc && (lowp_metric_create(o->data.metric ? o->data.metric : "topk", NULL, &metric) != LOWP_OK ||
                 lowp_session_create(m, NULL, &s) != LOWP_OK || lowp_evaluate(s, m, dl, metric, NULL, &r) != LOWP_OK))
        *rc = lp_cli_lib_error();
    lowp_session_free(s);
    lowp_metric_free(metric);
    lowp_dataloader_free(dl);
    return r.value;
}

#define MAX_PRUNERS 64
#define MAX_NAMES 256

/* What to prune, in order, and how to fine-tune: from the command line, or from the
 * configuration's pruners and pruning.train with the command line over it. */
typedef struct plan {
    int n;
    lp_pruner p[MAX_PRUNERS];
    lp_prune_schedule sch[MAX_PRUNERS];
    const char *pattern[MAX_PRUNERS];
    char *names[MAX_PRUNERS];                 /* owned copies, split into nm */
    const char *nm[MAX_PRUNERS][MAX_NAMES];
    bool train;                               /* fine-tune */
    lp_train_options to;
    const lp_cfg_dataloader *data;            /* pruning.train.dataloader, when no --train */
} plan;

static void plan_free(plan *pl)
{
    for (int k = 0; k < pl->n; k++)
        free(pl->names[k]);
    free(pl);
}

/* Pruner k of the plan: pattern, target, names (copied), schedule (NULL: one-shot). */
static int plan_add(plan *pl, const char *pattern, double sparsity, const char *names, const lp_prune_schedule *sch)
{
    if (pl->n == MAX_PRUNERS)
        return lp_cli_input_error("more than %d pruners", MAX_PRUNERS);
    int k = pl->n++;
    lp_pruner *p = &pl->p[k];
    p->o = (lp_prune_opts){ .sparsity = sparsity };
    pl->pattern[k] = pattern ? pattern : "unstructured";
    if (lp_prune_pattern_parse(pattern, &p->o) != LP_OK)
        return lp_cli_lib_error();
    if (names && !(pl->names[k] = strdup(names)))
        return lp_cli_input_error("out of memory");
    if (lp_prune_set_names(&p->o, pl->names[k], pl->nm[k], MAX_NAMES) != LP_OK)
        return lp_cli_lib_error();
    if (sch) {
        pl->sch[k] = *sch;
        p->sch = &pl->sch[k];
    }
    return 0;
}

/* Fine-tuning's defaults: SGD, lr 0.01, momentum 0.9, cosine schedule, one epoch. */
static lp_train_options train_defaults(void)
{
    lp_train_options t = lp_train_options_default();
    t.optim.kind = LP_OPTIM_SGD;
    t.optim.lr = 0.01;
    t.optim.momentum = 0.9;
    t.optim.schedule = LP_LR_COSINE;
    return t;
}

/* The command line's training options over *t. */
static void train_cli(const opts *o, lp_train_options *t)
{
    if (o->epochs >= 0)
        t->epochs = o->epochs;
    if (o->iterations > 0)
        t->iterations = o->iterations;
    if (!isnan(o->lr))
        t->optim.lr = o->lr;
    if (!isnan(o->distill)) {
        t->criterion = "KnowledgeDistillationLoss";
        t->loss.temperature = o->distill;
    }
    t->progress = !o->quiet;
}

/* The plan of the command line: one pruner, fine-tuned with SGD (momentum 0.9, cosine). */
static int plan_cli(const opts *o, plan *pl)
{
    pl->to = train_defaults();
    train_cli(o, &pl->to);
    pl->train = o->epochs > 0;
    lp_prune_schedule sch = { .initial = 0, .start_epoch = 0, .end_epoch = o->epochs / 2, .update_frequency = 1 };
    return plan_add(pl, o->pattern, o->sparsity, o->names, o->gradual ? &sch : NULL);
}

/* The plan of a configuration: its pruners in order; with pruning.train, unstructured pruners
 * whose end_epoch is past their start_epoch prune gradually (on its epochs' scale). Without it,
 * --train fine-tunes after every pruner has pruned at once. */
static int plan_config(const opts *o, const lowp_config *cfg, plan *pl)
{
    const lp_cfg_train *ct = &cfg->pruning.train;
    if (!cfg->pruning.present)
        return lp_cli_input_error("%s: no pruning section", o->config);
    if (o->gradual)
        return lp_cli_usage_error("prune", "--gradual goes with no --config: the pruners' start_epoch and end_epoch say when");
    pl->to = train_defaults();
    pl->to.seed = (uint64_t)cfg->tuning.random_seed;
    if (ct->present) {
        lp_cli_train_from_config(ct, &pl->to);
        pl->data = ct->dataloader.present ? &ct->dataloader : NULL;
    } else if (o->train) {
        pl->to.epochs = 1;
    } else {
        pl->to.epochs = 0;
    }
    train_cli(o, &pl->to);
    if (pl->to.epochs > 0 && !o->train && !pl->data)
        return lp_cli_input_error("%s: pruning.train has no dataloader (or give --train SPEC)", o->config);
    pl->train = pl->to.epochs > 0;
    int64_t end = pl->to.start_epoch + pl->to.epochs;
    int n = cfg->pruning.n_pruners ? cfg->pruning.n_pruners : 1;
    for (int k = 0; k < n; k++) {
        const lp_cfg_pruner *p = cfg->pruning.n_pruners ? &cfg->pruning.pruners[k] : NULL;
        lp_prune_schedule sch = { .initial = p ? p->initial_sparsity : cfg->pruning.initial_sparsity,
                                  .start_epoch = p ? p->start_epoch : cfg->pruning.start_epoch,
                                  .end_epoch = p ? p->end_epoch : cfg->pruning.end_epoch,
                                  .update_frequency = p ? p->update_frequency : 1,
                                  .step_frequency = ct->present ? ct->frequency : 0 };
        const char *pattern = p ? p->pattern : "unstructured";
        bool gradual = pl->train && ct->present && !strcmp(pattern, "unstructured") && sch.end_epoch > sch.start_epoch;
        if (gradual && sch.end_epoch >= end) /* the target holds from end_epoch on */
            return lp_cli_input_error("%s: pruner %d (line %d) reaches its target sparsity at end_epoch %lld, and training "
                                      "ends before that epoch starts (pruning.train.end_epoch %lld): give the pruner an "
                                      "end_epoch below %lld, or end_epoch: 0 to prune it at once",
                                      o->config, k, p ? p->line : 0, (long long)sch.end_epoch, (long long)end, (long long)end);
        int rc = plan_add(pl, pattern, p ? p->target_sparsity : cfg->pruning.target_sparsity, p ? p->names : NULL,
                          gradual ? &sch : NULL);
        if (rc)
            return rc;
    }
    return 0;
}

/* One-shot: the pruners in order, each on the previous one's result (a gradual pruner only
 * optimizes the graph here: it prunes during training). *rep: the last pruner's report. */
static int prune_plan(const plan *pl, const lowp_model *model, lowp_model **out, lp_prune_report *rep)
{
    const lowp_model *cur = model;
    int rc = 0;
    for (int k = 0; k < pl->n && !rc; k++) {
        lowp_model *next = NULL;
        lp_prune_opts o = pl->p[k].o;
        if (pl->p[k].sch)
            o.sparsity = 0;
        lp_prune_report_free(rep);
        if (lp_prune_model(cur, &o, &next, rep) != LP_OK)
            rc = lp_cli_lib_error();
        if (cur != model)
            lowp_model_free((lowp_model *)cur);
        cur = next;
    }
    if (rc) {
        if (cur && cur != model)
            lowp_model_free((lowp_model *)cur);
        return rc;
    }
    *out = (lowp_model *)cur;
    return 0;
}

/* Fine-tunes the pruned model in place, every pruner's zeros kept, gradual pruners pruning. */
static int finetune(const opts *o, const lowp_config *cfg, plan *pl, const lowp_model *teacher, lowp_model *pruned)
{
    lowp_dataloader *dl = NULL;
    int rc = 0;
    if (o->train) {
        lowp_dataloader_options dopt = lowp_dataloader_options_default();
        dopt.batch_size = o->train_batch > 0 ? (int)o->train_batch : pl->data ? (int)pl->data->batch_size : 64;
        dopt.shuffle = 1;
        rc = lp_cli_dataloader_opts(o->train, o->data.n_transforms, o->data.transforms, &dopt, &dl);
    } else {
        lp_cfg_dataloader dd = *pl->data;
        dd.shuffle = true;
        if (o->train_batch > 0)
            dd.batch_size = o->train_batch;
        if (lp_cfg_build_dataloader(cfg, &dd, 0, &dl) != LOWP_OK)
            rc = lp_cli_lib_error();
    }
    if (rc)
        return rc;
    const lp_loss_def *loss = lp_loss_find(pl->to.criterion);
    if (loss && loss->needs_teacher)
        pl->to.teacher = teacher->graph;
    lp_train_result res;
    if (lp_prune_finetune(pruned->graph, pl->p, pl->n, &pl->to, dl, &res) != LP_OK)
        rc = lp_cli_lib_error();
    lowp_dataloader_free(dl);
    return rc;
}

int lp_cmd_prune(int argc, char **argv)
{
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    lowp_model *model = NULL, *pruned = NULL;
    lowp_config *cfg = NULL;
    char *json = NULL;
    plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return lp_cli_input_error("out of memory");
    if (lowp_model_load(o.model, &model) != LOWP_OK || (o.config && lowp_config_load(o.config, &cfg) != LOWP_OK)) {
        plan_free(pl);
        lowp_model_free(model);
        return lp_cli_lib_error();
    }
    rc = cfg ? plan_config(&o, cfg, pl) : plan_cli(&o, pl);
    lp_prune_report rep = { 0 };
    if (!rc)
        rc = prune_plan(pl, model, &pruned, &rep);
    double acc[3] = { NAN, NAN, NAN }; /* FP32, pruned, fine-tuned */
    if (!rc && o.eval) {
        acc[0] = top1(&o, model, &rc);
        if (!rc)
            acc[1] = top1(&o, pruned, &rc);
    }
    if (!rc && pl->train) {
        rc = finetune(&o, cfg, pl, model, pruned);
        if (!rc && o.eval)
            acc[2] = top1(&o, pruned, &rc);
        if (!rc)
            lp_prune_report_recount(pruned->graph, &rep); /* gradual pruning happened in training */
    }
    if (!rc && lp_prune_report_json(&rep, &pl->p[pl->n - 1].o, &json) != LP_OK)
        rc = lp_cli_lib_error();
    lp_prune_report_free(&rep);
    if (!rc && lowp_model_save(pruned, o.output) != LOWP_OK)
        rc = lp_cli_lib_error();
    lp_cj r = { 0 };
    if (!rc && !lp_cj_parse(json, &r))
        rc = lp_cli_input_error("internal: the pruning report does not parse");
    if (!rc) {
        double t1[2] = { latency_ms(model, 1), o.batch ? latency_ms(model, o.batch) : NAN };
        double t2[2] = { latency_ms(pruned, 1), o.batch ? latency_ms(pruned, o.batch) : NAN };
        long long pb = strtoll(txt(lp_cj_get(&r, "params_before"), "0"), NULL, 10);
        long long pa = strtoll(txt(lp_cj_get(&r, "params"), "0"), NULL, 10);
        struct stat s1, s2;
        double bytes[2] = { stat(o.model, &s1) == 0 ? (double)s1.st_size : NAN, stat(o.output, &s2) == 0 ? (double)s2.st_size : NAN };
        if (o.json) { /* {"report": the library's, "run": what this command measured} */
            lp_json j;
            char *run = NULL;
            lp_json_init(&j, 0);
            lp_json_begin_object(&j);
            lp_json_key(&j, "output");
            lp_json_string(&j, o.output);
            lp_json_key(&j, "file_bytes");
            lp_json_begin_array_flat(&j);
            lp_json_double(&j, bytes[0]), lp_json_double(&j, bytes[1]);
            lp_json_end_array(&j);
            const char *akeys[3] = { "top1_fp32", "top1_pruned", "top1_finetuned" };
            for (int k = 0; k < 3 && o.eval; k++) {
                lp_json_key(&j, akeys[k]);
                lp_json_double(&j, acc[k]);
            }
            lp_json_key(&j, "batch");
            lp_json_begin_array_flat(&j);
            lp_json_int(&j, 1), lp_json_int(&j, o.batch);
            lp_json_end_array(&j);
            const char *keys[2] = { "latency_ms_before", "latency_ms_after" };
            for (int k = 0; k < 2; k++) {
                lp_json_key(&j, keys[k]);
                lp_json_begin_array_flat(&j);
                lp_json_double(&j, k ? t2[0] : t1[0]), lp_json_double(&j, k ? t2[1] : t1[1]);
                lp_json_end_array(&j);
            }
            lp_json_end_object(&j);
            if (lp_json_finish(&j, &run) != LP_OK)
                rc = lp_cli_lib_error();
            else
                printf("{\"report\": %s,\n \"run\": %s}\n", json, run);
            free(run);
        } else {
            const lp_cj *ts = lp_cj_get(&r, "tensors");
            if (!o.quiet && ts && ts->type == LP_CJ_ARRAY) {
                printf("%-32s %12s %12s %9s %13s\n", "weight", "elements", "zeros", "sparsity", "channels");
                for (int i = 0; i < ts->n; i++) {
                    const lp_cj *e = &ts->items[i];
                    char ch[40];
                    snprintf(ch, sizeof ch, "%s -> %s", txt(lp_cj_get(e, "channels_before"), "?"),
                             txt(lp_cj_get(e, "channels"), "?"));
                    printf("%-32.32s %12s %12s %8.1f%% %13s\n", txt(lp_cj_get(e, "weight"), "?"),
                           txt(lp_cj_get(e, "elements"), "?"), txt(lp_cj_get(e, "zeros"), "?"),
                           100 * strtod(txt(lp_cj_get(e, "sparsity"), "0"), NULL), ch);
                }
            }
            char b1[32], b2[32];
            printf("pattern      %s\n", txt(lp_cj_get(&r, "pattern"), "?"));
            printf("parameters   %s -> %s (%.1f %% of the layers' weights removed or zero)\n", lp_cli_thousands(pb, b1, sizeof b1),
                   lp_cli_thousands(pa, b2, sizeof b2),
                   100 * strtod(txt(lp_cj_get(&r, "pruned_weights_sparsity"), "0"), NULL));
            const char *why = txt(lp_cj_get(&r, "kept_whole_because"), NULL);
            if (why)
                printf("kept whole   %s channel group(s), e.g.: %s\n", txt(lp_cj_get(&r, "layers_kept_whole"), "?"), why);
            char f1[32], f2[32];
            printf("size         %s -> %s\n", lp_cli_bytes(bytes[0], f1, sizeof f1), lp_cli_bytes(bytes[1], f2, sizeof f2));
            printf("latency      batch 1: %.3f -> %.3f ms (x%.2f)", t1[0], t2[0], t1[0] / t2[0]);
            if (o.batch)
                printf(", batch %ld: %.3f -> %.3f ms (x%.2f)", o.batch, t1[1], t2[1], t1[1] / t2[1]);
            printf(" (medians, lowp's engine; see bench/ for side-by-side numbers)\n");
            if (o.eval)
                printf("top-1        FP32 %.4f, pruned %.4f%s", acc[0], acc[1], pl->train ? "" : "\n");
            if (o.eval && pl->train)
                printf(", fine-tuned %.4f (%lld epoch%s)\n", acc[2], (long long)pl->to.epochs, pl->to.epochs == 1 ? "" : "s");
            printf("output       %s\n", o.output);
        }
    }
    lp_cj_free(&r);
    free(json);
    plan_free(pl);
    lowp_config_free(cfg);
    lowp_model_free(pruned);
    lowp_model_free(model);
    return rc;
}
