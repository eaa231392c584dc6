/* npy.c — NumPy .npy read/write (format 1.0-3.0, C order, little-endian numeric dtypes). */
#include "base/npy.h"
#include "base/file.h"
#include "base/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host (it copies '<' data as is)"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Longest header accepted. lowp's shapes (rank <= 8) need a few hundred bytes; the cap keeps a
 * hostile length field from asking for gigabytes (numpy itself caps at 10000 by default). */
#define NPY_MAX_HEADER (1u << 20)

typedef struct npy_header {
    lp_dtype dtype;
    int ndim;
    int64_t dims[LP_MAX_DIMS];
    size_t data_off;    /* where the array data starts, from the start of the file */
    size_t nbytes;      /* numel * element size */
} npy_header;

/* ---- header parsing ---- */

/* The prefix: magic, version, header length. Needs 10 (v1) or 12 (v2, v3) bytes. */
static lp_status npy_prefix(const uint8_t *p, size_t n, const char *what, size_t *hdr_off,
                            size_t *hdr_len)
{
    if (n < NPY_MAGIC_LEN || memcmp(p, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return lp_error(LOWP_ERR_FORMAT, "%s: not a .npy file (bad magic)", what);
    if (n < 8)
        return lp_error(LOWP_ERR_FORMAT, "%s: truncated .npy file (no version)", what);
    unsigned major = p[6], minor = p[7];
    if (major == 1) {
        if (n < 10)
            return lp_error(LOWP_ERR_FORMAT, "%s: truncated .npy file (no header length)", what);
        *hdr_off = 10;
        *hdr_len = (size_t)p[8] | (size_t)p[9] << 8;
    } else if (major == 2 || major == 3) {
        if (n < 12)
            return lp_error(LOWP_ERR_FORMAT, "%s: truncated .npy file (no header length)", what);
        *hdr_off = 12;
        *hdr_len = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    } else {
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported "
                        "(lowp reads 1.0, 2.0 and 3.0)", what, major, minor);
    }
    if (minor != 0)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported "
                        "(lowp reads 1.0, 2.0 and 3.0)", what, major, minor);
    if (*hdr_len > NPY_MAX_HEADER)
        return lp_error(LOWP_ERR_FORMAT, "%s: .npy header length %zu is implausibly large", what,
                        *hdr_len);
    return LP_OK;
}

/* A cursor over the header text (a Python dict literal). */
typedef struct cursor {
    const char *start, *p, *end;
    const char *what;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool peek(cursor *c, char ch) { skip_ws(c); return c->p < c->end && *c->p == ch; }

static bool eat(cursor *c, char ch)
{
    if (!peek(c, ch))
        return false;
    c->p++;
    return true;
}

static lp_status syntax(cursor *c, const char *expected)
{
    return lp_error(LOWP_ERR_FORMAT, "%s: malformed .npy header: expected %s at header byte %ld",
                    c->what, expected, (long)(c->p - c->start));
}

/* A quoted Python string without escapes (numpy never writes any in these headers). */
static lp_status parse_str(cursor *c, const char **s, size_t *len)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return syntax(c, "a quoted string");
    char q = *c->p++;
    const char *b = c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\' && *c->p != '\n')
        c->p++;
    if (c->p >= c->end || *c->p != q)
        return syntax(c, "a closing quote");
    *s = b;
    *len = (size_t)(c->p - b);
    c->p++;
    return LP_OK;
}

static bool str_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* A non-negative decimal integer (Python 2 numpy wrote a trailing 'L'). */
static lp_status parse_dim(cursor *c, int64_t *v)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return syntax(c, "a non-negative integer dim");
    int64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p++ - '0';
        if (x > (INT64_MAX - d) / 10)
            return lp_error(LOWP_ERR_FORMAT, "%s: .npy shape has a dim too large for 64 bits",
                            c->what);
        x = x * 10 + d;
    }
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
        c->p++;
    *v = x;
    return LP_OK;
}

/* "(3, 4)", "(3,)", "()" — a Python tuple of ints. */
static lp_status parse_shape(cursor *c, npy_header *h)
{
    if (!eat(c, '('))
        return peek(c, '[') ? lp_error(LOWP_ERR_FORMAT, "%s: .npy shape is a list, not a tuple",
                                       c->what)
                            : syntax(c, "a shape tuple '('");
    h->ndim = 0;
    if (eat(c, ')'))
        return LP_OK;
    for (;;) {
        int64_t d = 0;
        LP_TRY(parse_dim(c, &d));
        if (h->ndim == LP_MAX_DIMS)
            return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy array has more than %d dims",
                            c->what, LP_MAX_DIMS);
        h->dims[h->ndim++] = d;
        if (eat(c, ')'))
            return LP_OK;
        if (!eat(c, ','))
            return syntax(c, "',' or ')' in the shape");
        if (eat(c, ')'))
            return LP_OK;
    }
}

