/* test_config.c — the YAML reader: an LPOT 1.x configuration into plain data (defaults
 * included), the examples/ configs, and errors that name the key path and line. */
#include <math.h>

#include "test.h"

#include "config/config.h"
#include "data/params.h"
#include "metric/metric.h"
#include "lowp.h"
#include "quant/recipe.h"

static const char *full =
    "version: 1.0\n"                                            /* 1 */
    "model:\n"
    "  name: resnet\n"
    "  framework: onnxrt_qlinearops\n"
    "  inputs: [input]\n"                                       /* 5 */
    "  outputs: logits\n"
    "quantization:\n"
    "  approach: post_training_static_quant\n"
    "  calibration:\n"
    "    sampling_size: 50, 100\n"                              /* 10 */
    "    dataloader:\n"
    "      batch_size: 10\n"
    "      last_batch: discard\n"
    "      dataset:\n"
    "        dummy: {shape: [20, 1, 28, 28]}\n"                 /* 15 */
    "      transform:\n"
    "        Resize:\n"
    "          size: 32\n"
    "        CenterCrop: {size: 28}\n"
    "        Rescale:\n"                                        /* 20 */
    "  model_wise:\n"
    "    weight:\n"
    "      granularity: per_channel\n"
    "      scheme: [sym]\n"
    "    activation:\n"                                         /* 25 */
    "      dtype: [uint8, fp32]\n"
    "      algorithm: kl\n"
    "  op_wise: {\n"
    "    'conv1': {activation: {dtype: [fp32]}},\n"
    "    'fc.*': {weight: {dtype: [bf16]}}\n"                   /* 30 */
    "  }\n"
    "evaluation:\n"
    "  accuracy:\n"
    "    metric:\n"
    "      topk: 5\n"                                           /* 35 */
    "    dataloader:\n"
    "      batch_size: 32\n"
    "      dataset:\n"
    "        dummy:\n"
    "          shape: [40, 3]\n"                                /* 40 */
    "          label: true\n"
    "    postprocess:\n"
    "      transform:\n"
    "        LabelShift: 1\n"
    "  performance:\n"                                          /* 45 */
    "    warmup: 10\n"
    "    iteration: 100\n"
    "    configs:\n"
    "      cores_per_instance: 4\n"
    "      num_of_instance: 7\n"                                /* 50 */
    "tuning:\n"
    "  strategy:\n"
    "    name: mse\n"
    "  accuracy_criterion:\n"
    "    absolute: 2%\n"                                        /* 55 */
    "    higher_is_better: False\n"
    "  objective: modelsize\n"
    "  exit_policy:\n"
    "    timeout: 60\n"
    "    max_trials: 7\n"                                       /* 60 */
    "  random_seed: 9527\n"
    "  workspace:\n"
    "    path: /tmp/ws\n"
    "    resume: /tmp/ws/history.snapshot\n"
    "  tensorboard: true\n";

static void test_full(void)
{
    lowp_config *c = NULL;
    CHECK_OK(lowp_config_load_string(full, "full.yaml", &c));
    if (!c)
        return;
    CHECK(!strcmp(c->model.name, "resnet") && !strcmp(c->model.framework, "onnxrt_qlinearops"));
    CHECK(c->model.n_inputs == 1 && !strcmp(c->model.inputs[0], "input"));
    CHECK(c->model.n_outputs == 1 && !strcmp(c->model.outputs[0], "logits"));
    CHECK(c->quantization.present && c->quantization.approach == LP_APPROACH_STATIC);
    CHECK(c->quantization.n_sampling_size == 2 && c->quantization.sampling_size[1] == 100);
    const lp_cfg_dataloader *cal = &c->quantization.calibration;
    CHECK(cal->present && cal->batch_size == 10 && cal->drop_last && !cal->shuffle);
    CHECK(!strcmp(cal->dataset.name, "dummy"));
    CHECK(cal->n_transforms == 3 && !strcmp(cal->transforms[0].name, "Resize") &&
          !strcmp(cal->transforms[2].name, "Rescale"));
    const lp_cfg_op_quant *mw = &c->quantization.model_wise;
    CHECK(mw->has_weight && mw->weight.granularity.n == 1 && mw->weight.granularity.v[0] == LP_GRAN_PER_CHANNEL);
    CHECK(mw->weight.scheme.n == 1 && mw->weight.scheme.v[0] == LP_SCHEME_SYM && mw->weight.dtype.n == 0);
    CHECK(mw->activation.dtype.n == 2 && mw->activation.dtype.v[1] == LP_QDT_FP32);
    CHECK(mw->activation.algorithm.v[0] == LP_ALGO_KL);
    CHECK(c->quantization.n_op_wise == 2);
    if (c->quantization.n_op_wise == 2) {
        CHECK(!strcmp(c->quantization.op_wise[0].pattern, "conv1") && !c->quantization.op_wise[0].is_regex);
        CHECK(c->quantization.op_wise[0].q.has_activation && !c->quantization.op_wise[0].q.has_weight);
        CHECK(c->quantization.op_wise[1].is_regex && c->quantization.op_wise[1].line == 30);
        CHECK(c->quantization.op_wise[1].q.weight.dtype.v[0] == LP_QDT_BF16);
    }
    CHECK(c->evaluation.has_accuracy && !strcmp(c->evaluation.metric.name, "topk"));
    CHECK(c->evaluation.accuracy_dataloader.batch_size == 32);
    CHECK(c->evaluation.n_postprocess == 1 && !strcmp(c->evaluation.postprocess[0].name, "LabelShift"));
    CHECK(c->evaluation.has_performance && c->evaluation.warmup == 10 && c->evaluation.iteration == 100);
    CHECK(c->evaluation.performance_configs.cores_per_instance == 4 &&
          c->evaluation.performance_configs.num_of_instance == 7);
    CHECK(!strcmp(c->tuning.strategy, "mse") && !c->tuning.relative);
    CHECK_NEAR(c->tuning.criterion, 0.02, 1e-15);
    CHECK(!c->tuning.higher_is_better && !strcmp(c->tuning.objective, "modelsize"));
    CHECK(c->tuning.timeout == 60 && c->tuning.max_trials == 7 && c->tuning.random_seed == 9527);
    CHECK(!strcmp(c->tuning.workspace_path, "/tmp/ws") && !strcmp(c->tuning.resume, "/tmp/ws/history.snapshot"));
    CHECK(c->tuning.tensorboard);

    /* the objects it describes */
    lowp_dataloader *dl = NULL;
    CHECK_OK(lowp_config_dataloader(c, "quantization.calibration", 0, 0, &dl));
    CHECK(lowp_dataloader_length(dl) == 20);   /* sampling_size 50 > 20 samples */
    lowp_sample b = {0};
    int64_t n;
    CHECK_OK(lowp_dataloader_next(dl, &b, &n));
    CHECK(n == 10 && b.n_inputs == 1 && lowp_tensor_dims(b.inputs[0])[2] == 28 &&
          lowp_tensor_dims(b.inputs[0])[3] == 28);
    lowp_sample_clear(&b);
    lowp_dataloader_free(dl);
    CHECK_OK(lowp_config_dataloader(c, "evaluation.accuracy", 16, 20, &dl));
    CHECK(lowp_dataloader_length(dl) == 20);
    lowp_dataloader_free(dl);
    CHECK(lowp_config_dataloader(c, "tuning", 0, 0, &dl) == LOWP_ERR_INVALID_ARGUMENT);
    lowp_metric *m = NULL;
    CHECK_OK(lowp_config_metric(c, &m));
    CHECK(m && !strcmp(lowp_metric_name(m), "topk"));
    lowp_metric_free(m);
    lowp_transform *t = NULL;
    CHECK_OK(lowp_config_postprocess(c, &t));
    CHECK(lowp_transform_count(t) == 1);
    lowp_transform_free(t);
    lowp_config_free(c);
}

