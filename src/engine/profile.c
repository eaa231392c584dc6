/* profile.c — per-step timings of a plan's runs (`lowp bench --profile`): recording and the
 * JSON report (medians per step, sorted by time, and a summary per op type). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "engine/engine.h"

#define PROFILE_MAX_BYTES ((size_t)64 << 20) /* of samples, whatever the plan's size */

double lp_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lp_plan_profile_stop(lp_plan *p)
{
    lp_plan_prof *pr = p ? p->prof : NULL;
    if (!pr)
        return;
    free(pr->step_s);
    free(pr->reorder_s);
    free(pr->run_s);
    free(pr->reorders);
    free(pr->primitive);
    free(pr);
    p->prof = NULL;
}

lp_status lp_plan_profile_start(lp_plan *p)
{
    lp_plan_profile_stop(p);
    size_t per_run = ((size_t)p->n_steps * 2 + 1) * sizeof(double);
    size_t cap = PROFILE_MAX_BYTES / per_run;
    cap = cap > LP_PROFILE_MAX_RUNS ? LP_PROFILE_MAX_RUNS : cap < 1 ? 1 : cap;
    lp_plan_prof *pr = calloc(1, sizeof *pr);
    if (!pr)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for the profile");
    size_t ns = (size_t)p->n_steps + 1;
    pr->cap = (int)cap;
    pr->n_steps = p->n_steps;
    pr->step_s = calloc(cap * ns, sizeof *pr->step_s);
    pr->reorder_s = calloc(cap * ns, sizeof *pr->reorder_s);
    pr->run_s = calloc(cap, sizeof *pr->run_s);
    pr->reorders = calloc(ns, sizeof *pr->reorders);
    pr->primitive = calloc(ns, sizeof *pr->primitive);
    p->prof = pr;
    if (!pr->step_s || !pr->reorder_s || !pr->run_s || !pr->reorders || !pr->primitive) {
        lp_plan_profile_stop(p);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for the profile (%zu runs of %d steps)", cap,
                        p->n_steps);
    }
    return LP_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of n samples taken every `stride` from `v` (tmp holds n). */
