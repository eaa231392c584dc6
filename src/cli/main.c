/* main.c — the lowp program: dispatches `lowp COMMAND ...` through the table in commands.def. */
#include <string.h>

#include <stdio.h>

#include "cli/cli.h"
#include "dist/comm_mpi.h"
#include "dist/dist.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
#define LP_CMD(name, function, summary) { #name, function, summary },
#include "cli/commands.def"
#undef LP_CMD
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: lowp COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "show the usage of lowp or of a command");
    fprintf(f, "\n'lowp help COMMAND' or 'lowp COMMAND --help' shows a command's options;\n"
               "'lowp --version' prints the version.\n"
               "exit status: 0 success, 1 usage error, 2 bad input (file, model or data),\n"
               "             3 lowp tune found no recipe meeting the accuracy target\n");
}

/* The end of a distributed run. A rank that took part in no collective (a command without
 * any, or a failure before the first) offers its exit status once more: its peers meet it
 * there, or in their first collective, and every rank ends with the first failing rank's
 * status, rank 0 printing its message. A failure of this rank alone after collectives began
 * leaves peers waiting in one: every rank is stopped (MPI_Abort). */
static int closing_agreement(int rc)
{
    if (lp_dist_collectives() == 0) {
        lowp_status own = rc == LP_EXIT_OK ? LOWP_OK : (lowp_status)rc;
        if (rc == LP_EXIT_OK || rc == LP_EXIT_USAGE)
            lowp_set_error(own, "");
        lowp_status st = lp_dist_agree(&lp_cli_comm, own, NULL, 0, NULL, NULL, NULL, NULL, NULL);
        if (st != LOWP_OK && rc == LP_EXIT_OK) {
            if (lp_cli_comm.rank == 0)
                fprintf(stderr, "lowp: %s\n", lowp_last_error());
            rc = (int)st;
        }
        return rc;
    }
    if (rc != LP_EXIT_OK && !lp_dist_error_shared())
        lp_mpi_abort(rc);
    return rc;
}

static const command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return LP_EXIT_OK;
    }
    if (argc > 2)
        return lp_cli_usage_error("help", "expected one command name, got %d", argc - 1);
    if (strcmp(argv[1], "help") == 0) {
        printf("usage: lowp help [COMMAND]\n\nWithout COMMAND, lists lowp's commands; with one, shows its options "
               "(the same as 'lowp COMMAND --help').\n");
        return LP_EXIT_OK;
    }
    const command *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "lowp help: unknown command '%s'\nsee 'lowp help'\n", argv[1]);
        return LP_EXIT_USAGE;
    }
    char *args[] = { (char *)c->name, "--help", NULL };
    return c->run(2, args);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LP_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("lowp %s\n", lowp_version());
        return LP_EXIT_OK;
    }
    if (strcmp(name, "help") == 0 || lp_cli_is_help(name))
        return help(argc - 1, argv + 1);
    const command *c = find(name);
    if (!c) {
        fprintf(stderr, "lowp: unknown %s '%s'\nsee 'lowp help'\n",
                name[0] == '-' ? "option" : "command", name);
        return LP_EXIT_USAGE;
    }
    /* under mpirun: MPI's world; rank 0 alone writes results (docs/distributed.md) */
    if (lp_mpi_start(&argc, &argv, &lp_cli_comm) != LOWP_OK)
        return lp_cli_lib_error();
    if (lp_cli_comm.rank > 0 && !freopen("/dev/null", "w", stdout)) {
        perror("lowp: /dev/null");
        lp_mpi_abort(LP_EXIT_INPUT);
        return LP_EXIT_INPUT;
    }
    int rc = c->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == LP_EXIT_OK) {
        perror("lowp: writing output");
        rc = LP_EXIT_INPUT;
    }
    if (lp_cli_comm.size > 1)
        rc = closing_agreement(rc);
    lp_mpi_finish();
    return rc;
}
