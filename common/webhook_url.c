#include "webhook_url.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errbuf.h"

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ---- address classes ---- */

static tally_webhook_addr_class_t classify_v4(uint32_t a)
{
    uint32_t b1 = a >> 24, b2 = (a >> 16) & 0xff, b3 = (a >> 8) & 0xff;
    if (b1 == 0)
        return TALLY_WEBHOOK_ADDR_UNSPECIFIED;
    if (b1 == 127)
        return TALLY_WEBHOOK_ADDR_LOOPBACK;
    if (b1 == 10 || (b1 == 172 && (b2 & 0xf0) == 16) || (b1 == 192 && b2 == 168))
        return TALLY_WEBHOOK_ADDR_PRIVATE;
    if (b1 == 100 && (b2 & 0xc0) == 64)
        return TALLY_WEBHOOK_ADDR_SHARED;
    if (b1 == 169 && b2 == 254)
        return TALLY_WEBHOOK_ADDR_LINK_LOCAL;
    if (b1 >= 224 && b1 <= 239)
        return TALLY_WEBHOOK_ADDR_MULTICAST;
    if (a == 0xffffffffu)
        return TALLY_WEBHOOK_ADDR_MULTICAST; /* limited broadcast */
    if (b1 >= 240 || (b1 == 192 && b2 == 0 && (b3 == 0 || b3 == 2)) || (b1 == 198 && (b2 & 0xfe) == 18) ||
        (b1 == 198 && b2 == 51 && b3 == 100) || (b1 == 203 && b2 == 0 && b3 == 113))
        return TALLY_WEBHOOK_ADDR_RESERVED;
    return TALLY_WEBHOOK_ADDR_PUBLIC;
}

static uint32_t v4_at(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static tally_webhook_addr_class_t classify_v6(const unsigned char *b)
{
    static const unsigned char zero[16];
    if (memcmp(b, zero, 16) == 0)
        return TALLY_WEBHOOK_ADDR_UNSPECIFIED;
    if (memcmp(b, zero, 15) == 0 && b[15] == 1)
        return TALLY_WEBHOOK_ADDR_LOOPBACK;
    if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) /* ::ffff:a.b.c.d */
        return classify_v4(v4_at(b + 12));
    if (memcmp(b, zero, 12) == 0) /* ::a.b.c.d, deprecated */
        return TALLY_WEBHOOK_ADDR_RESERVED;
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(b, nat64, 12) == 0)
        return classify_v4(v4_at(b + 12));
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1)
        return TALLY_WEBHOOK_ADDR_PRIVATE; /* 64:ff9b:1::/48, local-use NAT64 */
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
        return classify_v4(v4_at(b + 2));
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) /* 2001::/23: Teredo, ORCHID, ... */
        return TALLY_WEBHOOK_ADDR_RESERVED;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* documentation */
        return TALLY_WEBHOOK_ADDR_RESERVED;
    if (b[0] == 0x01 && b[1] == 0x00 && memcmp(b + 2, zero, 6) == 0) /* 100::/64, discard */
        return TALLY_WEBHOOK_ADDR_RESERVED;
    if ((b[0] & 0xfe) == 0xfc)
        return TALLY_WEBHOOK_ADDR_UNIQUE_LOCAL;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return TALLY_WEBHOOK_ADDR_LINK_LOCAL;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return TALLY_WEBHOOK_ADDR_PRIVATE; /* site-local, deprecated */
    if (b[0] == 0xff)
        return TALLY_WEBHOOK_ADDR_MULTICAST;
    return TALLY_WEBHOOK_ADDR_PUBLIC;
}

tally_webhook_addr_class_t tally_webhook_addr_classify(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return classify_v4(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return classify_v6(in6->sin6_addr.s6_addr);
    }
    return TALLY_WEBHOOK_ADDR_RESERVED;
}

