/* test_train_run.c — lp_train_run end to end on Fashion-MNIST: a small model trained from a
 * random start learns (loss and accuracy), runs are bit-identical for a seed, a run killed
 * mid-epoch and resumed from its workspace ends with the same weights as one that was not,
 * the optimizers follow their update rules, a mask hook (pruning's use) holds, a learned zero
 * point finds its data's range, and QAT's prepare/export round-trip. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "fm_data.h"
#include "graph_builder.h"
#include "onnx/model.h"
#include "train/qat.h"
#include "train/train.h"
#include "train_test.h"

static uint64_t rng = 7;

/* A random tensor: uniform in [-a, a). */
static lp_tensor *init(int nd, const int64_t *d, double a)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, nd, d, &t));
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)((2 * lowp_random_uniform(&rng) - 1) * a);
    return t;
}

/* input (N,1,28,28) -> Conv 4x(3x3, stride 2) -> Relu -> Flatten -> Gemm(676 -> 10): the same
 * random start for a given seed. */
static gb *small_model(uint64_t seed)
{
    rng = seed;
    gb *b = gb_new(13);
    lp_graph *g = b->g;
    int x;
    CHECK_OK(lp_graph_add_value(g, "input", &x));
    g->values[x].kind = LP_VALUE_INPUT;
    g->values[x].dtype = LP_F32;
    g->values[x].shape.ndim = 4;
    int64_t sym;
    CHECK_OK(lp_graph_sym(g, "batch", &sym));
    int64_t in_d[4] = { sym, 1, 28, 28 };
    memcpy(g->values[x].shape.d, in_d, sizeof in_d);
    g->inputs[g->n_inputs++] = x;
    int64_t wd[4] = { 4, 1, 3, 3 }, bd[1] = { 4 }, fd[2] = { 10, 4 * 13 * 13 }, fb[1] = { 10 };
    int cin[3] = { x, gb_tensor(b, init(4, wd, 0.5)), gb_tensor(b, init(1, bd, 0.1)) };
    int c = gb_op(b, "Conv", 3, cin);
    int64_t ks[2] = { 3, 3 }, st[2] = { 2, 2 };
    attr_ints(b, "kernel_shape", 2, ks);
    attr_ints(b, "strides", 2, st);
    int r = op1(b, "Relu", c);
    int f = op1(b, "Flatten", r);
    int gin[3] = { f, gb_tensor(b, init(2, fd, 0.05)), gb_tensor(b, init(1, fb, 0.01)) };
    int y = gb_op(b, "Gemm", 3, gin);
    attr_i(b, "transB", 1);
    gb_output(b, y);
    return b;
}

static lp_train_options opts(void)
{
    lp_train_options o = lp_train_options_default();
    o.epochs = 2;
    o.optim.lr = 0.05;
    o.optim.momentum = 0.9;
    o.optim.weight_decay = 1e-4;
    o.seed = 11;
    return o;
}

/* Top-1 of the graph on the first n test samples, by the tape's forward (inference mode). */
static double accuracy(lp_graph *g, int n)
{
    lowp_dataloader *dl = fm_loader(false, 64, n);
    lp_tape *t = NULL;
    CHECK_OK(lp_tape_create(g, NULL, &t));
    lowp_sample b = { 0 };
    int64_t cnt, right = 0, total = 0;
    while (lowp_dataloader_next(dl, &b, &cnt) == LOWP_OK && cnt > 0) {
        CHECK_OK(lp_tape_forward(t, b.inputs, false, 0));
        const lp_tensor *y = lp_tape_value(t, g->outputs[0]);
        for (int64_t i = 0; y && i < cnt; i++) {
            const float *r = (const float *)y->data + i * 10;
            int best = 0;
            for (int k = 1; k < 10; k++)
                best = r[k] > r[best] ? k : best;
            right += best == lp_tensor_get_int(b.labels[0], i);
        }
        total += cnt;
        lowp_sample_clear(&b);
    }
    lp_tape_free(t);
    lowp_dataloader_free(dl);
    return total ? (double)right / (double)total : 0;
}

