#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct MHD_Daemon *tally_http_start(const tally_http_opts_t *o, int *port_out, char *errbuf, size_t errsize)
{
    const char *bind = o->bind ? o->bind : "127.0.0.1";
    const char *name = o->name ? o->name : "http";
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    if (o->port < 0 || o->port > 65535) {
        snprintf(errbuf, errsize, "%s: port out of range: %d", name, o->port);
        return NULL;
    }
    if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1) {
        snprintf(errbuf, errsize, "%s: not an IPv4 address: %.64s", name, bind);
        return NULL;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC;
    if (o->suspend_resume)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    /* The options a caller may leave out (NULL is no valid unescaper). */
    struct MHD_OptionItem optional[3];
    size_t n = 0;
    if (o->unescape)
        optional[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)o->unescape, NULL};
    if (o->uri_log)
        optional[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)o->uri_log, o->uri_log_cls};
    optional[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, o->handler, o->handler_cls,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(o->threads > 1 ? o->threads : 1),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(o->connection_limit ? o->connection_limit : 64),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)o->per_client_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(o->timeout_s ? o->timeout_s : 10),
        /* The request line and headers must fit here: a flood gets 431. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(o->memory_limit ? o->memory_limit : 32 * 1024),
        /* RFC 9112: an HTTP/1.1 request without Host is a 400. */
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
        MHD_OPTION_NOTIFY_COMPLETED, o->completed, o->completed_cls,
        MHD_OPTION_ARRAY, optional,
        MHD_OPTION_END);
    if (d == NULL) {
        snprintf(errbuf, errsize, "%s: cannot listen on %s:%d (in use, or not allowed)", name, bind, o->port);
        return NULL;
    }
    if (port_out) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        *port_out = di ? di->port : o->port;
    }
    return d;
}

void tally_http_quiesce(struct MHD_Daemon *d)
{
    MHD_socket s = MHD_quiesce_daemon(d);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

void tally_http_stop(struct MHD_Daemon *d)
{
    if (d != NULL)
        MHD_stop_daemon(d);
}
