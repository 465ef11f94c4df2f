#define _GNU_SOURCE   /* pipe2, and nftw */
#include "browser.h"

#include "fixtures.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOAD_TIMEOUT_MS 30000
#define CALL_TIMEOUT_MS 30000
#define CLOSE_TIMEOUT_MS 5000
#define MAX_BROWSERS 8

struct tally_test_browser_t {
    pid_t pid;               /* the browser, leader of its own process group */
    int to_fd, from_fd;      /* its fd 3 (our requests) and fd 4 (answers and events) */
    char *buf;               /* bytes read, the start of a message not yet whole */
    size_t len, cap;
    int next_id;
    char session[128];       /* the tab's flat DevTools session */
    char frame[128];         /* the tab's main frame */
    char profile[PATH_MAX];  /* --user-data-dir, deleted at stop */
    /* the navigation under way */
    int loading, loaded;
    long status;
};

/* Process groups of the browsers still running, killed at exit whatever
 * path the test took. */
static pid_t live[MAX_BROWSERS];

static void kill_live(void)
{
    for (int i = 0; i < MAX_BROWSERS; i++)
        if (live[i] > 0) {
            kill(-live[i], SIGKILL);
            live[i] = 0;
        }
}

static void track(pid_t pid, int on)
{
    static int registered;
    if (!registered) {
        atexit(kill_live);
        registered = 1;
    }
    for (int i = 0; i < MAX_BROWSERS; i++)
        if (on ? live[i] == 0 : live[i] == pid) {
            live[i] = on ? pid : 0;
            return;
        }
    cr_assert(!on, "more than %d browsers at once", MAX_BROWSERS);
}

const char *tally_test_browser_output_dir(void)
{
    static char dir[PATH_MAX];
    const char *base = getenv("TALLY_TEST_OUTPUT");
    snprintf(dir, sizeof dir, "%s/browser", base && *base ? base : "/tmp/tally-test-output");
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
    return dir;
}

static const char *log_path(void)
{
    static char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/chromium.log", tally_test_browser_output_dir());
    return path;
}

/* The last part of the browser's log, for failure messages (static). */
static const char *log_tail(void)
{
    static char tail[3000];
    tail[0] = '\0';
    FILE *f = fopen(log_path(), "r");
    if (f == NULL)
        return tail;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        fseek(f, size > (long)sizeof tail - 1 ? size - (long)sizeof tail + 1 : 0, SEEK_SET);
        size_t n = fread(tail, 1, sizeof tail - 1, f);
        tail[n] = '\0';
    }
    fclose(f);
    return tail;
}

#define browser_fail(...)                                                                    \
    cr_assert_fail("browser: %s\n--- the end of %s:\n%s", format_msg(__VA_ARGS__), log_path(), log_tail())

static const char *format_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *format_msg(const char *fmt, ...)
{
    static char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return msg;
}

/* The chromium to start: $TALLY_CHROMIUM, else the first `chromium` on the
 * PATH; fails the test when there is none. */
static void find_chromium(char *out, size_t size)
{
    const char *env = getenv("TALLY_CHROMIUM");
    if (env && *env) {
        cr_assert(access(env, X_OK) == 0, "TALLY_CHROMIUM=%s is not an executable", env);
        snprintf(out, size, "%s", env);
        return;
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/chromium", d);
        if (access(out, X_OK) == 0)
            return;
    }
    cr_assert_fail("chromium is not installed: the browser test needs Debian's package chromium "
                   "(deploy/setup.sh --test installs it; tests/run.sh runs that)");
}

/* ---- the protocol ------------------------------------------------------------------------ */

static void send_message(tally_test_browser_t *b, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    cr_assert_not_null(text);
    size_t n = strlen(text) + 1;   /* the NUL ends the message */
    for (size_t off = 0; off < n;) {
        ssize_t w = write(b->to_fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(text);
            browser_fail("writing to the browser: %s (did it exit?)", strerror(errno));
        }
        off += (size_t)w;
    }
    free(text);
}

