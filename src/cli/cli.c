/* cli.c — shared CLI helpers: messages with exit codes, option matching, number formatting. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int lp_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "lowp %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'lowp help %s'\n", cmd);
    return LP_EXIT_USAGE;
}

int lp_cli_lib_error(void)
{
    fflush(stdout);
    fprintf(stderr, "lowp: %s\n", lowp_last_error());
    return LP_EXIT_INPUT;
}

int lp_cli_input_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "lowp: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return LP_EXIT_INPUT;
}

bool lp_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
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

bool lp_cli_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
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