static lp_status parse_descr(cursor *c, const char *s, size_t len, lp_dtype *dtype_out)
{
    /* Printable copy for messages. */
    char shown[32];
    size_t k = 0;
    for (size_t i = 0; i < len && k + 4 < sizeof shown; i++)
        shown[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (k < len)
        shown[k++] = '.', shown[k++] = '.', shown[k++] = '.';
    shown[k] = '\0';

    if (len >= 2 && strchr("<>|=", s[0])) {
        for (int t = 1; t < LP_DTYPE_COUNT; t++) {
            const lp_dtype_traits *tr = lp_dtype_traits_of((lp_dtype)t);
            if (!tr->npy || !str_is(s + 1, len - 1, tr->npy))
                continue;
            if (s[0] == '>' && tr->size > 1)
                return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy data is big-endian ('%s'); "
                                "lowp reads little-endian only (save with "
                                "a.astype(a.dtype.newbyteorder('<')))", c->what, shown);
            if (s[0] == '|' && tr->size > 1)
                return lp_error(LOWP_ERR_FORMAT, "%s: .npy descr '%s' has no byte order for "
                                "a multi-byte type", c->what, shown);
            *dtype_out = (lp_dtype)t;
            return LP_OK;
        }
    }
    return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported (lowp reads "
                    "f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", c->what, shown);
}

/* Parses the header dict at p[hdr_off .. hdr_off+hdr_len) and checks the shape. */
static lp_status npy_parse_header(const uint8_t *p, size_t hdr_off, size_t hdr_len,
                                  const char *what, npy_header *h)
{
    cursor c = { (const char *)p + hdr_off, (const char *)p + hdr_off,
                 (const char *)p + hdr_off + hdr_len, what };
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    const char *descr = NULL;
    size_t descr_len = 0;

    memset(h, 0, sizeof *h);
    if (!eat(&c, '{'))
        return lp_error(LOWP_ERR_FORMAT, "%s: malformed .npy header: not a dict", what);
    while (!eat(&c, '}')) {
        const char *key;
        size_t klen;
        LP_TRY(parse_str(&c, &key, &klen));
        if (!eat(&c, ':'))
            return syntax(&c, "':' after a key");
        bool *seen;
        if (str_is(key, klen, "descr")) {
            seen = &have_descr;
            if (peek(&c, '['))
                return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy structured dtypes are not "
                                "supported", what);
            LP_TRY(parse_str(&c, &descr, &descr_len));
        } else if (str_is(key, klen, "fortran_order")) {
            seen = &have_order;
            skip_ws(&c);
            size_t left = (size_t)(c.end - c.p);
            if (left >= 4 && memcmp(c.p, "True", 4) == 0)
                fortran = true, c.p += 4;
            else if (left >= 5 && memcmp(c.p, "False", 5) == 0)
                fortran = false, c.p += 5;
            else
                return syntax(&c, "True or False for 'fortran_order'");
        } else if (str_is(key, klen, "shape")) {
            seen = &have_shape;
            LP_TRY(parse_shape(&c, h));
        } else {
            return lp_error(LOWP_ERR_FORMAT, "%s: malformed .npy header: unexpected key '%.*s'",
                            what, (int)(klen > 40 ? 40 : klen), key);
        }
        if (*seen)
            return lp_error(LOWP_ERR_FORMAT, "%s: malformed .npy header: key '%.*s' repeated",
                            what, (int)klen, key);
        *seen = true;
        if (eat(&c, '}'))
            break;
        if (!eat(&c, ','))
            return syntax(&c, "',' or '}' after a value");
    }
    /* numpy pads the header with spaces and a newline; anything else is garbage. */
    skip_ws(&c);
    if (c.p != c.end)
        return syntax(&c, "the end of the header after '}'");
    if (!have_descr || !have_order || !have_shape)
        return lp_error(LOWP_ERR_FORMAT, "%s: malformed .npy header: no '%s' key", what,
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    LP_TRY(parse_descr(&c, descr, descr_len, &h->dtype));

    /* Fortran order is the same layout as C order when at most one dim exceeds 1. */
    if (fortran) {
        int big = 0;
        for (int i = 0; i < h->ndim; i++)
            big += h->dims[i] > 1;
        if (big > 1)
            return lp_error(LOWP_ERR_UNSUPPORTED, "%s: .npy array is in Fortran order; lowp "
                            "reads C order only (save np.ascontiguousarray(a))", what);
    }

    size_t esize = lp_dtype_traits_of(h->dtype)->size;
    uint64_t numel = 1;
    bool empty = false;
    for (int i = 0; i < h->ndim; i++)
        empty |= h->dims[i] == 0;
    for (int i = 0; i < h->ndim && !empty; i++) {
        if (numel > (uint64_t)INT64_MAX / esize / (uint64_t)h->dims[i])
            return lp_error(LOWP_ERR_FORMAT, "%s: .npy shape is too large (size overflows)",
                            what);
        numel *= (uint64_t)h->dims[i];
    }
    if (empty)
        numel = 0;
    if (numel * esize > SIZE_MAX)
        return lp_error(LOWP_ERR_FORMAT, "%s: .npy shape is too large for this machine", what);
    h->nbytes = (size_t)(numel * esize);
    h->data_off = hdr_off + hdr_len;
    return LP_OK;
}

