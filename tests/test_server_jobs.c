/* test_server_jobs.c — the job form of `lowp ui` (src/server/jobs.c) against hostile forms:
 * thousands of generated forms (model, workspace name, datasets and their options, transforms,
 * metric, tolerance, an uploaded YAML) built from values that try to leave the folders the
 * server was given — '..', absolute paths, symlinks out, paths hidden in dataset options or
 * transform parameters, option injection. Whatever the form, it is refused, or every path in
 * the command line it gives lies inside a root once resolved (checked independently), no
 * argument is an option the form may not set, and the command is lowp's own. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/outfile.h"
#include "server/jobs.h"
#include "test.h"

static char base[PATH_MAX], outside[PATH_MAX];
static lp_server srv;

static void touch(const char *dir, const char *name)
{
    char *p = lp_strfmt("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f)
        fclose(f);
    free(p);
}

static char *sub(const char *dir, const char *name)
{
    char *p = lp_strfmt("%s/%s", dir, name);
    mkdir(p, 0777);
    return p;
}

/* Inside a root, after resolving symlinks: a path that does not exist yet (a new workspace and
 * the files in it) counts by its deepest existing folder, the rest having no '..'. */
static bool inside_a_root(const char *path)
{
    if (strstr(path, "/../") || strstr(path, "/./"))
        return false;
    char *d = strdup(path), *c = NULL;
    while (d && !(c = realpath(d, NULL))) {
        char *slash = strrchr(d, '/');
        if (!slash || slash == d)
            break;
        *slash = 0;
    }
    free(d);
    bool ok = false;
    for (int i = 0; c && i < srv.n_roots && !ok; i++) {
        size_t n = strlen(srv.roots[i].path);
        ok = !strncmp(c, srv.roots[i].path, n) && (c[n] == '/' || !c[n]);
    }
    free(c);
    return ok;
}

/* Every piece of an argument that looks like a path: the argument itself when absolute, and
 * each ':'-separated part of a dataset spec that is absolute. */
static bool paths_inside(const char *arg)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *save = NULL, *part = strtok_r(buf, ":", &save); part; part = strtok_r(NULL, ":", &save)) {
        if (part[0] == '/' && !inside_a_root(part)) {
            fprintf(stderr, "outside: %s (in '%s')\n", part, arg);
            return false;
        }
        if (strstr(part, "..")) {
            fprintf(stderr, "'..' in '%s'\n", arg);
            return false;
        }
    }
    return true;
}

/* The first entry of each list is valid: it is picked 3 times in 4, so whole forms pass often
 * enough to check what they produce. */
static const char *pick(unsigned *seed, const char *const *v, int n)
{
    *seed = *seed * 1103515245u + 12345u;
    unsigned r = *seed >> 16;
    return r & 3 ? v[0] : v[(r >> 2) % (unsigned)n];
}
#define PICK(seed, arr) pick(seed, arr, (int)(sizeof arr / sizeof arr[0]))

