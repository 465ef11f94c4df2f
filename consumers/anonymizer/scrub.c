/*
 * The scrubbing rules: one PCRE2 pattern per rule, applied in order, each
 * on the output of the one before. A rule replaces its whole match, or
 * keeps the match's first group (a name such as "password=" or a folder
 * such as "/home/") and replaces the rest; a few rules check a candidate
 * in C before replacing it.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "scrub.h"

#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Backtracking bound per match attempt: far above what any real text
 * needs, low enough that hostile text cannot stall the partition. */
#define MATCH_LIMIT 2000000
#define JIT_STACK_MAX (512 * 1024)

typedef enum {
    MODE_WHOLE,    /* replace the match */
    MODE_KEEP1,    /* keep group 1, replace the rest of the match */
    MODE_URL,      /* keep scheme (group 1) and host (group 3) */
    MODE_ENTROPY,  /* replace when the candidate looks random */
    MODE_DIGIT,    /* replace when the candidate holds a decimal digit */
} rule_mode_t;

/* Character classes a text holds, to skip the rules that cannot match it
 * without running them (most property values hold nothing to scrub). */
enum {
    C_DASH = 1 << 0, C_DOT = 1 << 1, C_COLON = 1 << 2, C_SLASH = 1 << 3, C_BSLASH = 1 << 4, C_AT = 1 << 5,
    C_EQ = 1 << 6, C_UNDERSCORE = 1 << 7, C_SPACE = 1 << 8, C_UPPER = 1 << 9, C_LOWER = 1 << 10,
    C_DIGIT = 1 << 11, C_TOKEN = 1 << 12,   /* C_TOKEN: [A-Za-z0-9+/=_-], high-entropy candidates */
};

typedef struct rule_t {
    tally_scrub_kind_t kind;
    rule_mode_t mode;
    uint32_t options;
    const char *pattern; /* NULL: found in C (MODE_ENTROPY) */
    unsigned need_all;   /* classes every match holds */
    unsigned need_any;   /* classes of which a match holds one (0: none needed) */
    size_t min_len;      /* shortest possible match */
    const char *literal; /* text every match holds, or NULL */
    int (*maybe)(const char *s, size_t n);   /* cheap check that a match may exist, or NULL */
    const char *example; /* a text the rule redacts (tests build hostile input from it) */
} rule_t;

static int maybe_ipv6(const char *s, size_t n);

/* Not already redacted (keeps scrubbing idempotent). */
#define NOT_DONE "(?![\"']?\\[REDACTED:)"
#define IPV4_OCTET "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#define IPV4 "(?:" IPV4_OCTET "\\.){3}" IPV4_OCTET
#define H16 "[0-9A-Fa-f]{1,4}"
/* A user name in a path: may hold spaces when a separator follows. */
#define PATH_NAME(cls) "(?:" cls "+(?: +" cls "+){0,3}(?=[\\\\/])|" cls "+)"

