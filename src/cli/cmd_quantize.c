/* cmd_quantize.c — `lowp quantize MODEL -o OUT.onnx`: post-training quantization (static with
 * calibration, or dynamic) into a standard ONNX QDQ (or QOperator) model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/json.h"
#include "cli/cli.h"
#include "cli/cli_data.h"
#include "config/config.h"
#include "data/data.h"
#include "dist/dist.h"
#include "recon/recon.h"

enum { LP_EXIT_UNQUANTIZED = 4 };

static const char usage[] =
    "usage: lowp quantize MODEL -o OUT.onnx [--config FILE.yaml | --calib SPEC [--transform LIST]] [options]\n"
    "\n"
    "Quantizes MODEL (FP32 ONNX) to INT8 and writes a standard ONNX model that ONNX Runtime loads.\n"
    "Static quantization calibrates activation ranges on samples of a dataset; dynamic\n"
    "quantization (--dynamic) needs no data. Defaults: int8 symmetric per-channel weights\n"
    "(dynamic: per tensor, uint8 for ConvInteger, as ONNX Runtime's quantizer writes),\n"
    "uint8 asymmetric activations with minmax ranges, 100 calibration samples.\n"
    "\n"
    "  -o, --output FILE        the quantized model (written via a temporary name)\n"
    "  -c, --config FILE        LPOT-style YAML: quantization.approach, calibration dataloader and\n"
    "                           sampling_size, model_wise, op_wise (see docs/config.md)\n"
    "  -d, --calib SPEC         calibration dataset, e.g. FashionMNIST:/usr/share/datasets/fashion-mnist:train=true\n"
    "  -T, --transform LIST     its transforms, e.g. Rescale,Normalize=0.2860/0.3530 (repeatable)\n"
    "  -n, --samples N          calibration samples (default: the config's sampling_size, else 100)\n"
    "  -b, --batch-size N       calibration batch size (default: the config's, else 32)\n"
    "      --algo NAME          activation ranges: minmax (default), percentile, kl, mse\n"
    "      --percentile P       for --algo percentile (default 99.99)\n"
    "      --per-channel        per-channel weights (the default, except with --dynamic)\n"
    "      --per-tensor         one scale per weight tensor (the default with --dynamic)\n"
    "      --act-sym            int8 symmetric activations (default: uint8 asymmetric)\n"
    "      --exclude LIST       keep these nodes (comma-separated names) in FP32\n"
    "      --exclude-op LIST    keep every node of these op types (e.g. Gemm,MatMul) in FP32\n"
    "      --dynamic            dynamic quantization (DynamicQuantizeLinear + MatMulInteger/ConvInteger)\n"
    "      --smooth-quant A     SmoothQuant for MatMul/Gemm inputs with migration strength A in (0,1)\n"
    "      --bias-correction    correct Conv/Gemm biases for the weight-quantization mean shift\n"
    "      --equalize           cross-layer equalization of Conv/Gemm/MatMul pairs first\n"
    "      --weight-bits N      weights with N bits (2..8, default 8; stored as int8)\n"
    "      --learned-rounding   round weights to minimise each layer's output error on the\n"
    "                           calibration data (rather than to nearest)\n"
    "      --block-reconstruction  then learn the rounding of each block's weights jointly so that\n"
    "                           the block's output matches the FP32 model's on the calibration\n"
    "                           samples (BRECQ-style: trains on calibration data, no labels)\n"
    "      --block-iters N      optimizer steps per block (default 400)\n"
    "      --format FMT         qdq (default; the config's model.framework onnxrt_qlinearops means\n"
    "                           qoperator) or qoperator (QLinearConv/QLinearMatMul)\n"
    "      --recipe FILE        start from this recipe (JSON); the options above change it\n"
    "      --save-recipe FILE   write the recipe used (JSON)\n"
    "      --list               print the nodes quantization can touch (names recipes use) and exit\n"
    "  -j, --json               print a JSON summary\n"
    "  -q, --quiet              no progress on stderr\n"
    "  -h, --help               show this help\n"
    "\n"
    "Exit status 4 (after a warning): the output was written but no op in it is quantized (the\n"
    "recipe or op_wise keeps every op in FP32, or the model has no op lowp quantizes).\n"
    "\n"
    "example: lowp quantize models/resnet_s.onnx -o resnet_s.int8.onnx \\\n"
    "             --calib FashionMNIST:/usr/share/datasets/fashion-mnist:train=true \\\n"
    "             --transform Rescale,Normalize=0.2860/0.3530 --samples 300\n";

typedef struct opts {
    const char *model, *output, *config, *calib, *recipe, *save_recipe, *algo, *percentile, *format, *smooth, *bits;
    lp_cli_data_opts d;         /* -T only */
    const char *exclude[64], *exclude_op[64];
    int n_exclude, n_exclude_op;
    long samples, batch;
    int per_channel; /* -1: not given */
    bool act_sym, dynamic, list, json, quiet, bias_correction, equalize, learned_rounding, block_recon;
    long block_iters;           /* -1: not given */
} opts;