/* A choice list as one string: names separated by commas and/or blanks, as LPOT writes them. */
static void test_choice_string(void)
{
    lowp_config *c = NULL;
    CHECK_OK(lowp_config_load_string("model: {name: m}\nquantization:\n  model_wise:\n    activation:\n"
                                     "      dtype: ' uint8,fp32  bf16 ,'\n", "c.yaml", &c));
    if (!c)
        return;
    const lp_cfg_choice *d = &c->quantization.model_wise.activation.dtype;
    CHECK(d->n == 3 && d->v[0] == LP_QDT_UINT8 && d->v[1] == LP_QDT_FP32 && d->v[2] == LP_QDT_BF16);
    lowp_config_free(c);
}

static void test_defaults(void)
{
    lowp_config *c = NULL;
    CHECK_OK(lowp_config_load_string("model:\n  name: m\n", "min.yaml", &c));
    if (!c)
        return;
    CHECK(!c->quantization.present && c->quantization.sampling_size[0] == 100);
    CHECK(c->quantization.approach == LP_APPROACH_STATIC);
    CHECK(!strcmp(c->tuning.strategy, "auto") && c->tuning.relative && c->tuning.criterion == 0.01);
    CHECK(c->tuning.higher_is_better && c->tuning.max_trials == 100 && c->tuning.random_seed == 1978);
    CHECK(!c->tuning.tensorboard);
    CHECK(!strcmp(c->tuning.objective, "performance") && c->tuning.timeout == 0);
    CHECK(c->evaluation.warmup == 5 && c->evaluation.iteration == -1 && !lowp_config_has_metric(c));
    lowp_dataloader *dl = NULL;
    CHECK(lowp_config_dataloader(c, "evaluation.accuracy", 0, 0, &dl) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "evaluation.accuracy.dataloader is missing"));
    lowp_config_free(c);
}

/* multi_metrics with weights: the value is mean(weight_i * value_i), as INC combines them; the
 * direction is tuning.accuracy_criterion.higher_is_better. Scores [[2,1],[0,3]] against labels
 * [0,0]: Accuracy 1/2 (row 1's argmax is 1), topk k=2 1 (two classes). Value
 * (0.2 * 1/2 + 0.6 * 1) / 2 = 0.35. */
static void test_multi_metrics(void)
{
    lowp_config *c = NULL;
    CHECK_OK(lowp_config_load_string("model: {name: m, outputs: 'a, b,c'}\n"
                                     "tuning: {accuracy_criterion: {relative: 0.01, higher_is_better: false}}\n"
                                     "evaluation:\n  accuracy:\n    multi_metrics:\n      Accuracy: {}\n"
                                     "      topk: 2\n      weight: [0.2, 0.6]\n", "conf.yaml", &c));
    if (!c)
        return;
    CHECK(c->model.n_outputs == 3 && !strcmp(c->model.outputs[0], "a") && !strcmp(c->model.outputs[1], "b") &&
          !strcmp(c->model.outputs[2], "c"));
    CHECK(lowp_config_has_metric(c));
    lowp_metric *m = NULL;
    CHECK_OK(lowp_config_metric(c, &m));
    if (m) {
        float s[4] = {2, 1, 0, 3};
        int64_t y[2] = {0, 0}, d2[2] = {2, 2}, d1[1] = {2};
        lowp_tensor *x = NULL, *l = NULL;
        CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d2, s, &x));
        CHECK_OK(lowp_tensor_create(LOWP_INT64, 1, d1, y, &l));
        const lowp_tensor *xo = x, *lo = l;
        CHECK_OK(lowp_metric_update(m, 1, &xo, 1, &lo));
        double v = -1;
        CHECK_OK(lowp_metric_result(m, &v));
        CHECK_NEAR(v, (0.2 * 0.5 + 0.6 * 1.0) / 2, 1e-15);
        CHECK(lowp_metric_higher_is_better(m) == 0);   /* the criterion's direction */
        lowp_metric_reset(m);
        CHECK_OK(lowp_metric_result(m, &v));
        CHECK(v == 0);
        lowp_tensor_free(x);
        lowp_tensor_free(l);
    }
    lowp_metric_free(m);
    lowp_config_free(c);
    /* metrics that read different references cannot share a batch */
    CHECK_OK(lowp_config_load_string("model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics:\n"
                                     "      MSE: {compare_label: false}\n      MAE: {}\n      weight: [1, 1]\n",
                                     "conf.yaml", &c));
    CHECK(c && lowp_config_metric(c, &m) != LOWP_OK && strstr(lowp_last_error(), "give them one compare_label"));
    lowp_config_free(c);
}

/* One batch of 2x2 scores against labels [0, 0] into m, its result. */
static double score_once(lowp_metric *m, float a, float b, float c, float d)
{
    float s[4] = {a, b, c, d};
    int64_t y[2] = {0, 0}, d2[2] = {2, 2}, d1[1] = {2};
    lowp_tensor *x = NULL, *l = NULL;
    double v = NAN;
    lowp_metric_reset(m);
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d2, s, &x));
    CHECK_OK(lowp_tensor_create(LOWP_INT64, 1, d1, y, &l));
    const lowp_tensor *xo = x, *lo = l;
    CHECK_OK(lowp_metric_update(m, 1, &xo, 1, &lo));
    CHECK_OK(lowp_metric_result(m, &v));
    lowp_tensor_free(x);
    lowp_tensor_free(l);
    return v;
}

/* multi_metrics without weight (INC 2.x): each metric against its own FP32 value. Before the
 * freeze the value is the first metric's; after it, the worst relative change in each metric's
 * direction (Accuracy up, Loss down unless higher_is_better says otherwise). Batches, labels
 * [0, 0]: FP32 [[2,1],[0,3]]: Accuracy 1/2, Loss L0 = (ln(1+e^-1) + ln(1+e^3))/2; then
 * [[2,1],[3,0]]: Accuracy 1 (+100 %), Loss L1 = (ln(1+e^-1) + ln(1+e^-3))/2 (better); then
 * [[1,2],[0,3]]: Accuracy 0 (-100 %). */
static void test_multi_metrics_each(void)
{
    double l0 = (log1p(exp(-1.0)) + log1p(exp(3.0))) / 2, l1 = (log1p(exp(-1.0)) + log1p(exp(-3.0))) / 2;
    for (int flip = 0; flip < 2; flip++) {
        lowp_config *c = NULL;
        CHECK_OK(lowp_config_load_string(flip ? "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics:\n"
                                                "      Accuracy: {}\n      Loss: {}\n      higher_is_better: [true, true]\n"
                                              : "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics:\n"
                                                "      Accuracy: {}\n      Loss: {}\n",
                                         "conf.yaml", &c));
        lowp_metric *m = NULL;
        CHECK_OK(c ? lowp_config_metric(c, &m) : LOWP_ERR_INVALID_ARGUMENT);
        if (m) {
            CHECK(lp_metric_multi_each(m) && lowp_metric_higher_is_better(m) == 1);
            CHECK_NEAR(score_once(m, 2, 1, 0, 3), 0.5, 1e-15); /* not frozen: the first metric */
            int n = 0;
            double base[2] = {0, 0};
            CHECK_OK(lp_metric_multi_freeze(m, true, &n, base, 2));
            CHECK(n == 2 && base[0] == 0.5);
            CHECK_NEAR(base[1], l0, 1e-6); /* float32 softmax */
            CHECK_NEAR(score_once(m, 2, 1, 0, 3), 0, 1e-12); /* the baseline itself */
            /* Accuracy +100 %; Loss (l0 - l1) / l0 better, or that much worse when called higher-is-better */
            double want = flip ? -(l0 - l1) / l0 : (l0 - l1) / l0;
            CHECK_NEAR(score_once(m, 2, 1, 3, 0), want, 1e-6);
            CHECK_NEAR(score_once(m, 1, 2, 0, 3), -1.0, 1e-12); /* Accuracy -100 % is the worst */
        }
        lowp_metric_free(m);
        lowp_config_free(c);
    }
    /* a freeze needs an evaluation; weighted metrics have none */
    lowp_config *c = NULL;
    lowp_metric *m = NULL;
    CHECK_OK(lowp_config_load_string("model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {topk: 1, Loss: {}}\n",
                                     "conf.yaml", &c));
    CHECK_OK(c ? lowp_config_metric(c, &m) : LOWP_ERR_INVALID_ARGUMENT);
    int n = 0;
    CHECK(m && lp_metric_multi_freeze(m, true, &n, NULL, 0) != LOWP_OK && strstr(lowp_last_error(), "no evaluation"));
    lowp_metric_free(m);
    lowp_config_free(c);
}

