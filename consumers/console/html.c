#include "html.h"

#include <stdio.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the well-formed UTF-8 sequence at s[0..n) and its code point,
 * or 0 when the bytes there are not one (RFC 3629 table 3-7). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, min = 0x80, *cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, min = 0x800, *cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, min = 0x10000, *cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0;
    return len;
}

static int allowed_code_point(uint32_t cp)
{
    if (cp < 0x20)
        return cp == '\t' || cp == '\n';
    if (cp >= 0x7F && cp <= 0x9F)
        return 0;
    return cp != 0xFFFE && cp != 0xFFFF;
}

void tally_html_text_n(tally_textbuf_t *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: start of the bytes still to copy as they are */
    tally_textbuf_reserve(out, n);
    while (i < n) {
        const char *esc = NULL;
        switch (p[i]) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '"': esc = "&quot;"; break;
        case '\'': esc = "&#39;"; break;
        default: break;
        }
        if (esc) {
            tally_textbuf_append(out, s + run, i - run);
            tally_textbuf_puts(out, esc);
            run = ++i;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if (len == 0 || !allowed_code_point(cp)) {
            tally_textbuf_append(out, s + run, i - run);
            tally_textbuf_puts(out, REPLACEMENT);
            i += len ? len : 1;
            run = i;
            continue;
        }
        i += len;
    }
    tally_textbuf_append(out, s + run, n - run);
}

void tally_html_text(tally_textbuf_t *out, const char *s)
{
    if (s)
        tally_html_text_n(out, s, strlen(s));
}

void tally_html_url_component(tally_textbuf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            tally_textbuf_putc(out, (char)c);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            tally_textbuf_append(out, enc, 3);
        }
    }
}

void tally_html_attr(tally_textbuf_t *out, const char *name, const char *value)
{
    tally_textbuf_putc(out, ' ');
    tally_textbuf_puts(out, name);
    tally_textbuf_puts(out, "=\"");
    tally_html_text(out, value);
    tally_textbuf_putc(out, '"');
}

void tally_html_open(tally_textbuf_t *out, const char *tag, const char *cls)
{
    tally_textbuf_putc(out, '<');
    tally_textbuf_puts(out, tag);
    if (cls)
        tally_html_attr(out, "class", cls);
    tally_textbuf_putc(out, '>');
}

void tally_html_close(tally_textbuf_t *out, const char *tag)
{
    tally_textbuf_puts(out, "</");
    tally_textbuf_puts(out, tag);
    tally_textbuf_putc(out, '>');
}

void tally_html_elem(tally_textbuf_t *out, const char *tag, const char *cls, const char *text)
{
    tally_html_open(out, tag, cls);
    tally_html_text(out, text);
    tally_html_close(out, tag);
}

/* Appends the decimal digits of u with a comma every three. */
static void put_grouped(tally_textbuf_t *out, uint64_t u)
{
    char tmp[32];
    char *p = tmp + sizeof tmp;
    int digits = 0;
    do {
        if (digits && digits % 3 == 0)
            *--p = ',';
        *--p = (char)('0' + u % 10);
        u /= 10;
        digits++;
    } while (u);
    tally_textbuf_append(out, p, (size_t)(tmp + sizeof tmp - p));
}

