/* common/http_server and common/http_answer: the limits every Tally HTTP
 * server gets, and the shape of its answers. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_answer.h"
#include "http_server.h"

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)upload_size;
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0)
        return tally_http_answer_method(c, "GET");
    if (strcmp(url, "/error") == 0)
        return tally_http_answer_error(c, 422, "bad \"thing\"", "detail with <tag> and \\ and \n", NULL);
    if (strcmp(url, "/cached") == 0) {
        const char *const h[] = {"Cache-Control", "private, max-age=5", "ETag", "\"abc\"", NULL};
        return tally_http_answer_text(c, 200, "text/plain", "hello", h);
    }
    return tally_http_answer_text(c, 200, "text/plain", "plain", NULL);
}

static struct MHD_Daemon *start(int *port)
{
    char err[256];
    tally_http_opts_t o = {.bind = "127.0.0.1", .port = 0, .name = "test", .handler = handler};
    struct MHD_Daemon *d = tally_http_start(&o, port, err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    cr_assert_gt(*port, 0);
    return d;
}

Test(http_server, error_is_json_with_escaped_texts)
{
    int port;
    struct MHD_Daemon *d = start(&port);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/error", port);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 422);
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "application/json");
    cr_assert_str_eq(tally_test_header(&r, "Cache-Control"), "no-store");
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    cr_assert_not_null(j, "not JSON: %s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "bad \"thing\"");
    cr_assert_str_eq(json_string_value(json_object_get(j, "detail")), "detail with <tag> and \\ and \n");
    json_decref(j);
    tally_test_response_free(&r);
    tally_http_stop(d);
}

Test(http_server, caller_cache_control_replaces_no_store)
{
    int port;
    struct MHD_Daemon *d = start(&port);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/cached", port);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_str_eq(tally_test_header(&r, "Cache-Control"), "private, max-age=5");
    cr_assert_not(strstr(r.headers, "no-store"), "two Cache-Control headers: %s", r.headers);
    tally_test_response_free(&r);
    tally_http_stop(d);
}

Test(http_server, method_not_allowed_names_allow)
{
    int port;
    struct MHD_Daemon *d = start(&port);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    tally_test_response_t r = tally_test_http("DELETE", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 405);
    cr_assert_str_eq(tally_test_header(&r, "Allow"), "GET");
    tally_test_response_free(&r);
    tally_http_stop(d);
}

Test(http_server, header_flood_gets_431)
{
    int port;
    struct MHD_Daemon *d = start(&port);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    size_t n = 40 * 1024;
    char *big = malloc(n + 16);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', n);
    big[7 + n] = '\0';
    const char *const h[] = {big, NULL};
    tally_test_response_t r = tally_test_http("GET", url, h, NULL, 0, 1);
    cr_assert_eq(r.status, 431, "status %ld", r.status);
    tally_test_response_free(&r);
    free(big);
    tally_http_stop(d);
}

Test(http_server, refuses_bad_bind_and_busy_port)
{
    char err[256] = "";
    tally_http_opts_t o = {.bind = "not-an-address", .port = 0, .name = "--bind", .handler = handler};
    cr_assert_null(tally_http_start(&o, NULL, err, sizeof err));
    cr_assert(strstr(err, "--bind: not an IPv4 address") != NULL, "%s", err);
    int port;
    struct MHD_Daemon *d = start(&port);
    tally_http_opts_t busy = {.bind = "127.0.0.1", .port = port, .name = "test", .handler = handler};
    cr_assert_null(tally_http_start(&busy, NULL, err, sizeof err));
    cr_assert(strstr(err, "cannot listen") != NULL, "%s", err);
    tally_http_stop(d);
}

/* The optional decoder and URI callback: a server that decodes nothing
 * sees "%2e%2e" as sent, and the URI callback sees the raw target (query
 * included) and gives the request its first *con_cls. */
static char seen_uri[256];

static size_t keep_as_sent(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void *log_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    snprintf(seen_uri, sizeof seen_uri, "%s", uri);
    return cls;
}

static enum MHD_Result echo_url(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    (void)upload_data;
    (void)upload_size;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    char text[512];
    snprintf(text, sizeof text, "%s|%s|%s", url, q ? q : "", *con_cls == (void *)&seen_uri ? "cls" : "no-cls");
    return tally_http_answer_text(c, 200, "text/plain", text, NULL);
}

Test(http_server, optional_unescape_and_uri_callbacks)
{
    char err[256], url[256];
    int port;
    tally_http_opts_t o = {.port = 0, .name = "test", .handler = echo_url, .unescape = keep_as_sent,
                           .uri_log = log_uri, .uri_log_cls = &seen_uri};
    struct MHD_Daemon *d = tally_http_start(&o, &port, err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/a/%%2e%%2e/b?q=%%41", port);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "/a/%2e%2e/b|%41|cls");
    cr_assert_str_eq(seen_uri, "/a/%2e%2e/b?q=%41");
    tally_test_response_free(&r);
    tally_http_stop(d);
    /* Without them: libmicrohttpd decodes. */
    tally_http_opts_t plain = {.port = 0, .name = "test", .handler = echo_url};
    d = tally_http_start(&plain, &port, err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/a/%%2e%%2e/b?q=%%41", port);
    r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_str_eq(r.body, "/a/../b|A|no-cls");
    tally_test_response_free(&r);
    tally_http_stop(d);
}