/* evaluation.accuracy.iteration (LPOT's): the accuracy dataloader stops after that many batches. */
static void test_accuracy_iteration(void)
{
    lowp_config *c = NULL;
    CHECK_OK(lowp_config_load_string("model: {name: m}\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n"
                                     "    iteration: 3\n    dataloader:\n      batch_size: 4\n"
                                     "      dataset: {dummy: {shape: [100, 2], label: true}}\n", "conf.yaml", &c));
    lowp_dataloader *dl = NULL;
    CHECK_OK(lowp_config_dataloader(c, "evaluation.accuracy", 0, 0, &dl));
    CHECK(dl && lowp_dataloader_length(dl) == 12);   /* 3 batches of 4 */
    lowp_dataloader_free(dl);
    CHECK_OK(lowp_config_dataloader(c, "evaluation.accuracy", 10, 0, &dl));
    CHECK(dl && lowp_dataloader_length(dl) == 30);   /* a batch-size override keeps 3 batches */
    lowp_dataloader_free(dl);
    lowp_config_free(c);
}

static void test_examples(void)
{
    const char *names[] = {"examples/mlp.yaml", "examples/resnet_s.yaml", "examples/mobilenetv2_s.yaml",
                           "examples/vit_s.yaml"};
    for (int i = 0; i < 4; i++) {
        lowp_config *c = NULL;
        CHECK_OK(lowp_config_load(names[i], &c));
        lowp_config_free(c);
    }
}

/* Loads `yaml`; expects failure whose message contains `want`. */
static void expect_error(const char *yaml, const char *want)
{
    lowp_config *c = NULL;
    lowp_status st = lowp_config_load_string(yaml, "conf.yaml", &c);
    CHECK_MSG(st != LOWP_OK, "accepted: %s", yaml);
    CHECK_MSG(strstr(lowp_last_error(), want), "message '%s' lacks '%s'", lowp_last_error(), want);
    lowp_config_free(c);
}

static void test_errors(void)
{
    const char *head = "model:\n  name: m\n";   /* lines 1-2 */
    char y[2048];
#define E(body, want) (snprintf(y, sizeof y, "%s%s", head, body), expect_error(y, want))
    E("evaluation:\n  accuracy:\n    metric:\n      top5x: 5\n",
      "conf.yaml: evaluation.accuracy.metric: unknown metric 'top5x' at line 6");
    E("evaluation:\n  accuracy:\n    metric:\n      topk: five\n",
      "evaluation.accuracy.metric.topk.k: expected an integer, got 'five' at line 6");
    E("evaluation:\n  accuracy:\n    metrik: {topk: 1}\n",
      "evaluation.accuracy.metrik: unknown key 'metrik' (expected one of: metric, multi_metrics, dataloader, postprocess, configs, iteration) at line 5");
    E("evaluation:\n  accuracy:\n    metric: {topk: 1, Accuracy: {}}\n",
      "evaluation.accuracy.metric: expected exactly one metric name");
    E("tuning:\n  accuracy_criterion:\n    relative: lots\n",
      "tuning.accuracy_criterion.relative: expected a number or a percentage, got 'lots' at line 5");
    E("tuning:\n  accuracy_criterion: {relative: 0.01, absolute: 0.01}\n", "not both");
    E("tuning:\n  strategy: {name: greedy}\n", "tuning.strategy.name: 'greedy' is not one of: auto, basic");
    E("tuning:\n  exit_policy:\n    max_trials: 0\n", "tuning.exit_policy.max_trials: must be at least 1");
    E("tuning:\n  random_seed: [1]\n", "tuning.random_seed: expected an integer, got 'a list' at line 4");
    E("quantization:\n  approach: quant_aware_training\n", "quantization.train: quant_aware_training needs a train: section");
    E("quantization:\n  train: {optimizer: {Adagrad: {learning_rate: 0.1}}}\n",
      "quantization.train.optimizer.Adagrad: 'Adagrad' is not one of: SGD, Adam, AdamW");
    E("quantization:\n  train: {criterion: {CrossEntropyLoss: {reduction: avg}}}\n",
      "quantization.train.criterion.CrossEntropyLoss.reduction: 'avg' is not one of");
    E("quantization:\n  train: {start_epoch: 2, end_epoch: 1}\n", "quantization.train.end_epoch: must be at least 3");
    E("quantization:\n  model_wise:\n    activation:\n      dtype: 'uint8, fp32 bf16,int8, uint8'\n",
      "quantization.model_wise.activation.dtype: expected at most 4 names");
    E("quantization:\n  model_wise:\n    activation:\n      dtype: [uint8, fp32, bf16, int8, uint8]\n",
      "quantization.model_wise.activation.dtype: expected a list of at most 4 names");
    E("quantization:\n  model_wise:\n    weight:\n      granularity: per_row\n",
      "quantization.model_wise.weight.granularity: 'per_row' is not one of: per_channel, per_tensor at line 6");
    /* schema values lowp cannot do are refused naming the key (they were accepted and done
     * differently: asym/uint8 weights made symmetric int8, int8+asym activations made sym) */
    E("quantization:\n  model_wise:\n    weight:\n      scheme: [sym, asym]\n",
      "quantization.model_wise.weight.scheme: lowp quantizes weights symmetric (int8, zero point 0, as oneDNN's "
      "INT8 kernels take them): use sym at line 6");
    E("quantization:\n  op_wise:\n    conv1:\n      weight: {dtype: uint8}\n",
      "quantization.op_wise.conv1.weight.dtype: lowp quantizes weights to int8 (or keeps them fp32/bf16): uint8 "
      "weights are not supported at line 6");
    E("quantization:\n  model_wise:\n    weight:\n      algorithm: kl\n",
      "quantization.model_wise.weight.algorithm: weights are quantized from their own min/max");
    E("quantization:\n  model_wise:\n    activation:\n      granularity: per_channel\n",
      "quantization.model_wise.activation.granularity: activations are quantized per tensor");
    E("quantization:\n  model_wise:\n    activation:\n      scheme: asym\n      dtype: int8\n",
      "quantization.model_wise.activation.dtype: activations are uint8 asym or int8 sym; int8 with scheme asym is "
      "not supported at line 7");
    E("quantization:\n  model_wise:\n    activation: {scheme: [sym, asym], dtype: [uint8, int8]}\n",
      "uint8 with scheme sym is not supported at line 5");
    E("quantization:\n  model_wise:\n    weight: {bit: 2.5}\n",
      "quantization.model_wise.weight.bit: expected one whole number from 1 to 7 (magnitude bits: 7 is int8, 3 is "
      "4-bit weights) at line 5");
    E("quantization:\n  model_wise:\n    weight: {bit: [3.0, 7.0]}\n", "weight.bit: expected one whole number");
    E("quantization:\n  recipes: {smooth_quant: true, smooth_quant_args: {alpha: 1.5}}\n",
      "quantization.recipes.smooth_quant_args.alpha: expected a number in (0, 1), got 1.5");
    E("quantization:\n  calibration:\n    dataloader:\n      dataset:\n        MNISTT: {root: /x}\n",
      "quantization.calibration.dataloader.dataset: unknown dataset 'MNISTT' at line 7");
    E("quantization:\n  calibration:\n    dataloader:\n      dataset:\n        MNIST: {train: true}\n",
      "dataset 'MNIST' needs 'root'");
    E("quantization:\n  calibration:\n    dataloader:\n      batch_size: 0\n      dataset: {dummy: {shape: [1]}}\n",
      "quantization.calibration.dataloader.batch_size: must be at least 1, got 0 at line 6");
    E("quantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [1]}}\n"
      "      transform:\n        Resize: {size: 3, antialias: true}\n",
      "quantization.calibration.dataloader.transform.Resize.antialias: unknown key 'antialias' for transform 'Resize' at line 8");
    E("quantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [1]}}\n"
      "      transform:\n        Flip: {}\n",
      "dataloader.transform: unknown transform 'Flip' at line 8");
    E("quantization:\n  calibration:\n    sampling_size: many\n",
      "quantization.calibration.sampling_size: expected a positive integer");
    E("pruning:\n  train: {optimizer: {Adagrad: {learning_rate: 0.1}}}\n",
      "pruning.train.optimizer.Adagrad: 'Adagrad' is not one of: SGD, Adam, AdamW");
    E("pruning:\n  train: {start_epoch: 2, end_epoch: 1}\n", "pruning.train.end_epoch: must be at least 3");
    E("model:\n  name: again\n", "key 'model' given twice at line 3");
    E("device: gpu\n", "device: 'gpu' is not one of: cpu");
    E("evaluation:\n  accuracy: [1, 2]\n", "evaluation.accuracy: expected a map of keys, got 'a list' at line 4");
    E("evaluation: {accuracy: {metric: {topk: 1}}\n", "YAML syntax error");
    E("base: &b {x: 1}\nother: *b\n", "unknown key 'base'");
    E("tuning:\n  strategy: {name: basic, accuracy_weight: 0.8}\n",
      "tuning.strategy.accuracy_weight: LPOT weighs accuracy against latency this way only in its tpe strategy");
#undef E
    expect_error("", "empty");
    expect_error("model:\n  framework: onnxrt_qdq\n", "model: 'name' is required");
    expect_error("model:\n  name: m\n  framework: tensorflow\n", "model.framework: lowp works on ONNX models");
    lowp_config *c = NULL;
    CHECK(lowp_config_load("/nonexistent/conf.yaml", &c) == LOWP_ERR_IO);
    CHECK(strstr(lowp_last_error(), "/nonexistent/conf.yaml: cannot open"));
}

