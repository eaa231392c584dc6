/* jobs.h — background jobs of `lowp ui`: tune, quantize or bench started from the page, queued
 * and run one at a time by spawning the lowp program itself with the command line the user
 * could have typed, into a workspace folder (jobs.c; docs/ui.md says why a process). */
#ifndef LP_SERVER_JOBS_H
#define LP_SERVER_JOBS_H

#include "base/json.h"
#include "server/server.h"

lp_status lp_jobs_create(lp_server *s, lp_jobs **out);
/* Cancels the running job (SIGTERM, then SIGKILL after a grace period), drops the queue,
 * joins the worker, frees. */
void lp_jobs_free(lp_jobs *j);

/* "datasets", "metrics", "strategies", "commands": what the job form offers (into an open
 * object). */
void lp_jobs_describe_choices(lp_json *j);
/* The state of the job that writes workspace `dir` ("queued", "running", ...), or NULL. */
const char *lp_jobs_state_of(lp_jobs *j, const char *dir, char *buf, size_t size);

/* The command line a form (JSON text) gives, checked as for a job but creating nothing: a
 * NULL-terminated malloc'ed argv (argv[0] the lowp program; free each and the array), or NULL
 * with the reason in err. For tests. */
char **lp_jobs_form_argv(lp_server *s, const char *form_json, bool resume, char *err, size_t errsize);

void lp_api_jobs(lp_server *s, const lp_request *q, lp_reply *r);
void lp_api_job_submit(lp_server *s, const lp_request *q, lp_reply *r);
void lp_api_job_cancel(lp_server *s, const lp_request *q, lp_reply *r);
void lp_api_job_resume(lp_server *s, const lp_request *q, lp_reply *r);

#endif
