/* The browser helper (tests/support/browser.h) that the console's browser
 * test relies on, proven against a real HTTP server of this suite's own
 * (libmicrohttpd) that behaves as the console's sign-in does: a link that
 * sets a session cookie (HttpOnly, SameSite=Strict) and answers 303 to a
 * page; a page that shows whether the request carried the cookie; an
 * unknown route that answers 404 with an HTML body. The helper must follow
 * the redirect, keep the cookie for the next load, report the status of the
 * document shown, give the DOM and its text, and write a real PNG. */
#include "browser.h"
#include "fixtures.h"
#include "services.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define SESSION "0123456789abcdef"

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)cls, (void)version, (void)upload, (void)upload_size, (void)state;
    char body[1024];
    unsigned code = MHD_HTTP_OK;
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "helper_session");
    struct MHD_Response *r;
    if (strcmp(url, "/signin") == 0) {
        const char *next = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "next");
        snprintf(body, sizeof body, "<!doctype html><title>redirect</title>");
        r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(r, "Set-Cookie", "helper_session=" SESSION "; HttpOnly; SameSite=Strict; Path=/");
        MHD_add_response_header(r, "Location", next ? next : "/page");
        code = MHD_HTTP_SEE_OTHER;
    } else if (strcmp(url, "/page") == 0) {
        snprintf(body, sizeof body,
                 "<!doctype html><html><head><title>Page</title></head><body><main><h1>Usage</h1>"
                 "<table><tr><th>API calls</th><td id=\"calls\">1,234,567</td></tr></table>"
                 "<p id=\"who\">%s</p><form method=\"post\" action=\"/signout\"><button>Sign out</button></form>"
                 "</main></body></html>",
                 cookie && strcmp(cookie, SESSION) == 0 ? "signed in" : "anonymous");
        r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    } else if (strcmp(url, "/signout") == 0 && strcmp(method, "POST") == 0) {
        snprintf(body, sizeof body, "<!doctype html><title>redirect</title>");
        r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(r, "Set-Cookie", "helper_session=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/");
        MHD_add_response_header(r, "Location", "/page");
        code = MHD_HTTP_SEE_OTHER;
    } else {
        snprintf(body, sizeof body, "<!doctype html><title>Not found</title><h1>Not found</h1>");
        r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        code = MHD_HTTP_NOT_FOUND;
    }
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static struct MHD_Daemon *daemon_;
static tally_test_browser_t *browser;
static char base[64];

static void setup(void)
{
    int port = tally_test_free_port();
    cr_assert_gt(port, 0);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, answer, NULL,
                               MHD_OPTION_END);
    cr_assert_not_null(daemon_, "cannot listen on port %d", port);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
}

static void teardown(void)
{
    tally_test_browser_stop(browser);
    browser = NULL;
    if (daemon_)
        MHD_stop_daemon(daemon_);
}

TestSuite(browser_helper, .init = setup, .fini = teardown, .timeout = 120);

Test(browser_helper, signs_in_through_a_redirect_keeps_the_cookie_and_saves_a_png)
{
    char url[256];
    tally_test_browser_page_t page;
    browser = tally_test_browser_start(1024, 768);

    /* Before signing in, the page sees no cookie. */
    snprintf(url, sizeof url, "%s/page", base);
    tally_test_browser_load(browser, url, &page);
    cr_assert_eq(page.status, 200);
    cr_assert(strstr(page.text, "anonymous"), "text: %s", page.text);
    tally_test_browser_page_free(&page);

    /* The sign-in link: 303 with the cookie, followed to the page. */
    snprintf(url, sizeof url, "%s/signin?next=/page", base);
    tally_test_browser_load(browser, url, &page);
    cr_assert_eq(page.status, 200, "the status of the page after the redirect, not the 303");
    snprintf(url, sizeof url, "%s/page", base);
    cr_assert_str_eq(page.url, url);
    cr_assert(strstr(page.text, "signed in"), "text: %s", page.text);
    cr_assert(strstr(page.html, "<td id=\"calls\">1,234,567</td>"), "html: %s", page.html);
    cr_assert(strstr(page.text, "API calls\t1,234,567"), "a table row reads as cells: %s", page.text);
    tally_test_browser_page_free(&page);

    /* The cookie as the browser keeps it, and on the next load. */
    char value[64];
    tally_test_cookie_flags_t flags;
    cr_assert_eq(tally_test_browser_cookie(browser, base, "helper_session", value, sizeof value, &flags), 1);
    cr_assert_str_eq(value, SESSION);
    cr_assert(flags.http_only);
    cr_assert_str_eq(flags.same_site, "Strict");
    cr_assert(flags.session, "no Max-Age: a session cookie");
    cr_assert_eq(tally_test_browser_cookie(browser, base, "no_such_cookie", NULL, 0, NULL), 0);
    tally_test_browser_load(browser, url, &page);
    cr_assert(strstr(page.text, "signed in"), "the cookie is sent again: %s", page.text);

    /* A form's button, clicked: POST, 303, the cookie gone. */
    tally_test_browser_page_t after;
    tally_test_browser_click(browser, "form[action='/signout'] button", &after);
    cr_assert_eq(after.status, 200);
    cr_assert_str_eq(after.url, url);
    cr_assert(strstr(after.text, "anonymous"), "signed out: %s", after.text);
    cr_assert_eq(tally_test_browser_cookie(browser, base, "helper_session", NULL, 0, NULL), 0);
    tally_test_browser_page_free(&after);
    tally_test_browser_page_free(&page);
    snprintf(url, sizeof url, "%s/signin?next=/page", base);
    tally_test_browser_load(browser, url, &page);

    const char *png = tally_test_browser_screenshot(browser, "helper-page");
    struct stat st;
    cr_assert_eq(stat(png, &st), 0, "%s", png);
    cr_assert_gt(st.st_size, 1000, "%s: %lld bytes", png, (long long)st.st_size);
    tally_test_browser_page_free(&page);

    /* A 404 page is shown with its status and its own body. */
    snprintf(url, sizeof url, "%s/t/other/", base);
    tally_test_browser_load(browser, url, &page);
    cr_assert_eq(page.status, 404);
    cr_assert(strstr(page.text, "Not found"), "text: %s", page.text);
    tally_test_browser_page_free(&page);
}

Test(browser_helper, stop_ends_the_browser_and_all_its_processes_and_a_new_one_has_no_old_cookie)
{
    char url[256];
    tally_test_browser_page_t page;
    browser = tally_test_browser_start(800, 600);
    snprintf(url, sizeof url, "%s/signin?next=/page", base);
    tally_test_browser_load(browser, url, &page);
    cr_assert(strstr(page.text, "signed in"), "text: %s", page.text);
    tally_test_browser_page_free(&page);
    pid_t group = tally_test_browser_pid(browser);
    cr_assert_gt(group, 0);
    tally_test_browser_stop(browser);
    browser = NULL;
    /* No process of its group is left (renderers, GPU and network helpers). */
    long long deadline = tally_test_mono_ms() + 5000;
    while (kill(-group, 0) == 0 && tally_test_mono_ms() < deadline)
        usleep(50000);
    cr_assert_neq(kill(-group, 0), 0, "processes of the browser's group %d outlive stop", (int)group);

    browser = tally_test_browser_start(800, 600);
    snprintf(url, sizeof url, "%s/page", base);
    tally_test_browser_load(browser, url, &page);
    cr_assert(strstr(page.text, "anonymous"), "a new browser has no cookie of the last one: %s", page.text);
    tally_test_browser_page_free(&page);
}
