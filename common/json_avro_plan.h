/*
 * json_avro_plan.h: internals of the json_avro converter, shared by
 * json_avro.c (the converter and its entry points), json_avro_read.c (JSON
 * text to Avro), json_avro_render.c (Avro to JSON) and json_avro_plan.c;
 * other modules use json_avro.h only.
 *
 * A plan is a graph of nodes, one per type occurrence of the schema JSON;
 * a named type used twice (or recursively) is one node referenced twice.
 * Every node is owned by the plan's node list, never by its parent.
 *
 * A context carries one conversion's error path ("payload.MemberAdded.email")
 * on the stack and writes errors as "<path>: <problem>".
 */
#ifndef TALLY_JSON_AVRO_PLAN_H
#define TALLY_JSON_AVRO_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <avro.h>
#include <jansson.h>

#include "json_avro.h"
#include "json_reader.h"

/* Records with more fields are refused (a conversion tracks the fields it
 * has seen in a bit set of this size on the stack). */
#define TALLY_JSON_AVRO_MAX_FIELDS 1024

typedef enum tally_json_avro_kind_t {
    TALLY_JA_NULL,
    TALLY_JA_BOOLEAN,
    TALLY_JA_INT,
    TALLY_JA_LONG,
    TALLY_JA_FLOAT,
    TALLY_JA_DOUBLE,
    TALLY_JA_STRING,
    TALLY_JA_ENUM,
    TALLY_JA_RECORD,
    TALLY_JA_ARRAY,
    TALLY_JA_MAP,
    TALLY_JA_UNION,
} tally_json_avro_kind_t;

/* Logical types the converter gives a JSON form; others are ignored, as the
 * Avro specification says, and the value keeps its base type's form. */
typedef enum tally_json_avro_logical_t {
    TALLY_JA_PLAIN,
    TALLY_JA_TIMESTAMP_MILLIS, /* on long */
    TALLY_JA_DATE,             /* on int */
    TALLY_JA_UUID,             /* on string */
} tally_json_avro_logical_t;

typedef struct tally_json_avro_node_t tally_json_avro_node_t;

typedef struct tally_json_avro_field_t {
    char *name;
    size_t name_len;
    tally_json_avro_node_t *type;
    char *def;      /* owned compact JSON text of "default", or NULL: required */
    size_t def_len;
} tally_json_avro_field_t;

struct tally_json_avro_node_t {
    tally_json_avro_kind_t kind;
    tally_json_avro_logical_t logical;
    char *name;       /* records and enums: full name */
    char *short_name; /* records and enums: name without namespace */
    size_t n;         /* fields, symbols or branches */
    tally_json_avro_field_t *fields;   /* record */
    char **symbols;                    /* enum */
    size_t *symbol_lens;               /* enum: strlen of each symbol */
    tally_json_avro_node_t **branches; /* union */
    tally_json_avro_node_t *items;     /* array items, map values */
    /* Unions. */
    char **labels;    /* per branch: the name written for it (short name,
                         or full if two branches share a short name, or
                         the type's name: "string", "map", ...) */
    int null_branch;  /* index of the "null" branch, or -1 */
    int only_branch;  /* index of the one non-null branch, or -1 if several */
    bool flat;        /* accepts {"type": "<record>", ...fields} */
    char *choices;    /* enums: symbols, unions: labels, ", "-separated */
};

typedef struct tally_json_avro_plan_t {
    tally_json_avro_node_t *root; /* a record */
    tally_json_avro_node_t **nodes;
    size_t n_nodes;
} tally_json_avro_plan_t;

/* Builds the plan of schema (borrowed) into plan (zeroed by the caller).
 * Returns 0, or -1 with errbuf naming the type and the reason; either way
 * release the plan with tally_json_avro_plan_clear. Does not check
 * defaults (json_avro.c does, with the converter itself). */
