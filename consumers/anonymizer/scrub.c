/*
 * The scrubbing rules, applied in order, each on the output of the one
 * before. A rule's candidates come from a PCRE2 pattern or from a finder in
 * C (scrub_find.h); a check in C may keep a candidate or cut it short. A
 * rule replaces its whole candidate, or keeps the pattern's first group (a
 * name such as "password=" or a folder such as "/home/") and replaces the
 * rest.
 *
 * Linear on any text: a pattern either starts only where a run of its
 * characters starts (a lookbehind), or bounds every repeat, and never gives
 * back what a repeat over a run took (possessive quantifiers); what a
 * pattern cannot say linearly is a finder. tests/consumers/anonymizer/
 * test_scrub.c times every rule on 64 KiB of its near misses.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "scrub.h"
#include "scrub_find.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Backtracking bound per match attempt: far above what any real text
 * needs, low enough that hostile text cannot stall the partition. */
#define MATCH_LIMIT 2000000
#define JIT_STACK_MAX (512 * 1024)

typedef enum {
    MODE_WHOLE,    /* replace the candidate */
    MODE_KEEP1,    /* keep group 1, replace the rest of the match */
    MODE_URL,      /* keep scheme (group 1) and host (group 3) */
} rule_mode_t;

/* Character classes a text holds, to skip the rules that cannot match it
 * without running them (most property values hold nothing to scrub). */
enum {
    C_DASH = 1 << 0, C_DOT = 1 << 1, C_COLON = 1 << 2, C_SLASH = 1 << 3, C_BSLASH = 1 << 4, C_AT = 1 << 5,
    C_EQ = 1 << 6, C_UNDERSCORE = 1 << 7, C_SPACE = 1 << 8, C_UPPER = 1 << 9, C_LOWER = 1 << 10,
    C_DIGIT = 1 << 11, C_PLUS = 1 << 12, C_QUOTE = 1 << 13, C_LT = 1 << 14,
};

typedef struct rule_t {
    tally_scrub_kind_t kind;
    rule_mode_t mode;
    uint32_t options;
    const char *pattern; /* or NULL: */
    int (*find)(const char *s, size_t n, size_t start, size_t *b, size_t *e);
    /* NULL, or the end of what to redact of the part a rule replaces (0: keep) */
    size_t (*check)(const char *s, size_t n, size_t b, size_t e);
    unsigned need_all;   /* classes every match holds */
    unsigned need_any;   /* classes of which a match holds one (0: none needed) */
    size_t min_len;      /* shortest possible match */
    const char *literal; /* text every match holds (in any case if PCRE2_CASELESS), or NULL */
    int (*maybe)(const char *s, size_t n);   /* cheap check that a match may exist, or NULL */
    const char *example; /* a text the rule redacts (tests build hostile input from it) */
} rule_t;

/* Not already redacted (keeps scrubbing idempotent). */
#define NOT_DONE "(?![\"']?\\[REDACTED:)"
#define IPV4_OCTET "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#define IPV4 "(?:" IPV4_OCTET "\\.){3}" IPV4_OCTET
#define H16 "[0-9A-Fa-f]{1,4}"
/* A user name in a path: may hold spaces when a separator follows. */
#define PATH_NAME(cls) "(?:" cls "{1,64}+(?: ++" cls "{1,64}+){0,3}+(?=[\\\\/])|" cls "++)"
/* A phone number or card ends where no digit group goes on. */
#define NUMBER_END "(?![\\w@]|[.,:/-][0-9])"

