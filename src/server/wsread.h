/* wsread.h — reading what the CLI writes into a workspace (workspaces.c): the tuning history
 * line by line (also from an offset, for the live view), the other JSON files, the lock. */
#ifndef LP_SERVER_WSREAD_H
#define LP_SERVER_WSREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "base/json.h"
#include "data/params.h"

typedef struct lp_srv_history {
    lp_yval *header;            /* line 1, when read from offset 0 */
    lp_yval **trials;           /* the trial lines (objects with a "key"), or other records */
    int n;
} lp_srv_history;

lp_status lp_srv_history_read(const char *dir, size_t from, lp_srv_history *h, size_t *end_out);
/* The same for any JSON-lines file DIR/NAME whose line 1 is a header: the whole lines from byte
 * `from` on, the records being the maps that have `key` (sensitivity.jsonl: "op"). */
lp_status lp_srv_jsonl_read(const char *dir, const char *name, const char *key, size_t from, lp_srv_history *h,
                            size_t *end_out);
void lp_srv_history_free(lp_srv_history *h);
int lp_srv_history_best(const lp_srv_history *h, bool higher_is_better);
bool lp_srv_workspace_busy(const char *dir);
/* What the run in `dir` is doing: "running" (a tune holds the workspace lock, or its job runs),
 * "queued", or how it ended: "done", "failed", "cancelled", "stopped" (a tune that ended without
 * its reports, e.g. killed, or a job of an earlier server that never recorded its end). */
struct lp_server;
void lp_srv_run_state(struct lp_server *s, const char *dir, char *buf, size_t size);
/* DIR/NAME parsed (JSON or YAML), or NULL when missing or unreadable. */
lp_yval *lp_srv_read_yval(const char *dir, const char *name);
/* Writes a parsed value as JSON: unquoted scalars that read as numbers or booleans as such. */
void lp_srv_yval_json(lp_json *j, const lp_yval *v);

#endif
