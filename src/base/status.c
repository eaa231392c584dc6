/* status.c — the thread-local last-error message behind lowp_last_error(). */
#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *lowp_last_error(void) { return last_error; }

lp_status lp_error(lp_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

lp_status lp_error_prefix(lp_status status, const char *fmt, ...)
{
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t k = strlen(prefix);
    if (k > sizeof last_error - 3)
        k = sizeof last_error - 3;
    memcpy(last_error, prefix, k);
    memcpy(last_error + k, ": ", 2);
    size_t rest = sizeof last_error - k - 3, n = strlen(old);
    memcpy(last_error + k + 2, old, n < rest ? n : rest);
    last_error[k + 2 + (n < rest ? n : rest)] = '\0';
    return status;
}

const char *lowp_status_string(lowp_status status)
{
    static const char *const names[] = {
        [LOWP_OK] = "ok",
        [LOWP_ERR_INVALID_ARGUMENT] = "invalid argument",
        [LOWP_ERR_IO] = "I/O error",
        [LOWP_ERR_FORMAT] = "malformed input",
        [LOWP_ERR_UNSUPPORTED] = "unsupported",
        [LOWP_ERR_SHAPE] = "shape mismatch",
        [LOWP_ERR_OUT_OF_MEMORY] = "out of memory",
        [LOWP_ERR_INTERNAL] = "internal error",
    };
    if ((unsigned)status < sizeof names / sizeof names[0] && names[status])
        return names[status];
    return "unknown status";
}

#define LP_STR2(x) #x
#define LP_STR(x) LP_STR2(x)
const char *lowp_version(void)
{
    return LP_STR(LOWP_VERSION_MAJOR) "." LP_STR(LOWP_VERSION_MINOR) "." LP_STR(LOWP_VERSION_PATCH);
}
