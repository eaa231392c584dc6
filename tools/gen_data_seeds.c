/* gen_data_seeds.c — writes the seed corpora of the data fuzz targets (fuzz/fuzz_data.h):
 * small valid JPEGs (baseline, progressive, gray, 4:2:0, restarts, arithmetic, CMYK), PNGs
 * (RGB, gray, alpha, palette, 16-bit, 1-bit, interlaced with text), IDX pairs (plain and
 * gzip), CIFAR10/100 batches, Npy pairs and an ImagenetRaw list, and LPOT's own formats (a COCO
 * instances JSON, mnist.npz stored and deflated, a pickled CIFAR batch), in the targets' framing.
 *   cc -O1 tools/gen_data_seeds.c -o /tmp/gen_data_seeds -ljpeg -lpng -lz && /tmp/gen_data_seeds fuzz/corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *root;

static void put(const char *dir, const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
        perror(path);
        exit(1);
    }
}

static unsigned char px(int x, int y, int c) { return (unsigned char)(x * 9 + y * 5 + c * 80); }

static void jpeg(const char *name, int w, int h, int comps, J_COLOR_SPACE cs, int prog, int sub420,
                 int restart, int arith)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *buf = NULL;
    unsigned long size = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &size);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = comps, c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    if (comps == 3 && !sub420)
        c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
    if (prog)
        jpeg_simple_progression(&c);
    c.restart_interval = (unsigned)restart;
    c.arith_code = arith;
    jpeg_start_compress(&c, TRUE);
    unsigned char row[256 * 4];
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * comps; i++)
            row[i] = px(i / comps, (int)c.next_scanline, i % comps);
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    put("jpeg", name, buf, size);
    free(buf);
}

typedef struct mem {
    unsigned char *p;
    size_t n, cap;
} mem;

static void mem_write(png_structp png, png_bytep d, size_t n)
{
    mem *m = png_get_io_ptr(png);
    if (m->n + n > m->cap)
        m->p = realloc(m->p, m->cap = 2 * (m->n + n));
    memcpy(m->p + m->n, d, n);
    m->n += n;
}
static void mem_flush(png_structp png) { (void)png; }

static void png(const char *name, int w, int h, int depth, int type, int interlace, int text, int trns)
{
    mem m = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    png_set_write_fn(p, &m, mem_write, mem_flush);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, depth, type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_color pal[16];
    png_byte alpha[16];
    for (int i = 0; i < 16; i++)
        pal[i] = (png_color){px(i, 0, 0), px(i, 0, 1), px(i, 0, 2)}, alpha[i] = (png_byte)(i * 16);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_PLTE(p, info, pal, 16);
    if (trns)
        png_set_tRNS(p, info, alpha, 16, NULL);
    png_text t = {.compression = PNG_TEXT_COMPRESSION_zTXt, .key = "Comment", .text = "seed"};
    if (text)
        png_set_text(p, info, &t, 1);
    png_set_gAMA(p, info, 0.45455);
    png_write_info(p, info);
    int ch = type == PNG_COLOR_TYPE_RGB ? 3 : type == PNG_COLOR_TYPE_RGBA ? 4 : type == PNG_COLOR_TYPE_GA ? 2 : 1;
    size_t rowbytes = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    unsigned char *row = malloc(rowbytes);
    int passes = png_set_interlace_handling(p);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) {
            for (size_t i = 0; i < rowbytes; i++)
                row[i] = type == PNG_COLOR_TYPE_PALETTE && depth == 8 ? (unsigned char)((i + (size_t)y) % 16)
                                                                      : px((int)i, y, 1);
            png_write_row(p, row);
        }
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    put("png", name, m.p, m.n);
    free(row);
    free(m.p);
}

static size_t gzip(const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream z = {0};
    deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)in, z.avail_in = (uInt)n, z.next_out = out, z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    deflateEnd(&z);
    return z.total_out;
}

/* [2-byte length][a][b] */
static void pair(const char *dir, const char *name, const unsigned char *pre, size_t npre, const unsigned char *a,
                 size_t na, const unsigned char *b, size_t nb)
{
    unsigned char *buf = malloc(npre + 2 + na + nb);
    memcpy(buf, pre, npre);
    buf[npre] = (unsigned char)na, buf[npre + 1] = (unsigned char)(na >> 8);
    memcpy(buf + npre + 2, a, na);
    memcpy(buf + npre + 2 + na, b, nb);
    put(dir, name, buf, npre + 2 + na + nb);
    free(buf);
}

static size_t npy(unsigned char *out, const char *descr, const char *shape, const void *data, size_t n)
{
    char h[128];
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    while ((10 + k + 1) % 64)
        h[k++] = ' ';
    h[k++] = '\n';
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)k, out[9] = 0;
    memcpy(out + 10, h, (size_t)k);
    memcpy(out + 10 + k, data, n);
    return 10 + (size_t)k + n;
}