static const rule_t rules[] = {
    {TALLY_SCRUB_PRIVATE_KEY, MODE_WHOLE, 0,
     "-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
     "(?:[\\s\\S]*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[\\s\\S]*)",
     NULL, NULL, C_DASH, 0, 27, "PRIVATE KEY", NULL,
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"},
    /* Starts only where a run of base64url starts and never gives back
     * what a run took: "eyJ-eyJ-...-eyJ." once retried at every "eyJ"
     * (~0.5 s per 64 KiB). A token glued to a '-' is left to high-entropy. */
    {TALLY_SCRUB_JWT, MODE_WHOLE, 0,
     "(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}+\\.[A-Za-z0-9_-]{5,}+\\.[A-Za-z0-9_-]*+",
     NULL, NULL, C_DOT, 0, 15, "eyJ", NULL, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.SflKxwRJSMeKKF2QT4fw"},
    {TALLY_SCRUB_URL, MODE_URL, 0,
     "\\b([A-Za-z][A-Za-z0-9+.-]{0,15})://"
     "([^\\s/?#\"'<>]*@)?"
     "(\\[[0-9A-Fa-f:.%]{2,60}\\]|[^\\s/?#:@\"'<>\\[\\]]++)"
     "((?::[0-9]{0,5})?(?:[/?#][^\\s\"'<>]*+)?)",
     NULL, NULL, C_COLON | C_SLASH, 0, 5, "://", NULL, "https://user:pw@api.example.com:8443/v1/x?token=abc#frag"},
    /* Read back from each '@' in C: the local part may hold most
     * punctuation, which a pattern could only try at every offset. */
    {TALLY_SCRUB_EMAIL, MODE_WHOLE, 0, NULL, tally_scrub_find_email, NULL, C_AT | C_DOT, 0, 6, NULL, NULL,
     "o'brien+x@mail.example.co.uk"},
    {TALLY_SCRUB_AWS_ACCESS_KEY_ID, MODE_WHOLE, 0,
     "\\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\\b",
     NULL, NULL, C_UPPER, 0, 20, NULL, NULL, "AKIAIOSFODNN7EXAMPLE"},
    {TALLY_SCRUB_AWS_SECRET_KEY, MODE_KEEP1, 0,
     "((?i)\\baws[a-z0-9_.-]{0,20}?(?:secret|private)[a-z0-9_.-]{0,20}[\"']?\\s*+[:=]\\s*+[\"']?)"
     NOT_DONE "[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
     NULL, NULL, 0, C_COLON | C_EQ, 43, NULL, NULL, "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
    {TALLY_SCRUB_GITHUB_TOKEN, MODE_WHOLE, 0,
     "\\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})\\b",
     NULL, NULL, C_UNDERSCORE, 0, 33, NULL, NULL, "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"},
    {TALLY_SCRUB_GITLAB_TOKEN, MODE_WHOLE, 0,
     "\\bgl(?:pat|dt|rt|ptt|cbt|soat|ffct|imt|oas|agent)-[A-Za-z0-9_-]{20,}+",
     NULL, NULL, C_DASH, 0, 24, NULL, NULL, "glpat-Ab3dE5gH7jK9mN1pQ3sT"},
    {TALLY_SCRUB_SLACK_TOKEN, MODE_WHOLE, 0,
     "\\b(?:xox[abposre]-[A-Za-z0-9-]{10,}+|xapp-[0-9]++-[A-Za-z0-9-]{10,}+)",
     NULL, NULL, C_DASH, 0, 15, NULL, NULL, "xoxb-123456789012-AbCdEfGhIjKl"},
    /* The whole value of a Cookie or Set-Cookie header (before the
     * name=value rule would take its pairs one by one). */
    {TALLY_SCRUB_COOKIE, MODE_KEEP1, PCRE2_CASELESS,
     "((?<![\\w-])(?:set-)?cookie[\"']?[ \\t]*+[:=][ \\t]*+)" NOT_DONE
     "(?:\"[^\"\\r\\n]*+\"|'[^'\\r\\n]*+'|[^\\r\\n\"']++)",
     NULL, NULL, 0, C_COLON | C_EQ, 8, "cookie", NULL, "Set-Cookie: session=31d4d96e407aad42; Path=/"},
    /* Authorization headers (any value), then Bearer anywhere. */
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "(\\b(?:proxy-)?authorization[\"']?\\s*+[:=]\\s*+[\"']?(?:(?:basic|bearer|digest|token|negotiate)\\s++)?+)"
     NOT_DONE "[A-Za-z0-9._~+/=-]++",
     NULL, NULL, 0, C_COLON | C_EQ, 15, NULL, NULL, "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "(\\bbearer\\s++)" NOT_DONE "[A-Za-z0-9._~+/-]++=*+",
     NULL, tally_scrub_check_credential, C_SPACE, 0, 11, NULL, NULL, "bearer abc123"},
    /* name=value, name: value, "name": "value". */
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "((?<![a-z0-9])"
     "(?:password|passwd|passphrase|pwd|secret|secret[_-]?key|secret[_-]?access[_-]?key|access[_-]?key"
     "|private[_-]?key|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|auth[_-]?token"
     "|id[_-]?token|session[_-]?token|api[_-]?key|apikey|api[_-]?token)"
     "[\"']?\\s*+[:=]\\s*+)" NOT_DONE
     "(?:\"[^\"\\r\\n]*+\"|'[^'\\r\\n]*+'|[^\\s\"'&,;<>]++)",
     NULL, NULL, 0, C_COLON | C_EQ, 5, NULL, NULL, "\"api_key\": \"sk_live_1234567890\""},
    /* "token a1b2c3", "secret is 9f86d0": a credential-like word after a
     * bare keyword, whatever its length from 4 bytes on. */
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "((?<![a-z0-9])(?:password|passwd|passphrase|secret|token|api[ _-]?key|apikey|access[ _-]?key"
     "|auth[ _-]?token|otp)(?:[ \\t]++(?:is|was)(?![a-z]))?+[ \\t]++[\"']?)" NOT_DONE "[A-Za-z0-9+/_.~-]++=*+",
     NULL, tally_scrub_check_word_credential, C_SPACE, 0, 8, NULL, NULL, "invalid token a1b2c3"},
    /* --password x, -token x */
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "((?<![\\w-])--?(?:[a-z0-9]{1,32}-){0,3}"
     "(?:password|passwd|passphrase|secret|token|api-key|apikey|access-key|private-key)\\s++)" NOT_DONE
     "[^\\s-]\\S*+",
     NULL, NULL, C_DASH | C_SPACE, 0, 8, NULL, NULL, "--db-password s3cr3t"},
    /* Vendor keys, id part included; Tally's own keys (tk_live_...). */
    {TALLY_SCRUB_API_KEY, MODE_WHOLE, 0,
     "(?<![\\w.-])(?:"
     "SG\\.[\\w-]{16,32}+\\.[\\w-]{16,64}+"                  /* SendGrid */
     "|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}+"         /* Stripe */
     "|whsec_[A-Za-z0-9+/=]{20,}+"
     "|tk_(?:live|test|local)_\\w{8,}+"                      /* Tally */
     "|sk-(?:proj-|ant-(?:api|admin)[0-9]{2}-)?[\\w-]{20,}+" /* OpenAI, Anthropic */
     "|AIza[\\w-]{35}"                                       /* Google */
     "|npm_[A-Za-z0-9]{36}"
     "|pypi-AgE[\\w-]{50,}+"
     "|hv[sbr]\\.[\\w-]{20,}+"                               /* Vault */
     "|do[opr]_v1_[a-f0-9]{64}"                              /* DigitalOcean */
     "|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"                   /* Shopify */
     "|(?:SK|AC)[0-9a-f]{32}"                                /* Twilio */
     "|key-[0-9a-f]{32}"                                     /* Mailgun */
     "|sq0(?:atp|csp)-[\\w-]{22,}+"                          /* Square */
     "|[ps]k\\.eyJ[\\w-]{10,}+\\.[\\w-]{10,}+"               /* Mapbox */
     "|lin_api_[A-Za-z0-9]{40}"                              /* Linear */
     "|PMAK-[0-9a-f]{24}-[0-9a-f]{34}"                       /* Postman */
     "|dapi[0-9a-f]{32}"                                     /* Databricks */
     ")(?![\\w-])",
     NULL, NULL, 0, 0, 16, NULL, NULL, "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"},
    /* Terraform Cloud: its own rule, so the one above starts at a few letters only. */
    {TALLY_SCRUB_API_KEY, MODE_WHOLE, 0, "(?<![\\w.-])[A-Za-z0-9]{14}\\.atlasv1\\.[\\w-]{60,}+(?![\\w-])",
     NULL, NULL, C_DOT, 0, 83, ".atlasv1.", NULL,
     "AbCdEf01234567.atlasv1.aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01"},
    {TALLY_SCRUB_USER, MODE_KEEP1, 0,
     "(/(?:home|Users)/)" NOT_DONE PATH_NAME("[^/\\\\\\s\"'<>:\\[\\]]"),
     NULL, NULL, C_SLASH, 0, 7, NULL, NULL, "/home/John Smith/project"},
    {TALLY_SCRUB_USER, MODE_KEEP1, PCRE2_CASELESS,
     "(\\b[a-z]:(?:\\\\\\\\|\\\\|/)(?:users|documents and settings)(?:\\\\\\\\|\\\\|/))" NOT_DONE
     PATH_NAME("[^/\\\\\\s\"'<>:|*?\\[\\]]"),
     NULL, NULL, C_COLON, C_SLASH | C_BSLASH, 10, NULL, NULL, "C:\\Users\\carol\\AppData"},
    /* Database log-in errors: for user "alice" (PostgreSQL), 'root'@ (MySQL). */
    {TALLY_SCRUB_USER, MODE_KEEP1, PCRE2_CASELESS,
     "(\\bfor user[ \\t]++)" NOT_DONE "(?:\"[^\"\\r\\n]{1,64}+\"|'[^'\\r\\n]{1,64}+')",
     NULL, NULL, C_SPACE | C_QUOTE, 0, 11, NULL, NULL, "for user \"alice\""},
    /* git: Author: Jane Doe <jane@example.com>, Co-authored-by: ... */
    {TALLY_SCRUB_USER, MODE_KEEP1, PCRE2_CASELESS,
     "(\\b(?:co-)?author(?:ed-by)?[ \\t]*+:[ \\t]*+)" NOT_DONE "[^<>\\r\\n]{1,80}?(?= ?<)",
     NULL, NULL, C_COLON | C_LT, 0, 10, "author", NULL, "Author: Jane Doe <x>"},
    {TALLY_SCRUB_IBAN, MODE_WHOLE, 0,
     "(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?+[A-Z0-9]{1,4}+){1,8}+",
     NULL, tally_scrub_check_iban, C_UPPER | C_DIGIT, 0, 15, NULL, NULL, "DE89 3704 0044 0532 0130 00"},
    {TALLY_SCRUB_CARD, MODE_WHOLE, 0,
     "(?<![\\w.,+-]|[0-9][ -])[2-6][0-9]{3}(?:[ -]?+[0-9]{2,6}+){2,5}+" NUMBER_END,
     NULL, tally_scrub_check_card, C_DIGIT, 0, 13, NULL, NULL, "4111 1111 1111 1111"},
    /* International (+CC ...), North American, and 0-prefixed national
     * numbers; none starts inside a run of digit groups. */
    {TALLY_SCRUB_PHONE, MODE_WHOLE, 0,
     "(?<![\\w+])\\+[1-9][0-9]{0,3}+(?:[ .-]?+(?:\\([0-9]{1,4}+\\)|[0-9]{1,6}+)){1,7}+" NUMBER_END,
     NULL, tally_scrub_check_phone, C_PLUS | C_DIGIT, 0, 9, NULL, NULL, "+44 20 7946 0958"},
    {TALLY_SCRUB_PHONE, MODE_WHOLE, 0,
     "(?<![\\w.+-]|[0-9][ .-])(?:\\([2-9][0-9]{2}\\) ?|[2-9][0-9]{2}([-. ]))[2-9][0-9]{2}(?(1)\\1|[-. ])[0-9]{4}"
     NUMBER_END,
     NULL, tally_scrub_check_phone, C_DIGIT, C_DASH | C_DOT | C_SPACE, 12, NULL, NULL, "(415) 555-2671"},
    {TALLY_SCRUB_PHONE, MODE_WHOLE, 0,
     "(?<![\\w.+-]|[0-9][ /-])0[1-9][0-9]{0,4}+(?:[ /-][0-9]{2,8}+){1,4}+" NUMBER_END,
     NULL, tally_scrub_check_phone, C_DIGIT, C_DASH | C_SLASH | C_SPACE, 10, NULL, NULL, "030 1234567"},
    {TALLY_SCRUB_IPV6, MODE_WHOLE, 0,
     "(?<![\\w:.])(?:"
     "(?:" H16 ":){7}" H16
     "|(?:" H16 ":){6}" IPV4
     "|::(?:[fF]{4}(?::0{1,4})?:)?" IPV4
     "|(?:" H16 ":){1,4}:" IPV4
     "|(?:" H16 ":){1,6}:" H16
     "|(?:" H16 ":){1,5}(?::" H16 "){1,2}"
     "|(?:" H16 ":){1,4}(?::" H16 "){1,3}"
     "|(?:" H16 ":){1,3}(?::" H16 "){1,4}"
     "|(?:" H16 ":){1,2}(?::" H16 "){1,5}"
     "|" H16 ":(?::" H16 "){1,6}"
     "|:(?::" H16 "){1,7}"
     "|(?:" H16 ":){1,7}:"
     ")(?:%[0-9A-Za-z._-]{1,15})?(?![\\w:])",
     NULL, tally_scrub_check_digit, C_COLON | C_DIGIT, 0, 3, NULL, tally_scrub_maybe_ipv6,
     "fe80::1ff:fe23:4567:890a%eth0"},
    {TALLY_SCRUB_IPV4, MODE_WHOLE, 0,
     "(?<![\\w.])" IPV4 "(?!\\w|\\.[0-9])",
     NULL, NULL, C_DOT | C_DIGIT, 0, 7, NULL, NULL, "192.168.1.20"},
    {TALLY_SCRUB_HIGH_ENTROPY, MODE_WHOLE, 0, NULL, tally_scrub_find_random_run, NULL, C_UPPER | C_LOWER | C_DIGIT,
     0, 32, NULL, NULL, "Kx9cWz3Lq7.Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg"},
};

