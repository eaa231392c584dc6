/* cli_data.c — progress display, short-form dataloaders and the eval/tune data options for the
 * data-driven commands. */
#include "cli/cli_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "train/train.h"

double lp_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void lp_progress_init(lp_progress *p, const char *label, bool quiet)
{
    p->label = label;
    p->unit = NULL;
    p->tty = isatty(2);
    p->quiet = quiet || lp_cli_comm.rank > 0;   /* progress is shown once, by rank 0 */
    p->start = p->last = lp_cli_now();
}

const char *lp_cli_duration(double s, char *buf, size_t size)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, size, "?");
    else if (s >= 3600)
        snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, size, "%d:%02d", (int)s / 60, (int)s % 60);
    return buf;
}

void lp_progress_update(void *user, int64_t done, int64_t total)
{
    lp_progress *p = user;
    if (p->quiet)
        return;
    double t = lp_cli_now(), el = t - p->start;
    bool last = total > 0 && done >= total;
    if (!last && t - p->last < (p->tty ? 0.2 : 10.0))
        return;
    p->last = t;
    double rate = el > 0 ? (double)done / el : 0;
    char eta[32];
    lp_cli_duration(rate > 0 && total > 0 ? (double)(total - done) / rate : NAN, eta, sizeof eta);
    double frac = total > 0 ? (double)done / (double)total : 0;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %lld/%lld  %.*f %s/s  ETA %s  ", p->label, bar, (long long)done,
                (long long)total, p->unit && rate < 10 ? 2 : 0, rate, p->unit ? p->unit : "samples", eta);
        if (last)
            fprintf(stderr, "\r%*s\r", 90, "");
    } else {
        const char *u = p->unit ? p->unit : "samples";
        fprintf(stderr, "%s: %lld/%lld %s (%.0f%%), %.*f %s/s, ETA %s\n", p->label, (long long)done,
                (long long)total, u, 100 * frac, p->unit && rate < 10 ? 2 : 0, rate, u, eta);
    }
    fflush(stderr);
}

void lp_progress_abort(lp_progress *p)
{
    if (p->tty && !p->quiet)
        fprintf(stderr, "\n");
}

int lp_cli_append_transforms(lowp_transform *t, const char *list)
{
    char *buf = strdup(list);
    if (!buf)
        return lp_cli_input_error("out of memory");
    int rc = LP_EXIT_OK;
    char *item = buf;
    while (item && *item && rc == LP_EXIT_OK) {
        char *end = item;
        while (*end && !(*end == ',' && ((end[1] >= 'A' && end[1] <= 'Z') || (end[1] >= 'a' && end[1] <= 'z'))))
            end++;
        char *next = *end ? end + 1 : NULL;
        *end = 0;
        char *name = NULL;
        lowp_params *p = NULL;
        if (lowp_params_parse_spec("transform", item, &name, &p) != LOWP_OK ||
            lowp_transform_append(t, name, p) != LOWP_OK)
            rc = lp_cli_lib_error();
        free(name);
        lowp_params_free(p);
        item = next;
    }
    free(buf);
    return rc;
}

int lp_cli_dataloader(const char *spec, int n_transforms, const char *const *transforms, int batch_size,
                      int64_t max_samples, lowp_dataloader **out)
{
    return lp_cli_dataloader_shuffled(spec, n_transforms, transforms, batch_size, max_samples, false, out);
}

int lp_cli_dataloader_shuffled(const char *spec, int n_transforms, const char *const *transforms, int batch_size,
                               int64_t max_samples, bool shuffle, lowp_dataloader **out)
{
    lowp_dataloader_options o = lowp_dataloader_options_default();
    o.batch_size = batch_size;
    o.max_samples = max_samples;
    o.shuffle = shuffle;
    return lp_cli_dataloader_opts(spec, n_transforms, transforms, &o, out);
}

