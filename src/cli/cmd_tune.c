/* cmd_tune.c — `lowp tune`: accuracy-driven quantization tuning (LPOT's main job). Finds the
 * fastest recipe within the accuracy tolerance and writes the model, the history and a report. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "config/config.h"

/* Exit status when no recipe met the target (the most accurate model is written anyway). */
enum { LP_EXIT_NOT_MET = 3, LP_EXIT_INTERRUPTED = 130 };

static const char usage[] =
    "usage: lowp tune CONFIG.yaml [MODEL.onnx] [-o OUT.onnx] [--resume] [--json] [options]\n"
    "       lowp tune MODEL.onnx --calib SPEC --eval SPEC [--transform LIST] [--metric SPEC]\n"
    "                 [--tolerance 1%%] -o OUT.onnx [options]\n"
    "       lowp tune MODEL.onnx --calib SPEC --eval-cmd 'CMD {model}' [--eval-timeout SEC] ...\n"
    "\n"
    "Quantizes MODEL and searches recipes (INT8 schemes, calibration algorithms, BF16/FP32\n"
    "fallback per op) for the fastest one whose accuracy stays within the tolerance of the FP32\n"
    "model. Writes OUT.onnx and, in the workspace, history.jsonl (every trial), best_recipe.json,\n"
    "report.md and report.html. With a config, the model is MODEL, --model or model.path.\n"
    "\n"
    "  -c, --config FILE      LPOT-style YAML (quantization, evaluation.accuracy, tuning)\n"
    "      --model FILE       the FP32 model (with a config)\n"
    "      --calib SPEC       calibration dataset, e.g. FashionMNIST:/usr/share/datasets/fashion-mnist:train=true\n"
    "      --train SPEC       labelled training data: lets the auto strategy try quantization-aware\n"
    "                         training before it falls ops back (batches of 64, shuffled)\n"
    "      --eval SPEC        evaluation dataset, e.g. FashionMNIST:/usr/share/datasets/fashion-mnist\n"
    "  -T, --transform LIST   transforms for both, e.g. Rescale,Normalize=0.2860/0.3530\n"
    "  -m, --metric SPEC      evaluation metric (default topk=1)\n"
    "      --eval-cmd CMD     score each candidate with your program instead: {model} becomes the\n"
    "                         candidate's path; the last line it prints is the metric (docs/cli.md)\n"
    "      --eval-timeout SEC stop a scoring run after SEC seconds (default: no limit)\n"
    "      --lower-is-better  the --eval-cmd metric is a loss or an error rate\n"
    "      --tolerance X      allowed loss: 1%% or 0.01 relative (default), see --absolute\n"
    "      --absolute         the tolerance is absolute (metric units)\n"
    "      --performance-only quantize with the first recipe and measure it, without evaluating\n"
    "                         accuracy (LPOT's exit_policy.performance_only)\n"
    "  -s, --strategy NAME    %s (default auto)\n"
    "      --approach A       static (default), dynamic, or auto (static, then dynamic)\n"
    "      --objective SPEC   performance (default), modelsize, footprint, or performance:0.7,modelsize:0.3\n"
    "      --timeout SEC      keep searching for SEC seconds (default 0: stop at the first pass)\n"
    "      --max-trials N     trial budget; given, the tuner keeps searching until it is spent\n"
    "      --seed N           random seed (default: the config's, else 1978)\n"
    "      --sampling-size L  calibration sample counts to try, e.g. 300 or 100,500\n"
    "  -w, --workspace DIR    history and reports (default: the config's, else ./lowp_workspace)\n"
    "      --resume           do not run again the recipes in the workspace's history\n"
    "      --tensorboard      TensorBoard event files in WORKSPACE/tensorboard: per trial, accuracy,\n"
    "                         objective and histograms of every tensor (LPOT's tuning.tensorboard)\n"
    "  -o, --output FILE      the tuned model (default WORKSPACE/best_model.onnx)\n"
    "  -b, --batch-size N     evaluation batch size (default: the config's, else 100)\n"
    "  -n, --limit N          evaluate on the first N samples only\n"
    "  -t, --threads N        engine threads\n"
    "      --ranks-per-trial G  under mpirun: ranks per parallel trial (default 1: as many trials\n"
    "                         at once as ranks; a lone trial still gets every rank)\n"
    "      --trial-batch K    points proposed at once (default: the rank groups, 1 in one process;\n"
    "                         bayesian's choices depend on it: docs/distributed.md)\n"
    "  -j, --json             print the summary as JSON\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             show this help\n"
    "\n"
    "exit status: 0 target met, 1 usage error, 2 bad input, 3 no recipe met the target (the most\n"
    "accurate model found is written and labelled as such), 130 interrupted (Ctrl-C: the history is\n"
    "kept, --resume continues)\n"
    "\n"
    "example: lowp tune models/resnet_s.onnx --calib FashionMNIST:/usr/share/datasets/fashion-mnist:train=true \\\n"
    "             --eval FashionMNIST:/usr/share/datasets/fashion-mnist --transform Rescale,Normalize=0.2860/0.3530 \\\n"
    "             --metric topk=1 --tolerance 1%% -o resnet_s.int8.onnx\n";