static bool same_weights(const lp_graph *a, const lp_graph *b)
{
    if (a->n_values != b->n_values)
        return false;
    for (int v = 0; v < a->n_values; v++)
        if (a->values[v].kind == LP_VALUE_CONST && !lp_tensor_equal(a->values[v].init, b->values[v].init))
            return false;
    return true;
}

static void test_learns(void)
{
    gb *b = small_model(1);
    double before = accuracy(b->g, 500);
    lowp_dataloader *dl = fm_loader(true, 32, 1024);
    lp_train_options o = opts();
    o.epochs = 3;
    lp_train_result r;
    CHECK_OK(lp_train_run(b->g, &o, dl, NULL, &r));
    double after = accuracy(b->g, 500);
    printf("  small model, 1024 samples x 3 epochs: loss %.3f, test top-1 %.3f -> %.3f\n", r.last_loss, before, after);
    /* chance is 0.1; this model reaches ~0.75 on 1024 samples; 0.6 leaves room for
     * arithmetic changes while failing any broken gradient */
    CHECK(after > 0.6);
    CHECK(r.last_loss < 1.0);
    CHECK(r.epochs_run == 3 && r.steps == 96);
    lowp_dataloader_free(dl);
    gb_free(b);
}

static void test_deterministic(void)
{
    gb *a = small_model(2), *b = small_model(2);
    lp_train_options o = opts();
    o.optim.kind = LP_OPTIM_ADAM;
    o.optim.lr = 1e-3;
    o.optim.schedule = LP_LR_COSINE;
    lowp_dataloader *d1 = fm_loader(true, 16, 256), *d2 = fm_loader(true, 16, 256);
    CHECK_OK(lp_train_run(a->g, &o, d1, NULL, NULL));
    CHECK_OK(lp_train_run(b->g, &o, d2, NULL, NULL));
    CHECK(same_weights(a->g, b->g));
    lowp_dataloader_free(d1);
    lowp_dataloader_free(d2);
    gb_free(a);
    gb_free(b);
}

static void rm_ws(const char *dir)
{
    char p[256];
    snprintf(p, sizeof p, "%s/train_checkpoint.bin", dir);
    unlink(p);
    rmdir(dir);
}

/* 16 batches per epoch, checkpoints every 7 steps and at each epoch's end (7, 14, 16, 21, 28,
 * 32, 35): killed at step 37, the run resumes from step 35 (epoch 2, batch 3) and must end
 * where the uninterrupted run ends, bit for bit. */
static void test_resume_after_kill(void)
{
    char wa[64], wb[64];
    snprintf(wa, sizeof wa, "/tmp/lowp_train_a.%d", (int)getpid());
    snprintf(wb, sizeof wb, "/tmp/lowp_train_b.%d", (int)getpid());
    rm_ws(wa);
    rm_ws(wb);
    lp_train_options o = opts();
    o.epochs = 3;
    o.optim.schedule = LP_LR_STEP;
    o.checkpoint_every = 7;
    o.optim.nesterov = true;
    lowp_dataloader *dl = fm_loader(true, 32, 512);

    gb *a = small_model(3);
    o.workspace = wa;
    lp_train_result r;
    CHECK_OK(lp_train_run(a->g, &o, dl, NULL, &r));
    CHECK(!r.resumed && r.steps == 48);

    gb *b = small_model(3);
    o.workspace = wb;
    o.stop_after_steps = 37;
    CHECK_OK(lp_train_run(b->g, &o, dl, NULL, &r));
    CHECK(r.stopped && r.steps == 37);
    gb_free(b);
    b = small_model(3); /* the process died: start from the file again */
    o.stop_after_steps = 0;
    CHECK_OK(lp_train_run(b->g, &o, dl, NULL, &r));
    CHECK_MSG(r.resumed && r.steps == 13, "resumed %d, %lld steps", r.resumed, (long long)r.steps);
    CHECK(same_weights(a->g, b->g));

    /* other options: the checkpoint is refused with a message naming it */
    gb *c = small_model(3);
    o.optim.lr = 0.5;
    CHECK(lp_train_run(c->g, &o, dl, NULL, &r) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "train_checkpoint.bin") != NULL);
    gb_free(c);
    gb_free(a);
    gb_free(b);
    lowp_dataloader_free(dl);
    rm_ws(wa);
    rm_ws(wb);
}

