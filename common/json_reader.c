/*
 * json_reader.c: the strict JSON pull reader of json_reader.h. One pass,
 * byte by byte, nothing allocated: strings are decoded into the caller's
 * buffer, containers are tracked by a depth count (and, when skipping, by
 * a bit stack on the stack).
 */
#include "json_reader.h"

#include "hexdigit.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tally_json_reader_t reader_t;

#define MSG_EOF "unexpected end of input"
#define MSG_DEPTH "nested deeper than the maximum depth of 2048"

/* Keeps the first error only: later ones are consequences. */
static int fail(reader_t *r, const char *at, const char *what)
{
    if (r->error == NULL) {
        r->error = what;
        r->error_at = (size_t)(at - r->text);
    }
    return -1;
}

static void skip_ws(reader_t *r)
{
    const char *p = r->p, *end = r->end;

    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    r->p = p;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

void tally_json_reader_init(tally_json_reader_t *r, const char *text, size_t len)
{
    r->text = text;
    r->p = text;
    r->end = text + len;
    r->depth = 0;
    r->allow_nul = false;
    r->error = NULL;
    r->error_at = 0;
}

/* ---- strings ---- */

/* Bytes a string holds as they are: printable ASCII but '"' and '\\'. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};


/* Whether all eight bytes of x are plain (as the table above), by the
 * usual word tricks: a byte below 0x20, equal to '"' or '\\', or with
 * its high bit set shows as a set high bit in the result. */
static bool plain8(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    uint64_t bad = ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | x;
    return (bad & high) == 0;
}

/* Length of the well-formed UTF-8 sequence at p (a byte >= 0x80), or 0
 * (Unicode table 3-7: no overlong forms, no surrogates, nothing above
 * U+10FFFF). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t k;

    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return k;
}

static long hex4(const unsigned char *p, const unsigned char *end)
{
    long v = 0;

    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = tally_hex_digit((char)p[i]);

        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Decodes the escape at *pp (a backslash) into out[0..*k). */
static int escape(reader_t *r, const unsigned char **pp, const unsigned char *end, unsigned char out[4],
                  size_t *k)
{
    const unsigned char *p = *pp;
    long cp, lo;

    if (end - p < 2)
        return fail(r, (const char *)p, MSG_EOF);
    *k = 1;
    switch (p[1]) {
    case '"': out[0] = '"'; break;
    case '\\': out[0] = '\\'; break;
    case '/': out[0] = '/'; break;
    case 'b': out[0] = '\b'; break;
    case 'f': out[0] = '\f'; break;
    case 'n': out[0] = '\n'; break;
    case 'r': out[0] = '\r'; break;
    case 't': out[0] = '\t'; break;
    case 'u':
        cp = hex4(p + 2, end);
        if (cp < 0)
            return fail(r, (const char *)p, "invalid \\u escape (four hex digits expected)");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(r, (const char *)p, "unpaired surrogate in a \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || (lo = hex4(p + 8, end)) < 0xDC00 ||
                lo > 0xDFFF)
                return fail(r, (const char *)p, "unpaired surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        if (cp == 0 && !r->allow_nul)
            return fail(r, (const char *)p, "\\u0000 (NUL) is not accepted in a string");
        if (cp < 0x80) {
            out[0] = (unsigned char)cp;
        } else if (cp < 0x800) {
            out[0] = (unsigned char)(0xC0 | (cp >> 6));
            out[1] = (unsigned char)(0x80 | (cp & 0x3F));
            *k = 2;
        } else if (cp < 0x10000) {
            out[0] = (unsigned char)(0xE0 | (cp >> 12));
            out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            out[2] = (unsigned char)(0x80 | (cp & 0x3F));
            *k = 3;
        } else {
            out[0] = (unsigned char)(0xF0 | (cp >> 18));
            out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            out[3] = (unsigned char)(0x80 | (cp & 0x3F));
            *k = 4;
        }
        *pp = p + 6;
        return 0;
    default:
        return fail(r, (const char *)p, "invalid escape");
    }
    *pp = p + 2;
    return 0;
}

/* The string at r->p (its opening quote). */
static int read_string(reader_t *r, char *buf, size_t cap, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)r->p + 1, *end = (const unsigned char *)r->end;
    size_t n = 0, room = cap > 0 ? cap - 1 : 0;
    unsigned char tmp[4];

#define EMIT(src, k)                                                         \
    do {                                                                     \
        size_t k_ = (k);                                                     \
        if (n < room)                                                        \
            memcpy(buf + n, (src), k_ < room - n ? k_ : room - n);           \
        n += k_;                                                             \
    } while (0)

    for (;;) {
        size_t k;

        /* Plain ASCII, the common case: eight bytes at a time while they
         * all are, then byte by byte, copied as scanned (strings are
         * short: a call to memcpy per run costs more). */
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if (!plain8(x))
                break;
            if (buf != NULL && n + 8 <= room)
                memcpy(buf + n, p, 8);
            else if (buf != NULL)
                for (size_t i = 0; i < 8; i++)
                    if (n + i < room)
                        buf[n + i] = (char)p[i];
            n += 8;
            p += 8;
        }
        const unsigned char *run = p;
        if (buf == NULL) {
            while (p < end && plain[*p])
                p++;
            n += (size_t)(p - run);
        } else {
            while (p < end && plain[*p]) {
                if (n < room)
                    buf[n] = (char)*p;
                n++;
                p++;
            }
        }
        if (p >= end)
            return fail(r, (const char *)p, "unterminated string");
        if (*p == '"')
            break;
        if (*p == '\\') {
            if (escape(r, &p, end, tmp, &k) != 0)
                return -1;
            EMIT(tmp, k);
        } else if (*p < 0x20) {
            return fail(r, (const char *)p, "control character in a string (it must be escaped)");
        } else {
            k = utf8_len(p, end);
            if (k == 0)
                return fail(r, (const char *)p, "invalid UTF-8");
            EMIT(p, k);
            p += k;
        }
    }
#undef EMIT
    if (cap > 0)
        buf[n < room ? n : room] = '\0';
    *out_len = n;
    r->p = (const char *)p + 1;
    return 0;
}

