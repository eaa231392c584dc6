/* report.c — what the tuner hands back besides the model: WORKSPACE/report.md (summary,
 * ops that fell back and why, every trial), WORKSPACE/report.html (the same plus an
 * accuracy-vs-latency scatter of all trials and the per-layer sensitivity chart, inline SVG),
 * WORKSPACE/report.json (the same facts for programs: lowp ui), and the summary as JSON. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "onnx/model.h"
#include "tune/tune.h"

lowp_status lowp_tune_summary_json(const lowp_tune_summary *s, char **out)
{
    if (!s || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tune_summary_json: NULL argument");
    lp_json j;
    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "met_target");
    lp_json_bool(&j, s->met);
    lp_json_key(&j, "baseline");
    lp_json_double(&j, s->baseline);
    lp_json_key(&j, "target");
    lp_json_double(&j, s->target);
    lp_json_key(&j, "best");
    lp_json_double(&j, s->best);
    lp_json_key(&j, "relative_loss");
    lp_json_double(&j, s->relative_loss);
    lp_json_key(&j, "speedup");
    lp_json_double(&j, s->speedup);
    lp_json_key(&j, "baseline_latency_ms");
    lp_json_double(&j, s->baseline_latency_ms);
    lp_json_key(&j, "best_latency_ms");
    lp_json_double(&j, s->best_latency_ms);
    lp_json_key(&j, "baseline_bytes");
    lp_json_int(&j, s->baseline_bytes);
    lp_json_key(&j, "best_bytes");
    lp_json_int(&j, s->best_bytes);
    lp_json_key(&j, "ops");
    lp_json_begin_object(&j);
    lp_json_key(&j, "int8");
    lp_json_int(&j, s->n_int8);
    lp_json_key(&j, "bf16");
    lp_json_int(&j, s->n_bf16);
    lp_json_key(&j, "fp32");
    lp_json_int(&j, s->n_fp32);
    lp_json_end_object(&j);
    lp_json_key(&j, "trials");
    lp_json_int(&j, s->trials);
    lp_json_key(&j, "best_trial");
    lp_json_int(&j, s->best_trial);
    lp_json_key(&j, "seconds");
    lp_json_double(&j, round(s->seconds * 1000) / 1000);
    lp_json_key(&j, "strategy");
    lp_json_string(&j, s->strategy);
    lp_json_key(&j, "output");
    lp_json_string(&j, s->output);
    lp_json_key(&j, "workspace");
    lp_json_string(&j, s->workspace);
    lp_json_end_object(&j);
    return lp_json_finish(&j, out);
}

/* ---- a growable text buffer ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) LP_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* Text safe for HTML and for Markdown tables. */
static const char *esc(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; s && *s && n + 7 < size; s++) {
        const char *r = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" : *s == '|' ? "&#124;" : NULL;
        if (r)
            n += (size_t)snprintf(buf + n, size - n, "%s", r);
        else
            buf[n++] = *s;
    }
    buf[n] = 0;
    return buf;
}

/* Text for HTML element content and attribute values, appended whole. */
static void sb_html(sbuf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        const char *r = *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '&' ? "&amp;" : *p == '"' ? "&quot;" : NULL;
        if (r)
            sb_printf(b, "%s", r);
        else
            sb_printf(b, "%c", *p);
    }
}