int lp_cli_dataloader_opts(const char *spec, int n_transforms, const char *const *transforms,
                           const lowp_dataloader_options *opt, lowp_dataloader **out)
{
    char *name = NULL;
    lowp_params *params = NULL;
    lowp_dataset *ds = NULL;
    lowp_transform *t = NULL;
    if (lowp_params_parse_spec("dataset", spec, &name, &params) != LOWP_OK ||
        lowp_dataset_open(name, params, &ds) != LOWP_OK || lowp_transform_create(&t) != LOWP_OK) {
        free(name);
        lowp_params_free(params);
        lowp_dataset_free(ds);
        return lp_cli_lib_error();
    }
    free(name);
    lowp_params_free(params);
    int rc = LP_EXIT_OK;
    for (int i = 0; i < n_transforms && rc == LP_EXIT_OK; i++)
        rc = lp_cli_append_transforms(t, transforms[i]);
    if (rc != LP_EXIT_OK) {
        lowp_dataset_free(ds);
        lowp_transform_free(t);
        return rc;
    }
    if (lowp_dataloader_create(ds, t, opt, out) != LOWP_OK) /* owns ds and t, also on failure */
        return lp_cli_lib_error();
    return LP_EXIT_OK;
}

int lp_cli_transform_option(const char *cmd, int argc, char **argv, int *i, lp_cli_data_opts *o)
{
    const char *v = NULL;
    int r = lp_cli_option(cmd, argc, argv, i, "-T", "--transform", &v);
    if (r <= 0)
        return r;
    if (o->n_transforms == (int)(sizeof o->transforms / sizeof *o->transforms))
        return lp_cli_usage_error(cmd, "too many --transform options"), -1;
    o->transforms[o->n_transforms++] = v;
    return 1;
}

int lp_cli_data_option(const char *cmd, int argc, char **argv, int *i, lp_cli_data_opts *o)
{
    const char *v = NULL;
    int r;
    if ((r = lp_cli_transform_option(cmd, argc, argv, i, o)) != 0)
        return r;
    if ((r = lp_cli_option(cmd, argc, argv, i, "-m", "--metric", &v)) != 0) {
        if (r < 0)
            return -1;
        o->metric = v;
        return 1;
    }
    return 0;
}

int lp_cli_eval_dataloader(const lp_cli_data_opts *o, const char *spec, const lowp_config *cfg, int batch_size,
                           int default_batch, int64_t max_samples, lowp_dataloader **out)
{
    if (spec)
        return lp_cli_dataloader(spec, o->n_transforms, o->transforms, batch_size ? batch_size : default_batch,
                                 max_samples, out);
    if (lowp_config_dataloader(cfg, "evaluation.accuracy", batch_size, max_samples, out) != LOWP_OK)
        return lp_cli_lib_error();
    return LP_EXIT_OK;
}

int lp_cli_metric(const lp_cli_data_opts *o, const lowp_config *cfg, lowp_metric **metric,
                  lowp_transform **post)
{
    lowp_metric *m = NULL;
    lowp_transform *t = NULL;
    lowp_status st;
    if (o->metric) {
        char *name = NULL;
        lowp_params *params = NULL;
        st = lowp_params_parse_spec("metric", o->metric, &name, &params);
        if (st == LOWP_OK)
            st = lowp_metric_create(name, params, &m);
        free(name);
        lowp_params_free(params);
    } else if (cfg && lowp_config_has_metric(cfg)) {
        st = lowp_config_metric(cfg, &m);
    } else {
        st = lowp_metric_create("topk", NULL, &m);
    }
    if (st == LOWP_OK && cfg)
        st = lowp_config_postprocess(cfg, &t);
    if (st != LOWP_OK) {
        lowp_transform_free(t);
        lowp_metric_free(m);
        return lp_cli_lib_error();
    }
    *metric = m;
    *post = t;
    return LP_EXIT_OK;
}

void lp_cli_train_from_config(const lp_cfg_train *ct, lp_train_options *t)
{
    t->start_epoch = ct->start_epoch;
    t->epochs = ct->end_epoch - ct->start_epoch;
    t->iterations = ct->iteration;
    lp_optim_kind_from_name(ct->optimizer, &t->optim.kind);
    t->optim.lr = ct->learning_rate;
    t->optim.momentum = ct->momentum;
    t->optim.nesterov = ct->nesterov;
    t->optim.weight_decay = ct->weight_decay;
    t->optim.beta1 = ct->beta_1;
    t->optim.beta2 = ct->beta_2;
    t->optim.eps = ct->epsilon;
    t->criterion = ct->criterion;
    t->loss.sum = ct->reduction_sum;
    t->loss.temperature = ct->temperature;
    t->loss.ce_weight = ct->loss_weights[0];
    t->loss.kd_weight = ct->loss_weights[1];
}
