/* cmd_ui.c — `lowp ui`: starts the local web dashboard (src/server/) over the given workspace,
 * model and data folders, prints its URL (with the access token) and serves until Ctrl-C. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static const char usage[] =
    "usage: lowp ui [-w DIR]... [-m DIR]... [-d DIR]... [--host ADDR] [-p PORT]\n"
    "\n"
    "Starts a local web dashboard and prints its URL: the tuning, quantization and benchmark runs\n"
    "found in the workspace folders (live while they run), the model as a graph coloured by\n"
    "precision, per-layer FP32-vs-quantized comparisons, and a form that runs lowp tune, quantize\n"
    "or bench as background jobs writing the same workspaces the CLI does. Only files inside the\n"
    "folders given are served or handed to jobs. The URL carries a random access token that every\n"
    "request must present (the browser keeps it as a cookie after the first visit). See docs/ui.md.\n"
    "\n"
    "  -w, --workspaces DIR   a folder of workspaces (repeatable; default .): runs are found up to\n"
    "                         three levels below it, and jobs started from the page write there\n"
    "  -m, --models DIR       a folder of .onnx models the form offers (repeatable; default .)\n"
    "  -d, --data DIR         a folder datasets may be read from (repeatable; default .)\n"
    "      --host ADDR        address to listen on: IPv4 or IPv6 (default 127.0.0.1; ::1 is the\n"
    "                         IPv6 loopback; 0.0.0.0 or :: expose the dashboard to the network,\n"
    "                         still behind the token)\n"
    "  -p, --port N           port (default 8765; 0: any free port)\n"
    "  -h, --help             show this help\n"
    "\n"
    "example: lowp ui -w runs -m models -d /usr/share/datasets\n";

int lp_cmd_ui(int argc, char **argv)
{
    const char *cmd = "ui";
    lp_server_options o = { .host = "127.0.0.1", .port = 8765 };
    int n_kind[3] = { 0 };
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (lp_cli_is_help(argv[i])) {
            printf("%s", usage);
            return LP_EXIT_OK;
        }
        static const struct { const char *s, *l; lp_root_kind kind; } dirs[] = {
            { "-w", "--workspaces", LP_ROOT_WORKSPACE }, { "-m", "--models", LP_ROOT_MODEL },
            { "-d", "--data", LP_ROOT_DATA },
        };
        bool taken = false;
        for (size_t k = 0; k < 3 && !taken; k++) {
            if ((r = lp_cli_option(cmd, argc, argv, &i, dirs[k].s, dirs[k].l, &v)) == 0)
                continue;
            if (r < 0)
                return LP_EXIT_USAGE;
            if (o.n_roots == LP_SRV_MAX_ROOTS)
                return lp_cli_usage_error(cmd, "at most %d folders", LP_SRV_MAX_ROOTS);
            o.roots[o.n_roots] = v;
            o.root_kinds[o.n_roots++] = dirs[k].kind;
            n_kind[dirs[k].kind]++;
            taken = true;
        }
        if (taken)
            continue;
        if ((r = lp_cli_option(cmd, argc, argv, &i, NULL, "--host", &v)) != 0) {
            if (r < 0)
                return LP_EXIT_USAGE;
            o.host = v;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-p", "--port", &v)) != 0) {
            long port;
            if (r < 0)
                return LP_EXIT_USAGE;
            if (!lp_cli_int(v, 0, 65535, &port))
                return lp_cli_usage_error(cmd, "--port wants an integer in [0, 65535], got '%s'", v);
            o.port = (int)port;
        } else {
            return lp_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        }
    }
    for (int k = 0; k < 3; k++)
        if (!n_kind[k] && o.n_roots < LP_SRV_MAX_ROOTS) {
            o.roots[o.n_roots] = ".";
            o.root_kinds[o.n_roots++] = (lp_root_kind)k;
        }
    /* The server's threads inherit this mask: Ctrl-C and SIGTERM reach sigwait below only. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    lp_server *s = NULL;
    char *url = NULL;
    if (lp_server_start(&o, &s, &url) != LOWP_OK)
        return lp_cli_lib_error();
    printf("lowp ui: serving at %s\n", url);
    static const char *const kinds[] = { "workspaces", "models", "data" };
    for (int i = 0; i < s->n_roots; i++)
        printf("  %-10s %s\n", kinds[s->roots[i].kind], s->roots[i].path);
    printf("Ctrl-C stops the server (a running job is cancelled; a tune's history is kept for resuming).\n");
    if (strcmp(o.host, "127.0.0.1") != 0 && strcmp(o.host, "::1") != 0 && strcmp(o.host, "[::1]") != 0)
        fprintf(stderr, "lowp ui: warning: listening on %s, not only on this machine's loopback; anyone who "
                        "can reach it and has the token can run jobs\n", o.host);
    fflush(stdout);
    free(url);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "lowp ui: stopping\n");
    lp_server_stop(s);
    return LP_EXIT_OK;
}
