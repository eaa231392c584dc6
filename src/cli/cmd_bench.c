/* cmd_bench.c — `lowp bench MODEL`: latency percentiles, throughput and peak memory of a model
 * on generated (or given) inputs, in one process or in several pinned processes at once
 * (LPOT's benchmark mode: `--instances I --cores-per-instance C`). */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"

static const char usage[] =
    "usage: lowp bench MODEL [--batch N] [--shape NAME=D0,D1,...] [-i NAME=FILE.npy]\n"
    "                  [--warmup N] [--iters N] [--threads N] [--precision fp32|bf16]\n"
    "                  [--instances I --cores-per-instance C] [--seed N] [--profile]\n"
    "                  [--json] [--quiet]\n"
    "\n"
    "Runs MODEL repeatedly on fixed inputs and reports latency percentiles (p50/p90/p99, ms),\n"
    "throughput (samples/s) and peak memory (peak RSS of the process).\n"
    "\n"
    "Inputs are random but deterministic (--seed): floats uniform in [-1, 1), integer inputs\n"
    "(token ids, indices) uniform in [0, 100), bool 0/1. Each input's first dim, when symbolic,\n"
    "is the batch; every other symbolic dim needs --shape.\n"
    "\n"
    "  -b, --batch N          batch size: fills the symbolic first dim of each input (default 1)\n"
    "  -s, --shape NAME=DIMS  the whole shape of input NAME, e.g. --shape ids=1,128\n"
    "  -i, --input NAME=FILE  feed FILE (.npy) to input NAME instead of random data (a\n"
    "                         single-input model also accepts -i FILE)\n"
    "  -w, --warmup N         untimed runs first (default 5; the first run compiles the plan)\n"
    "  -n, --iters N          timed runs (default 50)\n"
    "  -t, --threads N        threads for the engine (default: the library's)\n"
    "      --precision P      fp32 (default) or bf16: convolutions and matrix products in\n"
    "                         BF16 where the CPU has BF16 instructions (FP32 otherwise)\n"
    "      --instances I      run I processes at once, each pinned to its own cores; they\n"
    "                         start the timed runs together and throughput is their sum\n"
    "      --cores-per-instance C\n"
    "                         cores (and engine threads) per instance (default 1)\n"
    "      --seed N           seed of the random inputs (default 1978)\n"
    "      --profile          also time every step of the plan (a node or a fused group) over\n"
    "                         the timed runs: medians, the kernel that ran it (oneDNN primitive\n"
    "                         and implementation, or reference), its reorders; a table sorted\n"
    "                         by time and a summary per op type (\"profile\" with --json)\n"
    "  -c, --config FILE      LPOT's benchmark mode: evaluation.performance's warmup, iteration,\n"
    "                         configs (num_of_instance, cores_per_instance, intra_num_of_threads)\n"
    "                         and dataloader (its first batch is the input); options given here win\n"
    "  -j, --json             print the results as one JSON object\n"
    "  -q, --quiet            no progress line on stderr\n"
    "  -h, --help             show this help\n"
    "\n"
    "example: lowp bench models/mlp.onnx --batch 64 --iters 200 --json\n";

#define MAX_ITERS 1000000L
#define MAX_CPUS 1024
#define INT_RANGE 100      /* integer inputs are drawn from [0, INT_RANGE) */

typedef struct bench_cfg {
    const char *path;
    long batch;             /* -1: not given (1) */
    const char **shapes;    /* --shape specs */
    int n_shapes;
    const char **files;     /* -i specs */
    int n_files;
    long warmup, iters, threads, instances, cores;  /* cores: -1 when not given */
    const char *precision;
    unsigned long long seed;
    bool json, quiet, profile;
    const char *config;     /* --config: LPOT's evaluation.performance section */
    bool warmup_given, iters_given, instances_given, cores_given, threads_given, batch_given;
} bench_cfg;

/* One model input as it will be fed. */
typedef struct feed {
    char *name;
    lowp_dtype dtype;
    int ndim;
    int64_t dims[LOWP_MAX_DIMS];
    const char *file;       /* the .npy given with -i, or NULL for random data */
    lowp_tensor *t;
} feed;

/* What one instance measured; lives in memory shared with the parent. */
typedef struct inst_result {
    int status;             /* LP_EXIT_*; -1 while not finished */
    int threads;
    double load_ms;         /* model load + session create */
    double first_ms;        /* the first run (compiles the plan for these shapes) */
    double wall_s;          /* the timed loop */
    double peak_rss;        /* bytes */
    double arena;           /* bytes of the engine's intermediate arena; -1 unknown */
    char *profile;          /* --profile: the session's profile JSON (in this process only) */
    long n;                 /* latencies recorded */
    double lat_ms[];        /* cfg.iters of them */
} inst_result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_bytes(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024.0 : -1.0;
}

static lowp_dtype dtype_by_name(const char *name)
{
    for (int c = 1; c <= 16; c++)
        if (lowp_dtype_size((lowp_dtype)c) && strcmp(lowp_dtype_name((lowp_dtype)c), name) == 0)
            return (lowp_dtype)c;
    return LOWP_UNDEFINED;
}

/* ---- inputs ---- */

static int find_feed(const feed *feeds, int n, const char *name, size_t len)
{
    for (int k = 0; k < n; k++)
        if (strlen(feeds[k].name) == len && strncmp(feeds[k].name, name, len) == 0)
            return k;
    return -1;
}

/* "'a', 'b'": the model's input names, for messages. */
static const char *feed_names(const feed *feeds, int n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < n && len < size; k++)
        len += (size_t)snprintf(buf + len, size - len, "%s'%s'", k ? ", " : "", feeds[k].name);
    return buf;
}

/* "1,128" -> dims; "" is a scalar. */
static bool parse_dims(const char *s, int *ndim, int64_t *dims)
{
    long d[LOWP_MAX_DIMS];
    int n = lp_cli_int_list(s, 0, 1L << 40, d, LOWP_MAX_DIMS);
    if (n < 0)
        return false;
    for (int k = 0; k < n; k++)
        dims[k] = d[k];
    *ndim = n;
    return true;
}

static void free_feeds(feed *feeds, int n)
{
    for (int k = 0; feeds && k < n; k++) {
        free(feeds[k].name);
        lowp_tensor_free(feeds[k].t);
    }
    free(feeds);
}

static void shape_str(int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
}

