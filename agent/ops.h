/* The socket ops: one table of {name, handler}; names and arguments are
 * checked by common/protocol.c before a handler runs. */
#ifndef RESEARCHD_OPS_H
#define RESEARCHD_OPS_H

struct client;
struct protocol_request;

void ops_dispatch(struct client *c, struct protocol_request *req);

#endif
