/*
 * copy_text.h: the escapers and validators that keep a record from ever
 * breaking the COPY text the materializer streams to PostgreSQL, on the
 * common growable buffer (textbuf.h).
 */
#ifndef TALLY_MATERIALIZER_COPY_TEXT_H
#define TALLY_MATERIALIZER_COPY_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "textbuf.h"

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

#endif /* TALLY_MATERIALIZER_COPY_TEXT_H */
