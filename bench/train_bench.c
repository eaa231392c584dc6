/* train_bench.c — lowp's side of bench/train_bench.sh: a training step (forward through the
 * tape, cross entropy, backward, SGD with momentum) of a model at a batch size, timed per step.
 * usage: train_bench MODEL.onnx [BATCH [WARMUP [ITERS]]]; prints one JSON line like
 * train_torch.py's. Random inputs and labels (the time does not depend on the values).
 * TRAIN_BENCH_PROFILE=1: also a table on stderr of each node's forward and backward time per
 * timed step (the tape's profile), to see where a step's time goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onnx/model.h"
#include "train/loss.h"
#include "train/optim.h"
#include "train/tape.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + 1e-6 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: train_bench MODEL.onnx [BATCH [WARMUP [ITERS]]]\n");
        return 1;
    }
    int batch = argc > 2 ? atoi(argv[2]) : 64, warmup = argc > 3 ? atoi(argv[3]) : 3;
    int iters = argc > 4 ? atoi(argv[4]) : 20;
    if (batch < 1 || warmup < 0 || iters < 1 || iters > 10000) {
        fprintf(stderr, "train_bench: bad batch, warmup or iters\n");
        return 1;
    }
    lowp_model *m = NULL;
    lp_tape *t = NULL;
    const char *prof = getenv("TRAIN_BENCH_PROFILE");
    lp_tape_options to = { .profile = prof && strcmp(prof, "0") != 0 };
    if (lowp_model_load(argv[1], &m) != LOWP_OK || lp_tape_create(m->graph, &to, &t) != LOWP_OK) {
        fprintf(stderr, "train_bench: %s\n", lowp_last_error());
        return 2;
    }
    lp_graph *g = m->graph;
    const lp_value *in = &g->values[g->inputs[0]];
    int64_t dims[LP_MAX_DIMS];
    for (int k = 0; k < in->shape.ndim; k++)
        dims[k] = k == 0 ? batch : in->shape.d[k];
    lp_tensor *x = NULL, *labels = NULL, *dy = NULL;
    int64_t nb = batch;
    uint64_t rng = 1;
    if (lp_tensor_new(LP_F32, in->shape.ndim, dims, &x) != LOWP_OK || lp_tensor_new(LP_I64, 1, &nb, &labels) != LOWP_OK)
        return 2;
    for (int64_t i = 0; i < lp_tensor_numel(x); i++)
        ((float *)x->data)[i] = (float)(2 * lowp_random_uniform(&rng) - 1);
    for (int64_t i = 0; i < nb; i++)
        ((int64_t *)labels->data)[i] = (int64_t)(lowp_random_next(&rng) % 10);
    int n = lp_tape_n_params(t);
    lp_tensor **params = calloc((size_t)n, sizeof *params), **grads = calloc((size_t)n, sizeof *grads);
    lp_optim_options oo = lp_optim_options_default();
    oo.lr = 1e-3;
    oo.momentum = 0.9;
    lp_optim_state os;
    lp_optim_state_init(&os, n);
    const lp_loss_def *ce = lp_loss_find("CrossEntropyLoss");
    lp_loss_params lpar = lp_loss_params_default();
    double *ms = calloc((size_t)iters, sizeof *ms);
    double *base = calloc((size_t)(2 * g->n_nodes + 1), sizeof *base); /* the profile after warm-up */
    int out = g->outputs[0];
    for (int it = 0; it < warmup + iters; it++) {
        if (it == warmup)
            for (int ni = 0; ni < g->n_nodes; ni++)
                lp_tape_node_ms(t, ni, &base[2 * ni], &base[2 * ni + 1]);
        double t0 = now_ms(), loss;
        lp_tensor *inputs[1] = { x };
        if (lp_tape_forward(t, inputs, true, (uint64_t)it) != LOWP_OK)
            goto fail;
        const lp_tensor *y = lp_tape_value(t, out);
        lp_tensor_free(dy);
        dy = NULL;
        if (lp_tensor_new(LP_F32, y->ndim, y->dims, &dy) != LOWP_OK || ce->fn(y, labels, NULL, &lpar, &loss, dy) != LOWP_OK)
            goto fail;
        lp_tape_zero_grad(t);
        const lp_tensor *dyc = dy;
        if (lp_tape_backward(t, 1, &out, &dyc) != LOWP_OK)
            goto fail;
        for (int i = 0; i < n; i++) {
            params[i] = g->values[lp_tape_param(t, i)].init;
            grads[i] = lp_tape_grad(t, lp_tape_param(t, i));
        }
        if (lp_optim_step(&oo, &os, oo.lr, params, grads, n) != LOWP_OK)
            goto fail;
        if (it >= warmup)
            ms[it - warmup] = now_ms() - t0;
    }
    if (to.profile) {
        double sf = 0, sb = 0;
        fprintf(stderr, "%-20s %-40s %10s %10s\n", "op", "node", "fwd ms", "bwd ms");
        for (int ni = 0; ni < g->n_nodes; ni++) {
            double f, b;
            lp_tape_node_ms(t, ni, &f, &b);
            f = (f - base[2 * ni]) / iters;
            b = (b - base[2 * ni + 1]) / iters;
            sf += f;
            sb += b;
            fprintf(stderr, "%-20s %-40s %10.3f %10.3f\n", g->nodes[ni].op_type,
                    g->nodes[ni].name ? g->nodes[ni].name : "", f, b);
        }
        fprintf(stderr, "%-20s %-40s %10.3f %10.3f\n", "total", "(per timed step)", sf, sb);
    }
    printf("{\"runtime\": \"lowp\", \"step_ms\": [");
    for (int i = 0; i < iters; i++)
        printf("%s%.3f", i ? ", " : "", ms[i]);
    qsort(ms, (size_t)iters, sizeof *ms, cmp);
    printf("], \"median_ms\": %.3f}\n", iters % 2 ? ms[iters / 2] : 0.5 * (ms[iters / 2 - 1] + ms[iters / 2]));
    int rc = 0;
    goto done;
fail:
    fprintf(stderr, "train_bench: %s\n", lowp_last_error());
    rc = 2;
done:
    lp_optim_state_free(&os);
    lp_tape_free(t);
    lowp_model_free(m);
    lp_tensor_free(x);
    lp_tensor_free(labels);
    lp_tensor_free(dy);
    free(params);
    free(grads);
    free(ms);
    free(base);
    return rc;
}
