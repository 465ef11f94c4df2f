/*
 * textbuf.h: a growable byte buffer for the rows the materializer streams
 * to PostgreSQL (COPY text format), with the escapers and validators that
 * keep a record from ever breaking a COPY.
 *
 * A buffer is reused batch after batch (tally_textbuf_reset keeps its
 * memory), so after warm-up appending does not allocate.
 */
#ifndef TALLY_TEXTBUF_H
#define TALLY_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tally_textbuf_t {
    char *data;   /* owned; NUL-terminated after every append */
    size_t len;
    size_t cap;
} tally_textbuf_t;

/* Frees the memory and zeroes the struct (which may then be reused). */
void tally_textbuf_free(tally_textbuf_t *b);

/* Empties the buffer, keeping its memory. */
static inline void tally_textbuf_reset(tally_textbuf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Cuts the buffer back to len bytes (len <= b->len): undoes a partial row. */
void tally_textbuf_truncate(tally_textbuf_t *b, size_t len);

/* Makes room for n more bytes; aborts when out of memory. */
void tally_textbuf_reserve(tally_textbuf_t *b, size_t n);

/* Appends s[0..n) as is (copied). */
void tally_textbuf_append(tally_textbuf_t *b, const void *s, size_t n);
void tally_textbuf_puts(tally_textbuf_t *b, const char *s);
void tally_textbuf_putc(tally_textbuf_t *b, char c);
void tally_textbuf_printf(tally_textbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tally_textbuf_put_i64(tally_textbuf_t *b, int64_t v);

/* Appends s[0..n) as one COPY text field: backslash, tab, newline and
 * carriage return escaped. */
void tally_textbuf_copy_field(tally_textbuf_t *b, const char *s, size_t n);

/* Appends s[0..n) as a JSON string (quotes included), escaped for JSON and
 * then for COPY text, so it can sit inside a COPY field. */
void tally_textbuf_copy_json_string(tally_textbuf_t *b, const char *s, size_t n);

/* Appends s[0..n) as one element of a PostgreSQL array literal: in double
 * quotes, with quote and backslash escaped. */
void tally_textbuf_array_element(tally_textbuf_t *b, const char *s, size_t n);

/* Whether s[0..n) is valid UTF-8 without a NUL byte: what PostgreSQL text
 * accepts. */
bool tally_text_valid(const char *s, size_t n);

/* Whether s[0..n) is a UUID in its 8-4-4-4-12 hexadecimal form. */
bool tally_text_is_uuid(const char *s, size_t n);

/* Whether s[0..n) is 64 lower-case hexadecimal digits (a hex SHA-256). */
bool tally_text_is_sha256_hex(const char *s, size_t n);

#endif
