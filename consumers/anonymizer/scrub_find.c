/*
 * The scrubbing candidates found or checked in C (see scrub_find.h).
 */
#include "scrub_find.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static int is_word(unsigned char c)
{
    return is_alnum(c) || c == '_';
}

/* [A-Za-z0-9+/=_-], by byte (the high-entropy scan's inner loop). */
static const unsigned char token_bytes[256] = {
    ['+'] = 1, ['-'] = 1, ['/'] = 1, ['='] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int is_token(unsigned char c)
{
    return token_bytes[c];
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
    uint32_t counts[256];   /* only the entries of the bytes seen are set */
    unsigned char seen[256];
    int upper = 0, lower = 0, digit = 0, switches = 0, prev = -1, nseen = 0;
    for (size_t i = 0; i < n; i++)
        counts[(unsigned char)s[i]] = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int cls = (c >= 'a' && c <= 'z') ? 0 : (c >= 'A' && c <= 'Z') ? 1 : (c >= '0' && c <= '9') ? 2 : 3;
        if (counts[c]++ == 0)
            seen[nseen++] = c;
        upper += cls == 1;
        lower += cls == 0;
        digit += cls == 2;
        switches += prev >= 0 && cls != prev;
        prev = cls;
    }
    if (upper < 2 || lower < 2 || digit < 2 || (double)switches < 0.40 * (double)(n - 1))
        return 0;
    double h = 0;
    for (int k = 0; k < nseen; k++) {
        double p = (double)counts[seen[k]] / (double)n;
        h -= p * log2(p);
    }
    return h >= 3.9;
}

int tally_scrub_find_random_run(const char *s, size_t n, size_t start, size_t *b, size_t *e)
{
#define TOKEN(i) is_token((unsigned char)s[i])
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
            /* the runs joined to it by single dots: back to start at most
             * (each byte is passed again once), forward past them */
            while (r >= start + 2 && s[r - 1] == '.' && TOKEN(r - 2)) {
                r--;
                while (r > start && TOKEN(r - 1))
                    r--;
            }
            while (i + 1 < n && s[i] == '.' && TOKEN(i + 1)) {
                i++;
                while (i < n && TOKEN(i))
                    i++;
            }
            *b = r;
            *e = i;
            return 1;
        }
    }
    return 0;
#undef TOKEN
}

/* RFC 5322 atext and the dot. */
static int is_local(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* The end of the longest domain at s[d..): LDH labels of at most 63 bytes
 * joined by dots, the last one (at least the second) starting with 2-24
 * letters followed by a non-word byte; 0 when there is none. Stops at the
 * first byte no domain holds, so it reads each byte once. */
static size_t domain_end(const char *s, size_t n, size_t d)
{
    size_t i = d, best = 0;
    for (int labels = 0;; labels++) {
        size_t ls = i;
        while (i < n && (is_alnum((unsigned char)s[i]) || s[i] == '-'))
            i++;
        if (i == ls || i - ls > 63 || s[ls] == '-')
            break;
        if (labels >= 1) {
            size_t t = ls;
            while (t < i && is_alpha((unsigned char)s[t]))
                t++;
            if (t - ls >= 2 && t - ls <= 24 && (t == n || !is_word((unsigned char)s[t])))
                best = t;
        }
        if (s[i - 1] == '-' || i >= n || s[i] != '.')
            break;
        i++;
    }
    return best;
}

/* s[0..n) names a key: letters, digits, '_', '-', '.', with a letter. */
static int is_key(const char *s, size_t n)
{
    int letter = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '_' && c != '-' && c != '.')
            return 0;
        letter |= is_alpha(c);
    }
    return letter;
}

int tally_scrub_find_email(const char *s, size_t n, size_t start, size_t *b, size_t *e)
{
    const char *at;
    size_t p = start;
    /* Each '@' reads back to the previous one at most ('@' is not atext)
     * and forward over its domain (which holds no '@'): linear. */
    while (p < n && (at = memchr(s + p, '@', n - p)) != NULL) {
        size_t a = (size_t)(at - s), l = a;
        while (l > start && is_local((unsigned char)s[l - 1]))
            l--;
        for (size_t k = a; k > l; k--)
            if (s[k - 1] == '/') {
                l = k;
                break;
            }
        const char *eq = memchr(s + l, '=', a - l);
        /* a key, or a redaction that took one: "[REDACTED:gitlab-token]=" */
        if (eq != NULL && (is_key(s + l, (size_t)(eq - (s + l))) || (eq == s + l && l > 0 && s[l - 1] == ']')))
            l = (size_t)(eq - s) + 1;
        while (l < a && (s[l] == '\'' || s[l] == '`' || s[l] == '{' || s[l] == '|' || s[l] == '.'))
            l++;
        size_t d = l < a ? domain_end(s, n, a + 1) : 0;
        if (d > 0) {
            *b = l;
            *e = d;
            return 1;
        }
        p = a + 1;
    }
    return 0;
}