static int parse(int argc, char **argv, opts *o)
{
    const char *cmd = "quantize";
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
#define VALUE(s, l) ((r = lp_cli_option(cmd, argc, argv, &i, s, l, &v)) != 0)
        if (lp_cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return -1;
        }
        if (VALUE("-o", "--output")) o->output = v;
        else if (VALUE("-c", "--config")) o->config = v;
        else if (VALUE("-d", "--calib")) o->calib = v;
        else if ((r = lp_cli_transform_option(cmd, argc, argv, &i, &o->d)) != 0) {
            /* taken (or r < 0: refused, below) */
        } else if (VALUE("-n", "--samples")) {
            if (r > 0 && !lp_cli_int(v, 1, 100000000L, &o->samples))
                return lp_cli_usage_error(cmd, "--samples wants an integer >= 1, got '%s'", v);
        } else if (VALUE("-b", "--batch-size")) {
            if (r > 0 && !lp_cli_int(v, 1, 1 << 20, &o->batch))
                return lp_cli_usage_error(cmd, "--batch-size wants an integer >= 1, got '%s'", v);
        } else if (VALUE(NULL, "--algo")) o->algo = v;
        else if (VALUE(NULL, "--percentile")) {
            double p;
            if (r > 0 && (!lp_cli_number(v, 0, 100, &p) || p <= 0))
                return lp_cli_usage_error(cmd, "--percentile wants a number in (0, 100], got '%s'", v);
            o->percentile = v;
        }
        else if (VALUE(NULL, "--format")) o->format = v;
        else if (VALUE(NULL, "--smooth-quant")) {
            double a;
            if (r > 0 && (!lp_cli_number(v, 0, 1, &a) || a <= 0 || a >= 1))
                return lp_cli_usage_error(cmd, "--smooth-quant wants a number in (0, 1), got '%s'", v);
            o->smooth = v;
        }
        else if (VALUE(NULL, "--weight-bits")) {
            double b;
            if (r > 0 && (!lp_cli_number(v, 2, 8, &b) || b != (int)b))
                return lp_cli_usage_error(cmd, "--weight-bits wants an integer from 2 to 8, got '%s'", v);
            o->bits = v;
        }
        else if (VALUE(NULL, "--block-iters")) {
            if (r > 0 && !lp_cli_int(v, 0, 1000000L, &o->block_iters))
                return lp_cli_usage_error(cmd, "--block-iters wants an integer >= 0, got '%s'", v);
        }
        else if (VALUE(NULL, "--recipe")) o->recipe = v;
        else if (VALUE(NULL, "--save-recipe")) o->save_recipe = v;
        else if (VALUE(NULL, "--exclude") || VALUE(NULL, "--exclude-op")) {
            bool by_op = strcmp(argv[i - 1], "--exclude-op") == 0 || !strncmp(argv[i], "--exclude-op=", 13);
            if (r > 0) {
                const char **list = by_op ? o->exclude_op : o->exclude;
                int *n = by_op ? &o->n_exclude_op : &o->n_exclude;
                if (*n == 64)
                    return lp_cli_usage_error(cmd, "too many --exclude options");
                list[(*n)++] = v;
            }
        } else if (!strcmp(argv[i], "--per-channel")) o->per_channel = 1;
        else if (!strcmp(argv[i], "--per-tensor")) o->per_channel = 0;
        else if (!strcmp(argv[i], "--act-sym")) o->act_sym = true;
        else if (!strcmp(argv[i], "--dynamic")) o->dynamic = true;
        else if (!strcmp(argv[i], "--bias-correction")) o->bias_correction = true;
        else if (!strcmp(argv[i], "--equalize")) o->equalize = true;
        else if (!strcmp(argv[i], "--learned-rounding")) o->learned_rounding = true;
        else if (!strcmp(argv[i], "--block-reconstruction")) o->block_recon = true;
        else if (!strcmp(argv[i], "--list")) o->list = true;
        else if (lp_cli_model_arg(cmd, argv[i], &o->json, &o->quiet, &o->model) != LP_EXIT_OK) return LP_EXIT_USAGE;
        if (r < 0)
            return LP_EXIT_USAGE;
#undef VALUE
    }
    if (!o->model)
        return lp_cli_usage_error(cmd, "which model? (lowp quantize MODEL -o OUT.onnx ...)");
    if (!o->output && !o->list)
        return lp_cli_usage_error(cmd, "where to? (-o OUT.onnx)");
    if (o->format && strcmp(o->format, "qdq") && strcmp(o->format, "qoperator"))
        return lp_cli_usage_error(cmd, "--format is qdq or qoperator, not '%s'", o->format);
    if (o->d.n_transforms && !o->calib)
        return lp_cli_usage_error(cmd, "--transform goes with --calib");
    return LP_EXIT_OK;
}