int tally_json_reader_string(tally_json_reader_t *r, char *buf, size_t cap, size_t *len)
{
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, r->p, MSG_EOF);
    if (*r->p != '"')
        return fail(r, r->p, "expected a string");
    return read_string(r, buf, cap, len);
}

int tally_json_reader_key(tally_json_reader_t *r, char *buf, size_t cap, size_t *len)
{
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, r->p, MSG_EOF);
    if (*r->p != '"')
        return fail(r, r->p, "expected a string (an object key)");
    if (read_string(r, buf, cap, len) != 0)
        return -1;
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, r->p, MSG_EOF);
    if (*r->p != ':')
        return fail(r, r->p, "expected ':' after an object key");
    r->p++;
    return 0;
}

/* ---- numbers and literals ---- */

/* The number at r->p; num may be NULL (checking only). */
static int read_number(reader_t *r, tally_json_number_t *num)
{
    const char *s = r->p, *p = s, *end = r->end, *digits, *int_end;
    bool neg = false, integer = true;

    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || !is_digit(*p))
        return fail(r, p, "invalid number");
    digits = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(r, digits, "invalid number (leading zero)");
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    int_end = p;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return fail(r, p, "invalid number (a digit must follow '.')");
        while (p < end && is_digit(*p))
            p++;
        integer = false;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return fail(r, p, "invalid number (exponent without digits)");
        while (p < end && is_digit(*p))
            p++;
        integer = false;
    }
    if (integer) {
        uint64_t m = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

        if (int_end - digits <= 18) { /* below 10^18: cannot overflow */
            for (const char *q = digits; q < int_end; q++)
                m = m * 10 + (unsigned)(*q - '0');
        } else {
            for (const char *q = digits; q < int_end; q++) {
                unsigned d = (unsigned)(*q - '0');
                if (m > (limit - d) / 10)
                    return fail(r, s, "integer beyond 64 bits");
                m = m * 10 + d;
            }
        }
        if (num != NULL) {
            num->integer = true;
            num->i = !neg ? (int64_t)m : m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
            num->d = (double)num->i;
        }
    } else {
        char buf[TALLY_JSON_MAX_NUMBER_CHARS + 1];
        size_t len = (size_t)(p - s);
        char point = localeconv()->decimal_point[0], *dot;
        double d;

        if (len > TALLY_JSON_MAX_NUMBER_CHARS)
            return fail(r, s, "number longer than 512 characters");
        memcpy(buf, s, len);
        buf[len] = '\0';
        /* strtod reads the locale's decimal point, JSON's is '.'. */
        if (point != '.' && (dot = memchr(buf, '.', len)) != NULL)
            *dot = point;
        errno = 0;
        d = strtod(buf, NULL);
        if (errno == ERANGE && isinf(d))
            return fail(r, s, "real number beyond the range of a double");
        if (num != NULL) {
            num->integer = false;
            num->i = 0;
            num->d = d;
        }
    }
    r->p = p;
    return 0;
}