int tally_webhook_addr_allowed(tally_webhook_addr_class_t c, unsigned flags)
{
    switch (c) {
    case TALLY_WEBHOOK_ADDR_PUBLIC:
        return 1;
    case TALLY_WEBHOOK_ADDR_LOOPBACK:
        return (flags & (TALLY_WEBHOOK_URL_ALLOW_LOOPBACK | TALLY_WEBHOOK_URL_ALLOW_PRIVATE)) != 0;
    case TALLY_WEBHOOK_ADDR_UNSPECIFIED:
    case TALLY_WEBHOOK_ADDR_MULTICAST:
        return 0;
    default:
        return (flags & TALLY_WEBHOOK_URL_ALLOW_PRIVATE) != 0;
    }
}

const char *tally_webhook_addr_class_name(tally_webhook_addr_class_t c)
{
    static const char *const names[] = {"public",     "loopback",     "private",  "shared (CGNAT)", "link-local",
                                        "unique-local", "reserved", "unspecified", "multicast"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "unknown";
}

/* ---- syntax ---- */

/* Whether host[0..n) looks numeric to a resolver: its last label is all
 * digits or 0x-hex (inet_aton's forms). */
static int numeric_form(const char *host, size_t n)
{
    if (n > 0 && host[n - 1] == '.')
        n--;
    size_t at = n;
    while (at > 0 && host[at - 1] != '.')
        at--;
    const char *l = host + at;
    size_t ln = n - at;
    if (ln == 0)
        return 0;
    size_t i = 0;
    if (ln > 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
        for (i = 2; i < ln && is_hex(l[i]); i++)
            ;
        return i == ln;
    }
    for (i = 0; i < ln && is_digit(l[i]); i++)
        ;
    return i == ln;
}

/* Canonical dotted quad: four parts 0..255 in decimal, no leading zero. */
static int parse_dotted_quad(const char *host, size_t n, struct in_addr *out)
{
    unsigned parts[4];
    size_t i = 0;
    for (int p = 0; p < 4; p++) {
        if (p > 0) {
            if (i >= n || host[i] != '.')
                return -1;
            i++;
        }
        size_t at = i;
        unsigned v = 0;
        while (i < n && is_digit(host[i]) && i - at < 3)
            v = v * 10 + (unsigned)(host[i++] - '0');
        if (i == at || v > 255 || (i - at > 1 && host[at] == '0'))
            return -1;
        parts[p] = v;
    }
    if (i != n)
        return -1;
    out->s_addr = htonl((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]);
    return 0;
}

static int valid_name(const char *host, size_t n)
{
    if (n > 0 && host[n - 1] == '.')
        n--;
    if (n == 0 || n > TALLY_WEBHOOK_HOST_MAX)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? host[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || host[i - 1] == '-' || host[i - label] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-') {
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

static int is_localhost_name(const char *host)
{
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--;
    return (n == 9 && strncmp(host, "localhost", 9) == 0) ||
           (n > 10 && strncmp(host + n - 10, ".localhost", 10) == 0);
}

static int check_literal(const struct sockaddr *sa, unsigned flags, char *errbuf, size_t errsize)
{
    tally_webhook_addr_class_t c = tally_webhook_addr_classify(sa);
    if (tally_webhook_addr_allowed(c, flags))
        return 0;
    tally_errbuf_set(errbuf, errsize, "the host is a %s address, which webhooks are not sent to%s",
                     tally_webhook_addr_class_name(c),
                     c == TALLY_WEBHOOK_ADDR_UNSPECIFIED || c == TALLY_WEBHOOK_ADDR_MULTICAST
                         ? ""
                         : " (unless --allow-private-addresses)");
    return -1;
}

/* The host part host[0..n) (brackets included for IPv6) into out. */
static int check_host(const char *host, size_t n, unsigned flags, tally_webhook_url_t *out, char *errbuf,
                      size_t errsize)
{
    if (n == 0) {
        tally_errbuf_set(errbuf, errsize, "the URL has no host");
        return -1;
    }
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']' || n - 2 > 45) {
            tally_errbuf_set(errbuf, errsize, "an IPv6 host is written in brackets: https://[2001:db8::1]/");
            return -1;
        }
        char text[48];
        memcpy(text, host + 1, n - 2);
        text[n - 2] = '\0';
        struct sockaddr_in6 sa6;
        memset(&sa6, 0, sizeof sa6);
        sa6.sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, text, &sa6.sin6_addr) != 1) {
            tally_errbuf_set(errbuf, errsize, "the host is not an IPv6 address (zones are not accepted)");
            return -1;
        }
        if (check_literal((const struct sockaddr *)&sa6, flags, errbuf, errsize) != 0)
            return -1;
        for (size_t i = 0; i + 1 < sizeof text && text[i]; i++)
            out->host[i] = lower(text[i]);
        out->host[n - 2] = '\0';
        out->literal = 6;
        return 0;
    }
    if (numeric_form(host, n)) {
        struct sockaddr_in sa4;
        memset(&sa4, 0, sizeof sa4);
        sa4.sin_family = AF_INET;
        if (parse_dotted_quad(host, n, &sa4.sin_addr) != 0) {
            tally_errbuf_set(errbuf, errsize,
                             "an IPv4 host is written as four decimal numbers 0-255 without leading zeros");
            return -1;
        }
        if (check_literal((const struct sockaddr *)&sa4, flags, errbuf, errsize) != 0)
            return -1;
        memcpy(out->host, host, n);
        out->host[n] = '\0';
        out->literal = 4;
        return 0;
    }
    if (!valid_name(host, n)) {
        tally_errbuf_set(errbuf, errsize,
                         "the host is not a DNS name (labels of a-z 0-9 -, at most 63 each and %d in all; "
                         "internationalised names in their xn-- form)",
                         TALLY_WEBHOOK_HOST_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out->host[i] = lower(host[i]);
    out->host[n] = '\0';
    if (is_localhost_name(out->host)) {
        tally_errbuf_set(errbuf, errsize, "localhost names are refused (loopback); use 127.0.0.1 in local mode");
        return -1;
    }
    out->literal = 0;
    return 0;
}

static int is_loopback_literal(const tally_webhook_url_t *u)
{
    if (u->literal == 4)
        return strncmp(u->host, "127.", 4) == 0;
    if (u->literal == 6) {
        unsigned char b[16];
        return inet_pton(AF_INET6, u->host, b) == 1 && classify_v6(b) == TALLY_WEBHOOK_ADDR_LOOPBACK;
    }
    return 0;
}

int tally_webhook_url_check(const char *url, unsigned flags, tally_webhook_url_t *out, char *errbuf,
                            size_t errsize)
{
    memset(out, 0, sizeof *out);
    size_t len = strnlen(url, TALLY_WEBHOOK_URL_MAX + 1);
    if (len == 0) {
        tally_errbuf_set(errbuf, errsize, "the URL is empty");
        return -1;
    }
    if (len > TALLY_WEBHOOK_URL_MAX) {
        tally_errbuf_set(errbuf, errsize, "the URL is longer than %d bytes", TALLY_WEBHOOK_URL_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            tally_errbuf_set(errbuf, errsize,
                             "the URL holds a control character, space, backslash or non-ASCII byte at %zu", i);
            return -1;
        }
        if (c == '#') {
            tally_errbuf_set(errbuf, errsize, "the URL has a fragment ('#'), which is never sent");
            return -1;
        }
        if (c == '%' && !(i + 2 < len && is_hex(url[i + 1]) && is_hex(url[i + 2]))) {
            tally_errbuf_set(errbuf, errsize, "a '%%' in the URL is not followed by two hex digits");
            return -1;
        }
    }
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->https = 1;
        out->port = 443;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        out->https = 0;
        out->port = 80;
        p = url + 7;
    } else {
        tally_errbuf_set(errbuf, errsize, "only https:// URLs are accepted");
        return -1;
    }
    const char *end = p + strcspn(p, "/?");
    if (memchr(p, '@', (size_t)(end - p)) != NULL) {
        tally_errbuf_set(errbuf, errsize, "credentials in the URL (user@ or user:password@) are refused");
        return -1;
    }
    const char *host_end = end;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        host_end = rb ? rb + 1 : end;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon != NULL)
            host_end = colon;
    }
    if (host_end < end) {
        if (*host_end != ':' || host_end + 1 == end || end - host_end - 1 > 5) {
            tally_errbuf_set(errbuf, errsize, "the port is a number 1-65535");
            return -1;
        }
        long port = 0;
        for (const char *q = host_end + 1; q < end; q++) {
            if (!is_digit(*q)) {
                tally_errbuf_set(errbuf, errsize, "the port is a number 1-65535");
                return -1;
            }
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535) {
            tally_errbuf_set(errbuf, errsize, "the port is a number 1-65535");
            return -1;
        }
        out->port = (int)port;
    }
    if (check_host(p, (size_t)(host_end - p), flags, out, errbuf, errsize) != 0)
        return -1;
    if (!out->https && !((flags & TALLY_WEBHOOK_URL_ALLOW_LOOPBACK) && is_loopback_literal(out))) {
        tally_errbuf_set(errbuf, errsize,
                         "only https:// URLs are accepted (http:// only to a loopback address in local mode)");
        return -1;
    }
    return 0;
}

