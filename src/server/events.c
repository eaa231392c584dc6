/* events.c — the live view's stream (Server-Sent Events, GET /api/events?root=I&path=P): the
 * workspace's history.jsonl is followed like `tail -f` (each new whole line becomes a `trial`
 * event), and so is its sensitivity.jsonl (each op's sensitivity as the tuner measures it: a
 * `sensitivity` event), so a tune started from the CLI is as live as a job; a job's progress lines come as
 * `log` events, its state as `state`; `end` when the run is over and everything was sent.
 * libmicrohttpd runs each connection in its own thread, so the reader may wait. */
#include "server/events.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/outfile.h"
#include "server/jobs.h"
#include "server/wsread.h"

#define POLL_US (200 * 1000)
#define HEARTBEAT_S 10
#define MAX_LOG_CHUNK (64 << 10)

/* A followed JSON-lines file (header line, then records): what was sent of it. */
typedef struct followed {
    const char *name, *key;     /* the file, and the key its records have */
    const char *header_event, *record_event, *reset_event;
    size_t at;                  /* bytes already sent */
    ino_t ino;                  /* the file they came from (a new tune renames a new one in) */
} followed;

typedef struct lp_stream {
    lp_server *s;
    char *dir;
    followed history, sensitivity;
    off_t log_at;               /* ui_job.log: bytes already sent */
    char state[32];             /* the last state sent */
    char *out;                  /* events not yet handed to libmicrohttpd */
    size_t out_n, out_at;
    bool ended;
    time_t last_send;
} lp_stream;

static void emit(lp_stream *st, const char *event, const char *data, size_t n)
{
    size_t need = st->out_n + strlen(event) + n + 32;
    char *o = realloc(st->out, need);
    if (!o)
        return;
    st->out = o;
    st->out_n += (size_t)sprintf(o + st->out_n, "event: %s\ndata: ", event);
    for (size_t i = 0; i < n; i++) /* one data line: no CR/LF inside */
        o[st->out_n++] = data[i] == '\n' || data[i] == '\r' ? ' ' : data[i];
    memcpy(o + st->out_n, "\n\n", 2);
    st->out_n += 2;
}

static void emit_json(lp_stream *st, const char *event, lp_json *j)
{
    char *text = NULL;
    if (lp_json_finish(j, &text) == LP_OK)
        emit(st, event, text, strlen(text));
    free(text);
}

static void follow(lp_stream *st, followed *f)
{
    char *path = NULL;
    struct stat sb;
    if (lp_path_join(st->dir, f->name, &path) != LP_OK || stat(path, &sb) != 0) {
        free(path);
        return;
    }
    free(path);
    if (f->at && ((size_t)sb.st_size < f->at || sb.st_ino != f->ino)) { /* rewritten by a new run */
        f->at = 0;
        emit(st, f->reset_event, "{}", 2);
    }
    f->ino = sb.st_ino;
    lp_srv_history h;
    size_t end = f->at;
    if ((size_t)sb.st_size <= f->at || lp_srv_jsonl_read(st->dir, f->name, f->key, f->at, &h, &end) != LP_OK)
        return;
    if (h.header && f->header_event) {
        lp_json j;
        lp_json_init(&j, 0);
        lp_srv_yval_json(&j, h.header);
        emit_json(st, f->header_event, &j);
    }
    for (int i = 0; i < h.n; i++) {
        lp_json j;
        lp_json_init(&j, 0);
        lp_srv_yval_json(&j, h.trials[i]);
        emit_json(st, f->record_event, &j);
    }
    f->at = end;
    lp_srv_history_free(&h);
}

static void poll_once(lp_stream *st)
{
    struct stat sb;
    follow(st, &st->history);   /* new trials */
    follow(st, &st->sensitivity); /* each op's sensitivity as the tuner measures it */
    /* the job's progress lines */
    char *lp = NULL;
    if (lp_path_join(st->dir, "ui_job.log", &lp) == LP_OK && stat(lp, &sb) == 0) {
        if (sb.st_size < st->log_at)
            st->log_at = 0;
        FILE *f = sb.st_size > st->log_at ? fopen(lp, "rb") : NULL;
        if (f && fseeko(f, st->log_at, SEEK_SET) == 0) {
            char *buf = malloc(MAX_LOG_CHUNK);
            size_t n = buf ? fread(buf, 1, MAX_LOG_CHUNK, f) : 0;
            size_t whole = n;
            while (whole && buf[whole - 1] != '\n')
                whole--;
            if (!whole && n == MAX_LOG_CHUNK)
                whole = n; /* one huge line: send it in pieces */
            for (size_t a = 0; a < whole;) {
                char *nl = memchr(buf + a, '\n', whole - a);
                size_t len = nl ? (size_t)(nl - (buf + a)) : whole - a;
                if (len)
                    emit(st, "log", buf + a, len);
                a += len + 1;
            }
            st->log_at += (off_t)whole;
            free(buf);
        }
        if (f)
            fclose(f);
    }
    free(lp);
    /* state changes */
    char now[32];
    lp_srv_run_state(st->s, st->dir, now, sizeof now);
    if (strcmp(now, st->state) != 0) {
        snprintf(st->state, sizeof st->state, "%s", now);
        lp_json j;
        lp_json_init(&j, 0);
        lp_json_begin_object(&j);
        lp_json_key(&j, "state");
        lp_json_string(&j, now);
        lp_json_end_object(&j);
        emit_json(st, "state", &j);
    }
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    lp_stream *st = cls;
    for (;;) {
        if (st->out_at < st->out_n) {
            size_t n = st->out_n - st->out_at < max ? st->out_n - st->out_at : max;
            memcpy(buf, st->out + st->out_at, n);
            st->out_at += n;
            if (st->out_at == st->out_n)
                st->out_n = st->out_at = 0;
            st->last_send = time(NULL);
            return (ssize_t)n;
        }
        if (st->ended || st->s->stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        poll_once(st);
        bool over = strcmp(st->state, "running") != 0 && strcmp(st->state, "queued") != 0;
        if (over && st->out_n == 0) {
            emit(st, "end", "{}", 2);
            st->ended = true;
            continue;
        }
        if (st->out_n == 0) {
            if (time(NULL) - st->last_send >= HEARTBEAT_S) {
                memcpy(buf, ": keep-alive\n\n", 14); /* also finds a client that went away */
                st->last_send = time(NULL);
                return 14;
            }
            usleep(POLL_US);
        }
    }
}

static void stream_free(void *cls)
{
    lp_stream *st = cls;
    free(st->dir);
    free(st->out);
    free(st);
}

void lp_api_events(lp_server *s, const lp_request *q, lp_reply *r)
{
    int root;
    char *dir = lp_req_path(s, q, r, &root);
    if (!dir)
        return;
    lp_stream *st = calloc(1, sizeof *st);
    if (!st) {
        free(dir);
        lp_reply_error(r, 500, "out of memory");
        return;
    }
    st->s = s;
    st->dir = dir;
    st->history = (followed){ "history.jsonl", "key", "header", "trial", "reset", 0, 0 };
    st->sensitivity = (followed){ "sensitivity.jsonl", "op", NULL, "sensitivity", "sensitivity_reset", 0, 0 };
    st->last_send = time(NULL);
    r->stream = st;
    r->status = 200;
    r->type = "text/event-stream";
}

struct MHD_Response *lp_events_response(void *stream)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, reader, stream, stream_free);
    if (!resp)
        stream_free(stream);
    return resp;
}
