/* tune.h — the tuner inside: the tuning space (tunable ops, model-wise configurations), the
 * trials, the calibration and sensitivity caches. Strategies see it through lowp.h's
 * lowp_tuner_* calls; the built-ins live in strategies.c, bayesian.c and auto.c. */
#ifndef LP_TUNE_H
#define LP_TUNE_H

#include <stdbool.h>
#include <stdio.h>

#include "engine/session.h"
#include "quant/calibrate.h"
#include "quant/recipe.h"

#define LP_TUNE_MAX_SAMPLINGS 8
#define LP_TUNE_MAX_OBJECTIVES 3
#define LP_TUNE_QAT_BATCHES 200     /* the QAT step's fine-tuning: batches of the training data */

/* A model-wise configuration: one entry of the model-wise space. */
typedef struct lp_tune_cfg {
    lp_approach approach;
    int sampling;               /* index into sampling_sizes (static only) */
    lp_quant_cfg q;
    char name[96];              /* "static ss=100 per_channel asym minmax" (the history key) */
} lp_tune_cfg;

/* The accuracy-recovery steps a trial's recipe takes (recover.c): part of the trial's key. */
typedef struct lp_tune_recovery {
    bool equalize;              /* cross-layer equalization */
    double sq_alpha;            /* SmoothQuant strength, 0: off */
    bool learned_rounding;      /* weights rounded against the layers' calibration inputs */
    bool block_recon;           /* then each block's rounding learned against the FP32 block's
                                   outputs on the calibration samples (recon/recon.h) */
    bool qat;                   /* then fine-tuned with fake quantization on labelled data */
} lp_tune_recovery;

/* One rung of the recovery ladder, for the report. */
typedef struct lp_tune_rung {
    char step[32];              /* "equalization", "smooth_quant", ... */
    char detail[160];
    double before, after;       /* best accuracy before the step, the step's trial's */
    int trial;                  /* 1-based trial index, 0: skipped (detail says why) */
} lp_tune_rung;
#define LP_TUNE_MAX_RUNGS 8

/* A tunable op: a node of the optimized FP32 graph that can take a lower precision. */
typedef struct lp_tune_op {
    int node;                   /* index in the tuner's FP32 graph; -1: inside control flow */
    const char *name, *op_type; /* borrowed from that graph (or the body) */
    const char *out_name;       /* its first output */
    bool allow[3];              /* per lp_precision */
    bool has_cfg;               /* op_wise settings fixed by the configuration */
    int op_wise;                /* the op_wise entry that set its precisions, -1: none */
    lp_quant_cfg cfg;
    double macs;                /* multiply-accumulates per sample (the cost model) */
    int64_t weight_elems;       /* elements of its constant weight */
} lp_tune_op;

typedef struct lp_tune_rec {
    lowp_tune_trial t;
    int config;
    unsigned char *prec;        /* per op */
    char *key;                  /* config name + "|" + one letter per op (i, b, f) */
    double cost;                /* the cost model's estimate, relative to FP32 */
    int n_prec[3];
    lp_tune_recovery rv;        /* the recovery steps of its recipe */
    bool replayed;              /* came from the resumed history */
    char note[160];
    char strategy[32];
} lp_tune_rec;

/* A history entry loaded for resume. */
typedef struct lp_tune_hist {
    char *key;
    lowp_tune_trial t;
    double cost;
} lp_tune_hist;

/* A point evaluated ahead of its turn by one rank of a distributed tune (lp_tune_prefetch). */
typedef struct lp_tune_pending {
    char *key;
    lowp_tune_trial t;          /* accuracy, latency, sizes, seconds */
    lp_status status;           /* its evaluation failed: the message */
    char *message;
} lp_tune_pending;

typedef enum { LP_OBJ_PERFORMANCE, LP_OBJ_MODELSIZE, LP_OBJ_FOOTPRINT } lp_objective_kind;

struct lowp_tuner {
    lowp_tune_options opt;      /* strings below are the tuner's copies */
    char *strategy_name, *approach_name, *objective_spec, *workspace, *output, *resume_from, *model_path;
    int n_obj;
    lp_objective_kind obj[LP_TUNE_MAX_OBJECTIVES];
    double obj_w[LP_TUNE_MAX_OBJECTIVES];

