/* trainer.c — lp_train_run: epochs of forward, loss, backward and optimizer steps over a
 * dataloader, with hooks, checkpoints and resume (train.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/outfile.h"
#include "data/data.h"
#include "train/train.h"

lp_train_options lp_train_options_default(void)
{
    return (lp_train_options){ .epochs = 1, .optim = lp_optim_options_default(), .criterion = "CrossEntropyLoss",
                               .loss = lp_loss_params_default(), .seed = 1978, .resume = true };
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FNV-1a over what a checkpoint's validity depends on. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fingerprint(const lp_graph *g, const lp_tape *t, const lp_train_options *o)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < lp_tape_n_params(t); i++) {
        const lp_value *v = &g->values[lp_tape_param(t, i)];
        h = fnv(h, v->name, strlen(v->name));
        int64_t n = lp_tensor_numel(v->init);
        h = fnv(h, &n, sizeof n);
    }
    const lp_optim_options *p = &o->optim;
    double d[] = { p->lr, p->momentum, p->weight_decay, p->beta1, p->beta2, p->eps, p->gamma, p->lr_min,
                   p->clip_norm, o->loss.temperature, o->loss.ce_weight, o->loss.kd_weight };
    int64_t i[] = { p->kind, p->nesterov, p->schedule, p->step_size, p->warmup_steps, o->start_epoch, o->epochs,
                    o->iterations, (int64_t)o->seed, o->learn_scale, o->loss.sum };
    h = fnv(h, d, sizeof d);
    h = fnv(h, i, sizeof i);
    return fnv(h, o->criterion, strlen(o->criterion));
}

static lp_status make_dir(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return lp_error(LOWP_ERR_IO, "%s: cannot create the workspace folder: %s", dir, strerror(errno));
    return LP_OK;
}

typedef struct trainer {
    lp_graph *g;
    const lp_train_options *o;
    const lp_loss_def *loss;
    lp_tape *tape, *teacher;
    int out_v, teacher_out_v;
    int n_feed;                 /* graph inputs that are not constants */
    lp_tensor **params, **grads;
    lp_optim_state opt;
    char *ckpt;
    uint64_t fp;
    const lp_train_hook *hook;
    lp_train_info info;
} trainer;

static lp_status call_hook(trainer *tr, lp_train_event ev)
{
    if (!tr->hook || !tr->hook->fn)
        return LP_OK;
    return tr->hook->fn(tr->hook->user, ev, &tr->info);
}

static int find_output(const lp_graph *g, const char *name)
{
    if (!name)
        return g->n_outputs ? g->outputs[0] : -1;
    for (int i = 0; i < g->n_outputs; i++)
        if (!strcmp(g->values[g->outputs[i]].name, name))
            return g->outputs[i];
    return -1;
}

/* Index of the first NaN or infinite element of float tensor t, or -1 (also for no tensor). */
static int64_t first_nonfinite(const lp_tensor *t)
{
    if (!t || t->dtype != LP_F32)
        return -1;
    const float *d = t->data;
    int64_t n = lp_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(d[i]))
            return i;
    return -1;
}

/* A diverged step (a loss or a gradient that is NaN or infinite) stops training before the
 * optimizer writes it into the weights: the model and the last checkpoint stay usable. */
static lp_status check_finite(const trainer *tr, double loss, int n)
{
    static const char hint[] = "training diverged; lower the learning rate or clip the gradients (lowp train --clip N)";
    if (!isfinite(loss))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "the loss is %g: %s", loss, hint);
    for (int i = 0; i < n; i++) {
        int64_t at = first_nonfinite(tr->grads[i]);
        if (at >= 0) {
            const lp_value *v = &tr->g->values[lp_tape_param(tr->tape, i)];
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "the gradient of '%s' is %g at element %lld: %s",
                            v->name ? v->name : "(unnamed)", (double)((const float *)tr->grads[i]->data)[at],
                            (long long)at, hint);
        }
    }
    return LP_OK;
}

