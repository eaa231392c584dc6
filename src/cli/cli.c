/* cli.c — shared CLI helpers: messages with exit codes, option matching, number formatting. */
#include "cli/cli.h"

#include "dist/dist.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Prints a formatted message to stderr with control characters escaped (it may quote input). */
static void print_escaped(const char *fmt, va_list ap)
{
    char raw[2048], esc[2048];
    vsnprintf(raw, sizeof raw, fmt, ap);
    lowp_escape_text(esc, sizeof esc, raw);
    fputs(esc, stderr);
}

lowp_comm lp_cli_comm = {.rank = 0, .size = 1};

const lowp_comm *lp_cli_dist(void) { return lp_cli_comm.size > 1 ? &lp_cli_comm : NULL; }

int lp_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    if (lp_cli_comm.rank > 0)   /* every rank parsed the same command line: rank 0 says it */
        return LP_EXIT_USAGE;
    fflush(stdout);
    fprintf(stderr, "lowp %s: ", cmd);
    va_start(ap, fmt);
    print_escaped(fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'lowp help %s'\n", cmd);
    return LP_EXIT_USAGE;
}

int lp_cli_lib_error(void)
{
    fflush(stdout);
    /* ranks > 0: a failure every rank shares is printed by rank 0; one of this rank's own
     * before any collective reaches rank 0 through main's closing agreement */
    if (lp_cli_comm.rank > 0 && (lp_dist_error_shared() || lp_dist_collectives() == 0))
        return LP_EXIT_INPUT;
    if (lp_cli_comm.rank > 0)
        fprintf(stderr, "lowp (rank %d): %s\n", lp_cli_comm.rank, lowp_last_error());
    else
        fprintf(stderr, "lowp: %s\n", lowp_last_error());
    return LP_EXIT_INPUT;
}

int lp_cli_input_error(const char *fmt, ...)
{
    va_list ap;
    if (lp_cli_comm.rank > 0) {   /* told by rank 0 (see lp_cli_lib_error) */
        char raw[2048];
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        lowp_set_error(LOWP_ERR_INVALID_ARGUMENT, raw);
        return lp_cli_lib_error();
    }
    fflush(stdout);
    fprintf(stderr, "lowp: ");
    va_start(ap, fmt);
    print_escaped(fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return LP_EXIT_INPUT;
}

bool lp_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int lp_cli_model_arg(const char *cmd, const char *arg, bool *json, bool *quiet, const char **model)
{
    if (!strcmp(arg, "-j") || !strcmp(arg, "--json"))
        *json = true;
    else if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet"))
        *quiet = true;
    else if (arg[0] == '-' && arg[1])
        return lp_cli_usage_error(cmd, "unknown option '%s'", arg);
    else if (!*model)
        *model = arg;
    else
        return lp_cli_usage_error(cmd, "unexpected argument '%s' (one MODEL only)", arg);
    return LP_EXIT_OK;
}

int lp_cli_option(const char *cmd, int argc, char **argv, int *i, const char *short_opt,
                  const char *long_opt, const char **value)
{
    const char *a = argv[*i];
    const char *opt = NULL, *inline_val = NULL;
    if (long_opt) {
        size_t n = strlen(long_opt);
        if (strncmp(a, long_opt, n) == 0 && (a[n] == '\0' || a[n] == '='))
            opt = long_opt, inline_val = a[n] == '=' ? a + n + 1 : NULL;
    }
    if (!opt && short_opt) {
        size_t n = strlen(short_opt);
        if (strncmp(a, short_opt, n) == 0)
            opt = short_opt, inline_val = a[n] ? a + n : NULL;
    }
    if (!opt)
        return 0;
    if (inline_val) {
        *value = inline_val;
        return 1;
    }
    if (*i + 1 >= argc)
        return lp_cli_usage_error(cmd, "option %s needs a value", opt), -1;
    *value = argv[++*i];
    return 1;
}

/* The one strict number parser behind every numeric option: the whole text must be the
 * number (no empty text, no leading blanks, no trailing junk), no overflow, within [lo, hi]. */
bool lp_cli_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool lp_cli_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!s || !(*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int lp_cli_int_list(const char *s, long lo, long hi, long *out, int max)
{
    int n = 0;
    char item[32];
    for (const char *p = s; *s;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n == max || len >= sizeof item)
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        if (!lp_cli_int(item, lo, hi, &out[n++]))
            return -1;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

const char *lp_cli_thousands(long long v, char *buf, size_t size)
{
    char digits[32];
    unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    int n = snprintf(digits, sizeof digits, "%llu", mag);
    size_t k = 0;
    if (v < 0 && k + 1 < size)
        buf[k++] = '-';
    for (int i = 0; i < n && k + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

const char *lp_cli_bytes(double bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1024 && u < 4)
        bytes /= 1024, u++;
    if (u == 0)
        snprintf(buf, size, "%.0f B", bytes);
    else
        snprintf(buf, size, "%.1f %s", bytes, units[u]);
    return buf;
}