#define N_RULES (sizeof rules / sizeof rules[0])

static const char *const kind_names[TALLY_SCRUB_KIND_COUNT] = {
    [TALLY_SCRUB_PRIVATE_KEY] = "private-key",
    [TALLY_SCRUB_JWT] = "jwt",
    [TALLY_SCRUB_URL] = "url",
    [TALLY_SCRUB_EMAIL] = "email",
    [TALLY_SCRUB_AWS_ACCESS_KEY_ID] = "aws-access-key-id",
    [TALLY_SCRUB_AWS_SECRET_KEY] = "aws-secret-key",
    [TALLY_SCRUB_GITHUB_TOKEN] = "github-token",
    [TALLY_SCRUB_GITLAB_TOKEN] = "gitlab-token",
    [TALLY_SCRUB_SLACK_TOKEN] = "slack-token",
    [TALLY_SCRUB_COOKIE] = "cookie",
    [TALLY_SCRUB_SECRET] = "secret",
    [TALLY_SCRUB_API_KEY] = "api-key",
    [TALLY_SCRUB_USER] = "user",
    [TALLY_SCRUB_CARD] = "card",
    [TALLY_SCRUB_IBAN] = "iban",
    [TALLY_SCRUB_PHONE] = "phone",
    [TALLY_SCRUB_IPV6] = "ipv6",
    [TALLY_SCRUB_IPV4] = "ipv4",
    [TALLY_SCRUB_HIGH_ENTROPY] = "high-entropy",
    [TALLY_SCRUB_UNSCANNABLE] = "unscannable",
};