/* One parameter, constant gradient g = w (loss w^2/2): the update rules step by step. */
static void test_optimizer_rules(void)
{
    int64_t one = 1;
    for (int kind = 0; kind < 4; kind++) {
        lp_tensor *w = NULL, *g = NULL;
        CHECK_OK(lp_tensor_new(LP_F32, 1, &one, &w));
        CHECK_OK(lp_tensor_new(LP_F32, 1, &one, &g));
        lp_optim_options o = lp_optim_options_default();
        o.kind = kind == 3 ? LP_OPTIM_ADAMW : kind == 2 ? LP_OPTIM_ADAM : LP_OPTIM_SGD;
        o.momentum = 0.9;
        o.nesterov = kind == 1;
        o.weight_decay = 0.1;
        lp_optim_state s;
        CHECK_OK(lp_optim_state_init(&s, 1));
        double W = 1.0, buf = 0, m = 0, v = 0, lr = 0.1;
        ((float *)w->data)[0] = 1.0f;
        for (int t = 1; t <= 3; t++) {
            ((float *)g->data)[0] = ((float *)w->data)[0];
            CHECK_OK(lp_optim_step(&o, &s, lr, &w, &g, 1));
            double gw = W;
            if (kind <= 1) { /* torch.optim.SGD */
                double d = gw + 0.1 * W;
                buf = t == 1 ? d : 0.9 * buf + d;
                W -= lr * (kind == 1 ? d + 0.9 * buf : buf);
            } else { /* torch.optim.Adam / AdamW */
                double d = gw;
                if (kind == 3)
                    W *= 1 - lr * 0.1;
                else
                    d += 0.1 * W;
                m = 0.9 * m + 0.1 * d;
                v = 0.999 * v + 0.001 * d * d;
                W -= lr * (m / (1 - pow(0.9, t))) / (sqrt(v / (1 - pow(0.999, t))) + 1e-8);
            }
            /* float32 storage of w between steps: 1e-6 relative */
            CHECK_NEAR(((float *)w->data)[0], W, 1e-6);
        }
        lp_optim_state_free(&s);
        lp_tensor_free(w);
        lp_tensor_free(g);
    }
    /* schedules */
    lp_optim_options o = lp_optim_options_default();
    o.lr = 1;
    o.schedule = LP_LR_STEP;
    o.step_size = 2;
    o.gamma = 0.5;
    CHECK_NEAR(lp_optim_lr(&o, 0, 10, 3), 0.5, 1e-12);
    o.schedule = LP_LR_COSINE;
    CHECK_NEAR(lp_optim_lr(&o, 5, 10, 0), 0.5, 1e-12);
    CHECK_NEAR(lp_optim_lr(&o, 10, 10, 0), 0.0, 1e-12);
    o.warmup_steps = 4;
    CHECK_NEAR(lp_optim_lr(&o, 0, 10, 0), 0.25 * lp_optim_lr(&(lp_optim_options){ .lr = 1, .schedule = LP_LR_COSINE }, 0, 10, 0), 1e-12);
    /* clipping: a gradient of norm 5 clipped to 1 moves w by lr * g / 5 */
    int64_t two = 2;
    lp_tensor *w = NULL, *g = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, 1, &two, &w));
    CHECK_OK(lp_tensor_new(LP_F32, 1, &two, &g));
    ((float *)g->data)[0] = 3;
    ((float *)g->data)[1] = 4;
    lp_optim_options c = lp_optim_options_default();
    c.clip_norm = 1;
    lp_optim_state s;
    CHECK_OK(lp_optim_state_init(&s, 1));
    CHECK_OK(lp_optim_step(&c, &s, 1.0, &w, &g, 1));
    CHECK_NEAR(((float *)w->data)[0], -0.6, 1e-6);
    CHECK_NEAR(((float *)w->data)[1], -0.8, 1e-6);
    lp_optim_state_free(&s);
    lp_tensor_free(w);
    lp_tensor_free(g);
}