/* One batch: forward, loss, backward, finiteness check, hooks, optimizer step. */
static lp_status train_batch(trainer *tr, lowp_sample *batch, double *loss_out)
{
    lp_graph *g = tr->g;
    const lp_train_options *o = tr->o;
    if (batch->n_inputs < tr->n_feed)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "training data: a batch with %d inputs, the model has %d",
                        batch->n_inputs, tr->n_feed);
    if (tr->loss->needs_labels && batch->n_labels < 1 && !(tr->loss->needs_teacher))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "training data: %s needs labels and the batch has none",
                        tr->loss->name);
    lp_tensor *inputs[LOWP_SAMPLE_MAX_TENSORS] = { NULL };
    for (int i = 0, k = 0; i < g->n_inputs && i < LOWP_SAMPLE_MAX_TENSORS; i++)
        if (g->values[g->inputs[i]].kind != LP_VALUE_CONST)
            inputs[i] = batch->inputs[k++];
    uint64_t seed = o->seed ^ ((uint64_t)(tr->info.step + 1) * 0xD1B54A32D192ED03ull);
    LP_TRY(lp_tape_forward(tr->tape, inputs, true, seed));
    const lp_tensor *y = lp_tape_value(tr->tape, tr->out_v), *ty = NULL;
    if (tr->teacher) {
        LP_TRY(lp_tape_forward(tr->teacher, inputs, false, 0));
        ty = lp_tape_value(tr->teacher, tr->teacher_out_v);
    }
    lp_tensor *dy = NULL;
    LP_TRY(lp_tensor_new(LP_F32, y->ndim, y->dims, &dy));
    double loss = 0;
    lp_status st = tr->loss->fn(y, batch->n_labels ? batch->labels[0] : NULL, ty, &o->loss, &loss, dy);
    if (st == LP_OK) {
        lp_tape_zero_grad(tr->tape);
        const lp_tensor *dyc = dy;
        st = lp_tape_backward(tr->tape, 1, &tr->out_v, &dyc);
    }
    lp_tensor_free(dy);
    LP_TRY(st);
    tr->info.loss = loss;
    int n = lp_tape_n_params(tr->tape);
    for (int i = 0; i < n; i++) {
        int v = lp_tape_param(tr->tape, i);
        tr->params[i] = g->values[v].init;
        tr->grads[i] = lp_tape_grad(tr->tape, v);
    }
    LP_TRY(check_finite(tr, loss, n));
    LP_TRY(call_hook(tr, LP_TRAIN_AFTER_BACKWARD));
    LP_TRY(lp_optim_step(&o->optim, &tr->opt, tr->info.lr, tr->params, tr->grads, n));
    LP_TRY(call_hook(tr, LP_TRAIN_AFTER_STEP));
    *loss_out = loss;
    return LP_OK;
}

static lp_status save(trainer *tr, int64_t epoch, int64_t iteration)
{
    if (!tr->ckpt)
        return LP_OK;
    lp_train_position pos = { epoch, iteration, tr->info.step };
    return lp_checkpoint_save(tr->ckpt, tr->g, tr->tape, &tr->opt, &pos, tr->fp);
}

static lp_status run(trainer *tr, lowp_dataloader *dl, lp_train_result *res)
{
    const lp_train_options *o = tr->o;
    lp_train_position pos = { o->start_epoch, 0, 0 };
    if (tr->ckpt && o->resume) {
        struct stat sb;
        if (stat(tr->ckpt, &sb) == 0) {
            LP_TRY(lp_checkpoint_load(tr->ckpt, tr->g, tr->tape, &tr->opt, &pos, tr->fp));
            res->resumed = true;
            if (o->progress)
                fprintf(stderr, "lowp train: resuming from %s at epoch %lld, batch %lld (step %lld)\n", tr->ckpt,
                        (long long)pos.epoch, (long long)pos.iteration, (long long)pos.step);
        }
    }
    int64_t per_epoch = lp_dataloader_batches(dl);
    if (o->iterations > 0 && (per_epoch == 0 || o->iterations < per_epoch))
        per_epoch = o->iterations;
    int64_t total = per_epoch * o->epochs, end = o->start_epoch + o->epochs, run_steps = 0;
    tr->info.step = pos.step;
    tr->info.epoch = pos.epoch;
    LP_TRY(call_hook(tr, LP_TRAIN_BEGIN));
    for (int64_t ep = pos.epoch; ep < end; ep++) {
        double t0 = now_s(), sum = 0;
        int64_t it = ep == pos.epoch ? pos.iteration : 0, counted = 0;
        tr->info.epoch = ep;
        tr->info.iteration = it;
        lp_dataloader_reseed(dl, o->seed + (uint64_t)ep);
        LP_TRY(call_hook(tr, LP_TRAIN_EPOCH_BEGIN));
        lowp_sample batch = { 0 };
        for (int64_t k = 0; k < it; k++) { /* resume mid-epoch: the same order, skipped */
            int64_t cnt = 0;
            LP_TRY(lowp_dataloader_next(dl, &batch, &cnt));
            lowp_sample_clear(&batch);
        }
        for (;;) {
            if (o->iterations > 0 && it >= o->iterations)
                break;
            int64_t cnt = 0;
            LP_TRY(lowp_dataloader_next(dl, &batch, &cnt));
            if (cnt == 0)
                break;
            tr->info.iteration = it;
            tr->info.lr = lp_optim_lr(&o->optim, tr->info.step, total, ep - o->start_epoch);
            double loss = 0;
            lp_status st = train_batch(tr, &batch, &loss);
            lowp_sample_clear(&batch);
            if (st != LP_OK)
                return lp_error_prefix(st, "epoch %lld, batch %lld", (long long)ep, (long long)it);
            sum += loss;
            counted++;
            it++;
            tr->info.step++;
            run_steps++;
            res->steps = run_steps;
            if (o->checkpoint_every > 0 && tr->info.step % o->checkpoint_every == 0)
                LP_TRY(save(tr, ep, it));
            if (o->stop_after_steps > 0 && run_steps >= o->stop_after_steps) {
                res->stopped = true; /* like a kill: what came after the last checkpoint is lost */
                return LP_OK;
            }
        }
        tr->info.loss = counted ? sum / (double)counted : 0;
        res->last_loss = tr->info.loss;
        res->epochs_run++;
        LP_TRY(call_hook(tr, LP_TRAIN_EPOCH_END));
        LP_TRY(save(tr, ep + 1, 0));
        if (o->progress)
            fprintf(stderr, "lowp train: epoch %lld/%lld: loss %.4f, lr %.4g, %lld batches, %.1f s\n",
                    (long long)(ep + 1), (long long)end, tr->info.loss, tr->info.lr, (long long)counted,
                    now_s() - t0);
    }
    return LP_OK;
}

