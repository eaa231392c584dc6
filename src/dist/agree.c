/* agree.c — the agreement step every distributed operation ends with (see dist.h): gather
 * (status, payload) at rank 0, fold in rank order, broadcast (status, answer or message). A
 * failure on any rank thereby becomes the same failure on every rank, instead of a rank
 * waiting forever in a collective its peer left. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "dist/dist.h"

static _Thread_local int error_shared;
static int collectives;

int lp_dist_error_shared(void) { return error_shared; }
int lp_dist_collectives(void) { return collectives; }

void lp_dist_block(const lowp_comm *comm, int64_t units, int64_t *first, int64_t *end)
{
    if (units < 0) {
        *first = 0;
        *end = comm->rank == 0 ? INT64_MAX : 0;
        return;
    }
    /* units * rank fits: units counts batches or samples, far below 2^63 / 2^31 ranks */
    *first = units * comm->rank / comm->size;
    *end = units * (comm->rank + 1) / comm->size;
}

/* A message: u64 status, then the payload (OK) or the error text. */
static lp_status frame(lp_status st, const void *payload, size_t n, void **out, size_t *size)
{
    lp_bytes b = {0};
    lp_bytes_u64(&b, (uint64_t)st);
    if (st == LP_OK)
        lp_bytes_put(&b, payload, n);
    else
        lp_bytes_put(&b, lowp_last_error(), strlen(lowp_last_error()));
    return lp_bytes_finish(&b, out, size);
}

lp_status lp_dist_agree(const lowp_comm *comm, lp_status local, const void *payload, size_t n,
                        lp_dist_fold_fn fold, lp_dist_answer_fn answer, void *user,
                        void **answer_out, size_t *answer_n)
{
    error_shared = 0;
    collectives++;
    if (answer_out)
        *answer_out = NULL, *answer_n = 0;
    void *mine = NULL, *all = NULL, *reply = NULL;
    size_t mine_n = 0, reply_n = 0, *sizes = NULL;
    lp_status st = frame(local, payload, n, &mine, &mine_n);
    if (st != LP_OK)   /* out of memory: this rank still takes part, with the failure */
        mine = NULL, mine_n = 0;
    if (comm->rank == 0 && !(sizes = calloc((size_t)comm->size, sizeof *sizes)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status cst = comm->gather(comm->user, mine, mine_n, 0, &all, sizes);
    free(mine);
    if (cst != LP_OK) {
        free(sizes);
        return cst;   /* the transport failed: nothing to agree on (mpi.c aborts the run) */
    }
    if (comm->rank == 0) {
        /* the first failing rank's message, else fold everything and answer */
        lp_status res = LP_OK;
        const unsigned char *p = all;
        for (int r = 0; r < comm->size && res == LP_OK; p += sizes[r], r++) {
            uint64_t code = 0;
            if (sizes[r] < sizeof code) {
                res = lp_error(LOWP_ERR_OUT_OF_MEMORY, "rank %d: out of memory", r);
                break;
            }
            memcpy(&code, p, sizeof code);
            if (code != LP_OK) {
                int len = (int)(sizes[r] - sizeof code);
                res = lp_error((lp_status)code, "rank %d: %.*s", r, len, (const char *)p + sizeof code);
            }
        }
        p = all;
        for (int r = 0; r < comm->size && res == LP_OK; p += sizes[r], r++)
            if (fold)
                res = fold(user, r, p + sizeof(uint64_t), sizes[r] - sizeof(uint64_t));
        void *ans = NULL;
        size_t ans_n = 0;
        if (res == LP_OK && answer)
            res = answer(user, &ans, &ans_n);
        if (frame(res, ans, ans_n, &reply, &reply_n) != LP_OK)
            reply = NULL, reply_n = 0;
        free(ans);
    }
    free(all);
    free(sizes);
    cst = comm->bcast(comm->user, &reply, &reply_n, 0);
    if (cst != LP_OK) {
        free(reply);
        return cst;
    }
    uint64_t code = LOWP_ERR_OUT_OF_MEMORY;
    if (reply_n >= sizeof code)
        memcpy(&code, reply, sizeof code);
    const char *body = reply_n >= sizeof code ? (const char *)reply + sizeof code : "";
    size_t body_n = reply_n >= sizeof code ? reply_n - sizeof code : 0;
    if (code != LP_OK) {
        error_shared = 1;
        st = lp_error((lp_status)code, "%.*s", (int)body_n, body_n ? body : "out of memory at rank 0");
        free(reply);
        return st;
    }
    if (answer_out && body_n) {
        *answer_out = malloc(body_n);
        if (!*answer_out) {
            free(reply);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        memcpy(*answer_out, body, body_n);
        *answer_n = body_n;
    }
    free(reply);
    return LP_OK;
}

typedef struct share {
    const void *p;
    size_t n;
} share;

static lp_status share_fold(void *user, int rank, const void *payload, size_t n)
{
    share *s = user;
    if (rank == 0)
        s->p = payload, s->n = n;
    return LP_OK;
}

static lp_status share_answer(void *user, void **out, size_t *n)
{
    share *s = user;
    *out = malloc(s->n ? s->n : 1);
    if (!*out)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (s->n)
        memcpy(*out, s->p, s->n);
    *n = s->n;
    return LP_OK;
}

lp_status lp_dist_share(const lowp_comm *comm, lp_status local, const void *payload, size_t n, void **out,
                        size_t *out_n)
{
    share s = {NULL, 0};
    return lp_dist_agree(comm, local, payload, n, share_fold, share_answer, &s, out, out_n);
}