/* A pruning-style hook: zero every other weight of the Gemm after each step. */
typedef struct mask_state {
    int value;
    int calls[5];
} mask_state;

static lp_status mask_hook(void *user, lp_train_event ev, const lp_train_info *info)
{
    mask_state *m = user;
    m->calls[ev]++;
    if (ev == LP_TRAIN_AFTER_BACKWARD || ev == LP_TRAIN_AFTER_STEP) {
        /* gradients masked too, so momentum does not push pruned weights back */
        lp_tensor *t = ev == LP_TRAIN_AFTER_STEP ? info->graph->values[m->value].init : lp_tape_grad(info->tape, m->value);
        for (int64_t i = 0; t && i < lp_tensor_numel(t); i += 2)
            ((float *)t->data)[i] = 0;
    }
    return LOWP_OK;
}

static void test_mask_hook(void)
{
    gb *b = small_model(4);
    mask_state m = { .value = -1 };
    for (int v = 0; v < b->g->n_values; v++)
        if (b->g->values[v].kind == LP_VALUE_CONST && b->g->values[v].init->ndim == 2)
            m.value = v;
    lp_train_hook h = { mask_hook, &m };
    lowp_dataloader *dl = fm_loader(true, 32, 256);
    lp_train_options o = opts();
    lp_train_result r;
    CHECK_OK(lp_train_run(b->g, &o, dl, &h, &r));
    const lp_tensor *w = b->g->values[m.value].init;
    int zeros = 0;
    for (int64_t i = 0; i < lp_tensor_numel(w); i += 2)
        zeros += ((float *)w->data)[i] == 0;
    CHECK(zeros == (lp_tensor_numel(w) + 1) / 2);
    CHECK(m.calls[LP_TRAIN_BEGIN] == 1 && m.calls[LP_TRAIN_EPOCH_BEGIN] == 2 && m.calls[LP_TRAIN_EPOCH_END] == 2);
    CHECK(m.calls[LP_TRAIN_AFTER_STEP] == 16 && m.calls[LP_TRAIN_AFTER_BACKWARD] == 16);
    CHECK(r.last_loss < 2.0);
    lowp_dataloader_free(dl);
    gb_free(b);
}

/* A learning rate that makes training diverge stops it with an error that names the cause,
 * before the optimizer writes NaN or infinity into the weights. */
static void test_divergence_stops(void)
{
    gb *b = small_model(6);
    lowp_dataloader *dl = fm_loader(true, 32, 256);
    lp_train_options o = opts();
    o.optim.lr = 1e30; /* the first step's weights reach ~1e30: the next logits overflow float */
    o.optim.momentum = 0;
    o.optim.weight_decay = 0;
    lowp_status st = lp_train_run(b->g, &o, dl, NULL, NULL);
    CHECK(st == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "diverged") && strstr(lowp_last_error(), "epoch 0"));
    bool finite = true;
    for (int v = 0; v < b->g->n_values; v++) {
        const lp_tensor *t = b->g->values[v].kind == LP_VALUE_CONST ? b->g->values[v].init : NULL;
        for (int64_t i = 0; t && t->dtype == LP_F32 && i < lp_tensor_numel(t); i++)
            finite = finite && isfinite(((const float *)t->data)[i]);
    }
    CHECK(finite); /* the diverged step was not applied */
    lowp_dataloader_free(dl);
    gb_free(b);
}

