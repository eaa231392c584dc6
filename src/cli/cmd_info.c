/* cmd_info.c — `lowp info MODEL [--json]`: a model summary, human-readable or JSON. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: lowp info MODEL [--json]\n"
    "\n"
    "Summarizes an ONNX model: producer, opsets, inputs and outputs with dtype and shape\n"
    "(symbolic dims by name, '?' when unknown), the op histogram, the parameter count and\n"
    "size, any op lowp cannot run, and whether lowp runs the model (else the first problem,\n"
    "naming the node and op).\n"
    "\n"
    "  --json     print the summary as JSON (the same as lowp_model_info_json)\n"
    "  -h, --help show this help\n";

static void print_shape(const lp_cj *shape)
{
    if (!shape || shape->type != LP_CJ_ARRAY) {
        printf("[rank unknown]");
        return;
    }
    printf("[");
    for (int i = 0; i < shape->n; i++) {
        const lp_cj *d = &shape->items[i];
        printf("%s%s", i ? "," : "",
               d->type == LP_CJ_NUMBER || d->type == LP_CJ_STRING ? d->str : "?");
    }
    printf("]");
}

static void print_values(const char *title, const lp_cj *list, int width)
{
    int n = list && list->type == LP_CJ_ARRAY ? list->n : 0;
    printf("%-11s%d\n", title, n);
    for (int i = 0; i < n; i++) {
        const lp_cj *v = &list->items[i];
        printf("  %-*s  %-8s ", width, lp_cj_str(lp_cj_get(v, "name"), "?"),
               lp_cj_str(lp_cj_get(v, "dtype"), "?"));
        print_shape(lp_cj_get(v, "shape"));
        printf("\n");
    }
}

static int name_width(const lp_cj *list, int width)
{
    for (int i = 0; list && list->type == LP_CJ_ARRAY && i < list->n; i++) {
        int w = (int)strlen(lp_cj_str(lp_cj_get(&list->items[i], "name"), "?"));
        if (w > width)
            width = w;
    }
    return width > 40 ? 40 : width;
}

static long long num(const lp_cj *v)
{
    return v && v->type == LP_CJ_NUMBER ? strtoll(v->str, NULL, 10) : 0;
}

static void print_summary(const lp_cj *info, const char *why_not, const char *notes)
{
    char b1[32], b2[32];
    const lp_cj *producer = lp_cj_get(info, "producer");
    const char *pname = lp_cj_str(lp_cj_get(producer, "name"), "");
    const char *pver = lp_cj_str(lp_cj_get(producer, "version"), "");
    printf("%-11s%s\n", "model", lp_cj_str(lp_cj_get(info, "path"), "(memory)"));
    printf("%-11s%s%s%s\n", "producer", *pname ? pname : "(unknown)", *pver ? " " : "", pver);
    printf("%-11s%lld\n", "ir version", num(lp_cj_get(info, "ir_version")));
    const lp_cj *opsets = lp_cj_get(info, "opsets");
    printf("%-11s", "opsets");
    for (int i = 0; opsets && i < opsets->n; i++)
        printf("%s%s %lld", i ? ", " : "", opsets->keys[i], num(&opsets->items[i]));
    printf("%s\n", opsets && opsets->n ? "" : "(none)");
    const char *graph = lp_cj_str(lp_cj_get(info, "graph"), "");
    if (*graph)
        printf("%-11s%s\n", "graph", graph);

    const lp_cj *inputs = lp_cj_get(info, "inputs"), *outputs = lp_cj_get(info, "outputs");
    int width = name_width(outputs, name_width(inputs, 4));
    print_values("inputs", inputs, width);
    print_values("outputs", outputs, width);

    printf("%-11s%lld\n", "nodes", num(lp_cj_get(info, "node_count")));
    const lp_cj *ops = lp_cj_get(info, "ops");
    printf("%-11s", "ops");
    for (int i = 0; ops && i < ops->n; i++)
        printf("%s%s %lld", i ? ", " : "", ops->keys[i], num(&ops->items[i]));
    printf("%s\n", ops && ops->n ? "" : "(none)");
    const lp_cj *subs = lp_cj_get(info, "subgraphs");
    if (subs && subs->type == LP_CJ_ARRAY && subs->n) {
        printf("%-11s%d (control flow; their ops are counted above)\n", "subgraphs", subs->n);
        for (int i = 0; i < subs->n; i++) {
            const lp_cj *sg = &subs->items[i];
            int depth = (int)num(lp_cj_get(sg, "depth"));
            printf("  %*s%s.%s (%s): %lld nodes", 2 * (depth > 8 ? 8 : depth - 1), "",
                   lp_cj_str(lp_cj_get(sg, "node"), "?"), lp_cj_str(lp_cj_get(sg, "attribute"), "?"),
                   lp_cj_str(lp_cj_get(sg, "op"), "?"), num(lp_cj_get(sg, "node_count")));
            const lp_cj *sops = lp_cj_get(sg, "ops");
            for (int k = 0; sops && k < sops->n && k < 6; k++)
                printf("%s%s %lld", k ? ", " : ": ", sops->keys[k], num(&sops->items[k]));
            printf("%s", sops && sops->n > 6 ? ", ..." : "");
            const lp_cj *outer = lp_cj_get(sg, "outer");
            if (outer && outer->type == LP_CJ_ARRAY && outer->n)
                printf("; reads %d outer value%s", outer->n, outer->n == 1 ? "" : "s");
            printf("\n");
        }
    }
    const lp_cj *params = lp_cj_get(info, "parameters");
    printf("%-11s%s (%s)\n", "parameters", lp_cli_thousands(num(lp_cj_get(params, "count")), b1, sizeof b1),
           lp_cli_bytes((double)num(lp_cj_get(params, "bytes")), b2, sizeof b2));

    const lp_cj *unsup = lp_cj_get(info, "unsupported_ops");
    if (unsup && unsup->type == LP_CJ_ARRAY && unsup->n) {
        printf("unsupported ops (%d): ", unsup->n);
        for (int i = 0; i < unsup->n; i++)
            printf("%s%s", i ? ", " : "", lp_cj_str(&unsup->items[i], "?"));
        printf("\n  lowp cannot run this model until these ops are implemented\n");
    } else {
        printf("unsupported ops: none\n");
    }
    if (!why_not)
        printf("%-11syes%s%s%s\n", "runs", notes && *notes ? " (" : "", notes ? notes : "", notes && *notes ? ")" : "");
    else
        printf("%-11sno: %s\n", "runs", why_not);
}

int lp_cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (lp_cli_is_help(a)) {
            fputs(usage, stdout);
            return LP_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            return lp_cli_usage_error("info", "unknown option '%s'", a);
        } else if (path) {
            return lp_cli_usage_error("info", "unexpected argument '%s' (one MODEL only)", a);
        } else {
            path = a;
        }
    }
    if (!path)
        return lp_cli_usage_error("info", "missing MODEL");

    lowp_model *model = NULL;
    char *text = NULL;
    if (lowp_model_load(path, &model) != LOWP_OK)
        return lp_cli_lib_error();
    lowp_status st = lowp_model_info_json(model, &text);
    char *notes = NULL;
    char why_not[1024] = "";
    if (st == LOWP_OK && !json && lowp_model_check(model, &notes) != LOWP_OK)
        lowp_escape_text(why_not, sizeof why_not, lowp_last_error()); /* it names nodes of the model */
    lowp_model_free(model);
    if (st != LOWP_OK)
        return lp_cli_lib_error();
    int rc = LP_EXIT_OK;
    if (json) {
        fputs(text, stdout);
    } else {
        lp_cj info;
        if (lp_cj_parse(text, &info)) {
            if (lp_cj_escape_strings(&info)) /* names from the model may hold escape sequences */
                print_summary(&info, *why_not ? why_not : NULL, notes);
            else
                rc = lp_cli_input_error("out of memory");
            lp_cj_free(&info);
        } else {
            rc = lp_cli_input_error("internal error: cannot read the model summary JSON");
        }
    }
    free(text);
    free(notes);
    return rc;
}