/* LPOT 1.4's schema (its config.py), key by key: each key is either honoured — it loads, and the
 * test named beside it shows its effect — or refused with a message naming the key path and its
 * line. None is accepted and then ignored. Keys under a dataloader, a metric or a transform are
 * covered by the registries' own parameter checks (test_data, test_metric). */
/* The pruning section's values, defaults and refusals. */
static void test_pruning_section(void)
{
    lowp_config *c = NULL;
    CHECK_OK(lowp_config_load_string("model: {name: m}\npruning:\n  approach:\n    weight_compression:\n"
                                     "      target_sparsity: 0.6\n      pruners:\n"
                                     "        - !Pruner {names: [a.weight, 'b.*'], pattern: '2:4'}\n"
                                     "        - !Pruner {target_sparsity: 0.3}\n",
                                     "p.yaml", &c));
    CHECK(c && c->pruning.present && c->pruning.n_pruners == 2);
    if (c && c->pruning.n_pruners == 2) {
        CHECK(!strcmp(c->pruning.pruners[0].pattern, "2:4") && !strcmp(c->pruning.pruners[0].names, "a.weight,b.*"));
        CHECK(c->pruning.pruners[0].target_sparsity == 0.6 && c->pruning.pruners[1].target_sparsity == 0.3);
        CHECK(!strcmp(c->pruning.pruners[1].pattern, "unstructured") && !c->pruning.pruners[1].names);
    }
    lowp_config_free(c);
    c = NULL;
    CHECK(lowp_config_load_string("model: {name: m}\npruning:\n  approach:\n    weight_compression:\n"
                                  "      pruners: [{pattern: '4:2'}]\n", "p.yaml", &c) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "pattern: expected unstructured, channel or N:M") != NULL);
    CHECK(lowp_config_load_string("model: {name: m}\npruning:\n  approach:\n    weight_compression:\n"
                                  "      target_sparsity: 1.0\n", "p.yaml", &c) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "target_sparsity: expected a fraction in [0, 1)") != NULL);
    CHECK(lowp_config_load_string("model: {name: m}\npruning:\n  approach:\n    weight_compression:\n"
                                  "      start_epoch: 3\n      end_epoch: 1\n", "p.yaml", &c) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "before start_epoch") != NULL);
    /* pruning.train: LPOT's train schema, as quantization.train reads it */
    CHECK_OK(lowp_config_load_string("model: {name: m}\npruning:\n  approach: {weight_compression: {end_epoch: 1}}\n"
                                     "  train: {start_epoch: 1, end_epoch: 3, iteration: 7, frequency: 5,\n"
                                     "          optimizer: {Adam: {learning_rate: 0.002}}, criterion: {MSELoss: {}}}\n",
                                     "p.yaml", &c));
    CHECK(c && c->pruning.train.present && c->pruning.train.start_epoch == 1 && c->pruning.train.end_epoch == 3);
    CHECK(c && c->pruning.train.iteration == 7 && c->pruning.train.frequency == 5);
    CHECK(c && !strcmp(c->pruning.train.optimizer, "Adam") && c->pruning.train.learning_rate == 0.002);
    CHECK(c && !strcmp(c->pruning.train.criterion, "MSELoss") && !c->quantization.train.present);
    lowp_config_free(c);
}

/* graph_optimization (LPOT 1.4) / mixed_precision (INC 2.x): precisions and op_wise become the
 * recipe's model_wise dtype and op_wise entries; the precisions string is split as LPOT does. */
