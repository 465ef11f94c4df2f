/* Unit tests of common/webhook_url: the webhook URL policy against
 * server-side request forgery. Hostile URLs (schemes, user information,
 * numeric IPv4 spellings, IPv6 literals including IPv4-mapped ones,
 * link-local, unique-local, metadata, CGNAT, unspecified, localhost names,
 * overlong, control characters, non-ASCII) are refused with a reason;
 * allowed ones parse into host and port; the resolve step refuses a name
 * that resolves to loopback and pins the checked addresses in a
 * CURLOPT_RESOLVE entry that libcurl accepts and connects to. */
#include "webhook_url.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOOP TALLY_WEBHOOK_URL_ALLOW_LOOPBACK
#define PRIV TALLY_WEBHOOK_URL_ALLOW_PRIVATE

static void refused(const char *url, unsigned flags, const char *why)
{
    tally_webhook_url_t u;
    char err[256] = "";
    cr_assert_neq(tally_webhook_url_check(url, flags, &u, err, sizeof err), 0, "accepted: %s", url);
    cr_assert_not_null(strstr(err, why), "%s: \"%s\" does not say \"%s\"", url, err, why);
}

static tally_webhook_url_t accepted(const char *url, unsigned flags)
{
    tally_webhook_url_t u;
    char err[256] = "";
    cr_assert_eq(tally_webhook_url_check(url, flags, &u, err, sizeof err), 0, "%s: %s", url, err);
    return u;
}

Test(webhook_url, https_names_are_accepted_with_host_and_port)
{
    tally_webhook_url_t u = accepted("https://Hooks.Example.com/tally?x=1", 0);
    cr_assert_eq(u.https, 1);
    cr_assert_str_eq(u.host, "hooks.example.com");
    cr_assert_eq(u.port, 443);
    cr_assert_eq(u.literal, 0);
    u = accepted("HTTPS://xn--bcher-kva.example:8443", 0);
    cr_assert_eq(u.port, 8443);
    u = accepted("https://93.184.216.34/a%20b", 0);
    cr_assert_eq(u.literal, 4);
    u = accepted("https://[2606:4700:4700::1111]:444/", 0);
    cr_assert_eq(u.literal, 6);
    cr_assert_str_eq(u.host, "2606:4700:4700::1111");
    cr_assert_eq(u.port, 444);
}

Test(webhook_url, other_schemes_are_refused)
{
    static const char *const urls[] = {"ftp://example.com/", "file:///etc/passwd", "gopher://example.com:70/",
                                       "javascript:alert(1)", "https:/example.com", "https:example.com",
                                       "//example.com/", "example.com", "dict://example.com:11211/"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        tally_webhook_url_t u;
        char err[256];
        cr_assert_neq(tally_webhook_url_check(urls[i], LOOP | PRIV, &u, err, sizeof err), 0, "%s", urls[i]);
    }
    refused("ftp://example.com/", 0, "https://");
}

Test(webhook_url, http_only_to_a_loopback_literal_in_local_mode)
{
    refused("http://example.com/", 0, "https://");
    refused("http://example.com/", LOOP, "https://");
    refused("http://127.0.0.1:8080/", 0, "loopback");
    refused("http://10.0.0.1/", LOOP | PRIV, "https://");
    tally_webhook_url_t u = accepted("http://127.0.0.1:8080/hook", LOOP);
    cr_assert_eq(u.https, 0);
    cr_assert_eq(u.port, 8080);
    cr_assert_str_eq(u.host, "127.0.0.1");
    u = accepted("http://[::1]/", LOOP);
    cr_assert_eq(u.port, 80);
    accepted("https://127.0.0.1/", LOOP);
}

Test(webhook_url, credentials_in_the_url_are_refused)
{
    refused("https://user:pass@example.com/", 0, "credentials");
    refused("https://user@example.com/", 0, "credentials");
    refused("https://example.com@10.0.0.1/", PRIV, "credentials");
    refused("https://@example.com/", 0, "credentials");
    /* An '@' after the authority is a path character. */
    accepted("https://example.com/a@b", 0);
}

Test(webhook_url, numeric_ipv4_spellings_are_refused)
{
    static const char *const urls[] = {
        "https://2130706433/",         /* 127.0.0.1 in decimal */
        "https://017700000001/",       /* in octal */
        "https://0x7f000001/",         /* in hex */
        "https://0x7f.0.0.1/",         /* hex part */
        "https://0177.0.0.1/",         /* octal part */
        "https://127.1/",              /* short form */
        "https://127.0.0.1.",          /* trailing dot */
        "https://256.1.1.1/",          /* out of range */
        "https://1.2.3.4.5/",          /* five parts */
        "https://93.184.216.034/",     /* leading zero in a public address */
        "https://3098093602/",         /* a public address in decimal: refused too */
        "https://example.0x10/",       /* a hex last label */
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++)
        refused(urls[i], LOOP | PRIV, "four decimal numbers");
}

