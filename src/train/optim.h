/* optim.h — optimizers (SGD with momentum / Nesterov / weight decay, Adam, AdamW), learning-rate
 * schedules (constant, step, cosine, with linear warm-up) and gradient clipping by global norm.
 * Updates are plain loops in a fixed order: the same gradients give the same bits. */
#ifndef LP_TRAIN_OPTIM_H
#define LP_TRAIN_OPTIM_H

#include "base/tensor.h"

typedef enum { LP_OPTIM_SGD, LP_OPTIM_ADAM, LP_OPTIM_ADAMW } lp_optim_kind;
typedef enum { LP_LR_CONSTANT, LP_LR_STEP, LP_LR_COSINE } lp_lr_kind;

typedef struct lp_optim_options {
    lp_optim_kind kind;         /* default SGD */
    double lr;                  /* default 0.01 */
    double momentum;            /* SGD, default 0 */
    bool nesterov;              /* SGD */
    double weight_decay;        /* L2 for SGD and Adam, decoupled for AdamW; default 0 */
    double beta1, beta2, eps;   /* Adam: 0.9, 0.999, 1e-8 */
    lp_lr_kind schedule;        /* default constant */
    int64_t step_size;          /* step: multiply by gamma every step_size epochs (default 1) */
    double gamma;               /* step: default 0.1 */
    double lr_min;              /* cosine: the final rate (default 0) */
    int64_t warmup_steps;       /* linear warm-up from 0 over this many steps (default 0) */
    double clip_norm;           /* > 0: scale gradients down to this global L2 norm */
} lp_optim_options;

lp_optim_options lp_optim_options_default(void);

/* "SGD", "Adam", "AdamW" -> kind; false when unknown. */
bool lp_optim_kind_from_name(const char *name, lp_optim_kind *out);
const char *lp_optim_kind_name(lp_optim_kind k);

/* The learning rate at global step `step` (0-based) of `total` steps, in epoch `epoch`. */
double lp_optim_lr(const lp_optim_options *o, int64_t step, int64_t total, int64_t epoch);

/* Per-parameter state: the momentum / first-moment buffer and Adam's second moment. */
typedef struct lp_optim_state {
    int n;
    lp_tensor **m, **v;         /* n each, allocated on the first step */
    int64_t t;                  /* steps taken */
} lp_optim_state;

lp_status lp_optim_state_init(lp_optim_state *s, int n_params);
void lp_optim_state_free(lp_optim_state *s);

/* The global L2 norm of the gradients (NULL entries skipped). */
double lp_optim_grad_norm(lp_tensor *const *grads, int n);
/* One update of params[i] by grads[i] (NULL: no gradient this step) at learning rate lr. */
lp_status lp_optim_step(const lp_optim_options *o, lp_optim_state *s, double lr, lp_tensor *const *params,
                        lp_tensor *const *grads, int n);

#endif
