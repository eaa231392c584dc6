/* graph_scale.c — `make bench-graph`: time per node of loading, describing, optimizing and
 * compiling a long chain, from 10k to 200k nodes, with the nodes listed in order and in
 * reverse (the file's node order need not be topological). Linear work shows as a flat
 * time per node. Prints one table; timings are wall-clock medians of `--rounds` runs.
 *
 *     build/bench/graph_scale [--sizes 10000,50000,100000,200000] [--rounds 3]
 *
 * The chain: X -> Add(., c) -> Relu -> Add(., c) -> Relu ... -> Y, one shared constant c, so
 * one value has as many readers as there are Adds (the case that made use counts quadratic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lowp.h"
#include "../tests/chain_model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    fprintf(stderr, "graph_scale: %s: %s\n", what, lowp_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    int sizes[16] = { 10000, 25000, 50000, 100000, 200000 }, n_sizes = 5, rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            n_sizes = 0;
            for (char *s = argv[++i]; *s && n_sizes < 16;) {
                sizes[n_sizes++] = (int)strtol(s, &s, 10);
                s += *s == ',';
            }
        } else {
            fprintf(stderr, "usage: graph_scale [--sizes N,N,...] [--rounds R]\n");
            return 1;
        }
    }
    if (rounds < 1 || rounds > 99)
        rounds = 3;
    printf("time per node in microseconds (median of %d; wall clock on a shared machine: noisy)\n", rounds);
    printf("%-8s %7s %8s %8s %9s %9s %9s\n", "order", "nodes", "load", "info", "session", "compile", "total");
    for (int rev = 0; rev < 2; rev++)
        for (int s = 0; s < n_sizes; s++) {
            int n = sizes[s];
            size_t size;
            uint8_t *buf = chain_model(n, rev, false, &size);
            double t[4][99], tot[99];
            for (int r = 0; r < rounds; r++) {
                lowp_model *m = NULL;
                lowp_session *se = NULL;
                char *json = NULL;
                double t0 = now();
                if (lowp_model_load_from_memory(buf, size, NULL, &m) != LOWP_OK)
                    die("load");
                double t1 = now();
                if (lowp_model_info_json(m, &json) != LOWP_OK)
                    die("info");
                free(json);
                double t2 = now();
                if (lowp_session_create(m, NULL, &se) != LOWP_OK)
                    die("session");
                double t3 = now();
                int64_t one = 1;
                float x = 2;
                lowp_tensor *xt = NULL, *y = NULL;
                const char *names[] = { "X" };
                if (lowp_tensor_create(LOWP_FLOAT, 1, &one, &x, &xt) != LOWP_OK)
                    die("input");
                const lowp_tensor *ins[] = { xt };
                if (lowp_session_run(se, 1, names, ins, 1, &y) != LOWP_OK) /* compiles, then runs */
                    die("compile + run");
                double t4 = now();
                /* the chain adds 0.5 per Add (ceil(n/2) of them); the Relus keep it positive */
                float want = 2 + 0.5f * (float)((n + 1) / 2), got = *(const float *)lowp_tensor_data(y);
                if (got != want) {
                    fprintf(stderr, "graph_scale: wrong result %g, want %g\n", got, want);
                    return 1;
                }
                lowp_tensor_free(xt), lowp_tensor_free(y);
                lowp_session_free(se);
                lowp_model_free(m);
                t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3, tot[r] = t4 - t0;
            }
            printf("%-8s %7d", rev ? "reverse" : "forward", n);
            for (int k = 0; k < 4; k++) {
                qsort(t[k], (size_t)rounds, sizeof(double), by_double);
                printf(" %8.2f%s", 1e6 * t[k][rounds / 2] / n, k >= 2 ? " " : "");
            }
            qsort(tot, (size_t)rounds, sizeof(double), by_double);
            printf(" %9.2f\n", 1e6 * tot[rounds / 2] / n);
            fflush(stdout);
            free(buf);
        }
    return 0;
}
