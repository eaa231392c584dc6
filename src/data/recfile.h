/* recfile.h — fixed-size records from a plain or gzip'ed file, read by index without loading
 * the file: plain files by offset (pread); gzip files stream with gzread while the indices
 * come in order, and are inflated once into an anonymous temporary file (then read by
 * offset) the first time an index goes backwards, e.g. when the dataloader shuffles. */
#ifndef LP_RECFILE_H
#define LP_RECFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

#include "base/status.h"

typedef struct lp_recfile {
    char path[512];
    int fd;              /* plain file or inflated temp file; -1 while streaming gz */
    gzFile gz;           /* streaming reader (NULL once inflated or for plain files) */
    bool is_gz;
    int64_t header;      /* bytes before record 0 */
    int64_t rec_size;    /* bytes per record */
    int64_t next;        /* gz streaming: the record the stream is positioned at */
} lp_recfile;

/* Opens `path` (gzip detected by magic bytes). */
lp_status lp_recfile_open(lp_recfile *f, const char *path);
/* Reads `size` header bytes from the start (call before lp_recfile_set_layout). */
lp_status lp_recfile_read_header(lp_recfile *f, void *buf, size_t size);
void lp_recfile_set_layout(lp_recfile *f, int64_t header, int64_t rec_size);
/* Fails unless the file holds `n` records after its header (the uncompressed size for gzip:
 * streamed through once, stopping as soon as there is enough), so that a header declaring
 * more records than the file has is refused at open -- the sample count sizes allocations
 * (the dataloader's permutation). `what` names the records in the message ("images"). */
lp_status lp_recfile_check_count(lp_recfile *f, int64_t n, const char *what);
/* Record `index` into buf (rec_size bytes). Errors name the file and record. */
lp_status lp_recfile_read(lp_recfile *f, int64_t index, void *buf);
void lp_recfile_close(lp_recfile *f);

/* The first of `dir/name`, `dir/name.gz` that exists, into out; false if neither. */
bool lp_find_file(const char *dir, const char *name, char *out, size_t size);

#endif
