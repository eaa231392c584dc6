/* server.h — `lowp ui`: a local HTTP server over the workspaces, models and data folders it is
 * given (libmicrohttpd). A layer above the library: it reads workspaces the way the CLI writes
 * them, runs jobs by spawning the lowp program itself, and nothing below it knows it exists.
 * See docs/ui.md. */
#ifndef LP_SERVER_H
#define LP_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define LP_SRV_MAX_ROOTS 32
#define LP_SRV_MAX_BODY (1 << 20)        /* a POST body (a job form with its YAML) */
#define LP_SRV_MAX_HEADERS (32 << 10)    /* request line + headers, per connection */
#define LP_SRV_MAX_CONNECTIONS 64
#define LP_SRV_MAX_SCAN_DIRS 4096        /* folders looked at per workspace listing */

typedef enum lp_root_kind { LP_ROOT_WORKSPACE, LP_ROOT_MODEL, LP_ROOT_DATA } lp_root_kind;

typedef struct lp_root {
    lp_root_kind kind;
    char *path;                 /* canonical (realpath), no trailing slash */
} lp_root;

typedef struct lp_server_options {
    const char *host;           /* address to bind, default 127.0.0.1 */
    int port;                   /* 0: any free port */
    const char *lowp_exe;       /* the lowp program jobs run (default /proc/self/exe) */
    const char *roots[LP_SRV_MAX_ROOTS];
    lp_root_kind root_kinds[LP_SRV_MAX_ROOTS];
    int n_roots;
} lp_server_options;

typedef struct lp_jobs lp_jobs;

typedef struct lp_server {
    lp_root roots[LP_SRV_MAX_ROOTS];
    int n_roots;
    char token[33], csrf[33];   /* 128 random bits each, hex */
    char cookie_name[32];       /* lowp_token_PORT: cookies are not port-scoped */
    char host[64];
    int port;
    bool any_host;              /* bound to a wildcard address: any Host header goes */
    char *lowp_exe;
    struct MHD_Daemon *mhd;
    lp_jobs *jobs;
    volatile int stopping;
} lp_server;

/* Starts the server (threads of its own); *url_out (malloc'ed) is the URL with the token. */
lp_status lp_server_start(const lp_server_options *o, lp_server **out, char **url_out);
/* Stops it: cancels the running job, waits for it, frees everything. */
void lp_server_stop(lp_server *s);

/* ---- paths: everything served or handed to a job is inside a root ---- */

/* Resolves `rel` (a path relative to root `root`, '/'-separated) to a canonical absolute path
 * inside that root: refuses empty, absolute, "..", NUL or backslash components, and anything
 * that resolves (through symlinks) outside the root. must_exist: the path must exist (else only
 * its parent must). Returns the malloc'ed path, or NULL with the reason in *why. */
char *lp_srv_resolve(const lp_server *s, int root, const char *rel, bool must_exist, const char **why);
/* The root a path lies in (canonicalized; it must exist), among the roots whose kind is in the
 * bitmask `kinds` (1 << LP_ROOT_MODEL | ...; LP_ROOTS_ANY: all); -1 when none. *canon_out
 * (malloc'ed) gets the canonical path. */
#define LP_ROOTS_ANY 7u
int lp_srv_root_of(const lp_server *s, const char *path, unsigned kinds, char **canon_out);
/* The FP32 model a workspace's run started from (ui_run.json, else the history's header; a
 * relative path is tried from here and from the workspace's parents), when it is inside a
 * model or workspace root: its canonical path (malloc'ed) and *root_out; else NULL. */
char *lp_srv_workspace_model(const lp_server *s, const char *dir, int *root_out);

/* ---- replies ---- */

typedef struct lp_reply {
    int status;                 /* HTTP status */
    const char *type;           /* Content-Type */
    char *body;                 /* malloc'ed, or NULL */
    size_t size;
    const char *disposition;    /* Content-Disposition, or NULL */
    int fd;                     /* >= 0: send this file's fd_size bytes instead of body */
    uint64_t fd_size;
    void *stream;               /* an event stream (events.c), instead of body */
} lp_reply;

/* A JSON error reply {"error": message}. */
void lp_reply_error(lp_reply *r, int status, const char *fmt, ...) LP_PRINTF(3, 4);
/* Takes a finished lp_json text (or reports its error). */
void lp_reply_json(lp_reply *r, lp_status st, char *text);

/* A request as the handlers see it: the query arguments through get(), the body for POSTs. */
typedef struct lp_request {
    struct MHD_Connection *conn;
    const char *method, *url;
    const char *body;
    size_t body_size;
} lp_request;

const char *lp_req_arg(const lp_request *q, const char *name);
/* The root index and the path inside it of the "root" and "path" arguments (resolved, must
 * exist); NULL after an error reply. */
char *lp_req_path(const lp_server *s, const lp_request *q, lp_reply *r, int *root_out);

/* ---- the handlers (one file each) ---- */

void lp_api_workspaces(lp_server *s, const lp_request *q, lp_reply *r);
void lp_api_workspace(lp_server *s, const lp_request *q, lp_reply *r);
void lp_api_files(lp_server *s, const lp_request *q, lp_reply *r);
void lp_api_models(lp_server *s, const lp_request *q, lp_reply *r);
void lp_api_graph(lp_server *s, const lp_request *q, lp_reply *r);

#endif
