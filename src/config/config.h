/* config.h — the YAML configuration (LPOT 1.x schema) as plain data. lp_config_load reads and
 * validates everything (names of datasets, transforms, metrics and their parameters, types,
 * ranges); the quantization and tuning layers read the fields below directly. Parameters of
 * datasets/transforms/metrics stay as value trees (lp_yval) owned by the config, to be
 * handed to the data and metric layers when the objects are built. */
#ifndef LP_CONFIG_H
#define LP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "data/params.h"

/* A named component with its parameter tree: `topk: 1`, `Resize: {size: 224}`. */
typedef struct lp_cfg_named {
    const char *name;          /* the key (borrowed from the tree) */
    const lp_yval *params;     /* its value (borrowed; may be a NULL node) */
    char path[160];            /* "evaluation.accuracy.metric.topk" */
} lp_cfg_named;

typedef struct lp_cfg_dataloader {
    bool present;
    int64_t batch_size;        /* default 1 */
    bool drop_last;            /* last_batch: discard (default rollover: keep the partial batch) */
    bool shuffle;              /* lowp extension, default false */
    lp_cfg_named dataset;
    int64_t label_balance;     /* filter: {LabelBalance: {size: N}} (0: none), passed to the
                                  dataset as its label_balance parameter (COCORaw) */
    int n_transforms;
    lp_cfg_named *transforms;  /* in YAML order (Compose) */
    char path[96];             /* "evaluation.accuracy.dataloader" */
} lp_cfg_dataloader;

/* Enumerations of the quantization choices (LPOT's spellings in lp_cfg_enum_name). */
typedef enum { LP_GRAN_PER_CHANNEL, LP_GRAN_PER_TENSOR } lp_cfg_granularity;
typedef enum { LP_SCHEME_ASYM, LP_SCHEME_SYM } lp_cfg_scheme;
typedef enum { LP_QDT_INT8, LP_QDT_UINT8, LP_QDT_FP32, LP_QDT_BF16 } lp_cfg_qdtype;
typedef enum { LP_ALGO_MINMAX, LP_ALGO_KL } lp_cfg_algorithm;

/* A list of allowed choices in the order written; n == 0: not given (the tuner decides). */
typedef struct lp_cfg_choice {
    int n;
    int v[4];
} lp_cfg_choice;

typedef struct lp_cfg_tensor_quant {
    lp_cfg_choice granularity, scheme, dtype, algorithm;
    int bits;                  /* weight: LPOT's `bit` (magnitude bits, 1..7) + 1; 0: not given */
} lp_cfg_tensor_quant;

typedef struct lp_cfg_op_quant {
    bool has_weight, has_activation;
    lp_cfg_tensor_quant weight, activation;
} lp_cfg_op_quant;

typedef struct lp_cfg_op_wise {
    const char *pattern;       /* op name, or a regex when it has characters outside
                                  [A-Za-z0-9_.\-/] (LPOT's rule): see `is_regex` */
    bool is_regex;
    int line;
    lp_cfg_op_quant q;
} lp_cfg_op_wise;

/* post_training_auto_quant: the tuner tries static, then dynamic; quant_aware_training: `lowp
 * train` (a static recipe, then fine-tuning per quantization.train) */
typedef enum { LP_APPROACH_STATIC, LP_APPROACH_DYNAMIC, LP_APPROACH_AUTO, LP_APPROACH_QAT } lp_cfg_approach;

/* LPOT's train: section (quantization.train, pruning.train): docs/training.md */
typedef struct lp_cfg_train {
    bool present;
    int64_t start_epoch;       /* default 0 */
    int64_t end_epoch;         /* default start_epoch + 1 */
    int64_t iteration;         /* batches per epoch at most; 0: all */
    int64_t frequency;         /* only 1 (LPOT's reserved key; lowp steps every batch) */
    lp_cfg_dataloader dataloader;
    const char *optimizer;     /* SGD (default), Adam, AdamW */
    double learning_rate, momentum, weight_decay, beta_1, beta_2, epsilon;
    bool nesterov;
    const char *criterion;     /* CrossEntropyLoss (default), NLLLoss, MSELoss, KnowledgeDistillationLoss */
    bool reduction_sum;        /* reduction: sum (default mean; none is taken as mean) */
    double temperature;        /* KnowledgeDistillationLoss, default 1 */
    double loss_weights[2];    /* KnowledgeDistillationLoss: [labels, teacher], default [0.5, 0.5] */
    int line;
} lp_cfg_train;

typedef struct lp_cfg_perf_configs {
    int64_t cores_per_instance;   /* 0: not given */
    int64_t num_of_instance;      /* default 1 */
    int64_t inter_num_of_threads, intra_num_of_threads;   /* 0: not given */
    bool has_kmp;                 /* kmp_blocktime / kmp_affinity given (Intel OpenMP's) */
} lp_cfg_perf_configs;

/* One pruner of pruning.approach.weight_compression.pruners (LPOT's !Pruner). */
typedef struct lp_cfg_pruner {
    const char *pattern;       /* unstructured (default), channel, or N:M (lowp's / INC 2.x's `pattern`) */
    double initial_sparsity, target_sparsity;  /* target: the weight_compression's when not given */
    int64_t start_epoch, end_epoch;
    double update_frequency;
    char *names;               /* comma-joined `names` (owned), NULL: every layer */
    int line;
} lp_cfg_pruner;

