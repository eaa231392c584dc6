/* cmd_eval.c — `lowp eval MODEL --config FILE.yaml | --dataset SPEC ...`: measure a model's
 * accuracy on a dataset with a metric, LPOT-style. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "cli/cli.h"
#include "cli/cli_data.h"
#include "config/config.h"

static const char usage[] =
    "usage: lowp eval MODEL --config FILE.yaml [options]\n"
    "       lowp eval MODEL --dataset SPEC [--transform LIST] [--metric SPEC] [options]\n"
    "       lowp eval MODEL --eval-cmd 'CMD {model}' [--eval-timeout SEC]\n"
    "\n"
    "Runs MODEL over a dataset and prints the metric, the number of samples and the wall time.\n"
    "With --config the dataloader, metric and postprocess come from evaluation.accuracy of an\n"
    "LPOT-style YAML file (see docs/config.md); the short forms below override its parts.\n"
    "\n"
    "  -c, --config FILE      YAML configuration\n"
    "  -d, --dataset SPEC     NAME[:VALUE][:key=value...], e.g.\n"
    "                         FashionMNIST:/usr/share/datasets/fashion-mnist (test split;\n"
    "                         add :train=true for the training split)\n"
    "  -T, --transform LIST   transforms in order, comma-separated, each NAME[=V1/V2][:key=value],\n"
    "                         e.g. Rescale,Normalize=0.2860/0.3530 (repeatable)\n"
    "  -m, --metric SPEC      e.g. topk=1 (the default), Accuracy, Loss, MSE:compare_label=false\n"
    "  -b, --batch-size N     samples per batch (default: the config's, else 64)\n"
    "  -n, --limit N          evaluate the first N samples only\n"
    "  -r, --reference FILE   the FP32 model, for metrics with compare_label: false\n"
    "      --eval-cmd CMD     score with your program: {model} becomes the model's path (a copy);\n"
    "                         the last line it prints is the metric (docs/cli.md, as lowp tune)\n"
    "      --eval-timeout SEC stop the program after SEC seconds (default: no limit)\n"
    "  -t, --threads N        engine threads (default: the library's)\n"
    "  -p, --precision P      fp32 (default) or bf16: run the whole model in BF16 where the CPU can\n"
    "  -j, --json             print {\"metric\", \"value\", \"samples\", \"seconds\"} as JSON\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             show this help\n"
    "\n"
    "example: lowp eval models/mlp.onnx --dataset FashionMNIST:/usr/share/datasets/fashion-mnist \\\n"
    "             --transform Rescale,Normalize=0.2860/0.3530 --metric topk=1\n";

/* --eval-cmd: the user's program scores the model (the protocol of lowp tune --eval-cmd). */
static int eval_with_command(const char *model_path, const char *command, double timeout, int threads, bool json)
{
    lowp_model *model = NULL;
    lowp_evaluator ev = { 0 };
    lowp_session_options so = lowp_session_options_default();
    if (threads)
        so.threads = threads;
    double value = 0, t0 = lp_cli_now();
    int rc = LP_EXIT_OK;
    if (lowp_model_load(model_path, &model) != LOWP_OK || lowp_evaluator_command(command, timeout, 1, &ev) != LOWP_OK ||
        lowp_evaluator_run(&ev, model, &so, &value) != LOWP_OK)
        rc = lp_cli_lib_error();
    if (ev.free)
        ev.free(ev.user);
    lowp_model_free(model);
    if (rc != LP_EXIT_OK)
        return rc;
    if (json)
        printf("{\"metric\": \"eval-cmd\", \"value\": %.17g, \"seconds\": %.3f}\n", value, lp_cli_now() - t0);
    else
        printf("model    %s\nmetric   eval-cmd = %.6g\nseconds  %.2f\n", model_path, value, lp_cli_now() - t0);
    return LP_EXIT_OK;
}

