/* cmd_run.c — `lowp run MODEL -i NAME=FILE.npy ...`: run a model, write its outputs as .npy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: lowp run MODEL -i NAME=FILE.npy ... [-o OUTDIR] [--threads N] [--print]\n"
    "\n"
    "Runs MODEL on the given inputs and writes each output to OUTDIR/<output name>.npy\n"
    "(characters other than letters, digits, '.', '_' and '-' in the name become '_').\n"
    "\n"
    "  -i, --input NAME=FILE  feed FILE (.npy) to the model input NAME; a model with a\n"
    "                         single input also accepts -i FILE\n"
    "  -o, --outdir DIR       where the outputs go (default: the current folder; created\n"
    "                         if missing)\n"
    "  -t, --threads N        threads for the engine (default: the library's)\n"
    "  -p, --print            also print the first values of each output\n"
    "  -h, --help             show this help\n"
    "\n"
    "example: lowp run models/mlp.onnx -i input=models/fixed_batch_input.npy -o out --print\n";

#define PRINT_VALUES 10

/* mkdir -p. */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -1;
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                free(p);
                return -1;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    struct stat sb;
    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : (errno = ENOTDIR, -1);
}

/* An output name as a file name: [A-Za-z0-9._-] kept, the rest '_'; never "", "." or "..". */
static void file_name(const char *name, int index, char *out, size_t size)
{
    size_t k = 0;
    for (const char *s = name; *s && k + 1 < size - 8; s++) {
        char c = *s;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        out[k++] = keep ? c : '_';
    }
    out[k] = '\0';
    if (k == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, size, "output_%d", index);
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | man << 13;
    else if (exp)
        bits = sign | (exp + 112) << 23 | man << 13;
    else if (man) {
        int e = 113;
        while (!(man & 0x400))
            man <<= 1, e--;
        bits = sign | (uint32_t)e << 23 | (man & 0x3ff) << 13;
    } else
        bits = sign;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void print_values(lowp_tensor *t)
{
    int64_t n = lowp_tensor_numel(t);
    const void *p = lowp_tensor_data(t);
    printf("  [");
    for (int64_t i = 0; i < n && i < PRINT_VALUES; i++) {
        printf(i ? ", " : "");
        switch (lowp_tensor_dtype(t)) {
        case LOWP_FLOAT: printf("%.6g", ((const float *)p)[i]); break;
        case LOWP_DOUBLE: printf("%.6g", ((const double *)p)[i]); break;
        case LOWP_FLOAT16: printf("%.6g", half_to_float(((const uint16_t *)p)[i])); break;
        case LOWP_BFLOAT16: {
            uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
            float f;
            memcpy(&f, &bits, sizeof f);
            printf("%.6g", f);
            break;
        }
        case LOWP_INT8: printf("%d", ((const int8_t *)p)[i]); break;
        case LOWP_UINT8: printf("%u", ((const uint8_t *)p)[i]); break;
        case LOWP_BOOL: printf("%s", ((const uint8_t *)p)[i] ? "true" : "false"); break;
        case LOWP_INT16: printf("%d", ((const int16_t *)p)[i]); break;
        case LOWP_UINT16: printf("%u", ((const uint16_t *)p)[i]); break;
        case LOWP_INT32: printf("%d", ((const int32_t *)p)[i]); break;
        case LOWP_UINT32: printf("%u", ((const uint32_t *)p)[i]); break;
        case LOWP_INT64: printf("%lld", (long long)((const int64_t *)p)[i]); break;
        case LOWP_UINT64: printf("%llu", (unsigned long long)((const uint64_t *)p)[i]); break;
        default: printf("?"); break;
        }
    }
    printf("%s]\n", n > PRINT_VALUES ? ", ..." : "");
}

static void print_shape(const lowp_tensor *t)
{
    printf("[");
    for (int i = 0; i < lowp_tensor_ndim(t); i++)
        printf("%s%lld", i ? "," : "", (long long)lowp_tensor_dims(t)[i]);
    printf("]");
}

static int is_input(const lowp_model *m, const char *name, size_t len)
{
    for (int k = 0; k < lowp_model_input_count(m); k++) {
        const char *in = lowp_model_input_name(m, k);
        if (strlen(in) == len && strncmp(in, name, len) == 0)
            return 1;
    }
    return 0;
}

int lp_cmd_run(int argc, char **argv)
{
    const char *path = NULL, *outdir = ".", *val;
    long threads = 0;
    bool print = false;
    const char **specs = calloc((size_t)argc, sizeof *specs);
    int n_specs = 0, rc = LP_EXIT_OK, r;
    if (!specs)
        return lp_cli_input_error("out of memory");

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (lp_cli_is_help(a)) {
            fputs(usage, stdout);
            free(specs);
            return LP_EXIT_OK;
        }
        if ((r = lp_cli_option("run", argc, argv, &i, "-i", "--input", &val)) != 0) {
            if (r < 0)
                goto usage_fail;
            specs[n_specs++] = val;
        } else if ((r = lp_cli_option("run", argc, argv, &i, "-o", "--outdir", &val)) != 0) {
            if (r < 0)
                goto usage_fail;
            outdir = val;
        } else if ((r = lp_cli_option("run", argc, argv, &i, "-t", "--threads", &val)) != 0) {
            if (r < 0)
                goto usage_fail;
            if (!lp_cli_int(val, 0, 1024, &threads)) {
                free(specs);
                return lp_cli_usage_error("run", "--threads wants a number from 0 to 1024, "
                                          "not '%s'", val);
            }
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--print") == 0) {
            print = true;
        } else if (a[0] == '-' && a[1]) {
            free(specs);
            return lp_cli_usage_error("run", "unknown option '%s'", a);
        } else if (path) {
            free(specs);
            return lp_cli_usage_error("run", "unexpected argument '%s' (one MODEL only)", a);
        } else {
            path = a;
        }
    }
    if (!path) {
        free(specs);
        return lp_cli_usage_error("run", "missing MODEL");
    }

    lowp_model *model = NULL;
    lowp_session *session = NULL;
    char **names = calloc((size_t)n_specs + 1, sizeof *names);
    lowp_tensor **inputs = calloc((size_t)n_specs + 1, sizeof *inputs);
    lowp_tensor **outputs = NULL;
    char *fname = NULL;
    int n_out = 0;
    if (!names || !inputs) {
        rc = lp_cli_input_error("out of memory");
        goto done;
    }
    if (lowp_model_load(path, &model) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }

    /* NAME=FILE, or FILE alone for a single-input model (also when FILE holds a '='). */
    int n_in = lowp_model_input_count(model);
    for (int k = 0; k < n_specs; k++) {
        const char *spec = specs[k], *eq = strchr(spec, '=');
        const char *file = spec;
        if (eq && (is_input(model, spec, (size_t)(eq - spec)) ||
                   n_in != 1 || access(spec, F_OK) != 0)) {
            file = eq + 1;
            names[k] = strndup(spec, (size_t)(eq - spec));
        } else if (n_in == 1) {
            names[k] = strdup(lowp_model_input_name(model, 0));
        } else {
            rc = lp_cli_usage_error("run", "-i %s: the model has %d inputs; say which one with "
                                    "-i NAME=FILE", spec, n_in);
            goto done;
        }
        if (!names[k]) {
            rc = lp_cli_input_error("out of memory");
            goto done;
        }
        for (int j = 0; j < k; j++)
            if (strcmp(names[j], names[k]) == 0) {
                rc = lp_cli_usage_error("run", "input '%s' is given twice", names[k]);
                goto done;
            }
        if (lowp_tensor_load_npy(file, &inputs[k]) != LOWP_OK) {
            rc = lp_cli_lib_error();
            goto done;
        }
    }

    lowp_session_options opt = lowp_session_options_default();
    if (threads > 0)
        opt.threads = (int)threads;
    if (lowp_session_create(model, &opt, &session) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }
    n_out = lowp_model_output_count(model);
    outputs = calloc((size_t)n_out + 1, sizeof *outputs);
    if (!outputs) {
        rc = lp_cli_input_error("out of memory");
        goto done;
    }
    if (lowp_session_run(session, n_specs, (const char *const *)names,
                         (const lowp_tensor *const *)inputs, n_out, outputs) != LOWP_OK) {
        rc = lp_cli_lib_error();
        goto done;
    }

    if (make_dirs(outdir) != 0) {
        rc = lp_cli_input_error("%s: cannot create the output folder: %s", outdir, strerror(errno));
        goto done;
    }
    size_t fsize = strlen(outdir) + 300;
    fname = malloc(fsize);
    char(*used)[256] = calloc((size_t)n_out + 1, sizeof *used);
    if (!fname || !used) {
        free(used);
        rc = lp_cli_input_error("out of memory");
        goto done;
    }
    for (int k = 0; k < n_out; k++) {
        const char *oname = lowp_model_output_name(model, k);
        file_name(oname, k, used[k], 240);
        for (int j = 0; j < k; j++)   /* two names that sanitize alike get the index appended */
            if (strcmp(used[j], used[k]) == 0) {
                size_t len = strlen(used[k]);
                snprintf(used[k] + len, 256 - len, "_%d", k);
                break;
            }
        size_t dl = strlen(outdir);
        snprintf(fname, fsize, "%s%s%s.npy", outdir, dl && outdir[dl - 1] == '/' ? "" : "/",
                 used[k]);
        if (lowp_tensor_save_npy(outputs[k], fname) != LOWP_OK) {
            free(used);
            rc = lp_cli_lib_error();
            goto done;
        }
        printf("%s  %s ", oname, lowp_dtype_name(lowp_tensor_dtype(outputs[k])));
        print_shape(outputs[k]);
        printf("  -> %s\n", fname);
        if (print)
            print_values(outputs[k]);
    }
    free(used);

done:
    for (int k = 0; outputs && k < n_out; k++)
        lowp_tensor_free(outputs[k]);
    for (int k = 0; k < n_specs; k++) {
        if (inputs)
            lowp_tensor_free(inputs[k]);
        if (names)
            free(names[k]);
    }
    free(outputs);
    free(inputs);
    free(names);
    free(fname);
    lowp_session_free(session);
    lowp_model_free(model);
    free(specs);
    return rc;

usage_fail:
    free(specs);
    return LP_EXIT_USAGE;
}
