/* cmd_compare.c — `lowp compare FP32.onnx QUANT.onnx`: per-layer error of a quantized model
 * against its FP32 original (SQNR and relative error per tensor, worst first), as text, JSON or
 * a standalone HTML page with a bar chart. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/outfile.h"
#include "cli/cli.h"
#include "cli/cli_data.h"

static const char usage[] =
    "usage: lowp compare FP32.onnx QUANT.onnx (--config FILE.yaml | --dataset SPEC [--transform LIST]) [options]\n"
    "\n"
    "Runs both models on a few samples and prints, per tensor, the signal-to-quantization-noise\n"
    "ratio (SQNR, dB: higher is better) and the relative error of the quantized model's tensors\n"
    "against the FP32 model's, activations and weights, worst first.\n"
    "\n"
    "  -c, --config FILE      YAML: the evaluation.accuracy dataloader is used\n"
    "  -d, --dataset SPEC     e.g. FashionMNIST:/usr/share/datasets/fashion-mnist\n"
    "  -T, --transform LIST   e.g. Rescale,Normalize=0.2860/0.3530 (repeatable)\n"
    "  -n, --samples N        samples to compare on (default 32)\n"
    "  -b, --batch-size N     (default 8)\n"
    "      --top N            rows to print (default 20; 0: all)\n"
    "      --html FILE        also write a standalone page with a bar chart of per-layer SQNR\n"
    "      --tensorboard DIR  also write TensorBoard event files: histograms of every tensor's\n"
    "                         values, DIR/fp32 and DIR/quantized (tensorboard --logdir DIR)\n"
    "      --histograms FILE  also write those histograms as JSON\n"
    "  -j, --json             print the JSON instead of the table\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             show this help\n";

/* SQNR of a layer entry: null in the JSON is +inf (no noise: rel_error 0) or -inf (no signal). */
/* Characters of a UTF-8 string (continuation bytes do not count): what a terminal shows. */
static int text_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* s, then spaces up to width characters, then one space. */
static void print_padded(const char *s, int width)
{
    printf("%s%*s ", s, width - text_width(s), "");
}

static double entry_sqnr(const lp_cj *e)
{
    const lp_cj *s = lp_cj_get(e, "sqnr_db"), *re = lp_cj_get(e, "rel_error");
    if (s && s->type == LP_CJ_NUMBER)
        return s->num;
    return re && re->type == LP_CJ_NUMBER && re->num == 0 ? INFINITY : -INFINITY;
}

