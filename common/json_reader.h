/*
 * json_reader.h: a strict, allocation-free pull reader of JSON text
 * (RFC 8259), for the hot paths that must not build a tree: the gateway's
 * body splitter and the JSON-to-Avro converter (json_avro.h).
 *
 * The text is borrowed and need not be NUL-terminated; no byte past its
 * end is read. A reader is a small struct the caller keeps on its stack;
 * copying it saves a position to come back to (the converter looks ahead
 * in union objects that way). Nothing allocates.
 *
 * What is refused, as a syntax error (the first one is kept, with its
 * offset): anything RFC 8259 does not allow (single quotes, bare words,
 * trailing commas, leading zeros, "+1", ".5", a byte order mark, comments,
 * data after the value), UTF-8 that is not well formed (overlong forms,
 * encoded surrogates, code points above U+10FFFF, truncated or stray
 * continuation bytes), raw control characters in strings, unknown escapes,
 * \u escapes that are not four hex digits or leave a surrogate unpaired,
 * and, within the limits RFC 8259 section 9 lets a parser set: nesting
 * deeper than TALLY_JSON_MAX_DEPTH arrays and objects, integers beyond 64
 * bits, reals beyond a double's range or longer than
 * TALLY_JSON_MAX_NUMBER_CHARS, and \u0000 unless the reader allows NUL
 * (a NUL in a string or key is too easily cut short by C code later).
 * Duplicate keys are not a syntax matter here: the reader does not keep
 * keys, so callers that use an object's members detect them (json_avro.c).
 * Error texts name the kind of problem and never quote the input.
 */
#ifndef TALLY_JSON_READER_H
#define TALLY_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_JSON_MAX_DEPTH 2048        /* arrays and objects open at once (as jansson) */
#define TALLY_JSON_MAX_NUMBER_CHARS 512  /* longest real number, in characters */

typedef enum tally_json_kind_t {
    TALLY_JSON_OBJECT,
    TALLY_JSON_ARRAY,
    TALLY_JSON_STRING,
    TALLY_JSON_INTEGER, /* a number without fraction or exponent */
    TALLY_JSON_REAL,
    TALLY_JSON_TRUE,
    TALLY_JSON_FALSE,
    TALLY_JSON_NULL,
} tally_json_kind_t;

typedef struct tally_json_reader_t {
    const char *text; /* start of the text, for error positions */
    const char *p;    /* next byte to read */
    const char *end;
    unsigned depth;   /* arrays and objects open */
    bool allow_nul;   /* \u0000 decodes to a NUL byte instead of being refused */
    const char *error; /* the first syntax error (static text), or NULL */
    size_t error_at;   /* its byte offset in text */
} tally_json_reader_t;

typedef struct tally_json_number_t {
    bool integer; /* no fraction or exponent: i holds it exactly */
    int64_t i;
    double d;     /* the value as a double (for integers too) */
} tally_json_number_t;

/* Starts reading text[0..len) (borrowed), NUL escapes refused. */
void tally_json_reader_init(tally_json_reader_t *r, const char *text, size_t len);

/* The kind of the next value (after whitespace), without consuming it.
 * Returns 0, or -1 (syntax error) at the end of the input or on a byte
 * that cannot start a value. Literals and numbers are only told apart
 * here, not checked: reading or skipping them checks them. */
int tally_json_reader_peek(tally_json_reader_t *r, tally_json_kind_t *kind)
    __attribute__((warn_unused_result));

/* Skips the next value, checking all of it. Returns 0 or -1. */
int tally_json_reader_skip(tally_json_reader_t *r) __attribute__((warn_unused_result));

/* Reads the next value, which must be a string, decoding its escapes into
 * buf (cap bytes, borrowed; cap may be 0 with buf NULL to check only).
 * *len gets the decoded length, which may exceed cap - 1: buf then holds
 * the first cap - 1 bytes. buf is always NUL-terminated when cap > 0.
 * Returns 0 or -1. */
int tally_json_reader_string(tally_json_reader_t *r, char *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

/* Reads the next value, which must be a number. Returns 0 or -1. */
int tally_json_reader_number(tally_json_reader_t *r, tally_json_number_t *num)
    __attribute__((warn_unused_result));

/* Enters the object ('{') or array ('[') that is the next value. */
int tally_json_reader_begin(tally_json_reader_t *r, char open) __attribute__((warn_unused_result));

/* Moves to the next member of the object (close '}') or item of the array
 * (close ']') entered last, right after begin or after the previous
 * member's value. *count counts the members read so far (0 after begin;
 * the reader increments it). *more: true when a member follows (the
 * reader is then at its key or value), false when the container ended
 * (its closing byte is consumed). Returns 0 or -1. */
int tally_json_reader_next(tally_json_reader_t *r, char close, size_t *count, bool *more)
    __attribute__((warn_unused_result));

/* Reads a member's key (as tally_json_reader_string) and the ':' after it. */
int tally_json_reader_key(tally_json_reader_t *r, char *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

/* Checks that only whitespace is left. Returns 0 or -1. */
int tally_json_reader_end(tally_json_reader_t *r) __attribute__((warn_unused_result));

/* Checks that text[0..len) is exactly one JSON value (whitespace around it
 * allowed). Returns 0, or -1 with *r holding the error. */
int tally_json_reader_validate(tally_json_reader_t *r, const char *text, size_t len, bool allow_nul)
    __attribute__((warn_unused_result));

/* "invalid JSON at line L column C: <kind of problem>" for the reader's
 * error, lines and columns (bytes) counted from 1 from its text's start. */
void tally_json_reader_error(const tally_json_reader_t *r, char *buf, size_t size);

/* Finds the first member called key (NUL-terminated, borrowed) of the JSON
 * object text[0..len) (borrowed, top level only) and, when its value is a
 * string, decodes it into buf as tally_json_reader_string does (NUL
 * escapes allowed). Returns 1 when found and a string, 0 when absent or
 * not a string, -1 when text is not a well-formed object up to there. For
 * answers about events that failed to convert (whose tenant, which
 * project), never for values that are produced. */
int tally_json_reader_find_string(const char *text, size_t len, const char *key, char *buf, size_t cap,
                                  size_t *out_len)
    __attribute__((warn_unused_result));

#endif /* TALLY_JSON_READER_H */
