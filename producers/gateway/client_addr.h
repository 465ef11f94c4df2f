#ifndef TALLY_GATEWAY_CLIENT_ADDR_H
#define TALLY_GATEWAY_CLIENT_ADDR_H

/* The address a request comes from, behind a known number of trusted
 * proxies (--trusted-proxies=N), the way Express's `trust proxy = N` and
 * nginx's real_ip_recursive read X-Forwarded-For:
 *
 *   - the entries of every X-Forwarded-For line, in the order received,
 *     make one list (RFC 9110 section 5.3); empty entries are skipped;
 *   - N = 0: the socket's peer address; X-Forwarded-For is ignored;
 *   - N >= 1: the socket's peer is the first trusted proxy, and each
 *     proxy appends the address it received the request from, so the
 *     client is the N-th entry from the right. With fewer entries than N,
 *     the leftmost (the request came through fewer proxies; every entry
 *     was still written by one of ours);
 *   - the entries read (the chosen one and those right of it) must be IP
 *     addresses: IPv4 or IPv6, optionally [IPv6], [IPv6]:port or
 *     IPv4:port; otherwise the peer address is used (a proxy that appends
 *     garbage is misconfigured, and the entries left of it are the
 *     client's to forge). */

#include <stddef.h>
#include <sys/socket.h>

/* Results of tally_client_addr_resolve. */
enum {
    TALLY_CLIENT_ADDR_PEER = 0,       /* the peer address (N = 0 or no entries) */
    TALLY_CLIENT_ADDR_FORWARDED = 1,  /* from X-Forwarded-For */
    TALLY_CLIENT_ADDR_MALFORMED = 2,  /* an entry read was not an address: the peer's */
};

/* Resolves into *out the client address of a request from peer (borrowed,
 * may be NULL: *out is then AF_UNSPEC) whose X-Forwarded-For lines are
 * lines[0..n) (borrowed, in the order received), behind trusted proxies. */
int tally_client_addr_resolve(const struct sockaddr *peer, const char *const *lines, size_t n, int trusted,
                              struct sockaddr_storage *out);

/* Parses one entry s[0..len) (spaces around it allowed) as above; returns 0
 * or -1. */
int tally_client_addr_parse(const char *s, size_t len, struct sockaddr_storage *out);

#endif