    lowp_session *fp32;         /* fp32->g: the optimized graph recipes name nodes of */
    lowp_dataloader *calib, *eval;
    lowp_metric *metric;
    lowp_transform *post;
    lowp_evaluator ev;          /* how candidates are scored: the built-in eval + metric above
                                   (user = the tuner) or the caller's (user owned) */
    bool ev_owned;              /* ev.free(ev.user) with the tuner */
    char *metric_name;          /* for history and reports */
    lp_tensor *sample[LOWP_SAMPLE_MAX_TENSORS]; /* the first evaluation sample (batch 1), for latency */
    int n_sample;

    int n_ops;
    lp_tune_op *ops;
    int n_cfgs;
    lp_tune_cfg *cfgs;
    bool bf16;                  /* the CPU runs BF16 natively */

    lowp_calibration *cal[LP_TUNE_MAX_SAMPLINGS];
    lowp_calibration *cal_moments[LP_TUNE_MAX_SAMPLINGS]; /* the same with layer-input moments
                                                             and the samples kept (learned
                                                             rounding, block reconstruction),
                                                             on first use */
    double **sens;              /* per config (NULL until computed): sensitivity in dB per op */
    double **sens_sqnr;         /* and the SQNR of each op's output in the all-INT8 model */

    bool hib;
    double baseline, target;
    double base_latency, base_cost;
    int64_t base_bytes, base_footprint;

    int n_trials, cap_trials;
    lp_tune_rec *trials;
    int n_hist;
    lp_tune_hist *hist;
    FILE *history;
    FILE *sens_log;             /* WORKSPACE/sensitivity.jsonl (the writer's), NULL: none */
    int lock_fd;                /* the workspace lock (flock), -1: not taken */
    bool hist_in_place;         /* resuming into the same file: replayed trials are in it already */
    char fingerprint[40];

    uint64_t rng;
    double t0, eval_seconds;    /* start; seconds of one evaluation (for the ETA) */
    bool ran;                   /* lowp_tuner_run was called */
    int n_pending;
    lp_tune_pending *pending;   /* prefetched results, consumed by lowp_tuner_try in order */
    lowp_comm group;            /* parallel.c: this rank's group of the last split into */
    int group_split;            /* ... this many groups (0: none made) */
    double agreed_elapsed;      /* distributed: rank 0's seconds since t0 at the last trial, so
                                   that every rank takes the same timeout decisions */
    bool keep_searching, strategy_keeps_searching, stopped;
    bool bias_correction;       /* recipes: fast_bias_correction (static recipes) */
    lp_tune_recovery rv;        /* the recovery steps lowp_tuner_try's trials take (static) */
    lp_tune_rung rungs[LP_TUNE_MAX_RUNGS];
    int n_rungs;
    struct lp_tune_probe *probe; /* recover.c: calibration batches and FP32 outputs */
    lowp_dataloader *train;     /* labelled training data for QAT (lowp_tuner_set_training_data) */
    lp_graph *qat_graph;        /* the last QAT-trained graph, for its point (config, prec, rv) */
    char recon_note[160];       /* what the last block reconstruction did (the ladder's rung) */
    int qat_config;
    unsigned char *qat_prec;
    lp_tune_recovery qat_rv;
    volatile int cancelled;     /* lowp_tuner_cancel (from a signal handler too: an aligned int
                                   store, what sig_atomic_t is on the platforms lowp builds on) */
    int max_trials;
    int dup_streak;
    const char *cur_strategy;
    char summary_strategy[64];
    lowp_sample tb_batch;       /* tensorboard: the batch trials are compared on */
    bool tb_fp32_written;
};

/* A finished step of `phase` for the progress callback (the trial counts, best so far...). */
void lp_tune_announce(lowp_tuner *t, const char *phase, const char *note);
/* Distributed tunes (opt.comm): rank 0 writes the history, reports and model. */
bool lp_tune_writer(const lowp_tuner *t);
/* A strategy about to try n points in this order (lowp_tuner_try each, as always) may announce
 * them: a distributed tune then evaluates them in parallel, each on one rank group over the whole
 * evaluation set, and the tries that follow take those results in order — the same records,
 * history and stops as trying one after another (points after a stop were evaluated for
 * nothing). One process: nothing happens. */
lp_status lp_tune_prefetch(lowp_tuner *t, int n, const int *configs, unsigned char *const *precs);
/* Prefetches point by point from `next` (which fills *config and prec and returns false at the
 * end) in batches of the rank count, trying each; the loop of random and exhaustive. */
typedef bool (*lp_tune_next_fn)(lowp_tuner *t, void *state, int *config, unsigned char *prec, char note[160]);
lp_status lp_tune_try_all(lowp_tuner *t, lp_tune_next_fn next, void *state);
/* Tries n points in order until *stop (and with until_pass, until a trial passes), announcing
 * them lp_tune_batch at a time: the serial loop of a strategy's tier whose points do not depend
 * on each other's results. trials[i] (may be NULL) gets each try's trial (index 0: not tried). */
