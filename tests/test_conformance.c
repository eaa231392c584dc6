/* test_conformance.c — runs ONNX's own operator test cases (libonnx-testdata) through lowp.
 *
 * Usage: test_conformance [-v] [FILTER...]   FILTER: an op type (exact) or part of a case name.
 * A case runs when every op of its model is in lowp's registry; it passes when every output
 * matches ONNX's expected output (float: |got-want| <= 1e-7 + 1e-3*|want|, ONNX's own backend
 * test tolerance; integers and bools exactly). Cases listed in tests/conformance_skip.txt are
 * out of scope, with the reason given there ("category: why"). A case that uses an op outside
 * the registry must be listed there (else it fails: every case that does not run says why); an
 * entry whose category is "pending" (ops another branch is adding) only applies while one of its
 * ops is missing, so the case runs as soon as they are registered. Prints a per-op table and
 * the summary line. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowp.h"
#include "onnx.pb-c.h"
#include "onnx/model.h"
#include "ops/op.h"

#define ROOT "/usr/share/libonnx-testdata/data"
static const char *const suites[] = { "node", "pytorch-converted", "pytorch-operator", "simple" };

typedef struct op_count { int pass, fail, skip; } op_count;
static op_count per_op[LP_OP_COUNT];
static int n_pass, n_fail, n_skip, n_na;
static int verbose;

typedef struct skip_entry { char name[160]; char reason[240]; } skip_entry;
static skip_entry skips[512];
static int n_skips;

static void load_skips(void)
{
    FILE *f = fopen("tests/conformance_skip.txt", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) && n_skips < 512) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *sp = line + strcspn(line, " \t");
        if (*sp)
            *sp++ = 0;
        while (*sp == ' ' || *sp == '\t')
            sp++;
        size_t nl = strlen(line), rl = strlen(sp);
        if (nl >= sizeof skips[0].name || rl >= sizeof skips[0].reason)
            continue; /* longer than any real entry */
        memcpy(skips[n_skips].name, line, nl + 1);
        memcpy(skips[n_skips].reason, sp, rl + 1);
        n_skips++;
    }
    fclose(f);
}

static const char *skip_reason(const char *name)
{
    for (int i = 0; i < n_skips; i++)
        if (strcmp(skips[i].name, name) == 0)
            return skips[i].reason;
    return NULL;
}

/* Op ids used by the model (-1 entries for ops not in the registry); returns count. */
static int model_ops(const uint8_t *data, size_t size, int *ids, int max, char *unknown, size_t ulen)
{
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp || !mp->graph) {
        if (mp)
            onnx__model_proto__free_unpacked(mp, NULL);
        return -1;
    }
    int n = 0;
    unknown[0] = 0;
    for (size_t i = 0; i < mp->graph->n_node && n < max; i++) {
        const Onnx__NodeProto *np = mp->graph->node[i];
        int id = lp_op_find(np->domain, np->op_type);
        if (id < 0 && !strstr(unknown, np->op_type)) {
            size_t k = strlen(unknown);
            snprintf(unknown + k, ulen - k, "%s%s", k ? "," : "", np->op_type);
        }
        ids[n++] = id;
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return n;
}

/* ONNX's test data stores bfloat16 tensors as uint16 (NumPy has no bfloat16). */
static void retype_bf16(lp_tensor *t, lp_dtype expected)
{
    if (t && t->dtype == LP_U16 && expected == LP_BF16)
        t->dtype = LP_BF16;
}

