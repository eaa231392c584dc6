/* prune.h — magnitude pruning of a model's weights (a layer of its own: uses ir/ and below).
 *
 *  - unstructured: the smallest |w| of each chosen weight set to zero, to the target sparsity
 *    per tensor (LPOT's basic_magnitude, method per_tensor);
 *  - N:M (e.g. 2:4): in every group of M consecutive weights along a layer's reduction axis
 *    (a Conv's input channels x kernel, a Gemm/MatMul's K) the M - N smallest are zero;
 *  - channel: whole output channels (filters) of Conv/Gemm/MatMul layers removed — the smallest
 *    by L1 norm — and every reader shrunk (prune/channel.c), so the model does less work.
 *
 * Weights are chosen by `names`: each a weight (initializer) name, a node name, or a POSIX
 * extended regular expression matched from the start of either (LPOT's re.match); none: every
 * Conv, Gemm and MatMul with a constant weight. The graph keeps its interface. */
#ifndef LP_PRUNE_H
#define LP_PRUNE_H

#include "ir/graph.h"

typedef enum lp_prune_pattern {
    LP_PRUNE_UNSTRUCTURED = 0,
    LP_PRUNE_NM,
    LP_PRUNE_CHANNEL,
} lp_prune_pattern;

typedef struct lp_prune_opts {
    lp_prune_pattern pattern;
    double sparsity;            /* unstructured, channel: fraction to remove, [0, 1) */
    int n, m;                   /* N:M: keep n of every m (1 <= n < m <= 64) */
    const char *const *names;   /* n_names patterns; 0: every weighted layer */
    int n_names;
} lp_prune_opts;

/* What pruning did to one weight. */
typedef struct lp_prune_entry {
    char *node, *weight;        /* the node and its weight's name (in the pruned graph) */
    int64_t elems_before, elems, zeros;   /* weight elements before / after, zeros after */
    int64_t channels_before, channels;    /* output channels (channel pattern; else equal) */
} lp_prune_entry;

typedef struct lp_prune_report {
    int n;
    lp_prune_entry *e;
    int64_t params_before, params;        /* float weight elements of the whole graph */
    int n_frozen;                          /* channel: layers left whole, and why (the first) */
    char frozen_why[256];
} lp_prune_report;

/* Prunes g (an optimized graph with shapes inferred) in place. Errors name the option or the
 * pattern that matches nothing. */
lp_status lp_prune_graph(lp_graph *g, const lp_prune_opts *o, lp_prune_report *rep);
void lp_prune_report_free(lp_prune_report *r);

/* Is node ni (or its weight) chosen by the options' names? */
bool lp_prune_chosen(const lp_graph *g, int ni, const lp_prune_opts *o);
/* Node ni's input `slot` becomes a new constant holding t (taken, also on failure), named after
 * the one it replaces + "_pruned"; the old constant stays until lp_graph_compact. */
lp_status lp_prune_set_input(lp_graph *g, int ni, int slot, lp_tensor *t);
/* The constant float weight of a Conv / Gemm / MatMul node, or -1. */
int lp_prune_weight(const lp_graph *g, int ni);

/* lowp_prune with options: the model optimized (as sessions do) and pruned into *pruned_out,
 * what was done into *rep (lp_prune_report_free it). */
lp_status lp_prune_model(const lowp_model *model, const lp_prune_opts *o, lowp_model **pruned_out, lp_prune_report *rep);
/* The zeros of r's weights counted again in g (after fine-tuning or gradual pruning). */
void lp_prune_report_recount(const lp_graph *g, lp_prune_report *r);
/* "unstructured", "channel" or "N:M" into o's pattern (and n, m). */
lp_status lp_prune_pattern_parse(const char *s, lp_prune_opts *o);
/* The report as JSON (malloc'ed). */
lp_status lp_prune_report_json(const lp_prune_report *r, const lp_prune_opts *o, char **out);

/* Prunes weight tensor w of layer n in place by o's pattern (unstructured at `sparsity`, or
 * N:M); no graph change. */
lp_status lp_prune_tensor(const lp_node *n, lp_tensor *w, const lp_prune_opts *o, double sparsity);

/* A gradual schedule (LPOT's pruner epochs), in the training run's epochs (absolute: LPOT's
 * train.start_epoch counts): the sparsity goes from `initial` at start_epoch to the target at
 * end_epoch, raised every update_frequency epochs — or, with step_frequency > 0, every that
 * many batches, interpolated by the batch's position in its epoch. */
typedef struct lp_prune_schedule {
    double initial;
    int64_t start_epoch, end_epoch;
    double update_frequency;
    int64_t step_frequency;
} lp_prune_schedule;
/* The schedule's sparsity at `epoch` (with step_frequency, fractional: epoch + batch / batches). */
double lp_prune_schedule_at(const lp_prune_schedule *s, double target, double epoch);

/* One pruner of a fine-tuning run: its weights and pattern, and for a gradual (unstructured)
 * pruner its schedule (NULL: one-shot — pruned before training, the zeros kept). */
typedef struct lp_pruner {
    lp_prune_opts o;
    const lp_prune_schedule *sch;
} lp_pruner;

/* prune/finetune.c: fine-tunes pruned graph g (lp_prune_graph's result) with the training
 * engine, keeping every pruner's zeros (masks re-applied after every step); gradual pruners
 * prune their weights to o.sparsity by magnitude as their schedules say. Channel pruners have
 * removed their channels before (the graph cannot change shape under the trainer) and need
 * nothing. With to->progress, a line per epoch says the sparsity reached. */
struct lp_train_options;
struct lp_train_result;
lp_status lp_prune_finetune(lp_graph *g, const lp_pruner *p, int n, const struct lp_train_options *to,
                            lowp_dataloader *data, struct lp_train_result *res);
/* Splits comma-separated `list` in place into at most `cap` names of o (o->names = buf). */
lp_status lp_prune_set_names(lp_prune_opts *o, char *list, const char **buf, int cap);

/* prune/channel.c: the channel pattern. */
lp_status lp_prune_channels(lp_graph *g, const lp_prune_opts *o, lp_prune_report *rep);

#endif