typedef struct buf_t {
    char *p;
    size_t len, cap;
} buf_t;

struct tally_scrub_t {
    uint16_t classes[256];          /* byte -> C_* */
    pcre2_code *code[N_RULES];
    int jit[N_RULES];               /* compiled by the JIT: pcre2_jit_match skips the checks */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    PCRE2_SIZE found[2];            /* ovector of the rules found in C */
    buf_t buf[2];
};

size_t tally_scrub_rule_count(void)
{
    return N_RULES;
}

tally_scrub_kind_t tally_scrub_rule_kind(size_t rule)
{
    return rule < N_RULES ? rules[rule].kind : TALLY_SCRUB_KIND_COUNT;
}

const char *tally_scrub_rule_example(size_t rule)
{
    return rule < N_RULES ? rules[rule].example : NULL;
}

void tally_scrub_set_match_limit(tally_scrub_t *sc, uint32_t limit)
{
    pcre2_set_match_limit(sc->mctx, limit);
}

const char *tally_scrub_kind_name(tally_scrub_kind_t kind)
{
    return (unsigned)kind < TALLY_SCRUB_KIND_COUNT ? kind_names[kind] : "unknown";
}

void tally_scrub_free(tally_scrub_t *sc)
{
    if (sc == NULL)
        return;
    for (size_t i = 0; i < N_RULES; i++)
        pcre2_code_free(sc->code[i]);
    pcre2_match_data_free(sc->md);
    pcre2_match_context_free(sc->mctx);
    pcre2_jit_stack_free(sc->jit_stack);
    free(sc->buf[0].p);
    free(sc->buf[1].p);
    free(sc);
}

