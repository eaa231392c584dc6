/* test_images.c — the JPEG/PNG decoder against images this test encodes itself: normal ones
 * (baseline, progressive, grayscale JPEG; RGB, gray, RGBA, 16-bit, palette, interlaced PNG)
 * decode exactly as libjpeg/libpng's own decoding with the old settings does; hostile ones
 * are refused naming the file: headers declaring 20000x20000, images truncated at several
 * points, a progressive JPEG of 316 scans, limits lowered through the environment. */
#include "test.h"

#include <jpeglib.h>
#include <png.h>
#include <sys/stat.h>
#include <zlib.h>

#include "base/tensor.h"
#include "data/data.h"
#include "lowp.h"

typedef struct blob {
    uint8_t *data;
    size_t size;
} blob;

static unsigned char pixel(int x, int y, int c) { return (unsigned char)((x * 7 + y * 13 + c * 71) ^ (x * y)); }

/* A w x h JPEG with `comps` components (1 or 3); progressive: libjpeg's simple script, or
 * `many_scans` (grayscale): one scan per AC coefficient and successive-approximation bit. */
static blob make_jpeg(int w, int h, int comps, bool progressive, bool many_scans)
{
    blob b = {0};
    unsigned long size = 0;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    jpeg_scan_info scans[1 + 63 * 5];
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &b.data, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    if (many_scans) {
        int n = 0;
        scans[n++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
        for (int k = 1; k <= 63; k++)
            for (int al = 4; al >= 0; al--)
                scans[n++] = (jpeg_scan_info){1, {0}, k, k, al == 4 ? 0 : al + 1, al};
        c.scan_info = scans;
        c.num_scans = n;
    }
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * (size_t)comps);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w; x++)
            for (int k = 0; k < comps; k++)
                row[x * comps + k] = pixel(x, (int)c.next_scanline, k);
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    b.size = size;
    return b;
}

/* The pixels the decoder gave before hardening: libjpeg, ISLOW, gray or RGB. */
static lp_tensor *reference_jpeg(const blob *b)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    d.err = jpeg_std_error(&e);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, b->data, (unsigned long)b->size);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = d.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    d.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&d);
    int64_t dims[3] = {d.output_height, d.output_width, d.output_components};
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, 3, dims, &t));
    unsigned char *row = malloc((size_t)dims[1] * (size_t)dims[2]);
    while (d.output_scanline < d.output_height) {
        size_t y = d.output_scanline;
        JSAMPROW rp = row;
        jpeg_read_scanlines(&d, &rp, 1);
        for (int64_t i = 0; i < dims[1] * dims[2]; i++)
            ((float *)t->data)[y * (size_t)(dims[1] * dims[2]) + (size_t)i] = row[i];
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(row);
    return t;
}

/* libpng simplified API: an 8-bit (or 16-bit `linear`) image of `format`. */
static blob make_png_simple(int w, int h, png_uint_32 format)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = format;
    size_t n = PNG_IMAGE_SIZE(img);
    unsigned char *px = malloc(n);
    for (size_t i = 0; i < n; i++)
        px[i] = pixel((int)(i % 97), (int)(i / 97), 0);
    png_bytep cmap = NULL;
    if (format & PNG_FORMAT_FLAG_COLORMAP) {
        img.colormap_entries = 64;
        cmap = malloc(PNG_IMAGE_COLORMAP_SIZE(img));
        for (size_t i = 0; i < PNG_IMAGE_COLORMAP_SIZE(img); i++)
            cmap[i] = pixel((int)i, 3, 1);
        for (size_t i = 0; i < n; i++)
            px[i] %= 64;
    }
    blob b = {0};
    png_alloc_size_t size = 0;
    CHECK(png_image_write_to_memory(&img, NULL, &size, 0, px, 0, cmap));
    b.data = malloc(size);
    CHECK(png_image_write_to_memory(&img, b.data, &size, 0, px, 0, cmap));
    b.size = size;
    free(px);
    free(cmap);
    return b;
}

typedef struct membuf {
    blob *b;
    size_t cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->b->size + n > m->cap) {
        m->cap = (m->b->size + n) * 2;
        m->b->data = realloc(m->b->data, m->cap);
    }
    memcpy(m->b->data + m->b->size, data, n);
    m->b->size += n;
}
static void mem_flush(png_structp png) { (void)png; }

/* libpng full API: an interlaced RGB image, with `n_text` tEXt chunks before the image data. */
static blob make_png_full(int w, int h, int n_text)
{
    blob b = {0};
    membuf m = {&b, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text *text = calloc((size_t)(n_text ? n_text : 1), sizeof *text);
    for (int i = 0; i < n_text; i++)
        text[i] = (png_text){.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment", .text = "x"};
    if (n_text)
        png_set_text(png, info, text, n_text);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    unsigned char *row = malloc((size_t)w * 3);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w * 3; x++)
                row[x] = pixel(x, y, 2);
            png_write_row(png, row);
        }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    free(text);
    return b;
}

