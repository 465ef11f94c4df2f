/*
 * scrub.h: removes personal data and secrets from free text (error
 * messages, stacks, property values) before it is stored.
 *
 * Each finding is replaced by "[REDACTED:<kind>]" (kind names below); the
 * text around it stays as it was. What is found, in this order:
 *
 *   private-key        PEM private keys (-----BEGIN ... PRIVATE KEY----- to
 *                      its END line, or to the end of a truncated text)
 *   jwt                JSON Web Tokens (eyJ....xxx.yyy)
 *   url                URLs keep their scheme and host only: user, password,
 *                      port, path, query and fragment become
 *                      "<scheme>://<host>/[REDACTED:url]"
 *   email              e-mail addresses, the whole local part in RFC 5322's
 *                      characters ("o'brien+x@example.com"); a key before
 *                      it ("EMAIL=", "--email=") or a path up to its last
 *                      '/' is kept
 *   aws-access-key-id  AKIA..., ASIA... (20 characters)
 *   aws-secret-key     40-character secret after an aws..secret/key name
 *   github-token       ghp_, gho_, ghu_, ghs_, ghr_, github_pat_
 *   gitlab-token       glpat-, gldt-, glrt-, glptt-, ... tokens
 *   slack-token        xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xapp- tokens
 *   cookie             the value of a Cookie: or Set-Cookie: header (to the
 *                      end of the line, or the quoted string)
 *   secret             the value of password=, token:, secret=, api_key=
 *                      and similar pairs (any case, prefixed names such as
 *                      DB_PASSWORD too, quoted or not), of --password x
 *                      flags, and of Authorization credentials; after Bearer
 *                      or a bare token, secret, password, api key ("token
 *                      a1b2c3", "secret is 9f86d0") a credential of 4 bytes
 *                      or more: one that holds a digit or mixes cases, or
 *                      8+ hex letters (words such as "expired" stay); the
 *                      name is kept: "password=[REDACTED:secret]"
 *   api-key            vendor keys by their prefix, id part included:
 *                      SendGrid SG.<id>.<secret>, Stripe sk_/rk_live_,
 *                      whsec_, Tally tk_live_/tk_test_/tk_local_, OpenAI,
 *                      Anthropic, Google AIza, npm, PyPI, Vault hvs.,
 *                      DigitalOcean, Shopify, Terraform, Twilio, Mailgun,
 *                      Square, Mapbox pk./sk., Linear, Postman, Databricks
 *   user               the user name in a home directory: /home/<u>,
 *                      /Users/<u>, C:\Users\<u> (any drive, either slash);
 *                      in database log-in errors (for user "u", 'u'@...);
 *                      a git Author/Committer/Signed-off-by name
 *   iban               IBANs: known country, its length, mod-97 checksum
 *   card               payment card numbers: issuer prefix and length,
 *                      Luhn check digit, printed whole or in 4-4-4-4(-3),
 *                      4-6-5 groups
 *   phone              phone numbers: +CC and 8-15 digits, North American
 *                      (415) 555-2671 / 415-555-2671, and 0-prefixed
 *                      national numbers of 9-12 digits (030 1234567);
 *                      none starts inside a run of digit groups
 *   ipv6, ipv4         IP addresses (a 4-part dotted number is an address
 *                      unless prefixed by a letter, as in v1.2.3.4; an IPv6
 *                      candidate needs a decimal digit, so C++ a::b is not)
 *   high-entropy       any other run of 32 or more [A-Za-z0-9+/=_-] that
 *                      mixes upper case, lower case and digits and whose
 *                      characters are spread like random ones (Shannon
 *                      entropy), with the runs joined to it by dots (the id
 *                      of an id.secret key); hex-only runs (UUIDs, hashes,
 *                      commit ids) are left alone
 *   unscannable        the whole text, when a pattern hits the PCRE2 match
 *                      limit (hostile input): nothing unscanned is kept
 *
 * Version strings (v4.15.0-beta.2), commit hashes, durations, dates,
 * UUIDs, ports, build and order numbers stay: the number rules need a
 * checksum or a phone's shape.
 *
 * Every rule is linear in the text's length (anchored or possessive
 * patterns, finders in C: scrub_find.h), so hostile text costs what any
 * text of its length costs.
 * Patterns are compiled once (JIT when available), in byte mode (any
 * bytes, no UTF-8 validity needed); the match data and the output buffers
 * are reused, so scrubbing allocates nothing once the buffers have grown.
 * Scrubbing is idempotent: a scrubbed text scrubs to itself.
 */
#ifndef TALLY_ANONYMIZER_SCRUB_H
#define TALLY_ANONYMIZER_SCRUB_H

#include <stddef.h>
#include <stdint.h>

typedef enum tally_scrub_kind_t {
    TALLY_SCRUB_PRIVATE_KEY,
    TALLY_SCRUB_JWT,
    TALLY_SCRUB_URL,
    TALLY_SCRUB_EMAIL,
    TALLY_SCRUB_AWS_ACCESS_KEY_ID,
    TALLY_SCRUB_AWS_SECRET_KEY,
    TALLY_SCRUB_GITHUB_TOKEN,
    TALLY_SCRUB_GITLAB_TOKEN,
    TALLY_SCRUB_SLACK_TOKEN,
    TALLY_SCRUB_COOKIE,
    TALLY_SCRUB_SECRET,
    TALLY_SCRUB_API_KEY,
    TALLY_SCRUB_USER,
    TALLY_SCRUB_CARD,
    TALLY_SCRUB_IBAN,
    TALLY_SCRUB_PHONE,
    TALLY_SCRUB_IPV6,
    TALLY_SCRUB_IPV4,
    TALLY_SCRUB_HIGH_ENTROPY,
    TALLY_SCRUB_UNSCANNABLE,
    TALLY_SCRUB_KIND_COUNT
} tally_scrub_kind_t;

/* "private-key", "jwt", ... as in "[REDACTED:<kind>]" (static). */
const char *tally_scrub_kind_name(tally_scrub_kind_t kind);

/* One scrubber per thread: its match data and buffers are not shared. */
typedef struct tally_scrub_t tally_scrub_t;

/* Compiles the patterns. Returns an owned scrubber (free with
 * tally_scrub_free), or NULL with errbuf naming the pattern that failed
 * (a bug). */
tally_scrub_t *tally_scrub_new(char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_scrub_free(tally_scrub_t *sc);

/* Scrubs text[0..len) (borrowed; any bytes). Returns the number of
 * redactions. *out and *out_len give the result: text itself when nothing
 * was found, else the scrubber's buffer, NUL-terminated, valid until the
 * next call. counts (may be NULL) gets the redactions added per kind. */
size_t tally_scrub_text(tally_scrub_t *sc, const char *text, size_t len, const char **out, size_t *out_len,
                        uint64_t counts[TALLY_SCRUB_KIND_COUNT]);

/* For tests and the benchmark: the rules, in the order they run. A rule's
 * example is a text it redacts (static); the hostile-input test builds its
 * near misses from it, so a rule added later is covered by that test. */
size_t tally_scrub_rule_count(void);
tally_scrub_kind_t tally_scrub_rule_kind(size_t rule);
const char *tally_scrub_rule_example(size_t rule);

/* For tests: the PCRE2 match limit per match attempt (default 2,000,000),
 * to reach the unscannable outcome without a pathological pattern. */
void tally_scrub_set_match_limit(tally_scrub_t *sc, uint32_t limit);

#endif /* TALLY_ANONYMIZER_SCRUB_H */