static void test_bad_options(void)
{
    gb *b = small_model(5);
    lowp_dataloader *dl = fm_loader(true, 32, 64);
    lp_train_options o = opts();
    o.criterion = "HingeLoss";
    CHECK(lp_train_run(b->g, &o, dl, NULL, NULL) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "HingeLoss") && strstr(lowp_last_error(), "CrossEntropyLoss"));
    o = opts();
    o.output = "nope";
    CHECK(lp_train_run(b->g, &o, dl, NULL, NULL) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "nope") != NULL);
    o = opts();
    o.criterion = "KnowledgeDistillationLoss";
    CHECK(lp_train_run(b->g, &o, dl, NULL, NULL) == LOWP_ERR_INVALID_ARGUMENT);
    lowp_dataloader_free(dl);
    gb_free(b);
}

/* Every live node's outputs have a dtype: the pass that built g ended with lp_graph_finish's
 * inference, as the quantizers' passes do (the values QAT adds are typed, not left unknown). */
static bool all_typed(const lp_graph *g)
{
    for (int i = 0; g && i < g->n_nodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].n_out; k++)
            if (g->nodes[i].out[k] >= 0 && g->values[g->nodes[i].out[k]].dtype == LOWP_UNDEFINED)
                return false;
    return g != NULL;
}

static void qat_roundtrip(bool learn_zero_point)
{
    lowp_model *m = mlp();
    lowp_dataloader *calib = fm_loader(true, 32, 64), *data = fm_loader(true, 32, 64);
    lp_recipe *r = NULL;
    CHECK_OK(lp_recipe_new(&r));
    lp_train_options o = opts();
    o.epochs = 0;
    o.learn_zero_point = learn_zero_point;
    lp_graph *ptq = NULL, *qat = NULL;
    lp_train_result res;
    CHECK_OK(lp_qat_run(m->graph, r, calib, 64, 8, data, &o, &res, &ptq, &qat));
    lp_graph *train = NULL;
    if (ptq)
        CHECK_OK(lp_qat_prepare(ptq, NULL, 8, &train));
    CHECK(all_typed(train) && all_typed(qat));
    if (train && learn_zero_point) {
        int n_zp = 0;
        CHECK_OK(lp_qat_learn_zero_points(train, &n_zp));
        CHECK_MSG(n_zp > 0, "no activation zero point became learnable");
    }
    lowp_dataloader *dl = fm_loader(false, 16, 16);
    lowp_sample b = { 0 };
    int64_t n;
    CHECK_OK(lowp_dataloader_next(dl, &b, &n));
    lp_graph *gs[3] = { ptq, qat, train };
    lp_tensor *y[3] = { NULL };
    int qnodes = 0;
    for (int k = 0; k < 3 && gs[k]; k++) {
        lp_tape *t = NULL;
        CHECK_OK(lp_tape_create(gs[k], NULL, &t));
        CHECK_OK(lp_tape_forward(t, b.inputs, false, 0));
        const lp_tensor *out = lp_tape_value(t, gs[k]->outputs[0]);
        if (out)
            CHECK_OK(lp_tensor_clone(out, &y[k]));
        lp_tape_free(t);
    }
    for (int i = 0; qat && i < qat->n_nodes; i++)
        qnodes += !strcmp(qat->nodes[i].op_type, "QuantizeLinear");
    CHECK(y[0] && y[1] && y[2]);
    CHECK(y[0] && y[1] && lp_tensor_equal(y[0], y[1]));
    CHECK(y[0] && y[2] && lp_tensor_equal(y[0], y[2]));
    CHECK(ptq && qat && ptq->n_nodes == qat->n_nodes && qnodes > 0);
    for (int k = 0; k < 3; k++)
        lp_tensor_free(y[k]);
    lowp_sample_clear(&b);
    lowp_dataloader_free(dl);
    lp_graph_free(train);
    lp_graph_free(ptq);
    lp_graph_free(qat);
    lp_recipe_free(r);
    lowp_dataloader_free(calib);
    lowp_dataloader_free(data);
    lowp_model_free(m);
}