static const rule_t rules[] = {
    {TALLY_SCRUB_PRIVATE_KEY, MODE_WHOLE, 0,
     "-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
     "(?:[\\s\\S]*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[\\s\\S]*)",
     C_DASH, 0, 27, "PRIVATE KEY", NULL, "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"},
    {TALLY_SCRUB_JWT, MODE_WHOLE, 0,
     /* Starts only where a run of base64url starts and never gives back
      * what a run took: "eyJ-eyJ-...-eyJ." once retried at every "eyJ"
      * (~0.5 s per 64 KiB). A token glued to a '-' is left to high-entropy. */
     "(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}+\\.[A-Za-z0-9_-]{5,}+\\.[A-Za-z0-9_-]*+",
     C_DOT, 0, 15, "eyJ", NULL, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.SflKxwRJSMeKKF2QT4fw"},
    {TALLY_SCRUB_URL, MODE_URL, 0,
     "\\b([A-Za-z][A-Za-z0-9+.-]{0,15})://"
     "([^\\s/?#\"'<>]*@)?"
     "(\\[[0-9A-Fa-f:.%]{2,60}\\]|[^\\s/?#:@\"'<>\\[\\]]+)"
     "((?::[0-9]{0,5})?(?:[/?#][^\\s\"'<>]*)?)",
     C_COLON | C_SLASH, 0, 5, "://", NULL, "https://user:pw@api.example.com:8443/v1/x?token=abc#frag"},
    {TALLY_SCRUB_EMAIL, MODE_WHOLE, 0,
     "(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,8}"
     "[A-Za-z]{2,24}\\b",
     C_AT | C_DOT, 0, 6, NULL, NULL, "jane.doe+tag@mail.example.co.uk"},
    {TALLY_SCRUB_AWS_ACCESS_KEY_ID, MODE_WHOLE, 0,
     "\\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\\b",
     C_UPPER, 0, 20, NULL, NULL, "AKIAIOSFODNN7EXAMPLE"},
    {TALLY_SCRUB_AWS_SECRET_KEY, MODE_KEEP1, 0,
     "((?i)\\baws[a-z0-9_.-]{0,20}?(?:secret|private)[a-z0-9_.-]{0,20}[\"']?\\s*[:=]\\s*[\"']?)"
     NOT_DONE "[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
     0, C_COLON | C_EQ, 43, NULL, NULL, "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
    {TALLY_SCRUB_GITHUB_TOKEN, MODE_WHOLE, 0,
     "\\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})\\b",
     C_UNDERSCORE, 0, 33, NULL, NULL, "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"},
    {TALLY_SCRUB_GITLAB_TOKEN, MODE_WHOLE, 0,
     "\\bgl(?:pat|dt|rt|ptt|cbt|soat|ffct|imt|oas|agent)-[A-Za-z0-9_-]{20,}",
     C_DASH, 0, 24, NULL, NULL, "glpat-Ab3dE5gH7jK9mN1pQ3sT"},
    {TALLY_SCRUB_SLACK_TOKEN, MODE_WHOLE, 0,
     "\\b(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]+-[A-Za-z0-9-]{10,})",
     C_DASH, 0, 15, NULL, NULL, "xoxb-123456789012-AbCdEfGhIjKl"},
    /* Authorization headers, then Bearer anywhere. */
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "(\\b(?:proxy-)?authorization[\"']?\\s*[:=]\\s*[\"']?(?:(?:basic|bearer|digest|token|negotiate)\\s+)?)"
     NOT_DONE "[A-Za-z0-9._~+/=-]{8,}",
     0, C_COLON | C_EQ, 22, NULL, NULL, "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "(\\bbearer\\s+)" NOT_DONE "[A-Za-z0-9._~+/-]{8,}=*",
     C_SPACE, 0, 15, NULL, NULL, "bearer AbCdEf0123456789xyz"},
    /* name=value, name: value, "name": "value". */
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "((?<![a-z0-9])"
     "(?:password|passwd|passphrase|pwd|secret|secret[_-]?key|secret[_-]?access[_-]?key|access[_-]?key"
     "|private[_-]?key|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|auth[_-]?token"
     "|id[_-]?token|session[_-]?token|api[_-]?key|apikey|api[_-]?token)"
     "[\"']?\\s*[:=]\\s*)" NOT_DONE
     "(?:\"[^\"\\r\\n]*\"|'[^'\\r\\n]*'|[^\\s\"'&,;<>]+)",
     0, C_COLON | C_EQ, 5, NULL, NULL, "\"api_key\": \"sk_live_1234567890\""},
    /* --password x, -token x */
    {TALLY_SCRUB_SECRET, MODE_KEEP1, PCRE2_CASELESS,
     "((?<![\\w-])--?(?:[a-z0-9]{1,32}-){0,3}"
     "(?:password|passwd|passphrase|secret|token|api-key|apikey|access-key|private-key)\\s+)" NOT_DONE
     "[^\\s-]\\S*",
     C_DASH | C_SPACE, 0, 8, NULL, NULL, "--db-password s3cr3t"},
    {TALLY_SCRUB_USER, MODE_KEEP1, 0,
     "(/(?:home|Users)/)" NOT_DONE PATH_NAME("[^/\\\\\\s\"'<>:\\[\\]]"),
     C_SLASH, 0, 7, NULL, NULL, "/home/John Smith/project"},
    {TALLY_SCRUB_USER, MODE_KEEP1, PCRE2_CASELESS,
     "(\\b[a-z]:(?:\\\\\\\\|\\\\|/)(?:users|documents and settings)(?:\\\\\\\\|\\\\|/))" NOT_DONE
     PATH_NAME("[^/\\\\\\s\"'<>:|*?\\[\\]]"),
     C_COLON, C_SLASH | C_BSLASH, 10, NULL, NULL, "C:\\Users\\carol\\AppData"},
    {TALLY_SCRUB_IPV6, MODE_DIGIT, 0,
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
     C_COLON | C_DIGIT, 0, 3, NULL, maybe_ipv6, "fe80::1ff:fe23:4567:890a%eth0"},
    {TALLY_SCRUB_IPV4, MODE_WHOLE, 0,
     "(?<![\\w.])" IPV4 "(?!\\w|\\.[0-9])",
     C_DOT | C_DIGIT, 0, 7, NULL, NULL, "192.168.1.20"},
    /* Runs of [A-Za-z0-9+/=_-], found in C (find_random_run). */
    {TALLY_SCRUB_HIGH_ENTROPY, MODE_ENTROPY, 0, NULL, C_UPPER | C_LOWER | C_DIGIT, 0, 32, NULL, NULL, "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg"},
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
    [TALLY_SCRUB_SECRET] = "secret",
    [TALLY_SCRUB_USER] = "user",
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
                                    (c >= '0' && c <= '9' ? C_DIGIT : 0));
    for (const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"; *t; t++)
        sc->classes[(unsigned char)*t] |= C_TOKEN;
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

/* Whether s[0..n) looks like a random token rather than a word, a path or
 * an identifier: upper case, lower case and digits all present, the
 * character class changing often (random base62 text changes class at
 * about 60% of positions; CamelCase and snake_case identifiers at under
 * 36%, as their words are runs of one case) and a Shannon entropy near
 * that of random text. Hex-only runs never qualify (one case only). About
 * 3% of random 32-character tokens and 1% of 40-character ones slip
 * through; the token formats with a known shape have their own rules. */
static int looks_random(const char *s, size_t n)
{
    unsigned counts[256] = {0};
    int upper = 0, lower = 0, digit = 0, switches = 0, prev = -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int cls = (c >= 'a' && c <= 'z') ? 0 : (c >= 'A' && c <= 'Z') ? 1 : (c >= '0' && c <= '9') ? 2 : 3;
        counts[c]++;
        upper += cls == 1;
        lower += cls == 0;
        digit += cls == 2;
        switches += prev >= 0 && cls != prev;
        prev = cls;
    }
    if (upper < 2 || lower < 2 || digit < 2 || (double)switches < 0.40 * (double)(n - 1))
        return 0;
    double h = 0;
    for (int c = 0; c < 256; c++)
        if (counts[c]) {
            double p = (double)counts[c] / (double)n;
            h -= p * log2(p);
        }
    return h >= 3.9;
}