Test(webhook_url, private_and_special_ipv4_literals_are_refused)
{
    refused("https://10.0.0.1/", 0, "private");
    refused("https://172.16.5.4/", 0, "private");
    refused("https://172.31.255.255/", 0, "private");
    refused("https://192.168.1.1/", 0, "private");
    refused("https://169.254.169.254/latest/meta-data/", 0, "link-local");
    refused("https://100.64.0.1/", 0, "CGNAT");
    refused("https://100.127.255.254/", 0, "CGNAT");
    refused("https://127.0.0.1/", 0, "loopback");
    refused("https://127.255.0.9/", 0, "loopback");
    refused("https://0.0.0.0/", 0, "unspecified");
    refused("https://0.0.0.0/", LOOP | PRIV, "unspecified");
    refused("https://224.0.0.1/", LOOP | PRIV, "multicast");
    refused("https://255.255.255.255/", LOOP | PRIV, "multicast");
    refused("https://192.0.2.1/", 0, "reserved");
    refused("https://198.18.0.1/", 0, "reserved");
    refused("https://240.0.0.1/", 0, "reserved");
    /* Neighbours of the ranges are public. */
    accepted("https://172.32.0.1/", 0);
    accepted("https://100.128.0.1/", 0);
    accepted("https://169.253.1.1/", 0);
    accepted("https://11.0.0.1/", 0);
    /* --allow-private-addresses. */
    accepted("https://10.0.0.1/", PRIV);
    accepted("https://169.254.169.254/", PRIV);
}

Test(webhook_url, ipv6_literals_are_judged_including_embedded_ipv4)
{
    refused("https://[::1]/", 0, "loopback");
    refused("https://[::]/", 0, "unspecified");
    refused("https://[::ffff:10.0.0.1]/", 0, "private");
    refused("https://[::ffff:127.0.0.1]/", 0, "loopback");
    refused("https://[::ffff:169.254.169.254]/", 0, "link-local");
    refused("https://[::ffff:a9fe:a9fe]/", 0, "link-local");
    refused("https://[64:ff9b::10.1.2.3]/", 0, "private");
    refused("https://[2002:0a00:0001::1]/", 0, "private");
    refused("https://[fe80::1]/", 0, "link-local");
    refused("https://[febf::1]/", 0, "link-local");
    refused("https://[fc00::1]/", 0, "unique-local");
    refused("https://[fd12:3456::1]/", 0, "unique-local");
    refused("https://[ff02::1]/", PRIV, "multicast");
    refused("https://[2001:db8::1]/", 0, "reserved");
    refused("https://[2001:0:4136:e378::1]/", 0, "reserved"); /* Teredo */
    refused("https://[::10.0.0.1]/", 0, "reserved");
    refused("https://[fe80::1%25eth0]/", PRIV, "zones");
    refused("https://[fe80::1%eth0]/", PRIV, "'%'");
    refused("https://[::1/", LOOP, "brackets");
    refused("https://::1/", LOOP, "port");
    refused("https://[example.com]/", 0, "IPv6");
    accepted("https://[::ffff:93.184.216.34]/", 0);
    accepted("https://[fe80::1]/", PRIV);
}

Test(webhook_url, localhost_names_are_refused)
{
    refused("https://localhost/", LOOP | PRIV, "localhost");
    refused("https://LOCALHOST:8443/", 0, "localhost");
    refused("https://localhost./", 0, "localhost");
    refused("https://api.localhost/", 0, "localhost");
    refused("http://localhost:8080/", LOOP, "localhost");
    accepted("https://localhost-monitor.example.com/", 0);
}