int tally_json_reader_number(tally_json_reader_t *r, tally_json_number_t *num)
{
    skip_ws(r);
    return read_number(r, num);
}

static int literal(reader_t *r)
{
    static const char *const words[] = {"true", "false", "null"};
    size_t avail = (size_t)(r->end - r->p);

    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (*r->p == words[i][0]) {
            if (avail < n || memcmp(r->p, words[i], n) != 0)
                return fail(r, r->p, "invalid literal (true, false or null expected)");
            r->p += n;
            return 0;
        }
    }
    return fail(r, r->p, "unexpected character");
}

/* ---- values and containers ---- */

int tally_json_reader_peek(tally_json_reader_t *r, tally_json_kind_t *kind)
{
    const char *p;

    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, r->p, MSG_EOF);
    switch (*r->p) {
    case '{': *kind = TALLY_JSON_OBJECT; return 0;
    case '[': *kind = TALLY_JSON_ARRAY; return 0;
    case '"': *kind = TALLY_JSON_STRING; return 0;
    case 't': *kind = TALLY_JSON_TRUE; return 0;
    case 'f': *kind = TALLY_JSON_FALSE; return 0;
    case 'n': *kind = TALLY_JSON_NULL; return 0;
    default:
        break;
    }
    if (*r->p != '-' && !is_digit(*r->p))
        return fail(r, r->p, "unexpected character");
    p = r->p + 1;
    while (p < r->end && is_digit(*p))
        p++;
    *kind = p < r->end && (*p == '.' || *p == 'e' || *p == 'E') ? TALLY_JSON_REAL : TALLY_JSON_INTEGER;
    return 0;
}

static int enter(reader_t *r)
{
    if (r->depth >= TALLY_JSON_MAX_DEPTH)
        return fail(r, r->p, MSG_DEPTH);
    r->depth++;
    r->p++;
    return 0;
}

int tally_json_reader_begin(tally_json_reader_t *r, char open)
{
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, r->p, MSG_EOF);
    if (*r->p != open)
        return fail(r, r->p, open == '{' ? "expected an object" : "expected an array");
    return enter(r);
}

int tally_json_reader_next(tally_json_reader_t *r, char close, size_t *count, bool *more)
{
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, r->p, MSG_EOF);
    if (*r->p == close) {
        r->p++;
        r->depth--;
        *more = false;
        return 0;
    }
    if (*count > 0) {
        if (*r->p != ',')
            return fail(r, r->p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        r->p++;
        /* "[1,]" and "{"a":1,}": what follows must be a value or a key. */
        skip_ws(r);
        if (r->p < r->end && *r->p == close)
            return fail(r, r->p, "trailing comma");
    }
    (*count)++;
    *more = true;
    return 0;
}

