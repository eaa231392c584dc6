/* tensorboard.c — TensorBoard event files: records with masked CRC-32C, Event / Summary /
 * HistogramProto encoded by hand, histograms on TensorBoard's default buckets. */
#include "base/tensorboard.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/outfile.h"

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];
static double *bucket_limits;
static int n_buckets;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1; /* Castagnoli, reflected */
        crc_table[i] = c;
    }
    /* positive edges 1e-12 · 1.1^k below 1e20, then DBL_MAX; mirrored below 0 */
    int n_pos = 0;
    for (double v = 1e-12; v < 1e20; v *= 1.1)
        n_pos++;
    double *l = malloc((size_t)(2 * n_pos + 3) * sizeof *l);
    if (!l)
        return; /* lp_tb_bucket_count() stays 0: histograms report out of memory */
    int n = 0;
    l[n++] = -DBL_MAX;
    double v = 1e-12;
    for (int k = 0; k < n_pos; k++, v *= 1.1)
        l[n_pos - k] = -v; /* back to front: ascending */
    n += n_pos;
    l[n++] = 0.0;
    v = 1e-12;
    for (int k = 0; k < n_pos; k++, v *= 1.1)
        l[n++] = v;
    l[n++] = DBL_MAX;
    bucket_limits = l;
    n_buckets = n;
}

uint32_t lp_crc32c(const void *data, size_t n)
{
    pthread_once(&tables_once, init_tables);
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t lp_tb_mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* ---- histograms ---- */

int lp_tb_bucket_count(void)
{
    pthread_once(&tables_once, init_tables);
    return n_buckets;
}

const double *lp_tb_bucket_limits(void)
{
    pthread_once(&tables_once, init_tables);
    return bucket_limits;
}

/* The first bucket whose limit is > v; v == DBL_MAX (no limit above it) goes to the last. */
static int bucket_of(const double *l, int n, double v)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (l[mid] > v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

lp_status lp_tb_histo_add(lp_tb_histo *h, const float *x, int64_t n)
{
    int nb = lp_tb_bucket_count();
    const double *l = lp_tb_bucket_limits();
    if (!h->counts && n > 0) {
        if (!nb || !(h->counts = calloc((size_t)nb, sizeof *h->counts)))
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for a histogram");
        h->min = DBL_MAX;
        h->max = -DBL_MAX;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v)) {
            h->skipped++;
            continue;
        }
        h->counts[bucket_of(l, nb, v)] += 1;
        h->min = v < h->min ? v : h->min;
        h->max = v > h->max ? v : h->max;
        h->num += 1;
        h->sum += v;
        h->sum_squares += v * v;
    }
    return LP_OK;
}

void lp_tb_histo_free(lp_tb_histo *h)
{
    free(h->counts);
    memset(h, 0, sizeof *h);
}

int lp_tb_histo_encode(const lp_tb_histo *h, double *limits, double *counts)
{
    if (!h->counts || h->num <= 0)
        return 0;
    int nb = lp_tb_bucket_count(), first = 0, last = nb - 1, m = 0;
    const double *l = lp_tb_bucket_limits();
    while (h->counts[first] <= 0)
        first++;
    while (h->counts[last] <= 0)
        last--;
    for (int i = first; i <= last; i++) {
        if (h->counts[i] <= 0 && m > 0 && counts[m - 1] <= 0) {
            limits[m - 1] = l[i]; /* extend the empty run */
            continue;
        }
        limits[m] = l[i];
        counts[m++] = h->counts[i];
    }
    return m;
}

/* ---- protocol buffer encoding (a growable byte buffer) ---- */

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_varint(buf *b, uint64_t v)
{
    unsigned char tmp[10];
    int n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7F);
        v >>= 7;
        tmp[n++] |= v ? 0x80 : 0;
    } while (v);
    put(b, tmp, (size_t)n);
}

static void put_le(buf *b, uint64_t v, int bytes)
{
    unsigned char tmp[8];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    put(b, tmp, (size_t)bytes);
}

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

static void put_key(buf *b, int field, int wire) { put_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static uint64_t double_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* proto3 leaves fields at their default (all-zero bits) out */
static void put_double(buf *b, int field, double v)
{
    if (double_bits(v) == 0)
        return;
    put_key(b, field, WIRE_FIXED64);
    put_le(b, double_bits(v), 8);
}

static void put_float(buf *b, int field, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if (u == 0)
        return;
    put_key(b, field, WIRE_FIXED32);
    put_le(b, u, 4);
}

static void put_int64(buf *b, int field, int64_t v)
{
    if (v == 0)
        return;
    put_key(b, field, WIRE_VARINT);
    put_varint(b, (uint64_t)v);
}

static void put_bytes(buf *b, int field, const void *data, size_t n)
{
    put_key(b, field, WIRE_LEN);
    put_varint(b, n);
    put(b, data, n);
}

static void put_packed_doubles(buf *b, int field, const double *v, int n)
{
    if (n <= 0)
        return;
    put_key(b, field, WIRE_LEN);
    put_varint(b, (uint64_t)n * 8);
    for (int i = 0; i < n; i++)
        put_le(b, double_bits(v[i]), 8);
}

/* Field numbers of TensorFlow's event.proto and summary.proto. */
enum {
    EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5,
    SUMMARY_VALUE = 1,
    VALUE_TAG = 1, VALUE_SIMPLE_VALUE = 2, VALUE_HISTO = 5,
    HISTO_MIN = 1, HISTO_MAX = 2, HISTO_NUM = 3, HISTO_SUM = 4, HISTO_SUM_SQUARES = 5,
    HISTO_BUCKET_LIMIT = 6, HISTO_BUCKET = 7,
};

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Appends `event` as one record. */
static lp_status put_record(lp_tb_file *f, const buf *event)
{
    if (event->oom)
        f->oom = true;
    if (f->oom)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory writing a TensorBoard event");
    buf b = { .p = f->buf, .len = f->len, .cap = f->cap };
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)event->len >> (8 * i));
    put(&b, len8, 8);
    put_le(&b, lp_tb_mask_crc(lp_crc32c(len8, 8)), 4);
    put(&b, event->p, event->len);
    put_le(&b, lp_tb_mask_crc(lp_crc32c(event->p, event->len)), 4);
    f->buf = b.p, f->len = b.len, f->cap = b.cap, f->oom = b.oom;
    return f->oom ? lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory writing a TensorBoard event") : LP_OK;
}

