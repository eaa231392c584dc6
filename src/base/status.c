/* status.c — the thread-local last-error message behind lowp_last_error(). */
#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *lowp_last_error(void) { return last_error; }

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 when s[0] starts none (stray
 * continuation bytes, overlongs, surrogates, code points past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n || c == 0xC0 || c == 0xC1 || c > 0xF4)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

size_t lp_escape_text(char *dst, size_t cap, const char *src, size_t n)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t k = 0;
    if (!cap)
        return 0;
    for (size_t i = 0; i < n && s[i];) {
        size_t len = utf8_len(s + i, n - i);
        /* C0 controls, DEL and the C1 controls (U+0080..U+009F, which some terminals obey as
         * escape sequences) are shown as \xNN, like every byte that is not UTF-8. */
        int ctl = len == 1 ? (s[i] < 0x20 || s[i] == 0x7F) : len == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0;
        if (len && !ctl) {
            if (k + len >= cap)
                break;
            memcpy(dst + k, s + i, len);
            k += len;
            i += len;
            continue;
        }
        size_t nb = len ? len : 1;
        if (k + 4 * nb >= cap)
            break;
        for (size_t b = 0; b < nb; b++, i++)
            k += (size_t)snprintf(dst + k, cap - k, "\\x%02X", s[i]);
    }
    dst[k] = '\0';
    return k;
}

size_t lowp_escape_text(char *dst, size_t cap, const char *src)
{
    return lp_escape_text(dst, cap, src ? src : "", src ? strlen(src) : 0);
}

lowp_status lowp_set_error(lowp_status status, const char *message)
{
    return lp_error(status, "%s", message ? message : "");
}

lp_status lp_error(lp_status status, const char *fmt, ...)
{
    char raw[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    lp_escape_text(last_error, sizeof last_error, raw, sizeof raw);
    return status;
}

lp_status lp_error_prefix(lp_status status, const char *fmt, ...)
{
    char raw[512], prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    lp_escape_text(prefix, sizeof prefix, raw, sizeof raw); /* the old message is escaped already */
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
        [LOWP_ERR_CANCELLED] = "cancelled",
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
