/* server.c — the HTTP side of `lowp ui`: libmicrohttpd bound to 127.0.0.1 by default, every
 * request checked before any handler sees it (Host header, access token, bounded headers and
 * body; for POSTs the Origin and the per-session CSRF token), then routed through one table.
 * Pages, styles and scripts come from the binary (assets.h). */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/outfile.h"
#include "server/assets.h"
#include "server/events.h"
#include "server/jobs.h"

/* ---- replies ---- */

void lp_reply_error(lp_reply *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "error");
    lp_json_string(&j, msg);
    lp_json_end_object(&j);
    free(r->body);
    r->body = NULL;
    r->status = status;
    r->type = "application/json";
    if (lp_json_finish(&j, &r->body) == LP_OK)
        r->size = strlen(r->body);
}

void lp_reply_json(lp_reply *r, lp_status st, char *text)
{
    if (st != LP_OK) {
        lp_reply_error(r, 500, "%s", lowp_last_error());
        return;
    }
    r->status = 200;
    r->type = "application/json";
    r->body = text;
    r->size = strlen(text);
}

const char *lp_req_arg(const lp_request *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

char *lp_req_path(const lp_server *s, const lp_request *q, lp_reply *r, int *root_out)
{
    const char *root = lp_req_arg(q, "root"), *path = lp_req_arg(q, "path");
    char *end = NULL;
    long k = root ? strtol(root, &end, 10) : -1;
    if (!root || !*root || *end || k < 0 || k >= s->n_roots) {
        lp_reply_error(r, 404, "no such root '%s'", root ? root : "");
        return NULL;
    }
    const char *why = NULL;
    char *abs = lp_srv_resolve(s, (int)k, path ? path : "", true, &why);
    if (!abs) {
        lp_reply_error(r, 403, "%s: %s", path ? path : "", why);
        return NULL;
    }
    *root_out = (int)k;
    return abs;
}

/* ---- static assets ---- */

static const char *mime_of(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },   { ".json", "application/json" },
        { ".jsonl", "text/plain; charset=utf-8" }, { ".md", "text/plain; charset=utf-8" },
        { ".txt", "text/plain; charset=utf-8" }, { ".yaml", "text/plain; charset=utf-8" },
        { ".yml", "text/plain; charset=utf-8" }, { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static void serve_asset(const char *name, lp_reply *r)
{
    for (int i = 0; i < lp_ui_n_assets; i++)
        if (!strcmp(lp_ui_assets[i].name, name)) {
            r->status = 200;
            r->type = mime_of(name);
            r->body = malloc(lp_ui_assets[i].size + 1);
            if (!r->body) {
                lp_reply_error(r, 500, "out of memory");
                return;
            }
            memcpy(r->body, lp_ui_assets[i].data, lp_ui_assets[i].size);
            r->size = lp_ui_assets[i].size;
            return;
        }
    lp_reply_error(r, 404, "not found");
}

/* ---- the session: the CSRF token and what the pages need to start ---- */

static void api_session(lp_server *s, const lp_request *q, lp_reply *r)
{
    (void)q;
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "csrf");
    lp_json_string(&j, s->csrf);
    lp_json_key(&j, "version");
    lp_json_string(&j, lowp_version());
    lp_json_key(&j, "roots");
    lp_json_begin_array(&j);
    static const char *const kinds[] = { "workspace", "model", "data" };
    for (int i = 0; i < s->n_roots; i++) {
        lp_json_begin_object(&j);
        lp_json_key(&j, "index");
        lp_json_int(&j, i);
        lp_json_key(&j, "kind");
        lp_json_string(&j, kinds[s->roots[i].kind]);
        lp_json_key(&j, "path");
        lp_json_string(&j, s->roots[i].path);
        lp_json_end_object(&j);
    }
    lp_json_end_array(&j);
    lp_jobs_describe_choices(&j);
    lp_json_end_object(&j);
    char *text = NULL;
    lp_status st = lp_json_finish(&j, &text);
    lp_reply_json(r, st, text);
}

/* ---- routing ---- */

typedef void (*handler_fn)(lp_server *s, const lp_request *q, lp_reply *r);

static const struct route {
    const char *method, *path;
    handler_fn fn;
} routes[] = {
    { "GET", "/api/session", api_session },
    { "GET", "/api/workspaces", lp_api_workspaces },
    { "GET", "/api/workspace", lp_api_workspace },
    { "GET", "/api/models", lp_api_models },
    { "GET", "/api/file", lp_api_files },
    { "GET", "/api/events", lp_api_events },
    { "GET", "/api/graph", lp_api_graph },
    { "GET", "/api/jobs", lp_api_jobs },
    { "POST", "/api/jobs", lp_api_job_submit },
    { "POST", "/api/jobs/cancel", lp_api_job_cancel },
    { "POST", "/api/jobs/resume", lp_api_job_resume },
};

static void route(lp_server *s, const lp_request *q, lp_reply *r)
{
    const struct route *other = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(routes[i].path, q->url)) {
            if (strcmp(routes[i].method, q->method) != 0) {
                other = &routes[i];
                continue;
            }
            routes[i].fn(s, q, r);
            return;
        }
    if (other) {
        lp_reply_error(r, 405, "%s wants %s", q->url, other->method);
        return;
    }
    if (strcmp(q->method, "GET") != 0) {
        lp_reply_error(r, 405, "method %s not allowed here", q->method);
        return;
    }
    if (!strcmp(q->url, "/"))
        serve_asset("index.html", r);
    else if (q->url[0] == '/' && !strchr(q->url + 1, '/') && q->url[1])
        serve_asset(q->url + 1, r);
    else
        lp_reply_error(r, 404, "not found");
}

