/* loss.h — training criteria: one table of loss functions over a model output (named by
 * LPOT's criterion keys). Each returns the loss and its gradient with respect to the output;
 * each row has a finite-difference case in tests/test_train_grad.c. */
#ifndef LP_TRAIN_LOSS_H
#define LP_TRAIN_LOSS_H

#include "base/tensor.h"

typedef struct lp_loss_params {
    bool sum;                   /* reduction: sum (default: mean over the samples) */
    double temperature;         /* KnowledgeDistillationLoss (default 1) */
    double ce_weight, kd_weight;/* KnowledgeDistillationLoss: weights of the label term and the
                                   teacher term (default 0.5, 0.5) */
} lp_loss_params;

lp_loss_params lp_loss_params_default(void);

typedef struct lp_loss_def {
    const char *name;           /* "CrossEntropyLoss" */
    bool needs_labels;          /* reads the batch's first label */
    bool needs_teacher;         /* reads the FP32 teacher's output */
    /* y: the model output; labels / teacher as the row needs (else NULL); dy: zeroed, y's shape.
     * Fails naming the sample on a label outside the classes or a shape mismatch. */
    lp_status (*fn)(const lp_tensor *y, const lp_tensor *labels, const lp_tensor *teacher,
                    const lp_loss_params *p, double *loss, lp_tensor *dy);
} lp_loss_def;

/* The row named `name` (case-sensitive, LPOT's spelling), or NULL. */
const lp_loss_def *lp_loss_find(const char *name);
int lp_loss_count(void);
const lp_loss_def *lp_loss_at(int i);
/* "CrossEntropyLoss, NLLLoss, ..." for messages. */
const char *lp_loss_names(void);

#endif
