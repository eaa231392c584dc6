/* test_eval_seam.c — the tuner's evaluation seam (issue 12): a user evaluator function scores
 * exactly what the built-in dataloader + metric score; calibration from user batches (a batch
 * source) gives the same tune as from a registered dataset; an evaluator error stops the tune
 * with the history kept and a resume continues without re-running finished trials; the
 * external-command evaluator reads the last line, and fails clearly on a non-zero exit, a
 * non-numeric answer and a time-out (killing the whole process group); tensors wrap caller
 * memory without copying. Data: the zoo MLP on small Fashion-MNIST subsets. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lowp.h"
#include "test.h"
#include "fm_data.h"

#define N_EVAL 300
#define N_CAL 100

static char tmp[256];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lowp_tune_options opts(const char *ws)
{
    static char wsbuf[8][300];
    static int k;
    char *w = wsbuf[k++ % 8];
    snprintf(w, 300, "%s/%s", tmp, ws);
    lowp_tune_options o = lowp_tune_options_default();
    o.workspace = w;
    o.strategy = "basic";
    o.threads = 1;
    return o;
}

/* ---- a user evaluator: top-1 written by hand over its own dataloader ---- */

typedef struct user_eval {
    lowp_dataloader *dl;
    int calls;
    int fail_at;           /* > 0: fail on this trial with `fail_status` */
    lowp_status fail_status;
    int trials_seen[64];
} user_eval;

static lowp_status top1(void *user, const lowp_eval_request *rq, double *value_out)
{
    user_eval *u = user;
    if (u->calls < 64)
        u->trials_seen[u->calls] = rq->trial;
    u->calls++;
    if (u->fail_at > 0 && rq->trial == u->fail_at)
        return lowp_set_error(u->fail_status, "the user's scorer gave up");
    if (!rq->model || !rq->session || (rq->trial == 0) != !strcmp(rq->note, "FP32"))
        return lowp_set_error(LOWP_ERR_INTERNAL, "bad request");
    const char *name = lowp_model_input_name(rq->model, 0);
    lowp_sample b = { 0 };
    int64_t n = 0, right = 0, total = 0;
    lowp_dataloader_reset(u->dl);
    lowp_status st;
    while ((st = lowp_dataloader_next(u->dl, &b, &n)) == LOWP_OK && n > 0) {
        lowp_tensor *y = NULL;
        st = lowp_session_run(rq->session, 1, &name, (const lowp_tensor *const *)b.inputs, 1, &y);
        if (st != LOWP_OK)
            break;
        const float *p = lowp_tensor_data(y);
        const int64_t *lab = lowp_tensor_data(b.labels[0]);
        int64_t classes = lowp_tensor_dims(y)[1];
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (p[i * classes + c] > p[i * classes + best])
                    best = c;
            right += best == lab[i];
        }
        total += n;
        lowp_tensor_free(y);
    }
    lowp_sample_clear(&b);
    if (st != LOWP_OK)
        return st;
    *value_out = (double)right / (double)total;
    return LOWP_OK;
}

static void user_eval_free(void *user)
{
    user_eval *u = user;
    lowp_dataloader_free(u->dl);
}

/* ---- user calibration batches: a source over batches held in memory ---- */

typedef struct mem_batches {
    int n, pos;
    lowp_tensor *x[16];
    int *freed;
} mem_batches;

static lowp_status mem_next(void *user, lowp_sample *batch, int64_t *count)
{
    mem_batches *m = user;
    if (m->pos == m->n) {
        *count = 0;
        return LOWP_OK;
    }
    const lowp_tensor *x = m->x[m->pos++];
    lowp_tensor *c = NULL;
    lowp_status st = lowp_tensor_create(lowp_tensor_dtype(x), lowp_tensor_ndim(x), lowp_tensor_dims(x),
                                        lowp_tensor_data((lowp_tensor *)x), &c);
    if (st != LOWP_OK)
        return st;
    batch->inputs[0] = c;
    batch->n_inputs = 1;
    *count = lowp_tensor_dims(x)[0];
    return LOWP_OK;
}

static void mem_reset(void *user) { ((mem_batches *)user)->pos = 0; }

static void mem_free(void *user)
{
    mem_batches *m = user;
    for (int i = 0; i < m->n; i++)
        lowp_tensor_free(m->x[i]);
    if (m->freed)
        (*m->freed)++;
    free(m);
}