lp_status lp_tune_try_points(lowp_tuner *t, int n, const int *configs, unsigned char *const *precs,
                             const char (*notes)[160], bool until_pass, lowp_tune_trial *trials, int *tried,
                             int *stop);
/* The arrays of n such points (precs[i]: n_ops + 1 bytes each, zeroed). */
typedef struct lp_tune_points {
    int n;
    int tried;                  /* lp_tune_points_try: how many were tried before it stopped */
    int *configs;
    unsigned char **precs;
    char (*notes)[160];
    lowp_tune_trial *trials;
} lp_tune_points;
lp_status lp_tune_points_new(const lowp_tuner *t, int n, lp_tune_points *out);
void lp_tune_points_free(lp_tune_points *p);
/* lp_tune_try_points over p's points. */
lp_status lp_tune_points_try(lowp_tuner *t, lp_tune_points *p, bool until_pass, int *stop);
/* Rank groups a distributed tune evaluates points on (opt.ranks_per_trial; 1 in one process),
 * and the points strategies propose at once (opt.trial_batch, else the groups). */
int lp_tune_groups(const lowp_tuner *t);
int lp_tune_batch(const lowp_tuner *t);
const lp_tune_pending *lp_tune_pending_find(const lowp_tuner *t, const char *key);
/* Frees the prefetched results and this rank's group communicator. */
void lp_tune_pending_free(lowp_tuner *t);
/* Scores a candidate graph through the evaluator and measures it (trial 0: the baseline);
 * distributed when opt.comm is. */
lp_status lp_tune_evaluate(lowp_tuner *t, const lp_graph *g, int trial, const char *note, double *acc,
                           double *latency, int64_t *bytes, int64_t *footprint);

/* ---- space.c ---- */
/* Tunable ops and model-wise configurations from the options and the configuration. */
lp_status lp_tune_build_space(lowp_tuner *t, const lowp_config *cfg);
/* The recipe of a point with recovery steps rv (NULL: none). */
lp_status lp_tune_recipe(const lowp_tuner *t, int config, const unsigned char *prec, const lp_tune_recovery *rv,
                         lp_recipe **out);
/* Moves each op's choice to an allowed one (int8 -> bf16 -> fp32). */
void lp_tune_normalize(const lowp_tuner *t, unsigned char *prec);
/* "CONFIG|ibf..." (malloc'ed); "CONFIG+eq+sq0.50+lr|ibf..." with t->rv's recovery steps. */
char *lp_tune_key(const lowp_tuner *t, int config, const unsigned char *prec);
/* The cost model: MAC-weighted precision factors, relative to the FP32 model (1.0). */
double lp_tune_cost(const lowp_tuner *t, const unsigned char *prec);

/* ---- model.c ---- */
/* The graph of a point: quantized per recipe; its BF16 ops are listed in the model metadata
 * LP_META_BF16_NODES, which sessions (and so the engine) honour and other runtimes ignore. */
lp_status lp_tune_build_graph(lowp_tuner *t, int config, const unsigned char *prec, const lp_tune_recovery *rv,
                              lp_graph **out);
/* The calibration for sampling index s, collected on first use; with `moments` also the
 * second moments of the layers' inputs that learned rounding needs and the samples block
 * reconstruction trains on (a separate pass). */
lp_status lp_tune_calibration(lowp_tuner *t, int s, bool moments, lowp_calibration **out);
/* Whether a point with recovery rv needs that calibration. */
static inline bool lp_tune_needs_samples(const lp_tune_recovery *rv)
{
    return rv && (rv->learned_rounding || rv->block_recon);
}

/* ---- objective.c ---- */
/* Measures a graph: median batch-1 latency, serialized size, peak memory (arena + scratch +
 * weights of the compiled plan). */
lp_status lp_tune_measure(lowp_tuner *t, const lp_graph *g, double *latency_ms, int64_t *bytes, int64_t *footprint);
/* The ranking value of a trial (lower is better; 1.0 = the FP32 model). */
double lp_tune_objective(const lowp_tuner *t, double cost, int64_t bytes, int64_t footprint);
lp_status lp_tune_parse_objective(lowp_tuner *t, const char *spec);

/* ---- sensitivity.c ---- */
lp_status lp_tune_compute_sensitivity(lowp_tuner *t, int config);

