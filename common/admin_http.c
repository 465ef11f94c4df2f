#include "admin_http.h"

#include "http_answer.h"
#include "http_server.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally_admin_t {
    tally_admin_opts_t o;
    struct MHD_Daemon *mhd;
    int port;
};

static enum MHD_Result send_check(struct MHD_Connection *c, tally_admin_check_fn fn, void *arg, const char *ok)
{
    char why[256] = "", status[32];
    if (fn == NULL || fn(arg, why, sizeof why)) {
        json_t *body = json_pack("{s:s}", "status", ok);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        return tally_http_answer_bytes(c, 200, "application/json", text, strlen(text), MHD_RESPMEM_MUST_FREE, NULL);
    }
    snprintf(status, sizeof status, "not %s", ok);
    json_t *body = json_pack("{s:s,s:s}", "status", status, "detail", why);
    if (body == NULL)   /* why is our own text; still never lose the answer */
        body = json_pack("{s:s}", "status", status);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return tally_http_answer_bytes(c, 503, "application/json", text, strlen(text), MHD_RESPMEM_MUST_FREE, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_size;
    tally_admin_t *a = cls;
    if (*con_cls == NULL) {
        *con_cls = a;   /* answer on the second call, once headers are in */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return tally_http_answer_method(c, "GET");
    if (strcmp(url, "/healthz") == 0)
        return send_check(c, a->o.healthy, a->o.arg, "ok");
    if (strcmp(url, "/readyz") == 0)
        return send_check(c, a->o.ready, a->o.arg, "ready");
    if (strcmp(url, "/metrics") == 0 && a->o.metrics) {
        if (a->o.refresh)
            a->o.refresh(a->o.arg);
        size_t len;
        char *text = tally_metrics_render(a->o.metrics, &len);
        return tally_http_answer_bytes(c, 200, "text/plain; version=0.0.4", text, len, MHD_RESPMEM_MUST_FREE,
                                       NULL);
    }
    return tally_http_answer_error(c, 404, "not found", "no such route", NULL);
}

tally_admin_t *tally_admin_start(const tally_admin_opts_t *o, char *errbuf, size_t errsize)
{
    tally_admin_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        abort();
    a->o = *o;
    tally_http_opts_t h = {
        .bind = o->bind,
        .port = o->port,
        .connection_limit = 64,
        .timeout_s = 10,
        .name = "admin",
        .handler = on_request,
        .handler_cls = a,
    };
    a->mhd = tally_http_start(&h, &a->port, errbuf, errsize);
    if (a->mhd == NULL) {
        free(a);
        return NULL;
    }
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
    tally_http_stop(a->mhd);
    free(a);
}