/* Whether s[0..n) holds lit. */
static int contains(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    const char *p = s, *end = s + n;
    while (m <= (size_t)(end - p) && (p = memchr(p, lit[0], (size_t)(end - p) - m + 1)) != NULL) {
        if (memcmp(p, lit, m) == 0)
            return 1;
        p++;
    }
    return 0;
}

/* The next run of 32 or more token characters from start that looks
 * random; its bounds in *b, *e. */
static int find_random_run(const tally_scrub_t *sc, const char *s, size_t n, size_t start, PCRE2_SIZE *b,
                           PCRE2_SIZE *e)
{
#define TOKEN(i) (sc->classes[(unsigned char)s[i]] & C_TOKEN)
    size_t i = start;
    while (i > 0 && i < n && TOKEN(i - 1) && TOKEN(i))
        i++;   /* never start inside a run */
    while (i < n) {
        while (i < n && !TOKEN(i))
            i++;
        size_t r = i;
        while (i < n && TOKEN(i))
            i++;
        if (i - r >= 32 && looks_random(s + r, i - r)) {
            *b = r;
            *e = i;
            return 1;
        }
    }
    return 0;
#undef TOKEN
}

/* An IPv6 address holds "::", or six or more hex groups in a row each
 * followed by a colon. */
static int maybe_ipv6(const char *s, size_t n)
{
    int groups = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':') {
            if (i + 1 < n && s[i + 1] == ':')
                return 1;
            groups = digits > 0 && digits <= 4 ? groups + 1 : 0;
            if (groups >= 6)
                return 1;
            digits = 0;
        } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
            digits++;
        } else {
            groups = 0;
            digits = 0;
        }
    }
    return 0;
}

