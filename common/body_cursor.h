/*
 * body_cursor.h: the reading layer under body_reader.c's walker: the
 * reader's state (the widened writer schema's record plans and enum maps),
 * a cursor over one body, reads that check every declared length against
 * the bytes that remain (varints, spans), and the error texts of a body
 * ("undecodable body at byte N: ...") and of a store into avro-c. Private
 * to body_reader.c; the API is body_reader.h. Nothing here walks a schema,
 * so nothing here calls back into body_reader.c.
 */
#ifndef TALLY_BODY_CURSOR_H
#define TALLY_BODY_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "avro_canonical.h"
#include "body_reader.h"

/* Deeper nesting than this is hostile (recursive schemas). */
#define TALLY_BODY_MAX_DEPTH 64
/* Array items that can take zero bytes (nulls, empty records) allowed per
 * body: nothing else bounds their count. */
#define TALLY_BODY_MAX_EMPTY_ITEMS 65536u

/* A record of the (widened) writer schema, resolved once: avro-c finds a
 * field by index through a hash table, too slow for every field read. */
typedef struct rec_plan_t {
    avro_schema_t record;
    const tally_avro_widened_t *w;     /* what was appended to it, or NULL */
    size_t nwriter;                    /* fields the writer wrote */
    avro_schema_t *fields;             /* their schemas, by index */
    avro_type_t *types;                /* their types, links followed */
} rec_plan_t;

typedef struct enum_map_t {
    avro_schema_t writer;   /* an enum of the writer schema */
    int *to_reader;         /* reader index of each writer symbol, or -1 */
} enum_map_t;

struct tally_body_reader_t {
    const tally_catalog_entry_t *writer, *reader;
    int resolved;
    avro_schema_t wschema;      /* writer schema, widened if needed */
    avro_value_iface_t *iface;  /* avro-c resolved writer wschema -> reader */
    avro_value_t value;         /* resolved value, or a reference to dest */
    tally_avro_widened_t *wide;
    size_t nwide;
    rec_plan_t *recs;                   /* every record of wschema */
    size_t nrecs;
    enum_map_t *enums;
    size_t nenums;
    char *scratch;              /* NUL-terminated copies of strings and map keys */
    size_t scratch_cap;
};

typedef struct cursor_t {
    const uint8_t *start, *p, *end;
    size_t empty_items;
    tally_body_reader_t *br;
    int resolved;
    int unknown_branch;         /* a writer branch the reader lacks was skipped */
    char *errbuf;
    size_t errsize;
} cursor_t;

/* "undecodable body at byte N: <message>" into the cursor's errbuf;
 * returns TALLY_CODEC_ERR_BODY. */
int tally_body_error(cursor_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The reader's scratch buffer, at least n bytes (borrowed until the next
 * call): NUL-terminated copies of strings and map keys. */
char *tally_body_scratch(tally_body_reader_t *br, size_t n);

/* A failed avro-c store: message captured at once. When resolving, the
 * writer's datum has no place in the reader schema (enum symbol, branch). */
int tally_body_store_error(cursor_t *c, const char *what);

/* A reader default that does not fit its field; returns
 * TALLY_CODEC_ERR_UNRESOLVABLE. */
int tally_body_default_error(cursor_t *c, const char *why);

/* s with its links followed. */
avro_schema_t tally_body_deref(avro_schema_t s);

/* The next n bytes (*ptr, borrowed from the body), or a "truncated" error
 * naming what. */
int tally_body_take(cursor_t *c, size_t n, const uint8_t **ptr, const char *what);

/* Zig-zag varint, at most 10 bytes. */
int tally_body_read_long(cursor_t *c, int64_t *out);

/* A varint that must fit 32 bits. */
int tally_body_read_int(cursor_t *c, int32_t *out);

/* A length-prefixed string/bytes: the length must fit the remaining bytes. */
int tally_body_read_span(cursor_t *c, const uint8_t **ptr, size_t *n, const char *what);

/* n little-endian bytes as a number. */
uint64_t tally_body_le_bytes(const uint8_t *p, int n);

/* Whether an item of s can be encoded in zero bytes (links: assume so). */
int tally_body_can_be_empty(avro_schema_t s, int depth);

/* The plan of a record of the widened writer schema, or NULL. */
const rec_plan_t *tally_body_rec_plan(const cursor_t *c, avro_schema_t record);

/* A writer enum index as the reader enum's index (resolving only). */
int tally_body_to_reader_symbol(cursor_t *c, avro_schema_t wenum, int32_t *idx);

#endif /* TALLY_BODY_CURSOR_H */