static void test_generated_forms(void)
{
    static const char *const commands[] = { "tune", "quantize", "bench", "compare", "eval", "tune --eval-cmd" };
    static const char *const roots[] = { "R", "0", "1", "2", "3", "9", "-1", "\"x\"" };
    static const char *const model_paths[] = { "m.onnx", "../outside/o.onnx", "evil.onnx", "/etc/passwd",
                                               "sub/../m.onnx", "", ".", "m.onnx/..", "nope.onnx", "notonnx.txt" };
    static const char *const names[] = { "NEW", "w2/x", "../w", "/tmp/w", ".hidden", "a/../../b", "", "ok-name", "x\\y",
                                         "n:colon", "w1 --eval-cmd x" };
    static const char *const kinds[] = { "FashionMNIST", "MNIST", "Npy", "ImagenetRaw", "Nope", "" };
    static const char *const data_paths[] = { "fm", "", "fm/x", "../outside", "link", "link/secret", "/etc", "fm/../..",
                                              "fm:/etc", "a b" };
    static const char *const options[] = { "", "train=true", "root=/etc", "inputs=/etc/passwd", "train=true,k=1",
                                           "train=/../x", "labels=a", "data_path=x", "train=true:root=/etc",
                                           "train=1.5e3" };
    static const char *const transforms[] = { "", "Rescale", "Rescale,Normalize=0.2860/0.3530", "X=/etc/passwd",
                                              "Resize=224:interpolation=nearest", "a/../b", "Normalize=1/2/../3",
                                              "Rescale --eval-cmd x", "Resize=a/b" };
    static const char *const metrics[] = { "", "topk=1", "MSE:compare_label=false", "mAP:anno_path=/etc/passwd",
                                           "x/y", "topk=1 --eval-cmd sh" };
    static const char *const tolerances[] = { "", "1%", "0.01", "-1", "1%; rm", "--eval-cmd" };
    static const char *const yamls[] = {
        "", "a: 1", "model: {path: /etc/passwd}", "quantization: {calibration: {dataloader: {dataset: "
        "{FashionMNIST: {root: /etc}}}}}", "x: fm", "x: ../../etc/passwd", "tuning: {workspace: {path: /etc}}",
        "dataset: {root: DATA/fm}", "- list", "a: [/etc, 1]", "a: 0.1/0.2"
    };
    unsigned seed = 1978;
    int accepted = 0, refused = 0;
    for (int it = 0; it < 6000; it++) {
        char yaml[512];
        const char *y = PICK(&seed, yamls);
        snprintf(yaml, sizeof yaml, "%s", y);
        char *data = strstr(yaml, "DATA");
        if (data) { /* a path inside the data root */
            char rest[256];
            snprintf(rest, sizeof rest, "%s", data + 4);
            snprintf(data, sizeof yaml - (size_t)(data - yaml), "%s%s", srv.roots[2].path, rest);
        }
        const char *f_root[4];
        static const char *const right[] = { "1", "2", "2", "0" }; /* model, calib, eval, workspace */
        for (int k = 0; k < 4; k++) {
            f_root[k] = PICK(&seed, roots);
            if (!strcmp(f_root[k], "R"))
                f_root[k] = right[k];
        }
        char fresh[32];
        snprintf(fresh, sizeof fresh, "w%d", it);
        const char *name = PICK(&seed, names), *wname = PICK(&seed, names);
        if (!strcmp(name, "NEW"))
            name = fresh;
        if (!strcmp(wname, "NEW"))
            wname = "existing";
        char *form = lp_strfmt(
            "{\"command\": \"%s\", \"model\": {\"root\": %s, \"path\": \"%s\"}, \"name\": \"%s\", "
            "\"calib\": {\"kind\": \"%s\", \"root\": %s, \"path\": \"%s\", \"options\": \"%s\"}, "
            "\"eval\": {\"kind\": \"%s\", \"root\": %s, \"path\": \"%s\"}, \"transform\": \"%s\", \"metric\": \"%s\", "
            "\"tolerance\": \"%s\", \"workspace\": {\"root\": %s, \"path\": \"%s\"}, \"samples\": \"%s\"%s%s%s}",
            PICK(&seed, commands), f_root[0], PICK(&seed, model_paths), name, PICK(&seed, kinds),
            f_root[1], PICK(&seed, data_paths), PICK(&seed, options), PICK(&seed, kinds), f_root[2],
            PICK(&seed, data_paths), PICK(&seed, transforms), PICK(&seed, metrics), PICK(&seed, tolerances),
            f_root[3], wname, (seed >> 8) & 1 ? "12" : "-3",
            *yaml ? ", \"yaml\": \"" : "", yaml, *yaml ? "\"" : "");
        char err[512] = "";
        char **argv = form ? lp_jobs_form_argv(&srv, form, false, err, sizeof err) : NULL;
        if (!argv) {
            refused++;
            CHECK_MSG(*err, "refused without a reason: %s", form);
        } else {
            accepted++;
            CHECK(!strcmp(argv[0], srv.lowp_exe));
            static const char *const allowed[] = { "tune", "quantize", "bench", "compare" };
            bool cmd_ok = false;
            for (size_t k = 0; k < 4; k++)
                cmd_ok |= !strcmp(argv[1], allowed[k]);
            CHECK_MSG(cmd_ok, "command '%s'", argv[1]);
            for (int k = 1; argv[k]; k++) {
                CHECK_MSG(paths_inside(argv[k]), "argument '%s' of %s", argv[k], form);
                CHECK_MSG(strcmp(argv[k], "--eval-cmd") != 0, "--eval-cmd from %s", form);
            }
            for (int k = 0; argv[k]; k++)
                free(argv[k]);
            free(argv);
        }
        free(form);
    }
    /* both outcomes: the generator reaches past the checks, and they bite */
    CHECK_MSG(accepted > 300, "accepted %d", accepted);
    CHECK_MSG(refused > 1000, "refused %d", refused);
    printf("forms: %d accepted, %d refused\n", accepted, refused);
}

