/* png_file.h — what the dataset tests share to make image files: a w x h PNG of 1 (gray) or 3
 * (RGB) channels whose pixel bytes are base, base + step, base + 2 step, ... (mod 256).
 * Header-only (static inline); include after test.h. */
#ifndef LP_PNG_FILE_H
#define LP_PNG_FILE_H

#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static inline void lp_test_write_png(const char *path, int w, int h, int channels, unsigned base, unsigned step)
{
    size_t n = (size_t)w * (size_t)h * (size_t)channels;
    unsigned char *px = malloc(n ? n : 1);
    for (size_t i = 0; px && i < n; i++)
        px[i] = (unsigned char)(base + i * step);
    png_image img = { .version = PNG_IMAGE_VERSION, .width = (png_uint_32)w, .height = (png_uint_32)h,
                      .format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB };
    CHECK_MSG(px && png_image_write_to_file(&img, path, 0, px, 0, NULL), "cannot write %zu-char %s", strlen(path), path);
    free(px);
}

#endif