struct lowp_config {
    char file[256];
    lp_yval *root;

    const char *version;          /* "1.0" or NULL */
    const char *device;           /* "cpu" */
    struct {
        const char *name;
        const char *framework;    /* LPOT's framework key, accepted for compatibility */
        const char *path;         /* lowp extension: the ONNX file (the CLI's MODEL wins),
                                     relative paths joined to the configuration's folder */
        char *path_owned;         /* that joined path (owned), or NULL */
        int path_line;            /* where model.path stands in the file (0: not given) */
        int n_inputs, n_outputs;
        const char **inputs, **outputs;
        int inputs_line, outputs_line;
    } model;

    struct {
        bool present;
        lp_cfg_approach approach;                  /* post_training_static_quant (default) */
        int n_sampling_size;
        int64_t sampling_size[16];                 /* default [100] */
        lp_cfg_dataloader calibration;
        lp_cfg_op_quant model_wise;
        int n_op_wise;
        lp_cfg_op_wise *op_wise;
        const char *op_wise_section;               /* "quantization.op_wise" or the mixed
                                                      precision section's op_wise, for messages */
        bool scale_propagation_max_pooling, scale_propagation_concat,
            first_conv_or_matmul_quantization,     /* recipes, default true: false keeps */
            last_conv_or_matmul_quantization;      /* the first / last Conv, MatMul or Gemm FP32 */
        bool fast_bias_correction;                 /* recipes: bias correction (default false) */
        lp_cfg_train train;                        /* quant_aware_training's train: section */
        bool equalization, learned_rounding;       /* recipes (lowp): recovery steps always on */
        bool block_reconstruction;                 /* recipes (lowp): per-block learned rounding */
        double smooth_quant_alpha;                 /* recipes smooth_quant (+ smooth_quant_args.alpha,
                                                      INC's form; 0.5 when not given); 0: off */
    } quantization;

    /* graph_optimization (LPOT 1.4) / mixed_precision (INC 2.x): BF16 conversion. It fills
     * quantization.model_wise (activation dtype bf16, or fp32) and quantization.op_wise. */
    struct {
        bool present;
        const char *section;      /* "graph_optimization" or "mixed_precision" */
        bool bf16;                /* precisions include bf16 (default); false: FP32 only */
        char op_wise_path[40];    /* "graph_optimization.op_wise" */
    } mixed_precision;

    struct {
        bool present;
        double initial_sparsity, target_sparsity;  /* weight_compression: 0, 0.97 (LPOT's defaults) */
        int64_t start_epoch, end_epoch;            /* 0, 4 */
        int n_pruners;
        lp_cfg_pruner *pruners;
        lp_cfg_train train;                        /* pruning.train: fine-tuning while / after pruning */
    } pruning;

    struct {
        bool has_accuracy;
        lp_cfg_named metric;                       /* exactly one, or: */
        int n_multi;                               /* multi_metrics (INC 2.x): the metrics, */
        lp_cfg_named *multi;                       /* in YAML order, */
        double *multi_weight;                      /* and their weights (NULL: each metric
                                                      held to its own target), */
        int *multi_hib;                            /* or their directions (NULL: their own) */
        lp_cfg_dataloader accuracy_dataloader;
        int64_t accuracy_iteration;                /* batches to evaluate; -1 (default): all */
        int n_postprocess;
        lp_cfg_named *postprocess;                 /* postprocess.transform, in order */
        lp_cfg_perf_configs accuracy_configs;
        bool has_performance;
        int64_t warmup;                            /* default 5 */
        int64_t iteration;                         /* default -1: the whole dataloader */
        lp_cfg_perf_configs performance_configs;
        lp_cfg_dataloader performance_dataloader;
    } evaluation;

    struct {
        const char *strategy;                      /* default "auto" (lowp's; LPOT's was basic) */
        double accuracy_weight, latency_weight;    /* default 1.0 */
        bool relative;                             /* accuracy_criterion: relative (default) or absolute */
        double criterion;                          /* default 0.01 (relative) */
        bool higher_is_better;                     /* default true */
        const char *objective;                     /* performance (default), modelsize, footprint */
        int64_t timeout;                           /* seconds, 0: none (default) */
        int64_t max_trials;                        /* default 100 */
        bool performance_only;                     /* default false */
        int64_t random_seed;                       /* default 1978 */
        bool tensorboard;                          /* event files in WORKSPACE/tensorboard (default false) */
        const char *workspace_path;                /* default "./lowp_workspace" */
        const char *resume;                        /* NULL: none */
    } tuning;
};

typedef struct lowp_config lp_config;

/* LPOT's spelling of an enumeration value ("per_channel", "asym", "int8", "minmax"). */
const char *lp_cfg_granularity_name(int v);
const char *lp_cfg_scheme_name(int v);
const char *lp_cfg_qdtype_name(int v);
const char *lp_cfg_algorithm_name(int v);

/* Builds the objects a section describes (params keep file and key path for messages). */
/* The line of model.path in the configuration file (0: not given). */
int lp_config_model_path_line(const lowp_config *cfg);
lp_status lp_cfg_build_dataloader(const lp_config *cfg, const lp_cfg_dataloader *d, int64_t max_samples,
                                  lowp_dataloader **out);

#endif
