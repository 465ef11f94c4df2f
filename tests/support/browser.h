#ifndef TALLY_TEST_BROWSER_H
#define TALLY_TEST_BROWSER_H

/* A real browser for tests of the console's pages: Debian's headless
 * Chromium, driven through its DevTools protocol.
 *
 * Transport: --remote-debugging-pipe (the protocol's JSON messages, each
 * ending in a NUL byte, to the browser on its fd 3 and from it on its fd 4),
 * not --remote-debugging-port: the port speaks WebSocket, which Debian 12's
 * libcurl (7.88) is built without, and the pipe needs no port, no second
 * library and no handshake. The protocol is the same.
 *
 * One browser per test, one tab: its cookies live as long as the browser,
 * as a person's session does, so a test signs in once (the sign-in link's
 * redirect sets the session cookie) and then browses. Nothing is installed
 * at run time: without chromium (deploy/setup.sh --test installs it) the
 * test fails, saying so; it is never skipped.
 *
 * Every function aborts the running test on failure with a message (the
 * tail of the browser's own log included), as the other test helpers do.
 * The browser dies with the test worker on every path: it runs in a process
 * group of its own, with SIGKILL as its parent-death signal, and an atexit
 * handler kills every group still running. */

#include <stddef.h>
#include <sys/types.h>

typedef struct tally_test_browser_t tally_test_browser_t;

/* What the browser shows after a load. Owned by the caller
 * (tally_test_browser_page_free). */
typedef struct {
    long status;   /* HTTP status of the document shown (after redirects); 0 without HTTP (file://) */
    char *url;     /* the URL the tab ended at (after redirects) */
    char *html;    /* document.documentElement.outerHTML: the DOM as the browser built it */
    char *text;    /* document.body.innerText: the text a person reads */
} tally_test_browser_page_t;

/* Starts headless chromium ($TALLY_CHROMIUM, else `chromium` on the PATH)
 * with a fresh profile in a temporary folder, JavaScript as the browser has
 * it, a window of width x height CSS pixels. Its log goes to
 * <output>/chromium.log (tally_test_browser_output_dir). */
tally_test_browser_t *tally_test_browser_start(int width, int height);

/* Loads url in the tab and waits (up to 30 s) for its load event; fills
 * page. A navigation error (connection refused, ...) fails the test. */
void tally_test_browser_load(tally_test_browser_t *b, const char *url, tally_test_browser_page_t *page);

/* Clicks the element that the CSS selector finds (a form's button, a
 * link), as a person would, and waits for the page it leads to (up to
 * 30 s); fills page. No such element, or one not shown, fails the test. */
void tally_test_browser_click(tally_test_browser_t *b, const char *selector, tally_test_browser_page_t *page);

/* Types value into the form field that the CSS selector finds (an input
 * shown on the page), as a person would before clicking a button; no
 * navigation. No such element, or one not shown, fails the test. */
void tally_test_browser_fill(tally_test_browser_t *b, const char *selector, const char *value);

/* Saves a PNG of the whole page now shown (not only the window) as
 * <output>/<name>.png; returns that path (static buffer). */
const char *tally_test_browser_screenshot(tally_test_browser_t *b, const char *name);

/* The browser's cookie called name for url: 1 and its flags when it has
 * one, 0 when not. value (size valuesize, may be NULL) gets its value,
 * same_site its SameSite ("Strict", "Lax", "None" or "" when unset). */
typedef struct {
    int http_only, secure, session;
    char same_site[16];
} tally_test_cookie_flags_t;
int tally_test_browser_cookie(tally_test_browser_t *b, const char *url, const char *name, char *value,
                              size_t valuesize, tally_test_cookie_flags_t *flags);

/* The folder screenshots and the browser's log go to:
 * $TALLY_TEST_OUTPUT/browser (tests/CMakeLists.txt sets it to
 * build/test-output), created if missing. Static buffer. */
const char *tally_test_browser_output_dir(void);

/* The browser's pid, which is also its process group. */
pid_t tally_test_browser_pid(const tally_test_browser_t *b);

void tally_test_browser_page_free(tally_test_browser_page_t *page);

/* Closes the browser (Browser.close; SIGKILL to its process group after
 * 5 s), reaps it, deletes its profile. NULL is a no-op. */
void tally_test_browser_stop(tally_test_browser_t *b);

#endif