int lp_cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval", *model_path = NULL, *config = NULL, *dataset = NULL, *reference = NULL,
               *precision = NULL, *eval_cmd = NULL;
    double eval_timeout = 0;
    lp_cli_data_opts data = {0};
    long batch = 0, limit = 0, threads = 0;
    bool json = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (lp_cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return LP_EXIT_OK;
        }
        if ((r = lp_cli_option(cmd, argc, argv, &i, "-c", "--config", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            config = v;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-d", "--dataset", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            dataset = v;
        } else if ((r = lp_cli_data_option(cmd, argc, argv, &i, &data)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--eval-cmd", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            eval_cmd = v;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--eval-timeout", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            if (!lp_cli_number(v, 1e-3, 1e9, &eval_timeout))
                return lp_cli_usage_error(cmd, "--eval-timeout wants seconds > 0, got '%s'", v);
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-r", "--reference", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            reference = v;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-b", "--batch-size", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            if (!lp_cli_int(v, 1, 1 << 20, &batch))
                return lp_cli_usage_error(cmd, "--batch-size wants an integer >= 1, got '%s'", v);
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-n", "--limit", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            if (!lp_cli_int(v, 1, 2147483647L, &limit))
                return lp_cli_usage_error(cmd, "--limit wants an integer >= 1, got '%s'", v);
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-p", "--precision", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            if (strcmp(v, "fp32") && strcmp(v, "bf16"))
                return lp_cli_usage_error(cmd, "--precision is fp32 or bf16, not '%s'", v);
            precision = v;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-t", "--threads", &v)) != 0) {
            if (r < 0) return LP_EXIT_USAGE;
            if (!lp_cli_int(v, 1, 4096, &threads))
                return lp_cli_usage_error(cmd, "--threads wants an integer >= 1, got '%s'", v);
        } else if (lp_cli_model_arg(cmd, argv[i], &json, &quiet, &model_path) != LP_EXIT_OK) {
            return LP_EXIT_USAGE;
        }
    }
    if (!model_path)
        return lp_cli_usage_error(cmd, "which model? (lowp eval MODEL ...)");
    if (eval_cmd)
        return eval_with_command(model_path, eval_cmd, eval_timeout, (int)threads, json);
    if (eval_timeout > 0)
        return lp_cli_usage_error(cmd, "--eval-timeout goes with --eval-cmd");
    if (!config && !dataset)
        return lp_cli_usage_error(cmd, "give --config FILE.yaml or --dataset SPEC (or --eval-cmd CMD)");
    if (!dataset && data.n_transforms)
        return lp_cli_usage_error(cmd, "--transform goes with --dataset");

    int rc = LP_EXIT_OK;
    lowp_config *cfg = NULL;
    lowp_model *model = NULL, *ref_model = NULL;
    lowp_session *session = NULL, *ref_session = NULL;
    lowp_dataloader *dl = NULL;
    lowp_metric *metric = NULL;
    lowp_transform *post = NULL;

    if (config && lowp_config_load(config, &cfg) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    /* the dataloader (batch size and limit from the command line win over the config's) and
     * the metric */
    if ((rc = lp_cli_eval_dataloader(&data, dataset, cfg, (int)batch, 64, limit, &dl)) != LP_EXIT_OK ||
        (rc = lp_cli_metric(&data, cfg, &metric, &post)) != LP_EXIT_OK)
        goto done;
    if (!lowp_metric_compare_label(metric) && !reference) {
        rc = lp_cli_usage_error(cmd, "metric %s has compare_label: false: give the FP32 model with --reference",
                                lowp_metric_name(metric));
        goto done;
    }
    /* the model, compiled once */
    lowp_session_options so = lowp_session_options_default();
    if (cfg && !threads) {
        /* LPOT's evaluation.accuracy.configs: the threads of the one evaluating process */
        const lp_cfg_perf_configs *pc = &cfg->evaluation.accuracy_configs;
        if (pc->num_of_instance > 1) {
            rc = lp_cli_input_error("%s: evaluation.accuracy.configs.num_of_instance: lowp eval scores in one process "
                                    "(several instances are a speed measurement: lowp bench --config)", config);
            goto done;
        }
        threads = pc->intra_num_of_threads > 0 ? pc->intra_num_of_threads : pc->cores_per_instance;
    }
    if (threads)
        so.threads = (int)threads;
    if (precision && !strcmp(precision, "bf16"))
        so.precision = LOWP_BFLOAT16;
    if (lowp_model_load(model_path, &model) != LOWP_OK || (cfg && lowp_config_check_model(cfg, model) != LOWP_OK) ||
        lowp_session_create(model, &so, &session) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (reference && (lowp_model_load(reference, &ref_model) != LOWP_OK ||
                      lowp_session_create(ref_model, &so, &ref_session) != LOWP_OK)) {
        rc = lp_cli_lib_error();
        goto done;
    }
    lp_progress pr;
    lp_progress_init(&pr, "eval", quiet);
    lowp_eval_options eo = {.reference = ref_session, .postprocess = post, .progress = lp_progress_update,
                            .progress_user = &pr};
    lowp_eval_result res;
    if (lowp_evaluate_distributed(lp_cli_dist(), session, model, dl, metric, &eo, &res) != LOWP_OK) {
        lp_progress_abort(&pr);
        rc = lp_cli_lib_error();
        goto done;
    }
    if (json) {
        lp_json j;
        char *text = NULL;
        lp_json_init(&j, 0);
        lp_json_begin_object(&j);
        lp_json_key(&j, "metric");
        lp_json_string(&j, lowp_metric_name(metric));
        lp_json_key(&j, "value");
        lp_json_double(&j, res.value);
        lp_json_key(&j, "samples");
        lp_json_int(&j, res.samples);
        lp_json_key(&j, "seconds");
        lp_json_double(&j, round(res.seconds * 1000) / 1000);
        lp_json_key(&j, "threads");
        lp_json_int(&j, threads); /* 0: the library's default */
        lp_json_end_object(&j);
        if (lp_json_finish(&j, &text) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
        fputs(text, stdout);
        if (!*text || text[strlen(text) - 1] != '\n')
            fputc('\n', stdout);
        free(text);
    } else {
        printf("model    %s\n", model_path);
        printf("dataset  %s\n", lowp_dataloader_describe(dl));
        printf("metric   %s = %.6g (%s is better)\n", lowp_metric_name(metric), res.value,
               lowp_metric_higher_is_better(metric) ? "higher" : "lower");
        printf("samples  %lld\n", (long long)res.samples);
        printf("seconds  %.2f (%.0f samples/s)\n", res.seconds,
               res.seconds > 0 ? (double)res.samples / res.seconds : 0.0);
    }
done:
    lowp_transform_free(post);
    lowp_metric_free(metric);
    lowp_dataloader_free(dl);
    lowp_session_free(ref_session);
    lowp_session_free(session);
    lowp_model_free(ref_model);
    lowp_model_free(model);
    lowp_config_free(cfg);
    return rc;
}
