/* The socket ops: one array of handlers indexed by the protocol's op enum;
 * names and arguments are checked by common/protocol.c before a handler runs. */
#ifndef RESEARCHD_OPS_H
#define RESEARCHD_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"

struct client;
struct protocol_request;

void ops_dispatch(struct client *c, struct protocol_request *req);
/* Whether the daemon has a handler for the op. */
bool ops_handled(enum protocol_op_id id);

struct store_job;
/* The job named by the request's "job", if it exists and the client may
 * see it; otherwise the error reply is sent and NULL returned. */
struct store_job *ops_job_get(struct client *c, struct protocol_request *req);
/* A time for a reply: ISO 8601 UTC text, or null for 0 (not yet). */
json_t *ops_time(int64_t ms);
/* The end marker of a list: {"end":true,"count":N}. */
void ops_send_end(struct client *c, json_t *id, int64_t count);

/* Handlers kept in their own files (ops-web.c, ops-doctor.c). */
void op_fetch(struct client *c, struct protocol_request *req);
void op_sources(struct client *c, struct protocol_request *req);
void op_index_add(struct client *c, struct protocol_request *req);
void op_search(struct client *c, struct protocol_request *req);
void op_llm(struct client *c, struct protocol_request *req);
void op_trace(struct client *c, struct protocol_request *req);
/* provenance.c */
void op_pubkey(struct client *c, struct protocol_request *req);
void op_source_text(struct client *c, struct protocol_request *req);
void op_verify_events(struct client *c, struct protocol_request *req);
/* ops-doctor.c */
void op_doctor(struct client *c, struct protocol_request *req);

#endif
