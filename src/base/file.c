/* file.c — opening input files: regular files only, never blocking, size-capped (file.h). */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a plain file";
}

lp_status lp_file_open(const char *path, uint64_t max_size, int *fd_out, uint64_t *size_out)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return lp_error(LOWP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    lp_status st = LP_OK;
    if (fstat(fd, &sb) != 0)
        st = lp_error(LOWP_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = lp_error(LOWP_ERR_IO, "%s: not a regular file (%s); lowp reads models, data and configs from regular files only",
                      path, file_kind(sb.st_mode));
    else if (max_size && (uint64_t)sb.st_size > max_size)
        st = lp_error(LOWP_ERR_UNSUPPORTED, "%s: %llu bytes is more than lowp reads into memory (%llu bytes, docs/limits.md)",
                      path, (unsigned long long)sb.st_size, (unsigned long long)max_size);
    else {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
            st = lp_error(LOWP_ERR_IO, "%s: cannot set blocking reads: %s", path, strerror(errno));
    }
    if (st != LP_OK) {
        close(fd);
        return st;
    }
    *fd_out = fd;
    if (size_out)
        *size_out = (uint64_t)sb.st_size;
    return LP_OK;
}

lp_status lp_file_fopen(const char *path, uint64_t max_size, FILE **f_out, uint64_t *size_out)
{
    int fd;
    LP_TRY(lp_file_open(path, max_size, &fd, size_out));
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        lp_status st = lp_error(LOWP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    *f_out = f;
    return LP_OK;
}

lp_status lp_read_file_max(const char *path, uint64_t max_size, uint8_t **data_out, size_t *size_out)
{
    int fd;
    uint64_t size;
    LP_TRY(lp_file_open(path, max_size, &fd, &size));
    uint8_t *buf = size < SIZE_MAX ? malloc((size_t)size + 1) : NULL;
    if (!buf) {
        close(fd);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory reading %llu bytes", path, (unsigned long long)size);
    }
    size_t n = 0;
    lp_status st = LP_OK;
    while (n < size) {
        ssize_t k = read(fd, buf + n, (size_t)size - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            st = lp_error(LOWP_ERR_IO, "%s: read error: %s", path, strerror(errno));
        else if (k == 0)
            st = lp_error(LOWP_ERR_IO, "%s: the file shrank while being read (%zu of %llu bytes)", path, n,
                          (unsigned long long)size);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (st != LP_OK) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *data_out = buf;
    *size_out = n;
    return LP_OK;
}

lp_status lp_read_file(const char *path, uint8_t **data_out, size_t *size_out)
{
    return lp_read_file_max(path, LP_MAX_READ_FILE, data_out, size_out);
}
