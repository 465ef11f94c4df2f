/*
 * scrub_hostile.h: 64 KiB texts aimed at the weak spot of every scrubbing
 * rule (near misses that a backtracking pattern retries at every offset),
 * for the scrubber's test and tests/bench/scrub_worst. Header-only (static
 * functions), no Criterion.
 *
 * Two families:
 *   - derived from each rule's example (tally_scrub_rule_example), so a
 *     rule added later is covered without editing this file: the example
 *     cut short and repeated, its first bytes followed by a long run of
 *     one of its characters, the example repeated with and without
 *     separators;
 *   - written by hand for the shapes a derived text misses (the run of
 *     "eyJ-" with one dot, IPv6 colon runs, names with spaces, ...), each
 *     tagged with the kind it aims at; the test checks every kind has one.
 */
#ifndef TALLY_TEST_SCRUB_HOSTILE_H
#define TALLY_TEST_SCRUB_HOSTILE_H

#include "scrub.h"

#include <stdio.h>
#include <string.h>

#define SCRUB_HOSTILE_SIZE (64 * 1024)

/* head, then unit repeated to half the size, then mid, then unit again up
 * to the size less tail, then tail. */
typedef struct scrub_hostile_t {
    const char *kind; /* the kind it aims at */
    const char *head, *unit, *mid, *tail;
} scrub_hostile_t;

static const scrub_hostile_t scrub_hostile_by_hand[] = {
    {"private-key", "", "-----BEGIN PRIVATE KEY-----", "", ""},
    {"private-key", "-----BEGIN PRIVATE KEY-----\n", "-----END PRIVATE KEY", "", ""},
    {"private-key", "", "-----BEGIN AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA PRIVATE KE", "", ""},
    {"jwt", "", "eyJ-", ".", ""},
    {"jwt", "", "eyJ", ".", ""},
    {"jwt", "", "eyJaaaaa.", "", ""},
    {"jwt", "", "eyJaaaaa.eyJ", ".", ""},
    {"jwt", "", "eyJ_.", "", ""},
    {"url", "", "a://", "", ""},
    {"url", "http://", "a@", "", ""},
    {"url", "", "http://a@", "", ""},
    {"url", "http://", "@", "", ""},
    {"url", "", "a.b+c-d", "://", ""},
    {"url", "http://[", "0:", "", ""},
    {"url", "", "http://a ", "", ""},
    {"url", "", "x://a/ ", "", ""},
    {"email", "", "a", "", "@"},
    {"email", "", "a@", "", ""},
    {"email", "", "a@a.", "", ""},
    {"email", "a@", "a.", "", ""},
    {"email", "", "a.a-a@a-a.a-", "", ""},
    {"email", "", "o'b+c", "@", ""},
    {"email", "", "a=", "@", ""},
    {"email", "", "a/", "@a.b", ""},
    {"email", "", "'", "@", ""},
    {"email", "", "@a-", "", ""},
    {"email", "", "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-.", "", ""},
    {"email", "", "a@a.a.a.a.a.a.a.a.a.a.a1 ", "", ""},
    {"aws-access-key-id", "", "AKIA", "", ""},
    {"aws-access-key-id", "", "AKIAAAAAAAAAAAAAAAA", "", ""},
    {"aws-secret-key", "", "aws_secret=", "", ""},
    {"aws-secret-key", "", "aws_secret_", "", ""},
    {"aws-secret-key", "aws_secret=", "A", "", ""},
    {"github-token", "", "ghp_", "", ""},
    {"github-token", "ghp_", "A", "", ""},
    {"github-token", "github_pat_", "A_", "", "-"},
    {"gitlab-token", "", "glpat-", "", ""},
    {"slack-token", "", "xoxb-", "", ""},
    {"slack-token", "", "xapp-1", "", ""},
    {"slack-token", "xapp-", "1", "", ""},
    {"secret", "", "Authorization: ", "", ""},
    {"secret", "", "authorization=bearer ", "", ""},
    {"secret", "", "bearer ", "", ""},
    {"secret", "", "password=", "", ""},
    {"secret", "", "password:\"", "", ""},
    {"secret", "", "token: '", "", ""},
    {"secret", "", "--password ", "", ""},
    {"secret", "", "--a-", "", ""},
    {"secret", "", "-a-a-a-password", "", ""},
    {"secret", "", "secret_", "", ""},
    {"secret", "", "token expired ", "", ""},
    {"secret", "", "bearer token ", "", ""},
    {"cookie", "", "cookie: ", "", ""},
    {"cookie", "", "Set-Cookie:\"", "", ""},
    {"cookie", "", "cookie=", "", "\n"},
    {"api-key", "", "SG.", "", ""},
    {"api-key", "", "SG.aaaaaaaaaaaaaaaa.", "", ""},
    {"api-key", "", "sk_live_", "", ""},
    {"api-key", "", "pk.eyJaaaaaaaaaa.", "", ""},
    {"api-key", "", "aaaaaaaaaaaaaa.atlasv1.", "", ""},
    {"api-key", "tk_live_", "a", "", "!"},
    {"card", "", "4111 ", "", ""},
    {"card", "", "4111-1111-1111-1112 ", "", ""},
    {"card", "", "4111111111111112 ", "", ""},
    {"card", "", "4", "", ""},
    {"card", "", "41 ", "", ""},
    {"iban", "", "DE89 ", "", ""},
    {"iban", "", "DE89 3704 0044 0532 0130 01 ", "", ""},
    {"iban", "", "DE89", "", ""},
    {"iban", "", "DE", "", ""},
    {"phone", "", "+1 ", "", ""},
    {"phone", "", "+1 2", "", ""},
    {"phone", "", "+1 (2)", "", ""},
    {"phone", "", "(415) 555-", "", ""},
    {"phone", "", "415.555.", "", ""},
    {"phone", "", "0 ", "", ""},
    {"phone", "", "01 2", "", ""},
    {"phone", "", "030 12 ", "", ""},
    {"user", "", "/home/", "", ""},
    {"user", "/home/", "a ", "", ""},
    {"user", "", "/home/a a a a ", "", ""},
    {"user", "", "C:\\Users\\", "", ""},
    {"user", "C:\\Users\\", "a ", "", ""},
    {"user", "", "c:/users/a a a ", "", ""},
    {"user", "", "for user \"", "", ""},
    {"user", "for user '", "a", "", ""},
    {"user", "", "Author: a ", "", ""},
    {"user", "Author: ", "a", "", "<"},
    {"ipv6", "", "1:", "", ""},
    {"ipv6", "", "1::", "", ""},
    {"ipv6", "", "a:b:c:d:e:f:1:", "", ""},
    {"ipv6", "", "1:2:3:4:5:6:1.2.3.", "", ""},
    {"ipv6", "", "::1:", "", ""},
    {"ipv6", "", "a::b ", "", ""},
    {"ipv6", "", "1:1:1:1:1:1:1:1:1", "%", ""},
    {"ipv4", "", "1.", "", ""},
    {"ipv4", "", "1.1.1.1.", "", ""},
    {"ipv4", "", "255.255.255.", "", ""},
    {"high-entropy", "", "aZ9", "", ""},
    {"high-entropy", "", "aZ9bY8cX7dW6eV5fU4gT3hS2iR1jQ0k-", "", ""},
};