static void le16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *p, unsigned v) { le16(p, v & 0xFFFF), le16(p + 2, v >> 16); }

/* A zip of two members into out (after a 1-byte kind), stored (method 0) or raw-deflated (8). */
static size_t zip2(unsigned char *out, const char *n1, const unsigned char *d1, size_t s1, const char *n2,
                   const unsigned char *d2, size_t s2, int method)
{
    const char *names[2] = {n1, n2};
    const unsigned char *data[2] = {d1, d2};
    size_t sizes[2] = {s1, s2}, pos = 1, offs[2], comp[2];
    unsigned crc[2];
    static unsigned char packed[2][4096];
    for (int i = 0; i < 2; i++) {
        crc[i] = (unsigned)crc32(0, data[i], (uInt)sizes[i]);
        if (method == 8) {
            z_stream z = {0};
            deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
            z.next_in = (unsigned char *)data[i], z.avail_in = (uInt)sizes[i];
            z.next_out = packed[i], z.avail_out = sizeof packed[i];
            deflate(&z, Z_FINISH);
            comp[i] = z.total_out;
            deflateEnd(&z);
        } else {
            memcpy(packed[i], data[i], sizes[i]);
            comp[i] = sizes[i];
        }
        size_t nl = strlen(names[i]);
        offs[i] = pos - 1;
        memset(out + pos, 0, 30);
        le32(out + pos, 0x04034b50), le16(out + pos + 4, 20), le16(out + pos + 8, (unsigned)method);
        le32(out + pos + 14, crc[i]), le32(out + pos + 18, (unsigned)comp[i]), le32(out + pos + 22, (unsigned)sizes[i]);
        le16(out + pos + 26, (unsigned)nl);
        memcpy(out + pos + 30, names[i], nl);
        memcpy(out + pos + 30 + nl, packed[i], comp[i]);
        pos += 30 + nl + comp[i];
    }
    size_t cd = pos;
    for (int i = 0; i < 2; i++) {
        size_t nl = strlen(names[i]);
        memset(out + pos, 0, 46);
        le32(out + pos, 0x02014b50), le16(out + pos + 4, 20), le16(out + pos + 6, 20), le16(out + pos + 10, (unsigned)method);
        le32(out + pos + 16, crc[i]), le32(out + pos + 20, (unsigned)comp[i]), le32(out + pos + 24, (unsigned)sizes[i]);
        le16(out + pos + 28, (unsigned)nl), le32(out + pos + 42, (unsigned)offs[i]);
        memcpy(out + pos + 46, names[i], nl);
        pos += 46 + nl;
    }
    memset(out + pos, 0, 22);
    le32(out + pos, 0x06054b50), le16(out + pos + 8, 2), le16(out + pos + 10, 2);
    le32(out + pos + 12, (unsigned)(pos - cd)), le32(out + pos + 16, (unsigned)(cd - 1));
    return pos + 22;
}

/* CIFAR-10's python batch of two images, as Python 2's cPickle (protocol 2) wrote it. */
static size_t cifar_pickle(unsigned char *out)
{
    static const unsigned char head[] = "\x02\x80\x02}q\x01(U\x04" "data" "q\x02" "cnumpy.core.multiarray\n_reconstruct\n"
        "q\x03" "cnumpy\nndarray\n" "q\x04K\x00\x85q\x05U\x01" "b" "q\x06\x87q\x07R(K\x01K\x02M\x00\x0c\x86"
        "cnumpy\ndtype\n" "q\x0aU\x02" "u1" "K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T\x00\x18\x00\x00";
    static const unsigned char tail[] = "tbU\x06" "labels" "](K\x03K\x09" "eU\x0b" "batch_label" "h\x06u.";
    size_t n = sizeof head - 1;
    memcpy(out, head, n);
    for (int i = 0; i < 2 * 3072; i++)
        out[n++] = (unsigned char)(i % 251);
    memcpy(out + n, tail, sizeof tail - 1);
    return n + sizeof tail - 1;
}