/* QAT's prepare and export undo each other: with no training step, the exported model is the
 * PTQ model (same int8 weights, same int32 biases), so its outputs are the same bits; and the
 * fake-quantized training graph computes the PTQ model's outputs (the reference forward) --
 * also with learned zero points (their offsets round back to the PTQ zero points). */
static void test_qat_roundtrip(void)
{
    qat_roundtrip(false);
    qat_roundtrip(true);
}

/* A learned zero point finds the range of its data: x uniform in [-1, 1.5) through a uint8
 * Q -> DQ pair with s = 2.5 / 255, whose zero point 102 covers it exactly, started 10 steps off
 * (112: the top 4 % clip) as lp_qat_learn_zero_points lays it out (z = Q(b, s, 0)), trained by
 * Adam on the reconstruction error mean (y - x)^2: the straight-through gradient of b is
 * -sum over the clipped elements of dL/dy, which pushes z down until nothing clips at either end. */
static void test_zero_point_learns(void)
{
    gb *b = gb_new(13);
    int64_t n = 512;
    float s = 2.5f / 255;
    lp_tensor *x = init(1, &n, 1.0);
    int xv = gb_feed(b, x), sv = gb_scalar(b, LP_F32, s), bv = gb_scalar(b, LP_F32, 112 * s);
    int y = train_test_learned_qdq(b, xv, sv, bv, LP_U8);
    gb_output(b, y);
    lp_tape *t = NULL;
    CHECK_OK(lp_tape_create(b->g, NULL, &t));
    lp_optim_options oo = lp_optim_options_default();
    oo.kind = LP_OPTIM_ADAM;
    oo.lr = 2e-3; /* b moves ~lr per step: the 10 steps of s (0.098) take ~50 of the 200 */
    lp_optim_state os;
    CHECK_OK(lp_optim_state_init(&os, 1));
    lp_tensor *dy = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, 1, &n, &dy));
    lp_tensor *param = b->g->values[bv].init;
    for (int step = 0; t && step < 200; step++) {
        for (int64_t i = 0; i < n; i++)
            ((float *)x->data)[i] = (float)(-1 + 2.5 * lowp_random_uniform(&rng));
        CHECK_OK(lp_tape_forward(t, b->feed, true, 1));
        const lp_tensor *yt = lp_tape_value(t, y);
        for (int64_t i = 0; yt && i < n; i++)
            ((float *)dy->data)[i] = 2 * (((const float *)yt->data)[i] - ((float *)x->data)[i]) / (float)n;
        const lp_tensor *dyc = dy;
        lp_tape_zero_grad(t);
        CHECK_OK(lp_tape_backward(t, 1, &y, &dyc));
        lp_tensor *g = lp_tape_grad(t, bv);
        CHECK(g != NULL);
        if (!g)
            break;
        CHECK_OK(lp_optim_step(&oo, &os, oo.lr, &param, &g, 1));
    }
    double z = nearbyint(((float *)param->data)[0] / s);
    /* Adam's steps of 2e-3 (a fifth of s) keep b within a step of the optimum's rounding */
    CHECK_MSG(z >= 101 && z <= 103, "zero point %g after training, expected 102 +- 1 (started at 112)", z);
    lp_tensor_free(dy);
    lp_optim_state_free(&os);
    lp_tape_free(t);
    gb_free(b);
}

int main(void)
{
    RUN(test_learns);
    RUN(test_deterministic);
    RUN(test_resume_after_kill);
    RUN(test_optimizer_rules);
    RUN(test_mask_hook);
    RUN(test_bad_options);
    RUN(test_divergence_stops);
    RUN(test_zero_point_learns);
    RUN(test_qat_roundtrip);
    return TEST_SUMMARY("test_train_run");
}