static uint64_t magnitude(int64_t v)
{
    /* In unsigned arithmetic so INT64_MIN does not overflow. */
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

void tally_html_int(tally_textbuf_t *out, int64_t v)
{
    if (v < 0)
        tally_textbuf_putc(out, '-');
    put_grouped(out, magnitude(v));
}

static int clamp_decimals(int decimals)
{
    return decimals < 0 ? 0 : decimals > 6 ? 6 : decimals;
}

void tally_html_fixed(tally_textbuf_t *out, int64_t v, int decimals)
{
    decimals = clamp_decimals(decimals);
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    uint64_t u = magnitude(v);
    if (v < 0)
        tally_textbuf_putc(out, '-');
    put_grouped(out, u / scale);
    if (decimals) {
        char frac[8];
        uint64_t f = u % scale;
        for (int i = decimals - 1; i >= 0; i--) {
            frac[i] = (char)('0' + f % 10);
            f /= 10;
        }
        tally_textbuf_putc(out, '.');
        tally_textbuf_append(out, frac, (size_t)decimals);
    }
}

void tally_html_percent(tally_textbuf_t *out, int64_t num, int64_t den, int decimals)
{
    if (den <= 0 || num < 0) {
        tally_textbuf_puts(out, "\xE2\x80\x93"); /* – */
        return;
    }
    decimals = clamp_decimals(decimals);
    /* long double keeps 64 bits of mantissa: exact for any int64 count. */
    long double scaled = (long double)num * 100.0L / (long double)den;
    for (int i = 0; i < decimals; i++)
        scaled *= 10.0L;
    if (scaled > (long double)INT64_MAX / 2)
        scaled = (long double)INT64_MAX / 2;
    tally_html_fixed(out, (int64_t)(scaled + 0.5L), decimals); /* rounded half up: scaled >= 0 */
    tally_textbuf_puts(out, "\xC2\xA0%"); /* a no-break space: "12.5 %" stays on one line */
}

void tally_html_count(tally_textbuf_t *out, int64_t v, int suppressed)
{
    if (suppressed)
        tally_textbuf_puts(out, "&lt;\xC2\xA0" "5");
    else
        tally_html_int(out, v);
}

void tally_html_badge(tally_textbuf_t *out, const char *status)
{
    static const struct {
        const char *status, *cls, *text;
    } known[] = {
        {"ok", "badge badge-ok", "OK"},
        {"warning", "badge badge-warning", "Warning"},
        {"over", "badge badge-over", "Over limit"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (status && strcmp(status, known[i].status) == 0) {
            tally_html_elem(out, "span", known[i].cls, known[i].text);
            return;
        }
    }
    tally_html_elem(out, "span", "badge badge-unknown", status ? status : "unknown");
}

void tally_html_link(tally_textbuf_t *out, const char *path, const tally_html_param_t *params, size_t nparams,
                     const char *text, const char *cls)
{
    tally_textbuf_puts(out, "<a href=\"");
    tally_html_text(out, path);
    char sep = '?';
    for (size_t i = 0; i < nparams; i++) {
        if (!params[i].name || !params[i].value)
            continue;
        if (sep == '?')
            tally_textbuf_putc(out, '?');
        else
            tally_textbuf_puts(out, "&amp;");
        sep = '&';
        tally_html_url_component(out, params[i].name);
        tally_textbuf_putc(out, '=');
        tally_html_url_component(out, params[i].value);
    }
    tally_textbuf_putc(out, '"');
    if (cls)
        tally_html_attr(out, "class", cls);
    tally_textbuf_putc(out, '>');
    tally_html_text(out, text);
    tally_textbuf_puts(out, "</a>");
}

void tally_html_table_open(tally_textbuf_t *out, const char *cls, const char *caption,
                           const tally_html_column_t *cols, size_t ncols)
{
    tally_textbuf_puts(out, "<div class=\"table-wrap\">");
    tally_html_open(out, "table", cls);
    if (caption)
        tally_html_elem(out, "caption", NULL, caption);
    tally_textbuf_puts(out, "<thead><tr>");
    for (size_t i = 0; i < ncols; i++) {
        tally_textbuf_puts(out, cols[i].numeric ? "<th scope=\"col\" class=\"num\">" : "<th scope=\"col\">");
        tally_html_text(out, cols[i].label);
        tally_textbuf_puts(out, "</th>");
    }
    tally_textbuf_puts(out, "</tr></thead><tbody>");
}

static void cell_content(tally_textbuf_t *out, const tally_html_cell_t *c)
{
    switch (c->kind) {
    case TALLY_HTML_CELL_TEXT: tally_html_text(out, c->text); break;
    case TALLY_HTML_CELL_INT: tally_html_int(out, c->i); break;
    case TALLY_HTML_CELL_FIXED: tally_html_fixed(out, c->i, c->decimals); break;
    case TALLY_HTML_CELL_PERCENT: tally_html_percent(out, c->i, c->den, c->decimals); break;
    case TALLY_HTML_CELL_COUNT: tally_html_count(out, c->i, c->suppressed); break;
    default: tally_textbuf_puts(out, "\xE2\x80\x93"); break;
    }
}

void tally_html_table_row(tally_textbuf_t *out, const tally_html_column_t *cols, size_t ncols,
                          const tally_html_cell_t *cells, int row_header)
{
    tally_textbuf_puts(out, "<tr>");
    for (size_t i = 0; i < ncols; i++) {
        const char *tag = row_header && i == 0 ? "th" : "td";
        tally_textbuf_putc(out, '<');
        tally_textbuf_puts(out, tag);
        if (row_header && i == 0)
            tally_textbuf_puts(out, " scope=\"row\"");
        if (cols[i].numeric)
            tally_textbuf_puts(out, " class=\"num\"");
        tally_textbuf_putc(out, '>');
        if (cells[i].href) {
            tally_textbuf_puts(out, "<a href=\"");
            tally_html_text(out, cells[i].href);
            tally_textbuf_puts(out, "\">");
            cell_content(out, &cells[i]);
            tally_textbuf_puts(out, "</a>");
        } else {
            cell_content(out, &cells[i]);
        }
        tally_html_close(out, tag);
    }
    tally_textbuf_puts(out, "</tr>");
}

void tally_html_table_close(tally_textbuf_t *out)
{
    tally_textbuf_puts(out, "</tbody></table></div>");
}

void tally_html_table(tally_textbuf_t *out, const char *cls, const char *caption, const tally_html_column_t *cols,
                      size_t ncols, const tally_html_cell_t *cells, size_t nrows, int row_header,
                      const char *empty_text)
{
    tally_html_table_open(out, cls, caption, cols, ncols);
    for (size_t r = 0; r < nrows; r++)
        tally_html_table_row(out, cols, ncols, cells + r * ncols, row_header);
    if (nrows == 0) {
        tally_textbuf_printf(out, "<tr><td colspan=\"%zu\" class=\"empty\">", ncols ? ncols : 1);
        tally_html_text(out, empty_text ? empty_text : "No data");
        tally_textbuf_puts(out, "</td></tr>");
    }
    tally_html_table_close(out);
}