/* The pixels the decoder gave before hardening: the simplified API, gray or RGB on black. */
static lp_tensor *reference_png(const blob *b)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_memory(&img, b->data, b->size));
    int gray = (img.format & PNG_FORMAT_FLAG_COLOR) == 0;
    img.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    int64_t dims[3] = {img.height, img.width, gray ? 1 : 3};
    size_t n = (size_t)(dims[0] * dims[1] * dims[2]);
    unsigned char *buf = malloc(n);
    png_color black = {0, 0, 0};
    CHECK(png_image_finish_read(&img, &black, buf, 0, NULL));
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, 3, dims, &t));
    for (size_t i = 0; i < n; i++)
        ((float *)t->data)[i] = buf[i];
    free(buf);
    return t;
}

static void expect_same(const blob *b, lp_tensor *want, const char *what)
{
    lp_tensor *got = NULL;
    lp_status st = lp_image_decode(b->data, b->size, what, &got);
    CHECK_MSG(st == LOWP_OK, "%s: %s", what, lowp_last_error());
    CHECK_MSG(!got || !want || lp_tensor_equal(got, want), "%s decodes differently", what);
    lp_tensor_free(got);
    lp_tensor_free(want);
}

/* Decoding must fail with a message holding `path` and `want`. */
static void expect_refused(const uint8_t *data, size_t size, const char *path, const char *want)
{
    lp_tensor *t = NULL;
    lp_status st = lp_image_decode(data, size, path, &t);
    CHECK_MSG(st != LOWP_OK && strstr(lowp_last_error(), path) && strstr(lowp_last_error(), want),
              "%s: status %d, '%s' (wanted '%s')", path, st, st ? lowp_last_error() : "", want);
    lp_tensor_free(t);
}

static void test_normal_images_decode_as_before(void)
{
    blob j[3] = {make_jpeg(37, 23, 3, false, false), make_jpeg(37, 23, 3, true, false),
                 make_jpeg(40, 17, 1, false, false)};
    const char *jn[3] = {"baseline.jpg", "progressive.jpg", "gray.jpg"};
    for (int i = 0; i < 3; i++) {
        expect_same(&j[i], reference_jpeg(&j[i]), jn[i]);
        free(j[i].data);
    }
    static const png_uint_32 formats[] = {PNG_FORMAT_RGB, PNG_FORMAT_GRAY, PNG_FORMAT_RGBA, PNG_FORMAT_GA,
                                          PNG_FORMAT_LINEAR_RGB, PNG_FORMAT_RGB_COLORMAP};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        blob p = make_png_simple(29, 31, formats[i]);
        char name[32];
        snprintf(name, sizeof name, "format%u.png", (unsigned)formats[i]);
        expect_same(&p, reference_png(&p), name);
        free(p.data);
    }
    blob p = make_png_full(33, 19, 0);
    lp_tensor *ref = reference_png(&p);
    for (int64_t i = 0; ref && i < 33 * 19 * 3; i++)   /* lossless: the pixels written */
        CHECK(((float *)ref->data)[i] == pixel((int)(i % 99), (int)(i / 99), 2));
    expect_same(&p, ref, "interlaced.png");
    free(p.data);
    /* 2000 text chunks: past libpng's chunk cache they are dropped, the image still decodes */
    p = make_png_full(8, 8, 2000);
    expect_same(&p, reference_png(&p), "chatty.png");
    free(p.data);
}

/* Offset of JPEG marker `m` (0xFFxx), or 0. */
static size_t find_marker(const blob *b, int m)
{
    for (size_t i = 2; i + 1 < b->size; i++)
        if (b->data[i] == 0xFF && b->data[i + 1] == m)
            return i;
    return 0;
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v; }

static void test_jpeg_huge_header(void)
{
    for (int prog = 0; prog < 2; prog++) {
        blob b = make_jpeg(16, 16, 3, prog, false);
        size_t sof = find_marker(&b, prog ? 0xC2 : 0xC0);
        CHECK(sof > 0);
        put16(b.data + sof + 5, 20000);   /* height, then width */
        put16(b.data + sof + 7, 20000);
        expect_refused(b.data, b.size, prog ? "huge_progressive.jpg" : "huge.jpg",
                       "JPEG of 20000x20000 pixels is over the image limit (16384 per side");
        free(b.data);
    }
}

static void test_jpeg_truncated(void)
{
    for (int prog = 0; prog < 2; prog++) {
        blob b = make_jpeg(64, 48, 3, prog, false);
        size_t sos = find_marker(&b, 0xDA);
        CHECK(sos > 0);
        size_t after_header = sos + 2 + ((size_t)b.data[sos + 2] << 8 | b.data[sos + 3]);
        size_t cuts[4] = {after_header, after_header + (b.size - after_header) / 2, b.size - 40, b.size - 2};
        for (int k = 0; k < 4; k++) {
            char name[48];
            snprintf(name, sizeof name, "cut%d_%s.jpg", k, prog ? "progressive" : "baseline");
            expect_refused(b.data, cuts[k], name, "cannot decode JPEG");
        }
        expect_refused(b.data, sos, "cut_before_scan.jpg", "cannot decode JPEG");
        free(b.data);
    }
}