/* ---- recover.c ---- */
/* The recovery ladder (equalization, SmoothQuant with its alpha chosen on calibration data,
 * learned rounding) from static config c and all-INT8 point base: a trial per useful step, t->rv left at
 * the most accurate steps; *passed when a trial met the target. Records t->rungs. */
lp_status lp_tune_recover(lowp_tuner *t, int c, const unsigned char *base, bool *passed, int *stop);
void lp_tune_probe_free(struct lp_tune_probe *p);

/* ---- history.c ---- */
/* Creates and locks the workspace, then opens WORKSPACE/history.jsonl: replays it when
 * resuming, else starts it with its header. */
lp_status lp_tune_history_open(lowp_tuner *t);
/* Parses a history's text: line 1 must be a header with `fingerprint`; every other line that
 * is a trial record (a map with a "key") becomes an entry, every other line is ignored.
 * *fresh: the text holds no complete line (a header a kill cut short): nothing to replay. */
lp_status lp_tune_history_parse(const char *text, size_t size, const char *path, const char *fingerprint,
                                lp_tune_hist **hist_out, int *n_out, bool *fresh);
void lp_tune_history_free(lp_tune_hist *h, int n);
lp_status lp_tune_history_append(lowp_tuner *t, const lp_tune_rec *r);
/* The resumed entry with `key`, or NULL. */
const lp_tune_hist *lp_tune_history_find(const lowp_tuner *t, const char *key);
/* WORKSPACE/sensitivity.jsonl, for the dashboard's live view: started afresh with a header by
 * lp_tune_history_open (sensitivities are measured again on resume), then one line per op of
 * `config` appended (and flushed) as lp_tune_compute_sensitivity measures it (op index `op`
 * of t->ops; SQNR +inf and other non-finite values are written as null). */
lp_status lp_tune_sens_log_append(lowp_tuner *t, int config, int op, double sens_db, double sqnr_db);

/* ---- tboard.c ---- */
/* TensorBoard event files of trial `r` (opt.tensorboard): its scalars and, given its graph
 * `g`, the histograms of every tensor of `g` and (once) of the FP32 model. */
lp_status lp_tune_tensorboard(lowp_tuner *t, const lp_graph *g, const lp_tune_rec *r);

/* ---- report.c ---- */
lp_status lp_tune_write_reports(lowp_tuner *t, const lowp_tune_summary *s);

/* ---- strategies ---- */
typedef struct lp_tune_ranked {
    int op;
    double key;
} lp_tune_ranked;
/* qsort order: key descending, ties later op first (bottom-up). */
int lp_tune_by_key_desc(const void *a, const void *b);
/* A point with every op at `prec` (malloc'ed, n_ops + 1 bytes). */
unsigned char *lp_tune_point_new(const lowp_tuner *t, int prec);
/* BF16 where the op may take it, else FP32. */
int lp_tune_fallback_of(const lowp_tuner *t, int op);
bool lp_tune_any_bf16(const lowp_tuner *t);
/* The INT8 ops of `base`, most sensitive first under `config`. */
lp_status lp_tune_sensitivity_order(lowp_tuner *t, int config, const unsigned char *base, lp_tune_ranked *order, int *n_out);
/* From passing q whose first k `order` ops fell back: revert them least sensitive first,
 * keeping each revert that still passes. */
lp_status lp_tune_revert(lowp_tuner *t, int c, unsigned char *q, const lp_tune_ranked *order, int k, int *stop);
const lowp_tune_strategy *lp_tune_strategy_find(const char *name);
/* Helpers shared by the built-ins. */
bool lp_tune_better(const lowp_tuner *t, const lp_tune_rec *a, const lp_tune_rec *b);
int lp_tune_best_config(const lowp_tuner *t);   /* the config of the most accurate trial */
lp_status lp_tune_modelwise(lowp_tuner *t, int *stop, int limit);
lp_status lp_tune_run_basic(lowp_tuner *t, void *user);
lp_status lp_tune_run_mse(lowp_tuner *t, void *user);
lp_status lp_tune_run_mse_v2(lowp_tuner *t, void *user);
lp_status lp_tune_run_conservative(lowp_tuner *t, void *user);
lp_status lp_tune_run_exhaustive(lowp_tuner *t, void *user);
lp_status lp_tune_run_random(lowp_tuner *t, void *user);
lp_status lp_tune_run_bayesian(lowp_tuner *t, void *user);
lp_status lp_tune_run_auto(lowp_tuner *t, void *user);

double lp_tune_now(void);

#endif
