/* image_ops.h — the image geometry the built-in transforms share (transforms.c) and the LPOT
 * composite transforms build on (transforms_lpot.c).
 *
 * Layout: a rank-2 tensor is (H,W); a rank-3 tensor is (H,W,C) when its last dim is at most 4,
 * otherwise (C,H,W) when its first dim is at most 4. */
#ifndef LP_IMAGE_OPS_H
#define LP_IMAGE_OPS_H

#include "data/data.h"

typedef struct img {
    int64_t h, w, c;
    int64_t sy, sx, sc;   /* element strides */
    bool chw;
} img;

enum { INTERP_BILINEAR, INTERP_NEAREST, INTERP_BICUBIC };

/* The geometry of an image tensor, or an error naming its shape. */
lp_status lp_img_of(const lp_tensor *t, img *m);
/* A new tensor of m's layout with size (h,w) and dtype, and its geometry in *om. */
lp_status lp_img_new(const img *m, lp_dtype dtype, int ndim, int64_t h, int64_t w, lp_tensor **out, img *om);
/* Replaces *tp by its (h,w) window at (top,left) (any dtype). */
lp_status lp_img_crop(lp_tensor **tp, int64_t top, int64_t left, int64_t h, int64_t w);
/* Replaces *tp by a float32 resize to (oh,ow): bilinear with half-pixel centres (OpenCV
 * INTER_LINEAR), bicubic (INTER_CUBIC) or nearest. */
lp_status lp_img_resize(lp_tensor **tp, int64_t oh, int64_t ow, int interp);
/* Replaces *tp by its float32 copy unless it is float32. */
lp_status lp_img_to_f32(lp_tensor **tp);
/* `key`: one int (square) or [h, w], positive. */
lp_status lp_img_get_size(const lowp_params *p, const char *key, int64_t *h, int64_t *w);
/* `interpolation`: bilinear (default), bicubic or nearest. */
lp_status lp_img_get_interp(const lowp_params *p, int *out);

#endif