int tally_json_avro_plan_build(tally_json_avro_plan_t *plan, const json_t *schema,
                               char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees every node of plan and zeroes it. */
void tally_json_avro_plan_clear(tally_json_avro_plan_t *plan);

/* Index of the union branch called name[0..len) (a label, or a record's or
 * enum's full name), or -1. */
int tally_json_avro_plan_branch(const tally_json_avro_node_t *u, const char *name, size_t len);

/* Whether a name from the input may be shown in an error: it looks like an
 * Avro name ([A-Za-z_][A-Za-z0-9_]*, 1 to 64 bytes). */
bool tally_json_avro_plan_showable(const char *name, size_t len);

/* Compares the plan with an avro-c schema (borrowed); 0 if they have the
 * same shape, or -1 with errbuf naming the first difference. */
int tally_json_avro_plan_check(const tally_json_avro_plan_t *plan, avro_schema_t schema,
                               char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The converter json_avro.h declares. */
struct tally_json_avro_t {
    tally_json_avro_plan_t plan;
    tally_json_avro_options_t opts; /* every limit set (no 0) */
    size_t scratch_size; /* bytes a conversion decodes strings and keys into */
};

#define TALLY_JSON_AVRO_PATH_SIZE 256

/* One conversion in either direction. */
typedef struct tally_json_avro_ctx_t {
    const tally_json_avro_t *conv; /* borrowed */
    char *errbuf;                  /* borrowed, may be NULL */
    size_t errsize;
    bool in_default; /* reading a schema default: unions take their first branch */
    /* JSON to Avro: the text being read, and where its strings and keys
     * are decoded (scratch_size bytes, the thread's; a decoded string is
     * used before the next is read, never kept across a nested value). */
    tally_json_reader_t *r;
    char *scratch;
    size_t plen;     /* strlen(path) */
    char path[TALLY_JSON_AVRO_PATH_SIZE];
} tally_json_avro_ctx_t;

void tally_json_avro_ctx_init(tally_json_avro_ctx_t *cx, const tally_json_avro_t *conv,
                              char *errbuf, size_t errsize);

/* Writes "<path>: <message>" (the message alone at the root) into the
 * context's errbuf; returns code. */
int tally_json_avro_ctx_fail(tally_json_avro_ctx_t *cx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* avro-c refused an operation (a bug or a value of another schema, never
 * bad input): records what and avro_strerror() at once; returns
 * TALLY_JSON_AVRO_ERR_INTERNAL. */
int tally_json_avro_ctx_avro_failed(tally_json_avro_ctx_t *cx, const char *what);

/* Path segments. Each push returns the mark to pop back to; a path that
 * does not fit is cut short, the conversion goes on. push appends sep
 * (except at the start) and s[0..len); push_field ".name"; push_index
 * "[i]", or "[#i]" (key true) for the i-th key of a map whose key must not
 * be shown. */
size_t tally_json_avro_ctx_push(tally_json_avro_ctx_t *cx, const char *sep, const char *s,
                                size_t len);
size_t tally_json_avro_ctx_push_field(tally_json_avro_ctx_t *cx, const char *name);
size_t tally_json_avro_ctx_push_index(tally_json_avro_ctx_t *cx, bool key, size_t i);
void tally_json_avro_ctx_pop(tally_json_avro_ctx_t *cx, size_t mark);

/* The cheap per-call check that value (borrowed) is a record of the
 * converter's schema: same name and field count (the full comparison is
 * tally_json_avro_check_schema). 0 or TALLY_JSON_AVRO_ERR_INTERNAL. */
int tally_json_avro_ctx_check_value(tally_json_avro_ctx_t *cx, const avro_value_t *value)
    __attribute__((warn_unused_result));

/* json_avro_scalar.c: the reader's calls with the converter's errors, and
 * the scalars, for json_avro_read.c's walk. Each returns 0 or a
 * TALLY_JSON_AVRO_ERR_* code with errbuf set. */

/* Writes the syntax error of the context's reader into its errbuf
 * ("invalid JSON at line L column C: ..."); returns
 * TALLY_JSON_AVRO_ERR_SYNTAX. */
int tally_json_avro_ctx_syntax(tally_json_avro_ctx_t *cx);

/* The kind of the next value at cx->r, not consumed. */
int tally_json_avro_ctx_peek(tally_json_avro_ctx_t *cx, tally_json_kind_t *k);

/* The next value, a string, decoded into cx->scratch. *len may be
 * scratch_size or more: the string is then cut short there (see fits). */
int tally_json_avro_ctx_string(tally_json_avro_ctx_t *cx, size_t *len);

/* Whether a decoded string of len bytes is whole in cx->scratch. */
bool tally_json_avro_ctx_fits(const tally_json_avro_ctx_t *cx, size_t len);

/* Skips the next value. */
int tally_json_avro_ctx_skip(tally_json_avro_ctx_t *cx);

/* "an object", "a string"...: a JSON kind for an error text (static). */
const char *tally_json_avro_kind_name(tally_json_kind_t k);

/* Fails cx with "expected <what n accepts>, got <k>". */
int tally_json_avro_mismatch(tally_json_avro_ctx_t *cx, const tally_json_avro_node_t *n, tally_json_kind_t k);

/* Reads the next value, of JSON kind k (peeked), as the scalar node n
 * (null, boolean, int, long, float, double, string, enum) into v (NULL:
 * check only). */
int tally_json_avro_read_scalar(tally_json_avro_ctx_t *cx, const tally_json_avro_node_t *n, tally_json_kind_t k,
                                avro_value_t *v) __attribute__((warn_unused_result));

/* json_avro_read.c: JSON text to Avro along the plan. Both read with the
 * context's reader (cx->r) and scratch buffer (cx->scratch), set by the
 * caller, and return 0 or a TALLY_JSON_AVRO_ERR_* code with errbuf set. */

/* Reads the root record at cx->r into out (a value of the converter's
 * schema) with the server-set fields fill[0..n_fill) (json_avro.h). */
int tally_json_avro_read_root(tally_json_avro_ctx_t *cx, avro_value_t *out,
                              const tally_json_avro_fill_t *fill, size_t n_fill)
    __attribute__((warn_unused_result));

/* Reads json[0..len) (borrowed) as a value of n into v (NULL: check
 * only), depth levels down: a schema default when as_default (Avro reads
 * a union's default as its first branch; errors end "(in the schema's
 * default)"), else a server-set value (errors end "(in the server-set
 * value)" and are TALLY_JSON_AVRO_ERR_INTERNAL). */
int tally_json_avro_read_text(tally_json_avro_ctx_t *cx, const tally_json_avro_node_t *n, const char *json,
                              size_t len, avro_value_t *v, unsigned depth, bool as_default)
    __attribute__((warn_unused_result));

#endif /* TALLY_JSON_AVRO_PLAN_H */