/* Text for HTML element content and attribute values. */
static void put_html(FILE *f, const char *s)
{
    for (; *s; s++) {
        const char *r = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" : *s == '"' ? "&quot;" : NULL;
        if (r)
            fputs(r, f);
        else
            fputc(*s, f);
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

/* The last `keep` characters of s (a label's tail names the op more precisely than its head). */
static const char *utf8_tail(const char *s, int keep)
{
    int skip = utf8_chars(s) - keep;
    for (; *s && skip > 0; s++)
        if (((unsigned char)s[1] & 0xC0) != 0x80)
            skip--;
    return s;
}

/* A standalone page: one horizontal bar per tensor, length by SQNR, worst first; the bar's
 * colour says how bad it is, stripes mark weights, hovering shows the full name and rel. error. */
static int write_html(const char *path, const lp_cj *doc, const lp_cj *layers, const char *fp32, const char *quant)
{
    enum { ROW = 18, BAR = 520, MAX_CHARS = 56 };
    static const char *const colors[3] = { "#d33", "#e92", "#4a7" };
    lp_outfile out;
    if (lp_out_begin(path, &out) != LP_OK)
        return lp_cli_input_error("%s", lowp_last_error());
    FILE *f = out.f;
    int n = layers->n, n_weights = 0, chars = 8;
    double maxdb = 1;
    for (int i = 0; i < n; i++) {
        const lp_cj *e = &layers->items[i];
        double db = entry_sqnr(e);
        if (isfinite(db) && db > maxdb)
            maxdb = db;
        n_weights += strcmp(lp_cj_str(lp_cj_get(e, "kind"), ""), "weight") == 0;
        int c = utf8_chars(lp_cj_str(lp_cj_get(e, "tensor"), "")) + utf8_chars(lp_cj_str(lp_cj_get(e, "op_type"), "")) + 3;
        chars = c > chars ? c : chars;
    }
    chars = chars < MAX_CHARS ? chars : MAX_CHARS;
    int left = (int)(chars * 7.3) + 12; /* 12px monospace is ~7.2px a character */
    const lp_cj *samples = lp_cj_get(doc, "samples");
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>lowp compare: ", f);
    put_html(f, quant);
    fputs("</title>\n<style>body{font:14px sans-serif;margin:24px}code{word-break:break-all}"
          ".chart{overflow-x:auto}svg text{font:12px monospace}"
          "p span{white-space:nowrap}.key{display:inline-block;width:10px;height:10px;margin:0 3px}</style></head><body>\n"
          "<h1>Per-layer quantization error</h1>\n<p>FP32: <code>", f);
    put_html(f, fp32);
    fputs("</code><br>quantized: <code>", f);
    put_html(f, quant);
    fprintf(f, "</code><br>%d tensors (%d activations, %d weights), %s samples</p>\n", n, n - n_weights, n_weights,
            samples && samples->type == LP_CJ_NUMBER ? samples->str : "?");
    fprintf(f, "<p>SQNR in dB per tensor (higher is better), worst first:"
               " <span><i class=\"key\" style=\"background:%s\"></i>below 20 dB</span>"
               " <span><i class=\"key\" style=\"background:%s\"></i>below 30 dB</span>"
               " <span><i class=\"key\" style=\"background:%s\"></i>30 dB or more</span>. Weights are striped; "
               "hover a bar for the relative error.</p>\n",
            colors[0], colors[1], colors[2]);
    int w_svg = left + BAR + 64, h_svg = n * ROW + 4;
    fprintf(f, "<div class=\"chart\"><svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n<defs>",
            w_svg, h_svg, w_svg, h_svg);
    for (int k = 0; k < 3; k++)
        fprintf(f, "<pattern id=\"s%d\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
                   "<rect width=\"6\" height=\"6\" fill=\"%s\"/><path d=\"M0 6L6 0\" stroke=\"#fff\"/></pattern>",
                k, colors[k]);
    fputs("</defs>\n", f);
    for (int i = 0; i < n; i++) {
        const lp_cj *e = &layers->items[i], *re = lp_cj_get(e, "rel_error");
        const char *tensor = lp_cj_str(lp_cj_get(e, "tensor"), ""), *op = lp_cj_str(lp_cj_get(e, "op_type"), "");
        const char *kind = lp_cj_str(lp_cj_get(e, "kind"), "");
        double db = entry_sqnr(e);
        int k = db < 20 ? 0 : db < 30 ? 1 : 2;
        int w = (int)(fmin(fmax(db, 0), maxdb) / maxdb * BAR);
        char value[32], rel[32];
        snprintf(value, sizeof value, "%.2f", db);
        snprintf(rel, sizeof rel, "%.4g", re && re->type == LP_CJ_NUMBER ? re->num : INFINITY);
        fputs("<g><title>", f);
        put_html(f, tensor);
        fprintf(f, " (%s of ", kind);
        put_html(f, op);
        fputs(" node ", f);
        put_html(f, lp_cj_str(lp_cj_get(e, "node"), ""));
        fprintf(f, "): SQNR %s dB, relative error %s</title><text x=\"%d\" y=\"%d\" text-anchor=\"end\">", value, rel,
                left - 6, i * ROW + 13);
        int len = utf8_chars(tensor) + utf8_chars(op) + 3;
        if (len > chars) { /* too long: keep the tail, which names the op more precisely */
            fputs("\xE2\x80\xA6", f);
            put_html(f, utf8_tail(tensor, chars - utf8_chars(op) - 4));
        } else {
            put_html(f, tensor);
        }
        fputs(" (", f);
        put_html(f, op);
        char fill[16];
        if (strcmp(kind, "weight") == 0)
            snprintf(fill, sizeof fill, "url(#s%d)", k);
        else
            snprintf(fill, sizeof fill, "%s", colors[k]);
        fprintf(f, ")</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text></g>\n",
                left, i * ROW + 2, w, ROW - 4, fill, left + w + 4, i * ROW + 13, value);
    }
    fputs("</svg></div>\n</body></html>\n", f);
    if (lp_out_commit(&out) != LP_OK)
        return lp_cli_input_error("%s", lowp_last_error());
    return LP_EXIT_OK;
}

int lp_cmd_compare(int argc, char **argv)
{
    const char *cmd = "compare", *paths[2] = { NULL, NULL }, *config = NULL, *dataset = NULL, *html = NULL;
    const char *tb_dir = NULL, *hist_path = NULL;
    lp_cli_data_opts data = { 0 };  /* -T only */
    int n_paths = 0;
    long samples = 32, batch = 8, top = 20;
    bool json = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = 0;
        if (lp_cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return LP_EXIT_OK;
        }
        if ((r = lp_cli_option(cmd, argc, argv, &i, "-c", "--config", &v)) != 0) config = v;
        else if ((r = lp_cli_option(cmd, argc, argv, &i, "-d", "--dataset", &v)) != 0) dataset = v;
        else if ((r = lp_cli_transform_option(cmd, argc, argv, &i, &data)) != 0) {
            /* taken (or r < 0: refused, below) */
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-n", "--samples", &v)) != 0) {
            if (r > 0 && !lp_cli_int(v, 1, 1000000, &samples))
                return lp_cli_usage_error(cmd, "--samples wants an integer >= 1, got '%s'", v);
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-b", "--batch-size", &v)) != 0) {
            if (r > 0 && !lp_cli_int(v, 1, 1 << 16, &batch))
                return lp_cli_usage_error(cmd, "--batch-size wants an integer >= 1, got '%s'", v);
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--top", &v)) != 0) {
            if (r > 0 && !lp_cli_int(v, 0, 1000000, &top))
                return lp_cli_usage_error(cmd, "--top wants an integer >= 0, got '%s'", v);
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--html", &v)) != 0) html = v;
        else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--tensorboard", &v)) != 0) tb_dir = v;
        else if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--histograms", &v)) != 0) hist_path = v;
        else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) quiet = true;
        else if (argv[i][0] == '-' && argv[i][1]) return lp_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (n_paths < 2) paths[n_paths++] = argv[i];
        else return lp_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        if (r < 0)
            return LP_EXIT_USAGE;
    }
    if (n_paths != 2)
        return lp_cli_usage_error(cmd, "give the FP32 model and the quantized model");
    if (!config && !dataset)
        return lp_cli_usage_error(cmd, "give --config FILE.yaml or --dataset SPEC");

    int rc = LP_EXIT_OK;
    lowp_model *fp32 = NULL, *quant = NULL;
    lowp_config *cfg = NULL;
    lowp_dataloader *dl = NULL;
    lowp_comparison *c = NULL;
    lowp_sample b = { 0 };
    char *text = NULL, *hist = NULL;
    lp_cj doc = { 0 };
    if (lowp_model_load(paths[0], &fp32) != LOWP_OK || lowp_model_load(paths[1], &quant) != LOWP_OK ||
        (config && lowp_config_load(config, &cfg) != LOWP_OK)) {
        rc = lp_cli_lib_error();
        goto done;
    }
    if (dataset)
        rc = lp_cli_dataloader(dataset, data.n_transforms, data.transforms, (int)batch, samples, &dl);
    else if (lowp_config_dataloader(cfg, "evaluation.accuracy", (int)batch, samples, &dl) != LOWP_OK)
        rc = lp_cli_lib_error();
    if (rc != LP_EXIT_OK)
        goto done;
    if (lowp_comparison_create(fp32, quant, &c) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    int n_in = lowp_model_input_count(fp32);
    const char *names[LOWP_SAMPLE_MAX_TENSORS];
    for (int i = 0; i < n_in && i < LOWP_SAMPLE_MAX_TENSORS; i++)
        names[i] = lowp_model_input_name(fp32, i);
    lp_progress pr;
    lp_progress_init(&pr, "compare", quiet);
    int64_t done_n = 0, count = 0, total = lowp_dataloader_length(dl);
    for (;;) {
        if (lowp_dataloader_next(dl, &b, &count) != LOWP_OK) {
            lp_progress_abort(&pr);
            rc = lp_cli_lib_error();
            goto done;
        }
        if (!count)
            break;
        if (b.n_inputs != n_in || lowp_comparison_feed(c, n_in, names, (const lowp_tensor *const *)b.inputs) != LOWP_OK) {
            lp_progress_abort(&pr);
            rc = b.n_inputs != n_in ? lp_cli_input_error("the dataset yields %d inputs, the model takes %d", b.n_inputs, n_in)
                                    : lp_cli_lib_error();
            goto done;
        }
        done_n += count;
        lp_progress_update(&pr, done_n, total);
    }
    if (lowp_comparison_json(c, &text) != LOWP_OK ||
        (tb_dir && lowp_comparison_tensorboard(c, tb_dir, 0) != LOWP_OK) ||
        (hist_path && (lowp_comparison_histograms_json(c, &hist) != LOWP_OK ||
                       lp_write_file_atomic(hist_path, hist, strlen(hist)) != LOWP_OK))) {
        rc = lp_cli_lib_error();
        goto done;
    }
    const lp_cj *layers = NULL;
    if (!lp_cj_parse(text, &doc) || !lp_cj_escape_strings(&doc) || !(layers = lp_cj_get(&doc, "layers")) ||
        layers->type != LP_CJ_ARRAY) {
        rc = lp_cli_input_error("internal error: unreadable comparison");
        goto done;
    }
    if (json) {
        fputs(text, stdout);
    } else {
        /* columns as wide as the longest name shown (in characters), so long and non-ASCII op
         * and tensor names stay aligned */
        int shown = top && layers->n > top ? (int)top : layers->n, w_op = 2, w_tensor = 6;
        for (int i = 0; i < shown; i++) {
            int a = text_width(lp_cj_str(lp_cj_get(&layers->items[i], "op_type"), ""));
            int b = text_width(lp_cj_str(lp_cj_get(&layers->items[i], "tensor"), ""));
            w_op = a > w_op ? a : w_op;
            w_tensor = b > w_tensor ? b : w_tensor;
        }
        printf("%-8s %-10s ", "SQNR dB", "rel.err");
        print_padded("op", w_op);
        print_padded("tensor", w_tensor);
        printf("kind\n");
        for (int i = 0; i < shown; i++) {
            const lp_cj *e = &layers->items[i];
            const lp_cj *re = lp_cj_get(e, "rel_error");
            printf("%8.2f %-10.4g ", entry_sqnr(e), re && re->type == LP_CJ_NUMBER ? re->num : INFINITY);
            print_padded(lp_cj_str(lp_cj_get(e, "op_type"), ""), w_op);
            print_padded(lp_cj_str(lp_cj_get(e, "tensor"), ""), w_tensor);
            printf("%s\n", lp_cj_str(lp_cj_get(e, "kind"), ""));
        }
        if (top && layers->n > top)
            printf("(%d more; --top 0 shows all)\n", layers->n - (int)top);
        printf("samples %lld\n", (long long)done_n);
    }
    if (html)
        rc = write_html(html, &doc, layers, paths[0], paths[1]);
done:
    lp_cj_free(&doc);
    free(text);
    free(hist);
    lowp_sample_clear(&b);
    lowp_comparison_free(c);
    lowp_dataloader_free(dl);
    lowp_config_free(cfg);
    lowp_model_free(quant);
    lowp_model_free(fp32);
    return rc;
}
