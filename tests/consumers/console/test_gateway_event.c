/* gateway_event.c, the one POST of a Control Panel event to the gateway
 * (issue-token and the license routes send through it; a real gateway's
 * 202, 401, 422 and garbage are test_issue_token.c's and the license
 * suites'): the event's text, and the refusals that happen before or
 * instead of an answer, none of which shows the admin token. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <string.h>

#include "gateway_event.h"

#define ADMIN "admin-token-that-must-never-be-shown-0123456789"

static void setup(void)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
}

static void teardown(void)
{
    curl_global_cleanup();
}

TestSuite(gateway_event, .init = setup, .fini = teardown, .timeout = 60);

Test(gateway_event, the_event_text_is_tenant_time_and_payload)
{
    char err[256] = "";
    char *text = tally_gateway_event_text("acme", 1796601600000, json_pack("{s:{s:s}}", "LicenseRevoked", "reason", "x"),
                                          err, sizeof err);
    cr_assert_not_null(text, "%s", err);
    cr_assert_str_eq(text, "{\"tenant_id\":\"acme\",\"occurred_at\":1796601600000,\"payload\":{\"LicenseRevoked\":"
                           "{\"reason\":\"x\"}}}");
    free(text);
    /* Not UTF-8 (jansson refuses it), or no payload at all: no text. */
    cr_assert_null(tally_gateway_event_text("ac\xffme", 1, json_object(), err, sizeof err));
    cr_assert(strstr(err, "UTF-8") != NULL, "%s", err);
    cr_assert_null(tally_gateway_event_text("acme", 1, NULL, err, sizeof err));
}

Test(gateway_event, refusals_before_an_answer_never_show_the_token)
{
    char err[512], url[3000];
    const char *body = "{}";
    cr_assert_eq(tally_gateway_event_post(NULL, ADMIN, 0, body, err, sizeof err), TALLY_GATEWAY_EVENT_ERR_USAGE);
    cr_assert(strstr(err, "gateway URL"), "%s", err);
    cr_assert_eq(tally_gateway_event_post("http://127.0.0.1:1", "", 0, body, err, sizeof err),
                 TALLY_GATEWAY_EVENT_ERR_USAGE);
    cr_assert(strstr(err, "admin token"), "%s", err);
    memset(url, 'a', sizeof url - 1);
    memcpy(url, "http://", 7);
    url[sizeof url - 1] = '\0';
    cr_assert_eq(tally_gateway_event_post(url, ADMIN, 0, body, err, sizeof err), TALLY_GATEWAY_EVENT_ERR_USAGE);
    /* Nothing listens on port 1: a transport error naming the URL. */
    cr_assert_eq(tally_gateway_event_post("http://127.0.0.1:1/", ADMIN, 2000, body, err, sizeof err),
                 TALLY_GATEWAY_EVENT_ERR_TRANSPORT);
    cr_assert(strstr(err, "http://127.0.0.1:1/v1/controlpanel/events") != NULL, "%s", err);
    cr_assert(strstr(err, ADMIN) == NULL, "the token in: %s", err);
    /* Only http and https are spoken: no file:// or other scheme. */
    cr_assert_eq(tally_gateway_event_post("file:///etc/passwd", ADMIN, 2000, body, err, sizeof err),
                 TALLY_GATEWAY_EVENT_ERR_TRANSPORT);
    cr_assert(strstr(err, ADMIN) == NULL, "%s", err);
}