tally_scrub_t *tally_scrub_new(char *errbuf, size_t errsize)
{
    tally_scrub_t *sc = calloc(1, sizeof *sc);
    uint32_t groups = 0;
    if (sc == NULL)
        abort();
    for (int c = 0; c < 256; c++)
        sc->classes[c] = (uint16_t)((c == '-' ? C_DASH : 0) | (c == '.' ? C_DOT : 0) | (c == ':' ? C_COLON : 0) |
                                    (c == '/' ? C_SLASH : 0) | (c == '\\' ? C_BSLASH : 0) | (c == '@' ? C_AT : 0) |
                                    (c == '=' ? C_EQ : 0) | (c == '_' ? C_UNDERSCORE : 0) |
                                    (c == ' ' || (c >= '\t' && c <= '\r') ? C_SPACE : 0) |
                                    (c >= 'A' && c <= 'Z' ? C_UPPER : 0) | (c >= 'a' && c <= 'z' ? C_LOWER : 0) |
                                    (c >= '0' && c <= '9' ? C_DIGIT : 0) | (c == '+' ? C_PLUS : 0) |
                                    (c == '"' || c == '\'' ? C_QUOTE : 0) | (c == '<' ? C_LT : 0));
    for (size_t i = 0; i < N_RULES; i++) {
        int code;
        PCRE2_SIZE at;
        if (rules[i].pattern == NULL)
            continue;
        sc->code[i] = pcre2_compile((PCRE2_SPTR)rules[i].pattern, PCRE2_ZERO_TERMINATED, rules[i].options, &code,
                                    &at, NULL);
        if (sc->code[i] == NULL) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            snprintf(errbuf, errsize, "scrub rule %zu (%s): %s at offset %zu", i, kind_names[rules[i].kind],
                     (const char *)msg, (size_t)at);
            goto err;
        }
        /* Without JIT (some platforms) pcre2_match interprets: slower, same results. */
        sc->jit[i] = pcre2_jit_compile(sc->code[i], PCRE2_JIT_COMPLETE) == 0;
        uint32_t n = 0;
        pcre2_pattern_info(sc->code[i], PCRE2_INFO_CAPTURECOUNT, &n);
        if (n > groups)
            groups = n;
    }
    sc->md = pcre2_match_data_create(groups + 1, NULL);
    sc->mctx = pcre2_match_context_create(NULL);
    sc->jit_stack = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    if (sc->md == NULL || sc->mctx == NULL || sc->jit_stack == NULL)
        abort();
    pcre2_set_match_limit(sc->mctx, MATCH_LIMIT);
    pcre2_jit_stack_assign(sc->mctx, NULL, sc->jit_stack);
    return sc;
