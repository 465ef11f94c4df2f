/* tally-gateway against protocol abuse sent on raw sockets, what libcurl
 * will not send: header floods, huge request lines and cookies, slow loris,
 * bad chunking, smuggling framings, TLS and other garbage (the corpus of
 * bad bodies and headers sent with libcurl is test_gateway_hostile.c's).
 * Each answer must carry an expected status (or the connection is closed),
 * never echo the offending value, and leave the gateway healthy. At the
 * end, against the same gateway: nothing reached any of its three topics,
 * and its log holds no secret, no marker and no client address
 * (hostile_fixture.h). */
#define _GNU_SOURCE /* strcasestr */
#include "gateway_fixture.h"
#include "textbuf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hostile_fixture.h"

TestSuite(gateway_hostile, .timeout = 600);

/* ---- raw sockets: what libcurl will not send ----------------------------- */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)gw_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s", strerror(errno));
    return fd;
}

/* Sends what it can; the server may close early (that is a valid answer). */
static void raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

typedef struct {
    int status;      /* of the first response; 0: none */
    int closed;      /* the server closed (or reset) the connection */
    char *text;      /* everything read, NUL-terminated */
    size_t len;
    const char *body;/* the first response's body in text */
} raw_answer_t;

/* Reads one response (headers and Content-Length bytes of body) or until
 * the server closes, or timeout_ms pass. */
static raw_answer_t raw_read(int fd, int timeout_ms)
{
    raw_answer_t a = {0};
    tally_textbuf_t b = {0};
    tally_textbuf_append(&b, "", 0);
    long long deadline = tally_test_mono_ms() + timeout_ms;
    for (;;) {
        const char *end = strstr(b.data, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(b.data, "\r\nContent-Length:");
            size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (b.len >= (size_t)(end + 4 - b.data) + want)
                break;
        }
        long long left = deadline - tally_test_mono_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            a.closed = 1;
            break;
        }
        tally_textbuf_append(&b, tmp, (size_t)n);
    }
    a.text = b.data;
    a.len = b.len;
    if (strncmp(a.text, "HTTP/1.", 7) == 0 && a.len > 12)
        a.status = atoi(a.text + 9);
    const char *end = strstr(a.text, "\r\n\r\n");
    a.body = end ? end + 4 : "";
    return a;
}

/* Whether the server closes fd within timeout_ms (reading and dropping
 * anything else it sends). */
static int raw_closed_within(int fd, int timeout_ms)
{
    long long deadline = tally_test_mono_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - tally_test_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        char tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            return 1;
    }
}

typedef struct {
    const char *name;
    char *(*build)(size_t *len); /* the request, or NULL with text */
    const char *text;            /* the request (a template) */
    int statuses[4];             /* acceptable statuses, 0-terminated; -1: closed without an answer */
    const char *error;           /* the gateway's own JSON answer: its "error"; NULL: MHD's own answer */
    int must_close;              /* the connection must be closed after the answer */
} raw_case_t;

