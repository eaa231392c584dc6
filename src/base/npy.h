/* npy.h — NumPy .npy files: the in-memory parser behind lowp_tensor_load_npy (and the fuzzer).
 *
 * Accepted: format versions 1.0, 2.0 and 3.0; C order (or Fortran order when it is the same
 * layout, i.e. at most one dim larger than 1); descr '<' (any size) or '|' (one-byte types)
 * of f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1; rank 0..8. Bool bytes are normalized to 0/1.
 * Bytes after the array data are ignored, as np.load ignores them (numpy can append several
 * arrays to one file). Errors: LOWP_ERR_FORMAT for a malformed file (bad magic, truncated or
 * malformed header, missing/unknown keys, data shorter than the shape says, dims whose
 * product overflows), LOWP_ERR_UNSUPPORTED for a valid file lowp cannot hold (big-endian,
 * Fortran order, other dtypes, rank > 8). */
#ifndef LP_NPY_H
#define LP_NPY_H

#include <stddef.h>

#include "base/tensor.h"

/* Parses a whole .npy image in memory into a new tensor. `what` names the source in
 * messages (a path, "<memory>"). Never reads outside data[0..size). */
lp_status lp_npy_parse(const void *data, size_t size, const char *what, lp_tensor **out);

/* Serializes `t` as a .npy image (v1.0, or v2.0 if the header needs it) into a malloc'ed
 * buffer. */
lp_status lp_npy_write(const lp_tensor *t, const char *what, unsigned char **data_out,
                       size_t *size_out);

#endif