static void print_usage(void)
{
    char names[256];
    size_t n = 0;
    names[0] = 0;
    for (int i = 0; lowp_tune_strategy_at(i) && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", lowp_tune_strategy_at(i)->name);
    printf(usage, names);
}

/* The time left: a bound when the tune runs until its budget is spent; otherwise (it ends at
 * the first pass, which may be the next trial) only the time a trial takes. */
static const char *eta_text(const lowp_tune_progress *p, char *buf, size_t size)
{
    char t[32];
    if (p->budget_bound)
        snprintf(buf, size, "ETA <= %s", lp_cli_duration(p->eta, t, sizeof t));
    else if (isfinite(p->trial_seconds))
        snprintf(buf, size, "%s a trial", lp_cli_duration(p->trial_seconds, t, sizeof t));
    else
        snprintf(buf, size, "ETA ?");
    return buf;
}

typedef struct display {
    bool tty, quiet, line_open;
    double last;
} display;

/* Fault injection for tests of distributed tunes (tests/mpi.sh, docs/distributed.md):
 * LOWP_TEST_KILL=R:N makes rank R kill itself (SIGKILL, as the OOM killer would) once N trials
 * are recorded. Only under mpirun. */
static void maybe_die(const lowp_tune_progress *p)
{
    static int rank = -2, after;
    if (rank == -2) {
        const char *s = getenv("LOWP_TEST_KILL");
        rank = -1;
        if (s && lp_cli_dist() && sscanf(s, "%d:%d", &rank, &after) != 2)
            rank = -1;
    }
    if (rank == lp_cli_comm.rank && p->finished && !strcmp(p->phase, "trial") && p->trial >= after)
        raise(SIGKILL);
}

/* Finished trials as one line each; on a terminal also a status line redrawn in place. */
static void on_progress(void *user, const lowp_tune_progress *p)
{
    display *d = user;
    maybe_die(p);
    if (d->quiet)
        return;
    char el[32], eta[48], best[32];
    lp_cli_duration(p->elapsed, el, sizeof el);
    if (p->best == p->best)
        snprintf(best, sizeof best, "%.4f", p->best);
    else
        snprintf(best, sizeof best, "none yet");
    if (d->line_open && (p->finished || !d->tty)) {
        fprintf(stderr, "\r%*s\r", 100, "");
        d->line_open = false;
    }
    if (p->finished) {
        if (!strcmp(p->phase, "baseline") && !(p->baseline == p->baseline))
            fprintf(stderr, "tune: performance only: accuracy is not evaluated (%s elapsed)\n", el);
        else if (!strcmp(p->phase, "baseline"))
            fprintf(stderr, "tune: FP32 baseline %.4f, target %s %.4f (%s elapsed)\n", p->baseline,
                    p->higher_is_better ? ">=" : "<=", p->target, el);
        else if (!strcmp(p->phase, "parallel"))
            fprintf(stderr, "tune: %s (%s elapsed)\n", p->note, el);
        else if (!strcmp(p->phase, "trial") && !(p->target == p->target))
            fprintf(stderr, "tune: trial %d/%d  measured  %s elapsed  [%s]\n", p->trial, p->max_trials, el, p->note);
        else if (!strcmp(p->phase, "trial"))
            fprintf(stderr, "tune: trial %d/%d  %.4f vs target %.4f  %s  best %s  %s elapsed, %s  [%s]\n",
                    p->trial, p->max_trials, p->accuracy, p->target, p->passed ? "pass" : "FAIL", best, el,
                    eta_text(p, eta, sizeof eta), p->note);
        fflush(stderr);
        return;
    }
    double t = lp_cli_now();
    if (!d->tty || t - d->last < 0.2)
        return;
    d->last = t;
    char what[96];
    if (!strcmp(p->phase, "trial"))
        snprintf(what, sizeof what, "trial %d/%d", p->trial, p->max_trials);
    else
        snprintf(what, sizeof what, "%s", p->phase);
    fprintf(stderr, "\r%s: %lld/%lld  best %s  %s elapsed  %s   ", what, (long long)p->done,
            (long long)p->total, best, el, eta_text(p, eta, sizeof eta));
    d->line_open = true;
    fflush(stderr);
}

/* "1%" -> 0.01, "0.01" -> 0.01. A relative tolerance lies in [-100 %, 100 %] (past 100 % every
 * trial of a positive higher-is-better metric passes); an absolute one, in metric units, within
 * +-1e6 (docs/cli.md). */
static bool parse_tolerance(const char *s, bool absolute, double *out)
{
    char num[64];
    size_t n = strlen(s);
    bool percent = n > 0 && s[n - 1] == '%';
    if (n - percent >= sizeof num)
        return false;
    memcpy(num, s, n - percent);
    num[n - percent] = '\0';
    double lim = absolute ? 1e6 : percent ? 100 : 1;
    if (!lp_cli_number(num, -lim, lim, out))
        return false;
    if (percent)
        *out /= 100;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Ctrl-C (or SIGTERM) during a tune: the first asks the tuner to stop at its next check (a
 * running --eval-cmd program is killed at once), keeping the history for --resume; the handler
 * then resets, so a second Ctrl-C ends the process as usual. */
static lowp_tuner *volatile interrupted_tuner;

static void on_interrupt(int sig)
{
    (void)sig;
    static const char msg[] = "\nlowp tune: stopping (the history is kept; --resume continues). "
                              "Ctrl-C again to quit at once\n";
    if (interrupted_tuner)
        lowp_tuner_cancel(interrupted_tuner);
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

/* A distributed tune cannot stop at a trial boundary on one rank alone (its peers would wait in
 * a collective): when mpirun stops the job — Ctrl-C, a rank that died, an MPI_Abort — every rank
 * ends at once; rank 0 says what is kept. The history is flushed line by line. */
static char stop_note[1024];

static void on_mpirun_stop(int sig)
{
    (void)sig;
    if (*stop_note) {
        ssize_t w = write(2, stop_note, strlen(stop_note));
        (void)w;
    }
    _exit(LP_EXIT_INTERRUPTED);
}

static void catch_interrupts(lowp_tuner *t, struct sigaction *old_int, struct sigaction *old_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = lp_cli_dist() ? on_mpirun_stop : on_interrupt;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    interrupted_tuner = t;
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
}

int lp_cmd_tune(int argc, char **argv)
{
    const char *cmd = "tune", *config = NULL, *model_path = NULL, *calib = NULL, *eval = NULL, *train = NULL;
    const char *strategy = NULL, *approach = NULL, *objective = NULL, *workspace = NULL, *output = NULL, *sizes = NULL;
    const char *eval_cmd = NULL;
    double eval_timeout = 0;
    bool lower_is_better = false;
    lp_cli_data_opts data = {0};
    long batch = 0, limit = 0, threads = 0, max_trials = 0, timeout = -1, seed = -1, ranks_per_trial = 0,
         trial_batch = 0;
    double tolerance = NAN;
    const char *tolerance_text = NULL;
    bool absolute = false, resume = false, json = false, quiet = false, performance_only = false, tensorboard = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (lp_cli_is_help(argv[i])) {
            print_usage();
            return LP_EXIT_OK;
        }
#define OPT(s, l, var)                                                 \
    if ((r = lp_cli_option(cmd, argc, argv, &i, s, l, &v)) != 0) {    \
        if (r < 0)                                                      \
            return LP_EXIT_USAGE;                                       \
        var = v;                                                        \
        continue;                                                       \
    }
#define INT_OPT(s, l, var, lo, hi)                                                            \
    if ((r = lp_cli_option(cmd, argc, argv, &i, s, l, &v)) != 0) {                           \
        if (r < 0)                                                                             \
            return LP_EXIT_USAGE;                                                              \
        if (!lp_cli_int(v, lo, hi, &var))                                                      \
            return lp_cli_usage_error(cmd, "%s wants an integer in [%ld, %ld], got '%s'", l,   \
                                      (long)(lo), (long)(hi), v);                              \
        continue;                                                                              \
    }
        OPT("-c", "--config", config)
        OPT(NULL, "--model", model_path)
        OPT(NULL, "--calib", calib)
        OPT(NULL, "--train", train)
        OPT(NULL, "--eval", eval)
        OPT("-s", "--strategy", strategy)
        OPT(NULL, "--approach", approach)
        OPT(NULL, "--objective", objective)
        OPT("-w", "--workspace", workspace)
        OPT("-o", "--output", output)
        OPT(NULL, "--sampling-size", sizes)
        OPT(NULL, "--eval-cmd", eval_cmd)
        INT_OPT("-b", "--batch-size", batch, 1, 1 << 20)
        INT_OPT("-n", "--limit", limit, 1, 2147483647L)
        INT_OPT("-t", "--threads", threads, 1, 4096)
        INT_OPT(NULL, "--max-trials", max_trials, 1, 1000000)
        INT_OPT(NULL, "--timeout", timeout, 0, 100000000L)
        INT_OPT(NULL, "--seed", seed, 0, 2147483647L)
        INT_OPT(NULL, "--ranks-per-trial", ranks_per_trial, 1, 1 << 20)
        INT_OPT(NULL, "--trial-batch", trial_batch, 1, 1024)
#undef OPT
#undef INT_OPT
        if ((r = lp_cli_data_option(cmd, argc, argv, &i, &data)) != 0) {
            if (r < 0)
                return LP_EXIT_USAGE;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--tolerance", &v)) != 0) {
            if (r < 0)
                return LP_EXIT_USAGE;
            tolerance_text = v;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--eval-timeout", &v)) != 0) {
            if (r < 0)
                return LP_EXIT_USAGE;
            if (!lp_cli_number(v, 1e-3, 1e9, &eval_timeout))
                return lp_cli_usage_error(cmd, "--eval-timeout wants seconds > 0, got '%s'", v);
        } else if (!strcmp(argv[i], "--lower-is-better")) {
            lower_is_better = true;
        } else if (!strcmp(argv[i], "--absolute")) {
            absolute = true;
        } else if (!strcmp(argv[i], "--performance-only")) {
            performance_only = true;
        } else if (!strcmp(argv[i], "--resume")) {
            resume = true;
        } else if (!strcmp(argv[i], "--tensorboard")) {
            tensorboard = true;
        } else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return lp_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (!config && (ends_with(argv[i], ".yaml") || ends_with(argv[i], ".yml"))) {
            config = argv[i];
        } else if (!model_path) {
            model_path = argv[i];
        } else {
            return lp_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        }
    }
    if (tolerance_text && !parse_tolerance(tolerance_text, absolute, &tolerance))
        return lp_cli_usage_error(cmd, "--tolerance wants a number or a percentage within %s, got '%s'",
                                  absolute ? "[-1e6, 1e6] (--absolute)" : "[-100%, 100%] (0.01, 1%)", tolerance_text);
    if (!config && !model_path)
        return lp_cli_usage_error(cmd, "give a configuration (lowp tune CONFIG.yaml) or a model with --calib and --eval");
    if (!config && !eval && !eval_cmd)
        return lp_cli_usage_error(cmd, "without a configuration, give the evaluation data with --eval SPEC (or a "
                                  "scoring program with --eval-cmd CMD)");
    if (eval_cmd && eval)
        return lp_cli_usage_error(cmd, "--eval and --eval-cmd both score the candidates: give one");
    if (!eval_cmd && (eval_timeout > 0 || lower_is_better))
        return lp_cli_usage_error(cmd, "--eval-timeout and --lower-is-better go with --eval-cmd");
    if (approach) {
        static const char *const full[] = { "post_training_static_quant", "post_training_dynamic_quant",
                                            "post_training_auto_quant" };
        const char *a = !strcmp(approach, "static") ? full[0] : !strcmp(approach, "dynamic") ? full[1]
                      : !strcmp(approach, "auto")   ? full[2] : approach;
        approach = a;
    }

    int rc = LP_EXIT_OK;
    lowp_config *cfg = NULL;
    lowp_model *model = NULL;
    lowp_dataloader *cal_dl = NULL, *ev_dl = NULL;
    lowp_metric *metric = NULL;
    lowp_transform *post = NULL;
    lowp_tuner *tuner = NULL;
    lowp_tune_options o = lowp_tune_options_default();

    if (config) {
        if (lowp_config_load(config, &cfg) != LOWP_OK || lowp_tune_options_from_config(cfg, &o) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
    }
    /* the command line wins over the configuration */
    if (strategy) o.strategy = strategy;
    if (approach) o.approach = approach;
    if (objective) o.objective = objective;
    if (workspace) o.workspace = workspace;
    if (output) o.output = output;
    if (tolerance == tolerance) {
        o.tolerance = tolerance;
        o.relative = !absolute;
    } else if (absolute) {
        o.relative = 0;
    }
    if (max_trials) o.max_trials = (int)max_trials;
    if (timeout >= 0) o.timeout = (double)timeout;
    if (seed >= 0) o.seed = seed;
    if (threads) o.threads = (int)threads;
    if (ranks_per_trial) o.ranks_per_trial = (int)ranks_per_trial;
    if (trial_batch) o.trial_batch = (int)trial_batch;
    if (resume) o.resume = 1;
    if (performance_only) o.performance_only = 1;
    if (tensorboard) o.tensorboard = 1;
    if (sizes) {
        long list[8];
        int n = lp_cli_int_list(sizes, 1, 100000000L, list, 8);
        if (n <= 0) {
            rc = lp_cli_usage_error(cmd, "--sampling-size wants integers in [1, 100000000] separated by commas (at most 8), got '%s'", sizes);
            goto done;
        }
        o.n_sampling_sizes = n;
        for (int k = 0; k < n; k++)
            o.sampling_sizes[k] = list[k];
    }
    /* graph_optimization / mixed_precision: no INT8 op, so no calibration (the tuner's one
     * configuration is then of the dynamic form) */
    if (cfg && cfg->mixed_precision.present)
        o.approach = "post_training_dynamic_quant";
    bool dynamic = !strcmp(o.approach, "post_training_dynamic_quant");
    int64_t max_cal = 0;
    for (int i = 0; i < o.n_sampling_sizes; i++)
        max_cal = o.sampling_sizes[i] > max_cal ? o.sampling_sizes[i] : max_cal;

    /* the model */
    bool from_config = !model_path && cfg && lowp_config_model_path(cfg);
    if (from_config)
        model_path = lowp_config_model_path(cfg); /* lowp extension: model.path */
    if (!model_path) {
        rc = lp_cli_usage_error(cmd, "which model? (lowp tune CONFIG.yaml MODEL.onnx, or --model)");
        goto done;
    }
    if (lowp_model_load(model_path, &model) != LOWP_OK) {
        if (from_config)
            lp_error_prefix(LOWP_ERR_IO, "model.path (%s:%d)", config, lp_config_model_path_line(cfg));
        rc = lp_cli_lib_error();
        goto done;
    }
    if (cfg && lowp_config_check_model(cfg, model) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    /* data: the short forms win over the configuration; --eval-cmd replaces evaluation data */
    if (!eval_cmd && (rc = lp_cli_eval_dataloader(&data, eval, cfg, (int)batch, 100, limit, &ev_dl)) != LP_EXIT_OK)
        goto done;
    if (calib && !dynamic) {
        if ((rc = lp_cli_dataloader(calib, data.n_transforms, data.transforms, 50, max_cal, &cal_dl)) != LP_EXIT_OK)
            goto done;
    } else if (!dynamic && cfg) {
        if (lowp_config_dataloader(cfg, "quantization.calibration", 0, max_cal, &cal_dl) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
    } else if (!dynamic) {
        rc = lp_cli_usage_error(cmd, "give calibration data with --calib SPEC (or --approach dynamic)");
        goto done;
    }
    if (!eval_cmd && (rc = lp_cli_metric(&data, cfg, &metric, &post)) != LP_EXIT_OK)
        goto done;
    display d = { .tty = isatty(2), .quiet = quiet || lp_cli_comm.rank > 0 };   /* progress: rank 0 */
    o.comm = lp_cli_dist();
    if (o.comm && o.comm->rank == 0)
        snprintf(stop_note, sizeof stop_note,
                 "\nlowp tune: stopped by mpirun (Ctrl-C, or another rank ended: see mpirun's message); "
                 "%s/history.jsonl keeps every finished trial: the same command with --resume continues, "
                 "with any number of ranks\n", o.workspace ? o.workspace : "./lowp_workspace");
    o.progress = on_progress;
    o.progress_user = &d;
    lowp_status st;
    if (eval_cmd) {
        lowp_evaluator ev;
        if (lower_is_better)
            o.higher_is_better = 0;
        st = lowp_evaluator_command(eval_cmd, eval_timeout, o.higher_is_better != 0, &ev);
        if (st == LOWP_OK)
            st = lowp_tuner_create_with_evaluator(model, cal_dl, &ev, &o, &tuner);
        else
            lowp_dataloader_free(cal_dl);
    } else {
        st = lowp_tuner_create(model, cal_dl, ev_dl, metric, post, &o, &tuner);
    }
    cal_dl = ev_dl = NULL, metric = NULL, post = NULL; /* the tuner owns them now */
    if (st == LOWP_OK && train) { /* labelled data for the recovery ladder's QAT step */
        lowp_dataloader_options dopt = lowp_dataloader_options_default();
        dopt.batch_size = 64;
        dopt.shuffle = 1;
        lowp_dataloader *tr_dl = NULL;
        if ((rc = lp_cli_dataloader_opts(train, data.n_transforms, data.transforms, &dopt, &tr_dl)) != LP_EXIT_OK)
            goto done;
        st = lowp_tuner_set_training_data(tuner, tr_dl);
    }
    if (st != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    lowp_tune_summary s;
    struct sigaction old_int, old_term;
    catch_interrupts(tuner, &old_int, &old_term);
    st = lowp_tuner_run(tuner, &s);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    interrupted_tuner = NULL;
    if (st != LOWP_OK) {
        if (d.line_open)
            fprintf(stderr, "\n");
        rc = lp_cli_lib_error();
        if (st == LOWP_ERR_CANCELLED)
            rc = LP_EXIT_INTERRUPTED;
        goto done;
    }
    if (json) {
        char *text = NULL;
        if (lowp_tune_summary_json(&s, &text) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
        fputs(text, stdout);
        free(text);
    } else {
        char b1[32], b2[32];
        printf("%s\n", o.performance_only ? "done (performance only: accuracy not evaluated)"
                        : s.met ? "target met"
                                : "TARGET NOT MET: no recipe reached the target; wrote the most accurate one found");
        printf("model      %s\n", model_path);
        if (o.performance_only)
            printf("accuracy   not evaluated (performance only)\n");
        else
            printf("accuracy   %.4f FP32 -> %.4f tuned (%+.2f %%, target %.4f)\n", s.baseline, s.best,
                   fabs(s.relative_loss) < 5e-5 ? 0.0 : -100 * s.relative_loss, /* no "-0.00" */
                   s.target);
        printf("latency    %.3f ms -> %.3f ms, speed-up x%.2f (batch 1, measured)\n", s.baseline_latency_ms,
               s.best_latency_ms, s.speedup);
        printf("size       %s -> %s\n", lp_cli_bytes((double)s.baseline_bytes, b1, sizeof b1),
               lp_cli_bytes((double)s.best_bytes, b2, sizeof b2));
        printf("ops        %d int8, %d bf16, %d fp32\n", s.n_int8, s.n_bf16, s.n_fp32);
        printf("trials     %d (strategy %s, best: trial %d), %.1f s\n", s.trials, s.strategy, s.best_trial,
               s.seconds);
        if (s.met && s.speedup > 0 && s.speedup < 1)
            fprintf(stderr, "tune: warning: the tuned model is slower than FP32 (x%.2f) although it meets the "
                            "target; see the report for where the time goes\n", s.speedup);
        printf("output     %s\n", s.output);
        lowp_model *tuned = NULL;
        if (s.n_int8 > 0 && lowp_model_opset(model) < 13 && lowp_model_load(s.output, &tuned) == LOWP_OK &&
            lowp_model_opset(tuned) > lowp_model_opset(model))
            fprintf(stderr, "tune: upgraded the model from ONNX opset %lld to %lld for QuantizeLinear/DequantizeLinear\n",
                    (long long)lowp_model_opset(model), (long long)lowp_model_opset(tuned));
        lowp_model_free(tuned);
        printf("report     %s/report.md, %s/report.html\n", s.workspace, s.workspace);
        if (o.tensorboard)
            printf("tensorboard tensorboard --logdir %s/tensorboard\n", s.workspace);
    }
    if (!s.met)
        rc = LP_EXIT_NOT_MET;
done:
    lowp_tuner_free(tuner);
    lowp_transform_free(post);
    lowp_metric_free(metric);
    lowp_dataloader_free(cal_dl);
    lowp_dataloader_free(ev_dl);
    lowp_model_free(model);
    lowp_config_free(cfg);
    return rc;
}