static void test_jpeg_scan_bomb(void)
{
    blob b = make_jpeg(16, 16, 1, false, true);
    expect_refused(b.data, b.size, "scans.jpg", "more than 256 scans");
    free(b.data);
}

/* PNG chunk at `off`: rewrites its CRC after the data was changed. */
static void fix_crc(blob *b, size_t off)
{
    uint32_t len = (uint32_t)b->data[off] << 24 | (uint32_t)b->data[off + 1] << 16 |
                   (uint32_t)b->data[off + 2] << 8 | b->data[off + 3];
    put32(b->data + off + 8 + len, (uint32_t)crc32(0, b->data + off + 4, 4 + len));
}

static void test_png_huge_header(void)
{
    static const uint32_t sizes[3][2] = {{20000, 20000}, {100000, 1}, {16384, 16385}};
    for (int k = 0; k < 3; k++) {
        blob b = make_png_simple(16, 16, PNG_FORMAT_RGB);
        put32(b.data + 16, sizes[k][0]);   /* IHDR at offset 8: width, height */
        put32(b.data + 20, sizes[k][1]);
        fix_crc(&b, 8);
        char name[32];
        snprintf(name, sizeof name, "huge%d.png", k);
        expect_refused(b.data, b.size, name, k == 1 ? "PNG" : "over the image limit");
        free(b.data);
    }
}

static void test_png_truncated(void)
{
    blob b = make_png_full(40, 30, 0);
    size_t cuts[4] = {40, b.size / 2, b.size - 12, b.size - 1};   /* in IDAT ... IEND cut off */
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "cut%d.png", k);
        expect_refused(b.data, cuts[k], name, "cannot decode PNG");
    }
    b.data[b.size / 2] ^= 0x55;   /* a flipped byte in the image data: a CRC error */
    expect_refused(b.data, b.size, "flipped.png", "cannot decode PNG");
    free(b.data);
}

static void test_env_limits(void)
{
    blob j = make_jpeg(37, 23, 3, false, false), p = make_png_simple(37, 23, PNG_FORMAT_RGB);
    setenv("LOWP_MAX_IMAGE_SIDE", "30", 1);
    expect_refused(j.data, j.size, "side.jpg", "over the image limit (30 per side");
    expect_refused(p.data, p.size, "side.png", "over the image limit (30 per side");
    setenv("LOWP_MAX_IMAGE_SIDE", "37", 1);
    setenv("LOWP_MAX_IMAGE_PIXELS", "850", 1);
    expect_refused(j.data, j.size, "pixels.jpg", "850 pixels");
    setenv("LOWP_MAX_IMAGE_PIXELS", "851", 1);
    lp_tensor *t = NULL;
    CHECK_OK(lp_image_decode(j.data, j.size, "fits.jpg", &t));
    lp_tensor_free(t);
    setenv("LOWP_MAX_IMAGE_PIXELS", "lots", 1);
    t = NULL;
    CHECK(lp_image_decode(j.data, j.size, "x.jpg", &t) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "LOWP_MAX_IMAGE_PIXELS='lots' is not a whole number"));
    unsetenv("LOWP_MAX_IMAGE_SIDE");
    unsetenv("LOWP_MAX_IMAGE_PIXELS");
    free(j.data);
    free(p.data);
}

/* Through a dataset: the refusal names the file and the sample. */
static void test_dataset_names_file(void)
{
    char dir[] = "/tmp/lowp_images_XXXXXX", sub[64], path[96];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(sub, sizeof sub, "%s/cat", dir);
    mkdir(sub, 0755);
    snprintf(path, sizeof path, "%s/a.jpg", sub);
    blob b = make_jpeg(64, 48, 3, true, false);
    FILE *f = fopen(path, "wb");
    fwrite(b.data, 1, b.size / 2, f);
    fclose(f);
    lowp_params *p = NULL;
    lowp_dataset *ds = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "root", dir));
    CHECK_OK(lowp_dataset_open("ImageFolder", p, &ds));
    lowp_sample s = {0};
    CHECK(ds && lowp_dataset_get(ds, 0, &s) == LOWP_ERR_FORMAT);
    CHECK_MSG(strstr(lowp_last_error(), ": sample 0: ") && strstr(lowp_last_error(), path),
              "%s", lowp_last_error());
    lowp_dataset_free(ds);
    lowp_params_free(p);
    free(b.data);
    remove(path);
    remove(sub);
    remove(dir);
}

int main(void)
{
    RUN(test_normal_images_decode_as_before);
    RUN(test_jpeg_huge_header);
    RUN(test_jpeg_truncated);
    RUN(test_jpeg_scan_bomb);
    RUN(test_png_huge_header);
    RUN(test_png_truncated);
    RUN(test_env_limits);
    RUN(test_dataset_names_file);
    return TEST_SUMMARY("test_images");
}