/* The calibration batches of fm_loader(true, 50, N_CAL), copied into a source. */
static lowp_dataloader *mem_loader(int *freed, bool with_reset)
{
    mem_batches *m = calloc(1, sizeof *m);
    m->freed = freed;
    lowp_dataloader *dl = fm_loader(true, 50, N_CAL);
    lowp_sample b = { 0 };
    int64_t n = 0;
    while (lowp_dataloader_next(dl, &b, &n) == LOWP_OK && n > 0 && m->n < 16) {
        m->x[m->n++] = b.inputs[0];
        b.inputs[0] = NULL; /* taken */
    }
    lowp_sample_clear(&b);
    lowp_dataloader_free(dl);
    lowp_batch_source src = { .next = mem_next, .reset = with_reset ? mem_reset : NULL, .free = mem_free,
                              .user = m, .length = N_CAL, .description = "test batches" };
    lowp_dataloader *out = NULL;
    CHECK_OK(lowp_dataloader_create_from_source(&src, &out));
    return out;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* The user evaluator scores what the built-in topk scores; a user batch source calibrates
 * like the registered dataset: same baseline, same trials, same result. */
static void test_user_eval_matches_builtin(void)
{
    lowp_model *m = mlp();
    lowp_tune_options o1 = opts("builtin"), o2 = opts("user");
    lowp_metric *metric = NULL;
    CHECK_OK(lowp_metric_create("topk", NULL, &metric));
    lowp_tuner *t1 = NULL, *t2 = NULL;
    CHECK_OK(lowp_tuner_create(m, fm_loader(true, 50, N_CAL), fm_loader(false, 100, N_EVAL), metric, NULL, &o1, &t1));
    int freed = 0;
    user_eval *u = calloc(1, sizeof *u);
    u->dl = fm_loader(false, 100, N_EVAL);
    lowp_evaluator ev = { .fn = top1, .user = u, .free = user_eval_free, .name = "my top-1", .higher_is_better = 1 };
    CHECK_OK(lowp_tuner_create_with_evaluator(m, mem_loader(&freed, true), &ev, &o2, &t2));
    lowp_model_free(m);
    lowp_tune_summary s1, s2;
    CHECK_OK(lowp_tuner_run(t1, &s1));
    CHECK_OK(lowp_tuner_run(t2, &s2));
    CHECK_MSG(s1.baseline == s2.baseline, "baseline builtin %g user %g", s1.baseline, s2.baseline);
    CHECK_MSG(s1.best == s2.best && s1.trials == s2.trials && s1.best_trial == s2.best_trial,
              "builtin best %g (%d trials) user %g (%d trials)", s1.best, s1.trials, s2.best, s2.trials);
    CHECK(s2.met == s1.met);
    CHECK_MSG(u->calls == s2.trials + 1, "evaluator called %d times for %d trials", u->calls, s2.trials);
    CHECK(u->trials_seen[0] == 0 && (u->calls < 2 || u->trials_seen[1] == 1));
    char path[400];
    snprintf(path, sizeof path, "%s/report.md", o2.workspace);
    FILE *f = fopen(path, "r");
    char text[8192] = { 0 };
    if (f) {
        size_t k = fread(text, 1, sizeof text - 1, f);
        text[k] = 0;
        fclose(f);
    }
    CHECK_MSG(strstr(text, "my top-1") != NULL, "report.md does not name the user metric");
    lowp_tuner_free(t1);
    CHECK(freed == 0);
    lowp_tuner_free(t2); /* frees the user evaluator and the batch source */
    CHECK(freed == 1);
    free(u);
}

/* An evaluator error stops the tune: the status and the user's message come back naming the
 * trial, the history keeps the finished trials, and a resumed tune does not run them again
 * and ends like an uninterrupted one. */
static void test_error_stops_and_resumes(void)
{
    lowp_model *m = mlp();
    lowp_tune_options o = opts("stop");
    o.tolerance = -0.5; /* unreachable: the tuner keeps trying (basic: every op's fallback) */
    o.max_trials = 4;
    user_eval *u = calloc(1, sizeof *u);
    u->dl = fm_loader(false, 100, N_EVAL);
    u->fail_at = 3;
    u->fail_status = LOWP_ERR_CANCELLED;
    lowp_evaluator ev = { .fn = top1, .user = u, .free = user_eval_free, .name = "top1", .higher_is_better = 1 };
    lowp_tuner *t = NULL;
    int freed = 0;
    CHECK_OK(lowp_tuner_create_with_evaluator(m, mem_loader(&freed, true), &ev, &o, &t));
    lowp_tune_summary s;
    lowp_status st = lowp_tuner_run(t, &s);
    CHECK_MSG(st == LOWP_ERR_CANCELLED, "status %d: %s", st, lowp_last_error());
    CHECK_MSG(strstr(lowp_last_error(), "trial 3") && strstr(lowp_last_error(), "the user's scorer gave up"),
              "message: %s", lowp_last_error());
    lowp_tuner_free(t);
    char hist[400];
    snprintf(hist, sizeof hist, "%s/history.jsonl", o.workspace);
    CHECK_MSG(count_lines(hist) == 3, "history has %d lines (want a header and 2 trials)", count_lines(hist));
    free(u);

    /* resume: trials 1 and 2 come from the history, the evaluator sees the baseline, 3 and 4 */
    u = calloc(1, sizeof *u);
    u->dl = fm_loader(false, 100, N_EVAL);
    ev.user = u;
    o.resume = 1;
    CHECK_OK(lowp_tuner_create_with_evaluator(m, mem_loader(&freed, true), &ev, &o, &t));
    CHECK_OK(lowp_tuner_run(t, &s));
    CHECK_MSG(s.trials == 4 && u->calls == 3, "resumed: %d trials, %d evaluator calls", s.trials, u->calls);
    CHECK(u->trials_seen[1] == 3 && u->trials_seen[2] == 4);
    double resumed_best = s.best;
    int resumed_trial = s.best_trial;
    lowp_tuner_free(t);
    free(u);

    /* uninterrupted, for comparison */
    lowp_tune_options o2 = opts("nostop");
    o2.tolerance = o.tolerance;
    o2.max_trials = 4;
    u = calloc(1, sizeof *u);
    u->dl = fm_loader(false, 100, N_EVAL);
    ev.user = u;
    CHECK_OK(lowp_tuner_create_with_evaluator(m, mem_loader(&freed, true), &ev, &o2, &t));
    CHECK_OK(lowp_tuner_run(t, &s));
    CHECK(s.best == resumed_best && s.best_trial == resumed_trial);
    lowp_tuner_free(t);
    free(u);
    lowp_model_free(m);
}

/* lowp_tuner_cancel from a progress callback (what Ctrl-C in Python does): the run stops with
 * LOWP_ERR_CANCELLED at the next check, the finished trial stays in the history. */
static lowp_tuner *cancel_me;

static void cancel_after_trial_1(void *user, const lowp_tune_progress *p)
{
    (void)user;
    if (p->finished && !strcmp(p->phase, "trial") && p->trial == 1)
        lowp_tuner_cancel(cancel_me);
}

static void test_cancel(void)
{
    lowp_model *m = mlp();
    lowp_tune_options o = opts("cancel");
    o.tolerance = -0.5; /* unreachable: without the cancel, 3 trials */
    o.max_trials = 3;
    o.progress = cancel_after_trial_1;
    lowp_metric *metric = NULL;
    CHECK_OK(lowp_metric_create("topk", NULL, &metric));
    CHECK_OK(lowp_tuner_create(m, fm_loader(true, 50, N_CAL), fm_loader(false, 100, N_EVAL), metric, NULL, &o,
                               &cancel_me));
    lowp_tune_summary s;
    lowp_status st = lowp_tuner_run(cancel_me, &s);
    CHECK_MSG(st == LOWP_ERR_CANCELLED && strstr(lowp_last_error(), "before trial 2"), "status %d: %s", st,
              lowp_last_error());
    char hist[400];
    snprintf(hist, sizeof hist, "%s/history.jsonl", o.workspace);
    CHECK_MSG(count_lines(hist) == 2, "history has %d lines (want a header and 1 trial)", count_lines(hist));
    lowp_tuner_free(cancel_me);
    lowp_model_free(m);
}

/* Dynamic quantization with a user evaluator and no data through lowp at all: latency runs on
 * zeros shaped like the inputs. */
static void test_dynamic_without_data(void)
{
    lowp_model *m = mlp();
    lowp_tune_options o = opts("dynamic");
    o.approach = "post_training_dynamic_quant";
    o.tolerance = 0.05; /* loose: the point is that it runs */
    user_eval *u = calloc(1, sizeof *u);
    u->dl = fm_loader(false, 100, N_EVAL);
    lowp_evaluator ev = { .fn = top1, .user = u, .free = user_eval_free, .higher_is_better = 1 };
    lowp_tuner *t = NULL;
    CHECK_OK(lowp_tuner_create_with_evaluator(m, NULL, &ev, &o, &t));
    lowp_tune_summary s;
    if (t)
        CHECK_OK(lowp_tuner_run(t, &s));
    CHECK(t && s.trials >= 1 && s.best_latency_ms > 0 && s.baseline > 0.5);
    lowp_tuner_free(t);
    free(u);
    lowp_model_free(m);
}

/* A source without reset is read once; batch counts are checked against the tensors. */
static void test_batch_source(void)
{
    int freed = 0;
    lowp_dataloader *dl = mem_loader(&freed, false);
    lowp_sample b = { 0 };
    int64_t n = 0, total = 0;
    while (lowp_dataloader_next(dl, &b, &n) == LOWP_OK && n > 0)
        total += n;
    CHECK(total == N_CAL);
    CHECK(lowp_dataloader_length(dl) == N_CAL);
    CHECK(!strcmp(lowp_dataloader_describe(dl), "test batches"));
    lowp_dataloader_reset(dl);
    CHECK_OK(lowp_dataloader_next(dl, &b, &n));
    CHECK_MSG(n == 0, "a source without reset gave %lld samples on a second pass", (long long)n);
    lowp_sample_clear(&b);
    lowp_dataloader_free(dl);
    CHECK(freed == 1);
    /* NULL next: an error, and the user state is freed */
    mem_batches *m = calloc(1, sizeof *m);
    m->freed = &freed;
    lowp_batch_source bad = { .free = mem_free, .user = m };
    CHECK(lowp_dataloader_create_from_source(&bad, &dl) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(freed == 2);
}

/* lowp_tensor_wrap reads and writes the caller's memory. */
static void test_tensor_wrap(void)
{
    float data[6] = { 1, 2, 3, 4, 5, 6 };
    int64_t dims[2] = { 2, 3 };
    lowp_tensor *t = NULL;
    CHECK_OK(lowp_tensor_wrap(LOWP_FLOAT, 2, dims, data, &t));
    CHECK(lowp_tensor_data(t) == (void *)data && lowp_tensor_nbytes(t) == sizeof data);
    data[4] = 42;
    CHECK(((float *)lowp_tensor_data(t))[4] == 42);
    lowp_tensor_free(t); /* does not free `data` (ASan would say) */
    CHECK(lowp_tensor_wrap(LOWP_FLOAT, 2, dims, NULL, &t) == LOWP_ERR_INVALID_ARGUMENT);
    int64_t neg[1] = { -1 };
    CHECK(lowp_tensor_wrap(LOWP_FLOAT, 1, neg, data, &t) == LOWP_ERR_SHAPE);
    CHECK(lowp_tensor_wrap(LOWP_STRING, 1, dims, data, &t) == LOWP_ERR_UNSUPPORTED);
}

/* lowp_session_run_into writes into the caller's tensors what lowp_session_run returns, and
 * refuses a tensor of the wrong shape or dtype naming the output. */
static void test_run_into(void)
{
    lowp_model *m = mlp();
    lowp_session *s = NULL;
    CHECK_OK(lowp_session_create(m, NULL, &s));
    float x[3 * 784], y[3 * 10];
    for (int i = 0; i < 3 * 784; i++)
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    int64_t xd[4] = { 3, 1, 28, 28 }, yd[2] = { 3, 10 }, bad[2] = { 3, 9 };
    lowp_tensor *in = NULL, *out = NULL, *ref = NULL, *wrong = NULL;
    CHECK_OK(lowp_tensor_wrap(LOWP_FLOAT, 4, xd, x, &in));
    CHECK_OK(lowp_tensor_wrap(LOWP_FLOAT, 2, yd, y, &out));
    CHECK_OK(lowp_tensor_wrap(LOWP_FLOAT, 2, bad, y, &wrong));
    const char *name = lowp_model_input_name(m, 0);
    CHECK_OK(lowp_session_run(s, 1, &name, (const lowp_tensor *const *)&in, 1, &ref));
    CHECK_OK(lowp_session_run_into(s, 1, &name, (const lowp_tensor *const *)&in, 1, &out));
    CHECK(ref && !memcmp(lowp_tensor_data(ref), y, sizeof y));
    CHECK(lowp_session_run_into(s, 1, &name, (const lowp_tensor *const *)&in, 1, &wrong) == LOWP_ERR_SHAPE);
    CHECK_MSG(strstr(lowp_last_error(), "'logits'") != NULL, "message: %s", lowp_last_error());
    lowp_tensor_free(ref);
    lowp_tensor_free(in);
    lowp_tensor_free(out);
    lowp_tensor_free(wrong);
    lowp_session_free(s);
    lowp_model_free(m);
}

/* ---- the external command ---- */

static char script[300];

static void write_script(const char *body)
{
    snprintf(script, sizeof script, "%s/scorer.sh", tmp);
    FILE *f = fopen(script, "w");
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(script, 0755);
}

static lowp_status run_cmd(const char *cmd_fmt, double timeout, double *value)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, cmd_fmt, script);
    lowp_evaluator ev;
    CHECK_OK(lowp_evaluator_command(cmd, timeout, 1, &ev));
    lowp_model *m = mlp();
    lowp_status st = lowp_evaluator_run(&ev, m, NULL, value);
    ev.free(ev.user);
    lowp_model_free(m);
    return st;
}