/* ---- checks every request passes first ---- */

static bool same_text(const char *a, const char *b)
{
    /* constant time in the length of b (the secret) */
    size_t n = strlen(b), m = a ? strlen(a) : 0;
    unsigned char d = (unsigned char)(m != n);
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)((i < m ? a[i] : 0) ^ b[i]);
    return d == 0;
}

/* --host: an IPv4 address (127.0.0.1) or an IPv6 one, bare or in brackets (::1, [::1]).
 * name: the address as a Host header names it (IPv6 in brackets); *any: a wildcard address. */
static lp_status parse_host(const char *host, int port, struct sockaddr_storage *sa, bool *v6, char *name,
                            size_t name_size, bool *any)
{
    memset(sa, 0, sizeof *sa);
    char bare[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        host++, n -= 2;
    if (n >= sizeof bare)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "--host: too long");
    memcpy(bare, host, n);
    bare[n] = 0;
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, bare, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *v6 = false;
        *any = a4->sin_addr.s_addr == htonl(INADDR_ANY);
        snprintf(name, name_size, "%s", bare);
    } else if (inet_pton(AF_INET6, bare, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        *any = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
        char canon[INET6_ADDRSTRLEN]; /* the form browsers send in Host: [::1], not [0:0::1] */
        inet_ntop(AF_INET6, &a6->sin6_addr, canon, sizeof canon);
        snprintf(name, name_size, "[%s]", canon);
    } else {
        return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                        "--host wants an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got '%s'", host);
    }
    return LP_OK;
}

static bool host_ok(const lp_server *s, const char *host)
{
    if (!host)
        return false;
    if (s->any_host)
        return true;
    /* DNS rebinding: a page from evil.example resolved to 127.0.0.1 sends Host: evil.example */
    char buf[128];
    const char *names[] = { "127.0.0.1", "localhost", "[::1]", s->host };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(buf, sizeof buf, "%s:%d", names[i], s->port);
        if (!strcmp(host, buf))
            return true;
    }
    return false;
}

/* A POST must come from our own pages: Origin http://HOST (browsers send it on every
 * cross-origin and every POST request), the browser's own Sec-Fetch-Site when it sends one,
 * and the CSRF token the pages got from /api/session in a header a cross-site form cannot set. */
static const char *post_refusal(const lp_server *s, struct MHD_Connection *c)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    const char *csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Lowp-Csrf");
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    char want[160];
    snprintf(want, sizeof want, "http://%s", host ? host : "");
    if (!origin || strcmp(origin, want) != 0)
        return "cross-origin request refused (Origin)";
    if (site && strcmp(site, "same-origin") != 0)
        return "cross-site request refused (Sec-Fetch-Site)";
    if (!same_text(csrf, s->csrf))
        return "missing or wrong CSRF token";
    if (!type || strncmp(type, "application/json", 16) != 0)
        return "POST bodies are application/json";
    return NULL;
}

typedef struct conn_state {
    bool checked;
    char *body;
    size_t size;
    bool too_big;
} conn_state;