/* An Event at `step` holding a Summary of one Value (already encoded). */
static lp_status put_summary_event(lp_tb_file *f, int64_t step, const buf *value)
{
    buf summary = { 0 }, event = { 0 };
    put_bytes(&summary, SUMMARY_VALUE, value->p, value->len);
    put_double(&event, EVENT_WALL_TIME, wall_time());
    put_int64(&event, EVENT_STEP, step);
    put_bytes(&event, EVENT_SUMMARY, summary.p, summary.len);
    event.oom |= summary.oom || value->oom;
    lp_status st = put_record(f, &event);
    free(summary.p);
    free(event.p);
    return st;
}

lp_status lp_tb_begin(lp_tb_file *f)
{
    memset(f, 0, sizeof *f);
    static const char version[] = "brain.Event:2";
    buf event = { 0 };
    put_double(&event, EVENT_WALL_TIME, wall_time());
    put_bytes(&event, EVENT_FILE_VERSION, version, sizeof version - 1);
    lp_status st = put_record(f, &event);
    free(event.p);
    return st;
}

lp_status lp_tb_scalar(lp_tb_file *f, int64_t step, const char *tag, double value)
{
    buf v = { 0 };
    put_bytes(&v, VALUE_TAG, tag, strlen(tag));
    put_float(&v, VALUE_SIMPLE_VALUE, (float)value);
    lp_status st = put_summary_event(f, step, &v);
    free(v.p);
    return st;
}

lp_status lp_tb_histogram(lp_tb_file *f, int64_t step, const char *tag, const lp_tb_histo *h)
{
    int nb = lp_tb_bucket_count();
    if (!h->counts || h->num <= 0)
        return LP_OK;
    double *limits = malloc((size_t)nb * sizeof *limits), *counts = malloc((size_t)nb * sizeof *counts);
    buf histo = { 0 }, v = { 0 };
    lp_status st = LP_OK;
    if (!limits || !counts) {
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory writing a TensorBoard histogram");
    } else {
        int m = lp_tb_histo_encode(h, limits, counts);
        put_double(&histo, HISTO_MIN, h->min);
        put_double(&histo, HISTO_MAX, h->max);
        put_double(&histo, HISTO_NUM, h->num);
        put_double(&histo, HISTO_SUM, h->sum);
        put_double(&histo, HISTO_SUM_SQUARES, h->sum_squares);
        put_packed_doubles(&histo, HISTO_BUCKET_LIMIT, limits, m);
        put_packed_doubles(&histo, HISTO_BUCKET, counts, m);
        put_bytes(&v, VALUE_TAG, tag, strlen(tag));
        put_bytes(&v, VALUE_HISTO, histo.p, histo.len);
        v.oom |= histo.oom;
        st = put_summary_event(f, step, &v);
    }
    free(limits);
    free(counts);
    free(histo.p);
    free(v.p);
    return st;
}

void lp_tb_free(lp_tb_file *f)
{
    free(f->buf);
    memset(f, 0, sizeof *f);
}

/* The host name as a file-name part: [A-Za-z0-9.-] kept, the rest '_'. */
static void host_name(char *out, size_t size)
{
    if (gethostname(out, size) != 0 || !out[0])
        snprintf(out, size, "localhost");
    out[size - 1] = 0;
    for (char *s = out; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'))
            *s = '_';
}

lp_status lp_tb_commit(lp_tb_file *f, const char *dir)
{
    static atomic_int files_written;
    char host[256], b1[LP_PATH_BRIEF];
    char *stage = NULL, *name = NULL, *path = NULL;
    lp_outfile out;
    lp_status st = f->oom ? lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory writing TensorBoard events") : LP_OK;
    if (st == LP_OK)
        st = lp_make_dirs(dir, "the TensorBoard");
    host_name(host, sizeof host);
    int seq = atomic_fetch_add(&files_written, 1);
    if (st == LP_OK && !(name = lp_strfmt("events.out.tfevents.%010lld.%s.%ld.%06d", (long long)time(NULL), host,
                                          (long)getpid(), seq)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LP_OK)
        st = lp_path_join(dir, name, &path);
    if (st == LP_OK)
        st = lp_path_join(dir, ".lowp_events", &stage);
    if (st == LP_OK)
        st = lp_out_begin(stage, &out);
    if (st == LP_OK) {
        if (f->len && fwrite(f->buf, 1, f->len, out.f) != f->len) {
            int err = errno;
            lp_out_abort(&out);
            st = lp_error(LOWP_ERR_IO, "%s: cannot write: %s", lp_path_brief(path, b1), strerror(err));
        } else {
            st = lp_out_commit_as(&out, path);
        }
    }
    free(stage);
    free(name);
    free(path);
    lp_tb_free(f);
    return st;
}