static void test_mixed_precision_section(void)
{
    static const struct { const char *yaml; bool bf16; int mw; int n_ow; int ow0; } cases[] = {
        { "model: {name: m}\ngraph_optimization:\n  precisions: fp32, bf16\n  op_wise: {'conv2': {'activation': {'dtype': ['fp32']}}}\n",
          true, LP_QDT_BF16, 1, LP_QDT_FP32 },
        { "model: {name: m}\ngraph_optimization: {precisions: fp32}\n", false, LP_QDT_FP32, 0, 0 },
        { "model: {name: m}\ngraph_optimization: {}\n", true, LP_QDT_BF16, 0, 0 },
        { "model: {name: m}\nmixed_precision:\n  precisions: [bf16]\n  op_wise: {'a.*': {weight: {dtype: bf16}}}\n",
          true, LP_QDT_BF16, 1, LP_QDT_BF16 },
        { "model: {name: m}\ngraph_optimization:\n  op_wise: {weight: {dtype: fp32}, activation: {dtype: fp32}}\n",
          true, LP_QDT_FP32, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lowp_config *c = NULL;
        CHECK_OK(lowp_config_load_string(cases[i].yaml, "g.yaml", &c));
        if (!c)
            continue;
        CHECK(c->mixed_precision.present && c->mixed_precision.bf16 == cases[i].bf16 && !c->quantization.present);
        CHECK(c->quantization.model_wise.has_activation && c->quantization.model_wise.activation.dtype.n == 1 &&
              c->quantization.model_wise.activation.dtype.v[0] == cases[i].mw);
        CHECK(c->quantization.n_op_wise == cases[i].n_ow);
        if (c->quantization.n_op_wise == 1 && cases[i].n_ow == 1) {
            const lp_cfg_op_wise *o = &c->quantization.op_wise[0];
            const lp_cfg_tensor_quant *t = o->q.has_activation ? &o->q.activation : &o->q.weight;
            CHECK(t->dtype.n == 1 && t->dtype.v[0] == cases[i].ow0);
            CHECK(strstr(c->quantization.op_wise_section, ".op_wise") != NULL &&
                  !strncmp(c->quantization.op_wise_section, c->mixed_precision.section, strlen(c->mixed_precision.section)));
        }
        lowp_config_free(c);
    }
}

/* LPOT's weight `bit` and the recovery recipes reach the starting recipe. */
static void test_recovery_recipes(void)
{
    lowp_config *c = NULL;
    CHECK_OK(lowp_config_load_string("model: {name: m}\nquantization:\n  model_wise:\n    weight: {bit: 3.0}\n"
                                     "  recipes: {equalization: true, learned_rounding: true, smooth_quant: true,"
                                     " smooth_quant_args: {alpha: 0.6}}\n",
                                     "r.yaml", &c));
    lp_graph *g = NULL;
    lp_recipe *r = NULL;
    CHECK_OK(lp_graph_new(&g));
    if (c && g)
        CHECK_OK(lp_recipe_from_config(c, g, &r));
    CHECK(r && r->model_wise.weight_bits == 4 && r->equalization && r->learned_rounding);
    CHECK(r && fabs(r->smooth_quant_alpha - 0.6) < 1e-12);
    lp_recipe_free(r);
    lowp_config_free(c);
    c = NULL, r = NULL;
    CHECK_OK(lowp_config_load_string("model: {name: m}\nquantization:\n  recipes: {smooth_quant: true}\n", "r.yaml", &c));
    if (c && g)
        CHECK_OK(lp_recipe_from_config(c, g, &r));
    CHECK(r && r->smooth_quant_alpha == 0.5 && !r->equalization && r->model_wise.weight_bits == 0); /* INC's default */
    lp_recipe_free(r);
    lowp_config_free(c);
    lp_graph_free(g);
}

/* LPOT 1.4's schema key by key: each row's YAML is honoured (`effect` names the test that
 * shows what it does) or refused with a message naming the key and its line. */
typedef struct schema_row {
    const char *yaml, *refusal, *effect;
} schema_row;
static const schema_row schema_rows[] = {
        /* model */
        { "model: {name: m}\n", NULL, "required: test_errors" },
        { "model: {name: m, framework: onnxrt_qlinearops}\n", NULL, "tune.sh framework_picks_form" },
        { "model: {name: m, framework: onnxrt_integerops}\n", NULL, "tune.sh framework_picks_form" },
        { "model: {name: m, framework: tensorflow}\n", "model.framework: lowp works on ONNX models", NULL },
        { "model: {name: m, inputs: [input], outputs: logits}\n", NULL, "eval.sh model_inputs/model_outputs" },
        { "model: {name: m}\ndevice: cpu\n", NULL, "the only device" },
        { "model: {name: m}\ndevice: gpu\n", "device: 'gpu' is not one of: cpu at line 2", NULL },
        { "model: {name: m}\nversion: 1.0\n", NULL, "informational" },
        /* quantization */
        { "model: {name: m}\nquantization: {approach: post_training_dynamic_quant}\n", NULL, "quantize.sh dynamic" },
        { "model: {name: m}\nquantization: {approach: quant_aware_training, train: {optimizer: {SGD: {learning_rate: 0.1, momentum: 0.9, nesterov: false, weight_decay: 0.0004}}, criterion: {CrossEntropyLoss: {reduction: None}}, start_epoch: 0, end_epoch: 2, iteration: 10, frequency: 1}}\n", NULL, "train.sh qat (lowp train)" },
        { "model: {name: m}\nquantization:\n  approach: quant_aware_training\n  train: {optimizer: {SGD: {}}, frequency: 2}\n", "quantization.train.frequency: lowp updates the weights every batch and checkpoints every epoch: only 1", NULL },
        { "model: {name: m}\nquantization:\n  approach: quant_aware_training\n  train:\n    optimizer: {SGD: {}}\n    hostfile: /path/to/host/file\n", "quantization.train.hostfile: lowp trains in one process; multi-node runs take their hosts from Open MPI (mpirun --hostfile", NULL },
        { "model: {name: m}\nquantization:\n  advance: {c: {bias_correction: weight_empirical}}\n", "quantization.advance: 'advance' is an LPOT key that lowp does not support at line 3", NULL },
        { "model: {name: m}\nquantization:\n  calibration: {sampling_size: '50, 100'}\n", NULL, "lpot_examples.sh quantize (calibration_samples)" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {batch_size: 4, dataset: {dummy: {shape: [2, 3]}}}\n", NULL, "quantize.sh (batch 40)" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {filter: {LabelBalance: {size: 1}}, dataset: {COCORaw: {root: /data/coco}}}\n", NULL, "lpot_examples.sh ssd_example_quantize (calibration_samples), test_coco label_balance" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {filter: {LabelBalance: {size: 1}}, dataset: {dummy: {shape: [2, 3]}}}\n", "dataloader.filter.LabelBalance: LabelBalance keeps images with exactly 'size' boxes: it applies to detection datasets (COCORaw, as LPOT's LabelBalanceCOCORaw), not to dummy at line 4", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {filter: {LabelBalance: {size: 0}}, dataset: {COCORaw: {root: /c}}}\n", "filter.LabelBalance.size: must be at least 1", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {dataset: {COCORaw: {root: /c, num_cores: 4}}}\n", NULL, "COCORaw refuses num_cores when opened: test_coco" },
        { "model: {name: m}\nquantization:\n  recipes: {first_conv_or_matmul_quantization: false, fast_bias_correction: true}\n", NULL, "quantize.sh config recipes" },
        { "model: {name: m}\nquantization:\n  recipes: {scale_propagation_max_pooling: false}\n", "quantization.recipes.scale_propagation_max_pooling: lowp never gives a MaxPool output", NULL },
        { "model: {name: m}\nquantization:\n  recipes: {weight_correction: true}\n", "quantization.recipes.weight_correction: weight correction is not implemented", NULL },
        { "model: {name: m}\nquantization:\n  model_wise:\n    weight: {granularity: per_tensor, scheme: sym, dtype: int8, algorithm: minmax}\n", NULL, "tune space, quantize.sh" },
        { "model: {name: m}\nquantization:\n  model_wise:\n    weight: {bit: 3.0}\n", NULL, "test_config test_recovery_recipes (4-bit weights)" },
        { "model: {name: m}\nquantization:\n  recipes: {equalization: true, learned_rounding: true, smooth_quant: true, smooth_quant_args: {alpha: 0.6}}\n", NULL, "test_config test_recovery_recipes" },
        { "model: {name: m}\nquantization:\n  model_wise:\n    activation: {granularity: per_tensor, scheme: sym, dtype: int8, algorithm: kl}\n", NULL, "quantize.sh, tune space" },
        { "model: {name: m}\nquantization:\n  model_wise:\n    activation: {dtype: bf16}\n", NULL, "quantize.sh config model_wise dtype" },
        { "model: {name: m}\nquantization:\n  op_wise: {conv1: {activation: {dtype: fp32}}}\n", NULL, "tune.sh op_wise_same_in_tune_and_quantize" },
        /* evaluation */
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n    configs: {cores_per_instance: 2, intra_num_of_threads: 2}\n", NULL, "eval's threads (its JSON)" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n    postprocess: {transform: {LabelShift: 1}}\n", NULL, "eval.sh" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {mIOU: {num_classes: 21}}\n", NULL, "test_metric_more miou" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n    iteration: 2\n", NULL, "test_accuracy_iteration" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n    iteration: 0\n", "evaluation.accuracy.iteration: must be -1 (every batch) or a number of batches >= 1", NULL },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {COCOmAP: {anno_path: /nonexistent.json}}\n", "evaluation.accuracy.metric.COCOmAP.anno_path: /nonexistent.json: cannot open", NULL },
        { "model: {name: m, outputs: 'num_detections,detection_bboxes, detection_scores'}\n", NULL, "test_multi_metrics (split), lpot_examples.sh ssd_example_eval" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {BLEU: {}}\n", NULL, "test_metric_more bleu" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric:\n      SquadF1:\n", NULL, "test_metric_more squad" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {SquadF1: {}}\n    postprocess:\n      transform: {SquadV1: {label_file: dev-v1.1.json, vocab_file: vocab.txt}}\n",
          "evaluation.accuracy.postprocess.transform: transform 'SquadV1' at line 6 is an LPOT transform that lowp does not have: it detokenizes", NULL },
        /* datasets and transforms of LPOT 1.4's schema lowp has now, and the TensorFlow-only ones it names */
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {dataset: {dummy_v2: {input_shape: [3, 2], label_shape: [1], length: 8}}}\n", NULL, "test_data dummy_v2" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 3]}}\n      transform: {ResizeWithRatio: {min_dim: 8, max_dim: 16, padding: false}, PaddedCenterCrop: {size: 4, crop_padding: 1}, ColorJitter: {brightness: 0.2}, ToNDArray: {}}\n", NULL, "test_data_transforms ratio_crop_jitter" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {dataset: {bert: {root: /r, label_file: /l}}}\n", "dataset 'bert' at line 4 is an LPOT dataset that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader: {dataset: {COCORecord: {root: /r}}}\n", "use COCORaw", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 3]}}\n      transform: {ParseDecodeImagenet: {}}\n", "it decodes TensorFlow records", NULL },
        { "model: {name: m}\nevaluation:\n  performance:\n    warmup: 3\n    iteration: 7\n    configs: {num_of_instance: 1, cores_per_instance: 1, kmp_blocktime: 1}\n", NULL, "bench.sh config_mode" },
        /* INC 2.x's multi_metrics */
        { "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {topk: 1, Loss: {}, weight: [0.5, 0.5]}\n", NULL, "test_multi_metrics" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {topk: 1, Loss: {}}\n", NULL, "test_multi_metrics_each, lpot_examples.sh multi_metrics_each_tune" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {topk: 1, Loss: {}, higher_is_better: [true, false]}\n", NULL, "test_multi_metrics_each (the list flips a direction)" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {topk: 1, Loss: {}, higher_is_better: [true]}\n", "multi_metrics.higher_is_better: 1 directions for 2 metrics", NULL },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {topk: 1, Loss: {}, weight: [1, 1], higher_is_better: [true, false]}\n", "multi_metrics.higher_is_better: with 'weight' the weighted mean is compared", NULL },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {topk: 1, Loss: {}, weight: [1]}\n", "multi_metrics.weight: 1 weights for 2 metrics", NULL },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n    multi_metrics: {topk: 1, weight: 1}\n", "give either 'metric' or 'multi_metrics'", NULL },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics: {top5x: 1, weight: 1}\n", "unknown metric 'top5x'", NULL },
        /* tuning */
        { "model: {name: m}\ntuning:\n  strategy: {name: basic}\n", NULL, "tune.sh" },
        { "model: {name: m}\ntuning:\n  strategy: {name: basic, latency_weight: 2.0}\n", "tuning.strategy.latency_weight: LPOT weighs accuracy against latency this way only in its tpe strategy", NULL },
        { "model: {name: m}\ntuning:\n  accuracy_criterion: {absolute: 0.1, higher_is_better: false}\n", NULL, "tune.sh compare_label_false" },
        { "model: {name: m}\ntuning:\n  objective: footprint\n", NULL, "tune.sh footprint_prefers_int8" },
        { "model: {name: m}\ntuning:\n  exit_policy: {timeout: 5, max_trials: 3, performance_only: true}\n", NULL, "tune.sh performance_only" },
        { "model: {name: m}\ntuning:\n  random_seed: 9527\n", NULL, "test_tune same seed, same history" },
        { "model: {name: m}\ntuning:\n  workspace: {path: ./ws, resume: ./ws/history.jsonl}\n", NULL, "tune.sh kill_and_resume" },
        { "model: {name: m}\ntuning:\n  tensorboard: true\n", NULL, "tensorboard.sh tune" },
        /* the rest of LPOT 1.4's schema, key by key (tests/lpot14_schema_keys.txt lists them all;
         * test_lpot_schema_complete checks that every one appears in a row here) */
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      batch_size: 2\n      last_batch: discard\n      dataset: {dummy: {shape: [4, 3], low: -1.0, high: 1.0, dtype: float32, label: true}}\n", NULL, "test_data test_dataloader (drop_last), test_data test_dummy" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n    dataloader: {batch_size: 2, dataset: {dummy: {shape: [4, 3]}}}\n  performance:\n    dataloader: {batch_size: 1, dataset: {dummy: {shape: [4, 3]}}}\n    postprocess: {transform: {LabelShift: 1}}\n    configs: {inter_num_of_threads: 1, kmp_affinity: 'granularity=fine,compact'}\n", NULL, "eval.sh (evaluation dataloader), bench.sh config_mode (performance dataloader, configs; inter_num_of_threads > 1 refused by bench: config_inter_threads; kmp_* noted); performance.postprocess: LPOT's benchmark scores nothing either" },
        { "model: {name: m}\nquantization:\n  approach: quant_aware_training\n  train:\n    optimizer: {SGD: {learning_rate: 0.01}}\n    criterion: {CrossEntropyLoss: {reduction: mean}}\n    dataloader: {batch_size: 8, dataset: {dummy: {shape: [16, 3]}}}\n", NULL, "train.sh (lowp train --config)" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy_v2: {input_shape: [3], label_shape: [1], low: 0.0, high: 1.0, dtype: [float32, int64]}}\n", NULL, "test_data test_dummy (dummy_v2)" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {CIFAR10: {root: /c, train: true, download: false}}\n", NULL, "test_data test_cifar, test_pickle test_cifar_python" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {CIFAR100: {root: /c, train: false, download: false}}\n", NULL, "test_data test_cifar (CIFAR100)" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {MNIST: {root: /m, train: true, download: false}}\n", NULL, "test_data test_idx, test_data (mnist.npz)" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {FashionMNIST: {root: /f, train: false, download: false}}\n", NULL, "test_data test_idx, eval.sh zoo_mlp" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {ImageFolder: {root: /i}}\n", NULL, "test_data test_image_folder" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {ImagenetRaw: {data_path: /d, image_list: /d/val_map.txt}}\n", NULL, "test_data test_imagenet_raw, lpot_examples.sh resnet50_example_*" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {CIFAR10: {root: /c, download: true}}\n", "dataset.CIFAR10.download: lowp never downloads", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {MNIST: {root: /m, download: true}}\n", "dataset.MNIST.download: lowp never downloads", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {TFRecordDataset: {root: /r}}\n", "dataset 'TFRecordDataset' at line 5 is an LPOT dataset that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {ImageRecord: {root: /r}}\n", "dataset 'ImageRecord' at line 5 is an LPOT dataset that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {Imagenet: {root: /r}}\n", "dataset 'Imagenet' at line 5 is an LPOT dataset that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {VOCRecord: {root: /r}}\n", "dataset 'VOCRecord' at line 5 is an LPOT dataset that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {style_transfer: {content_folder: /c, style_folder: /s, crop_ratio: 0.2, resize_shape: [256, 256], image_format: jpg}}\n", "dataset 'style_transfer' at line 5 is an LPOT dataset that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {bert: {root: /r, label_file: /l, task: squad, model_type: bert}}\n", "dataset 'bert' at line 5 is an LPOT dataset that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {COCORecord: {root: /r, num_cores: 4}}\n", "use COCORaw", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 8, 8, 3]}}\n      transform: {AlignImageChannel: {dim: 3}, Cast: {dtype: float32}, CenterCrop: {size: 6}, RandomCrop: {size: 4}, Resize: {size: 8, interpolation: bilinear}, Normalize: {mean: [0.5], std: [0.5]}, Rescale: {}, ToArray: {}, Transpose: {perm: [2, 0, 1]}}\n", NULL, "test_data_transforms test_resize, test_crops, test_transpose_cast, test_rescale_normalize, test_lpot_small_transforms" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 8, 8, 3]}}\n      transform: {CropResize: {x: 0, y: 0, width: 4, height: 4, size: 8, interpolation: nearest}, RandomResizedCrop: {size: 8, scale: [0.5, 1.0], ratio: [0.75, 1.333], interpolation: bicubic}, CropToBoundingBox: {offset_height: 0, offset_width: 0, target_height: 4, target_width: 4}}\n", NULL, "test_data_transforms test_crop_resize_full, test_crops, test_lpot_small_transforms" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 8, 8, 3]}}\n      transform: {RandomHorizontalFlip: {}, RandomVerticalFlip: {}, ToTensor: {}, QuantizedInput: {dtype: uint8, scale: 2.0}}\n", NULL, "test_data_transforms test_lpot_small_transforms" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 8, 8, 3]}}\n      transform: {ResizeCropImagenet: {height: 4, width: 4, random_crop: false, resize_side: 6, random_flip_left_right: false, mean_value: [0.485, 0.456, 0.406]}}\n", NULL, "test_data_transforms test_imagenet_pipelines, lpot_examples.sh resnet50_example_*" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 8, 8, 3]}}\n      transform: {BilinearImagenet: {height: 4, width: 4, central_fraction: 0.875, mean_value: [0.0, 0.0, 0.0], scale: 1.0}}\n", NULL, "test_data_transforms test_imagenet_pipelines" },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 8, 8, 3]}}\n      transform: {ResizeCropImagenet: {height: 4, width: 4, slice_crop: true}}\n", "slice_crop", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 8, 8, 3]}}\n      transform: {ResizeCropImagenet: {height: 4, width: 4, scale: 0.017}}\n", "scale", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 3]}}\n      transform: {ParseDecodeCoco: {}}\n", "transform 'ParseDecodeCoco' at line 6 is an LPOT transform that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 3]}}\n      transform: {ParseDecodeVoc: {}}\n", "transform 'ParseDecodeVoc' at line 6 is an LPOT transform that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  calibration:\n    dataloader:\n      dataset: {dummy: {shape: [2, 3]}}\n      transform: {ToPILImage: {}}\n", "transform 'ToPILImage' at line 6 is an LPOT transform that lowp does not have", NULL },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {Accuracy: {}}\n", NULL, "test_metric test_classification" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {Loss: {}}\n", NULL, "test_metric test_classification (Loss)" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {F1: {}}\n", NULL, "test_metric test_classification (F1)" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {MAE: {compare_label: false}}\n", NULL, "test_metric test_regression, eval.sh compare_label_reference, tune.sh compare_label_false, lpot_examples.sh gpt2_example_*" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {MSE: {compare_label: false}}\n", NULL, "test_metric test_regression, eval.sh compare_label_reference, tune.sh compare_label_false, lpot_examples.sh gpt2_example_*" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {RMSE: {compare_label: false}}\n", NULL, "test_metric test_regression, eval.sh compare_label_reference, tune.sh compare_label_false, lpot_examples.sh gpt2_example_*" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {mAP: {iou_thrs: 0.5, map_points: 11}}\n", NULL, "test_metric test_detection" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {mAP: {anno_path: /nonexistent.json}}\n", "evaluation.accuracy.metric.mAP.anno_path: /nonexistent.json: cannot open", NULL },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {VOCmAP: {}}\n", NULL, "test_metric test_detection (VOC defaults)" },
        { "model: {name: m}\nevaluation:\n  accuracy:\n    metric: {VOCmAP: {anno_path: /nonexistent.json}}\n", "evaluation.accuracy.metric.VOCmAP.anno_path: /nonexistent.json: cannot open", NULL },
        { "model: {name: m}\nevaluation:\n  performance:\n    postprocess:\n      transform: {SquadV1: {label_file: dev-v1.1.json, vocab_file: vocab.txt}}\n", "transform 'SquadV1' at line 5 is an LPOT transform that lowp does not have", NULL },
        { "model: {name: m}\nquantization:\n  op_wise:\n    conv1:\n      weight: {granularity: per_tensor, scheme: sym, dtype: int8, algorithm: minmax, bit: 7.0}\n      activation: {granularity: per_tensor, scheme: asym, dtype: uint8, algorithm: kl}\n", NULL, "tune.sh op_wise_same_in_tune_and_quantize, quantize.sh config op_wise" },
        { "model: {name: m}\nquantization:\n  recipes: {scale_propagation_concat: true}\n", NULL, "lowp never gives a Concat output scales of its own: test_quant" },
        { "model: {name: m}\nquantization:\n  recipes: {scale_propagation_concat: false}\n", "quantization.recipes.scale_propagation_concat: lowp never gives", NULL },
        { "model: {name: m}\nquantization:\n  advance: {bias_correction: weight_empirical}\n", "quantization.advance: 'advance' is an LPOT key that lowp does not support at line 3", NULL },
        { "model: {name: m}\ntuning:\n  accuracy_criterion: {relative: 0.01}\n  strategy: {name: basic, accuracy_weight: 1.0, latency_weight: 1.0}\n", NULL, "tune.sh (relative criterion); the weights: only 1.0" },
        { "model: {name: m}\ntuning:\n  strategy: {name: basic, accuracy_weight: 0.5}\n", "tuning.strategy.accuracy_weight: LPOT weighs accuracy against latency this way only in its tpe strategy", NULL },
        { "model: {name: m}\ngraph_optimization:\n  op_wise: {weight: {dtype: bf16}, activation: {dtype: bf16}}\n", NULL, "test_config test_mixed_precision_section (LPOT 1.4's schema form: every node)" },
        { "model: {name: m}\ngraph_optimization:\n  op_wise: {conv1: {activation: {dtype: [fp32]}}}\n", NULL, "lpot_examples.sh graph_optimization_template_quantize (the node stays FP32), test_mixed_precision_section" },
        { "model: {name: m}\ngraph_optimization:\n  op_wise: {conv1: {weight: {dtype: int8}}}\n", "graph_optimization.op_wise.conv1.weight: graph_optimization converts to fp32 or bf16 only", NULL },
        { "model: {name: m}\ngraph_optimization:\n  op_wise: {conv1: {weight: {granularity: per_tensor}}}\n", "graph_optimization.op_wise.conv1.weight.granularity", NULL },
        { "model: {name: m}\nquantization: {approach: post_training_dynamic_quant}\ngraph_optimization: {precisions: bf16}\n", "graph_optimization: graph_optimization is a conversion of its own: it cannot stand with quantization", NULL },
        { "model: {name: m}\nmixed_precision: {precisions: [fp32, bf16]}\n", NULL, "INC 2.x: lpot_examples.sh mixed_precision_not_met_tune, test_mixed_precision_section" },
        { "model: {name: m}\nmixed_precision: {precisions: [bf16, int4]}\n", "mixed_precision.precisions: 'int4' is not a precision lowp converts to: fp32, bf16", NULL },
        { "model: {name: m}\nmixed_precision: {precisions: bf16}\ngraph_optimization: {precisions: bf16}\n", "mixed_precision: mixed_precision is a conversion of its own: it cannot stand with graph_optimization in one", NULL },
        { "model: {name: m}\nmodel_conversion: {source: qat, destination: default}\n", "model_conversion: 'model_conversion' is an LPOT key that lowp does not support at line 2", NULL },
        /* sections lowp refuses whole */
        /* pruning (one-shot; docs/pruning.md) */
        { "model: {name: m}\npruning: {approach: {}}\n", NULL, "prune.sh config_form (defaults)" },
        { "model: {name: m}\npruning:\n  approach:\n    weight_compression: {initial_sparsity: 0.0, target_sparsity: 0.5, start_epoch: 0, end_epoch: 4}\n", NULL, "prune.sh config_form" },
        { "model: {name: m}\npruning:\n  approach:\n    weight_compression:\n      pruners:\n        - !Pruner {start_epoch: 0, end_epoch: 2, initial_sparsity: 0.0, target_sparsity: 0.8, update_frequency: 0.1, prune_type: basic_magnitude, method: per_tensor, names: [conv1.weight]}\n", NULL, "prune.sh config_form, test_config test_pruning_section" },
        { "model: {name: m}\npruning:\n  approach:\n    weight_compression:\n      pruners: [{pattern: '2:4'}, {pattern: channel, target_sparsity: 0.5}]\n", NULL, "prune.sh config_form (lowp's pattern)" },
        { "model: {name: m}\npruning:\n  approach:\n    weight_compression:\n      pruners: [{prune_type: gradient_sensitivity}]\n", "prune_type: 'gradient_sensitivity' is not one of: basic_magnitude", NULL },
        { "model: {name: m}\npruning:\n  train: {start_epoch: 0, end_epoch: 3, iteration: 10, frequency: 5, optimizer: {Adam: {learning_rate: 0.001}}, criterion: {KnowledgeDistillationLoss: {temperature: 2.0, loss_weights: [0.5, 0.5]}}}\n", NULL, "prune.sh config_train_* (each key)" },
        { "model: {name: m}\ngraph_optimization: {precisions: [bf16]}\n", NULL, "lpot_examples.sh graph_optimization_template_*, test_mixed_precision_section" },
        { "model: {name: m}\ngraph_optimization: {precisions: fp32}\n", NULL, "test_mixed_precision_section: the FP32 model (quantize says so, tune refuses: nothing to tune)" },
        { "model: {name: m}\nmodel_conversion: {source: qat}\n", "model_conversion: 'model_conversion' is an LPOT key that lowp does not support at line 2", NULL },
};

