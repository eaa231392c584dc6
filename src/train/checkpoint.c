/* checkpoint.c — the training checkpoint: every float constant of the graph (parameters and
 * running statistics) and the optimizer's buffers, by name, with the position of the next
 * batch. Binary, native byte order (a checkpoint resumes on the machine that wrote it):
 *   "LPTRAIN1" | u64 fingerprint | i64 epoch, iteration, step, optimizer t | u32 count |
 *   count x { u32 name length | name | u8 kind (0 value, 1 first moment, 2 second moment) |
 *             i64 numel | numel float32 } */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/outfile.h"
#include "train/train.h"

#define CKPT_MAGIC "LPTRAIN1"

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void put(wbuf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_tensor(wbuf *b, const char *name, uint8_t kind, const lp_tensor *t)
{
    uint32_t len = (uint32_t)strlen(name);
    int64_t n = lp_tensor_numel(t);
    put(b, &len, sizeof len);
    put(b, name, len);
    put(b, &kind, 1);
    put(b, &n, sizeof n);
    put(b, t->data, (size_t)n * sizeof(float));
}

static int param_slot(const lp_tape *t, int v)
{
    for (int i = 0; i < lp_tape_n_params(t); i++)
        if (lp_tape_param(t, i) == v)
            return i;
    return -1;
}

static bool saved_value(const lp_graph *g, int v)
{
    const lp_value *val = &g->values[v];
    return val->kind == LP_VALUE_CONST && val->init && val->init->dtype == LP_F32;
}

lp_status lp_checkpoint_save(const char *path, const lp_graph *g, const lp_tape *t, const lp_optim_state *s,
                             const lp_train_position *pos, uint64_t fingerprint)
{
    wbuf b = { 0 };
    uint32_t count = 0;
    for (int v = 0; v < g->n_values; v++)
        if (saved_value(g, v)) {
            int i = param_slot(t, v);
            count += 1 + (i >= 0 && s->m[i]) + (i >= 0 && s->v[i]);
        }
    int64_t head[4] = { pos->epoch, pos->iteration, pos->step, s->t };
    put(&b, CKPT_MAGIC, 8);
    put(&b, &fingerprint, sizeof fingerprint);
    put(&b, head, sizeof head);
    put(&b, &count, sizeof count);
    for (int v = 0; v < g->n_values; v++) {
        if (!saved_value(g, v))
            continue;
        put_tensor(&b, g->values[v].name, 0, g->values[v].init);
        int i = param_slot(t, v);
        if (i >= 0 && s->m[i])
            put_tensor(&b, g->values[v].name, 1, s->m[i]);
        if (i >= 0 && s->v[i])
            put_tensor(&b, g->values[v].name, 2, s->v[i]);
    }
    lp_status st = b.oom ? lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory for the checkpoint", path)
                         : lp_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return st;
}

typedef struct rbuf {
    const uint8_t *p;
    size_t n, at;
} rbuf;

static bool get(rbuf *b, void *out, size_t n)
{
    if (b->n - b->at < n)
        return false;
    memcpy(out, b->p + b->at, n);
    b->at += n;
    return true;
}

lp_status lp_checkpoint_load(const char *path, lp_graph *g, const lp_tape *t, lp_optim_state *s,
                             lp_train_position *pos, uint64_t fingerprint)
{
    uint8_t *data = NULL;
    size_t size = 0;
    LP_TRY(lp_read_file_max(path, 0, &data, &size));
    rbuf b = { data, size, 0 };
    lp_status st = LP_OK;
    char magic[8];
    uint64_t fp = 0;
    int64_t head[4];
    uint32_t count = 0;
    if (!get(&b, magic, 8) || memcmp(magic, CKPT_MAGIC, 8) || !get(&b, &fp, sizeof fp) ||
        !get(&b, head, sizeof head) || !get(&b, &count, sizeof count)) {
        st = lp_error(LOWP_ERR_FORMAT, "%s: not a lowp training checkpoint", path);
        goto out;
    }
    if (fp != fingerprint) {
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT,
                      "%s: written for another model or other training options; remove it to start over",
                      path);
        goto out;
    }
    for (uint32_t k = 0; k < count; k++) {
        uint32_t len;
        uint8_t kind;
        int64_t n;
        char name[1024];
        if (!get(&b, &len, sizeof len) || len >= sizeof name || !get(&b, name, len)) {
            st = lp_error(LOWP_ERR_FORMAT, "%s: truncated or corrupt (entry %u)", path, k);
            goto out;
        }
        name[len] = 0;
        if (!get(&b, &kind, 1) || !get(&b, &n, sizeof n) || n < 0 || kind > 2 ||
            (uint64_t)n > (b.n - b.at) / sizeof(float)) {
            st = lp_error(LOWP_ERR_FORMAT, "%s: truncated or corrupt (tensor '%s')", path, name);
            goto out;
        }
        int v = lp_graph_find_value(g, name);
        if (v < 0 || !saved_value(g, v) || lp_tensor_numel(g->values[v].init) != n) {
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: tensor '%s' does not match the model", path, name);
            goto out;
        }
        lp_tensor *dst = g->values[v].init;
        if (kind) {
            int i = param_slot(t, v);
            if (i < 0) {
                st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: '%s' is not a parameter of this training", path, name);
                goto out;
            }
            lp_tensor **slot = kind == 1 ? &s->m[i] : &s->v[i];
            if (!*slot && (st = lp_tensor_new(LP_F32, dst->ndim, dst->dims, slot)) != LP_OK)
                goto out;
            dst = *slot;
        }
        get(&b, dst->data, (size_t)n * sizeof(float));
    }
    pos->epoch = head[0];
    pos->iteration = head[1];
    pos->step = head[2];
    s->t = head[3];
out:
    free(data);
    return st;
}
