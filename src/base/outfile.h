/* outfile.h — writing output files so that no reader ever sees half of one, and building the
 * paths they go to without fixed-size buffers.
 *
 * A file is written to a temporary next to its target, "TARGET.tmp.PID" (or "TARGET.tmp.PID.N"
 * when this process already writes one), then renamed over the target: a kill or a full disk
 * leaves the old file intact. A kill between the two leaves the temporary behind; the next
 * write of the same target removes every temporary of it whose process is gone (kill(PID, 0)
 * fails with ESRCH), so they never pile up. */
#ifndef LP_OUTFILE_H
#define LP_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "base/status.h"

/* A printf-formatted string in fresh memory, or NULL when out of memory. */
char *lp_strfmt(const char *fmt, ...) LP_PRINTF(1, 2);
/* "DIR/NAME" in fresh memory (*out); an error naming it when out of memory. */
lp_status lp_path_join(const char *dir, const char *name, char **out);

/* `path` for a message: itself, or when longer than 160 bytes its first 60 and last 90 bytes
 * around "...", so that what follows it (the reason) survives the message's length cap.
 * Returns `path` or `buf` (LP_PATH_BRIEF bytes). */
#define LP_PATH_BRIEF 160
const char *lp_path_brief(const char *path, char buf[LP_PATH_BRIEF]);

typedef struct lp_outfile {
    FILE *f;          /* write the content here */
    char *path;       /* the target */
    char *tmp;        /* the temporary it is written to */
} lp_outfile;

/* Removes the stale temporaries of `path` (see above) and opens a new one. */
lp_status lp_out_begin(const char *path, lp_outfile *o);
/* Closes the temporary and renames it over the target; on any failure removes it and says
 * why. Frees `o` either way. */
lp_status lp_out_commit(lp_outfile *o);
/* lp_out_commit, renaming the temporary to `path` instead of the target it began with: for
 * readers that pick files up by a name pattern, begin with a target outside the pattern. */
lp_status lp_out_commit_as(lp_outfile *o, const char *path);
/* Closes and removes the temporary (an abandoned write); frees `o`. */
void lp_out_abort(lp_outfile *o);
/* The whole file at once, through the calls above. */
lp_status lp_write_file_atomic(const char *path, const void *data, size_t size);

/* mkdir -p: `dir` and its missing parents; the message names `what` ("the workspace"). */
lp_status lp_make_dirs(const char *dir, const char *what);

/* Removes the temporaries "PATH.tmp.PID[.N]" whose process no longer exists; returns how many. */
int lp_out_clean_stale(const char *path);

#endif