static void test_command(void)
{
    double v = 0;
    /* the last non-empty line is the metric; the model path arrives quoted and in LOWP_MODEL */
    write_script("test -s \"$1\" || exit 9\n[ \"$1\" = \"$LOWP_MODEL\" ] || exit 8\n"
                 "echo 'loading'\necho 'accuracy follows' >&2\necho ' 0.8125 '\necho");
    CHECK_OK(run_cmd("%s {model}", 10, &v));
    CHECK(v == 0.8125);
    CHECK_OK(run_cmd("%s", 10, &v)); /* no {model}: the path is appended */
    CHECK(v == 0.8125);
    /* non-zero exit: the status and the stderr tail */
    write_script("echo 'step 1' >&2\necho 'Traceback: no such file' >&2\nexit 3");
    CHECK(run_cmd("%s {model}", 10, &v) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(lowp_last_error(), "exit status 3") && strstr(lowp_last_error(), "Traceback: no such file") &&
              strstr(lowp_last_error(), "kept"), "message: %s", lowp_last_error());
    /* a non-numeric answer */
    write_script("echo 0.5\necho 'accuracy=0.9'");
    CHECK(run_cmd("%s {model}", 10, &v) == LOWP_ERR_FORMAT);
    CHECK_MSG(strstr(lowp_last_error(), "'accuracy=0.9'") != NULL, "message: %s", lowp_last_error());
    write_script("true");
    CHECK(run_cmd("%s {model}", 10, &v) == LOWP_ERR_FORMAT);
    /* time-out: the group is killed (the backgrounded sleep too, which writes a marker if it
       survives), well before the sleep would end */
    char marker[300];
    snprintf(marker, sizeof marker, "%s/survived", tmp);
    char body[800];
    snprintf(body, sizeof body, "echo 'working' >&2\n(sleep 3; touch '%s') &\nsleep 30\necho 1", marker);
    write_script(body);
    double t0 = now();
    CHECK(run_cmd("%s {model}", 0.5, &v) == LOWP_ERR_INVALID_ARGUMENT);
    double took = now() - t0;
    CHECK_MSG(took < 5, "the time-out took %.1f s", took);
    CHECK_MSG(strstr(lowp_last_error(), "longer than 0.5 s") && strstr(lowp_last_error(), "working"), "message: %s",
              lowp_last_error());
    sleep(4);
    CHECK_MSG(access(marker, F_OK) != 0, "a process of the timed-out group survived");
}