static void add_common_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static enum MHD_Result send_reply(struct MHD_Connection *c, lp_reply *r)
{
    struct MHD_Response *resp;
    if (r->stream)
        resp = lp_events_response(r->stream);
    else if (r->fd >= 0)
        resp = MHD_create_response_from_fd64(r->fd_size, r->fd);
    else
        resp = MHD_create_response_from_buffer(r->size, r->body ? r->body : (void *)"",
                                               r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        if (r->fd >= 0)
            close(r->fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "text/plain");
    if (r->disposition)
        MHD_add_response_header(resp, "Content-Disposition", r->disposition);
    add_common_headers(resp);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result refuse(struct MHD_Connection *c, int status, const char *why)
{
    lp_reply r = { .fd = -1 };
    lp_reply_error(&r, status, "%s", why);
    return send_reply(c, &r);
}

/* The token came in the URL: set the cookie and send the browser to the same page without it,
 * so the token does not stay in the address bar, the history or a Referer. */
static enum MHD_Result token_redirect(const lp_server *s, struct MHD_Connection *c, const char *url)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    char cookie[160];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict", s->cookie_name, s->token);
    MHD_add_response_header(resp, "Set-Cookie", cookie);
    /* always "/": echoing the path back ("//evil.example", "/\\evil.example") would make an
       open redirect; the page's own route is in the fragment, which the browser keeps */
    (void)url;
    MHD_add_response_header(resp, "Location", "/");
    add_common_headers(resp);
    enum MHD_Result ok = MHD_queue_response(c, 303, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    lp_server *s = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs)))
            return MHD_NO;
        *con_cls = cs;
        if (!host_ok(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
            return refuse(c, 403, "unexpected Host header (lowp ui answers to 127.0.0.1, localhost, [::1] and the address it listens on only)");
        const char *qtok = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
        const char *ctok = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, s->cookie_name);
        const char *htok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Lowp-Token");
        if (qtok && same_text(qtok, s->token) && !strcmp(method, "GET"))
            return token_redirect(s, c, url);
        if (!(ctok && same_text(ctok, s->token)) && !(htok && same_text(htok, s->token)))
            return refuse(c, 403, "access token missing or wrong: open the URL lowp ui printed");
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            const char *why = post_refusal(s, c);
            if (why)
                return refuse(c, 403, why);
            const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            if (len && strtoull(len, NULL, 10) > LP_SRV_MAX_BODY)
                return refuse(c, 413, "request body too large");
        }
        cs->checked = true;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cs->size + *upload_size > LP_SRV_MAX_BODY) {
            cs->too_big = true; /* chunked uploads without a length end here */
        } else if (!cs->too_big) {
            char *b = realloc(cs->body, cs->size + *upload_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + cs->size, upload, *upload_size);
            cs->body = b;
            cs->size += *upload_size;
            b[cs->size] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cs->too_big)
        return refuse(c, 413, "request body too large");
    lp_request q = { .conn = c, .method = method, .url = url, .body = cs->body ? cs->body : "", .body_size = cs->size };
    lp_reply r = { .status = 500, .fd = -1 };
    route(s, &q, &r);
    return send_reply(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode tc)
{
    (void)cls, (void)c, (void)tc;
    conn_state *cs = *con_cls;
    if (cs) {
        free(cs->body);
        free(cs);
    }
    *con_cls = NULL;
}

/* ---- start and stop ---- */

static lp_status random_hex(char *out, size_t bytes)
{
    unsigned char b[64];
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(b + got, bytes - got, 0);
        if (n < 0 && errno != EINTR)
            return lp_error(LOWP_ERR_IO, "cannot draw a random token: %s", strerror(errno));
        got += n > 0 ? (size_t)n : 0;
    }
    for (size_t i = 0; i < bytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    return LP_OK;
}

void lp_server_stop(lp_server *s)
{
    if (!s)
        return;
    s->stopping = 1; /* event streams end (they look every 0.2 s); then the connections close */
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    lp_jobs_free(s->jobs); /* cancels the running job and waits for it */
    s->jobs = NULL;
    for (int i = 0; i < s->n_roots; i++)
        free(s->roots[i].path);
    free(s->lowp_exe);
    free(s);
}

lp_status lp_server_start(const lp_server_options *o, lp_server **out, char **url_out)
{
    lp_server *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = LP_OK;
    for (int i = 0; st == LP_OK && i < o->n_roots; i++) {
        char *canon = realpath(o->roots[i], NULL);
        struct stat sb;
        if (!canon || stat(canon, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            st = lp_error(LOWP_ERR_IO, "%s: not a folder%s%s", o->roots[i], canon ? "" : ": ", canon ? "" : strerror(errno));
            free(canon);
            break;
        }
        s->roots[s->n_roots++] = (lp_root){ o->root_kinds[i], canon };
    }
    const char *exe = o->lowp_exe ? o->lowp_exe : "/proc/self/exe";
    if (st == LP_OK && !(s->lowp_exe = realpath(exe, NULL)))
        st = lp_error(LOWP_ERR_IO, "%s: cannot find the lowp program: %s", exe, strerror(errno));
    if (st == LP_OK)
        st = random_hex(s->token, 16);
    if (st == LP_OK)
        st = random_hex(s->csrf, 16);
    const char *host = o->host ? o->host : "127.0.0.1";
    struct sockaddr_storage sa;
    bool v6 = false;
    if (st == LP_OK)
        st = parse_host(host, o->port, &sa, &v6, s->host, sizeof s->host, &s->any_host);
    if (st == LP_OK)
        st = lp_jobs_create(s, &s->jobs);
    if (st != LP_OK) {
        lp_server_stop(s);
        return st;
    }
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | (v6 ? MHD_USE_IPv6 : 0),
                              (uint16_t)o->port, NULL, NULL, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)LP_SRV_MAX_CONNECTIONS,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)LP_SRV_MAX_CONNECTIONS / 2,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LP_SRV_MAX_HEADERS,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_END);
    if (!s->mhd) {
        st = lp_error(LOWP_ERR_IO, "cannot listen on %s:%d: %s", host, o->port,
                      errno ? strerror(errno) : "libmicrohttpd could not start");
        lp_server_stop(s);
        return st;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    snprintf(s->cookie_name, sizeof s->cookie_name, "lowp_token_%d", s->port);
    char *url = lp_strfmt("http://%s:%d/?token=%s", s->any_host ? (v6 ? "[::1]" : "127.0.0.1") : s->host, s->port,
                          s->token);
    if (!url) {
        lp_server_stop(s);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *url_out = url;
    *out = s;
    return LP_OK;
}