/* Works out every input's name, dtype and shape from the model, --batch, --shape and -i.
 * Tensors are not created yet (except those read from files). *samples_out: the samples per
 * run. Returns an exit status. */
static int plan_feeds(const lowp_model *model, const bench_cfg *cfg, feed **feeds_out,
                      int *n_out, long *samples_out)
{
    char *text = NULL;
    lp_cj info = { 0 };
    bool parsed = false;
    int rc = LP_EXIT_OK, n = lowp_model_input_count(model);
    char known[400];
    feed *feeds = calloc((size_t)n + 1, sizeof *feeds);
    bool batch_used = false;
    if (!feeds)
        return lp_cli_input_error("out of memory");
    if (lowp_model_info_json(model, &text) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (!(parsed = lp_cj_parse(text, &info))) {
        rc = lp_cli_input_error("internal error: cannot read the model summary JSON");
        goto done;
    }
    const lp_cj *ins = lp_cj_get(&info, "inputs");
    if (!ins || ins->type != LP_CJ_ARRAY || ins->n != n) {
        rc = lp_cli_input_error("internal error: the model summary lists no inputs");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        const lp_cj *in = &ins->items[k];
        feeds[k].name = strdup(lowp_model_input_name(model, k));
        if (!feeds[k].name) {
            rc = lp_cli_input_error("out of memory");
            goto done;
        }
        feeds[k].ndim = -1;
        feeds[k].dtype = dtype_by_name(lp_cj_str(lp_cj_get(in, "dtype"), ""));
    }

    /* -i NAME=FILE, or FILE alone for a single-input model. */
    for (int s = 0; s < cfg->n_files; s++) {
        const char *spec = cfg->files[s], *eq = strchr(spec, '='), *file = spec;
        int k = -1;
        if (eq && (k = find_feed(feeds, n, spec, (size_t)(eq - spec))) >= 0)
            file = eq + 1;
        else if (n == 1 && (!eq || access(spec, F_OK) == 0))
            k = 0;
        if (k < 0) {
            rc = eq ? lp_cli_usage_error("bench", "-i %s: the model has no input named '%.*s' (its inputs: %s)",
                                         spec, (int)(eq - spec), spec, feed_names(feeds, n, known, sizeof known))
                    : lp_cli_usage_error("bench", "-i %s: the model has %d inputs; say which "
                                         "one with -i NAME=FILE", spec, n);
            goto done;
        }
        if (feeds[k].file) {
            rc = lp_cli_usage_error("bench", "input '%s' is given twice", feeds[k].name);
            goto done;
        }
        feeds[k].file = file;
        if (lowp_tensor_load_npy(file, &feeds[k].t) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
        feeds[k].dtype = lowp_tensor_dtype(feeds[k].t);
        feeds[k].ndim = lowp_tensor_ndim(feeds[k].t);
        memcpy(feeds[k].dims, lowp_tensor_dims(feeds[k].t), (size_t)feeds[k].ndim * sizeof(int64_t));
    }

    /* --shape NAME=D0,D1,... */
    for (int s = 0; s < cfg->n_shapes; s++) {
        const char *spec = cfg->shapes[s], *eq = strrchr(spec, '=');
        int k = eq ? find_feed(feeds, n, spec, (size_t)(eq - spec)) : -1;
        if (!eq) {
            rc = lp_cli_usage_error("bench", "--shape %s: expected NAME=D0,D1,...", spec);
            goto done;
        }
        if (k < 0) {
            rc = lp_cli_usage_error("bench", "--shape %s: the model has no input named '%.*s' (its inputs: %s)",
                                    spec, (int)(eq - spec), spec, feed_names(feeds, n, known, sizeof known));
            goto done;
        }
        if (feeds[k].file) {
            rc = lp_cli_usage_error("bench", "input '%s' has both -i and --shape", feeds[k].name);
            goto done;
        }
        if (feeds[k].ndim >= 0) {
            rc = lp_cli_usage_error("bench", "--shape: input '%s' is given twice", feeds[k].name);
            goto done;
        }
        if (!parse_dims(eq + 1, &feeds[k].ndim, feeds[k].dims)) {
            feeds[k].ndim = -1;
            rc = lp_cli_usage_error("bench", "--shape %s: dims must be comma-separated numbers "
                                    "(at most %d)", spec, LOWP_MAX_DIMS);
            goto done;
        }
    }

    /* The rest from the model's declared shape, the symbolic first dim taking --batch. */
    long batch = cfg->batch > 0 ? cfg->batch : 1;
    for (int k = 0; k < n; k++) {
        feed *f = &feeds[k];
        if (f->ndim >= 0)
            continue;
        const lp_cj *shape = lp_cj_get(&ins->items[k], "shape");
        if (!shape || shape->type != LP_CJ_ARRAY) {
            rc = lp_cli_usage_error("bench", "input '%s' has no declared shape; give it with "
                                    "--shape %s=D0,D1,...", f->name, f->name);
            goto done;
        }
        if (shape->n > LOWP_MAX_DIMS) {
            rc = lp_cli_input_error("input '%s' has %d dims; lowp handles at most %d", f->name,
                                    shape->n, LOWP_MAX_DIMS);
            goto done;
        }
        f->ndim = shape->n;
        for (int i = 0; i < shape->n; i++) {
            const lp_cj *d = &shape->items[i];
            if (d->type == LP_CJ_NUMBER) {
                f->dims[i] = (int64_t)d->num;
            } else if (i == 0) {
                f->dims[i] = batch;
                batch_used = true;
            } else {
                rc = lp_cli_usage_error("bench", "input '%s' has the symbolic dim '%s' (dim %d); "
                                        "give the whole shape with --shape %s=D0,D1,...", f->name,
                                        lp_cj_str(d, "?"), i, f->name);
                goto done;
            }
        }
    }
    if (cfg->batch > 0 && !batch_used) {
        rc = lp_cli_usage_error("bench", "--batch: no input of %s has a symbolic first dim left "
                                "to fill (fixed shapes, --shape or -i set them all)", cfg->path);
        goto done;
    }
    for (int k = 0; k < n; k++)
        if (!lowp_dtype_size(feeds[k].dtype)) {
            rc = lp_cli_input_error("input '%s': cannot generate data of type %s", feeds[k].name,
                                    lowp_dtype_name(feeds[k].dtype));
            goto done;
        }
    *samples_out = batch_used ? batch : n && feeds[0].ndim > 0 ? (long)feeds[0].dims[0] : 1;

done:
    if (parsed)
        lp_cj_free(&info);
    free(text);
    if (rc != LP_EXIT_OK) {
        free_feeds(feeds, n);
        return rc;
    }
    *feeds_out = feeds;
    *n_out = n;
    return rc;
}

static uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (e <= 0)            /* |f| < 2^-14: flush to zero (random data needs no subnormals) */
        return (uint16_t)sign;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    return (uint16_t)(sign | (uint32_t)e << 10 | (m + 0x1000u) >> 13);
}

/* Deterministic random contents by dtype (see the usage text). */
static void fill_random(void *data, lowp_dtype dt, int64_t n, uint64_t *rng)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = lowp_random_next(rng);
        float u = (float)((double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0);
        int64_t v = (int64_t)(r % INT_RANGE);
        switch (dt) {
        case LOWP_FLOAT: ((float *)data)[i] = u; break;
        case LOWP_DOUBLE: ((double *)data)[i] = u; break;
        case LOWP_FLOAT16: ((uint16_t *)data)[i] = float_to_half(u); break;
        case LOWP_BFLOAT16: {
            uint32_t bits;
            memcpy(&bits, &u, sizeof bits);
            ((uint16_t *)data)[i] = (uint16_t)(bits >> 16);
            break;
        }
        case LOWP_UINT8: ((uint8_t *)data)[i] = (uint8_t)r; break;
        case LOWP_INT8: ((int8_t *)data)[i] = (int8_t)(uint8_t)r; break;
        case LOWP_BOOL: ((uint8_t *)data)[i] = (uint8_t)(r & 1); break;
        case LOWP_INT16: ((int16_t *)data)[i] = (int16_t)v; break;
        case LOWP_UINT16: ((uint16_t *)data)[i] = (uint16_t)v; break;
        case LOWP_INT32: ((int32_t *)data)[i] = (int32_t)v; break;
        case LOWP_UINT32: ((uint32_t *)data)[i] = (uint32_t)v; break;
        case LOWP_INT64: ((int64_t *)data)[i] = v; break;
        case LOWP_UINT64: ((uint64_t *)data)[i] = (uint64_t)v; break;
        default: break;
        }
    }
}

