/*
 * server_ingest.h: converting and producing the events of a whole body,
 * and its answer (server_req.h shows where it sits: it waits for the acks
 * through server_wait and answers through server_answer).
 */
#ifndef TALLY_GATEWAY_SERVER_INGEST_H
#define TALLY_GATEWAY_SERVER_INGEST_H

#include "server_req.h"

#include <microhttpd.h>

/* Registers the event counters of srv->o.metrics (tally_server_new, before
 * any request). */
void tally_server_ingest_init(tally_server_t *srv);

/* Frees every thread's workspace; no request may be running. */
void tally_server_ingest_free(tally_server_t *srv);

/* The whole body is here: converts and produces its events, then answers,
 * at once or (usage, seats, Control Panel) once Kafka acknowledged them. */
enum MHD_Result tally_server_ingest_process(req_t *r);

/* Answers a request whose records were all acknowledged or failed. */
enum MHD_Result tally_server_ingest_acked(req_t *r);

#endif /* TALLY_GATEWAY_SERVER_INGEST_H */
