/*
 * html.h: the console's HTML writer. Pure: appends to a tally_textbuf_t,
 * no I/O, no allocation besides the buffer's.
 *
 * The rule: markup comes from string literals in the code; every other
 * text (names, e-mails, error messages, anything from the database or the
 * request) goes through tally_html_text, which escapes & < > " ' and so is
 * safe both as element content and inside a double- or single-quoted
 * attribute value. It also replaces what is not well-formed text with
 * U+FFFD: invalid UTF-8 (overlong forms, surrogates, code points above
 * U+10FFFF, truncated sequences), C0 controls other than tab and newline,
 * DEL, C1 controls and the non-characters U+FFFE/U+FFFF. So the output is
 * valid UTF-8 and well-formed XML whatever the input (the SVG charts rely on
 * it). No function here takes a format string built from data.
 *
 * URLs: a link's href is a path built by the caller from literals and
 * tally_html_url_component (which percent-encodes everything but RFC 3986's
 * unreserved characters, so a segment cannot add a '/', '?' or '#'), plus
 * query parameters that tally_html_link encodes the same way; the whole
 * href is then escaped as an attribute value.
 *
 * Numbers: counts with a comma every three digits ("1,234,567"),
 * fixed-point values ("12.34"), percentages ("12.5 %"), and "< 5" for a
 * count the page must not show (fewer than 5 installations).
 */
#ifndef TALLY_CONSOLE_HTML_H
#define TALLY_CONSOLE_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

/* Appends s (NUL-terminated; NULL writes nothing) escaped as above. */
void tally_html_text(tally_textbuf_t *out, const char *s);

/* The same for s[0..n) (may contain NUL bytes: each is replaced by U+FFFD). */
void tally_html_text_n(tally_textbuf_t *out, const char *s, size_t n);

/* Appends s percent-encoded (UTF-8 bytes as %XX, upper-case hex) except
 * A-Z a-z 0-9 - . _ ~: for a path segment or a query name or value. */
void tally_html_url_component(tally_textbuf_t *out, const char *s);

/* Appends ` name="value"` with value escaped. name is a literal. */
void tally_html_attr(tally_textbuf_t *out, const char *name, const char *value);

/* Appends <tag> or <tag class="cls"> (cls escaped; NULL: no class). tag
 * is a literal. */
void tally_html_open(tally_textbuf_t *out, const char *tag, const char *cls);

/* Appends </tag>. */
void tally_html_close(tally_textbuf_t *out, const char *tag);

/* Appends <tag class="cls">text</tag>, text escaped. */
void tally_html_elem(tally_textbuf_t *out, const char *tag, const char *cls, const char *text);

/* Appends v with a comma every three digits: "-1,234,567". */
void tally_html_int(tally_textbuf_t *out, int64_t v);

/* Appends the fixed-point number v / 10^decimals (decimals 0..6) with
 * thousands separators and exactly `decimals` digits after the point:
 * (123456, 2) -> "1,234.56". */
void tally_html_fixed(tally_textbuf_t *out, int64_t v, int decimals);

/* Appends 100 * num / den rounded to `decimals` (0..6) digits and " %":
 * (1, 8, 1) -> "12.5 %". den <= 0 or num < 0 writes "–" (no rate). */
void tally_html_percent(tally_textbuf_t *out, int64_t num, int64_t den, int decimals);

/* Appends v as tally_html_int, or "&lt; 5" when suppressed is non-zero
 * (the caller decides: a figure computed from fewer than 5 installations). */
void tally_html_count(tally_textbuf_t *out, int64_t v, int suppressed);

/* A badge: status "ok", "warning" or "over" gives
 * <span class="badge badge-over">Over limit</span> (the text says it, not
 * only the colour); any other status is shown escaped, class badge-unknown. */
void tally_html_badge(tally_textbuf_t *out, const char *status);

/* A query parameter of a link; a NULL value leaves the parameter out. */
typedef struct tally_html_param_t {
    const char *name;   /* borrowed */
    const char *value;  /* borrowed */
} tally_html_param_t;

