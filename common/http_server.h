/*
 * http_server.h: one way to start a libmicrohttpd daemon with the house's
 * limits, for every process that serves HTTP (the gateway, the consumers'
 * admin port, the console).
 *
 * The limits every server gets, whatever it serves:
 *   - an IPv4 listen address; port 0 takes any free port (see port_out);
 *   - a cap on connections, in total and per client address;
 *   - an idle timeout;
 *   - a memory limit per connection, which the request line and headers
 *     must fit in: a header flood is answered 431 by libmicrohttpd itself;
 *   - strict HTTP/1.1 parsing (RFC 9112: no Host, a 400);
 *   - SO_REUSEADDR (libmicrohttpd's default), so a restarted process binds
 *     its port at once; never SO_REUSEPORT, so a second process started on
 *     a port in use fails instead of silently sharing its traffic.
 * Threads: `threads` > 1 is a pool of epoll threads, otherwise one internal
 * epoll thread, each with an inter-thread channel (MHD_USE_ITC, which
 * MHD_quiesce_daemon needs with internal threads). Suspending and resuming
 * connections is enabled on demand.
 */
#ifndef TALLY_HTTP_SERVER_H
#define TALLY_HTTP_SERVER_H

#include <stddef.h>

#include <microhttpd.h>

typedef struct tally_http_opts_t {
    const char *bind;                       /* IPv4 listen address; NULL: 127.0.0.1 */
    int port;                               /* 0: any free port */
    unsigned threads;                       /* > 1: a pool; else one thread */
    unsigned connection_limit;              /* 0: 64 */
    unsigned per_client_connection_limit;   /* 0: no per-client limit */
    unsigned timeout_s;                     /* idle timeout; 0: 10 s */
    size_t memory_limit;                    /* per connection; 0: 32 KiB */
    int suspend_resume;                     /* 1: MHD_ALLOW_SUSPEND_RESUME */
    const char *name;                       /* for error texts, e.g. "--bind" or "admin" */
    MHD_AccessHandlerCallback handler;      /* every request */
    void *handler_cls;
    MHD_RequestCompletedCallback completed; /* NULL, or after each request */
    void *completed_cls;
    /* NULL: libmicrohttpd's percent-decoding of the path and the query
     * parameters; else this decoder (the console decodes nothing). */
    size_t (*unescape)(void *cls, struct MHD_Connection *c, char *s);
    /* NULL, or called with the raw request target before it is parsed;
     * what it returns is the request's first *con_cls. */
    void *(*uri_log)(void *cls, const char *uri, struct MHD_Connection *c);
    void *uri_log_cls;
} tally_http_opts_t;

/* Starts the daemon. Returns it (owned: stop with tally_http_stop) and the
 * port bound in *port_out (may be NULL), or NULL with errbuf. */
struct MHD_Daemon *tally_http_start(const tally_http_opts_t *opts, int *port_out, char *errbuf,
                                    size_t errsize) __attribute__((warn_unused_result));

/* Graceful shutdown, step 1: stop accepting new connections; those open go
 * on until answered. Safe to call once per daemon. */
void tally_http_quiesce(struct MHD_Daemon *d);

/* Stops the threads and frees; NULL is a no-op. No connection may be left
 * suspended (resume them first). */
void tally_http_stop(struct MHD_Daemon *d);

#endif