static int compare(const lowp_tensor *got, lp_tensor *want, char *why, size_t wlen)
{
    retype_bf16(want, got->dtype);
    if (got->dtype != want->dtype) {
        snprintf(why, wlen, "dtype %s, expected %s", lowp_dtype_name(got->dtype), lowp_dtype_name(want->dtype));
        return 0;
    }
    char a[128], b[128];
    if (got->ndim != want->ndim || memcmp(got->dims, want->dims, (size_t)got->ndim * sizeof got->dims[0])) {
        snprintf(why, wlen, "shape %s, expected %s", lp_shape_str(got->ndim, got->dims, a, sizeof a),
                 lp_shape_str(want->ndim, want->dims, b, sizeof b));
        return 0;
    }
    int64_t n = lp_tensor_numel(want);
    bool is_float = lp_dtype_traits_of(want->dtype)->is_float;
    for (int64_t i = 0; i < n; i++) {
        double x = lp_tensor_get(got, i), y = lp_tensor_get(want, i);
        bool ok;
        if (is_float)
            ok = (isnan(x) && isnan(y)) || (isinf(y) && x == y) || fabs(x - y) <= 1e-7 + 1e-3 * fabs(y);
        else
            ok = lp_tensor_get_int(got, i) == lp_tensor_get_int(want, i);
        if (!ok) {
            snprintf(why, wlen, "element %lld: got %.9g, expected %.9g", (long long)i, x, y);
            return 0;
        }
    }
    return 1;
}

static lp_status load_pb(const char *path, lp_tensor **out)
{
    uint8_t *data;
    size_t size;
    LP_TRY(lp_read_file(path, &data, &size));
    lp_status st = lp_onnx_read_tensor(data, size, path, out);
    free(data);
    return st;
}

/* Runs every test_data_set_* of one case; 1 pass, 0 fail (why filled). */
static int run_case(const char *dir, const lowp_model *m, char *why, size_t wlen)
{
    lowp_session *s = NULL;
    if (lowp_session_create(m, NULL, &s) != LOWP_OK) {
        snprintf(why, wlen, "session: %s", lowp_last_error());
        return 0;
    }
    int ok = 1, sets = 0;
    int n_in = lowp_model_input_count(m), n_out = lowp_model_output_count(m);
    for (int set = 0; ok; set++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/test_data_set_%d", dir, set);
        DIR *d = opendir(path);
        if (!d)
            break;
        closedir(d);
        sets++;
        lp_tensor *ins[32] = { 0 }, *want[32] = { 0 };
        lowp_tensor *outs[32] = { 0 };
        const char *names[32];
        int fed = 0;
        for (int i = 0; i < n_in && i < 32; i++) {
            snprintf(path, sizeof path, "%s/test_data_set_%d/input_%d.pb", dir, set, i);
            if (load_pb(path, &ins[i]) != LP_OK)
                break; /* trailing optional inputs may be absent */
            names[i] = lowp_model_input_name(m, i);
            retype_bf16(ins[i], m->graph->values[m->graph->inputs[i]].dtype);
            fed++;
        }
        if (fed != n_in) {
            snprintf(why, wlen, "set %d: %d of %d inputs readable: %s", set, fed, n_in, lowp_last_error());
            ok = 0;
        }
        if (ok && lowp_session_run(s, fed, names, (const lowp_tensor *const *)ins, n_out, outs) != LOWP_OK) {
            snprintf(why, wlen, "run: %s", lowp_last_error());
            ok = 0;
        }
        for (int o = 0; ok && o < n_out && o < 32; o++) {
            snprintf(path, sizeof path, "%s/test_data_set_%d/output_%d.pb", dir, set, o);
            if (load_pb(path, &want[o]) != LP_OK) {
                snprintf(why, wlen, "expected output: %s", lowp_last_error());
                ok = 0;
            } else if (!compare(outs[o], want[o], why, wlen)) {
                char tmp[512];
                snprintf(tmp, sizeof tmp, "output %d (%.200s): %.250s", o, lowp_model_output_name(m, o), why);
                snprintf(why, wlen, "%s", tmp);
                ok = 0;
            }
        }
        for (int i = 0; i < 32; i++) {
            lp_tensor_free(ins[i]);
            lp_tensor_free(want[i]);
            lowp_tensor_free(outs[i]);
        }
    }
    lowp_session_free(s);
    if (ok && !sets) {
        snprintf(why, wlen, "no test data sets");
        ok = 0;
    }
    return ok;
}

