/* producers/client/deliver: what each gateway answer means for each event
 * of a batch: delivered, rejected (dropped), deferred (retried) or refused
 * (kept until the configuration is fixed). */
#include "deliver.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static tally_outcome_t out[8];
static char summary[256];

static tally_outcome_t classify(int transport_ok, long status, const char *body, size_t n, json_t *reasons)
{
    tally_response_t r = {.transport_ok = transport_ok, .status = status, .body = (char *)body,
                          .len = strlen(body), .retry_after_ms = -1};
    if (!transport_ok)
        snprintf(r.error, sizeof r.error, "Couldn't connect to server");
    return tally_deliver_classify(&r, n, out, reasons, summary, sizeof summary);
}

Test(deliver, accepted_batches_are_delivered)
{
    json_t *reasons = json_array();
    cr_assert_eq(classify(1, 202, "{\"accepted\":3,\"rejected\":[]}", 3, reasons), TALLY_OUTCOME_DELIVERED);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(out[i], TALLY_OUTCOME_DELIVERED);
    cr_assert_eq(classify(1, 202, "", 2, reasons), TALLY_OUTCOME_DELIVERED, "a 202 is an acceptance");
    cr_assert_eq(out[1], TALLY_OUTCOME_DELIVERED);
    json_decref(reasons);
}

Test(deliver, rejected_events_are_named_by_index)
{
    json_t *reasons = json_array();
    tally_outcome_t w = classify(1, 202,
                                 "{\"accepted\":2,\"rejected\":[{\"index\":1,\"error\":\"event: not an event of the "
                                 "catalog\"},{\"index\":3,\"error\":\"overloaded: the event queue is full; retry this "
                                 "event\"},{\"index\":99,\"error\":\"x\"}]}",
                                 4, reasons);
    cr_assert_eq(out[0], TALLY_OUTCOME_DELIVERED);
    cr_assert_eq(out[1], TALLY_OUTCOME_REJECTED);
    cr_assert_eq(out[2], TALLY_OUTCOME_DELIVERED);
    cr_assert_eq(out[3], TALLY_OUTCOME_DEFERRED, "overloaded is worth a retry");
    cr_assert_eq(w, TALLY_OUTCOME_DEFERRED, "and makes the run back off");
    cr_assert_str_eq(json_string_value(json_array_get(reasons, 1)), "event: not an event of the catalog");
    cr_assert(json_is_null(json_array_get(reasons, 0)));
    json_decref(reasons);
}

Test(deliver, all_rejected_422)
{
    json_t *reasons = json_array();
    cr_assert_eq(classify(1, 422,
                          "{\"error\":\"invalid events\",\"accepted\":0,\"rejected\":[{\"index\":0,\"error\":\"op: "
                          "bad\"}]}",
                          1, reasons),
                 TALLY_OUTCOME_DELIVERED, "rejected events do not stop a flush");
    cr_assert_eq(out[0], TALLY_OUTCOME_REJECTED);
    json_decref(reasons);
}

Test(deliver, no_answer_and_server_trouble_are_deferred)
{
    json_t *reasons = json_array();
    cr_assert_eq(classify(0, 0, "", 2, reasons), TALLY_OUTCOME_DEFERRED);
    cr_assert_eq(out[1], TALLY_OUTCOME_DEFERRED);
    cr_assert_not_null(strstr(summary, "connect"));
    static const long deferred[] = {408, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof deferred / sizeof deferred[0]; i++) {
        cr_assert_eq(classify(1, deferred[i], "{\"error\":\"overloaded\",\"detail\":\"retry later\"}", 1, reasons),
                     TALLY_OUTCOME_DEFERRED, "%ld", deferred[i]);
        cr_assert_eq(out[0], TALLY_OUTCOME_DEFERRED);
    }
    cr_assert_not_null(strstr(summary, "HTTP 504: overloaded: retry later"), "%s", summary);
    json_decref(reasons);
}

Test(deliver, credential_and_url_problems_are_refused_and_kept)
{
    json_t *reasons = json_array();
    static const long refused[] = {401, 403, 404, 405, 301, 302};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        cr_assert_eq(classify(1, refused[i], "{\"error\":\"unauthorized\"}", 2, reasons), TALLY_OUTCOME_REFUSED,
                     "%ld", refused[i]);
        cr_assert_eq(out[0], TALLY_OUTCOME_REFUSED);
    }
    json_decref(reasons);
}

Test(deliver, bad_requests_are_rejected_and_dropped)
{
    json_t *reasons = json_array();
    static const long rejected[] = {400, 413, 415, 409};
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        cr_assert_eq(classify(1, rejected[i], "{\"error\":\"malformed body\",\"detail\":\"x\"}", 2, reasons),
                     TALLY_OUTCOME_DELIVERED, "%ld", rejected[i]);
        cr_assert_eq(out[0], TALLY_OUTCOME_REJECTED);
        cr_assert_eq(out[1], TALLY_OUTCOME_REJECTED);
        cr_assert_str_eq(json_string_value(json_array_get(reasons, 1)), "malformed body: x");
    }
    json_decref(reasons);
}