static int make_tensors(feed *feeds, int n, unsigned long long seed)
{
    for (int k = 0; k < n; k++) {
        feed *f = &feeds[k];
        if (f->t)
            continue;
        if (lowp_tensor_create(f->dtype, f->ndim, f->dims, NULL, &f->t) != LOWP_OK)
            return lp_cli_lib_error();
        uint64_t rng = (uint64_t)seed + 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
        fill_random(lowp_tensor_data(f->t), f->dtype, lowp_tensor_numel(f->t), &rng);
    }
    return LP_EXIT_OK;
}

/* ---- progress on stderr ---- */

typedef struct progress {
    bool on, tty;
    int instance;           /* -1: single process */
    double last;            /* when the line was last drawn */
    bool drawn;
} progress;

static void progress_show(progress *p, const char *phase, long done, long total, double last_ms)
{
    if (!p->on)
        return;
    double t = now_s();
    if (done < total && t - p->last < (p->tty ? 0.1 : 5.0))
        return;
    if (!p->tty && done == total && total > 0 && !p->drawn)
        return;   /* a quick phase: no line at all in a log */
    p->last = t;
    p->drawn = true;
    char who[32] = "";
    if (p->instance >= 0)
        snprintf(who, sizeof who, " (instance %d)", p->instance);
    fprintf(stderr, "%slowp bench%s: %s %ld/%ld, last %.3f ms%s", p->tty ? "\r\033[K" : "", who,
            phase, done, total, last_ms, p->tty ? "" : "\n");
    fflush(stderr);
}