static int matches(const char *name, const int *ids, int n_ids, int argc, char **argv, int first)
{
    if (first >= argc)
        return 1;
    for (int a = first; a < argc; a++) {
        if (strstr(name, argv[a]))
            return 1;
        for (int i = 0; i < n_ids; i++)
            if (ids[i] >= 0 && strcmp(lp_op_get(ids[i])->name, argv[a]) == 0)
                return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        verbose = 1;
        first = 2;
    }
    load_skips();
    for (size_t su = 0; su < sizeof suites / sizeof suites[0]; su++) {
        char root[512];
        snprintf(root, sizeof root, "%s/%s", ROOT, suites[su]);
        DIR *d = opendir(root);
        if (!d) {
            printf("FAIL %s: cannot open %s (install libonnx-testdata: make deps)\n", suites[su], root);
            n_fail++;
            continue;
        }
        char *names[4096];
        int n_names = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n_names < 4096)
            if (strncmp(e->d_name, "test_", 5) == 0)
                names[n_names++] = strdup(e->d_name);
        closedir(d);
        qsort(names, (size_t)n_names, sizeof *names, cmp_str);
        for (int c = 0; c < n_names; c++) {
            char dir[1024], path[1100], why[1024] = "", unknown[512];
            snprintf(dir, sizeof dir, "%s/%s", root, names[c]);
            snprintf(path, sizeof path, "%s/model.onnx", dir);
            uint8_t *data;
            size_t size;
            int ids[4096];
            if (lp_read_file(path, &data, &size) != LP_OK) {
                free(names[c]);
                continue;
            }
            int n_ids = model_ops(data, size, ids, 4096, unknown, sizeof unknown);
            free(data);
            if (n_ids < 0 || !matches(names[c], ids, n_ids, argc, argv, first)) {
                free(names[c]);
                continue;
            }
            char label[300];
            snprintf(label, sizeof label, "%s/%s", suites[su], names[c]);
            const char *reason = skip_reason(names[c]);
            if (unknown[0]) {
                if (reason) {
                    n_na++;
                    if (verbose)
                        printf("n/a  %s: ops not in lowp's registry: %s (%s)\n", label, unknown, reason);
                } else {
                    n_fail++;
                    printf("FAIL %s: uses ops outside lowp's registry (%s) and is not listed in "
                           "tests/conformance_skip.txt\n", label, unknown);
                }
                free(names[c]);
                continue;
            }
            if (reason && strncmp(reason, "pending:", 8) == 0)
                reason = NULL; /* its ops are all registered now: run it */
            int result;
            if (reason) {
                result = -1;
                n_skip++;
                if (verbose)
                    printf("skip %s: %s\n", label, reason);
            } else {
                lowp_model *m = NULL;
                if (lowp_model_load(path, &m) != LOWP_OK) {
                    snprintf(why, sizeof why, "load: %s", lowp_last_error());
                    result = 0;
                } else {
                    result = run_case(dir, m, why, sizeof why);
                }
                lowp_model_free(m);
                if (result) {
                    n_pass++;
                    printf("ok %s\n", label);
                } else {
                    n_fail++;
                    printf("FAIL %s: %s\n", label, why);
                }
            }
            /* Count once per distinct op in the case. */
            for (int i = 0; i < n_ids; i++) {
                bool seen = false;
                for (int j = 0; j < i && !seen; j++)
                    seen = ids[j] == ids[i];
                if (seen)
                    continue;
                op_count *oc = &per_op[ids[i]];
                if (result < 0)
                    oc->skip++;
                else if (result)
                    oc->pass++;
                else
                    oc->fail++;
            }
            free(names[c]);
        }
    }
    printf("\n%-24s %6s %6s %6s\n", "op", "pass", "fail", "skip");
    for (int i = 0; i < LP_OP_COUNT; i++)
        if (per_op[i].pass + per_op[i].fail + per_op[i].skip)
            printf("%-24s %6d %6d %6d\n", lp_op_get(i)->name, per_op[i].pass, per_op[i].fail, per_op[i].skip);
    printf("cases: %d run, %d out of scope (tests/conformance_skip.txt), %d use ops outside the registry "
           "(listed there too)\n", n_pass + n_fail, n_skip, n_na);
    printf("test_conformance: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
