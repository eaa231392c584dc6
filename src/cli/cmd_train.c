/* cmd_train.c — `lowp train MODEL -o OUT.onnx`: quantization-aware training. A PTQ recipe
 * (the config's, a --recipe file such as the tuner's best, or the defaults) is calibrated and
 * applied, the fake-quantized graph is fine-tuned on the training data, and the result is
 * written as standard QDQ ONNX; FP32, PTQ and QAT accuracy are reported when an evaluation
 * set is given. The work is src/train/ (lp_qat_run); this file parses and reports. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "config/config.h"
#include "onnx/model.h"
#include "train/qat.h"

static const char usage[] =
    "usage: lowp train MODEL -o OUT.onnx [--config FILE.yaml | --data SPEC [--transform LIST]] [options]\n"
    "\n"
    "Quantization-aware training: quantizes MODEL (FP32 ONNX) with a PTQ recipe, fine-tunes the\n"
    "fake-quantized model on labelled data (straight-through estimator; --learn-scale also\n"
    "trains the quantization scales, LSQ) and writes a standard QDQ ONNX model. The YAML form is\n"
    "LPOT's: quantization.approach quant_aware_training with a train: section (optimizer,\n"
    "criterion, dataloader, start_epoch, end_epoch, iteration); see docs/training.md.\n"
    "\n"
    "  -o, --output FILE        the quantized, fine-tuned model (written via a temporary name)\n"
    "      --ptq-output FILE    also write the PTQ model QAT started from (the same recipe and\n"
    "                           calibration, not trained)\n"
    "  -c, --config FILE        LPOT-style YAML (quantization.train, calibration, evaluation)\n"
    "  -d, --data SPEC          training dataset, e.g. FashionMNIST:/usr/share/datasets/fashion-mnist:train=true\n"
    "  -T, --transform LIST     its transforms (and --eval's), e.g. Rescale,Normalize=0.2860/0.3530\n"
    "      --eval SPEC          evaluation dataset (default: the config's evaluation.accuracy)\n"
    "  -m, --metric SPEC        evaluation metric (default: the config's, else topk)\n"
    "      --eval-samples N     evaluate on the first N samples only\n"
    "  -b, --batch-size N       training batch size (default: the config's, else 32)\n"
    "      --samples N          training samples per epoch at most (a random subset each epoch)\n"
    "  -n, --calib-samples N    calibration samples (default: the config's sampling_size, else 100;\n"
    "                           taken from the calibration dataloader, else the training data)\n"
    "      --recipe FILE        start from this PTQ recipe (JSON), e.g. a tuner's best\n"
    "  -e, --epochs N           epochs (default: the config's end_epoch - start_epoch, else 1)\n"
    "      --iterations N       batches per epoch at most\n"
    "      --optimizer NAME     SGD (default), Adam or AdamW\n"
    "      --lr X               learning rate (default: the config's, else 1e-3)\n"
    "      --momentum X         SGD momentum (default: the config's, else 0.9)\n"
    "      --nesterov           Nesterov momentum\n"
    "      --weight-decay X     weight decay (default 0)\n"
    "      --schedule NAME      constant (default), step or cosine\n"
    "      --clip X             clip gradients to global L2 norm X\n"
    "      --learn-scale        train the quantization scales too (LSQ)\n"
    "      --learn-zero-point   train the activations' zero points too (LSQ+ offsets)\n"
    "      --weight-bits N      narrower weights, 2 to 8 (default 8): symmetric per channel in int8\n"
    "                           containers; the PTQ accuracy printed is then plain rounding at N bits\n"
    "      --distill T          distil from the FP32 model (KnowledgeDistillationLoss, temperature T)\n"
    "  -w, --workspace DIR      checkpoints; a killed run started again resumes (default: the\n"
    "                           config's tuning.workspace.path; none without a config)\n"
    "      --no-resume          ignore an existing checkpoint (it is overwritten)\n"
    "      --seed N             data order and dropout (default: the config's random_seed, else 1978)\n"
    "  -j, --json               print a JSON summary\n"
    "  -q, --quiet              no progress on stderr\n"
    "  -h, --help               show this help\n"
    "\n"
    "example: lowp train models/resnet_s.onnx -o resnet_s.qat.onnx \\\n"
    "             --data FashionMNIST:/usr/share/datasets/fashion-mnist:train=true \\\n"
    "             --eval FashionMNIST:/usr/share/datasets/fashion-mnist:train=false \\\n"
    "             -T Rescale,Normalize=0.2860/0.3530 --samples 2000 -e 1 --lr 1e-3\n";

typedef struct opts {
    const char *model, *output, *ptq_output, *config, *data, *eval, *recipe, *optimizer, *schedule, *workspace;
    lp_cli_data_opts d;
    long batch, samples, calib_samples, epochs, iterations, eval_samples, seed, weight_bits;
    double lr, momentum, weight_decay, clip, distill;
    bool nesterov, learn_scale, learn_zero_point, no_resume, json, quiet;
} opts;

#define UNSET (-1)

static int num(const char *cmd, const char *v, const char *opt, double lo, double *out)
{
    if (!lp_cli_number(v, lo, 1e9, out))
        return lp_cli_usage_error(cmd, "%s wants a number >= %g, got '%s'", opt, lo, v);
    return LP_EXIT_OK;
}

static int parse(int argc, char **argv, opts *o)
{
    const char *cmd = "train";
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r, d;
#define VALUE(s, l) ((r = lp_cli_option(cmd, argc, argv, &i, s, l, &v)) != 0)
#define INT(s, l, lo, field)                                                                        \
    else if (VALUE(s, l)) {                                                                         \
        if (r > 0 && !lp_cli_int(v, lo, 1L << 40, &o->field))                                      \
            return lp_cli_usage_error(cmd, "%s wants an integer >= %d, got '%s'", l, (int)lo, v);   \
    }
#define NUM(l, lo, field)                                                                           \
    else if (VALUE(NULL, l)) {                                                                      \
        if (r > 0 && num(cmd, v, l, lo, &o->field) != LP_EXIT_OK)                                   \
            return LP_EXIT_USAGE;                                                                   \
    }
        if (lp_cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return -1;
        }
        if ((d = lp_cli_data_option(cmd, argc, argv, &i, &o->d)) != 0) {
            if (d < 0)
                return LP_EXIT_USAGE;
            continue;
        }
        if (VALUE("-o", "--output")) o->output = v;
        else if (VALUE(NULL, "--ptq-output")) o->ptq_output = v;
        else if (VALUE("-c", "--config")) o->config = v;
        else if (VALUE("-d", "--data")) o->data = v;
        else if (VALUE(NULL, "--eval")) o->eval = v;
        else if (VALUE(NULL, "--recipe")) o->recipe = v;
        else if (VALUE(NULL, "--optimizer")) o->optimizer = v;
        else if (VALUE(NULL, "--schedule")) o->schedule = v;
        else if (VALUE("-w", "--workspace")) o->workspace = v;
        INT("-b", "--batch-size", 1, batch)
        INT(NULL, "--samples", 1, samples)
        INT("-n", "--calib-samples", 1, calib_samples)
        INT("-e", "--epochs", 1, epochs)
        INT(NULL, "--iterations", 1, iterations)
        INT(NULL, "--eval-samples", 1, eval_samples)
        INT(NULL, "--seed", 0, seed)
        INT(NULL, "--weight-bits", 2, weight_bits)
        NUM("--lr", 0, lr)
        NUM("--momentum", 0, momentum)
        NUM("--weight-decay", 0, weight_decay)
        NUM("--clip", 0, clip)
        NUM("--distill", 0, distill)
        else if (!strcmp(argv[i], "--nesterov")) o->nesterov = true;
        else if (!strcmp(argv[i], "--learn-scale")) o->learn_scale = true;
        else if (!strcmp(argv[i], "--learn-zero-point")) o->learn_zero_point = true;
        else if (!strcmp(argv[i], "--no-resume")) o->no_resume = true;
        else if (lp_cli_model_arg(cmd, argv[i], &o->json, &o->quiet, &o->model) != LP_EXIT_OK) return LP_EXIT_USAGE;
        if (r < 0)
            return LP_EXIT_USAGE;
#undef VALUE
#undef INT
#undef NUM
    }
    if (!o->model)
        return lp_cli_usage_error(cmd, "which model? (lowp train MODEL -o OUT.onnx ...)");
    if (!o->output)
        return lp_cli_usage_error(cmd, "where to? (-o OUT.onnx)");
    if (!o->config && !o->data)
        return lp_cli_usage_error(cmd, "training needs data: --data SPEC or --config FILE.yaml with quantization.train");
    if (o->optimizer) {
        lp_optim_kind k;
        if (!lp_optim_kind_from_name(o->optimizer, &k))
            return lp_cli_usage_error(cmd, "--optimizer is SGD, Adam or AdamW, not '%s'", o->optimizer);
    }
    if (o->schedule && strcmp(o->schedule, "constant") && strcmp(o->schedule, "step") && strcmp(o->schedule, "cosine"))
        return lp_cli_usage_error(cmd, "--schedule is constant, step or cosine, not '%s'", o->schedule);
    if (o->weight_bits > 8)
        return lp_cli_usage_error(cmd, "--weight-bits is 2 to 8, not %ld", o->weight_bits);
    if (o->distill == 0 && o->distill != UNSET)
        return lp_cli_usage_error(cmd, "--distill wants a temperature > 0");
    return LP_EXIT_OK;
}

/* The training options: the config's train: section, then the command line over it. */
static void train_options(const opts *o, const lp_config *cfg, lp_train_options *t)
{
    *t = lp_train_options_default();
    t->optim.lr = 1e-3;
    t->optim.momentum = 0.9;
    const lp_cfg_train *ct = cfg && cfg->quantization.train.present ? &cfg->quantization.train : NULL;
    if (ct)
        lp_cli_train_from_config(ct, t);
    if (cfg) {
        t->seed = (uint64_t)cfg->tuning.random_seed;
        t->workspace = cfg->tuning.workspace_path;
    }
    if (o->epochs != UNSET) t->epochs = o->epochs;
    if (o->iterations != UNSET) t->iterations = o->iterations;
    if (o->optimizer) lp_optim_kind_from_name(o->optimizer, &t->optim.kind);
    if (o->lr != UNSET) t->optim.lr = o->lr;
    if (o->momentum != UNSET) t->optim.momentum = o->momentum;
    if (o->weight_decay != UNSET) t->optim.weight_decay = o->weight_decay;
    if (o->nesterov) t->optim.nesterov = true;
    if (o->clip != UNSET) t->optim.clip_norm = o->clip;
    if (o->schedule)
        t->optim.schedule = !strcmp(o->schedule, "step") ? LP_LR_STEP : !strcmp(o->schedule, "cosine") ? LP_LR_COSINE
                                                                                                      : LP_LR_CONSTANT;
    if (o->distill != UNSET) {
        t->criterion = "KnowledgeDistillationLoss";
        t->loss.temperature = o->distill;
    }
    if (o->seed != UNSET) t->seed = (uint64_t)o->seed;
    if (o->workspace) t->workspace = o->workspace;
    t->learn_scale = o->learn_scale;
    t->learn_zero_point = o->learn_zero_point;
    t->resume = !o->no_resume;
    t->progress = !o->quiet;
}

