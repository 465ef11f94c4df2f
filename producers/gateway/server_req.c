#include "server_req.h"

#include <stdio.h>
#include <string.h>

static const int counted_status[TALLY_SERVER_N_STATUS] = {200, 202, 204, 400, 401, 403, 404, 405,
                                                           413, 415, 422, 429, 431, 500, 503};

static const char *const endpoint_path[EP_COUNT] = {
    "/v1/product/events", "/v1/usage/reports", "/v1/usage/seats", "/v1/controlpanel/events",
    "/healthz", "/readyz", "/metrics", "other",
};

endpoint_t tally_server_endpoint_of(const char *url)
{
    for (int e = 0; e < EP_OTHER; e++)
        if (strcmp(url, endpoint_path[e]) == 0)
            return (endpoint_t)e;
    return EP_OTHER;
}

void tally_server_requests_init(tally_server_t *srv)
{
    for (int e = 0; e < EP_COUNT; e++)
        for (size_t s = 0; s < TALLY_SERVER_N_STATUS; s++) {
            char labels[128];
            snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", endpoint_path[e], counted_status[s]);
            srv->requests[e][s] = tally_metrics_get(srv->o.metrics, TALLY_METRIC_COUNTER,
                                                    "tally_gateway_requests_total",
                                                    "HTTP requests answered, by route and status", labels, NULL, 0);
        }
}

void tally_server_count_request(tally_server_t *srv, endpoint_t ep, int status)
{
    for (size_t i = 0; i < TALLY_SERVER_N_STATUS; i++)
        if (counted_status[i] == status) {
            tally_metric_add(srv->requests[ep][i], 1);
            return;
        }
}
