/* image.c — JPEG (libjpeg-turbo) and PNG (libpng) decoding into float32 HWC, from memory.
 *
 * Hostile images are refused before they cost anything: the declared size is checked against
 * the image limits (docs/limits.md) right after the header, libjpeg's working memory and scan
 * count are capped, and any sign of corrupt or missing data -- a libjpeg warning, a libpng
 * warning about image data, a premature end -- is an error naming the file, never made-up
 * pixels. PNGs are checked in one streaming pass with libpng's full API (user limits, chunk
 * caps, one row of memory), then decoded by its simplified API as before, so that gamma and
 * alpha handling stay exactly what they were.
 *
 * libjpeg and libpng report errors through a longjmp; it lands in the decoder's own frame,
 * which frees what it allocated, so a bad file is an error value, never an abort. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "base/file.h"
#include "base/limits.h"
#include "data/data.h"

/* ---- limits ---- */

/* A positive decimal from the environment variable `name`, or `dflt` when unset. */
static lp_status env_limit(const char *name, uint64_t dflt, uint64_t max, uint64_t *out)
{
    const char *s = getenv(name);
    *out = dflt;
    if (!s)
        return LP_OK;
    char *end;
    errno = 0;
    unsigned long long v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!(*s >= '0' && *s <= '9') || errno || *end || v < 1 || v > max)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s='%s' is not a whole number in 1..%llu", name, s,
                        (unsigned long long)max);
    *out = v;
    return LP_OK;
}

lp_status lp_image_limits(lp_image_limit *lim)
{
    LP_TRY(env_limit("LOWP_MAX_IMAGE_SIDE", LP_MAX_IMAGE_SIDE, LP_MAX_IMAGE_SIDE_EVER, &lim->side));
    return env_limit("LOWP_MAX_IMAGE_PIXELS", LP_MAX_IMAGE_PIXELS, UINT64_C(1) << 36, &lim->pixels);
}

static lp_status check_size(const char *path, const char *kind, uint64_t w, uint64_t h)
{
    lp_image_limit lim;
    LP_TRY(lp_image_limits(&lim));
    if (w == 0 || h == 0)
        return lp_error(LOWP_ERR_FORMAT, "%s: %s declares an empty %llux%llu image", path, kind,
                        (unsigned long long)w, (unsigned long long)h);
    if (w > lim.side || h > lim.side || w * h > lim.pixels)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: %s of %llux%llu pixels is over the image limit "
                        "(%llu per side, %llu pixels; set LOWP_MAX_IMAGE_SIDE / LOWP_MAX_IMAGE_PIXELS "
                        "to raise it, docs/limits.md)", path, kind, (unsigned long long)w,
                        (unsigned long long)h, (unsigned long long)lim.side,
                        (unsigned long long)lim.pixels);
    return LP_OK;
}

/* ---- JPEG ---- */

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

/* Warnings (level -1) are errors: libjpeg warns when data is corrupt or missing and then goes
 * on with made-up pixels ("Premature end of JPEG file", "Corrupt JPEG data: ..."). Only
 * warnings about metadata the pixels do not depend on pass. Trace messages (level >= 0) are
 * dropped. */
static void jpeg_warning(j_common_ptr cinfo, int level)
{
    int code = cinfo->err->msg_code;
    if (level >= 0 || code == JWRN_ADOBE_XFORM || code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC)
        return;
    jpeg_error_exit(cinfo);
}

/* Called between scans of a progressive image: a file of many tiny scans re-walks all the
 * coefficients each time (a CPU bomb), so the scan count is capped. */
static void jpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > LP_MAX_JPEG_SCANS) {
        jpeg_err *e = (jpeg_err *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans (a progressive image has about ten)",
                 LP_MAX_JPEG_SCANS);
        longjmp(e->jump, 1);
    }
}

static lp_status jpeg_decode(const uint8_t *data, size_t size, const char *path, lp_tensor **out)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_progress};
    jpeg_err err;
    lp_tensor *volatile t = NULL;
    unsigned char *volatile row = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit;
    err.mgr.emit_message = jpeg_warning;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        lp_tensor_free(t);
        free(row);
        return lp_error(LOWP_ERR_FORMAT, "%s: cannot decode JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    lp_status st = check_size(path, "JPEG", cinfo.image_width, cinfo.image_height);
    if (st != LP_OK) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    /* Working memory: a progressive image keeps every coefficient (2 bytes per pixel and
     * component, at most 4 components we can convert), plus slack for the row buffers. More
     * makes libjpeg fail ("Backing store not supported") instead of allocating it. */
    cinfo.mem->max_memory_to_use = (long)((uint64_t)cinfo.image_width * cinfo.image_height * 8 + (16 << 20));
    cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&cinfo);
    int64_t dims[3] = {cinfo.output_height, cinfo.output_width, cinfo.output_components};
    lp_tensor *tt;
    st = lp_tensor_new(LP_F32, 3, dims, &tt);
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
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) {
            snprintf(err.msg, sizeof err.msg, "no data for row %zu of %u", y, cinfo.output_height);
            longjmp(err.jump, 1);
        }
        for (size_t i = 0; i < stride; i++)
            x[y * stride + i] = (float)row[i];
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *out = t;
    return LP_OK;
}