/* The accuracy of graph g (NULL: skipped, NAN) on the evaluation set. */
static int evaluate(const lp_graph *g, lowp_dataloader *dl, lowp_metric *metric, lowp_transform *post,
                    double *value)
{
    *value = NAN;
    if (!g || !dl)
        return LP_EXIT_OK;
    lowp_model m = { .graph = (lp_graph *)g };
    lowp_session *s = NULL;
    lowp_eval_options eo = { .postprocess = post };
    lowp_eval_result r;
    int rc = LP_EXIT_OK;
    if (lowp_session_create(&m, NULL, &s) != LOWP_OK || lowp_evaluate(s, &m, dl, metric, &eo, &r) != LOWP_OK)
        rc = lp_cli_lib_error();
    else
        *value = r.value;
    lowp_session_free(s);
    return rc;
}

int lp_cmd_train(int argc, char **argv)
{
    opts o = { .batch = UNSET, .samples = UNSET, .calib_samples = UNSET, .epochs = UNSET, .iterations = UNSET,
               .eval_samples = UNSET, .seed = UNSET, .weight_bits = 8, .lr = UNSET, .momentum = UNSET, .weight_decay = UNSET,
               .clip = UNSET, .distill = UNSET };
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? LP_EXIT_OK : rc;
    lowp_model *model = NULL;
    lowp_config *cfg = NULL;
    lowp_recipe *recipe = NULL;
    lowp_dataloader *data = NULL, *calib = NULL, *eval = NULL;
    lowp_metric *metric = NULL;
    lowp_transform *post = NULL;
    lp_graph *ptq = NULL, *qat = NULL;
    double t0 = lp_cli_now();
    if (lowp_model_load(o.model, &model) != LOWP_OK || (o.config && lowp_config_load(o.config, &cfg) != LOWP_OK) ||
        (cfg && lowp_config_check_model(cfg, model) != LOWP_OK)) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (cfg && !o.data && !cfg->quantization.train.dataloader.present) {
        rc = lp_cli_input_error("%s: quantization.train.dataloader is missing (or give --data SPEC)", o.config);
        goto done;
    }
    lp_train_options to;
    train_options(&o, cfg, &to);
    /* training data: shuffled; its first samples calibrate when nothing else is given */
    int batch = o.batch != UNSET ? (int)o.batch : 0;
    int64_t max = o.samples != UNSET ? o.samples : 0;
    if (o.data)
        rc = lp_cli_dataloader_shuffled(o.data, o.d.n_transforms, o.d.transforms, batch ? batch : 32, max, true, &data);
    else {
        lp_cfg_dataloader dd = cfg->quantization.train.dataloader;
        dd.shuffle = true;
        if (batch)
            dd.batch_size = batch;
        if (lp_cfg_build_dataloader(cfg, &dd, max, &data) != LOWP_OK)
            rc = lp_cli_lib_error();
    }
    if (rc != LP_EXIT_OK)
        goto done;
    int64_t calib_n = o.calib_samples != UNSET ? o.calib_samples : cfg ? lowp_config_sampling_size(cfg) : 100;
    if (cfg && cfg->quantization.calibration.present &&
        lowp_config_dataloader(cfg, "quantization.calibration", 0, calib_n, &calib) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    /* evaluation: --eval SPEC with -T/-m, else the config's evaluation.accuracy, else none */
    if (o.eval || (cfg && cfg->evaluation.accuracy_dataloader.present)) {
        int64_t emax = o.eval_samples != UNSET ? o.eval_samples : 0;
        rc = lp_cli_eval_dataloader(&o.d, o.eval, cfg, 0, 64, emax, &eval);
        if (rc == LP_EXIT_OK)
            rc = lp_cli_metric(&o.d, cfg, &metric, &post);
        if (rc != LP_EXIT_OK)
            goto done;
    }
    lowp_status st = o.recipe ? lowp_recipe_load(o.recipe, &recipe)
                     : cfg    ? lowp_recipe_from_config(cfg, model, &recipe)
                              : lowp_recipe_create(&recipe);
    if (st != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (!o.quiet)
        fprintf(stderr, "lowp train: %s: calibrating on %lld samples, quantizing, then %lld epoch%s of %s\n", o.model,
                (long long)calib_n, (long long)to.epochs, to.epochs == 1 ? "" : "s", lowp_dataloader_describe(data));
    lp_train_result res;
    if (lp_qat_run(model->graph, recipe, calib ? calib : data, calib_n, (int)o.weight_bits, data, &to, &res, &ptq, &qat) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    lowp_model out = { .graph = qat }, ptq_model = { .graph = ptq };
    if (lowp_model_save(&out, o.output) != LOWP_OK ||
        (o.ptq_output && lowp_model_save(&ptq_model, o.ptq_output) != LOWP_OK)) {
        rc = lp_cli_lib_error();
        goto done;
    }
    double train_s = lp_cli_now() - t0, acc_fp32, acc_ptq, acc_qat;
    if ((rc = evaluate(eval ? model->graph : NULL, eval, metric, post, &acc_fp32)) != LP_EXIT_OK ||
        (rc = evaluate(eval ? ptq : NULL, eval, metric, post, &acc_ptq)) != LP_EXIT_OK ||
        (rc = evaluate(eval ? qat : NULL, eval, metric, post, &acc_qat)) != LP_EXIT_OK)
        goto done;
    if (o.json) {
        printf("{\"model\": \"%s\", \"output\": \"%s\", \"epochs\": %lld, \"steps\": %lld, \"resumed\": %s, "
               "\"last_loss\": %.6g, \"train_seconds\": %.3f",
               o.model, o.output, (long long)res.epochs_run, (long long)res.steps, res.resumed ? "true" : "false",
               res.last_loss, train_s);
        if (eval)
            printf(", \"metric\": \"%s\", \"fp32\": %.6g, \"ptq\": %.6g, \"qat\": %.6g", lowp_metric_name(metric),
                   acc_fp32, acc_ptq, acc_qat);
        printf("}\n");
    } else {
        printf("wrote %s (%lld epochs, %lld steps%s, last epoch's loss %.4f, %.1f s)\n", o.output,
               (long long)res.epochs_run, (long long)res.steps, res.resumed ? ", resumed" : "", res.last_loss, train_s);
        if (eval)
            printf("%s: FP32 %.4f, PTQ INT8 %.4f, QAT INT8 %.4f\n", lowp_metric_name(metric), acc_fp32, acc_ptq, acc_qat);
    }
done:
    lp_graph_free(ptq);
    lp_graph_free(qat);
    lowp_dataloader_free(data);
    lowp_dataloader_free(calib);
    lowp_dataloader_free(eval);
    lowp_metric_free(metric);
    lowp_transform_free(post);
    lowp_recipe_free(recipe);
    lowp_config_free(cfg);
    lowp_model_free(model);
    return rc;
}