static lp_status truncated(const char *what, const npy_header *h, size_t have)
{
    char shape[256];
    return lp_error(LOWP_ERR_FORMAT, "%s: .npy data is truncated: %s%s needs %zu bytes, the file "
                    "has %zu", what, lp_dtype_traits_of(h->dtype)->name,
                    lp_shape_str(h->ndim, h->dims, shape, sizeof shape), h->nbytes, have);
}

static lp_status npy_new_tensor(const npy_header *h, const char *what, lp_tensor **out)
{
    lp_status st = lp_tensor_new(h->dtype, h->ndim, h->dims, out);
    if (st != LP_OK)
        return lp_error_prefix(st, "%s", what);
    return LP_OK;
}

/* Bool bytes other than 0/1 are read as true, so that the tensor holds 0 or 1 only. */
static void npy_fix_bool(lp_tensor *t)
{
    if (t->dtype != LP_BOOL)
        return;
    uint8_t *b = t->data;
    for (size_t i = 0; i < t->nbytes; i++)
        b[i] = b[i] != 0;
}

lp_status lp_npy_parse(const void *data, size_t size, const char *what, lp_tensor **out)
{
    const uint8_t *p = data;
    size_t hdr_off, hdr_len;
    npy_header h;
    if (!what)
        what = "<memory>";
    if (!data && size)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: NULL data", what);
    LP_TRY(npy_prefix(p, size, what, &hdr_off, &hdr_len));
    if (hdr_len > size - hdr_off)
        return lp_error(LOWP_ERR_FORMAT, "%s: .npy header is truncated (%zu of %zu bytes)", what,
                        size - hdr_off, hdr_len);
    LP_TRY(npy_parse_header(p, hdr_off, hdr_len, what, &h));
    if (h.nbytes > size - h.data_off)
        return truncated(what, &h, size - h.data_off);
    lp_tensor *t;
    LP_TRY(npy_new_tensor(&h, what, &t));
    if (h.nbytes)
        memcpy(t->data, p + h.data_off, h.nbytes);
    npy_fix_bool(t);
    *out = t;
    return LP_OK;
}

/* ---- loading from a file: header first, then the data straight into the tensor ---- */