/* Applies a comma-separated list to every capability entry whose `field` matches. */
static int exclude(lowp_recipe *r, const lp_cj *cap, const char *field, const char *list, const char *what)
{
    char *buf = strdup(list);
    if (!buf)
        return lp_cli_input_error("out of memory");
    int rc = LP_EXIT_OK;
    for (char *tok = strtok(buf, ","); tok && rc == LP_EXIT_OK; tok = strtok(NULL, ",")) {
        int hits = 0;
        for (int i = 0; i < cap->n; i++) {
            const lp_cj *e = &cap->items[i];
            if (strcmp(lp_cj_str(lp_cj_get(e, field), ""), tok) != 0)
                continue;
            hits++;
            if (lowp_recipe_set_node(r, lp_cj_str(lp_cj_get(e, "node"), ""), "fp32") != LOWP_OK)
                rc = lp_cli_lib_error();
        }
        if (!hits && rc == LP_EXIT_OK)
            rc = lp_cli_input_error("--%s %s: the model has no such %s (see lowp quantize MODEL --list)",
                                    strcmp(field, "node") ? "exclude-op" : "exclude", tok, what);
    }
    free(buf);
    return rc;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int lp_cmd_quantize(int argc, char **argv)
{
    opts o = { .per_channel = -1, .block_iters = -1 };
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? LP_EXIT_OK : rc;
    lowp_model *model = NULL, *q = NULL, *qo = NULL;
    lowp_config *cfg = NULL;
    lowp_recipe *recipe = NULL;
    lowp_calibration *cal = NULL;
    lowp_dataloader *dl = NULL;
    char *cap_json = NULL, *qcap_json = NULL;
    lp_cj cap = { 0 }, qcap = { 0 };
    lp_recon_report rrep = { 0 };
    lowp_sample batch = { 0 };
    double t0 = lp_cli_now(), calib_seconds = 0;

    if (lowp_model_load(o.model, &model) != LOWP_OK || (o.config && lowp_config_load(o.config, &cfg) != LOWP_OK) ||
        (cfg && lowp_config_check_model(cfg, model) != LOWP_OK) || lowp_model_capability(model, &cap_json) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    /* LPOT's model.framework onnxrt_qlinearops: the QOperator form, unless --format says */
    if (!o.format && cfg && cfg->model.framework && !strcmp(cfg->model.framework, "onnxrt_qlinearops"))
        o.format = "qoperator";
    if (!lp_cj_parse(cap_json, &cap) || cap.type != LP_CJ_ARRAY) {
        rc = lp_cli_input_error("internal error: unreadable capability list");
        goto done;
    }
    if (o.list) {
        for (int i = 0; i < cap.n; i++) {
            const lp_cj *e = &cap.items[i];
            bool int8 = lp_cj_get(e, "int8") && lp_cj_get(e, "int8")->b;
            if (int8 || o.json)
                printf("%-40s %-18s %s\n", lp_cj_str(lp_cj_get(e, "node"), ""), lp_cj_str(lp_cj_get(e, "op_type"), ""),
                       int8 ? "int8 bf16 fp32" : "fp32");
        }
        goto done;
    }
    /* the recipe: file, else config, else defaults; then the short options */
    lowp_status st = o.recipe ? lowp_recipe_load(o.recipe, &recipe)
                     : cfg    ? lowp_recipe_from_config(cfg, model, &recipe)
                              : lowp_recipe_create(&recipe);
    if (st != LOWP_OK ||
        (o.dynamic && lowp_recipe_set(recipe, "approach", "post_training_dynamic_quant") != LOWP_OK) ||
        (o.algo && lowp_recipe_set(recipe, "activation.algorithm", o.algo) != LOWP_OK) ||
        (o.percentile && lowp_recipe_set(recipe, "activation.percentile", o.percentile) != LOWP_OK) ||
        (o.per_channel >= 0 &&
         lowp_recipe_set(recipe, "weight.granularity", o.per_channel ? "per_channel" : "per_tensor") != LOWP_OK) ||
        (o.act_sym && lowp_recipe_set(recipe, "activation.scheme", "sym") != LOWP_OK) ||
        (o.smooth && lowp_recipe_set(recipe, "smooth_quant.alpha", o.smooth) != LOWP_OK) ||
        (o.bias_correction && lowp_recipe_set(recipe, "bias_correction", "true") != LOWP_OK) ||
        (o.equalize && lowp_recipe_set(recipe, "equalization", "true") != LOWP_OK) ||
        (o.bits && lowp_recipe_set(recipe, "weight.bits", o.bits) != LOWP_OK) ||
        (o.learned_rounding && lowp_recipe_set(recipe, "learned_rounding", "true") != LOWP_OK) ||
        (o.block_recon && lowp_recipe_set(recipe, "block_reconstruction", "true") != LOWP_OK)) {
        rc = lp_cli_lib_error();
        goto done;
    }
    for (int i = 0; i < o.n_exclude && rc == LP_EXIT_OK; i++)
        rc = exclude(recipe, &cap, "node", o.exclude[i], "node");
    for (int i = 0; i < o.n_exclude_op && rc == LP_EXIT_OK; i++)
        rc = exclude(recipe, &cap, "op_type", o.exclude_op[i], "op type");
    if (rc != LP_EXIT_OK)
        goto done;
    /* a recipe with no INT8 node (graph_optimization / mixed_precision: BF16 and FP32) needs
     * no calibration */
    bool any_int8 = false;
    for (int i = 0; i < cap.n && !any_int8; i++) {
        const lp_cj *e = &cap.items[i];
        any_int8 = lp_cj_get(e, "int8") && lp_cj_get(e, "int8")->b &&
                   !strcmp(lowp_recipe_node_precision(recipe, lp_cj_str(lp_cj_get(e, "node"), "")), "int8");
    }
    bool mixed = cfg && cfg->mixed_precision.present;
    int64_t samples = 0, largest_batch = 0;
    if (!lowp_recipe_is_dynamic(recipe) && (any_int8 || !mixed)) {
        int64_t want = o.samples ? o.samples : 100;
        if (!o.samples && cfg && lowp_config_sampling_size(cfg) > 0)
            want = lowp_config_sampling_size(cfg);
        /* --batch-size, else the config's calibration batch_size, else 32 */
        if (o.calib)
            rc = lp_cli_dataloader(o.calib, o.d.n_transforms, o.d.transforms, o.batch ? (int)o.batch : 32, want, &dl);
        else if (cfg && lowp_config_dataloader(cfg, "quantization.calibration", (int)o.batch, want, &dl) != LOWP_OK)
            rc = lp_cli_lib_error();
        else if (!cfg)
            rc = lp_cli_usage_error("quantize", "static quantization needs calibration data: --calib SPEC or "
                                                "--config FILE.yaml (or --dynamic)");
        if (rc != LP_EXIT_OK)
            goto done;
        if (lowp_calibration_create(model, NULL, &cal) != LOWP_OK || lowp_calibration_for_recipe(cal, recipe) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
        lp_progress pr;
        lp_progress_init(&pr, "calibration", o.quiet);
        int n_in = lowp_model_input_count(model);
        const char *names[LOWP_SAMPLE_MAX_TENSORS];
        for (int i = 0; i < n_in && i < LOWP_SAMPLE_MAX_TENSORS; i++)
            names[i] = lowp_model_input_name(model, i);
        /* under mpirun the ranks calibrate blocks of the batches; every rank ends with the
         * statistics (and so the scales) one process computes */
        /* block reconstruction trains on the samples themselves: every rank calibrates on all */
        if (lp_dist_calibrate(recipe->block_reconstruction ? NULL : lp_cli_dist(), cal, dl, 0, n_in, names, true,
                              lp_progress_update, &pr, &samples) != LOWP_OK) {
            lp_progress_abort(&pr);
            rc = lp_cli_lib_error();
            goto done;
        }
        largest_batch = samples < lp_dataloader_batch_size(dl) ? samples : lp_dataloader_batch_size(dl);
        calib_seconds = lp_cli_now() - t0;
    }
    lp_recon_options ro = lp_recon_options_default();
    if (o.block_iters >= 0)
        ro.iterations = (int)o.block_iters;
    lp_progress rpr;
    bool recon = recipe->block_reconstruction && !lowp_recipe_is_dynamic(recipe);
    if (recon) {
        lp_progress_init(&rpr, "block reconstruction", o.quiet);
        rpr.unit = "blocks";
        ro.progress = lp_progress_update;
        ro.progress_user = &rpr;
    }
    lowp_status qst = lp_quantize_model(model, cal, recipe, &ro, &rrep, &q);
    if (recon && qst != LOWP_OK)
        lp_progress_abort(&rpr);
    if (qst != LOWP_OK ||
        (o.format && !strcmp(o.format, "qoperator") && lowp_model_to_qoperator(q, &qo) != LOWP_OK) ||
        (lp_cli_comm.rank == 0 && lowp_model_save(qo ? qo : q, o.output) != LOWP_OK) ||
        (lp_cli_comm.rank == 0 && o.save_recipe && lowp_recipe_save(recipe, o.save_recipe) != LOWP_OK)) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (lowp_model_opset(q) > lowp_model_opset(model) && !o.quiet && lp_cli_comm.rank == 0)
        fprintf(stderr, "lowp quantize: upgraded the model from ONNX opset %lld to %lld for %s\n",
                (long long)lowp_model_opset(model), (long long)lowp_model_opset(q),
                lowp_recipe_is_dynamic(recipe) ? "DynamicQuantizeLinear" : "QuantizeLinear/DequantizeLinear");
    int n_int8 = 0, n_capable = 0, n_fp32 = 0, n_bf16 = 0, n_unreached = 0, n_small = 0;
    const char *cap_key = lowp_recipe_is_dynamic(recipe) ? "dynamic_int8" : "int8";
    /* static: what the written model holds, not only what the recipe asked (a node calibration
     * never reached, in a branch no batch took, stays FP32) */
    if (!lowp_recipe_is_dynamic(recipe) && cal &&
        (lowp_model_capability(q, &qcap_json) != LOWP_OK || !lp_cj_parse(qcap_json, &qcap) || qcap.type != LP_CJ_ARRAY)) {
        rc = lp_cli_input_error("internal error: unreadable capability list of the quantized model");
        goto done;
    }
    for (int i = 0; i < cap.n; i++) {
        const lp_cj *e = &cap.items[i];
        if (!(lp_cj_get(e, cap_key) && lp_cj_get(e, cap_key)->b)) {
            /* dynamic: weighted Conv/Gemm/MatMul too small for it to pay (lp_quant_capability) */
            const char *op = lp_cj_str(lp_cj_get(e, "op_type"), "");
            n_small += lowp_recipe_is_dynamic(recipe) && lp_cj_get(e, "int8") && lp_cj_get(e, "int8")->b &&
                       lp_cj_get(e, "weighted") && lp_cj_get(e, "weighted")->b &&
                       (!strcmp(op, "Conv") || !strcmp(op, "Gemm") || !strcmp(op, "MatMul"));
            continue;
        }
        n_capable++;
        const char *name = lp_cj_str(lp_cj_get(e, "node"), "");
        const char *p = lowp_recipe_node_precision(recipe, name);
        bool int8 = !strcmp(p, "int8");
        for (int k = 0; int8 && qcap.type == LP_CJ_ARRAY && k <= qcap.n; k++) {
            const lp_cj *qe = k < qcap.n ? &qcap.items[k] : NULL;
            if (!qe) { /* not found in QDQ form */
                int8 = false;
                n_unreached++;
            } else if (!strcmp(lp_cj_str(lp_cj_get(qe, "node"), ""), name)) {
                const lp_cj *qq = lp_cj_get(qe, "quantized");
                if (!(qq && qq->b)) {
                    int8 = false;
                    n_unreached++;
                }
                break;
            }
        }
        n_int8 += int8;
        n_bf16 += !strcmp(p, "bf16");
        n_fp32 += !int8 && strcmp(p, "bf16");
    }
    /* A model written with no op quantized is almost always a configuration mistake (an op_wise
     * that keeps everything FP32, a model without quantizable ops): say so, and exit with a
     * status of its own so that scripts notice. */
    bool unquantized = n_int8 + n_bf16 == 0;
    if (unquantized && mixed && !cfg->mixed_precision.bf16) {
        /* what was asked: said, not an error */
        fprintf(stderr, "lowp quantize: %s.precisions has no bf16: %s is the FP32 model\n",
                cfg->mixed_precision.section, o.output);
    } else if (unquantized) {
        fprintf(stderr, "lowp quantize: warning: %s is not quantized: %s (exit status %d)\n", o.output,
                n_capable ? "the recipe keeps every quantizable op in FP32 (see quantization.op_wise)"
                : n_small ? "its weighted ops are too small for dynamic INT8 to pay (under 128 multiply-adds per "
                            "input element: docs/quantization.md; LOWP_DYNAMIC_MIN_MACS=0 quantizes them anyway)"
                          : "the model has no op lowp can quantize",
                LP_EXIT_UNQUANTIZED);
        rc = LP_EXIT_UNQUANTIZED;
    }
    double seconds = lp_cli_now() - t0;
    long long in_size = file_size(o.model), out_size = file_size(o.output);
    bool is_dyn = lowp_recipe_is_dynamic(recipe);
    if (o.json) {
        lp_json j;
        char *text = NULL;
        lp_json_init(&j, 0);
        lp_json_begin_object(&j);
        lp_json_key(&j, "model"); lp_json_string(&j, o.model);
        lp_json_key(&j, "output"); lp_json_string(&j, o.output);
        lp_json_key(&j, "approach"); lp_json_string(&j, mixed ? "mixed_precision" : is_dyn ? "dynamic" : "static");
        lp_json_key(&j, "format"); lp_json_string(&j, qo ? "qoperator" : mixed ? "bf16" : is_dyn ? "integerops" : "qdq");
        lp_json_key(&j, "quantized"); lp_json_bool(&j, !unquantized);
        lp_json_key(&j, "int8_nodes"); lp_json_int(&j, n_int8);
        lp_json_key(&j, "bf16_nodes"); lp_json_int(&j, n_bf16);
        lp_json_key(&j, "fp32_nodes"); lp_json_int(&j, n_fp32);
        lp_json_key(&j, "unreached_nodes"); lp_json_int(&j, n_unreached);
        lp_json_key(&j, "calibration_samples"); lp_json_int(&j, samples);
        lp_json_key(&j, "input_bytes"); lp_json_int(&j, in_size);
        lp_json_key(&j, "output_bytes"); lp_json_int(&j, out_size);
        lp_json_key(&j, "seconds"); lp_json_double(&j, seconds);
        if (rrep.blocks) {
            lp_json_key(&j, "block_reconstruction");
            lp_json_begin_object(&j);
            lp_json_key(&j, "samples"); lp_json_int(&j, rrep.samples);
            lp_json_key(&j, "layers"); lp_json_int(&j, rrep.n_layers);
            lp_json_key(&j, "seconds"); lp_json_double(&j, rrep.seconds);
            lp_json_key(&j, "blocks");
            lp_json_begin_array(&j);
            for (int k = 0; k < rrep.n_blocks; k++) {
                const lp_recon_block *b = &rrep.blocks[k];
                lp_json_begin_object(&j);
                lp_json_key(&j, "input"); lp_json_string(&j, b->in);
                lp_json_key(&j, "output"); lp_json_string(&j, b->out);
                lp_json_key(&j, "layers"); lp_json_int(&j, b->n_layers);
                lp_json_key(&j, "mse_before"); lp_json_double(&j, b->err_before);
                lp_json_key(&j, "mse_after"); lp_json_double(&j, b->err_after);
                lp_json_key(&j, "changed"); lp_json_bool(&j, b->changed);
                if (*b->skipped) {
                    lp_json_key(&j, "skipped"); lp_json_string(&j, b->skipped);
                }
                lp_json_end_object(&j);
            }
            lp_json_end_array(&j);
            lp_json_end_object(&j);
        }
        lp_json_end_object(&j);
        if (lp_json_finish(&j, &text) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
        puts(text);
        free(text);
    } else {
        char a[32], b[32];
        printf("model        %s (%s)\n", o.model, lp_cli_bytes((double)in_size, a, sizeof a));
        if (mixed)
            printf("approach     %s (BF16 conversion)\n", cfg->mixed_precision.section);
        else
            printf("approach     %s, %s\n", is_dyn ? "dynamic" : "static", is_dyn ? "IntegerOps" : qo ? "QOperator" : "QDQ");
        printf("nodes        %d int8, %d bf16, %d fp32 of %d quantizable", n_int8, n_bf16, n_fp32, n_capable);
        if (n_unreached)
            printf(" (%d the calibration data never reached: kept FP32)", n_unreached);
        if (n_small)
            printf("; %d left FP32: too small for dynamic INT8 to pay", n_small);
        printf("\n");
        if (!is_dyn && dl)
            printf("calibration  %lld samples (batch %lld) of %s in %.1f s\n", (long long)samples,
                   (long long)largest_batch, lowp_dataloader_describe(dl), calib_seconds);
        if (rrep.blocks) {
            printf("blocks       %d reconstructed on %lld calibration samples in %.1f s (%d weights' rounding changed)\n",
                   rrep.n_blocks, (long long)rrep.samples, rrep.seconds, rrep.n_layers);
            for (int k = 0; k < rrep.n_blocks; k++) {
                const lp_recon_block *b = &rrep.blocks[k];
                if (*b->skipped)
                    printf("  %s -> %s: skipped (%s)\n", b->in, b->out, b->skipped);
                else
                    printf("  %s -> %s: %d layers, output MSE %.4g -> %.4g (%.2f%% -> %.2f%% of its mean square)%s\n",
                           b->in, b->out, b->n_layers, b->err_before, b->err_after, 100 * b->rel_before,
                           100 * b->rel_after, b->changed ? "" : ", kept the old rounding");
            }
        }
        printf("output       %s (%s, %.1fx smaller)\n", o.output, lp_cli_bytes((double)out_size, b, sizeof b),
               out_size > 0 ? (double)in_size / (double)out_size : 0.0);
    }
done:
    lowp_sample_clear(&batch);
    lp_cj_free(&cap);
    free(cap_json);
    lp_cj_free(&qcap);
    free(qcap_json);
    lowp_dataloader_free(dl);
    lowp_calibration_free(cal);
    lp_recon_report_free(&rrep);
    lowp_recipe_free(recipe);
    lowp_model_free(qo);
    lowp_model_free(q);
    lowp_model_free(model);
    lowp_config_free(cfg);
    return rc;
}