int tally_json_reader_skip(tally_json_reader_t *r)
{
    uint64_t objects[TALLY_JSON_MAX_DEPTH / 64]; /* per level opened here: 1 object, 0 array */
    const unsigned base = r->depth;
    size_t len;

    for (;;) {
        unsigned level;
        char c;

        /* A value. */
        skip_ws(r);
        if (r->p >= r->end)
            return fail(r, r->p, MSG_EOF);
        c = *r->p;
        if (c == '{' || c == '[') {
            level = r->depth - base;
            if (enter(r) != 0)
                return -1;
            if (c == '{')
                objects[level / 64] |= UINT64_C(1) << (level % 64);
            else
                objects[level / 64] &= ~(UINT64_C(1) << (level % 64));
            skip_ws(r);
            if (r->p < r->end && *r->p == (c == '{' ? '}' : ']')) {
                r->p++;
                r->depth--;
            } else {
                if (c == '{' && tally_json_reader_key(r, NULL, 0, &len) != 0)
                    return -1;
                continue;
            }
        } else if (c == '"') {
            if (read_string(r, NULL, 0, &len) != 0)
                return -1;
        } else if (c == '-' || is_digit(c)) {
            if (read_number(r, NULL) != 0)
                return -1;
        } else if (literal(r) != 0) {
            return -1;
        }
        /* After a value: close what ends here, up to the next sibling. */
        for (;;) {
            bool obj;

            if (r->depth == base)
                return 0;
            level = r->depth - 1 - base;
            obj = (objects[level / 64] >> (level % 64)) & 1;
            skip_ws(r);
            if (r->p >= r->end)
                return fail(r, r->p, MSG_EOF);
            if (*r->p == (obj ? '}' : ']')) {
                r->p++;
                r->depth--;
                continue;
            }
            if (*r->p != ',')
                return fail(r, r->p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            r->p++;
            skip_ws(r);
            if (r->p < r->end && *r->p == (obj ? '}' : ']'))
                return fail(r, r->p, "trailing comma");
            if (obj && tally_json_reader_key(r, NULL, 0, &len) != 0)
                return -1;
            break;
        }
    }
}

int tally_json_reader_end(tally_json_reader_t *r)
{
    skip_ws(r);
    if (r->p != r->end)
        return fail(r, r->p, "data after the JSON value");
    return 0;
}

int tally_json_reader_validate(tally_json_reader_t *r, const char *text, size_t len, bool allow_nul)
{
    tally_json_reader_init(r, text, len);
    r->allow_nul = allow_nul;
    if (tally_json_reader_skip(r) != 0)
        return -1;
    return tally_json_reader_end(r);
}

void tally_json_reader_error(const tally_json_reader_t *r, char *buf, size_t size)
{
    size_t line = 1, col = 1;

    if (buf == NULL || size == 0)
        return;
    for (size_t i = 0; i < r->error_at; i++) {
        if (r->text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(buf, size, "invalid JSON at line %zu column %zu: %s", line, col,
             r->error ? r->error : "unknown error");
}

int tally_json_reader_find_string(const char *text, size_t len, const char *key, char *buf, size_t cap,
                                  size_t *out_len)
{
    tally_json_reader_t r;
    tally_json_kind_t kind;
    size_t count = 0, klen, want = strlen(key);
    char kbuf[256];
    bool more;

    tally_json_reader_init(&r, text, len);
    r.allow_nul = true;
    if (tally_json_reader_begin(&r, '{') != 0)
        return -1;
    for (;;) {
        if (tally_json_reader_next(&r, '}', &count, &more) != 0)
            return -1;
        if (!more)
            return 0;
        if (tally_json_reader_key(&r, kbuf, sizeof kbuf, &klen) != 0)
            return -1;
        if (klen == want && want < sizeof kbuf && memcmp(kbuf, key, want) == 0) {
            if (tally_json_reader_peek(&r, &kind) != 0)
                return -1;
            if (kind != TALLY_JSON_STRING)
                return 0;
            return tally_json_reader_string(&r, buf, cap, out_len) == 0 ? 1 : -1;
        }
        if (tally_json_reader_skip(&r) != 0)
            return -1;
    }
}
