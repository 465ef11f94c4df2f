#include "client_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static int digits(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return atoi(s) <= 65535;
}

int tally_client_addr_parse(const char *s, size_t len, struct sockaddr_storage *out)
{
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *host = buf;
    if (buf[0] == '[') {            /* [IPv6] or [IPv6]:port */
        char *close = strchr(buf, ']');
        if (close == NULL || (close[1] != '\0' && (close[1] != ':' || !digits(close + 2, strlen(close + 2)))))
            return -1;
        *close = '\0';
        host = buf + 1;
    } else {
        char *colon = strchr(buf, ':');
        if (colon && strchr(colon + 1, ':') == NULL) {   /* IPv4:port (one colon only) */
            if (!digits(colon + 1, strlen(colon + 1)))
                return -1;
            *colon = '\0';
        }
    }
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (strchr(host, ':') == NULL && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

static void copy_peer(const struct sockaddr *peer, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (peer == NULL)
        out->ss_family = AF_UNSPEC;
    else if (peer->sa_family == AF_INET)
        memcpy(out, peer, sizeof(struct sockaddr_in));
    else if (peer->sa_family == AF_INET6)
        memcpy(out, peer, sizeof(struct sockaddr_in6));
    else
        out->ss_family = AF_UNSPEC;
}

int tally_client_addr_resolve(const struct sockaddr *peer, const char *const *lines, size_t n, int trusted,
                              struct sockaddr_storage *out)
{
    copy_peer(peer, out);
    if (trusted <= 0)
        return TALLY_CLIENT_ADDR_PEER;
    int seen = 0;
    struct sockaddr_storage entry;
    /* Right to left: the last line's last entry first. */
    for (size_t l = n; l-- > 0 && seen < trusted;) {
        const char *line = lines[l];
        size_t end = strlen(line);
        while (seen < trusted) {
            size_t start = end;
            while (start > 0 && line[start - 1] != ',')
                start--;
            const char *s = line + start;
            size_t len = end - start;
            size_t blank = strspn(s, " \t");
            if (blank < len) {          /* not an empty entry */
                if (tally_client_addr_parse(s, len, &entry) != 0) {
                    copy_peer(peer, out);
                    return TALLY_CLIENT_ADDR_MALFORMED;
                }
                *out = entry;
                seen++;
            }
            if (start == 0)
                break;
            end = start - 1;            /* before the comma */
        }
    }
    return seen > 0 ? TALLY_CLIENT_ADDR_FORWARDED : TALLY_CLIENT_ADDR_PEER;
}