/* Appends <a href="path?name=value&amp;..." class="cls">text</a>: path is
 * escaped as an attribute (build its segments with
 * tally_html_url_component), names and values percent-encoded, text
 * escaped. params may be NULL when nparams is 0; cls may be NULL. */
void tally_html_link(tally_textbuf_t *out, const char *path, const tally_html_param_t *params, size_t nparams,
                     const char *text, const char *cls);

/* Tables. A column says how its cells are aligned. */
typedef struct tally_html_column_t {
    const char *label;  /* header text, escaped */
    int numeric;        /* 1: header and cells right-aligned (class "num") */
} tally_html_column_t;

enum {
    TALLY_HTML_CELL_TEXT,     /* text (escaped); NULL: empty cell */
    TALLY_HTML_CELL_INT,      /* i, thousands separators */
    TALLY_HTML_CELL_FIXED,    /* i / 10^decimals */
    TALLY_HTML_CELL_PERCENT,  /* 100 * i / den, `decimals` digits */
    TALLY_HTML_CELL_COUNT,    /* i, or "< 5" when suppressed */
    TALLY_HTML_CELL_NONE,     /* no value: "–" */
};

typedef struct tally_html_cell_t {
    int kind;             /* TALLY_HTML_CELL_* */
    const char *text;     /* TEXT; borrowed */
    int64_t i;            /* INT, FIXED, PERCENT (numerator), COUNT */
    int64_t den;          /* PERCENT */
    int decimals;         /* FIXED, PERCENT */
    int suppressed;       /* COUNT */
    const char *href;     /* non-NULL: the cell's content is a link to href (escaped) */
} tally_html_cell_t;

static inline tally_html_cell_t tally_html_cell_text(const char *s)
{
    return (tally_html_cell_t){.kind = TALLY_HTML_CELL_TEXT, .text = s};
}
static inline tally_html_cell_t tally_html_cell_int(int64_t v)
{
    return (tally_html_cell_t){.kind = TALLY_HTML_CELL_INT, .i = v};
}
static inline tally_html_cell_t tally_html_cell_fixed(int64_t v, int decimals)
{
    return (tally_html_cell_t){.kind = TALLY_HTML_CELL_FIXED, .i = v, .decimals = decimals};
}
static inline tally_html_cell_t tally_html_cell_percent(int64_t num, int64_t den, int decimals)
{
    return (tally_html_cell_t){.kind = TALLY_HTML_CELL_PERCENT, .i = num, .den = den, .decimals = decimals};
}
static inline tally_html_cell_t tally_html_cell_count(int64_t v, int suppressed)
{
    return (tally_html_cell_t){.kind = TALLY_HTML_CELL_COUNT, .i = v, .suppressed = suppressed};
}
static inline tally_html_cell_t tally_html_cell_none(void)
{
    return (tally_html_cell_t){.kind = TALLY_HTML_CELL_NONE};
}

/* Streaming: <div class="table-wrap"> (scrolls sideways on a phone), then
 * <table class="cls"><caption>caption</caption><thead><tr><th
 * scope="col">...</tr></thead><tbody>, then one tally_html_table_row per
 * row, then tally_html_table_close. cls and caption may be NULL. */
void tally_html_table_open(tally_textbuf_t *out, const char *cls, const char *caption,
                           const tally_html_column_t *cols, size_t ncols);

/* One <tr>: cells[0..ncols) under cols (the same as given to open). With
 * row_header, the first cell is <th scope="row">. */
void tally_html_table_row(tally_textbuf_t *out, const tally_html_column_t *cols, size_t ncols,
                          const tally_html_cell_t *cells, int row_header);

/* </tbody></table></div>. */
void tally_html_table_close(tally_textbuf_t *out);

/* A whole table: cells is row-major, nrows * ncols. With no rows, one
 * full-width row says empty_text (NULL: "No data"). */
void tally_html_table(tally_textbuf_t *out, const char *cls, const char *caption, const tally_html_column_t *cols,
                      size_t ncols, const tally_html_cell_t *cells, size_t nrows, int row_header,
                      const char *empty_text);

#endif
