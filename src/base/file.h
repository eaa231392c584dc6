/* file.h — opening the files lowp reads (models, external data, .npy, configs, recipes,
 * datasets): regular files only, so that a FIFO, a device (/dev/zero) or a directory named as
 * input is refused at once instead of blocking the open or being read until memory runs out;
 * with a size cap where the whole file is read into memory (docs/limits.md). */
#ifndef LP_FILE_H
#define LP_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "base/status.h"

/* Whole files read into memory (lp_read_file) are at most this big: protobuf, and so ONNX
 * without external data, cannot express more than 2 GiB. */
#define LP_MAX_READ_FILE (UINT64_C(2) << 30)

/* Text inputs (YAML configurations, recipes) read whole: far more than any real one. */
#define LP_MAX_TEXT_FILE (UINT64_C(64) << 20)

/* Opens `path` read-only without blocking (O_NONBLOCK, so a FIFO cannot hang the open; cleared
 * again once the file is known to be regular) and refuses anything but a regular file, or one
 * larger than `max_size` bytes (0: no cap). *size_out (may be NULL) gets its size. The messages
 * name the path ("model.onnx: cannot open: ...", "/dev/zero: not a regular file (a character
 * device)"). */
lp_status lp_file_open(const char *path, uint64_t max_size, int *fd_out, uint64_t *size_out);
/* The same as a stdio stream ("rb"). */
lp_status lp_file_fopen(const char *path, uint64_t max_size, FILE **f_out, uint64_t *size_out);
/* Reads a whole regular file of at most `max_size` bytes into a malloc'ed buffer (one byte
 * more is allocated and set to 0, so text can be parsed in place). */
lp_status lp_read_file_max(const char *path, uint64_t max_size, uint8_t **data_out, size_t *size_out);
/* lp_read_file_max with LP_MAX_READ_FILE. */
lp_status lp_read_file(const char *path, uint8_t **data_out, size_t *size_out);

#endif