lowp_status lowp_tensor_load_npy(const char *path, lowp_tensor **tensor_out)
{
    if (!path || !tensor_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tensor_load_npy: NULL argument");
    FILE *f;
    LP_TRY(lp_file_fopen(path, 0, &f, NULL));
    uint8_t prefix[12], *hdr = NULL;
    size_t hdr_off, hdr_len;
    npy_header h;
    lp_tensor *t = NULL;
    lp_status st;

    size_t got = fread(prefix, 1, sizeof prefix, f);
    if (got < sizeof prefix && ferror(f)) {
        st = lp_error(LOWP_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if ((st = npy_prefix(prefix, got, path, &hdr_off, &hdr_len)) != LP_OK)
        goto fail;
    /* Read prefix + header into one buffer so the parser sees file offsets. */
    hdr = malloc(hdr_off + hdr_len);
    if (!hdr) {
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", path);
        goto fail;
    }
    memcpy(hdr, prefix, hdr_off);
    size_t have = got - hdr_off;   /* header bytes already in prefix[] */
    if (have > hdr_len)
        have = hdr_len;
    memcpy(hdr + hdr_off, prefix + hdr_off, have);
    if (fseek(f, (long)(hdr_off + have), SEEK_SET) != 0 ||
        fread(hdr + hdr_off + have, 1, hdr_len - have, f) != hdr_len - have) {
        st = ferror(f) ? lp_error(LOWP_ERR_IO, "%s: read error: %s", path, strerror(errno))
                       : lp_error(LOWP_ERR_FORMAT, "%s: .npy header is truncated", path);
        goto fail;
    }
    if ((st = npy_parse_header(hdr, hdr_off, hdr_len, path, &h)) != LP_OK)
        goto fail;
    /* Check the size before allocating, so a lying header cannot ask for gigabytes. */
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        size_t left = (uint64_t)sb.st_size > h.data_off ? (size_t)sb.st_size - h.data_off : 0;
        if (h.nbytes > left) {
            st = truncated(path, &h, left);
            goto fail;
        }
    }
    if ((st = npy_new_tensor(&h, path, &t)) != LP_OK)
        goto fail;
    if (h.nbytes) {
        got = fread(t->data, 1, h.nbytes, f);
        if (got != h.nbytes) {
            st = ferror(f) ? lp_error(LOWP_ERR_IO, "%s: read error: %s", path, strerror(errno))
                           : truncated(path, &h, got);
            goto fail;
        }
    }
    npy_fix_bool(t);
    free(hdr);
    fclose(f);
    *tensor_out = t;
    return LP_OK;

fail:
    lp_tensor_free(t);
    free(hdr);
    fclose(f);
    return st;
}

/* ---- writing ---- */

/* The prefix + header dict, padded with spaces and a final '\n' to a multiple of 64 bytes as
 * numpy does. Returns its length; buf must hold 512 bytes (rank <= 8 needs under 300). */
static size_t npy_header_bytes(const lp_tensor *t, char *buf)
{
    char dict[400];
    int k = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                     lp_dtype_traits_of(t->dtype)->size == 1 ? '|' : '<',
                     lp_dtype_traits_of(t->dtype)->npy);
    for (int i = 0; i < t->ndim; i++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld,%s", (long long)t->dims[i],
                      t->ndim == 1 ? "" : " ");
    if (t->ndim > 1)
        k -= 2;   /* "(3, 4, " -> "(3, 4" */
    k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    /* v1.0 holds headers up to 65535 bytes; ours are always far shorter, but a v2.0 prefix
     * (4-byte length) would be the answer otherwise. */
    size_t pre = 10, total = pre + (size_t)k + 1;
    total = (total + 63) / 64 * 64;
    size_t hlen = total - pre;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + pre, dict, (size_t)k);
    memset(buf + pre + k, ' ', hlen - (size_t)k - 1);
    buf[total - 1] = '\n';
    return total;
}

static lp_status npy_check_writable(const lp_tensor *t, const char *what)
{
    const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
    if (!tr->npy)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: dtype %s has no .npy form", what, tr->name);
    if (t->ndim < 0 || t->ndim > LP_MAX_DIMS)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: tensor rank %d is outside 0..%d", what,
                        t->ndim, LP_MAX_DIMS);
    return LP_OK;
}

lp_status lp_npy_write(const lp_tensor *t, const char *what, unsigned char **data_out,
                       size_t *size_out)
{
    char hdr[512];
    LP_TRY(npy_check_writable(t, what));
    size_t hlen = npy_header_bytes(t, hdr);
    unsigned char *buf = malloc(hlen + t->nbytes);
    if (!buf)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory writing .npy", what);
    memcpy(buf, hdr, hlen);
    if (t->nbytes)
        memcpy(buf + hlen, t->data, t->nbytes);
    *data_out = buf;
    *size_out = hlen + t->nbytes;
    return LP_OK;
}

lowp_status lowp_tensor_save_npy(const lowp_tensor *tensor, const char *path)
{
    if (!tensor || !path)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tensor_save_npy: NULL argument");
    LP_TRY(npy_check_writable(tensor, path));
    char hdr[512];
    size_t hlen = npy_header_bytes(tensor, hdr);

    /* A temporary in the same folder, renamed over `path` (base/outfile.h). */
    lp_outfile o;
    LP_TRY(lp_out_begin(path, &o));
    if (fwrite(hdr, 1, hlen, o.f) != hlen ||
        (tensor->nbytes && fwrite(tensor->data, 1, tensor->nbytes, o.f) != tensor->nbytes)) {
        int err = errno;
        lp_out_abort(&o);
        return lp_error(LOWP_ERR_IO, "%s: cannot write: %s", path, strerror(err));
    }
    return lp_out_commit(&o);
}