/* UTF-8 characters in s (bytes that do not continue a sequence). */
static int utf8_chars(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* s escaped, or when longer than `max` characters an ellipsis and its last max-1 characters
 * (the tail of an op name is the part that tells ops apart). */
static void sb_html_tail(sbuf *b, const char *s, int max)
{
    int skip = utf8_chars(s) - max;
    if (skip > 0) {
        for (skip++; *s && skip > 0; s++)
            if (((unsigned char)s[1] & 0xC0) != 0x80)
                skip--;
        sb_printf(b, "\xE2\x80\xA6"); /* U+2026 */
    }
    sb_html(b, s);
}

static lp_status write_text(const char *dir, const char *name, sbuf *b)
{
    if (b->oom) {
        free(b->p);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory writing %s", name);
    }
    char *path = NULL;
    lp_status st = lp_path_join(dir, name, &path);
    if (st == LP_OK)
        st = lp_write_file_atomic(path, b->p ? b->p : "", b->n);
    free(path);
    free(b->p);
    return st;
}

static const char *fmt_bytes(double v, char *buf, size_t size)
{
    if (v >= 1 << 20)
        snprintf(buf, size, "%.2f MB", v / (1 << 20));
    else if (v >= 1 << 10)
        snprintf(buf, size, "%.1f KB", v / (1 << 10));
    else
        snprintf(buf, size, "%.0f B", v);
    return buf;
}

/* The accuracy change in percent, with no "-0.00" for a loss that rounds to nothing. */
static double gain_pct(double relative_loss) { return fabs(relative_loss) < 5e-5 ? 0.0 : -100 * relative_loss; }

/* The built-in strategies that choose fallbacks in order of per-op sensitivity; the others
 * (basic, exhaustive, random, bayesian, conservative, registered ones) choose by what trials
 * measured, so a sensitivity rank would not be their reason. */
static bool chose_by_sensitivity(const char *strategy)
{
    return !strcmp(strategy, "auto") || !strcmp(strategy, "mse") || !strcmp(strategy, "mse_v2");
}

/* Why op i of the best point (found by `best`'s strategy) is not INT8. */
static void why(const lowp_tuner *t, const lp_tune_rec *best, int cfg, int i, int rank, int n_ranked, char *buf,
                size_t size)
{
    const lp_tune_op *op = &t->ops[i];
    if (!op->allow[LP_PREC_INT8]) {
        snprintf(buf, size, "op_wise keeps it out of int8");
        return;
    }
    const double *s = t->sens[cfg];
    if (s && rank >= 0 && chose_by_sensitivity(best->strategy))
        snprintf(buf, size, "sensitivity rank %d of %d (alone in int8: model outputs at %.1f dB noise, its own SQNR %.1f dB)", rank + 1,
                 n_ranked, s[i], t->sens_sqnr[cfg][i]);
    else if (s && rank >= 0)
        snprintf(buf, size, "trial %d of the %s strategy, chosen by what the trials measured (its sensitivity rank, "
                 "for reference: %d of %d)", best->t.index, best->strategy, rank + 1, n_ranked);
    else
        snprintf(buf, size, "trial %d of the %s strategy, chosen by what the trials measured", best->t.index,
                 best->strategy);
}

/* report.json: the report's facts for programs (lowp ui reads it): the summary, the criterion,
 * and per tunable op its precision in the returned model, why it is not INT8, its sensitivity. */
static lp_status write_json(const lowp_tuner *t, const lowp_tune_summary *s, const lp_tune_rec *best, int cfg,
                            const int *rank, int n_ranked)
{
    const double *sens = t->sens[cfg];
    lp_json j;
    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "met_target");
    lp_json_bool(&j, s->met);
    lp_json_key(&j, "performance_only");
    lp_json_bool(&j, t->opt.performance_only != 0);
    lp_json_key(&j, "model");
    lp_json_string(&j, t->model_path);
    lp_json_key(&j, "metric");
    lp_json_string(&j, t->metric_name);
    lp_json_key(&j, "higher_is_better");
    lp_json_bool(&j, t->hib);
    lp_json_key(&j, "relative");
    lp_json_bool(&j, t->opt.relative != 0);
    lp_json_key(&j, "tolerance");
    lp_json_double(&j, t->opt.tolerance);
    static const char *const keys[] = { "baseline", "target", "best", "baseline_latency_ms", "best_latency_ms", "speedup" };
    const double vals[] = { s->baseline, s->target, s->best, s->baseline_latency_ms, s->best_latency_ms, s->speedup };
    for (int i = 0; i < 6; i++) {
        lp_json_key(&j, keys[i]);
        lp_json_double(&j, vals[i]);
    }
    lp_json_key(&j, "baseline_bytes");
    lp_json_int(&j, s->baseline_bytes);
    lp_json_key(&j, "best_bytes");
    lp_json_int(&j, s->best_bytes);
    lp_json_key(&j, "baseline_footprint_bytes");
    lp_json_int(&j, t->base_footprint);
    lp_json_key(&j, "best_footprint_bytes");
    lp_json_int(&j, best->t.footprint_bytes);
    lp_json_key(&j, "best_trial");
    lp_json_int(&j, best->t.index);
    lp_json_key(&j, "config");
    lp_json_string(&j, t->cfgs[cfg].name);
    lp_json_key(&j, "strategy");
    lp_json_string(&j, s->strategy);
    lp_json_key(&j, "trials");
    lp_json_int(&j, s->trials);
    lp_json_key(&j, "seconds");
    lp_json_double(&j, round(s->seconds * 1000) / 1000);
    lp_json_key(&j, "output");
    lp_json_string(&j, s->output);
    lp_json_key(&j, "ops");
    lp_json_begin_array(&j);
    for (int i = 0; i < t->n_ops; i++) {
        lp_json_begin_object(&j);
        lp_json_key(&j, "name");
        lp_json_string(&j, t->ops[i].name);
        lp_json_key(&j, "op_type");
        lp_json_string(&j, t->ops[i].op_type);
        lp_json_key(&j, "precision");
        lp_json_string(&j, lp_precision_name((lp_precision)best->prec[i]));
        lp_json_key(&j, "why");
        if (best->prec[i] == LP_PREC_INT8) {
            lp_json_null(&j);
        } else {
            char w[256];
            why(t, best, cfg, i, rank[i], n_ranked, w, sizeof w);
            lp_json_string(&j, w);
        }
        lp_json_key(&j, "sensitivity_db");
        lp_json_double(&j, sens ? sens[i] : NAN);
        lp_json_key(&j, "sqnr_db");
        lp_json_double(&j, sens ? t->sens_sqnr[cfg][i] : NAN);
        lp_json_key(&j, "sensitivity_rank");
        if (rank[i] >= 0)
            lp_json_int(&j, rank[i] + 1);
        else
            lp_json_null(&j);
        lp_json_end_object(&j);
    }
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    char *text = NULL, *path = NULL;
    LP_TRY(lp_json_finish(&j, &text));
    lp_status st = lp_path_join(t->workspace, "report.json", &path);
    if (st == LP_OK)
        st = lp_write_file_atomic(path, text, strlen(text));
    free(path);
    free(text);
    return st;
}

