/* train.h — fine-tuning a graph: the training layer's entry point, used by `lowp train`
 * (quantization-aware training), by pruning (through the hook) and by the tuner's recovery.
 *
 *     lp_train_options o = lp_train_options_default();
 *     o.epochs = 2;  o.optim.lr = 1e-3;  o.workspace = "ws";     // checkpoints, resume
 *     lp_train_hook h = { my_hook, my_state };                    // e.g. re-apply pruning masks
 *     lp_train_result r;
 *     lp_train_run(graph, &o, dataloader, &h, &r);                // graph's weights change in place
 *
 * The graph's float constants read as weights, biases, BN scale/shift (and, with learn_scale,
 * QuantizeLinear/DequantizeLinear scales) are the parameters; lp_train_run updates them in the
 * graph itself, and BatchNormalization's running statistics too. The dataloader yields batches
 * of the model's inputs (in order) with the class labels (or targets) as the first label; it
 * is re-seeded every epoch (seed + epoch) so shuffled epochs differ and resume reproduces them.
 * Deterministic: the same graph, data, options and thread count give the same weights, also
 * across a kill and a resume from the workspace's checkpoint. See docs/training.md. */
#ifndef LP_TRAIN_H
#define LP_TRAIN_H

#include "train/loss.h"
#include "train/optim.h"
#include "train/tape.h"

typedef struct lp_train_options {
    int64_t start_epoch;        /* LPOT's start_epoch (default 0) */
    int64_t epochs;             /* epochs to run from start_epoch (default 1); LPOT end_epoch = start + epochs */
    int64_t iterations;         /* > 0: batches per epoch at most (LPOT's `iteration`) */
    lp_optim_options optim;
    const char *criterion;      /* a loss.h row name (default "CrossEntropyLoss") */
    lp_loss_params loss;
    const char *output;         /* the model output the loss reads (NULL: the first) */
    lp_graph *teacher;          /* KnowledgeDistillationLoss: the FP32 model (same inputs) */
    bool learn_scale;           /* train QuantizeLinear/DequantizeLinear scales (LSQ) */
    bool learn_zero_point;      /* lp_qat_run: train the activations' zero points (LSQ+ offsets,
                                   lp_qat_learn_zero_points) */
    uint64_t seed;              /* dropout masks and the epochs' data order (default 1978) */
    const char *workspace;      /* a folder for train_checkpoint.bin (NULL: no checkpoints) */
    bool resume;                /* continue from the workspace's checkpoint when there is one */
    int64_t checkpoint_every;   /* > 0: also checkpoint every this many steps (default: per epoch) */
    int64_t stop_after_steps;   /* > 0: return after this many steps of this run, writing no
                                   checkpoint (tests: a kill at a known point) */
    bool progress;              /* a line per epoch on stderr */
} lp_train_options;

lp_train_options lp_train_options_default(void);

typedef enum lp_train_event {
    LP_TRAIN_BEGIN,             /* before the first step (after a resume, with its state) */
    LP_TRAIN_EPOCH_BEGIN,
    LP_TRAIN_AFTER_BACKWARD,    /* gradients ready: a hook may mask or change them */
    LP_TRAIN_AFTER_STEP,        /* parameters updated: a hook may re-apply masks to them */
    LP_TRAIN_EPOCH_END,
} lp_train_event;

typedef struct lp_train_info {
    int64_t epoch;              /* 0-based, counting from start_epoch */
    int64_t iteration;          /* batch within the epoch */
    int64_t step;               /* global optimizer step */
    double loss;                /* the last batch's loss (AFTER_BACKWARD and later), or the
                                   epoch's mean at EPOCH_END */
    double lr;
    lp_graph *graph;            /* the graph being trained */
    lp_tape *tape;              /* parameters: lp_tape_param / lp_tape_grad (tape.h) */
} lp_train_info;

/* A non-LP_OK return stops training with that status (the message is the hook's). */
typedef struct lp_train_hook {
    lp_status (*fn)(void *user, lp_train_event ev, const lp_train_info *info);
    void *user;
} lp_train_hook;

typedef struct lp_train_result {
    int64_t epochs_run, steps;  /* by this call */
    double last_loss;           /* mean loss of the last epoch */
    bool resumed;               /* started from a checkpoint */
    bool stopped;               /* returned early by stop_after_steps */
} lp_train_result;

/* Trains `g` in place (see above). `hook` and `result` may be NULL. Errors name the node,
 * output, label or file at fault. */
lp_status lp_train_run(lp_graph *g, const lp_train_options *o, lowp_dataloader *data,
                       const lp_train_hook *hook, lp_train_result *result);

/* ---- checkpoints (checkpoint.c) ---- */

typedef struct lp_train_position {
    int64_t epoch, iteration, step;  /* the next batch to run */
} lp_train_position;

/* Writes every float constant of g (parameters, running statistics) and the optimizer state
 * to `path` atomically; `fingerprint` identifies the options it is valid for. */
lp_status lp_checkpoint_save(const char *path, const lp_graph *g, const lp_tape *t, const lp_optim_state *s,
                             const lp_train_position *pos, uint64_t fingerprint);
/* Restores what lp_checkpoint_save wrote; fails naming the file when it belongs to another
 * graph (a tensor missing or of another size) or to other options. */
lp_status lp_checkpoint_load(const char *path, lp_graph *g, const lp_tape *t, lp_optim_state *s,
                             lp_train_position *pos, uint64_t fingerprint);

#endif