/* A tune scored by a command: a constant scorer passes every trial at once. */
static void test_command_tune(void)
{
    write_script("echo 0.75");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "%s {model}", script);
    lowp_evaluator ev;
    CHECK_OK(lowp_evaluator_command(cmd, 30, 1, &ev));
    lowp_model *m = mlp();
    lowp_tune_options o = opts("cmd");
    lowp_tuner *t = NULL;
    int freed = 0;
    CHECK_OK(lowp_tuner_create_with_evaluator(m, mem_loader(&freed, true), &ev, &o, &t));
    lowp_tune_summary s;
    CHECK_OK(lowp_tuner_run(t, &s));
    CHECK(s.baseline == 0.75 && s.best == 0.75 && s.met && s.trials == 1);
    char cand[400];
    snprintf(cand, sizeof cand, "%s/candidates/trial_1.onnx", o.workspace);
    CHECK_MSG(access(cand, F_OK) != 0, "the scored candidate was not removed");
    lowp_tuner_free(t);
    lowp_model_free(m);
}

int main(void)
{
    if (!lp_test_tmpdir(tmp, sizeof tmp, "eval_seam"))
        return 1;
    RUN(test_tensor_wrap);
    RUN(test_batch_source);
    RUN(test_run_into);
    RUN(test_user_eval_matches_builtin);
    RUN(test_error_stops_and_resumes);
    RUN(test_cancel);
    RUN(test_dynamic_without_data);
    RUN(test_command);
    RUN(test_command_tune);
    lp_test_rmtree(tmp);
    return TEST_SUMMARY("test_eval_seam");
}
