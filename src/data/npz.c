/* npz.c — one array out of a NumPy .npz file (a zip archive of .npy members, stored or
 * deflated, as np.savez / np.savez_compressed write them): the central directory is read from
 * the end of the file, the member's local header checked against it, its bytes inflated with
 * zlib into a buffer of the size the directory declares (at most LP_MAX_NPZ_MEMBER) and parsed
 * by the .npy reader. Zip64 archives, encryption and other compression methods are refused. */
#include "data/npz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/file.h"
#include "base/npy.h"
#include "data/data.h"

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }

static lp_status inflate_all(const unsigned char *src, size_t n, unsigned char *dst, size_t want, const char *what)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: zlib could not start", what);
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)want;
    int r = inflate(&z, Z_FINISH);
    size_t got = want - z.avail_out;
    inflateEnd(&z);
    if (r != Z_STREAM_END || got != want)
        return lp_error(LOWP_ERR_FORMAT, "%s: the deflated data is corrupt or not the %zu bytes the archive "
                        "declares", what, want);
    return LP_OK;
}

lp_status lp_npz_read(const char *path, const char *member, lp_tensor **out)
{
    int fd;
    uint64_t size;
    LP_TRY(lp_file_open(path, 0, &fd, &size));
    char what[700];
    snprintf(what, sizeof what, "%s: %s", path, member);
    unsigned char *tail = NULL, *buf = NULL, *data = NULL;
    lp_status st = LP_OK;
    /* the end-of-central-directory record: 22 bytes plus a comment of up to 65535 */
    size_t tn = size < 22 + 65535 ? (size_t)size : 22 + 65535;
    if (size < 22 || !(tail = malloc(tn)))
        st = size < 22 ? lp_error(LOWP_ERR_FORMAT, "%s: not a zip archive (.npz)", path)
                       : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LP_OK)
        st = lp_read_at(fd, tail, tn, (int64_t)(size - tn), path);
    int64_t eocd = -1;
    for (int64_t i = (int64_t)tn - 22; st == LP_OK && i >= 0 && eocd < 0; i--)
        if (le32(tail + i) == 0x06054b50)
            eocd = i;
    if (st == LP_OK && eocd < 0)
        st = lp_error(LOWP_ERR_FORMAT, "%s: not a zip archive (.npz): no end of central directory", path);
    uint64_t cd_size = 0, cd_off = 0, n_entries = 0;
    if (st == LP_OK) {
        n_entries = le16(tail + eocd + 10);
        cd_size = le32(tail + eocd + 12);
        cd_off = le32(tail + eocd + 16);
        if (cd_off == 0xFFFFFFFFu || cd_size == 0xFFFFFFFFu || n_entries == 0xFFFF)
            st = lp_error(LOWP_ERR_UNSUPPORTED, "%s: a zip64 archive (over 4 GiB or 65535 members)", path);
        else if (cd_off + cd_size > size || cd_size > (64u << 20))
            st = lp_error(LOWP_ERR_FORMAT, "%s: the central directory lies outside the file", path);
    }
    if (st == LP_OK && !(buf = malloc(cd_size ? cd_size : 1)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LP_OK)
        st = lp_read_at(fd, buf, cd_size, (int64_t)cd_off, path);
    /* the member: "<member>.npy" */
    char want[256];
    snprintf(want, sizeof want, "%s.npy", member);
    size_t wl = strlen(want);
    uint64_t comp = 0, usize = 0, local = 0;
    int method = -1;
    for (uint64_t k = 0, pos = 0; st == LP_OK && k < n_entries; k++) {
        if (pos + 46 > cd_size || le32(buf + pos) != 0x02014b50) {
            st = lp_error(LOWP_ERR_FORMAT, "%s: central directory entry %llu is malformed", path,
                          (unsigned long long)k);
            break;
        }
        const unsigned char *e = buf + pos;
        size_t nl = le16(e + 28), xl = le16(e + 30), cl = le16(e + 32);
        if (pos + 46 + nl + xl + cl > cd_size) {
            st = lp_error(LOWP_ERR_FORMAT, "%s: central directory entry %llu runs past its end", path,
                          (unsigned long long)k);
            break;
        }
        if (nl == wl && !memcmp(e + 46, want, wl)) {
            if (le16(e + 8) & 1)
                st = lp_error(LOWP_ERR_UNSUPPORTED, "%s: the member is encrypted", what);
            method = (int)le16(e + 10);
            comp = le32(e + 20);
            usize = le32(e + 24);
            local = le32(e + 42);
            break;
        }
        pos += 46 + nl + xl + cl;
    }
    if (st == LP_OK && method < 0)
        st = lp_error(LOWP_ERR_FORMAT, "%s: the archive has no member %s", path, want);
    if (st == LP_OK && method != 0 && method != 8)
        st = lp_error(LOWP_ERR_UNSUPPORTED, "%s: compression method %d (only stored and deflate)", what, method);
    if (st == LP_OK && (comp == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || local == 0xFFFFFFFFu))
        st = lp_error(LOWP_ERR_UNSUPPORTED, "%s: a zip64 member", what);
    /* deflate expands at most ~1032:1: a larger claim is refused before the buffer is allocated */
    if (st == LP_OK && method == 8 && usize > comp * 1032 + 1024)
        st = lp_error(LOWP_ERR_FORMAT, "%s: %llu bytes declared from %llu deflated: more than deflate can expand",
                      what, (unsigned long long)usize, (unsigned long long)comp);
    if (st == LP_OK && (usize > LP_MAX_NPZ_MEMBER || (method == 0 && comp != usize)))
        st = lp_error(LOWP_ERR_FORMAT, "%s: %llu bytes uncompressed (at most %llu; stored members keep their size)",
                      what, (unsigned long long)usize, (unsigned long long)LP_MAX_NPZ_MEMBER);
    unsigned char lh[30];
    if (st == LP_OK && local + 30 > size)
        st = lp_error(LOWP_ERR_FORMAT, "%s: the local header lies outside the file", what);
    if (st == LP_OK)
        st = lp_read_at(fd, lh, 30, (int64_t)local, path);
    uint64_t start = 0;
    if (st == LP_OK) {
        start = local + 30 + le16(lh + 26) + le16(lh + 28);
        if (le32(lh) != 0x04034b50 || le16(lh + 8) != (uint32_t)method || start + comp > size)
            st = lp_error(LOWP_ERR_FORMAT, "%s: the local header does not match the central directory", what);
    }
    unsigned char *packed = NULL;
    if (st == LP_OK && !(data = malloc(usize ? usize : 1)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory for %llu bytes", what, (unsigned long long)usize);
    if (st == LP_OK && method == 0)
        st = lp_read_at(fd, data, usize, (int64_t)start, path);
    if (st == LP_OK && method == 8) {
        if (!(packed = malloc(comp ? comp : 1)))
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == LP_OK)
            st = lp_read_at(fd, packed, comp, (int64_t)start, path);
        if (st == LP_OK)
            st = inflate_all(packed, comp, data, usize, what);
    }
    if (st == LP_OK)
        st = lp_npy_parse(data, usize, what, out);
    close(fd);
    free(tail);
    free(buf);
    free(packed);
    free(data);
    return st;
}