/* Finds the next match of rule i in subj from start: 1 with *ov its
 * ovector, 0 when there is none, -1 on a PCRE2 failure (match limit). */
static int find(tally_scrub_t *sc, size_t i, const char *subj, size_t slen, size_t start, const PCRE2_SIZE **ov)
{
    if (rules[i].pattern == NULL) {
        if (!find_random_run(sc, subj, slen, start, &sc->found[0], &sc->found[1]))
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

/* Appends the replacement of the match [s, e) of rule r of subj to dst,
 * or returns 0 when the rule's check keeps the match as it is. */
static int replace(const rule_t *r, const char *subj, const PCRE2_SIZE *ov, buf_t *dst)
{
    size_t s = ov[0], e = ov[1];
    switch (r->mode) {
    case MODE_WHOLE:
        put_token(dst, r->kind);
        return 1;
    case MODE_KEEP1:
        buf_put(dst, subj + ov[2], ov[3] - ov[2]);
        put_token(dst, r->kind);
        return 1;
    case MODE_ENTROPY:   /* find_random_run checked it */
        put_token(dst, r->kind);
        return 1;
    case MODE_DIGIT:
        for (size_t i = s; i < e; i++)
            if (subj[i] >= '0' && subj[i] <= '9') {
                put_token(dst, r->kind);
                return 1;
            }
        return 0;
    case MODE_URL: {
        /* groups: 1 scheme, 2 user info (unset: PCRE2_UNSET), 3 host, 4 rest */
        static const char done[] = "/[REDACTED:url]";
        int has_user = ov[4] != PCRE2_UNSET && ov[5] > ov[4];
        size_t rest = ov[9] - ov[8];
        if (!has_user && (rest == 0 || (rest == 1 && subj[ov[8]] == '/') ||
                          (rest == sizeof done - 1 && memcmp(subj + ov[8], done, rest) == 0)))
            return 0;
        buf_put(dst, subj + s, ov[3] - s);   /* scheme */
        buf_put(dst, "://", 3);
        buf_put(dst, subj + ov[6], ov[7] - ov[6]);
        buf_put(dst, "/", 1);
        put_token(dst, r->kind);
        return 1;
    }
    }
    return 0;
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
            (r->literal && !contains(subj, slen, r->literal)) || (r->maybe && !r->maybe(subj, slen)))
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
            if (found == 0)
                dst->len = 0;
            size_t mark = dst->len;
            buf_put(dst, subj + pos, ov[0] - pos);
            if (replace(r, subj, ov, dst)) {
                found++;
                pos = ov[1];
            } else {
                dst->len = mark;
            }
            start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
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