static char *header_flood(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    for (int i = 0; i < 500; i++)
        tally_textbuf_printf(&b, "X-Flood-%d: %s\r\n", i, MARK "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    tally_textbuf_puts(&b, "Content-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

static char *header_100kb(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Big: " MARK);
    buf_fill(&b, 'h', 100 * 1024);
    tally_textbuf_puts(&b, "\r\nContent-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

static char *request_line_100kb(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST /v1/product/events?" MARK);
    buf_fill(&b, 'q', 100 * 1024);
    tally_textbuf_puts(&b, " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

static char *cookie_flood(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    for (int i = 0; i < 2000; i++)
        tally_textbuf_printf(&b, "Cookie: c%d=" MARK "\r\n", i);
    tally_textbuf_puts(&b, "Content-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

/* A chunked body of 2 MiB (over --max-body, and no Content-Length to refuse
 * it early). */
static char *chunked_2mib(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 512; i++) {
        tally_textbuf_puts(&b, "1000\r\n");
        buf_fill(&b, ' ', 0x1000);
        tally_textbuf_puts(&b, "\r\n");
    }
    tally_textbuf_puts(&b, "0\r\n\r\n");
    *len = b.len;
    return b.data;
}

/* The start of a TLS ClientHello, NUL bytes included, then CRLFs. */
static char *tls_hello(size_t *len)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00};
    tally_textbuf_t b = {0};
    tally_textbuf_append(&b, hello, sizeof hello);
    tally_textbuf_puts(&b, MARK "\r\n\r\n");
    *len = b.len;
    return b.data;
}

/* The API key, a NUL byte, then more: the header value is not a key. */
static char *nul_in_authorization(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " USAGE " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Authorization: Bearer " TALLY_TEST_API_KEY);
    tally_textbuf_append(&b, "", 1);
    tally_textbuf_puts(&b, MARK "\r\nContent-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

#define RAW_POST(headers, body)                                                                                 \
    "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" headers "\r\n" body

static const raw_case_t raw_cases[] = {
    {"header flood: 500 headers", .build = header_flood, .statuses = {431, 413, -1}, .must_close = 1},
    {"one header of 100 KB", .build = header_100kb, .statuses = {431, 413, -1}, .must_close = 1},
    {"2000 Cookie headers", .build = cookie_flood, .statuses = {431, 413, -1}, .must_close = 1},
    {"request line of 100 KB", .build = request_line_100kb, .statuses = {414, 431, 413, -1}, .must_close = 1},
    {"HTTP/0.9 request", .text = "GET /healthz\r\n\r\n", .statuses = {400, -1}, .must_close = 1},
    {"binary garbage (a TLS hello)", .build = tls_hello, .statuses = {400, -1}, .must_close = 1},
    {"unsupported HTTP version",
     .text = "POST " PRODUCT " HTTP/3.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
     .statuses = {505, -1}, .must_close = 1},
    {"HTTP/1.1 without Host",
     .text = "POST " PRODUCT " HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
     .statuses = {400, -1}, .must_close = 1},
    {"bad chunk size", .text = RAW_POST("Transfer-Encoding: chunked\r\n", "zz\r\n%MARK%\r\n0\r\n\r\n"),
     .statuses = {400, -1}, .must_close = 1},
    {"chunk size overflowing 64 bits", .text = RAW_POST("Transfer-Encoding: chunked\r\n",
                                                        "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
     .statuses = {400, 413, -1}, .must_close = 1},
    {"Content-Length and Transfer-Encoding", .text = RAW_POST("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                                                              "0\r\n\r\n"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"GET with Content-Length and Transfer-Encoding",
     .text = "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"two different Content-Lengths", .text = RAW_POST("Content-Length: 2\r\nContent-Length: 40\r\n",
                                                       "{}{\"source\":\"CLI\",\"event\":\"%MARK%\"}"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"Transfer-Encoding other than chunked", .text = RAW_POST("Transfer-Encoding: gzip, chunked\r\n",
                                                              "2\r\n{}\r\n0\r\n\r\n"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"Transfer-Encoding twice", .text = RAW_POST("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                                 "2\r\n{}\r\n0\r\n\r\n"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"negative Content-Length", .text = RAW_POST("Content-Length: -1\r\n", "{}"), .statuses = {400, -1},
     .must_close = 1},
    {"Content-Length not a number", .text = RAW_POST("Content-Length: 2x\r\n", "{}"), .statuses = {400, -1},
     .must_close = 1},
    {"Content-Length above --max-body, no body sent", .text = RAW_POST("Content-Length: 2000000\r\n", ""),
     .statuses = {413}, .error = "body too large", .must_close = 1},
    {"Content-Length of 2^64+", .text = RAW_POST("Content-Length: 99999999999999999999999\r\n", ""),
     .statuses = {413, 400, -1}, .must_close = 1},
    {"Expect: 100-continue above --max-body",
     .text = RAW_POST("Expect: 100-continue\r\nContent-Length: 2000000\r\n", ""), .statuses = {413},
     .error = "body too large", .must_close = 1},
    {"chunked body over --max-body", .build = chunked_2mib, .statuses = {413}, .error = "body too large"},
    /* RFC 9110: a NUL in a field value is refused (or read as a space, which
     * makes two tokens: 401). libmicrohttpd up to 0.9.75 cuts the value at
     * the NUL and gives no way to see past it, so the gateway sees the bare
     * key: then the body's missing tenant is refused (403), and nothing is
     * produced either way. */
#if MHD_VERSION <= 0x00097500
    {"NUL in the Authorization header", .build = nul_in_authorization, .statuses = {401, 400, -1, 403},
     .error = NULL},
#else
    {"NUL in the Authorization header", .build = nul_in_authorization, .statuses = {401, 400, -1}},
#endif
    {"dot segments in the path",
     .text = "POST /v1/usage/../product/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}",
     .statuses = {404}, .error = "not found"},
    {"absolute-form target",
     .text = "POST http://%MARK%" PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}",
     .statuses = {404, 400}},
};

static void run_raw_case(const raw_case_t *c)
{
    size_t len;
    char *req = c->build ? c->build(&len) : expand(c->text, &len);
    int fd = raw_connect();
    raw_send(fd, req, len);
    /* Under the idle timeout: an answer that needs the timeout is no answer. */
    raw_answer_t a = raw_read(fd, (TIMEOUT_S * 1000) - 500);
    int ok = 0;
    for (int i = 0; i < 4 && c->statuses[i]; i++)
        if (c->statuses[i] == a.status || (c->statuses[i] == -1 && a.status == 0 && a.closed))
            ok = 1;
    cr_expect(ok, "%s: status %d (closed: %d): %.300s", c->name, a.status, a.closed, a.text);
    expect_no_secret(c->name, a.text);
    if (c->error && a.status != 0) {
        const char *ct = strcasestr(a.text, "\r\nContent-Type:");
        char ctype[64] = "";
        if (ct)
            sscanf(ct + 15, " %63[^\r\n]", ctype);
        expect_error_body(c->name, a.status, a.body, ctype, a.status, c->error, NULL, 0);
    }
    if (c->must_close && !a.closed)
        cr_expect(raw_closed_within(fd, 1000), "%s: the connection stays open after the answer", c->name);
    close(fd);
    free(a.text);
    free(req);
    expect_healthy(c->name);
}

/* A partial request line and header: the gateway goes on serving others, and
 * cuts the slow one off after --timeout. */
static void slow_loris(void)
{
    int fds[8];
    long long start = tally_test_mono_ms();
    for (int i = 0; i < 8; i++) {
        fds[i] = raw_connect();
        const char *partial = "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nX-Slow: " MARK;
        raw_send(fds[i], partial, strlen(partial));
    }
    for (int i = 0; i < 5; i++)
        expect_healthy("a slow client opened its connections");
    for (int i = 0; i < 8; i++) {
        cr_expect(raw_closed_within(fds[i], TIMEOUT_S * 1000 + 4000), "slow loris %d: still open after %lld ms", i,
                  tally_test_mono_ms() - start);
        close(fds[i]);
    }
    long long took = tally_test_mono_ms() - start;
    cr_expect(took >= TIMEOUT_S * 1000 - 500, "slow connections cut after %lld ms, before --timeout", took);
    cr_expect(took <= TIMEOUT_S * 1000 + 4000, "slow connections cut after %lld ms", took);

    /* A request whose body stops half way is cut off too, and answered nothing. */
    int fd = raw_connect();
    const char *half = "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{\"source\":\"" MARK;
    raw_send(fd, half, strlen(half));
    start = tally_test_mono_ms();
    raw_answer_t a = raw_read(fd, TIMEOUT_S * 1000 + 4000);
    cr_expect(a.closed && a.status == 0, "half a body: status %d, closed %d after %lld ms", a.status, a.closed,
              tally_test_mono_ms() - start);
    close(fd);
    free(a.text);
    expect_healthy("slow clients");
}

Test(gateway_hostile, raw_requests_are_refused_and_nothing_is_produced)
{
    hostile_start();
    cr_assert_gt(sizeof raw_cases / sizeof raw_cases[0], 20);
    for (size_t i = 0; i < sizeof raw_cases / sizeof raw_cases[0]; i++)
        run_raw_case(&raw_cases[i]);
    slow_loris();
    hostile_finish();
}