err:
    tally_scrub_free(sc);
    return NULL;
}

static void buf_reserve(buf_t *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (b->p == NULL) {
        fprintf(stderr, "scrub: out of memory\n");
        abort();
    }
    b->cap = cap;
}

static void buf_put(buf_t *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_token(buf_t *b, tally_scrub_kind_t kind)
{
    const char *name = kind_names[kind];
    buf_put(b, "[REDACTED:", 10);
    buf_put(b, name, strlen(name));
    buf_put(b, "]", 1);
}

/* Whether s[0..n) holds lit (lowercase letters of lit match either case
 * when caseless). */
static int contains(const char *s, size_t n, const char *lit, int caseless)
{
    size_t m = strlen(lit);
    if (!caseless) {
        const char *p = s, *end = s + n;
        while (m <= (size_t)(end - p) && (p = memchr(p, lit[0], (size_t)(end - p) - m + 1)) != NULL) {
            if (memcmp(p, lit, m) == 0)
                return 1;
            p++;
        }
        return 0;
    }
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && (s[i + k] == lit[k] || (s[i + k] ^ 0x20) == lit[k]))
            k++;
        if (k == m)
            return 1;
    }
    return 0;
}

/* Finds the next candidate of rule i in subj from start: 1 with *ov its
 * ovector, 0 when there is none, -1 on a PCRE2 failure (match limit). */
static int find(tally_scrub_t *sc, size_t i, const char *subj, size_t slen, size_t start, const PCRE2_SIZE **ov)
{
    if (rules[i].pattern == NULL) {
        if (!rules[i].find(subj, slen, start, &sc->found[0], &sc->found[1]))
            return 0;
        *ov = sc->found;
        return 1;
    }
    int rc = sc->jit[i] ? pcre2_jit_match(sc->code[i], (PCRE2_SPTR)subj, slen, start, 0, sc->md, sc->mctx)
                        : pcre2_match(sc->code[i], (PCRE2_SPTR)subj, slen, start, 0, sc->md, sc->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0)
        return -1;
    *ov = pcre2_get_ovector_pointer(sc->md);
    return 1;
}

