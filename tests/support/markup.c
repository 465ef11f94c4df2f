#include "markup.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 256
#define MAX_NAME 32
#define MAX_ATTRS 64

typedef struct {
    const unsigned char *doc;
    size_t pos;
    char *err;
    size_t errsize;
} scan_t;

static int fail(scan_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(scan_t *s, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(s->err, s->errsize, "%s at byte %zu near \"%.40s\"", why, s->pos, (const char *)s->doc + s->pos);
    return -1;
}

/* Length of the valid UTF-8 character at p allowed in text, or 0. */
static size_t text_char(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return (c >= 0x20 && c != 0x7F) || c == '\t' || c == '\n' || c == '\r';
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F) ||
        cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return len;
}

static int entity(scan_t *s)
{
    const unsigned char *p = s->doc + s->pos + 1;
    size_t n = 0;
    if (p[0] == '#') {
        if (p[1] == 'x' || p[1] == 'X') {
            for (n = 2; isxdigit(p[n]); n++)
                ;
            if (n == 2)
                return fail(s, "empty hex character reference");
        } else {
            for (n = 1; isdigit(p[n]); n++)
                ;
            if (n == 1)
                return fail(s, "empty character reference");
        }
    } else {
        for (; isalnum(p[n]); n++)
            ;
        if (n == 0)
            return fail(s, "bare '&'");
    }
    if (p[n] != ';')
        return fail(s, "entity without ';'");
    s->pos += n + 2;
    return 0;
}

static size_t name_len(const unsigned char *p)
{
    size_t n = 0;
    while (isalnum(p[n]) || p[n] == '-' || p[n] == ':' || p[n] == '_')
        n++;
    return n;
}

static int is_void(const char *name)
{
    static const char *const v[] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                                    "source", "track", "wbr"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (strcasecmp(name, v[i]) == 0)
            return 1;
    return 0;
}

/* Text (or an attribute value up to the quote q; 0 for text) up to '<'. */
static int text(scan_t *s, char q)
{
    for (;;) {
        unsigned char c = s->doc[s->pos];
        if (c == '\0' || (q && c == (unsigned char)q) || (!q && c == '<'))
            return 0;
        if (c == '<')
            return fail(s, "'<' in an attribute value");
        if (c == '&') {
            if (entity(s))
                return -1;
            continue;
        }
        size_t n = text_char(s->doc + s->pos);
        if (n == 0)
            return fail(s, "invalid UTF-8 or control character 0x%02x", c);
        s->pos += n;
    }
}

int tally_test_markup_check(const char *doc, char *err, size_t errsize)
{
    scan_t s = {.doc = (const unsigned char *)doc, .err = err, .errsize = errsize};
    char stack[MAX_DEPTH][MAX_NAME];
    int depth = 0;
    if (errsize)
        err[0] = '\0';
    while (s.doc[s.pos]) {
        if (s.doc[s.pos] != '<') {
            if (text(&s, 0))
                return -1;
            continue;
        }
        const char *here = doc + s.pos;
        if (strncmp(here, "<!--", 4) == 0) {
            const char *end = strstr(here + 4, "-->");
            if (!end)
                return fail(&s, "unterminated comment");
            s.pos = (size_t)(end + 3 - doc);
            continue;
        }
        if (strncasecmp(here, "<!doctype html>", 15) == 0) {
            s.pos += 15;
            continue;
        }
        int closing = here[1] == '/';
        s.pos += closing ? 2 : 1;
        size_t n = name_len(s.doc + s.pos);
        if (n == 0)
            return fail(&s, "'<' that starts no tag");
        if (n >= MAX_NAME)
            return fail(&s, "tag name too long");
        char name[MAX_NAME];
        memcpy(name, doc + s.pos, n);
        name[n] = '\0';
        s.pos += n;
        if (strcasecmp(name, "script") == 0)
            return fail(&s, "a script element");
        if (closing) {
            while (s.doc[s.pos] == ' ')
                s.pos++;
            if (s.doc[s.pos] != '>')
                return fail(&s, "malformed end tag");
            s.pos++;
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return fail(&s, "</%s> closes %s", name, depth ? stack[depth - 1] : "nothing");
            depth--;
            continue;
        }
        char attrs[MAX_ATTRS][MAX_NAME];
        int nattrs = 0, self_closing = 0;
        for (;;) {
            size_t ws = 0;
            while (isspace(s.doc[s.pos]))
                s.pos++, ws++;
            if (s.doc[s.pos] == '>') {
                s.pos++;
                break;
            }
            if (s.doc[s.pos] == '/' && s.doc[s.pos + 1] == '>') {
                s.pos += 2;
                self_closing = 1;
                break;
            }
            if (ws == 0)
                return fail(&s, "attributes not separated by space");
            size_t an = name_len(s.doc + s.pos);
            if (an == 0 || an >= MAX_NAME)
                return fail(&s, "malformed attribute name");
            if (nattrs == MAX_ATTRS)
                return fail(&s, "too many attributes");
            memcpy(attrs[nattrs], doc + s.pos, an);
            attrs[nattrs][an] = '\0';
            if (strncasecmp(attrs[nattrs], "on", 2) == 0)
                return fail(&s, "an event handler attribute");
            for (int k = 0; k < nattrs; k++)
                if (strcasecmp(attrs[k], attrs[nattrs]) == 0)
                    return fail(&s, "attribute %s twice", attrs[k]);
            nattrs++;
            s.pos += an;
            if (s.doc[s.pos] != '=')
                continue; /* a boolean attribute */
            s.pos++;
            char q = (char)s.doc[s.pos];
            if (q != '"' && q != '\'')
                return fail(&s, "unquoted attribute value");
            s.pos++;
            if (text(&s, q))
                return -1;
            if (s.doc[s.pos] != (unsigned char)q)
                return fail(&s, "unterminated attribute value");
            s.pos++;
        }
        if (self_closing || is_void(name))
            continue;
        if (strcasecmp(name, "style") == 0) {
            const char *end = strstr(doc + s.pos, "</style>");
            if (!end)
                return fail(&s, "unterminated style");
            const char *lt = memchr(doc + s.pos, '<', (size_t)(end - (doc + s.pos)));
            if (lt)
                return fail(&s, "'<' in a style element");
            s.pos = (size_t)(end - doc) + 8;
            continue;
        }
        if (depth == MAX_DEPTH)
            return fail(&s, "nested too deep");
        memcpy(stack[depth++], name, n + 1);
    }
    if (depth)
        return fail(&s, "<%s> not closed", stack[depth - 1]);
    return 0;
}

int tally_test_count(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    if (len == 0)
        return 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}
