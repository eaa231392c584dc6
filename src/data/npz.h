/* npz.h — reading one array from a NumPy .npz archive (MNIST's mnist.npz, as LPOT reads it). */
#ifndef LP_NPZ_H
#define LP_NPZ_H

#include "base/limits.h"
#include "base/tensor.h"

/* The array `member` ("x_test": the archive member x_test.npy) of the .npz at `path`, as a new
 * tensor. Errors name the file and member; a member larger than LP_MAX_NPZ_MEMBER uncompressed
 * is refused before anything is allocated. */
lp_status lp_npz_read(const char *path, const char *member, lp_tensor **out);

#endif
