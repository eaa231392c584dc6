/* recfile.c — indexed fixed-size records over plain and gzip files (see recfile.h). */
#include "data/recfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "data/data.h"

lp_status lp_recfile_open(lp_recfile *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd;
    LP_TRY(lp_file_open(path, 0, &fd, NULL));
    unsigned char magic[2] = {0, 0};
    ssize_t r = pread(fd, magic, 2, 0);
    if (r == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        f->is_gz = true;
        f->gz = gzdopen(fd, "rb");
        if (!f->gz) {
            close(fd);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: cannot start gzip reader", path);
        }
        gzbuffer(f->gz, 1 << 16);
    } else {
        f->fd = fd;
    }
    return LP_OK;
}

static lp_status gz_read(lp_recfile *f, void *buf, size_t size)
{
    size_t done = 0;
    while (done < size) {
        unsigned chunk = size - done > (1u << 30) ? (1u << 30) : (unsigned)(size - done);
        int r = gzread(f->gz, (char *)buf + done, chunk);
        if (r < 0) {
            int err;
            const char *msg = gzerror(f->gz, &err);
            return lp_error(LOWP_ERR_FORMAT, "%s: gzip data is corrupt: %s", f->path, msg);
        }
        if (r == 0)
            return lp_error(LOWP_ERR_FORMAT, "%s: file is truncated", f->path);
        done += (size_t)r;
    }
    return LP_OK;
}

lp_status lp_recfile_read_header(lp_recfile *f, void *buf, size_t size)
{
    if (!f->is_gz)
        return lp_read_at(f->fd, buf, size, 0, f->path);
    if (gzrewind(f->gz) != 0)
        return lp_error(LOWP_ERR_IO, "%s: cannot rewind", f->path);
    return gz_read(f, buf, size);
}

void lp_recfile_set_layout(lp_recfile *f, int64_t header, int64_t rec_size)
{
    f->header = header;
    f->rec_size = rec_size;
    f->next = 0;
    if (f->gz) {
        gzrewind(f->gz);
        if (header)
            gzseek(f->gz, (z_off_t)header, SEEK_SET);
    }
}

lp_status lp_recfile_check_count(lp_recfile *f, int64_t n, const char *what)
{
    if (n < 0 || (f->rec_size && n > (INT64_MAX - f->header) / f->rec_size))
        return lp_error(LOWP_ERR_FORMAT, "%s: the header declares %lld %s, too many for any file", f->path,
                        (long long)n, what);
    int64_t need = f->header + n * f->rec_size, have = 0;
    if (!f->gz) {
        struct stat sb;
        if (fstat(f->fd, &sb) != 0)
            return lp_error(LOWP_ERR_IO, "%s: cannot stat: %s", f->path, strerror(errno));
        have = (int64_t)sb.st_size;
    } else {
        char *buf = malloc(1 << 16);
        if (!buf)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        lp_status st = gzrewind(f->gz) == 0 ? LP_OK : lp_error(LOWP_ERR_IO, "%s: cannot rewind", f->path);
        while (st == LP_OK && have < need) {
            int r = gzread(f->gz, buf, 1 << 16);
            int err;
            if (r < 0)
                st = lp_error(LOWP_ERR_FORMAT, "%s: gzip data is corrupt: %s", f->path, gzerror(f->gz, &err));
            if (r <= 0)
                break;
            have += r;
        }
        free(buf);
        LP_TRY(st);
        lp_recfile_set_layout(f, f->header, f->rec_size);   /* back to record 0 */
    }
    if (have < need)
        return lp_error(LOWP_ERR_FORMAT, "%s: the header declares %lld %s (%lld bytes) but the file%s holds "
                        "%lld bytes: truncated?", f->path, (long long)n, what, (long long)need,
                        f->gz ? " (uncompressed)" : "", (long long)have);
    return LP_OK;
}

/* Inflates the whole gzip stream into an unlinked temporary file; reads go by offset after. */
static lp_status inflate_to_temp(lp_recfile *f)
{
    FILE *tmp = tmpfile();
    if (!tmp)
        return lp_error(LOWP_ERR_IO, "%s: cannot create a temporary file to unpack into: %s",
                        f->path, strerror(errno));
    lp_status st = LP_OK;
    if (gzrewind(f->gz) != 0)
        st = lp_error(LOWP_ERR_IO, "%s: cannot rewind", f->path);
    char *buf = malloc(1 << 16);
    if (!buf && st == LP_OK)
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    while (st == LP_OK) {
        int r = gzread(f->gz, buf, 1 << 16);
        if (r < 0) {
            int err;
            st = lp_error(LOWP_ERR_FORMAT, "%s: gzip data is corrupt: %s", f->path, gzerror(f->gz, &err));
        } else if (r == 0) {
            break;
        } else if (fwrite(buf, 1, (size_t)r, tmp) != (size_t)r) {
            st = lp_error(LOWP_ERR_IO, "%s: cannot write the temporary copy: %s", f->path, strerror(errno));
        }
    }
    free(buf);
    if (st == LP_OK && fflush(tmp) != 0)
        st = lp_error(LOWP_ERR_IO, "%s: cannot write the temporary copy: %s", f->path, strerror(errno));
    int fd = st == LP_OK ? dup(fileno(tmp)) : -1;
    fclose(tmp);
    if (st != LP_OK)
        return st;
    if (fd < 0)
        return lp_error(LOWP_ERR_IO, "%s: dup failed: %s", f->path, strerror(errno));
    gzclose(f->gz);
    f->gz = NULL;
    f->fd = fd;
    return LP_OK;
}

lp_status lp_recfile_read(lp_recfile *f, int64_t index, void *buf)
{
    if (f->gz) {
        if (index < f->next)
            LP_TRY(inflate_to_temp(f));
        else {
            if (index > f->next &&
                gzseek(f->gz, (z_off_t)(f->header + index * f->rec_size), SEEK_SET) < 0)
                return lp_error(LOWP_ERR_FORMAT, "%s: record %lld: file is truncated", f->path,
                                (long long)index);
            lp_status st = gz_read(f, buf, (size_t)f->rec_size);
            if (st != LP_OK) {
                f->next = INT64_MAX;   /* position unknown: go through the temp copy next time */
                return st;
            }
            f->next = index + 1;
            return LP_OK;
        }
    }
    return lp_read_at(f->fd, buf, (size_t)f->rec_size, f->header + index * f->rec_size, f->path);
}

void lp_recfile_close(lp_recfile *f)
{
    if (f->gz)
        gzclose(f->gz);
    else if (f->fd >= 0)
        close(f->fd);
    f->gz = NULL;
    f->fd = -1;
}

bool lp_find_file(const char *dir, const char *name, char *out, size_t size)
{
    struct stat sb;
    snprintf(out, size, "%s/%s", dir, name);
    if (stat(out, &sb) == 0)
        return true;
    snprintf(out, size, "%s/%s.gz", dir, name);
    return stat(out, &sb) == 0;
}