/* A URL with no user information and no more than a '/' after its host
 * (or already scrubbed): nothing to redact. Groups: 1 scheme, 2 user info
 * (unset: PCRE2_UNSET), 3 host, 4 the rest. */
static int url_is_bare(const char *subj, const PCRE2_SIZE *ov)
{
    static const char done[] = "/[REDACTED:url]";
    int has_user = ov[4] != PCRE2_UNSET && ov[5] > ov[4];
    size_t rest = ov[9] - ov[8];
    return !has_user && (rest == 0 || (rest == 1 && subj[ov[8]] == '/') ||
                         (rest == sizeof done - 1 && memcmp(subj + ov[8], done, rest) == 0));
}

/* Appends the replacement of rule r's candidate at ov[0] in subj to dst. */
static void replace(const rule_t *r, const char *subj, const PCRE2_SIZE *ov, buf_t *dst)
{
    switch (r->mode) {
    case MODE_WHOLE:
        break;
    case MODE_KEEP1:
        buf_put(dst, subj + ov[2], ov[3] - ov[2]);
        break;
    case MODE_URL:
        buf_put(dst, subj + ov[0], ov[3] - ov[0]);   /* scheme */
        buf_put(dst, "://", 3);
        buf_put(dst, subj + ov[6], ov[7] - ov[6]);
        buf_put(dst, "/", 1);
        break;
    }
    put_token(dst, r->kind);
}

static unsigned classes_of(const tally_scrub_t *sc, const char *s, size_t n)
{
    unsigned c = 0;
    for (size_t i = 0; i < n; i++)
        c |= sc->classes[(unsigned char)s[i]];
    return c;
}

size_t tally_scrub_text(tally_scrub_t *sc, const char *text, size_t len, const char **out, size_t *out_len,
                        uint64_t counts[TALLY_SCRUB_KIND_COUNT])
{
    const char *subj = text;
    size_t slen = len, total = 0;
    int cur = -1;   /* which buffer holds subj; -1: the caller's text */
    unsigned have = classes_of(sc, text, len);

    for (size_t i = 0; i < N_RULES; i++) {
        const rule_t *r = &rules[i];
        if (slen < r->min_len || (have & r->need_all) != r->need_all || (r->need_any && !(have & r->need_any)) ||
            (r->literal && !contains(subj, slen, r->literal, (r->options & PCRE2_CASELESS) != 0)) ||
            (r->maybe && !r->maybe(subj, slen)))
            continue;
        buf_t *dst = &sc->buf[cur == 0 ? 1 : 0];
        size_t pos = 0, start = 0, found = 0;
        while (start <= slen) {
            const PCRE2_SIZE *ov;
            int rc = find(sc, i, subj, slen, start, &ov);
            if (rc == 0)
                break;
            if (rc < 0) {
                /* Match limit or another failure: keep nothing of the text. */
                buf_t *b = &sc->buf[cur == 0 ? 1 : 0];
                b->len = 0;
                put_token(b, TALLY_SCRUB_UNSCANNABLE);
                if (counts)
                    counts[TALLY_SCRUB_UNSCANNABLE]++;
                *out = b->p;
                *out_len = b->len;
                return total + 1;
            }
            /* The check sees the part the rule replaces, and may cut it
             * short. A candidate kept costs nothing more: copying the text
             * before it only once one is replaced keeps the scan linear. */
            size_t e = ov[1];
            if (r->check)
                e = r->check(subj, slen, r->mode == MODE_KEEP1 ? ov[3] : ov[0], ov[1]);
            else if (r->mode == MODE_URL && url_is_bare(subj, ov))
                e = 0;
            if (e <= ov[0]) {
                start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
                continue;
            }
            if (found == 0)
                dst->len = 0;
            buf_put(dst, subj + pos, ov[0] - pos);
            replace(r, subj, ov, dst);
            found++;
            pos = e;
            start = e;
        }
        if (found == 0)
            continue;
        buf_put(dst, subj + pos, slen - pos);
        subj = dst->p;
        slen = dst->len;
        cur = dst == &sc->buf[0] ? 0 : 1;
        have = classes_of(sc, subj, slen);
        total += found;
        if (counts)
            counts[r->kind] += found;
    }
    *out = subj;
    *out_len = slen;
    return total;
}