/* A plain form is accepted and gives the command line a user would type. */
static void test_plain_form(void)
{
    char err[512] = "";
    char *form = lp_strfmt("{\"command\": \"tune\", \"model\": {\"root\": 1, \"path\": \"m.onnx\"}, \"name\": \"t\", "
                           "\"calib\": {\"kind\": \"FashionMNIST\", \"root\": 2, \"path\": \"fm\", \"options\": \"train=true\"}, "
                           "\"eval\": {\"kind\": \"FashionMNIST\", \"root\": 2, \"path\": \"fm\"}, \"tolerance\": \"1%%\"}");
    char **argv = lp_jobs_form_argv(&srv, form, false, err, sizeof err);
    CHECK_MSG(argv != NULL, "%s", err);
    if (!argv)
        return;
    char line[4096] = "";
    for (int k = 1; argv[k]; k++) {
        strncat(line, argv[k], sizeof line - strlen(line) - 2);
        strncat(line, " ", sizeof line - strlen(line) - 1);
    }
    char *want = lp_strfmt("tune %s/m.onnx --calib FashionMNIST:%s/fm:train=true --eval FashionMNIST:%s/fm "
                           "--tolerance 1%% --workspace %s/t --output %s/t/best_model.onnx --json ",
                           srv.roots[1].path, srv.roots[2].path, srv.roots[2].path, srv.roots[0].path, srv.roots[0].path);
    CHECK_MSG(!strcmp(line, want), "got  %s\nwant %s", line, want);
    for (int k = 0; argv[k]; k++)
        free(argv[k]);
    free(argv);
    free(want);
    free(form);
}

int main(void)
{
    char t1[256], t2[256];
    if (!lp_test_tmpdir(t1, sizeof t1, "jobs") || !lp_test_tmpdir(t2, sizeof t2, "jobs_out") ||
        !realpath(t1, base) || !realpath(t2, outside))
        return 1;
    char *ws = sub(base, "ws"), *models = sub(base, "models"), *data = sub(base, "data");
    char *fm = sub(data, "fm");
    touch(models, "m.onnx");
    char *existing = sub(ws, "existing");
    touch(existing, "best_model.onnx");
    touch(existing, "ui_run.json");
    touch(models, "notonnx.txt");
    touch(outside, "o.onnx");
    touch(outside, "secret");
    char *o = lp_strfmt("%s/o.onnx", outside), *evil = lp_strfmt("%s/evil.onnx", models), *link = lp_strfmt("%s/link", data);
    if (symlink(o, evil) != 0 || symlink(outside, link) != 0)
        perror("symlink");
    srv.n_roots = 3;
    srv.roots[0] = (lp_root){ LP_ROOT_WORKSPACE, ws };
    srv.roots[1] = (lp_root){ LP_ROOT_MODEL, models };
    srv.roots[2] = (lp_root){ LP_ROOT_DATA, data };
    srv.lowp_exe = "/usr/bin/lowp";

    RUN(test_plain_form);
    RUN(test_generated_forms);

    lp_test_rmtree(base);
    lp_test_rmtree(outside);
    free(existing);
    free(ws), free(models), free(data), free(fm), free(o), free(evil), free(link);
    return TEST_SUMMARY("test_server_jobs");
}
