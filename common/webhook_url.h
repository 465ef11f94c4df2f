/*
 * webhook_url.h: which URLs a webhook may be sent to (the gateway checks
 * the syntax when an endpoint is set; tally-webhooks checks again and
 * resolves at every delivery), against server-side request forgery.
 *
 * Syntax (tally_webhook_url_check), everything else refused with a reason:
 * - at most TALLY_WEBHOOK_URL_MAX bytes of printable ASCII: no control
 *   character, space, backslash or byte >= 0x80 (an internationalised
 *   host is given in its xn-- form); '%' only as %XX;
 * - "https://" (either case); "http://" only to a loopback literal and only
 *   with TALLY_WEBHOOK_URL_ALLOW_LOOPBACK (local mode);
 * - no user information ("user:pass@"): credentials never sit in a URL;
 * - the host is a DNS name (labels of a-z 0-9 '-', 1..63 each, 253 in
 *   all, an optional final dot), a dotted-quad IPv4 address written
 *   canonically (four decimal numbers 0..255, no leading zero), or an IPv6
 *   address in brackets without a zone. Other spellings that resolvers
 *   take for addresses (2130706433, 0x7f.1, 0177.0.0.1, 127.1) are
 *   refused, so what is checked is what is connected to;
 * - "localhost" and names under ".localhost" are refused (they are
 *   loopback by definition; use a literal);
 * - a literal address must be allowed (below);
 * - an optional port 1..65535; no fragment ('#').
 *
 * Addresses (tally_webhook_addr_classify): public ones are always allowed.
 * Loopback (127/8, ::1) needs TALLY_WEBHOOK_URL_ALLOW_LOOPBACK or
 * TALLY_WEBHOOK_URL_ALLOW_PRIVATE; private (10/8, 172.16/12, 192.168/16,
 * fec0::/10, 64:ff9b:1::/48), shared/CGNAT (100.64/10), link-local
 * (169.254/16, fe80::/10, which holds the cloud metadata services),
 * unique-local (fc00::/7) and reserved ranges (documentation,
 * benchmarking, 240/4, 2001::/23, 100::/64, IPv4-compatible ::a.b.c.d)
 * need TALLY_WEBHOOK_URL_ALLOW_PRIVATE; unspecified (0/8, ::) and
 * multicast (224/4, ff00::/8, 255.255.255.255) are never allowed. An IPv6
 * address that embeds an IPv4 one (::ffff:a.b.c.d, 64:ff9b::a.b.c.d,
 * 2002:AABB:CCDD::/48) is judged by the IPv4 address.
 *
 * Delivery (tally_webhook_url_pin): the host is resolved once; if ANY
 * address is not allowed the URL is refused; otherwise the addresses
 * are returned as a CURLOPT_RESOLVE entry "host:port:addr[,addr...]" so
 * that libcurl connects to exactly the checked addresses (a second DNS
 * answer, a rebind, cannot change them). The caller also sets
 * CURLOPT_FOLLOWLOCATION 0 and CURLOPT_PROTOCOLS_STR to the URL's scheme.
 *
 * Messages never contain the URL's path or query (they may carry tokens)
 * nor the addresses (logs carry no IP addresses): only the class refused.
 */
#ifndef TALLY_COMMON_WEBHOOK_URL_H
#define TALLY_COMMON_WEBHOOK_URL_H

#include <stddef.h>
#include <sys/socket.h>

#define TALLY_WEBHOOK_URL_MAX 2048
#define TALLY_WEBHOOK_HOST_MAX 253
/* A CURLOPT_RESOLVE entry: host, port, and up to TALLY_WEBHOOK_PIN_ADDRS addresses. */
#define TALLY_WEBHOOK_PIN_ADDRS 8
#define TALLY_WEBHOOK_PIN_SIZE (TALLY_WEBHOOK_HOST_MAX + 8 + TALLY_WEBHOOK_PIN_ADDRS * 48)

enum {
    TALLY_WEBHOOK_URL_ALLOW_LOOPBACK = 1, /* http:// and https:// to loopback (local mode) */
    TALLY_WEBHOOK_URL_ALLOW_PRIVATE = 2,  /* --allow-private-addresses */
};

typedef enum tally_webhook_addr_class_t {
    TALLY_WEBHOOK_ADDR_PUBLIC = 0,
    TALLY_WEBHOOK_ADDR_LOOPBACK,
    TALLY_WEBHOOK_ADDR_PRIVATE,
    TALLY_WEBHOOK_ADDR_SHARED,
    TALLY_WEBHOOK_ADDR_LINK_LOCAL,
    TALLY_WEBHOOK_ADDR_UNIQUE_LOCAL,
    TALLY_WEBHOOK_ADDR_RESERVED,
    TALLY_WEBHOOK_ADDR_UNSPECIFIED,
    TALLY_WEBHOOK_ADDR_MULTICAST,
} tally_webhook_addr_class_t;

typedef struct tally_webhook_url_t {
    int https;                               /* 1 https, 0 http */
    char host[TALLY_WEBHOOK_HOST_MAX + 1];   /* lower case, IPv6 without brackets */
    int port;                                /* explicit, or 443 / 80 */
    int literal;                             /* 4 or 6 for an address, 0 for a name */
} tally_webhook_url_t;

/* Checks url (borrowed, NUL-terminated) against the syntax and, for a
 * literal host, the address rules above, under flags. Returns 0 with *out
 * filled, or -1 with errbuf saying why. */
int tally_webhook_url_check(const char *url, unsigned flags, tally_webhook_url_t *out, char *errbuf,
                            size_t errsize) __attribute__((warn_unused_result));

/* The class of an AF_INET or AF_INET6 address (anything else: reserved). */
tally_webhook_addr_class_t tally_webhook_addr_classify(const struct sockaddr *sa);

/* Whether an address of class c may be connected to under flags. */
int tally_webhook_addr_allowed(tally_webhook_addr_class_t c, unsigned flags);

/* "loopback", "private", ... (static). */
const char *tally_webhook_addr_class_name(tally_webhook_addr_class_t c);

/* Resolves u's host (blocking getaddrinfo) and checks every address under
 * flags. Returns 0 with pin holding the CURLOPT_RESOLVE entry (an empty
 * string for a literal host, which libcurl does not resolve), -1 with
 * errbuf when the name does not resolve (may be transient), or -2 with
 * errbuf when it resolves to a refused class (the policy: permanent). */
int tally_webhook_url_pin(const tally_webhook_url_t *u, unsigned flags, char pin[TALLY_WEBHOOK_PIN_SIZE],
                          char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif /* TALLY_COMMON_WEBHOOK_URL_H */
