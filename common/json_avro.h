/*
 * json_avro.h: strict conversion between JSON events and avro-c generic
 * values, in both directions, driven by the schema's JSON.
 *
 * A converter is built once per schema from the parsed .avsc (not from
 * avro-c's schema, which drops logical types and defaults) into a small plan,
 * so converting an event walks the plan, never the schema text. A converter
 * is read-only once built: threads may share it.
 *
 * JSON to Avro reads JSON text (tally_json_avro_from_text) with the strict
 * reader of json_reader.h, straight into the value: no tree is built and
 * the conversion allocates nothing itself (strings are decoded into one
 * scratch buffer per thread, allocated once); avro-c allocates when
 * strings are set, when a union changes branch and for map and array
 * items. tally_json_avro_from_json serves jansson trees by writing them
 * out as text first. The reverse direction (tally_json_avro_to_json) builds
 * a jansson tree and is not meant for hot paths.
 *
 * The JSON form of a value, field names being the Avro field names:
 *
 *   Avro type            JSON accepted (and written by tally_json_avro_to_json)
 *   record               object; see "Records" below
 *   string               string without NUL (\u0000), at most max_string_bytes
 *     logicalType uuid   "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", hex of any
 *                        case; stored (and written) in lower case
 *   int                  integer in [-2^31, 2^31-1] (not 1.0, not "1", not true)
 *     logicalType date   "YYYY-MM-DD" or an integer day number (days since
 *                        1970-01-01); years 1970-9999; written as "YYYY-MM-DD"
 *   long                 integer (64 bits)
 *     timestamp-millis   RFC 3339 date-time (see timeutil.h: zone required,
 *                        up to 9 fraction digits, truncated to milliseconds)
 *                        or integer epoch milliseconds; 1970-01-01T00:00:00Z
 *                        to 9999-12-31T23:59:59.999Z, so that seconds or
 *                        microseconds sent by mistake are rejected, not
 *                        stored as another year; written as
 *                        "YYYY-MM-DDTHH:MM:SS.mmmZ"
 *   boolean              true or false
 *   float, double        any JSON number (float: within FLT_MAX)
 *   enum                 string equal to one of the symbols
 *   map                  object, at most max_map_entries keys of at most
 *                        max_map_key_bytes bytes, no NUL in a key
 *   array                array of at most max_array_items items
 *   ["null", T]          null or a bare T value (not Avro's {"T": value})
 *   other unions         an object with exactly one key naming the branch
 *                        (Avro's JSON encoding): {"MemberAdded": {...}}, the
 *                        name short ("MemberAdded") or full
 *                        ("tally.MemberAdded"), "string", "long", ... for
 *                        unnamed branches; null for a "null" branch. When
 *                        every non-null branch is a record and none has a
 *                        field named "type", also the flat form
 *                        {"type": "MemberAdded", ...the record's fields}.
 *                        Written in the one-key form with the short name
 *                        (the full name where two branches share one).
 *   bytes, fixed         not supported: the converter refuses the schema
 *
 * Records: every key must be a field of the record ("unknown field") and
 * appear once ("duplicate field"); a field missing from the object takes
 * the default the schema declares for it (as Avro's defaults are read: a
 * union's default is a bare value of its first branch), and a field with
 * no default is required. So ["null", T] fields are optional only because
 * the schemas give them "default": null. Defaults are checked against
 * their types when the converter is built. A map key may appear once
 * ("duplicate map key"). Objects are read in one pass, in text order: when
 * an object has several problems, the first in the text is reported (a
 * missing field after all others).
 *
 * Errors name the path and the kind of problem and never the offending
 * value (it may be personal data or a secret), e.g.
 *   payload.MemberAdded.email: expected a string, got an integer
 *   properties.locale: string longer than 65536 bytes
 *   features[3]: string contains a NUL character
 *   occurred_at: not an RFC 3339 timestamp: no such date (month or day out of range)
 * Paths join field names with '.', show array items as [i] and the chosen
 * branch of a multi-branch union as .Branch. Names from the input (an
 * unknown field, a map key, an unknown union branch key) appear only when
 * they look like Avro names ([A-Za-z_][A-Za-z0-9_]*, at most 64 bytes);
 * otherwise a map key is shown by position as [#i] and the others not at
 * all. The flat form's "type" value is never shown. Error messages list
 * what was allowed instead (enum symbols, union branches): schema text only.
 */
#ifndef TALLY_JSON_AVRO_H
#define TALLY_JSON_AVRO_H

#include <stdbool.h>
#include <stddef.h>

#include <avro.h>
#include <jansson.h>

/* Limits when the options leave them 0. */
#define TALLY_JSON_AVRO_MAX_STRING_BYTES 65536
#define TALLY_JSON_AVRO_MAX_MAP_ENTRIES 64
#define TALLY_JSON_AVRO_MAX_MAP_KEY_BYTES 256
#define TALLY_JSON_AVRO_MAX_ARRAY_ITEMS 256
#define TALLY_JSON_AVRO_MAX_DEPTH 32

