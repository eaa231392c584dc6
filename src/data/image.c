/* image.c — JPEG (libjpeg-turbo) and PNG (libpng simplified API) decoding into float32 HWC.
 * libjpeg reports errors through a longjmp; it lands in lp_jpeg_decode's own frame, which
 * frees what it allocated, so a bad file is an error value, never an abort. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "base/file.h"
#include "data/data.h"

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->mgr.format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

static lp_status jpeg_decode(FILE *fp, const char *path, lp_tensor **out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    lp_tensor *volatile t = NULL;
    unsigned char *volatile row = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit;
    err.mgr.emit_message = jpeg_quiet;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        lp_tensor_free(t);
        free(row);
        return lp_error(LOWP_ERR_FORMAT, "%s: cannot decode JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, fp);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&cinfo);
    int64_t dims[3] = {cinfo.output_height, cinfo.output_width, cinfo.output_components};
    lp_tensor *tt;
    lp_status st = lp_tensor_new(LP_F32, 3, dims, &tt);
    if (st != LP_OK) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    t = tt;
    size_t stride = (size_t)dims[1] * (size_t)dims[2];
    row = malloc(stride);
    if (!row) {
        jpeg_destroy_decompress(&cinfo);
        lp_tensor_free(t);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    float *x = t->data;
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rp = row;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1)
            break;
        for (size_t i = 0; i < stride; i++)
            x[y * stride + i] = (float)row[i];
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *out = t;
    return LP_OK;
}

static lp_status png_decode(const char *path, lp_tensor **out)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return lp_error(LOWP_ERR_FORMAT, "%s: cannot decode PNG: %s", path, img.message);
    int gray = (img.format & PNG_FORMAT_FLAG_COLOR) == 0;
    img.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    int ch = gray ? 1 : 3;
    int64_t dims[3] = {img.height, img.width, ch};
    size_t n = (size_t)img.height * img.width * (size_t)ch;
    unsigned char *buf = malloc(n ? n : 1);
    lp_tensor *t = NULL;
    lp_status st = buf ? lp_tensor_new(LP_F32, 3, dims, &t)
                       : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != LP_OK) {
        png_image_free(&img);
        free(buf);
        return st;
    }
    /* Background for alpha: black, as PIL's convert('RGB') drops alpha without blending. */
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&img, &black, buf, 0, NULL)) {
        lp_tensor_free(t);
        free(buf);
        png_image_free(&img);
        return lp_error(LOWP_ERR_FORMAT, "%s: cannot decode PNG: %s", path, img.message);
    }
    float *x = t->data;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)buf[i];
    free(buf);
    *out = t;
    return LP_OK;
}

lp_status lp_image_load(const char *path, lp_tensor **out)
{
    FILE *fp;
    LP_TRY(lp_file_fopen(path, 0, &fp, NULL));
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, 8, fp);
    lp_status st;
    if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
        rewind(fp);
        st = jpeg_decode(fp, path, out);
        fclose(fp);
    } else if (got == 8 && !png_sig_cmp(magic, 0, 8)) {
        fclose(fp);
        st = png_decode(path, out);
    } else {
        fclose(fp);
        st = lp_error(LOWP_ERR_FORMAT, "%s: not a JPEG or PNG image", path);
    }
    return st;
}