Test(webhook_url, malformed_overlong_and_non_ascii_urls_are_refused)
{
    char big[TALLY_WEBHOOK_URL_MAX + 64];
    strcpy(big, "https://example.com/");
    size_t n = strlen(big);
    memset(big + n, 'a', TALLY_WEBHOOK_URL_MAX - n);
    big[TALLY_WEBHOOK_URL_MAX] = '\0';
    accepted(big, 0);
    big[TALLY_WEBHOOK_URL_MAX] = 'a';
    big[TALLY_WEBHOOK_URL_MAX + 1] = '\0';
    refused(big, 0, "longer than 2048");
    refused("", 0, "empty");
    refused("https://example.com/\r\nX-Injected: 1", 0, "control character");
    refused("https://exa\tmple.com/", 0, "control character");
    refused("https://example.com/a b", 0, "space");
    refused("https://b\xc3\xbc" "cher.example/", 0, "non-ASCII");
    refused("https://example.com\\@10.0.0.1/", 0, "backslash");
    refused("https://example.com/#frag", 0, "fragment");
    refused("https://example.com/%zz", 0, "two hex digits");
    refused("https://example.com:0/", 0, "port");
    refused("https://example.com:65536/", 0, "port");
    refused("https://example.com:/", 0, "port");
    refused("https://example.com:443x/", 0, "port");
    refused("https://example.com:-1/", 0, "port");
    refused("https:///path", 0, "no host");
    refused("https://-bad.example.com/", 0, "DNS name");
    refused("https://bad-.example.com/", 0, "DNS name");
    refused("https://a..b.com/", 0, "DNS name");
    refused("https://under_score.example.com/", 0, "DNS name");
    char label[128] = "https://";
    memset(label + 8, 'a', 64);
    strcpy(label + 72, ".com/");
    refused(label, 0, "DNS name");
    char name[400] = "https://";
    for (int i = 0; i < 64; i++)
        strcat(name, "abc.");
    strcat(name, "com/");
    refused(name, 0, "DNS name");
}

Test(webhook_url, messages_never_carry_the_path_or_query)
{
    tally_webhook_url_t u;
    char err[256];
    cr_assert_neq(tally_webhook_url_check("https://10.0.0.1/hook?token=SECRETTOKEN", 0, &u, err, sizeof err), 0);
    cr_assert_null(strstr(err, "SECRETTOKEN"));
    cr_assert_null(strstr(err, "10.0.0.1"));
}

static tally_webhook_url_t name_url(const char *host, int port)
{
    tally_webhook_url_t u;
    memset(&u, 0, sizeof u);
    snprintf(u.host, sizeof u.host, "%s", host);
    u.port = port;
    u.https = 0;
    return u;
}

Test(webhook_url, a_name_resolving_to_loopback_is_refused_at_delivery)
{
    tally_webhook_url_t u = name_url("localhost", 8080);
    char pin[TALLY_WEBHOOK_PIN_SIZE], err[256] = "";
    cr_assert_eq(tally_webhook_url_pin(&u, 0, pin, err, sizeof err), -2);
    cr_assert_not_null(strstr(err, "resolves to a loopback address"), "%s", err);
    cr_assert_null(strstr(err, "127.0.0.1"), "%s", err);
    cr_assert_str_eq(pin, "");
}

Test(webhook_url, a_name_that_does_not_resolve_is_refused)
{
    tally_webhook_url_t u = name_url("no-such-host.invalid", 443);
    char pin[TALLY_WEBHOOK_PIN_SIZE], err[256] = "";
    cr_assert_eq(tally_webhook_url_pin(&u, LOOP | PRIV, pin, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "does not resolve"), "%s", err);
}

Test(webhook_url, literal_hosts_need_no_pin)
{
    tally_webhook_url_t u = accepted("http://127.0.0.1:9/", LOOP);
    char pin[TALLY_WEBHOOK_PIN_SIZE] = "x", err[256];
    cr_assert_eq(tally_webhook_url_pin(&u, LOOP, pin, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(pin, "");
}

static size_t discard(char *p, size_t s, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return s * n;
}

/* The pin is a CURLOPT_RESOLVE entry libcurl parses and connects through:
 * a name pinned to the checked loopback address reaches our listener. */
Test(webhook_url, the_pin_is_a_resolve_entry_libcurl_connects_through)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 4), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    int port = ntohs(sa.sin_port);

    tally_webhook_url_t u = name_url("localhost", port);
    char pin[TALLY_WEBHOOK_PIN_SIZE], err[256];
    cr_assert_eq(tally_webhook_url_pin(&u, LOOP, pin, err, sizeof err), 0, "%s", err);
    char want[64];
    snprintf(want, sizeof want, "localhost:%d:127.0.0.1", port);
    cr_assert_eq(strncmp(pin, want, strlen(want)), 0, "%s", pin);

    /* A pin names the host curl would resolve: replace the name with one
     * that resolves nowhere, as a rebind would make it resolve elsewhere,
     * and the pinned address still decides. */
    char entry[TALLY_WEBHOOK_PIN_SIZE + 32];
    snprintf(entry, sizeof entry, "rebind.invalid%s", pin + strlen("localhost"));
    struct curl_slist *resolve = curl_slist_append(NULL, entry);
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://rebind.invalid:%d/", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s", curl_easy_strerror(rc));
    int peer = accept(fd, NULL, NULL);
    cr_assert(peer >= 0);
    close(peer);
    curl_easy_cleanup(c);
    curl_slist_free_all(resolve);
    close(fd);
}