/* Errors (negative). */
enum {
    TALLY_JSON_AVRO_ERR_INVALID = -1,  /* the input does not fit the schema (HTTP 422) */
    TALLY_JSON_AVRO_ERR_INTERNAL = -2, /* avro-c failed, or the value is not of the
                                          converter's schema, or a server-set value
                                          does not fit: a bug, not bad input */
    TALLY_JSON_AVRO_ERR_SYNTAX = -3,   /* the text is not JSON (json_reader.h; HTTP 400):
                                          reported whenever it is so, even when the
                                          part read first did not fit the schema */
};

/* Most server-set fields one conversion takes, and the longest JSON text
 * a fill's make may write. */
#define TALLY_JSON_AVRO_MAX_FILL 8
#define TALLY_JSON_AVRO_FILL_TEXT 128

/* A field of the root record whose value the caller supplies, such as the
 * time a gateway received an event: its value as the JSON text the sender
 * would have written (e.g. "1732600000000" or "\"2f1c...\""), converted
 * and checked like the sender's own. */
typedef struct tally_json_avro_fill_t {
    const char *field; /* a field of the root record (borrowed) */
    const char *json;  /* its value as JSON text, NUL-terminated (borrowed), or NULL: */
    /* make writes the JSON text into buf (size bytes, TALLY_JSON_AVRO_FILL_TEXT,
     * NUL-terminated), called only when the value is used: a random id costs
     * nothing when the sender gave one. */
    void (*make)(void *arg, char *buf, size_t size);
    void *arg;
    bool always;       /* true: it replaces any value the text has for the field (which
                          is then read as JSON and ignored); false: it is used only
                          when the text has none, instead of the schema's default */
} tally_json_avro_fill_t;

typedef struct tally_json_avro_options_t {
    size_t max_string_bytes;  /* longest string, in bytes */
    size_t max_map_entries;   /* most keys in one map */
    size_t max_map_key_bytes; /* longest map key, in bytes */
    size_t max_array_items;   /* most items in one array */
    unsigned max_depth;       /* most records, maps and arrays nested in each other */
} tally_json_avro_options_t;

typedef struct tally_json_avro_t tally_json_avro_t;

/* A converter for the record schema (borrowed; nothing of it is kept: names
 * are copied, defaults deep-copied). options (borrowed, may be NULL) sets
 * limits; a 0 member takes the default above. Returns an owned converter
 * (free with tally_json_avro_free), or NULL with errbuf saying why: a root
 * that is not a record, bytes or fixed types, an unknown type name, a union
 * inside a union, a default that does not fit its type. Allocation failure
 * aborts. */
tally_json_avro_t *tally_json_avro_new(const json_t *schema,
                                       const tally_json_avro_options_t *options,
                                       char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Same, from the schema's JSON text text[0..len) (borrowed). */
tally_json_avro_t *tally_json_avro_new_text(const char *text, size_t len,
                                            const tally_json_avro_options_t *options,
                                            char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees the converter; NULL is a no-op. */
void tally_json_avro_free(tally_json_avro_t *conv);

/* Checks once that the avro-c schema (borrowed; e.g. the catalog entry's)
 * has the shape of the converter's: same types, record and field names,
 * enum symbols and union branches, in the same order. Conversions check
 * only the record's name and field count on each call, so call this when
 * pairing a converter with the values of a schema. Returns 0, or
 * TALLY_JSON_AVRO_ERR_INTERNAL with errbuf naming the first difference. */
int tally_json_avro_check_schema(const tally_json_avro_t *conv, avro_schema_t schema,
                                 char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Fills out (borrowed; a generic value of the converter's schema) from the JSON text
 * text[0..len) (borrowed; need not be NUL-terminated): exactly one JSON
 * value, an object, whitespace around it allowed. fill[0..n_fill)
 * (borrowed, may be NULL when n_fill is 0, at most TALLY_JSON_AVRO_MAX_FILL)
 * names root fields the caller sets. A \u0000 escape is a syntax error
 * here (C code downstream would cut such a string short). Returns 0, or a
 * TALLY_JSON_AVRO_ERR_* code with errbuf (may be NULL) saying where and
 * why, and out partly filled. out needs no avro_value_reset between
 * conversions: each one sets every field (maps and arrays are emptied
 * first), so one value serves event after event and avro-c keeps its
 * string buffers. Allocates nothing but the calling thread's scratch
 * buffer, once (freed when the thread exits). */
int tally_json_avro_from_text(const tally_json_avro_t *conv, const char *text, size_t len,
                              avro_value_t *out, const tally_json_avro_fill_t *fill,
                              size_t n_fill, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The same from json (borrowed; NULL is rejected as INVALID), a jansson
 * tree, which it writes out as text first (so it allocates). A string or
 * key holding NUL, which a tree can carry, is refused by the converter
 * ("string contains a NUL character"), not as a syntax error. */
int tally_json_avro_from_json(const tally_json_avro_t *conv, const json_t *json,
                              avro_value_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The JSON form of value (borrowed; of the converter's schema), in the form
 * tally_json_avro_from_json accepts, so the two round-trip. On success
 * *out is a new reference the caller releases with json_decref. On error
 * returns a TALLY_JSON_AVRO_ERR_* code (INVALID for a value JSON cannot
 * carry: a non-finite double, a string that is not UTF-8, a timestamp or
 * date outside years 0000-9999), *out is NULL and errbuf says where. */
int tally_json_avro_to_json(const tally_json_avro_t *conv, const avro_value_t *value,
                            json_t **out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif /* TALLY_JSON_AVRO_H */
