/* The socket ops: one table of {name, handler}; names and arguments are
 * checked by common/protocol.c before a handler runs. */
#ifndef RESEARCHD_OPS_H
#define RESEARCHD_OPS_H

struct client;
struct protocol_request;

void ops_dispatch(struct client *c, struct protocol_request *req);

/* Handlers kept in their own files (ops-web.c). */
void op_fetch(struct client *c, struct protocol_request *req);
void op_sources(struct client *c, struct protocol_request *req);
void op_index_add(struct client *c, struct protocol_request *req);
void op_search(struct client *c, struct protocol_request *req);
void op_llm(struct client *c, struct protocol_request *req);
void op_trace(struct client *c, struct protocol_request *req);

#endif
