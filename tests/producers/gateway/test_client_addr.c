/* client_addr: the client address behind N trusted proxies, from every
 * X-Forwarded-For line. */
#include "client_addr.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

static struct sockaddr_in peer;

static void setup(void)
{
    memset(&peer, 0, sizeof peer);
    peer.sin_family = AF_INET;
    inet_pton(AF_INET, "10.0.0.1", &peer.sin_addr);
}

TestSuite(client_addr, .init = setup);

/* The resolved address as text, and the result. */
static int resolve(const char *const *lines, size_t n, int trusted, char *text)
{
    struct sockaddr_storage out;
    int rc = tally_client_addr_resolve((struct sockaddr *)&peer, lines, n, trusted, &out);
    if (out.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&out)->sin_addr, text, 64);
    else if (out.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&out)->sin6_addr, text, 64);
    else
        strcpy(text, "?");
    return rc;
}

#define EXPECT(lines, trusted, want, want_rc)                                                                   \
    do {                                                                                                        \
        char got[64];                                                                                           \
        int rc = resolve(lines, sizeof lines / sizeof lines[0], trusted, got);                                  \
        cr_expect_str_eq(got, want, "trusted=%d", trusted);                                                     \
        cr_expect_eq(rc, want_rc, "trusted=%d: result %d", trusted, rc);                                        \
    } while (0)

Test(client_addr, no_trusted_proxy_means_the_socket_address)
{
    const char *lines[] = {"203.0.113.7"};
    EXPECT(lines, 0, "10.0.0.1", TALLY_CLIENT_ADDR_PEER);
    char got[64];
    cr_expect_eq(resolve(NULL, 0, 1, got), TALLY_CLIENT_ADDR_PEER);
    cr_expect_str_eq(got, "10.0.0.1", "no X-Forwarded-For: the peer");
}

Test(client_addr, rightmost_entry_across_all_lines)
{
    const char *lines[] = {"198.51.100.1, 198.51.100.2", "203.0.113.7"};
    EXPECT(lines, 1, "203.0.113.7", TALLY_CLIENT_ADDR_FORWARDED);
    const char *joined[] = {"198.51.100.1", "198.51.100.2, 203.0.113.7"};
    EXPECT(joined, 1, "203.0.113.7", TALLY_CLIENT_ADDR_FORWARDED);
}

Test(client_addr, spoofed_leftmost_entries_are_ignored)
{
    const char *lines[] = {"1.1.1.1, 2.2.2.2, 3.3.3.3, 203.0.113.7, 192.0.2.9"};
    EXPECT(lines, 1, "192.0.2.9", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 2, "203.0.113.7", TALLY_CLIENT_ADDR_FORWARDED);
}

Test(client_addr, n_th_entry_from_the_right_across_lines)
{
    const char *lines[] = {"1.1.1.1", "203.0.113.7, 192.0.2.1", "192.0.2.2"};
    EXPECT(lines, 1, "192.0.2.2", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 2, "192.0.2.1", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 3, "203.0.113.7", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 4, "1.1.1.1", TALLY_CLIENT_ADDR_FORWARDED);
}

Test(client_addr, fewer_entries_than_trusted_proxies_gives_the_leftmost)
{
    const char *lines[] = {"203.0.113.7, 192.0.2.1"};
    EXPECT(lines, 5, "203.0.113.7", TALLY_CLIENT_ADDR_FORWARDED);
}

Test(client_addr, empty_entries_are_skipped)
{
    const char *lines[] = {"203.0.113.7, ,", "", " , 192.0.2.1 ,"};
    EXPECT(lines, 1, "192.0.2.1", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 2, "203.0.113.7", TALLY_CLIENT_ADDR_FORWARDED);
    const char *blank[] = {" , ,"};
    EXPECT(blank, 1, "10.0.0.1", TALLY_CLIENT_ADDR_PEER);
}

Test(client_addr, malformed_entries_fall_back_to_the_peer)
{
    const char *lines[] = {"203.0.113.7, unknown"};
    EXPECT(lines, 1, "10.0.0.1", TALLY_CLIENT_ADDR_MALFORMED);
    EXPECT(lines, 2, "10.0.0.1", TALLY_CLIENT_ADDR_MALFORMED);
    /* A malformed entry left of the one read does not matter. */
    const char *left[] = {"999.1.1.1, <script>, 203.0.113.7"};
    EXPECT(left, 1, "203.0.113.7", TALLY_CLIENT_ADDR_FORWARDED);
    const char *bad[] = {"1.2.3", "1.2.3.4.5", "1.2.3.4:99999", "[::1", "::1]", "2001:db8::1:80:", "a b",
                         "1.2.3.4 5.6.7.8", "0x7f.0.0.1", "203.0.113.7;", "[1.2.3.4]x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sockaddr_storage out;
        cr_expect_eq(tally_client_addr_parse(bad[i], strlen(bad[i]), &out), -1, "%s parsed", bad[i]);
    }
}

Test(client_addr, ipv6_entries_and_ports)
{
    const char *lines[] = {"2001:db8::1, [2001:db8::2]:4711, 192.0.2.3:8080, [2001:db8::4]"};
    EXPECT(lines, 1, "2001:db8::4", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 2, "192.0.2.3", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 3, "2001:db8::2", TALLY_CLIENT_ADDR_FORWARDED);
    EXPECT(lines, 4, "2001:db8::1", TALLY_CLIENT_ADDR_FORWARDED);
    const char *mapped[] = {"::ffff:192.0.2.5"};
    EXPECT(mapped, 1, "::ffff:192.0.2.5", TALLY_CLIENT_ADDR_FORWARDED);
}
