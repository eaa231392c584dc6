/* cli.h — what the lowp subcommands share: exit codes, messages, option parsing, and a small
 * JSON reader for formatting the library's JSON answers. Only the CLI may exit. */
#ifndef LP_CLI_H
#define LP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "lowp.h"

/* Exit statuses of every command. */
enum {
    LP_EXIT_OK = 0,
    LP_EXIT_USAGE = 1,   /* unknown flag, missing argument: the command line is wrong */
    LP_EXIT_INPUT = 2,   /* the library refused an input (file, model, data) */
};

/* A command: `argv[0]` is its name; returns the exit status. `--help` anywhere among its
 * options prints its usage to stdout and returns LP_EXIT_OK (`lowp help CMD` relies on it). */
#define LP_CMD(name, function, summary) int function(int argc, char **argv);
#include "cli/commands.def"
#undef LP_CMD

/* Prints "lowp CMD: <message>" and "see 'lowp help CMD'" to stderr; returns LP_EXIT_USAGE. */
int lp_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "lowp: <lowp_last_error()>" to stderr; returns LP_EXIT_INPUT. */
int lp_cli_lib_error(void);
/* Prints "lowp: <message>" to stderr; returns LP_EXIT_INPUT (for input errors the CLI finds). */
int lp_cli_input_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The processes this run spans: under mpirun, MPI_COMM_WORLD (src/dist/comm_mpi.c); else
 * rank 0 of 1. lp_cli_dist() is it when it spans several processes, else NULL. Only rank 0
 * prints results and progress; ranks > 0 print only failures of their own. */
extern lowp_comm lp_cli_comm;
const lowp_comm *lp_cli_dist(void);

/* "-h" or "--help". */
bool lp_cli_is_help(const char *arg);

/* Matches argv[*i] against an option taking a value: "-s VALUE", "-sVALUE", "--long VALUE" or
 * "--long=VALUE" (short_opt or long_opt may be NULL). Returns 1 with *value set and *i on the
 * value's index, 0 when argv[*i] is something else, -1 (after a usage error) when the value is
 * missing. */
int lp_cli_option(const char *cmd, int argc, char **argv, int *i, const char *short_opt,
                  const char *long_opt, const char **value);
/* The arguments the model commands take last: -j/--json, -q/--quiet, an unknown option
 * refused, and the one MODEL (a second refused). LP_EXIT_OK when `arg` is one of those (the
 * flag set or *model taken), else LP_EXIT_USAGE after the usage error. */
int lp_cli_model_arg(const char *cmd, const char *arg, bool *json, bool *quiet, const char **model);
/* The strict number parsers every numeric option goes through: the whole text is the number
 * (not empty, no blanks, no trailing junk, no overflow), within [lo, hi]; false otherwise.
 * lp_cli_int: a decimal integer. lp_cli_number: a finite decimal number. lp_cli_int_list:
 * "1,2,3" (commas, no empty items; "" is the empty list) into out[max]; the count, or -1. */
bool lp_cli_int(const char *s, long lo, long hi, long *out);
bool lp_cli_number(const char *s, double lo, double hi, double *out);
int lp_cli_int_list(const char *s, long lo, long hi, long *out, int max);

/* "1,234,567". */
const char *lp_cli_thousands(long long v, char *buf, size_t size);
/* "512 B", "918.5 KB", "3.2 MB", "1.1 GB" (1024-based). */
const char *lp_cli_bytes(double bytes, char *buf, size_t size);

/* ---- a small JSON reader (enough for lowp's own JSON output) ---- */

typedef enum lp_cj_type { LP_CJ_NULL, LP_CJ_BOOL, LP_CJ_NUMBER, LP_CJ_STRING, LP_CJ_ARRAY,
                          LP_CJ_OBJECT } lp_cj_type;

typedef struct lp_cj {
    lp_cj_type type;
    bool b;
    double num;
    char *str;              /* STRING: the text; NUMBER: its literal (exact for big ints) */
    int n;                  /* ARRAY / OBJECT: element count */
    char **keys;            /* OBJECT: n keys */
    struct lp_cj *items;    /* ARRAY / OBJECT: n values */
} lp_cj;

/* Parses `text` into *out; false on a syntax error or out of memory. */
bool lp_cj_parse(const char *text, lp_cj *out);
void lp_cj_free(lp_cj *v);
/* Escapes control characters in every string and key (lowp_escape_text), for printing text
 * that came from a model; false when out of memory. */
bool lp_cj_escape_strings(lp_cj *v);
/* The member `key` of an object, or NULL. */
const lp_cj *lp_cj_get(const lp_cj *obj, const char *key);
/* The string of a STRING value, else `dflt`. */
const char *lp_cj_str(const lp_cj *v, const char *dflt);

#endif
