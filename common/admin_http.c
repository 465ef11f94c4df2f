#include "admin_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct tally_admin_t {
    tally_admin_opts_t o;
    struct MHD_Daemon *mhd;
    int port;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype, char *text,
                                 enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, mode);
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_check(struct MHD_Connection *c, tally_admin_check_fn fn, void *arg, const char *ok)
{
    char why[256] = "", body[400];
    if (fn == NULL || fn(arg, why, sizeof why)) {
        snprintf(body, sizeof body, "{\"status\":\"%s\"}", ok);
        return send_text(c, 200, "application/json", body, MHD_RESPMEM_MUST_COPY);
    }
    /* why comes from our own code; keep it JSON-safe anyway. */
    for (char *p = why; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = ' ';
    snprintf(body, sizeof body, "{\"status\":\"not %s\",\"detail\":\"%s\"}", ok, why);
    return send_text(c, 503, "application/json", body, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    tally_admin_t *a = cls;
    if (*con_cls == NULL) {
        *con_cls = a;   /* answer on the second call, once headers are in */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(c, 405, "application/json", "{\"error\":\"method not allowed\",\"detail\":\"use GET\"}",
                         MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/healthz") == 0)
        return send_check(c, a->o.healthy, a->o.arg, "ok");
    if (strcmp(url, "/readyz") == 0)
        return send_check(c, a->o.ready, a->o.arg, "ready");
    if (strcmp(url, "/metrics") == 0 && a->o.metrics) {
        if (a->o.refresh)
            a->o.refresh(a->o.arg);
        size_t len;
        char *text = tally_metrics_render(a->o.metrics, &len);
        return send_text(c, 200, "text/plain; version=0.0.4", text, MHD_RESPMEM_MUST_FREE);
    }
    return send_text(c, 404, "application/json", "{\"error\":\"not found\",\"detail\":\"no such route\"}",
                     MHD_RESPMEM_PERSISTENT);
}

tally_admin_t *tally_admin_start(const tally_admin_opts_t *o, char *errbuf, size_t errsize)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->bind ? o->bind : "127.0.0.1", &sa.sin_addr) != 1) {
        snprintf(errbuf, errsize, "admin bind address is not IPv4: %.64s", o->bind);
        return NULL;
    }
    tally_admin_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        abort();
    a->o = *o;
    a->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)o->port, NULL, NULL,
                              on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned int)10, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    if (a->mhd == NULL) {
        snprintf(errbuf, errsize, "admin: cannot listen on %s:%d", o->bind ? o->bind : "127.0.0.1", o->port);
        free(a);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
    a->port = di ? di->port : o->port;
    return a;
}

int tally_admin_port(const tally_admin_t *a)
{
    return a->port;
}

void tally_admin_stop(tally_admin_t *a)
{
    if (a == NULL)
        return;
    MHD_stop_daemon(a->mhd);
    free(a);
}