/* The next whole message, or NULL when none came within timeout_ms. */
static json_t *read_message(tally_test_browser_t *b, int timeout_ms)
{
    long long deadline = tally_test_mono_ms() + timeout_ms;
    for (;;) {
        char *end = b->len > 0 ? memchr(b->buf, '\0', b->len) : NULL;
        if (end) {
            json_error_t jerr;
            size_t n = (size_t)(end - b->buf);
            json_t *msg = json_loadb(b->buf, n, 0, &jerr);
            memmove(b->buf, end + 1, b->len - n - 1);
            b->len -= n + 1;
            if (msg == NULL)
                browser_fail("a message that is no JSON: %s", jerr.text);
            return msg;
        }
        long long left = deadline - tally_test_mono_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p = {.fd = b->from_fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        if (b->cap - b->len < 65536) {
            b->cap = b->cap * 2 + 65536;
            b->buf = realloc(b->buf, b->cap);
            cr_assert_not_null(b->buf);
        }
        ssize_t got = read(b->from_fd, b->buf + b->len, b->cap - b->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            browser_fail("the browser closed its DevTools pipe (it exited or crashed)");
        b->len += (size_t)got;
    }
}

static const char *str_at(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static void on_event(tally_test_browser_t *b, json_t *msg)
{
    const char *method = str_at(msg, "method");
    json_t *params = json_object_get(msg, "params");
    if (strcmp(method, "Network.responseReceived") == 0 && b->loading) {
        if (strcmp(str_at(params, "type"), "Document") != 0 || strcmp(str_at(params, "frameId"), b->frame) != 0)
            return;
        json_t *resp = json_object_get(params, "response");
        b->status = (long)json_integer_value(json_object_get(resp, "status"));
        if (json_is_real(json_object_get(resp, "status")))
            b->status = (long)json_real_value(json_object_get(resp, "status"));
    } else if (strcmp(method, "Page.loadEventFired") == 0 && b->loading) {
        b->loaded = 1;
    } else if (strcmp(method, "Inspector.targetCrashed") == 0 || strcmp(method, "Target.targetCrashed") == 0) {
        browser_fail("the tab crashed");
    } else if (strcmp(method, "Target.detachedFromTarget") == 0 &&
               strcmp(str_at(params, "sessionId"), b->session) == 0) {
        browser_fail("the browser detached the tab");
    }
}

/* Sends method with params (taken; may be NULL) to the tab (on_tab) or the
 * browser and returns the answer's result (owned); events that arrive
 * meanwhile are handled. An error answer fails the test. */
static json_t *call(tally_test_browser_t *b, int on_tab, const char *method, json_t *params)
{
    int id = ++b->next_id;
    json_t *msg = json_pack("{s:i, s:s}", "id", id, "method", method);
    json_object_set_new(msg, "params", params ? params : json_object());
    if (on_tab)
        json_object_set_new(msg, "sessionId", json_string(b->session));
    send_message(b, msg);
    json_decref(msg);
    long long deadline = tally_test_mono_ms() + CALL_TIMEOUT_MS;
    for (;;) {
        long long left = deadline - tally_test_mono_ms();
        json_t *in = left > 0 ? read_message(b, (int)left) : NULL;
        if (in == NULL)
            browser_fail("%s: no answer within %d ms", method, CALL_TIMEOUT_MS);
        if (json_integer_value(json_object_get(in, "id")) == id) {
            json_t *err = json_object_get(in, "error");
            if (err) {
                char *text = json_dumps(err, JSON_COMPACT);
                const char *m = format_msg("%s failed: %s", method, text ? text : "?");
                free(text);
                json_decref(in);
                browser_fail("%s", m);
            }
            json_t *result = json_incref(json_object_get(in, "result"));
            json_decref(in);
            return result ? result : json_object();
        }
        if (json_object_get(in, "method"))
            on_event(b, in);
        json_decref(in);
    }
}

static char *evaluate_string(tally_test_browser_t *b, const char *expression)
{
    json_t *r = call(b, 1, "Runtime.evaluate",
                     json_pack("{s:s, s:b}", "expression", expression, "returnByValue", 1));
    json_t *value = json_object_get(json_object_get(r, "result"), "value");
    char *out = strdup(json_is_string(value) ? json_string_value(value) : "");
    int thrown = json_object_get(r, "exceptionDetails") != NULL;
    json_decref(r);
    cr_assert_not_null(out);
    if (thrown) {
        free(out);
        browser_fail("evaluating %s threw", expression);
    }
    return out;
}

/* ---- the process ------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

tally_test_browser_t *tally_test_browser_start(int width, int height)
{
    char exe[PATH_MAX];
    find_chromium(exe, sizeof exe);
    cr_assert(sodium_init() >= 0);
    signal(SIGPIPE, SIG_IGN);   /* a dead browser is an error on write, reported as such */

    tally_test_browser_t *b = calloc(1, sizeof *b);
    cr_assert_not_null(b);
    b->to_fd = b->from_fd = -1;
    snprintf(b->profile, sizeof b->profile, "/tmp/tally-chromium.XXXXXX");
    cr_assert_not_null(mkdtemp(b->profile), "mkdtemp: %s", strerror(errno));

    char a_profile[PATH_MAX + 32], a_window[64];
    snprintf(a_profile, sizeof a_profile, "--user-data-dir=%s", b->profile);
    snprintf(a_window, sizeof a_window, "--window-size=%d,%d", width, height);
    char *argv[] = {exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--remote-debugging-pipe", a_profile, a_window, "--hide-scrollbars", "--no-first-run",
                    "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                    "--disable-sync", "--disable-component-update", "--password-store=basic",
                    "--use-mock-keychain", "--mute-audio", "about:blank", NULL};

    int cmd[2], ev[2];
    cr_assert_eq(pipe2(cmd, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(ev, O_CLOEXEC), 0);
    int logfd = open(log_path(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert_geq(logfd, 0, "%s: %s", log_path(), strerror(errno));
    b->pid = fork();
    cr_assert_geq(b->pid, 0);
    if (b->pid == 0) {
        /* Its own process group (stop kills the renderers with it) that
         * dies with the test worker. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(127);
        int in = fcntl(cmd[0], F_DUPFD, 10), out = fcntl(ev[1], F_DUPFD, 10);
        int null = open("/dev/null", O_RDONLY);
        if (in < 0 || out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 ||
            dup2(in, 3) < 0 || dup2(out, 4) < 0)
            _exit(126);
        execv(exe, argv);
        dprintf(2, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    setpgid(b->pid, b->pid);   /* also here: no race with the kill of a group not made yet */
    track(b->pid, 1);
    close(cmd[0]);
    close(ev[1]);
    close(logfd);
    b->to_fd = cmd[1];
    b->from_fd = ev[0];

    /* A tab of our own, attached as a flat session. */
    json_t *r = call(b, 0, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"));
    char target[128];
    snprintf(target, sizeof target, "%s", str_at(r, "targetId"));
    json_decref(r);
    cr_assert(target[0], "Target.createTarget gave no targetId");
    r = call(b, 0, "Target.attachToTarget", json_pack("{s:s, s:b}", "targetId", target, "flatten", 1));
    snprintf(b->session, sizeof b->session, "%s", str_at(r, "sessionId"));
    json_decref(r);
    cr_assert(b->session[0], "Target.attachToTarget gave no sessionId");
    json_decref(call(b, 1, "Page.enable", NULL));
    json_decref(call(b, 1, "Network.enable", NULL));
    r = call(b, 1, "Page.getFrameTree", NULL);
    snprintf(b->frame, sizeof b->frame, "%s",
             str_at(json_object_get(json_object_get(r, "frameTree"), "frame"), "id"));
    json_decref(r);
    cr_assert(b->frame[0], "Page.getFrameTree gave no main frame");
    return b;
}

static void begin_navigation(tally_test_browser_t *b, tally_test_browser_page_t *page)
{
    memset(page, 0, sizeof *page);
    b->loading = 1;
    b->loaded = 0;
    b->status = 0;
}

/* Waits for the load event of the navigation begun, then fills page. */
static void finish_navigation(tally_test_browser_t *b, const char *what, tally_test_browser_page_t *page)
{
    long long deadline = tally_test_mono_ms() + LOAD_TIMEOUT_MS;
    while (!b->loaded) {
        long long left = deadline - tally_test_mono_ms();
        json_t *in = left > 0 ? read_message(b, (int)left) : NULL;
        if (in == NULL) {
            b->loading = 0;
            browser_fail("%s did not load within %d ms", what, LOAD_TIMEOUT_MS);
        }
        if (json_object_get(in, "method"))
            on_event(b, in);
        json_decref(in);
    }
    b->loading = 0;
    page->status = b->status;
    page->url = evaluate_string(b, "document.location.href");
    page->html = evaluate_string(b, "document.documentElement.outerHTML");
    page->text = evaluate_string(b, "document.body ? document.body.innerText : ''");
}

void tally_test_browser_load(tally_test_browser_t *b, const char *url, tally_test_browser_page_t *page)
{
    begin_navigation(b, page);
    json_t *r = call(b, 1, "Page.navigate", json_pack("{s:s}", "url", url));
    const char *error = str_at(r, "errorText");
    if (*error) {
        const char *m = format_msg("loading %s: %s", url, error);
        json_decref(r);
        b->loading = 0;
        browser_fail("%s", m);
    }
    json_decref(r);
    finish_navigation(b, url, page);
}

void tally_test_browser_click(tally_test_browser_t *b, const char *selector, tally_test_browser_page_t *page)
{
    char expression[1024];
    json_t *sel = json_string(selector);
    char *quoted = json_dumps(sel, JSON_ENCODE_ANY);
    json_decref(sel);
    cr_assert_not_null(quoted);
    /* A person's click: the element must exist and be shown. */
    snprintf(expression, sizeof expression,
             "(function(){var e=document.querySelector(%s);if(!e)return 'missing';"
             "if(!e.offsetParent&&getComputedStyle(e).position!=='fixed')return 'hidden';e.click();return 'clicked';})()",
             quoted);
    free(quoted);
    begin_navigation(b, page);
    char *got = evaluate_string(b, expression);
    if (strcmp(got, "clicked") != 0) {
        const char *m = format_msg("clicking %s: the element is %s", selector, got);
        free(got);
        b->loading = 0;
        browser_fail("%s", m);
    }
    free(got);
    finish_navigation(b, selector, page);
}

void tally_test_browser_fill(tally_test_browser_t *b, const char *selector, const char *value)
{
    char expression[2048];
    json_t *sel = json_string(selector), *val = json_string(value);
    char *qs = json_dumps(sel, JSON_ENCODE_ANY), *qv = json_dumps(val, JSON_ENCODE_ANY);
    json_decref(sel);
    json_decref(val);
    cr_assert(qs && qv);
    /* As typing does: the value, then the input event. */
    snprintf(expression, sizeof expression,
             "(function(){var e=document.querySelector(%s);if(!e)return 'missing';"
             "if(!e.offsetParent&&getComputedStyle(e).position!=='fixed')return 'hidden';"
             "e.focus();e.value=%s;e.dispatchEvent(new Event('input',{bubbles:true}));return 'filled';})()",
             qs, qv);
    free(qs);
    free(qv);
    char *got = evaluate_string(b, expression);
    if (strcmp(got, "filled") != 0) {
        const char *m = format_msg("filling %s: the element is %s", selector, got);
        free(got);
        browser_fail("%s", m);
    }
    free(got);
}

const char *tally_test_browser_screenshot(tally_test_browser_t *b, const char *name)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s.png", tally_test_browser_output_dir(), name);
    json_t *m = call(b, 1, "Page.getLayoutMetrics", NULL);
    json_t *size = json_object_get(m, "cssContentSize");
    double w = json_number_value(json_object_get(size, "width"));
    double h = json_number_value(json_object_get(size, "height"));
    json_decref(m);
    cr_assert(w > 0 && h > 0, "the page has no size (%gx%g)", w, h);
    if (h > 16384)
        h = 16384;   /* a runaway page still gives a picture */
    json_t *r = call(b, 1, "Page.captureScreenshot",
                     json_pack("{s:s, s:b, s:{s:f, s:f, s:f, s:f, s:f}}", "format", "png", "captureBeyondViewport", 1,
                               "clip", "x", 0.0, "y", 0.0, "width", w, "height", h, "scale", 1.0));
    const char *data = str_at(r, "data");
    size_t len = strlen(data), bin_len = 0;
    unsigned char *bin = malloc(len + 1);
    cr_assert_not_null(bin);
    int rc = sodium_base642bin(bin, len + 1, data, len, NULL, &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL);
    json_decref(r);
    cr_assert_eq(rc, 0, "the screenshot is no base64");
    cr_assert(bin_len > 8 && memcmp(bin, "\x89PNG\r\n\x1a\n", 8) == 0, "the screenshot is no PNG");
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    size_t wrote = fwrite(bin, 1, bin_len, f);
    int closed = fclose(f);
    free(bin);
    cr_assert(wrote == bin_len && closed == 0, "writing %s failed", path);
    return path;
}

int tally_test_browser_cookie(tally_test_browser_t *b, const char *url, const char *name, char *value,
                              size_t valuesize, tally_test_cookie_flags_t *flags)
{
    json_t *r = call(b, 1, "Network.getCookies", json_pack("{s:[s]}", "urls", url));
    json_t *cookies = json_object_get(r, "cookies"), *c;
    size_t i;
    int found = 0;
    json_array_foreach(cookies, i, c)
    {
        if (strcmp(str_at(c, "name"), name) != 0)
            continue;
        found = 1;
        if (value)
            snprintf(value, valuesize, "%s", str_at(c, "value"));
        if (flags) {
            flags->http_only = json_is_true(json_object_get(c, "httpOnly"));
            flags->secure = json_is_true(json_object_get(c, "secure"));
            flags->session = json_is_true(json_object_get(c, "session"));
            snprintf(flags->same_site, sizeof flags->same_site, "%s", str_at(c, "sameSite"));
        }
        break;
    }
    json_decref(r);
    return found;
}

void tally_test_browser_page_free(tally_test_browser_page_t *page)
{
    if (page == NULL)
        return;
    free(page->url);
    free(page->html);
    free(page->text);
    memset(page, 0, sizeof *page);
}

void tally_test_browser_stop(tally_test_browser_t *b)
{
    if (b == NULL)
        return;
    if (b->pid > 0) {
        /* Ask first (it then writes its profile away cleanly), then make sure. */
        json_t *msg = json_pack("{s:i, s:s, s:{}}", "id", ++b->next_id, "method", "Browser.close", "params");
        char *text = json_dumps(msg, JSON_COMPACT);
        json_decref(msg);
        if (text && write(b->to_fd, text, strlen(text) + 1) < 0) {
            /* already gone: the kill below and waitpid tell */
        }
        free(text);
        int status, reaped = 0;
        long long deadline = tally_test_mono_ms() + CLOSE_TIMEOUT_MS;
        while (!reaped && tally_test_mono_ms() < deadline) {
            pid_t w = waitpid(b->pid, &status, WNOHANG);
            if (w == b->pid || (w < 0 && errno == ECHILD))
                reaped = 1;
            else
                usleep(20000);
        }
        kill(-b->pid, SIGKILL);   /* the renderers and helpers of its group, and itself if it hangs */
        if (!reaped)
            waitpid(b->pid, &status, 0);
        track(b->pid, 0);
    }
    if (b->to_fd >= 0)
        close(b->to_fd);
    if (b->from_fd >= 0)
        close(b->from_fd);
    if (b->profile[0])
        nftw(b->profile, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(b->buf);
    free(b);
}

pid_t tally_test_browser_pid(const tally_test_browser_t *b)
{
    return b->pid;
}