/* The length of a redaction "[REDACTED:<kind>]" at s[i..e), or 0. */
static size_t redaction_at(const char *s, size_t i, size_t e)
{
    static const char head[] = "[REDACTED:";
    size_t k = i + sizeof head - 1;
    if (e - i < sizeof head || memcmp(s + i, head, sizeof head - 1) != 0)
        return 0;
    while (k < e && k - i < 40 && ((s[k] >= 'a' && s[k] <= 'z') || is_digit((unsigned char)s[k]) || s[k] == '-'))
        k++;
    return k < e && s[k] == ']' && k > i + sizeof head - 1 ? k + 1 - i : 0;
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int tally_scrub_url_authority(const char *s, size_t b, size_t e, size_t *hb, size_t *he, size_t *end)
{
    size_t h = b, i, t, lim = e;
    if ((t = redaction_at(s, b, e)) > 0) {
        *hb = b;
        *he = *end = b + t;
        return 2;
    }
    /* A redaction past the start ends the authority: a later rule took it
     * with what followed ("https://+44 20 7946 0958/x" is a URL of "+44"). */
    for (i = b + 1; i < e; i++)
        if (s[i] == '[' && redaction_at(s, i, e) > 0 && !(i == b + 1 && s[b] == '[')) {
            lim = i;
            break;
        }
    *end = lim;
    for (i = b; i < lim; i++)
        if (s[i] == '@')
            h = i + 1;
    i = h;
    if (i < lim && s[i] == '[') {
        /* an IP literal: [::1], [fe80::1%eth0], or a scrubbed [[REDACTED:ipv6]] */
        i++;
        if ((t = redaction_at(s, i, e)) > 0) {
            i += t;
        } else {
            while (i < lim && (is_hex((unsigned char)s[i]) || s[i] == ':' || s[i] == '.'))
                i++;
            if (i < lim && s[i] == '%')
                while (++i < lim && (is_alnum((unsigned char)s[i]) || strchr("._~%-", s[i]) != NULL))
                    ;
        }
        if (i >= e || s[i] != ']')
            return 0;
        i++;
        if (lim < i)
            *end = lim = e;
    } else {
        while (i < lim && s[i] != ':' && s[i] != '[' && s[i] != ']')
            i++;
    }
    *hb = h;
    *he = i;
    if (i == lim)
        return 1;
    if (s[i] != ':')
        return 0;
    for (i++; i < lim; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return 1;
}

size_t tally_scrub_check_digit(const char *s, size_t n, size_t b, size_t e)
{
    (void)n;
    for (size_t i = b; i < e; i++)
        if (is_digit((unsigned char)s[i]))
            return e;
    return 0;
}

/* A number of nd digits d that payment cards use: issuer prefix (first
 * digits) and that issuer's lengths. */
static int card_issuer(const char *d, size_t nd)
{
    int p2 = (d[0] - '0') * 10 + (d[1] - '0'), p4 = p2 * 100 + (d[2] - '0') * 10 + (d[3] - '0'), p3 = p4 / 10;
    if (d[0] == '4')                                            /* Visa */
        return nd == 13 || nd == 16 || nd == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))   /* Mastercard */
        return nd == 16;
    if (p2 == 34 || p2 == 37)                                   /* American Express */
        return nd == 15;
    return (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305)) /* Diners */ ||
           (p4 >= 3528 && p4 <= 3589) /* JCB */ || p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 /* Discover */ ||
           p2 == 62 /* UnionPay */ || p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67 /* Maestro */;
}

static int luhn_ok(const char *d, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i % 2 == 1)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return sum % 10 == 0;
}

