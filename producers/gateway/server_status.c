#include "server_status.h"

#include "server_answer.h"

#include <stdio.h>

int tally_server_check_healthy(void *arg, char *why, size_t whysize)
{
    tally_server_t *srv = arg;
    if (tally_publisher_failed(srv->o.publisher)) {
        snprintf(why, whysize, "the Kafka producer failed fatally; restart the gateway");
        return 0;
    }
    return 1;
}

int tally_server_check_ready(void *arg, char *why, size_t whysize)
{
    tally_server_t *srv = arg;
    if (atomic_load(&srv->draining)) {
        snprintf(why, whysize, "shutting down");
        return 0;
    }
    if (!tally_publisher_ready(srv->o.publisher, why, whysize))
        return 0;
    /* Without current keys the usage and seat routes answer 503. */
    return tally_keys_ready(srv->o.keys, why, whysize) == 0;
}

void tally_server_refresh_gauges(void *arg)
{
    tally_server_t *srv = arg;
    tally_keys_stats_t ks;
    tally_keys_stats(srv->o.keys, &ks);
    tally_metric_set(tally_metrics_get(srv->o.metrics, TALLY_METRIC_GAUGE, "tally_gateway_api_keys_active",
                                       "Active API keys known to the gateway", "", NULL, 0),
                     (int64_t)ks.active);
    tally_metric_set(tally_metrics_get(srv->o.metrics, TALLY_METRIC_GAUGE, "tally_gateway_api_keys_age_seconds",
                                       "Seconds since the API keys were last loaded (-1: never)", "", NULL, 0),
                     ks.age_ms < 0 ? -1 : ks.age_ms / 1000);
    tally_metric_set(srv->inflight_gauge, atomic_load(&srv->inflight));
    tally_metric_set(srv->body_bytes_gauge, (int64_t)atomic_load(&srv->body_bytes));
}

enum MHD_Result tally_server_status_get(req_t *r)
{
    tally_server_t *srv = r->srv;
    char why[160];
    switch (r->ep) {
    case EP_HEALTHZ:
        if (!tally_server_check_healthy(srv, why, sizeof why))
            return tally_server_answer_error(r, 500, "unhealthy", why, 0);
        return tally_server_answer(r, 200, json_pack("{s:s}", "status", "ok"), 0);
    case EP_READYZ:
        if (!tally_server_check_ready(srv, why, sizeof why))
            return tally_server_answer(r, 503, json_pack("{s:s,s:s}", "status", "not ready", "detail", why), 5);
        return tally_server_answer(r, 200, json_pack("{s:s}", "status", "ready"), 0);
    case EP_METRICS: {
        tally_server_refresh_gauges(srv);
        size_t len;
        char *text = tally_metrics_render(srv->o.metrics, &len);
        return tally_server_answer_text(r, 200, "text/plain; version=0.0.4", text, MHD_RESPMEM_MUST_FREE);
    }
    default:
        return tally_server_answer_error(r, 404, "not found", "no such route", 0);
    }
}