/* ---- PNG ---- */

typedef struct png_ctx {
    const uint8_t *data;
    size_t size, pos;
    char msg[256];
} png_ctx;

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->pos)
        png_error(png, "premature end of file (truncated)");
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* A warning is an error unless it is about an ancillary chunk the pixels do not depend on:
 * libpng names the chunk first ("iCCP: known incorrect sRGB profile"), and ancillary chunk
 * names start with a lowercase letter. tRNS, gAMA and sRGB change the decoded pixels. Image
 * data problems ("IDAT: Too much image data", "Extra compressed data") are errors. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    bool ancillary = msg[0] >= 'a' && msg[0] <= 'z' && strlen(msg) > 5 && msg[4] == ':' &&
                     strncmp(msg, "tRNS", 4) && strncmp(msg, "gAMA", 4) && strncmp(msg, "sRGB", 4);
    if (!ancillary)
        png_on_error(png, msg);
}

/* Reads the whole PNG once, row by row into one row buffer, under the limits: declared size,
 * chunk sizes, chunk count; corrupt data, a bad CRC or a missing IEND fails. */
static lp_status png_check(const uint8_t *data, size_t size, const char *path)
{
    png_ctx c = {.data = data, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep volatile row = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory starting libpng", path);
    }
    volatile lp_status st = LP_OK;
    if (setjmp(png_jmpbuf(png))) {
        st = lp_error(LOWP_ERR_FORMAT, "%s: cannot decode PNG: %s", path, c.msg);
    } else {
        /* libpng's own size check is a backstop at the largest side we allow at all; the
         * limit in force is check_size's, whose message says how to raise it. */
        png_set_user_limits(png, LP_MAX_IMAGE_SIDE_EVER, LP_MAX_IMAGE_SIDE_EVER);
        png_set_chunk_cache_max(png, LP_MAX_PNG_CHUNKS);
        png_set_chunk_malloc_max(png, LP_MAX_PNG_CHUNK);
        /* text chunks carry nothing lowp reads, and a compressed one (zTXt, iTXt) can inflate
         * far past its size: ignore them (a 192-byte fuzzed PNG took 1.8 GB) */
        static const png_byte text_chunks[] = "tEXt\0zTXt\0iTXt";
        png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, text_chunks, 3);
        png_set_read_fn(png, &c, png_read_mem);
        png_read_info(png, info);
        png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
        st = check_size(path, "PNG", w, h);
        if (st == LP_OK) {
            int passes = png_set_interlace_handling(png);
            png_read_update_info(png, info);
            row = malloc(png_get_rowbytes(png, info));
            if (!row)
                st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            for (int p = 0; p < passes && st == LP_OK; p++)
                for (png_uint_32 y = 0; y < h; y++)
                    png_read_row(png, row, NULL);
            if (st == LP_OK)
                png_read_end(png, NULL);
        }
    }
    free(row);
    png_destroy_read_struct(&png, &info, NULL);
    return st;
}

static lp_status png_decode(const uint8_t *data, size_t size, const char *path, lp_tensor **out)
{
    LP_TRY(png_check(data, size, path));
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, size))
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

/* ---- entry points ---- */

lp_status lp_image_decode(const uint8_t *data, size_t size, const char *path, lp_tensor **out)
{
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return jpeg_decode(data, size, path, out);
    if (size >= 8 && !png_sig_cmp(data, 0, 8))
        return png_decode(data, size, path, out);
    return lp_error(LOWP_ERR_FORMAT, "%s: not a JPEG or PNG image", path);
}

lp_status lp_image_load(const char *path, lp_tensor **out)
{
    uint8_t *data;
    size_t size;
    LP_TRY(lp_read_file_max(path, LP_MAX_IMAGE_FILE, &data, &size));
    lp_status st = lp_image_decode(data, size, path, out);
    free(data);
    return st;
}
