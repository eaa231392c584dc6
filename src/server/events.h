/* events.h — the live view's Server-Sent Events stream over a workspace (events.c). */
#ifndef LP_SERVER_EVENTS_H
#define LP_SERVER_EVENTS_H

#include "server/server.h"

struct MHD_Response;

/* GET /api/events?root=I&path=P: sets r->stream. */
void lp_api_events(lp_server *s, const lp_request *q, lp_reply *r);
/* The response that sends a stream set by lp_api_events (and frees it when done). */
struct MHD_Response *lp_events_response(void *stream);

#endif