size_t tally_scrub_check_card(const char *s, size_t n, size_t b, size_t e)
{
    char d[20];
    size_t nd = 0, group = 0, groups = 0, best = 0;
    char sep = 0;
    (void)n;
    for (size_t i = b; i <= e; i++) {
        unsigned char c = i < e ? (unsigned char)s[i] : 0;
        if (is_digit(c)) {
            if (nd == sizeof d)
                break;
            d[nd++] = (char)c;
            group++;
            continue;
        }
        /* The end of a group: the digits so far may be the card. Printed
         * cards group 4-4-4-4(-3), 4-6-5 or 4-6-4: a first group of 4,
         * others of 4 or 6, a last one of at least 3. */
        groups++;
        if (sep && (group < 3 || group > 6))
            return best;
        if (nd >= 13 && nd <= 19 && card_issuer(d, nd) && luhn_ok(d, nd))
            best = i;
        if (i == e || (groups == 1 ? group != 4 : group != 4 && group != 6))
            break;
        sep = (char)c;   /* spaces and dashes may mix: "4111 1111-1111 1111" */
        group = 0;
    }
    /* without separators only the whole run counts */
    return sep == 0 && best != e ? 0 : best;
}

/* IBAN lengths by country (ISO 13616 registry). */
static const struct {
    char cc[3];
    unsigned char len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
    {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
    {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18},
    {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24},
    {"SC", 31}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

size_t tally_scrub_check_iban(const char *s, size_t n, size_t b, size_t e)
{
    size_t len = 0;
    for (size_t k = 0; k < sizeof iban_lengths / sizeof iban_lengths[0]; k++)
        if (upper(s[b]) == iban_lengths[k].cc[0] && upper(s[b + 1]) == iban_lengths[k].cc[1]) {
            len = iban_lengths[k].len;
            break;
        }
    if (len == 0)
        return 0;
    /* the country's length of characters, then no letter or digit */
    char c[34];
    size_t nc = 0, i = b;
    for (; i < e && nc < len; i++)
        if (s[i] != ' ')
            c[nc++] = s[i];
    if (nc < len || (i < n && is_alnum((unsigned char)s[i])))
        return 0;
    /* mod 97 of the BBAN, then the country and check digits, letters as
     * 10..35 */
    unsigned rem = 0;
    for (size_t k = 0; k < nc; k++) {
        unsigned char ch = (unsigned char)upper(c[(k + 4) % nc]);
        if (is_digit(ch))
            rem = (rem * 10 + (ch - '0')) % 97;
        else if (ch >= 'A' && ch <= 'Z')
            rem = (rem * 100 + (ch - 'A' + 10)) % 97;
        else
            return 0;
    }
    return rem == 1 ? i : 0;
}

size_t tally_scrub_check_phone(const char *s, size_t n, size_t b, size_t e)
{
    size_t digits = 0;
    (void)n;
    for (size_t i = b; i < e; i++)
        digits += is_digit((unsigned char)s[i]);
    if (s[b] == '+')
        return digits >= 8 && digits <= 15 ? e : 0;
    return digits >= 9 && digits <= 12 ? e : 0;
}

/* What s[b..e) holds, '=' padding left out. */
typedef struct {
    size_t len;
    int digit, mixed, hex_letters;
} cred_shape_t;

static cred_shape_t cred_shape(const char *s, size_t b, size_t e)
{
    cred_shape_t c = {0, 0, 0, 1};
    int lower = 0, upper = 0;
    while (e > b && s[e - 1] == '=')
        e--;
    c.len = e - b;
    for (size_t i = b; i < e; i++) {
        unsigned char ch = (unsigned char)s[i];
        c.digit |= is_digit(ch);
        lower |= ch >= 'a' && ch <= 'z';
        upper |= i > b && ch >= 'A' && ch <= 'Z';
        c.hex_letters &= (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    }
    c.mixed = lower && upper;
    return c;
}

size_t tally_scrub_check_credential(const char *s, size_t n, size_t b, size_t e)
{
    cred_shape_t c = cred_shape(s, b, e);
    (void)n;
    return c.len >= 8 || (c.len >= 4 && (c.digit || c.mixed)) ? e : 0;
}

size_t tally_scrub_check_word_credential(const char *s, size_t n, size_t b, size_t e)
{
    cred_shape_t c = cred_shape(s, b, e);
    (void)n;
    return c.len >= 4 && (c.digit || c.mixed || (c.hex_letters && c.len >= 8)) ? e : 0;
}

int tally_scrub_maybe_ipv6(const char *s, size_t n)
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
        } else if (is_hex(c)) {
            digits++;
        } else {
            groups = 0;
            digits = 0;
        }
    }
    return 0;
}