int main(int argc, char **argv)
{
    root = argc > 1 ? argv[1] : "fuzz/corpus";
    jpeg("baseline.jpg", 16, 16, 3, JCS_RGB, 0, 0, 0, 0);
    jpeg("progressive.jpg", 24, 16, 3, JCS_RGB, 1, 0, 0, 0);
    jpeg("gray.jpg", 8, 8, 1, JCS_GRAYSCALE, 0, 0, 0, 0);
    jpeg("gray_progressive.jpg", 9, 7, 1, JCS_GRAYSCALE, 1, 0, 0, 0);
    jpeg("420.jpg", 33, 17, 3, JCS_RGB, 0, 1, 0, 0);
    jpeg("restart.jpg", 32, 16, 3, JCS_RGB, 0, 1, 1, 0);
    jpeg("arith.jpg", 16, 16, 3, JCS_RGB, 0, 0, 0, 1);
    jpeg("arith_progressive.jpg", 16, 16, 3, JCS_RGB, 1, 1, 0, 1);
    jpeg("cmyk.jpg", 8, 8, 4, JCS_CMYK, 0, 0, 0, 0);
    png("rgb.png", 7, 5, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, 0, 0);
    png("gray.png", 5, 3, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, 0, 0);
    png("gray1.png", 13, 3, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, 0, 0);
    png("rgba.png", 4, 4, 8, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE, 0, 0);
    png("ga16.png", 3, 3, 16, PNG_COLOR_TYPE_GA, PNG_INTERLACE_NONE, 0, 0);
    png("rgb16.png", 3, 2, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, 0, 0);
    png("palette_trns.png", 6, 4, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, 0, 1);
    png("palette4.png", 6, 4, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, 0, 0);
    png("interlaced_text.png", 9, 9, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, 1, 0);

    /* IDX: 3 images of 4x5 and their labels; the same gzip'ed */
    unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 7, 9}, img[16 + 60] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
    for (int i = 0; i < 60; i++)
        img[16 + i] = (unsigned char)(i * 4);
    pair("idx", "plain", NULL, 0, lab, sizeof lab, img, sizeof img);
    unsigned char gl[256], gi[256];
    size_t ngl = gzip(lab, sizeof lab, gl, sizeof gl), ngi = gzip(img, sizeof img, gi, sizeof gi);
    pair("idx", "gzip", NULL, 0, gl, ngl, gi, ngi);
    pair("idx", "gzip_images", NULL, 0, lab, sizeof lab, gi, ngi);

    /* CIFAR: two records each */
    static unsigned char c10[1 + 2 * 3073], c100[1 + 2 * 3074];
    c10[0] = 0, c100[0] = 1;
    for (int r = 0; r < 2; r++) {
        c10[1 + r * 3073] = (unsigned char)(3 + r);
        c100[1 + r * 3074] = (unsigned char)(2 + r), c100[2 + r * 3074] = (unsigned char)(50 + r);
        for (int i = 0; i < 3072; i++)
            c10[2 + r * 3073 + i] = c100[3 + r * 3074 + i] = (unsigned char)(i + r);
    }
    put("cifar", "cifar10", c10, sizeof c10);
    put("cifar", "cifar100", c100, sizeof c100);

    /* Npy pairs, and an ImagenetRaw list */
    unsigned char x[256], y[256];
    float xf[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    long long yl[3] = {0, 1, 2};
    unsigned char kind = 0;
    pair("dataset", "npy_f32_i64", &kind, 1, x, npy(x, "<f4", "(3, 2, 2)", xf, sizeof xf), y,
         npy(y, "<i8", "(3,)", yl, sizeof yl));
    unsigned short hf[4] = {0x3c00, 0x4000, 0x4200, 0x4400};
    unsigned char b[4] = {0, 1, 1, 0};
    pair("dataset", "npy_f16_bool", &kind, 1, x, npy(x, "<f2", "(4,)", hf, sizeof hf), y,
         npy(y, "|b1", "(4, 1)", b, sizeof b));
    pair("dataset", "npy_u8_nolabels", &kind, 1, x, npy(x, "|u1", "(2, 2)", b, sizeof b), y, 0);
    const char list[] = "\x01" "a.jpg 1\n# a comment\n\n  b/c.png 7\r\nd.jpeg 0\n";
    put("dataset", "imagenet_list", list, sizeof list - 1);

    /* LPOT's formats: [kind][file] */
    const char coco[] = "\x00{\"images\": [{\"id\": 5, \"file_name\": \"a.png\", \"width\": 8, \"height\": 4}],\n"
        " \"annotations\": [{\"image_id\": 5, \"category_id\": 1, \"bbox\": [2, 1, 4, 2], \"segmentation\": [[1, 2]]},\n"
        "  {\"image_id\": 5, \"category_id\": 3, \"bbox\": []}],\n"
        " \"categories\": [{\"id\": 1, \"name\": \"p\\u00e9rson\"}, {\"id\": 3, \"name\": \"car\"}], \"info\": {\"a\": [true, null, -1.5e3]}}";
    put("lpot", "coco", coco, sizeof coco - 1);
    unsigned char xs[2 * 2 * 3] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110}, ys[2] = {3, 9};
    static unsigned char zx[256], zy[256], zip[2048], pk[8192];
    size_t nx = npy(zx, "|u1", "(2, 2, 3)", xs, sizeof xs), ny = npy(zy, "|u1", "(2,)", ys, sizeof ys);
    for (int method = 0; method <= 8; method += 8) {
        zip[0] = 1;
        size_t nz = zip2(zip, "x_test.npy", zx, nx, "y_test.npy", zy, ny, method);
        put("lpot", method ? "npz_deflated" : "npz_stored", zip, nz);
    }
    put("lpot", "cifar_pickle", pk, cifar_pickle(pk));
    return 0;
}
