/* test_profile.c — the engine's per-step profile (lowp_session_profile): what it records per
 * run and how that relates to the run's measured total. Timings are only checked against
 * each other (a step is part of its run), never against a target. The JSON's structure is
 * checked by tests/bench.sh (`lowp bench --profile --json`). */
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"
#include "lowp.h"
#include "test.h"

#define RUNS 15

static lowp_session *open_session(const char *path, lowp_model **m, lowp_tensor **x)
{
    lowp_session *s = NULL;
    CHECK_OK(lowp_model_load(path, m));
    if (!*m)
        return NULL;
    CHECK_OK(lowp_session_create(*m, NULL, &s));
    int64_t dims[4] = { 4, 1, 28, 28 };
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 4, dims, NULL, x));
    float *d = lowp_tensor_data(*x);
    for (int i = 0; i < 4 * 28 * 28; i++)
        d[i] = (float)((i * 37) % 101) / 50.f - 1.f;
    return s;
}

static void run_n(lowp_session *s, lowp_model *m, const lowp_tensor *x, int n)
{
    const char *name = lowp_model_input_name(m, 0);
    for (int i = 0; i < n; i++) {
        lowp_tensor *y = NULL;
        CHECK_OK(lowp_session_run(s, 1, &name, &x, 1, &y));
        lowp_tensor_free(y);
    }
}

/* The plan the session ran last (the only one here). */
static lp_plan *the_plan(lowp_session *s)
{
    CHECK(s->n_plans == 1);
    return s->n_plans ? s->plans[0] : NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Per run, the steps are disjoint intervals inside the run's interval on one monotonic clock,
 * so their sum cannot exceed the run (1 ns: each difference is rounded once). What is left
 * is the loop and two clock reads per step (tens of ns each through the vDSO): the median
 * over runs of that gap must stay under 1 µs per step plus 20 µs — ten times what it costs,
 * and the median ignores the odd run preempted between two steps on a loaded machine. */
static void check_runs(const lp_plan *p, int expect_runs)
{
    const lp_plan_prof *pr = p->prof;
    CHECK(pr != NULL);
    if (!pr)
        return;
    CHECK_MSG(pr->runs == expect_runs, "%ld runs recorded, %d made", pr->runs, expect_runs);
    CHECK(pr->n_steps == p->n_steps);
    int n = pr->runs < pr->cap ? (int)pr->runs : pr->cap;
    double gaps[RUNS * 4];
    for (int r = 0; r < n && r < RUNS * 4; r++) {
        double sum = 0;
        for (int s = 0; s < p->n_steps; s++) {
            double t = pr->step_s[(size_t)r * (size_t)p->n_steps + (size_t)s];
            double ro = pr->reorder_s[(size_t)r * (size_t)p->n_steps + (size_t)s];
            CHECK_MSG(t >= 0 && ro >= 0 && ro <= t + 1e-9, "step %d: %g s, reorders %g s", s, t, ro);
            sum += t;
        }
        CHECK_MSG(sum <= pr->run_s[r] + 1e-9, "run %d: steps %g s > run %g s", r, sum, pr->run_s[r]);
        gaps[r] = pr->run_s[r] - sum;
    }
    qsort(gaps, (size_t)n, sizeof *gaps, cmp_double);
    double bound = p->n_steps * 1e-6 + 20e-6;
    CHECK_MSG(gaps[n / 2] <= bound, "median gap %g s over %d steps (bound %g s)", gaps[n / 2], p->n_steps, bound);
    for (int s = 0; s < p->n_steps; s++)
        CHECK_MSG(pr->primitive[s] && *pr->primitive[s], "step %d has no primitive", s);
}

static void test_records_every_step(void)
{
    lowp_model *m = NULL;
    lowp_tensor *x = NULL;
    lowp_session *s = open_session("models/resnet_s.onnx", &m, &x);
    if (!s)
        return;
    char *json = NULL;
    CHECK(lowp_session_profile_json(s, &json) == LOWP_ERR_INVALID_ARGUMENT); /* nothing yet */
    run_n(s, m, x, 2);                                    /* unprofiled: compiles, warms up */
    lp_plan *p = the_plan(s);
    CHECK(p && !p->prof);
    CHECK_OK(lowp_session_profile(s, 1));
    run_n(s, m, x, RUNS);
    if (p)
        check_runs(p, RUNS);
    /* the oneDNN steps say which primitive ran them; resnet_s has reorders at the Winograd
     * conv and before the pooling (a layout change the profile must count) */
    int dnnl = 0, reorders = 0;
    for (int i = 0; p && p->prof && i < p->n_steps; i++) {
        if (strcmp(p->steps[i].kernel->name, "dnnl") == 0) {
            dnnl++;
            CHECK_MSG(strstr(p->prof->primitive[i], "convolution") || strstr(p->prof->primitive[i], "pooling") ||
                          strstr(p->prof->primitive[i], "matmul"),
                      "step %d: %s", i, p->prof->primitive[i]);
        }
        reorders += p->prof->reorders[i];
    }
    CHECK(dnnl > 0);
    CHECK(reorders > 0);
    CHECK_OK(lowp_session_profile_json(s, &json));
    CHECK(json && strstr(json, "\"steps\"") && strstr(json, "\"by_op\""));
    free(json);
    /* starting again discards; off stops recording */
    CHECK_OK(lowp_session_profile(s, 0));
    CHECK(p && !p->prof);
    run_n(s, m, x, 2);
    CHECK(p && !p->prof);
    CHECK(lowp_session_profile_json(s, &json) == LOWP_ERR_INVALID_ARGUMENT);
    lowp_session_free(s);
    lowp_tensor_free(x);
    lowp_model_free(m);
}

/* The reference kernels profile the same way: every step "reference", no reorders. */
static void test_reference_kernels(void)
{
    setenv("LOWP_KERNELS", "reference", 1);
    lowp_model *m = NULL;
    lowp_tensor *x = NULL;
    lowp_session *s = open_session("models/mlp.onnx", &m, &x);
    if (!s) {
        unsetenv("LOWP_KERNELS");
        return;
    }
    CHECK_OK(lowp_session_profile(s, 1));
    run_n(s, m, x, RUNS); /* the plan compiles (and reads LOWP_KERNELS) at the first run */
    unsetenv("LOWP_KERNELS");
    lp_plan *p = the_plan(s);
    if (p)
        check_runs(p, RUNS);
    for (int i = 0; p && p->prof && i < p->n_steps; i++) {
        CHECK_MSG(strcmp(p->prof->primitive[i], "reference") == 0 || strcmp(p->prof->primitive[i], "view") == 0,
                  "step %d: %s", i, p->prof->primitive[i]);
        CHECK(p->prof->reorders[i] == 0);
    }
    lowp_session_free(s);
    lowp_tensor_free(x);
    lowp_model_free(m);
}

int main(void)
{
    RUN(test_records_every_step);
    RUN(test_reference_kernels);
    return TEST_SUMMARY("test_profile");
}