static double median(const double *v, size_t stride, int n, double *tmp)
{
    for (int i = 0; i < n; i++)
        tmp[i] = v[(size_t)i * stride];
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

typedef struct row {
    int step;
    double ms, reorder_ms;
} row;

static int by_ms_desc(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? 1 : -1;
    return x->step - y->step;
}

/* One line of the per-op summary: steps led by one op type on one kernel/primitive. */
typedef struct op_sum {
    const char *op, *kernel, *primitive;
    int steps, reorders;
    double ms, reorder_ms;
} op_sum;

static int by_sum_desc(const void *a, const void *b)
{
    const op_sum *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? 1 : -1;
    int c = strcmp(x->op, y->op);
    return c ? c : strcmp(x->primitive, y->primitive);
}

static void ops_string(const lp_plan *p, const lp_step *st, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = 0;
    for (int j = 0; j < st->n_nodes && k < size; j++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s", j ? "+" : "", p->g->nodes[st->nodes[j]].op_type);
}

lp_status lp_plan_profile_json(const lp_plan *p, lp_json *j)
{
    const lp_plan_prof *pr = p->prof;
    if (!pr || pr->runs == 0)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "no profiled run recorded");
    int n = pr->runs < pr->cap ? (int)pr->runs : pr->cap, ns = p->n_steps;
    double *tmp = malloc(((size_t)n + 1) * sizeof *tmp);
    row *rows = malloc(((size_t)ns + 1) * sizeof *rows);
    op_sum *sums = calloc((size_t)ns + 1, sizeof *sums);
    if (!tmp || !rows || !sums) {
        free(tmp); free(rows); free(sums);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory writing the profile");
    }
    double run_ms = median(pr->run_s, 1, n, tmp) * 1e3, steps_ms = 0, reorder_ms = 0;
    long reorders = 0;
    for (int s = 0; s < ns; s++) {
        rows[s] = (row){ .step = s, .ms = median(pr->step_s + s, (size_t)ns, n, tmp) * 1e3,
                         .reorder_ms = median(pr->reorder_s + s, (size_t)ns, n, tmp) * 1e3 };
        steps_ms += rows[s].ms;
        reorder_ms += rows[s].reorder_ms;
        reorders += pr->reorders[s];
    }
    free(tmp);
    qsort(rows, (size_t)ns, sizeof *rows, by_ms_desc);
    int n_sums = 0;
    for (int r = 0; r < ns; r++) {
        const lp_step *st = &p->steps[rows[r].step];
        const char *op = p->g->nodes[st->node].op_type, *prim = pr->primitive[rows[r].step];
        prim = prim ? prim : st->kernel->name;
        int k = 0;
        while (k < n_sums && !(strcmp(sums[k].op, op) == 0 && strcmp(sums[k].kernel, st->kernel->name) == 0 &&
                               strcmp(sums[k].primitive, prim) == 0))
            k++;
        if (k == n_sums)
            sums[n_sums++] = (op_sum){ .op = op, .kernel = st->kernel->name, .primitive = prim };
        sums[k].steps++;
        sums[k].ms += rows[r].ms;
        sums[k].reorders += pr->reorders[rows[r].step];
        sums[k].reorder_ms += rows[r].reorder_ms;
    }
    qsort(sums, (size_t)n_sums, sizeof *sums, by_sum_desc);

    lp_json_begin_object(j);
    lp_json_key(j, "runs");
    lp_json_int(j, n);
    lp_json_key(j, "n_steps");
    lp_json_int(j, ns);
    lp_json_key(j, "run_ms");
    lp_json_double(j, run_ms);
    lp_json_key(j, "steps_ms");
    lp_json_double(j, steps_ms);
    lp_json_key(j, "reorders");
    lp_json_int(j, reorders);
    lp_json_key(j, "reorder_ms");
    lp_json_double(j, reorder_ms);
    lp_json_key(j, "steps");
    lp_json_begin_array(j);
    char ops[512], desc[256];
    for (int r = 0; r < ns; r++) {
        const lp_step *st = &p->steps[rows[r].step];
        const char *d = st->kernel->describe ? st->kernel->describe(st->state) : NULL;
        const char *prim = pr->primitive[rows[r].step];
        ops_string(p, st, ops, sizeof ops);
        snprintf(desc, sizeof desc, "%s", d && *d ? d : "");
        lp_json_begin_object(j);
        lp_json_key(j, "step");
        lp_json_int(j, rows[r].step);
        lp_json_key(j, "ms");
        lp_json_double(j, rows[r].ms);
        lp_json_key(j, "share");
        lp_json_double(j, run_ms > 0 ? rows[r].ms / run_ms : 0);
        lp_json_key(j, "kernel");
        lp_json_string(j, st->kernel->name);
        lp_json_key(j, "primitive");
        lp_json_string(j, prim ? prim : st->kernel->name);
        lp_json_key(j, "impl");
        lp_json_string(j, desc);
        lp_json_key(j, "reorders");
        lp_json_int(j, pr->reorders[rows[r].step]);
        lp_json_key(j, "reorder_ms");
        lp_json_double(j, rows[r].reorder_ms);
        lp_json_key(j, "ops");
        lp_json_string(j, ops);
        lp_json_key(j, "nodes");
        lp_json_begin_array_flat(j);
        for (int k = 0; k < st->n_nodes; k++)
            lp_json_string(j, p->g->nodes[st->nodes[k]].name);
        lp_json_end_array(j);
        lp_json_end_object(j);
    }
    lp_json_end_array(j);
    lp_json_key(j, "by_op");
    lp_json_begin_array(j);
    for (int k = 0; k < n_sums; k++) {
        lp_json_begin_object(j);
        lp_json_key(j, "op");
        lp_json_string(j, sums[k].op);
        lp_json_key(j, "kernel");
        lp_json_string(j, sums[k].kernel);
        lp_json_key(j, "primitive");
        lp_json_string(j, sums[k].primitive);
        lp_json_key(j, "steps");
        lp_json_int(j, sums[k].steps);
        lp_json_key(j, "ms");
        lp_json_double(j, sums[k].ms);
        lp_json_key(j, "share");
        lp_json_double(j, run_ms > 0 ? sums[k].ms / run_ms : 0);
        lp_json_key(j, "reorders");
        lp_json_int(j, sums[k].reorders);
        lp_json_key(j, "reorder_ms");
        lp_json_double(j, sums[k].reorder_ms);
        lp_json_end_object(j);
    }
    lp_json_end_array(j);
    lp_json_end_object(j);
    free(rows);
    free(sums);
    return LP_OK;
}