lp_status lp_tune_write_reports(lowp_tuner *t, const lowp_tune_summary *s)
{
    int b = lowp_tuner_best(t, NULL, NULL);
    const lp_tune_rec *best = &t->trials[b];
    int cfg = best->config;
    /* the per-layer sensitivity chart needs the sensitivity of the best configuration */
    if (!t->sens[cfg])
        (void)lp_tune_compute_sensitivity(t, cfg); /* on failure the chart is left out */
    const double *sens = t->sens[cfg];
    int *rank = malloc((size_t)(t->n_ops + 1) * sizeof *rank);
    lp_tune_ranked *order = malloc((size_t)(t->n_ops + 1) * sizeof *order);
    if (!rank || !order) {
        free(rank), free(order);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int n_ranked = 0;
    for (int i = 0; i < t->n_ops; i++) {
        rank[i] = -1;
        if (sens && t->ops[i].allow[LP_PREC_INT8])
            order[n_ranked++] = (lp_tune_ranked){ i, sens[i] };
    }
    qsort(order, (size_t)n_ranked, sizeof *order, lp_tune_by_key_desc);
    for (int k = 0; k < n_ranked; k++)
        rank[order[k].op] = k;

    char e1[400], bb1[32], bb2[32];
    sbuf md = { 0 };
    sb_printf(&md, "# lowp tuning report\n\n");
    const char *verdict = t->opt.performance_only
                              ? "Performance only: accuracy was not evaluated (exit_policy.performance_only)."
                          : s->met ? "Target met."
                                   : "TARGET NOT MET: no recipe reached the target within the budget; the model "
                                     "written is the most accurate one found.";
    sb_printf(&md, "**%s**\n\n", verdict);
    sb_printf(&md, "- model: `%s`\n- strategy: %s, %d trial%s, %.1f s\n- criterion: %s %g (%s is better), target %.6g\n"
                   "- output: `%s`\n- best trial: %d (%s)\n\n",
              t->model_path, s->strategy, s->trials, s->trials == 1 ? "" : "s", s->seconds, t->opt.relative ? "relative" : "absolute",
              t->opt.tolerance, t->hib ? "higher" : "lower", s->target, s->output, best->t.index,
              esc(best->note, e1, sizeof e1));
    sb_printf(&md, "| | FP32 | tuned |\n|---|---|---|\n");
    sb_printf(&md, "| %s | %.6g | %.6g (%+.2f %%) |\n", t->metric_name, s->baseline, s->best,
              gain_pct(s->relative_loss));
    sb_printf(&md, "| latency, batch 1 (measured) | %.3f ms | %.3f ms (x%.2f) |\n", s->baseline_latency_ms,
              s->best_latency_ms, s->speedup);
    sb_printf(&md, "| cost model (MACs weighted by precision) | 1.00 | %.2f |\n", best->cost);
    sb_printf(&md, "| model size | %s | %s |\n", fmt_bytes((double)s->baseline_bytes, bb1, sizeof bb1),
              fmt_bytes((double)s->best_bytes, bb2, sizeof bb2));
    sb_printf(&md, "| peak memory | %s | %s |\n", fmt_bytes((double)t->base_footprint, bb1, sizeof bb1),
              fmt_bytes((double)best->t.footprint_bytes, bb2, sizeof bb2));
    sb_printf(&md, "| ops int8 / bf16 / fp32 | 0 / 0 / %d | %d / %d / %d |\n\n", t->n_ops, s->n_int8, s->n_bf16, s->n_fp32);
    sb_printf(&md, "Configuration: %s. The ranking among passing recipes uses the cost model (deterministic); "
                   "latency is measured with lowp's engine and reported (docs/tuning.md).\n\n", t->cfgs[cfg].name);

    if (t->n_rungs) {
        sb_printf(&md, "## Accuracy recovery\n\nSteps the auto strategy took before falling ops back (docs/tuning.md); "
                       "accuracy of the best trial before the step and of the step's own trial.\n\n"
                       "| step | what | before | after | change | trial |\n|---|---|---|---|---|---|\n");
        for (int i = 0; i < t->n_rungs; i++) {
            const lp_tune_rung *r = &t->rungs[i];
            if (r->trial)
                sb_printf(&md, "| %s | %s | %.6g | %.6g | %+.6g | %d |\n", r->step, esc(r->detail, e1, sizeof e1), r->before,
                          r->after, r->after - r->before, r->trial);
            else
                sb_printf(&md, "| %s | %s | | | | |\n", r->step, esc(r->detail, e1, sizeof e1));
        }
        sb_printf(&md, "\n");
    }
    sb_printf(&md, "## Ops that fell back\n\n");
    int fell = 0;
    for (int i = 0; i < t->n_ops; i++) {
        if (best->prec[i] == LP_PREC_INT8)
            continue;
        if (!fell++)
            sb_printf(&md, "| op | type | precision | why |\n|---|---|---|---|\n");
        char w[256];
        why(t, best, cfg, i, rank[i], n_ranked, w, sizeof w);
        sb_printf(&md, "| %s | %s | %s | %s |\n", esc(t->ops[i].name, e1, sizeof e1), t->ops[i].op_type,
                  lp_precision_name((lp_precision)best->prec[i]), w);
    }
    if (!fell)
        sb_printf(&md, "None: every tunable op runs in INT8.\n");
    sb_printf(&md, "\n## Per-op sensitivity (%s)\n\n", t->cfgs[cfg].name);
    if (sens) {
        sb_printf(&md, "Each op alone in INT8, the rest FP32, on calibration data: the noise-to-signal ratio of the model's "
                       "outputs (higher: more sensitive) and the SQNR of the op's own output.\n\n"
                       "| op | type | model-output noise (dB) | op SQNR (dB) | tuned |\n"
                       "|---|---|---|---|---|\n");
        for (int i = 0; i < t->n_ops; i++)
            sb_printf(&md, "| %s | %s | %.1f | %.1f | %s |\n", esc(t->ops[i].name, e1, sizeof e1), t->ops[i].op_type,
                      sens[i], t->sens_sqnr[cfg][i], lp_precision_name((lp_precision)best->prec[i]));
    } else {
        sb_printf(&md, "Not available for this configuration.\n");
    }
    sb_printf(&md, "\n## Trials\n\n| # | strategy | what | %s | pass | objective | latency ms | size | int8/bf16/fp32 | s |\n"
                   "|---|---|---|---|---|---|---|---|---|---|\n", t->metric_name);
    for (int i = 0; i < t->n_trials; i++) {
        const lp_tune_rec *r = &t->trials[i];
        sb_printf(&md, "| %d%s | %s | %s | %.6g | %s | %.3f | %.3f | %s | %d/%d/%d | %.1f%s |\n", r->t.index,
                  i == b ? " **best**" : "", r->strategy, esc(r->note, e1, sizeof e1), r->t.accuracy,
                  r->t.passed ? "yes" : "no", r->t.objective, r->t.latency_ms,
                  fmt_bytes((double)r->t.model_bytes, bb1, sizeof bb1), r->n_prec[0], r->n_prec[1], r->n_prec[2],
                  r->t.seconds, r->replayed ? " (resumed)" : "");
    }
    lp_status st = write_text(t->workspace, "report.md", &md);

    /* ---- HTML: the same summary and tables, plus two charts ---- */
    sbuf h = { 0 };
    sb_printf(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>lowp tuning report: ");
    sb_html(&h, t->model_path);
    sb_printf(&h, "</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
                  "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
                  "td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.t,th.t{text-align:left;white-space:normal}"
                  "td.w{min-width:14em}"
                  ".bad{color:#b00;font-weight:bold}.ok{color:#070;font-weight:bold}.wide{overflow-x:auto}"
                  "svg.fit{max-width:100%%;height:auto}code{word-break:break-all}"
                  ".key{display:inline-block;width:10px;height:10px;margin:0 3px}p span{white-space:nowrap}"
                  "</style></head><body>\n<h1>lowp tuning report</h1>\n");
    sb_printf(&h, "<p class=\"%s\">%s</p>\n<ul><li>model: <code>", s->met ? "ok" : "bad", verdict);
    sb_html(&h, t->model_path);
    sb_printf(&h, "</code></li>\n<li>strategy: %s, %d trial%s, %.1f s</li>\n<li>criterion: %s %g (%s is better), target %.6g</li>\n"
                  "<li>output: <code>", s->strategy, s->trials, s->trials == 1 ? "" : "s", s->seconds, t->opt.relative ? "relative" : "absolute",
              t->opt.tolerance, t->hib ? "higher" : "lower", s->target);
    sb_html(&h, s->output);
    sb_printf(&h, "</code></li>\n<li>best trial: %d (", best->t.index);
    sb_html(&h, best->note);
    sb_printf(&h, ")</li></ul>\n<div class=\"wide\"><table><tr><th></th><th>FP32</th><th>tuned</th></tr>\n");
    sb_printf(&h, "<tr><th class=\"t\">%s</th><td>%.6g</td><td>%.6g (%+.2f %%)</td></tr>\n", t->metric_name,
              s->baseline, s->best, gain_pct(s->relative_loss));
    sb_printf(&h, "<tr><th class=\"t\">latency, batch 1 (measured)</th><td>%.3f ms</td><td>%.3f ms (x%.2f)</td></tr>\n",
              s->baseline_latency_ms, s->best_latency_ms, s->speedup);
    sb_printf(&h, "<tr><th class=\"t\">cost model (MACs weighted by precision)</th><td>1.00</td><td>%.2f</td></tr>\n", best->cost);
    sb_printf(&h, "<tr><th class=\"t\">model size</th><td>%s</td><td>%s</td></tr>\n",
              fmt_bytes((double)s->baseline_bytes, bb1, sizeof bb1), fmt_bytes((double)s->best_bytes, bb2, sizeof bb2));
    sb_printf(&h, "<tr><th class=\"t\">peak memory</th><td>%s</td><td>%s</td></tr>\n",
              fmt_bytes((double)t->base_footprint, bb1, sizeof bb1), fmt_bytes((double)best->t.footprint_bytes, bb2, sizeof bb2));
    sb_printf(&h, "<tr><th class=\"t\">ops int8 / bf16 / fp32</th><td>0 / 0 / %d</td><td>%d / %d / %d</td></tr>\n</table></div>\n",
              t->n_ops, s->n_int8, s->n_bf16, s->n_fp32);
    sb_printf(&h, "<p>Configuration: %s. The ranking among passing recipes uses the cost model (deterministic); "
                  "latency is measured with lowp's engine and reported.</p>\n", t->cfgs[cfg].name);

    if (t->n_rungs) {
        sb_printf(&h, "<h2>Accuracy recovery</h2>\n<div class=\"wide\"><table><tr><th>step</th><th>what</th><th>before</th>"
                      "<th>after</th><th>change</th><th>trial</th></tr>\n");
        for (int i = 0; i < t->n_rungs; i++) {
            const lp_tune_rung *r = &t->rungs[i];
            sb_printf(&h, "<tr><td>%s</td><td>", r->step);
            sb_html(&h, r->detail);
            if (r->trial)
                sb_printf(&h, "</td><td>%.6g</td><td>%.6g</td><td>%+.6g</td><td>%d</td></tr>\n", r->before, r->after,
                          r->after - r->before, r->trial);
            else
                sb_printf(&h, "</td><td></td><td></td><td></td><td></td></tr>\n");
        }
        sb_printf(&h, "</table></div>\n");
    }
    sb_printf(&h, "<h2>Ops that fell back</h2>\n");
    if (!fell)
        sb_printf(&h, "<p>None: every tunable op runs in INT8.</p>\n");
    else
        sb_printf(&h, "<div class=\"wide\"><table><tr><th>op</th><th>type</th><th>precision</th><th>why</th></tr>\n");
    for (int i = 0; i < t->n_ops; i++) {
        if (best->prec[i] == LP_PREC_INT8)
            continue;
        char w[256];
        why(t, best, cfg, i, rank[i], n_ranked, w, sizeof w);
        sb_printf(&h, "<tr><td class=\"t\">");
        sb_html(&h, t->ops[i].name);
        sb_printf(&h, "</td><td class=\"t\">");
        sb_html(&h, t->ops[i].op_type);
        sb_printf(&h, "</td><td class=\"t\">%s</td><td class=\"t w\">%s</td></tr>\n",
                  lp_precision_name((lp_precision)best->prec[i]), w);
    }
    if (fell)
        sb_printf(&h, "</table></div>\n");

    /* scatter: accuracy vs measured latency */
    double x0 = s->baseline_latency_ms, x1 = x0, y0 = s->baseline, y1 = y0;
    if (s->target == s->target)
        y0 = fmin(y0, s->target), y1 = fmax(y1, s->target);
    for (int i = 0; i < t->n_trials; i++) {
        const lp_tune_rec *r = &t->trials[i];
        if (r->t.latency_ms == r->t.latency_ms)
            x0 = fmin(x0, r->t.latency_ms), x1 = fmax(x1, r->t.latency_ms);
        if (r->t.accuracy == r->t.accuracy)
            y0 = fmin(y0, r->t.accuracy), y1 = fmax(y1, r->t.accuracy);
    }
    double dx = x1 - x0 > 0 ? x1 - x0 : fabs(x0) * 0.1 + 1e-3, dy = y1 - y0 > 0 ? y1 - y0 : fabs(y0) * 0.01 + 1e-3;
    x0 -= 0.05 * dx, x1 += 0.05 * dx, y0 -= 0.05 * dy, y1 += 0.05 * dy;
    const int W = 640, H = 360, L = 70, R = 20, T = 20, B = 44;
#define SX(v) (L + ((v) - x0) / (x1 - x0) * (W - L - R))
#define SY(v) (H - B - ((v) - y0) / (y1 - y0) * (H - T - B))
    sb_printf(&h, "<h2>Accuracy vs latency (all trials)</h2>\n<svg class=\"fit\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                  "font-family=\"sans-serif\" font-size=\"12\" xmlns=\"http://www.w3.org/2000/svg\">\n"
                  "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
              W, H, W, H, L, T, W - L - R, H - T - B);
    /* axes: the ends of each range, and what is plotted */
    sb_printf(&h, "<text x=\"%d\" y=\"%d\">%.3f</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3f</text>"
                  "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">latency, batch 1 (ms)</text>\n",
              L, H - B + 16, x0, W - R, H - B + 16, x1, (L + W - R) / 2, H - 8);
    sb_printf(&h, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.4g</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.4g</text>"
                  "<text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
              L - 4, T + 10, y1, L - 4, H - B, y0, (T + H - B) / 2, t->metric_name);
    if (s->target == s->target) {
        double ty = SY(s->target);
        sb_printf(&h, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c60\" stroke-dasharray=\"4\"/>"
                      "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" fill=\"#c60\" text-anchor=\"end\">target</text>\n",
                  L, W - R, ty, ty, W - R - 4, ty < T + 14 ? ty + 13 : ty - 4);
    }
    sb_printf(&h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"#333\"><title>FP32 baseline (%.6g, %.3f ms)</title></rect>\n",
              SX(s->baseline_latency_ms) - 4, SY(s->baseline) - 4, s->baseline, s->baseline_latency_ms);
    for (int i = 0; i < t->n_trials; i++) {
        const lp_tune_rec *r = &t->trials[i];
        if (!(r->t.latency_ms == r->t.latency_ms) || !(r->t.accuracy == r->t.accuracy))
            continue;
        sb_printf(&h, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\" fill-opacity=\"0.7\"><title>trial %d: ",
                  SX(r->t.latency_ms), SY(r->t.accuracy), i == b ? 7 : 4, i == b ? "#06c" : r->t.passed ? "#2a2" : "#c22",
                  r->t.index);
        sb_html(&h, r->note);
        sb_printf(&h, " (%.6g, %.3f ms)</title></circle>\n", r->t.accuracy, r->t.latency_ms);
    }
#undef SX
#undef SY
    sb_printf(&h, "</svg>\n<p><span><i class=\"key\" style=\"background:#333\"></i>FP32</span> "
                  "<span><i class=\"key\" style=\"background:#2a2\"></i>passed</span> "
                  "<span><i class=\"key\" style=\"background:#c22\"></i>failed</span> "
                  "<span><i class=\"key\" style=\"background:#06c\"></i>returned</span> (hover a point for its recipe)</p>\n");

    /* sensitivity bars; names longer than the label column keep their tail, hovering shows all */
    if (sens) {
        double lo = 0, hi = -1e300;
        for (int i = 0; i < t->n_ops; i++)
            if (isfinite(sens[i]))
                lo = fmin(lo, sens[i]), hi = fmax(hi, sens[i]);
        if (hi < lo + 1)
            hi = lo + 1;
        int chars = 8;
        for (int i = 0; i < t->n_ops; i++)
            chars = utf8_chars(t->ops[i].name) > chars ? utf8_chars(t->ops[i].name) : chars;
        chars = chars < 48 ? chars : 48;
        int bh = 18, cw = 520, lw = (int)(chars * 7.3) + 10; /* 12px monospace: ~7.2px a character */
        sb_printf(&h, "<h2>Per-layer sensitivity (%s)</h2>\n<p>Noise-to-signal of the model outputs with only this op in INT8, "
                      "dB (longer: more sensitive); hover a bar for the op's own SQNR. Colour: precision in the returned model "
                      "<span><i class=\"key\" style=\"background:#2a2\"></i>int8</span> "
                      "<span><i class=\"key\" style=\"background:#e90\"></i>bf16</span> "
                      "<span><i class=\"key\" style=\"background:#c22\"></i>fp32</span></p>\n"
                      "<div class=\"wide\"><svg width=\"%d\" height=\"%d\" font-size=\"12\" xmlns=\"http://www.w3.org/2000/svg\">\n",
                  t->cfgs[cfg].name, lw + cw + 70, t->n_ops * bh + 4);
        for (int i = 0; i < t->n_ops; i++) {
            double v = isfinite(sens[i]) ? sens[i] : lo;
            double w = (v - lo) / (hi - lo) * cw;
            const char *col = best->prec[i] == LP_PREC_INT8 ? "#2a2" : best->prec[i] == LP_PREC_BF16 ? "#e90" : "#c22";
            sb_printf(&h, "<g><title>");
            sb_html(&h, t->ops[i].name);
            sb_printf(&h, " (%s, %s): %.1f dB, output SQNR %.1f dB</title><text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
                          "font-family=\"monospace\">", t->ops[i].op_type, lp_precision_name((lp_precision)best->prec[i]),
                      sens[i], t->sens_sqnr[cfg][i], lw - 6, i * bh + 13);
            sb_html_tail(&h, t->ops[i].name, chars);
            sb_printf(&h, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                          "<text x=\"%.1f\" y=\"%d\">%.1f</text></g>\n",
                      lw, i * bh + 2, w < 1 ? 1 : w, bh - 4, col, lw + (w < 1 ? 1 : w) + 4, i * bh + 13, sens[i]);
        }
        sb_printf(&h, "</svg></div>\n");
    }

    sb_printf(&h, "<h2>Trials</h2>\n<div class=\"wide\"><table><tr><th>#</th><th>strategy</th><th>what</th><th>%s</th><th>pass</th>"
                  "<th>objective</th><th>latency ms</th><th>size</th><th>int8/bf16/fp32</th><th>s</th></tr>\n",
              t->metric_name);
    for (int i = 0; i < t->n_trials; i++) {
        const lp_tune_rec *r = &t->trials[i];
        sb_printf(&h, "<tr%s><td>%d</td><td class=\"t\">%s</td><td class=\"t w\">", i == b ? " style=\"background:#def\"" : "",
                  r->t.index, r->strategy);
        sb_html(&h, r->note);
        sb_printf(&h, "</td><td>%.6g</td><td class=\"t\">%s</td><td>%.3f</td><td>%.3f</td><td>%s</td><td>%d/%d/%d</td>"
                      "<td>%.1f%s</td></tr>\n",
                  r->t.accuracy, r->t.passed ? "yes" : "no", r->t.objective, r->t.latency_ms,
                  fmt_bytes((double)r->t.model_bytes, bb1, sizeof bb1), r->n_prec[0], r->n_prec[1], r->n_prec[2],
                  r->t.seconds, r->replayed ? " (resumed)" : "");
    }
    sb_printf(&h, "</table></div>\n</body></html>\n");
    lp_status st2 = write_text(t->workspace, "report.html", &h);
    lp_status st3 = write_json(t, s, best, cfg, rank, n_ranked);
    free(rank), free(order);
    return st != LP_OK ? st : st2 != LP_OK ? st2 : st3;
}