#define SCRUB_HOSTILE_BY_HAND (sizeof scrub_hostile_by_hand / sizeof scrub_hostile_by_hand[0])

/* Fills out (SCRUB_HOSTILE_SIZE + 1 bytes) with h's text; returns its length. */
static size_t scrub_hostile_fill(const scrub_hostile_t *h, char *out)
{
    size_t n = 0, size = SCRUB_HOSTILE_SIZE;
    size_t hl = strlen(h->head), ul = strlen(h->unit), ml = strlen(h->mid), tl = strlen(h->tail);
    memcpy(out, h->head, hl);
    n = hl;
    while (ul > 0 && n + ul <= size / 2)
        memcpy(out + n, h->unit, ul), n += ul;
    memcpy(out + n, h->mid, ml);
    n += ml;
    while (ul > 0 && n + ul + tl <= size)
        memcpy(out + n, h->unit, ul), n += ul;
    memcpy(out + n, h->tail, tl);
    n += tl;
    out[n] = '\0';
    return n;
}

/* Texts derived from a rule's example, per variant. */
#define SCRUB_HOSTILE_VARIANTS 8

/* Fills out (SCRUB_HOSTILE_SIZE + 1 bytes) with variant v of the texts built
 * from example ex; describes it in what. Returns the length. */
static size_t scrub_hostile_derive(const char *ex, int v, char *out, char *what, size_t whatsize)
{
    size_t m = strlen(ex), cut = m;
    char unit[512], sep[2] = "";
    scrub_hostile_t h = {"", "", unit, "", ""};
    switch (v) {
    case 0: cut = m - 1; snprintf(what, whatsize, "all but its last byte, repeated"); break;
    case 1: cut = m / 2; snprintf(what, whatsize, "its first half, repeated"); break;
    case 2: cut = m / 4 > 3 ? m / 4 : 3; snprintf(what, whatsize, "its first quarter, repeated"); break;
    case 3: snprintf(what, whatsize, "repeated"); break;
    case 4: sep[0] = ' '; snprintf(what, whatsize, "repeated, space-separated"); break;
    case 5: sep[0] = '-'; cut = m - 1; snprintf(what, whatsize, "all but its last byte, '-'-separated"); break;
    case 6: sep[0] = '.'; cut = m - 1; snprintf(what, whatsize, "all but its last byte, '.'-separated"); break;
    default: {
        /* its first bytes, then a run of its middle byte */
        static char head[16];
        size_t hl = m / 4 < sizeof head - 1 ? m / 4 : sizeof head - 1;
        memcpy(head, ex, hl);
        head[hl] = '\0';
        h.head = head;
        cut = 1;
        ex += m / 2;
        snprintf(what, whatsize, "its first %zu bytes, then a run of '%c'", hl, ex[0]);
        break;
    }
    }
    if (cut > sizeof unit - 2)
        cut = sizeof unit - 2;
    memcpy(unit, ex, cut);
    memcpy(unit + cut, sep, strlen(sep) + 1);
    return scrub_hostile_fill(&h, out);
}

#endif /* TALLY_TEST_SCRUB_HOSTILE_H */