static void progress_end(progress *p)
{
    if (p->on && p->tty && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}

/* ---- one benchmark run (in this process or in a forked instance) ---- */

/* Loads, warms up, waits on `go_fd` (if >= 0, after writing a byte to `ready_fd`), then times
 * cfg->iters runs into `r`. Returns an exit status (messages already printed). */
static int run_instance(const bench_cfg *cfg, int instance, int threads, int ready_fd, int go_fd,
                        inst_result *r)
{
    lowp_model *model = NULL;
    lowp_session *session = NULL;
    feed *feeds = NULL;
    int n_in = 0, n_out = 0, rc;
    long samples;
    const char **names = NULL;
    const lowp_tensor **ins = NULL;
    lowp_tensor **outs = NULL;
    progress pg = { .on = !cfg->quiet && instance <= 0, .tty = isatty(2), .instance = instance,
                    .last = now_s() };

    double t0 = now_s();
    if (lowp_model_load(cfg->path, &model) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if ((rc = plan_feeds(model, cfg, &feeds, &n_in, &samples)) != LP_EXIT_OK ||
        (rc = make_tensors(feeds, n_in, cfg->seed)) != LP_EXIT_OK)
        goto done;
    lowp_session_options opt = lowp_session_options_default();
    if (threads > 0)
        opt.threads = threads;
    opt.precision = strcmp(cfg->precision, "bf16") == 0 ? LOWP_BFLOAT16 : LOWP_FLOAT;
    r->threads = opt.threads;
    if (lowp_session_create(model, &opt, &session) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    r->load_ms = (now_s() - t0) * 1e3;
    n_out = lowp_model_output_count(model);
    /* the session holds what it needs: drop the loaded copy so peak memory is the engine's */
    lowp_model_free(model);
    model = NULL;
    names = calloc((size_t)n_in + 1, sizeof *names);
    ins = calloc((size_t)n_in + 1, sizeof *ins);
    outs = calloc((size_t)n_out + 1, sizeof *outs);
    if (!names || !ins || !outs) {
        rc = lp_cli_input_error("out of memory");
        goto done;
    }
    for (int k = 0; k < n_in; k++)
        names[k] = feeds[k].name, ins[k] = feeds[k].t;

    for (long it = 0; it <= cfg->warmup + cfg->iters; it++) {
        if (it == cfg->warmup && go_fd >= 0) {   /* the start barrier */
            progress_end(&pg);
            char c = 'r';
            if (write(ready_fd, &c, 1) != 1) {
                rc = lp_cli_input_error("instance %d: cannot signal readiness: %s", instance,
                                        strerror(errno));
                goto done;
            }
            close(ready_fd);
            ready_fd = -1;
            while (read(go_fd, &c, 1) < 0 && errno == EINTR)
                ;
        }
        if (it == cfg->warmup && cfg->profile && lowp_session_profile(session, 1) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
        if (it == cfg->warmup)
            r->wall_s = now_s();
        if (it == cfg->warmup + cfg->iters)
            break;
        double a = now_s();
        lowp_status st = lowp_session_run(session, n_in, names, (const lowp_tensor *const *)ins,
                                          n_out, outs);
        double ms = (now_s() - a) * 1e3;
        if (st != LOWP_OK) {
            progress_end(&pg);
            rc = lp_cli_lib_error();
            goto done;
        }
        for (int k = 0; k < n_out; k++) {
            lowp_tensor_free(outs[k]);
            outs[k] = NULL;
        }
        if (it == 0)
            r->first_ms = ms;
        if (it >= cfg->warmup)
            r->lat_ms[r->n++] = ms;
        if (it < cfg->warmup)
            progress_show(&pg, "warmup", it + 1, cfg->warmup, ms);
        else
            progress_show(&pg, "run", it + 1 - cfg->warmup, cfg->iters, ms);
    }
    r->wall_s = now_s() - r->wall_s;
    progress_end(&pg);
    if (cfg->profile && lowp_session_profile_json(session, &r->profile) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    r->arena = -1;
    size_t arena;
    if (lowp_session_memory_bytes(session, &arena) == LOWP_OK)
        r->arena = (double)arena;
    rc = LP_EXIT_OK;

done:
    if (ready_fd >= 0)
        close(ready_fd);
    free(outs);
    free(ins);
    free(names);
    free_feeds(feeds, n_in);
    lowp_session_free(session);
    lowp_model_free(model);
    r->peak_rss = peak_rss_bytes();
    r->status = rc;
    return rc;
}

/* ---- statistics and reports ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double p50, p90, p99, mean, min, max, stdev;
} stats;

/* Percentiles by linear interpolation between order statistics (numpy's default). */
static double percentile(const double *sorted, long n, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    long lo = (long)pos;
    if (lo >= n - 1)
        return sorted[n - 1];
    return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (pos - (double)lo);
}

static stats compute_stats(double *v, long n)
{
    stats s = { 0 };
    if (n <= 0)
        return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0, sq = 0;
    for (long i = 0; i < n; i++)
        sum += v[i];
    s.mean = sum / (double)n;
    for (long i = 0; i < n; i++)
        sq += (v[i] - s.mean) * (v[i] - s.mean);
    s.stdev = n > 1 ? sqrt(sq / (double)(n - 1)) : 0;
    s.min = v[0];
    s.max = v[n - 1];
    s.p50 = percentile(v, n, 50);
    s.p90 = percentile(v, n, 90);
    s.p99 = percentile(v, n, 99);
    return s;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* A byte count, or null when unknown (negative). */
static void json_bytes(double v)
{
    if (v < 0 || !isfinite(v))
        printf("null");
    else
        printf("%.0f", v);
}

static void json_stats(const stats *s)
{
    printf("{\"p50\": %.6g, \"p90\": %.6g, \"p99\": %.6g, \"mean\": %.6g, \"min\": %.6g, "
           "\"max\": %.6g, \"stdev\": %.6g}", s->p50, s->p90, s->p99, s->mean, s->min, s->max,
           s->stdev);
}

static void json_cpus(const int *cpus, long n)
{
    printf("[");
    for (long i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", cpus[i]);
    printf("]");
}

/* A compact cpu list: "0-3,8". */
static void cpus_str(const int *cpus, long n, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (long i = 0; i < n && k < size; ) {
        long j = i;
        while (j + 1 < n && cpus[j + 1] == cpus[j] + 1)
            j++;
        if (j > i)
            k += (size_t)snprintf(buf + k, size - k, "%s%d-%d", i ? "," : "", cpus[i], cpus[j]);
        else
            k += (size_t)snprintf(buf + k, size - k, "%s%d", i ? "," : "", cpus[i]);
        i = j + 1;
    }
}

static double throughput(const inst_result *r, long samples)
{
    return r->wall_s > 0 ? (double)samples * (double)r->n / r->wall_s : 0;
}

typedef struct report {
    const bench_cfg *cfg;
    const feed *feeds;      /* the planned inputs (shapes, sources) */
    int n_feeds;
    long samples;
    inst_result **res;      /* one per instance */
    const int *cpus;        /* instances * cores, or NULL when not pinned */
} report;

/* Where input f comes from, for the report: a file, the configuration's dataloader, or random. */
static const char *feed_source(const report *rp, int f)
{
    if (!rp->feeds[f].file)
        return "random";
    return rp->cfg->config ? "evaluation.performance.dataloader, first batch" : rp->feeds[f].file;
}

static double cj_num(const lp_cj *o, const char *key)
{
    const lp_cj *v = lp_cj_get(o, key);
    return v && v->type == LP_CJ_NUMBER ? v->num : 0;
}

/* The profile (the library's JSON) as two tables: steps by time, then op types by time. */
static int print_profile(const char *text, double p50)
{
    lp_cj root;
    if (!lp_cj_parse(text, &root))
        return lp_cli_input_error("cannot read the profile");
    if (!lp_cj_escape_strings(&root)) {
        lp_cj_free(&root);
        return lp_cli_input_error("out of memory");
    }
    const lp_cj *steps = lp_cj_get(&root, "steps"), *by_op = lp_cj_get(&root, "by_op");
    double run_ms = cj_num(&root, "run_ms");
    printf("%-11s%.0f profiled runs; per run (medians): %.3f ms in the engine's steps loop, "
           "%.3f ms the sum of its %.0f steps; %.0f reorders, %.3f ms\n", "profile", cj_num(&root, "runs"),
           run_ms, cj_num(&root, "steps_ms"), cj_num(&root, "n_steps"), cj_num(&root, "reorders"),
           cj_num(&root, "reorder_ms"));
    printf("%-11s%.3f ms outside the steps loop (binding inputs, copying outputs) of p50 %.3f ms\n", "",
           p50 - run_ms, p50);
    printf("\n%9s %6s %6s  %-9s %-22s %-30s %-15s %s\n", "ms", "share", "cum", "kernel", "primitive",
           "implementation", "reorders (ms)", "ops: nodes");
    double cum = 0;
    for (int i = 0; steps && steps->type == LP_CJ_ARRAY && i < steps->n; i++) {
        const lp_cj *st = &steps->items[i], *nodes = lp_cj_get(st, "nodes");
        char ro[40] = "-";
        cum += cj_num(st, "share");
        if (cj_num(st, "reorders") > 0)
            snprintf(ro, sizeof ro, "%.0f (%.3f)", cj_num(st, "reorders"), cj_num(st, "reorder_ms"));
        printf("%9.3f %5.1f%% %5.1f%%  %-9s %-22s %-30.30s %-15s %s:", cj_num(st, "ms"),
               100 * cj_num(st, "share"), 100 * cum, lp_cj_str(lp_cj_get(st, "kernel"), "?"),
               lp_cj_str(lp_cj_get(st, "primitive"), "?"), lp_cj_str(lp_cj_get(st, "impl"), ""), ro,
               lp_cj_str(lp_cj_get(st, "ops"), "?"));
        for (int k = 0; nodes && nodes->type == LP_CJ_ARRAY && k < nodes->n; k++)
            printf("%s%s", k ? ", " : " ", lp_cj_str(&nodes->items[k], "?"));
        printf("\n");
    }
    printf("\n%9s %6s %6s  %-9s %-22s %-15s %s\n", "ms", "share", "steps", "kernel", "primitive",
           "reorders (ms)", "op (leading the step)");
    for (int i = 0; by_op && by_op->type == LP_CJ_ARRAY && i < by_op->n; i++) {
        const lp_cj *o = &by_op->items[i];
        char ro[40] = "-";
        if (cj_num(o, "reorders") > 0)
            snprintf(ro, sizeof ro, "%.0f (%.3f)", cj_num(o, "reorders"), cj_num(o, "reorder_ms"));
        printf("%9.3f %5.1f%% %6.0f  %-9s %-22s %-15s %s\n", cj_num(o, "ms"), 100 * cj_num(o, "share"),
               cj_num(o, "steps"), lp_cj_str(lp_cj_get(o, "kernel"), "?"),
               lp_cj_str(lp_cj_get(o, "primitive"), "?"), ro, lp_cj_str(lp_cj_get(o, "op"), "?"));
    }
    lp_cj_free(&root);
    return LP_EXIT_OK;
}

static int print_report(const report *rp)
{
    const bench_cfg *cfg = rp->cfg;
    long ni = cfg->instances > 0 ? cfg->instances : 1;
    size_t total_n = 0;
    for (long i = 0; i < ni; i++)
        total_n += rp->res[i]->n > 0 ? (size_t)rp->res[i]->n : 0;
    double *all = malloc((total_n + 1) * sizeof *all);
    stats *per = calloc((size_t)ni, sizeof *per);
    if (!all || !per) {
        free(all);
        free(per);
        return lp_cli_input_error("out of memory");
    }
    long k = 0;
    double tput = 0, rss = 0, arena = -1, load = 0, first = 0;
    for (long i = 0; i < ni; i++) {
        const inst_result *r = rp->res[i];
        memcpy(all + k, r->lat_ms, (size_t)r->n * sizeof *all);
        k += r->n;
        tput += throughput(r, rp->samples);
        rss = r->peak_rss > rss ? r->peak_rss : rss;
        arena = r->arena > arena ? r->arena : arena;
        load = r->load_ms > load ? r->load_ms : load;
        first = r->first_ms > first ? r->first_ms : first;
        double *copy = malloc((size_t)(r->n + 1) * sizeof *copy);
        if (!copy) {
            free(all);
            free(per);
            return lp_cli_input_error("out of memory");
        }
        memcpy(copy, r->lat_ms, (size_t)r->n * sizeof *copy);
        per[i] = compute_stats(copy, r->n);
        free(copy);
    }
    stats s = compute_stats(all, total_n);
    long cores = cfg->cores > 0 ? cfg->cores : 0;
    int threads = rp->res[0]->threads;

    if (cfg->json) {
        printf("{\n  \"model\": ");
        json_string(cfg->path);
        printf(",\n  \"lowp_version\": \"%s\",\n  \"batch\": %ld,\n  \"threads\": %d,\n"
               "  \"precision\": \"%s\",\n  \"warmup\": %ld,\n  \"iterations\": %ld,\n"
               "  \"instances\": %ld,\n  \"cores_per_instance\": ", lowp_version(), rp->samples,
               threads, cfg->precision, cfg->warmup, cfg->iters, ni);
        if (cores)
            printf("%ld", cores);
        else
            printf("null");
        printf(",\n  \"seed\": %llu,\n  \"inputs\": [", cfg->seed);
        for (int f = 0; f < rp->n_feeds; f++) {
            printf("%s\n    {\"name\": ", f ? "," : "");
            json_string(rp->feeds[f].name);
            printf(", \"dtype\": \"%s\", \"shape\": [", lowp_dtype_name(rp->feeds[f].dtype));
            for (int d = 0; d < rp->feeds[f].ndim; d++)
                printf("%s%lld", d ? ", " : "", (long long)rp->feeds[f].dims[d]);
            printf("], \"source\": ");
            json_string(feed_source(rp, f));
            printf("}");
        }
        printf("\n  ],\n  \"latency_ms\": ");
        json_stats(&s);
        printf(",\n  \"throughput\": %.6g,\n  \"load_ms\": %.6g,\n  \"first_run_ms\": %.6g,\n"
               "  \"peak_rss_bytes\": ", tput, load, first);
        json_bytes(rss);
        printf(",\n  \"arena_bytes\": ");
        json_bytes(arena);
        printf(",\n  \"per_instance\": [");
        for (long i = 0; i < ni; i++) {
            const inst_result *r = rp->res[i];
            printf("%s\n    {\"instance\": %ld, \"cores\": ", i ? "," : "", i);
            if (rp->cpus)
                json_cpus(rp->cpus + i * cores, cores);
            else
                printf("null");
            printf(", \"threads\": %d, \"latency_ms\": ", r->threads);
            json_stats(&per[i]);
            printf(", \"throughput\": %.6g, \"wall_s\": %.6g, \"peak_rss_bytes\": ",
                   throughput(r, rp->samples), r->wall_s);
            json_bytes(r->peak_rss);
            printf("}");
        }
        printf("\n  ]");
        if (rp->res[0]->profile) {
            size_t len = strlen(rp->res[0]->profile);
            while (len && rp->res[0]->profile[len - 1] == '\n')
                len--;
            printf(",\n  \"profile\": %.*s", (int)len, rp->res[0]->profile);
        }
        printf("\n}\n");
    } else {
        char b1[32], b2[32], shp[160];
        printf("%-11s%s\n", "model", cfg->path);
        for (int f = 0; f < rp->n_feeds; f++) {
            shape_str(rp->feeds[f].ndim, rp->feeds[f].dims, shp, sizeof shp);
            printf("%-11s%s %s %s (%s)\n", f ? "" : "inputs", rp->feeds[f].name,
                   lowp_dtype_name(rp->feeds[f].dtype), shp,
                   feed_source(rp, f));
        }
        printf("%-11sbatch %ld, threads %d, %s, warmup %ld, %ld timed runs", "setup", rp->samples,
               threads, cfg->precision, cfg->warmup, cfg->iters);
        if (ni > 1 || cores)
            printf(", %ld instance%s x %ld core%s", ni, ni > 1 ? "s" : "", cores,
                   cores > 1 ? "s" : "");
        printf("\n%-11sp50 %.3f ms  p90 %.3f ms  p99 %.3f ms  (mean %.3f, min %.3f, max %.3f)\n",
               "latency", s.p50, s.p90, s.p99, s.mean, s.min, s.max);
        printf("%-11s%.1f samples/s%s\n", "throughput", tput, ni > 1 ? " (sum of instances)" : "");
        printf("%-11speak RSS %s%s", "memory", rss >= 0 ? lp_cli_bytes(rss, b1, sizeof b1) : "?",
               ni > 1 ? " (largest instance)" : "");
        if (arena >= 0)
            printf(", engine arena %s", lp_cli_bytes(arena, b2, sizeof b2));
        printf("\n%-11sload %.1f ms, first run %.1f ms\n", "startup", load, first);
        for (long i = 0; ni > 1 && i < ni; i++) {
            char cl[128] = "-";
            if (rp->cpus)
                cpus_str(rp->cpus + i * cores, cores, cl, sizeof cl);
            printf("  instance %ld  cores %-8s p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  %.1f samples/s\n",
                   i, cl, per[i].p50, per[i].p90, per[i].p99, throughput(rp->res[i], rp->samples));
        }
        if (rp->res[0]->profile && print_profile(rp->res[0]->profile, s.p50) != LP_EXIT_OK) {
            free(all);
            free(per);
            return LP_EXIT_INPUT;
        }
    }
    free(all);
    free(per);
    return LP_EXIT_OK;
}

/* ---- instances ---- */

/* The CPUs this process may run on, in order. */
static long allowed_cpus(int *cpus, long max)
{
    cpu_set_t set;
    long n = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set))
            cpus[n++] = c;
    return n;
}

/* Forks cfg->instances processes pinned to disjoint core sets, releases them together after
 * their warmup and collects their results into `res`. Returns an exit status. */
static int run_instances(const bench_cfg *cfg, const int *cpus, inst_result **res)
{
    long ni = cfg->instances;
    int ready[2] = { -1, -1 }, go[2] = { -1, -1 }, rc = LP_EXIT_OK;
    pid_t *pids = calloc((size_t)ni, sizeof *pids);
    if (!pids || pipe(ready) != 0 || pipe(go) != 0) {
        rc = lp_cli_input_error("cannot set up the instances: %s", pids ? strerror(errno)
                                                                        : "out of memory");
        goto done;
    }
    fflush(NULL);   /* the children must not repeat buffered output */
    for (long i = 0; i < ni; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = lp_cli_input_error("cannot start instance %ld: %s", i, strerror(errno));
            goto done;
        }
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            cpu_set_t set;
            CPU_ZERO(&set);
            for (long c = 0; c < cfg->cores; c++)
                CPU_SET(cpus[i * cfg->cores + c], &set);
            int st;
            if (sched_setaffinity(0, sizeof set, &set) != 0)
                st = lp_cli_input_error("instance %ld: cannot pin to its cores: %s", i,
                                        strerror(errno));
            else
                st = run_instance(cfg, (int)i, (int)cfg->cores, ready[1], go[0], res[i]);
            fflush(NULL);
            _exit(st);
        }
        pids[i] = pid;
    }
    close(ready[1]);
    ready[1] = -1;

    /* Every instance writes one byte when warmed up and closes its end: EOF before ni bytes
     * means one failed. Closing `go` then starts them all at once. */
    long n_ready = 0;
    char c;
    ssize_t got;
    while ((got = read(ready[0], &c, 1)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        n_ready++;
    }
    if (n_ready < ni)
        for (long i = 0; i < ni; i++)
            kill(pids[i], SIGKILL);   /* a failed instance: stop the waiting ones */
    close(go[1]);
    go[1] = -1;
    for (long i = 0; i < ni; i++) {
        int ws;
        while (waitpid(pids[i], &ws, 0) < 0 && errno == EINTR)
            ;
        int st = WIFEXITED(ws) ? WEXITSTATUS(ws) : LP_EXIT_INPUT;
        if (st != LP_EXIT_OK && rc == LP_EXIT_OK && !(n_ready < ni && WIFSIGNALED(ws)))
            rc = st;
        res[i]->status = st;
    }
    if (n_ready < ni && rc == LP_EXIT_OK)
        rc = lp_cli_input_error("an instance failed before its timed runs");
    free(pids);
    pids = NULL;

done:
    for (long i = 0; pids && i < ni; i++)   /* a fork failed: stop the instances started */
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    free(pids);
    for (int k = 0; k < 2; k++) {
        if (ready[k] >= 0)
            close(ready[k]);
        if (go[k] >= 0)
            close(go[k]);
    }
    return rc;
}

/* ---- the command ---- */

static int parse_long(const char *opt, const char *val, long lo, long hi, long *out)
{
    if (lp_cli_int(val, lo, hi, out))
        return LP_EXIT_OK;
    return lp_cli_usage_error("bench", "%s wants a number from %ld to %ld, not '%s'", opt, lo, hi,
                              val);
}

static int parse_args(int argc, char **argv, bench_cfg *cfg, bool *help)
{
    const char *val;
    int r;
    long seed;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = LP_EXIT_OK;
        if (lp_cli_is_help(a)) {
            *help = true;
            return LP_EXIT_OK;
        }
#define OPT(s, l) ((r = lp_cli_option("bench", argc, argv, &i, s, l, &val)) != 0)
        if (OPT("-b", "--batch"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->batch_given = true, parse_long("--batch", val, 1, 1L << 20, &cfg->batch));
        else if (OPT("-c", "--config"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->config = val, LP_EXIT_OK);
        else if (OPT("-s", "--shape"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->shapes[cfg->n_shapes++] = val, LP_EXIT_OK);
        else if (OPT("-i", "--input"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->files[cfg->n_files++] = val, LP_EXIT_OK);
        else if (OPT("-w", "--warmup"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->warmup_given = true, parse_long("--warmup", val, 0, MAX_ITERS, &cfg->warmup));
        else if (OPT("-n", "--iters"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->iters_given = true, parse_long("--iters", val, 1, MAX_ITERS, &cfg->iters));
        else if (OPT("-t", "--threads"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->threads_given = true, parse_long("--threads", val, 0, 1024, &cfg->threads));
        else if (OPT(NULL, "--precision"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->precision = val, LP_EXIT_OK);
        else if (OPT(NULL, "--instances"))
            rc = r < 0 ? LP_EXIT_USAGE : (cfg->instances_given = true, parse_long("--instances", val, 1, MAX_CPUS, &cfg->instances));
        else if (OPT(NULL, "--cores-per-instance"))
            rc = r < 0 ? LP_EXIT_USAGE
                       : (cfg->cores_given = true, parse_long("--cores-per-instance", val, 1, MAX_CPUS, &cfg->cores));
        else if (OPT(NULL, "--seed")) {
            rc = r < 0 ? LP_EXIT_USAGE : parse_long("--seed", val, 0, 0x7fffffffL, &seed);
            cfg->seed = rc == LP_EXIT_OK ? (unsigned long long)seed : cfg->seed;
        }
        else if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0)
            cfg->json = true;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
            cfg->quiet = true;
        else if (strcmp(a, "--profile") == 0)
            cfg->profile = true;
        else if (a[0] == '-' && a[1])
            rc = lp_cli_usage_error("bench", "unknown option '%s'", a);
        else if (cfg->path)
            rc = lp_cli_usage_error("bench", "unexpected argument '%s' (one MODEL only)", a);
        else
            cfg->path = a;
#undef OPT
        if (rc != LP_EXIT_OK)
            return rc;
    }
    if (!cfg->path)
        return lp_cli_usage_error("bench", "missing MODEL");
    if (strcmp(cfg->precision, "fp32") != 0 && strcmp(cfg->precision, "bf16") != 0)
        return lp_cli_usage_error("bench", "--precision wants fp32 or bf16, not '%s'",
                                  cfg->precision);
    return LP_EXIT_OK;
}

/* The instance layout, once the command line and the configuration have spoken. */
static int check_layout(bench_cfg *cfg)
{
    if (cfg->instances > 1 && cfg->cores < 0)
        cfg->cores = 1;
    if (cfg->profile && cfg->cores > 0)
        return lp_cli_usage_error("bench", "--profile runs in this process: not with --instances or "
                                  "--cores-per-instance");
    if (cfg->cores > 0 && cfg->threads > 0 && cfg->threads != cfg->cores)
        return lp_cli_usage_error("bench", "--threads %ld differs from --cores-per-instance %ld "
                                  "(each instance runs one thread per core)", cfg->threads,
                                  cfg->cores);
    return LP_EXIT_OK;
}

/* LPOT's benchmark mode: the configuration's evaluation.performance section gives warmup,
 * iteration, configs (instances, cores, threads) and a dataloader whose first batch becomes
 * the fixed input (written as .npy files under `dir`, fed like -i). The command line wins over
 * the configuration. */
static int apply_config(bench_cfg *cfg, const char *dir, char ***specs_out, int *n_specs_out)
{
    lowp_config *c = NULL;
    lowp_model *m = NULL;
    lowp_dataloader *dl = NULL;
    lowp_sample batch = { 0 };
    int64_t count = 0;
    int rc = LP_EXIT_OK;
    if (lowp_config_load(cfg->config, &c) != LOWP_OK)
        return lp_cli_lib_error();
    const lp_config *k = c;
    if (!k->evaluation.has_performance) {
        rc = lp_cli_input_error("%s: no evaluation.performance section (LPOT's benchmark settings)", cfg->config);
        goto done;
    }
    const lp_cfg_perf_configs *pc = &k->evaluation.performance_configs;
    if (pc->inter_num_of_threads > 1) {
        rc = lp_cli_input_error("%s: evaluation.performance.configs.inter_num_of_threads: lowp runs one op at a "
                                "time, its threads work inside each op (intra_num_of_threads)", cfg->config);
        goto done;
    }
    if (pc->has_kmp)
        fprintf(stderr, "lowp bench: note: kmp_blocktime / kmp_affinity are Intel OpenMP settings; lowp's GNU "
                        "OpenMP does not read them (its counterparts: OMP_WAIT_POLICY, OMP_PROC_BIND), and "
                        "instances are pinned to their cores already\n");
    if (!cfg->warmup_given)
        cfg->warmup = k->evaluation.warmup;
    if (!cfg->instances_given && pc->num_of_instance > 0)
        cfg->instances = (long)pc->num_of_instance;
    if (!cfg->cores_given && pc->cores_per_instance > 0)
        cfg->cores = (long)pc->cores_per_instance;
    if (!cfg->threads_given && pc->intra_num_of_threads > 0 && cfg->cores <= 0)
        cfg->threads = (long)pc->intra_num_of_threads;
    if (lowp_config_dataloader(c, "evaluation.performance", cfg->batch_given ? (int)cfg->batch : 0, 0, &dl) !=
            LOWP_OK ||
        lowp_dataloader_next(dl, &batch, &count) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (!count) {
        rc = lp_cli_input_error("%s: evaluation.performance.dataloader yields no sample", cfg->config);
        goto done;
    }
    if (!cfg->iters_given) {
        /* iteration -1 (LPOT's default): one run per batch of the whole dataloader */
        int64_t n = k->evaluation.iteration;
        if (n <= 0) {
            int64_t len = lowp_dataloader_length(dl);
            n = len > 0 ? (len + count - 1) / count : 50;
        }
        cfg->iters = n > MAX_ITERS ? MAX_ITERS : (long)n;
    }
    char **specs = calloc((size_t)batch.n_inputs + 1, sizeof *specs);
    if (!specs) {
        rc = lp_cli_input_error("out of memory");
        goto done;
    }
    *specs_out = specs;
    if (lowp_model_load(cfg->path, &m) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (batch.n_inputs != lowp_model_input_count(m)) {
        rc = lp_cli_input_error("%s: the performance dataloader yields %d inputs per sample, the model takes %d",
                                cfg->config, batch.n_inputs, lowp_model_input_count(m));
        goto done;
    }
    for (int i = 0; i < batch.n_inputs && rc == LP_EXIT_OK; i++) {
        const char *name = lowp_model_input_name(m, i);
        size_t n = strlen(name) + strlen(dir) + 32;
        specs[i] = malloc(n);
        if (!specs[i]) {
            rc = lp_cli_input_error("out of memory");
            break;
        }
        *n_specs_out = i + 1;
        int at = snprintf(specs[i], n, "%s=", name);
        snprintf(specs[i] + at, n - (size_t)at, "%s/input%d.npy", dir, i);
        if (lowp_tensor_save_npy(batch.inputs[i], specs[i] + at) != LOWP_OK)
            rc = lp_cli_lib_error();
    }
done:
    lowp_model_free(m);
    lowp_sample_clear(&batch);
    lowp_dataloader_free(dl);
    lowp_config_free(c);
    return rc;
}

int lp_cmd_bench(int argc, char **argv)
{
    bench_cfg cfg = { .batch = -1, .warmup = 5, .iters = 50, .threads = 0, .instances = 1,
                      .cores = -1, .precision = "fp32", .seed = 1978 };
    bool help = false;
    int rc, n_feeds = 0, *cpus = NULL, n_cfg_inputs = 0;
    char tmpdir[] = "/tmp/lowp_bench_XXXXXX", **cfg_inputs = NULL;
    long samples = 1;
    feed *feeds = NULL;
    lowp_model *model = NULL;
    inst_result **res = NULL;
    void *shm = MAP_FAILED;
    size_t stride = 0, shm_size = 0;

    cfg.shapes = calloc((size_t)argc, sizeof *cfg.shapes);
    cfg.files = calloc((size_t)argc, sizeof *cfg.files);
    if (!cfg.shapes || !cfg.files) {
        rc = lp_cli_input_error("out of memory");
        goto done;
    }
    if ((rc = parse_args(argc, argv, &cfg, &help)) != LP_EXIT_OK)
        goto done;
    if (help) {
        fputs(usage, stdout);
        goto done;
    }
    if (cfg.config) {
        if (cfg.n_files) {
            rc = lp_cli_usage_error("bench", "give inputs with -i or with --config's dataloader, not both");
            goto done;
        }
        if (!mkdtemp(tmpdir)) {
            rc = lp_cli_input_error("cannot make a temporary folder: %s", strerror(errno));
            goto done;
        }
        if ((rc = apply_config(&cfg, tmpdir, &cfg_inputs, &n_cfg_inputs)) != LP_EXIT_OK)
            goto done;
        /* a single-input model takes -i FILE; several are fed in order by name below */
        cfg.n_files = 0;
        for (int i = 0; i < n_cfg_inputs; i++)
            cfg.files[cfg.n_files++] = cfg_inputs[i];
    }
    if ((rc = check_layout(&cfg)) != LP_EXIT_OK)
        goto done;
    /* Check the model and the input shapes once here, so that a bad model or shape gives one
     * message rather than one per instance. */
    if (lowp_model_load(cfg.path, &model) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if ((rc = plan_feeds(model, &cfg, &feeds, &n_feeds, &samples)) != LP_EXIT_OK)
        goto done;
    lowp_model_free(model);
    model = NULL;

    if (cfg.cores > 0) {
        long need = cfg.instances * cfg.cores, have;
        cpus = calloc(MAX_CPUS, sizeof *cpus);
        if (!cpus || (have = allowed_cpus(cpus, MAX_CPUS)) < 0) {
            rc = lp_cli_input_error("cannot read this process's CPU set: %s",
                                    cpus ? strerror(errno) : "out of memory");
            goto done;
        }
        if (need > have) {
            rc = lp_cli_usage_error("bench", "%ld instance%s of %ld core%s need %ld CPUs; this "
                                    "process may use %ld", cfg.instances, cfg.instances > 1 ? "s" : "",
                                    cfg.cores, cfg.cores > 1 ? "s" : "", need, have);
            goto done;
        }
    }

    /* Results live in shared memory so that forked instances can fill them in. */
    stride = (sizeof(inst_result) + (size_t)cfg.iters * sizeof(double) + 63) & ~(size_t)63;
    shm_size = stride * (size_t)cfg.instances;
    shm = mmap(NULL, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    res = calloc((size_t)cfg.instances, sizeof *res);
    if (shm == MAP_FAILED || !res) {
        rc = lp_cli_input_error("out of memory for %ld x %ld latencies", cfg.instances, cfg.iters);
        goto done;
    }
    for (long i = 0; i < cfg.instances; i++) {
        res[i] = (inst_result *)((char *)shm + (size_t)i * stride);
        res[i]->status = -1;
        res[i]->arena = -1;
    }

    if (cfg.cores > 0)
        rc = run_instances(&cfg, cpus, res);
    else
        rc = run_instance(&cfg, -1, (int)cfg.threads, -1, -1, res[0]);
    if (rc != LP_EXIT_OK)
        goto done;
    report rp = { .cfg = &cfg, .feeds = feeds, .n_feeds = n_feeds, .samples = samples,
                  .res = res, .cpus = cpus };
    rc = print_report(&rp);

done:
    if (res && res[0])
        free(res[0]->profile);
    if (shm != MAP_FAILED)
        munmap(shm, shm_size);
    free(res);
    free(cpus);
    free_feeds(feeds, n_feeds);
    lowp_model_free(model);
    free(cfg.shapes);
    free(cfg.files);
    for (int i = 0; i < n_cfg_inputs; i++) {
        unlink(strchr(cfg_inputs[i], '=') + 1);
        free(cfg_inputs[i]);
    }
    free(cfg_inputs);
    if (strcmp(tmpdir, "/tmp/lowp_bench_XXXXXX") != 0)
        rmdir(tmpdir);
    return rc;
}