lp_status lp_train_run(lp_graph *g, const lp_train_options *opts, lowp_dataloader *dl, const lp_train_hook *hook,
                       lp_train_result *result)
{
    lp_train_result dummy;
    lp_train_result *res = result ? result : &dummy;
    memset(res, 0, sizeof *res);
    if (!g || !opts || !dl)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lp_train_run: NULL graph, options or data");
    trainer tr = { .g = g, .o = opts, .hook = hook };
    tr.info.graph = g;
    tr.loss = lp_loss_find(opts->criterion);
    if (!tr.loss)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "criterion '%s' is not known; lowp has %s",
                        opts->criterion ? opts->criterion : "(none)", lp_loss_names());
    if (tr.loss->needs_teacher && !opts->teacher)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s needs the FP32 teacher model", tr.loss->name);
    if (opts->epochs < 0 || opts->start_epoch < 0)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "epochs and start_epoch must not be negative");
    tr.out_v = find_output(g, opts->output);
    if (tr.out_v < 0)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "the model has no output named '%s'",
                        opts->output ? opts->output : "(first)");
    for (int i = 0; i < g->n_inputs; i++)
        tr.n_feed += g->values[g->inputs[i]].kind != LP_VALUE_CONST;
    if (tr.n_feed > LOWP_SAMPLE_MAX_TENSORS)
        return lp_error(LOWP_ERR_UNSUPPORTED, "the model has %d inputs; training feeds at most %d", tr.n_feed,
                        LOWP_SAMPLE_MAX_TENSORS);
    lp_tape_options to = { .learn_scale = opts->learn_scale };
    lp_status st = lp_tape_create(g, &to, &tr.tape);
    if (st == LP_OK && opts->teacher) {
        st = lp_tape_create(opts->teacher, NULL, &tr.teacher);
        tr.teacher_out_v = st == LP_OK ? find_output(opts->teacher, opts->output) : -1;
        if (st == LP_OK && tr.teacher_out_v < 0)
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "the teacher model has no output named '%s'",
                          opts->output ? opts->output : "(first)");
    }
    int n = st == LP_OK ? lp_tape_n_params(tr.tape) : 0;
    if (st == LP_OK && n == 0)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "the model has no trainable parameters (no float weights)");
    if (st == LP_OK) {
        tr.params = calloc((size_t)n, sizeof *tr.params);
        tr.grads = calloc((size_t)n, sizeof *tr.grads);
        if (!tr.params || !tr.grads)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == LP_OK)
        st = lp_optim_state_init(&tr.opt, n);
    tr.info.tape = tr.tape;
    if (st == LP_OK && opts->workspace) {
        st = make_dir(opts->workspace);
        if (st == LP_OK)
            st = lp_path_join(opts->workspace, "train_checkpoint.bin", &tr.ckpt);
        tr.fp = fingerprint(g, tr.tape, opts);
    }
    if (st == LP_OK)
        st = run(&tr, dl, res);
    free(tr.ckpt);
    free(tr.params);
    free(tr.grads);
    lp_optim_state_free(&tr.opt);
    lp_tape_free(tr.tape);
    lp_tape_free(tr.teacher);
    return st;
}