static void test_lpot_schema_keys(void)
{
    const schema_row *keys = schema_rows;
    for (size_t i = 0; i < sizeof schema_rows / sizeof *schema_rows; i++) {
        lowp_config *c = NULL;
        lowp_status st = lowp_config_load_string(keys[i].yaml, "conf.yaml", &c);
        if (keys[i].refusal) {
            CHECK_MSG(st != LOWP_OK && strstr(lowp_last_error(), keys[i].refusal), "%s: want a refusal '%s', got '%s'",
                      keys[i].yaml, keys[i].refusal, st == LOWP_OK ? "accepted" : lowp_last_error());
            CHECK_MSG(st == LOWP_OK || strstr(lowp_last_error(), "line "), "%s: the refusal names no line: '%s'",
                      keys[i].yaml, lowp_last_error());
        }
        else
            CHECK_MSG(st == LOWP_OK && keys[i].effect, "%s: want it honoured (%s), got '%s'", keys[i].yaml,
                      keys[i].effect, lowp_last_error());
        lowp_config_free(c);
    }
}

/* The key paths a parsed row holds, as tests/lpot14_schema_keys.txt writes them: a
 * dataloader, a configs map or a train section restarts the path at <dataloader>, <configs>,
 * <train>; an entry of quantization.op_wise is <op>. */