/* ---- resolution and pinning ---- */

int tally_webhook_url_pin(const tally_webhook_url_t *u, unsigned flags, char pin[TALLY_WEBHOOK_PIN_SIZE],
                          char *errbuf, size_t errsize)
{
    pin[0] = '\0';
    if (u->literal != 0)
        return 0; /* checked by tally_webhook_url_check; libcurl resolves nothing */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, NULL, &hints, &res);
    if (rc != 0) {
        tally_errbuf_set(errbuf, errsize, "the host does not resolve: %s", gai_strerror(rc));
        return -1;
    }
    int n = snprintf(pin, TALLY_WEBHOOK_PIN_SIZE, "%s:%d:", u->host, u->port);
    int addrs = 0;
    char seen[TALLY_WEBHOOK_PIN_ADDRS][INET6_ADDRSTRLEN];
    rc = 0;
    for (struct addrinfo *ai = res; ai != NULL && rc == 0; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        tally_webhook_addr_class_t c = tally_webhook_addr_classify(ai->ai_addr);
        if (!tally_webhook_addr_allowed(c, flags)) {
            tally_errbuf_set(errbuf, errsize, "the host resolves to a %s address, which webhooks are not sent to",
                             tally_webhook_addr_class_name(c));
            rc = -2;
            break;
        }
        if (addrs == TALLY_WEBHOOK_PIN_ADDRS)
            continue; /* checked, not pinned: the first ones suffice */
        char text[INET6_ADDRSTRLEN];
        const void *a = ai->ai_family == AF_INET
                            ? (const void *)&((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr
                            : (const void *)&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
        inet_ntop(ai->ai_family, a, text, sizeof text);
        /* The same address may come more than once (one per protocol). */
        int dup = 0;
        for (int i = 0; i < addrs; i++)
            dup |= strcmp(seen[i], text) == 0;
        if (dup)
            continue;
        memcpy(seen[addrs], text, sizeof text);
        n += snprintf(pin + n, (size_t)(TALLY_WEBHOOK_PIN_SIZE - n), ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                      addrs ? "," : "", text);
        addrs++;
    }
    freeaddrinfo(res);
    if (rc == 0 && addrs == 0) {
        tally_errbuf_set(errbuf, errsize, "the host has no IPv4 or IPv6 address");
        rc = -1;
    }
    if (rc != 0)
        pin[0] = '\0';
    return rc;
}
