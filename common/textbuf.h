/*
 * textbuf.h: a growable, always NUL-terminated byte buffer (rows for a
 * COPY, answers, canonical forms). The COPY escapers and validators of the
 * materializer and replay are in consumers/projection/copy_text.h.
 *
 * A buffer is reused batch after batch (tally_textbuf_reset keeps its
 * memory), so after warm-up appending does not allocate.
 */
#ifndef TALLY_COMMON_TEXTBUF_H
#define TALLY_COMMON_TEXTBUF_H

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

/* Makes room for n more bytes (and the NUL); aborts when out of memory. */
void tally_textbuf_reserve(tally_textbuf_t *b, size_t n);

/* Appends s[0..n) as is (copied). */
void tally_textbuf_append(tally_textbuf_t *b, const void *s, size_t n);
void tally_textbuf_puts(tally_textbuf_t *b, const char *s);
void tally_textbuf_putc(tally_textbuf_t *b, char c);
void tally_textbuf_printf(tally_textbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tally_textbuf_put_i64(tally_textbuf_t *b, int64_t v);

#endif