static void collect_keys(const lp_yval *v, const char *path, bool op_wise, char ***set, int *n)
{
    if (!v)
        return;
    if (v->kind == LP_NODE_SEQ)
        for (int i = 0; i < v->n; i++)
            collect_keys(v->items[i], path, false, set, n);
    if (v->kind != LP_NODE_MAP)
        return;
    for (int i = 0; i < v->n; i++) {
        const char *k = op_wise ? "<op>" : v->keys[i];
        char p[512];
        snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", k);
        *set = realloc(*set, (size_t)(*n + 1) * sizeof **set);
        (*set)[(*n)++] = strdup(p);
        const char *restart = !strcmp(k, "dataloader") ? "<dataloader>" : !strcmp(k, "configs") ? "<configs>"
                            : !strcmp(k, "train") && (!strcmp(path, "quantization") || !strcmp(path, "pruning")) ? "<train>"
                            : NULL;
        collect_keys(v->items[i], restart ? restart : p, !strcmp(k, "op_wise") && !strcmp(path, "quantization"), set, n);
    }
}

/* Every key of LPOT 1.4's schema has a row in the walk above (which checks that it is honoured
 * or refused): a key added to the schema list without a row fails here, naming it. */
static void test_lpot_schema_complete(void)
{
    char **have = NULL;
    int n_have = 0;
    for (size_t i = 0; i < sizeof schema_rows / sizeof *schema_rows; i++) {
        lp_yval *v = NULL;
        CHECK(lp_yval_parse(schema_rows[i].yaml, strlen(schema_rows[i].yaml), "row", &v) == LP_OK);
        collect_keys(v, "", false, &have, &n_have);
        lp_yval_free(v);
    }
    FILE *f = fopen("tests/lpot14_schema_keys.txt", "r");
    CHECK_MSG(f != NULL, "tests/lpot14_schema_keys.txt: cannot open (run from the source tree)");
    char line[512];
    int n_keys = 0, missing = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        n_keys++;
        bool found = false;
        for (int i = 0; i < n_have && !found; i++)
            found = !strcmp(have[i], line);
        if (!found && missing++ < 20)
            CHECK_MSG(found, "LPOT 1.4 key %s has no row in the schema walk (honoured with its test, or refused)", line);
    }
    if (f)
        fclose(f);
    CHECK_MSG(n_keys >= 250, "only %d keys read from tests/lpot14_schema_keys.txt", n_keys);
    CHECK_MSG(missing == 0, "%d keys of LPOT 1.4's schema have no row", missing);
    for (int i = 0; i < n_have; i++)
        free(have[i]);
    free(have);
}

int main(void)
{
    RUN(test_lpot_schema_keys);
    RUN(test_lpot_schema_complete);
    RUN(test_multi_metrics);
    RUN(test_multi_metrics_each);
    RUN(test_accuracy_iteration);
    RUN(test_recovery_recipes);
    RUN(test_mixed_precision_section);
    RUN(test_pruning_section);
    RUN(test_full);
    RUN(test_defaults);
    RUN(test_choice_string);
    RUN(test_examples);
    RUN(test_errors);
    return TEST_SUMMARY("test_config");
}
