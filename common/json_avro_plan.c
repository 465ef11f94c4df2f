/*
 * json_avro_plan.c: turns a schema's JSON into the node graph the json_avro
 * converter walks, resolving names the way the Avro specification does
 * (a dotted name is full; otherwise the enclosing namespace applies),
 * compares that graph with avro-c's parsed schema, and keeps the error
 * path of a conversion.
 */
#include "json_avro_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper type nesting in a schema file than this is a mistake (or hostile). */
#define SCHEMA_MAX_DEPTH 64
#define PATH_SIZE 256
#define SHOWABLE_MAX 64

typedef struct named_t {
    const char *full; /* the node's own name */
    tally_json_avro_node_t *node;
} named_t;

typedef struct builder_t {
    tally_json_avro_plan_t *plan;
    size_t cap_nodes;
    named_t *names;
    size_t n_names, cap_names;
    unsigned depth;
    char path[PATH_SIZE]; /* where in the schema, for errors */
    char *errbuf;
    size_t errsize;
} builder_t;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL) {
        fprintf(stderr, "json_avro: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);

    if (p == NULL) {
        fprintf(stderr, "json_avro: out of memory (%zu x %zu bytes)\n", count, size);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xrealloc(NULL, n), s, n);
}

static char *join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = xrealloc(NULL, la + ls + lb + 1);

    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

__attribute__((format(printf, 2, 3)))
static int fail(builder_t *b, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (b->errbuf != NULL && b->errsize > 0)
        snprintf(b->errbuf, b->errsize, "schema %s: %s", b->path[0] ? b->path : "(root)", msg);
    return -1;
}

static size_t path_push(builder_t *b, const char *name)
{
    size_t mark = strlen(b->path);

    snprintf(b->path + mark, sizeof b->path - mark, "%s%s", mark ? "." : "", name);
    return mark;
}

static void path_pop(builder_t *b, size_t mark)
{
    b->path[mark] = '\0';
}

static tally_json_avro_node_t *node_new(builder_t *b, tally_json_avro_kind_t kind)
{
    tally_json_avro_plan_t *p = b->plan;
    tally_json_avro_node_t *n = xcalloc(1, sizeof *n);

    n->kind = kind;
    n->null_branch = -1;
    n->only_branch = -1;
    if (p->n_nodes == b->cap_nodes) {
        b->cap_nodes = b->cap_nodes ? 2 * b->cap_nodes : 16;
        p->nodes = xrealloc(p->nodes, b->cap_nodes * sizeof *p->nodes);
    }
    p->nodes[p->n_nodes++] = n;
    return n;
}

static tally_json_avro_node_t *lookup(const builder_t *b, const char *full)
{
    for (size_t i = 0; i < b->n_names; i++)
        if (strcmp(b->names[i].full, full) == 0)
            return b->names[i].node;
    return NULL;
}

/* Gives a record or enum node its names and makes it findable. */
static int define_named(builder_t *b, const json_t *t, const char *ns,
                        tally_json_avro_node_t *n)
{
    const json_t *jname = json_object_get(t, "name");
    const json_t *jns = json_object_get(t, "namespace");
    const char *name, *dot;

    if (!json_is_string(jname) || json_string_length(jname) == 0)
        return fail(b, "a named type needs a \"name\"");
    name = json_string_value(jname);
    dot = strrchr(name, '.');
    if (dot != NULL) {
        n->name = xstrdup(name);
        n->short_name = xstrdup(dot + 1);
    } else {
        if (json_is_string(jns))
            ns = json_string_value(jns);
        n->name = (ns != NULL && ns[0] != '\0') ? join(ns, ".", name) : xstrdup(name);
        n->short_name = xstrdup(name);
    }
    if (lookup(b, n->name) != NULL)
        return fail(b, "type \"%s\" is defined twice", n->name);
    if (b->n_names == b->cap_names) {
        b->cap_names = b->cap_names ? 2 * b->cap_names : 8;
        b->names = xrealloc(b->names, b->cap_names * sizeof *b->names);
    }
    b->names[b->n_names++] = (named_t){n->name, n};
    return 0;
}

static const struct {
    const char *name;
    tally_json_avro_kind_t kind;
} primitives[] = {
    {"null", TALLY_JA_NULL},     {"boolean", TALLY_JA_BOOLEAN}, {"int", TALLY_JA_INT},
    {"long", TALLY_JA_LONG},     {"float", TALLY_JA_FLOAT},     {"double", TALLY_JA_DOUBLE},
    {"string", TALLY_JA_STRING},
};

static const char *kind_name(tally_json_avro_kind_t kind)
{
    static const char *const names[] = {"null", "boolean", "int",  "long",  "float", "double",
                                        "string", "enum", "record", "array", "map", "union"};
    return names[kind];
}

static int parse_type(builder_t *b, const json_t *t, const char *ns, tally_json_avro_node_t **out);

/* A type given by name: primitive or defined earlier. */
static int parse_name(builder_t *b, const char *name, const char *ns,
                      tally_json_avro_node_t **out)
{
    tally_json_avro_node_t *n = NULL;
    char *full;

    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (strcmp(name, primitives[i].name) == 0) {
            *out = node_new(b, primitives[i].kind);
            return 0;
        }
    if (strcmp(name, "bytes") == 0 || strcmp(name, "fixed") == 0)
        return fail(b, "type %s is not supported", name);
    if (strchr(name, '.') == NULL && ns != NULL && ns[0] != '\0') {
        full = join(ns, ".", name);
        n = lookup(b, full);
        free(full);
    }
    if (n == NULL)
        n = lookup(b, name); /* dotted, or defined in the null namespace */
    if (n == NULL)
        return fail(b, "unknown type name \"%s\"", name);
    *out = n;
    return 0;
}

/* ns without its last component: the namespace the full name sits in. */
static char *ns_of(const char *full)
{
    const char *dot = strrchr(full, '.');
    char *ns = xstrdup(full);

    ns[dot != NULL ? (size_t)(dot - full) : 0] = '\0';
    return ns;
}

static int parse_record(builder_t *b, const json_t *t, const char *ns,
                        tally_json_avro_node_t **out)
{
    tally_json_avro_node_t *n = node_new(b, TALLY_JA_RECORD);
    const json_t *fields = json_object_get(t, "fields");
    char *inner_ns = NULL;
    int rc = -1;

    *out = n;
    if (define_named(b, t, ns, n) != 0)
        goto cleanup;
    inner_ns = ns_of(n->name);
    if (!json_is_array(fields)) {
        rc = fail(b, "record %s needs a \"fields\" array", n->name);
        goto cleanup;
    }
    n->n = json_array_size(fields);
    if (n->n > TALLY_JSON_AVRO_MAX_FIELDS) {
        rc = fail(b, "record %s has more than %d fields", n->name, TALLY_JSON_AVRO_MAX_FIELDS);
        n->n = 0;
        goto cleanup;
    }
    n->fields = xcalloc(n->n, sizeof *n->fields);
    for (size_t i = 0; i < n->n; i++) {
        const json_t *f = json_array_get(fields, i);
        const json_t *jname = json_object_get(f, "name");
        const json_t *def = json_object_get(f, "default");
        size_t mark;

        if (!json_is_string(jname) || json_string_length(jname) == 0) {
            rc = fail(b, "field %zu of record %s has no name", i, n->name);
            goto cleanup;
        }
        n->fields[i].name = xstrdup(json_string_value(jname));
        n->fields[i].name_len = strlen(n->fields[i].name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->fields[k].name, n->fields[i].name) == 0) {
                rc = fail(b, "record %s has two fields \"%s\"", n->name, n->fields[i].name);
                goto cleanup;
            }
        if (def != NULL) {
            /* Kept as text: the converter reads defaults as it reads events. */
            n->fields[i].def = json_dumps(def, JSON_COMPACT | JSON_ENCODE_ANY);
            if (n->fields[i].def == NULL) {
                fprintf(stderr, "json_avro: out of memory\n");
                abort();
            }
            n->fields[i].def_len = strlen(n->fields[i].def);
        }
        mark = path_push(b, n->fields[i].name);
        if (parse_type(b, json_object_get(f, "type"), inner_ns, &n->fields[i].type) != 0)
            goto cleanup;
        path_pop(b, mark);
    }
    rc = 0;
cleanup:
    free(inner_ns);
    return rc;
}

static char *join_list(char *const *items, size_t n)
{
    size_t len = 1;
    char *s;

    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 2;
    s = xcalloc(len, 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(s, ", ");
        strcat(s, items[i]);
    }
    return s;
}

static int parse_enum(builder_t *b, const json_t *t, const char *ns,
                      tally_json_avro_node_t **out)
{
    tally_json_avro_node_t *n = node_new(b, TALLY_JA_ENUM);
    const json_t *symbols = json_object_get(t, "symbols");

    *out = n;
    if (define_named(b, t, ns, n) != 0)
        return -1;
    if (!json_is_array(symbols) || json_array_size(symbols) == 0)
        return fail(b, "enum %s needs a non-empty \"symbols\" array", n->name);
    n->n = json_array_size(symbols);
    n->symbols = xcalloc(n->n, sizeof *n->symbols);
    n->symbol_lens = xcalloc(n->n, sizeof *n->symbol_lens);
    for (size_t i = 0; i < n->n; i++) {
        const json_t *sym = json_array_get(symbols, i);

        if (!json_is_string(sym))
            return fail(b, "symbol %zu of enum %s is not a string", i, n->name);
        n->symbols[i] = xstrdup(json_string_value(sym));
        n->symbol_lens[i] = strlen(n->symbols[i]);
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->symbols[k], n->symbols[i]) == 0)
                return fail(b, "enum %s has the symbol \"%s\" twice", n->name, n->symbols[i]);
    }
    n->choices = join_list(n->symbols, n->n);
    return 0;
}

static int parse_union(builder_t *b, const json_t *t, const char *ns,
                       tally_json_avro_node_t **out)
{
    tally_json_avro_node_t *n = node_new(b, TALLY_JA_UNION);
    size_t nonnull = 0;

    *out = n;
    n->n = json_array_size(t);
    if (n->n == 0)
        return fail(b, "empty union");
    n->branches = xcalloc(n->n, sizeof *n->branches);
    n->labels = xcalloc(n->n, sizeof *n->labels);
    for (size_t i = 0; i < n->n; i++) {
        tally_json_avro_node_t *br;

        if (parse_type(b, json_array_get(t, i), ns, &n->branches[i]) != 0)
            return -1;
        br = n->branches[i];
        if (br->kind == TALLY_JA_UNION)
            return fail(b, "a union cannot hold a union");
        for (size_t k = 0; k < i; k++) {
            const tally_json_avro_node_t *o = n->branches[k];
            if (o->kind == br->kind &&
                (o->name == NULL || br->name == NULL || strcmp(o->name, br->name) == 0))
                return fail(b, "union has two branches of type %s",
                            br->name ? br->name : kind_name(br->kind));
        }
        if (br->kind == TALLY_JA_NULL) {
            n->null_branch = (int)i;
        } else {
            nonnull++;
            n->only_branch = (int)i;
        }
    }
    if (nonnull != 1)
        n->only_branch = -1;
    for (size_t i = 0; i < n->n; i++) {
        const tally_json_avro_node_t *br = n->branches[i];
        bool shared = false;

        if (br->name == NULL) {
            n->labels[i] = xstrdup(kind_name(br->kind));
            continue;
        }
        for (size_t k = 0; k < n->n; k++)
            if (k != i && n->branches[k]->short_name != NULL &&
                strcmp(n->branches[k]->short_name, br->short_name) == 0)
                shared = true;
        n->labels[i] = xstrdup(shared ? br->name : br->short_name);
    }
    n->choices = join_list(n->labels, n->n);
    return 0;
}

static tally_json_avro_logical_t logical_of(const json_t *t, tally_json_avro_kind_t kind)
{
    const char *lt = json_string_value(json_object_get(t, "logicalType"));

    if (lt == NULL)
        return TALLY_JA_PLAIN;
    if (kind == TALLY_JA_LONG && strcmp(lt, "timestamp-millis") == 0)
        return TALLY_JA_TIMESTAMP_MILLIS;
    if (kind == TALLY_JA_INT && strcmp(lt, "date") == 0)
        return TALLY_JA_DATE;
    if (kind == TALLY_JA_STRING && strcmp(lt, "uuid") == 0)
        return TALLY_JA_UUID;
    return TALLY_JA_PLAIN;
}

static int parse_object(builder_t *b, const json_t *t, const char *ns,
                        tally_json_avro_node_t **out)
{
    const char *type = json_string_value(json_object_get(t, "type"));
    tally_json_avro_node_t *n;
    const char *key;

    if (type == NULL)
        return fail(b, "a type object needs a \"type\" name");
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0)
        return parse_record(b, t, ns, out);
    if (strcmp(type, "enum") == 0)
        return parse_enum(b, t, ns, out);
    if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
        key = type[0] == 'a' ? "items" : "values";
        n = node_new(b, type[0] == 'a' ? TALLY_JA_ARRAY : TALLY_JA_MAP);
        *out = n;
        if (json_object_get(t, key) == NULL)
            return fail(b, "%s needs \"%s\"", type, key);
        return parse_type(b, json_object_get(t, key), ns, &n->items);
    }
    if (parse_name(b, type, ns, out) != 0)
        return -1;
    if ((*out)->name == NULL) /* a primitive: its own node */
        (*out)->logical = logical_of(t, (*out)->kind);
    return 0;
}

static int parse_type(builder_t *b, const json_t *t, const char *ns, tally_json_avro_node_t **out)
{
    int rc;

    *out = NULL;
    if (b->depth >= SCHEMA_MAX_DEPTH)
        return fail(b, "types nested deeper than %d levels", SCHEMA_MAX_DEPTH);
    b->depth++;
    if (json_is_string(t))
        rc = parse_name(b, json_string_value(t), ns, out);
    else if (json_is_object(t))
        rc = parse_object(b, t, ns, out);
    else if (json_is_array(t))
        rc = parse_union(b, t, ns, out);
    else
        rc = fail(b, "a type must be a name, an object or a union array");
    b->depth--;
    return rc;
}

/* Whether union u may take the flat form: several non-null branches, all
 * records, none with a field "type". Run once every record is complete (a
 * recursive record is still being parsed when its own unions are). */
static bool flat_allowed(const tally_json_avro_node_t *u)
{
    size_t records = 0;

    for (size_t i = 0; i < u->n; i++) {
        const tally_json_avro_node_t *br = u->branches[i];

        if (br->kind == TALLY_JA_NULL)
            continue;
        if (br->kind != TALLY_JA_RECORD)
            return false;
        for (size_t f = 0; f < br->n; f++)
            if (strcmp(br->fields[f].name, "type") == 0)
                return false;
        records++;
    }
    return records >= 2;
}

int tally_json_avro_plan_build(tally_json_avro_plan_t *plan, const json_t *schema,
                               char *errbuf, size_t errsize)
{
    builder_t b;
    int rc = -1;

    memset(&b, 0, sizeof b);
    b.plan = plan;
    b.errbuf = errbuf;
    b.errsize = errsize;
    if (parse_type(&b, schema, "", &plan->root) != 0)
        goto cleanup;
    if (plan->root->kind != TALLY_JA_RECORD) {
        fail(&b, "the schema must be a record, not %s", kind_name(plan->root->kind));
        goto cleanup;
    }
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (plan->nodes[i]->kind == TALLY_JA_UNION)
            plan->nodes[i]->flat = flat_allowed(plan->nodes[i]);
    rc = 0;
cleanup:
    free(b.names);
    return rc;
}

void tally_json_avro_plan_clear(tally_json_avro_plan_t *plan)
{
    for (size_t i = 0; i < plan->n_nodes; i++) {
        tally_json_avro_node_t *n = plan->nodes[i];

        for (size_t k = 0; n->fields != NULL && k < n->n; k++) {
            free(n->fields[k].name);
            free(n->fields[k].def);
        }
        for (size_t k = 0; n->symbols != NULL && k < n->n; k++)
            free(n->symbols[k]);
        for (size_t k = 0; n->labels != NULL && k < n->n; k++)
            free(n->labels[k]);
        free(n->fields);
        free(n->symbols);
        free(n->symbol_lens);
        free(n->labels);
        free(n->branches);
        free(n->name);
        free(n->short_name);
        free(n->choices);
        free(n);
    }
    free(plan->nodes);
    memset(plan, 0, sizeof *plan);
}

int tally_json_avro_plan_branch(const tally_json_avro_node_t *u, const char *name, size_t len)
{
    for (size_t i = 0; i < u->n; i++) {
        const char *label = u->labels[i], *full = u->branches[i]->name;

        if ((strlen(label) == len && memcmp(label, name, len) == 0) ||
            (full != NULL && strlen(full) == len && memcmp(full, name, len) == 0))
            return (int)i;
    }
    return -1;
}

bool tally_json_avro_plan_showable(const char *name, size_t len)
{
    if (len == 0 || len > SHOWABLE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';

        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* ---- comparison with avro-c's schema ---- */

typedef struct checker_t {
    const tally_json_avro_node_t **seen; /* records already compared */
    size_t n_seen;
    char path[PATH_SIZE];
    char *errbuf;
    size_t errsize;
} checker_t;

__attribute__((format(printf, 2, 3)))
static int differ(checker_t *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->errbuf != NULL && c->errsize > 0)
        snprintf(c->errbuf, c->errsize, "avro-c schema differs at %s: %s",
                 c->path[0] ? c->path : "(root)", msg);
    return -1;
}

static int check_node(checker_t *c, const tally_json_avro_node_t *n, avro_schema_t s);

static int check_child(checker_t *c, const char *name, const tally_json_avro_node_t *n,
                       avro_schema_t s)
{
    size_t mark = strlen(c->path);
    int rc;

    snprintf(c->path + mark, sizeof c->path - mark, "%s%s", mark ? "." : "", name);
    rc = check_node(c, n, s);
    c->path[mark] = '\0';
    return rc;
}

static int check_name(checker_t *c, const tally_json_avro_node_t *n, avro_schema_t s)
{
    const char *name = avro_schema_name(s), *ns = avro_schema_namespace(s);
    size_t nslen = ns != NULL ? strlen(ns) : 0;
    bool same;

    if (name == NULL)
        return differ(c, "unnamed %s", n->name);
    if (nslen == 0)
        same = strcmp(n->name, name) == 0;
    else
        same = strncmp(n->name, ns, nslen) == 0 && n->name[nslen] == '.' &&
               strcmp(n->name + nslen + 1, name) == 0;
    return same ? 0 : differ(c, "named %s, expected %s", name, n->name);
}

static int check_node(checker_t *c, const tally_json_avro_node_t *n, avro_schema_t s)
{
    static const avro_type_t types[] = {
        AVRO_NULL, AVRO_BOOLEAN, AVRO_INT32, AVRO_INT64, AVRO_FLOAT, AVRO_DOUBLE,
        AVRO_STRING, AVRO_ENUM, AVRO_RECORD, AVRO_ARRAY, AVRO_MAP, AVRO_UNION,
    };

    while (is_avro_link(s))
        s = avro_schema_link_target(s);
    if (s == NULL || avro_typeof(s) != types[n->kind])
        return differ(c, "expected %s", kind_name(n->kind));
    switch (n->kind) {
    case TALLY_JA_RECORD:
        for (size_t i = 0; i < c->n_seen; i++)
            if (c->seen[i] == n)
                return 0;
        c->seen = xrealloc(c->seen, (c->n_seen + 1) * sizeof *c->seen);
        c->seen[c->n_seen++] = n;
        if (check_name(c, n, s) != 0)
            return -1;
        if (avro_schema_record_size(s) != n->n)
            return differ(c, "%zu fields, expected %zu", avro_schema_record_size(s), n->n);
        for (size_t i = 0; i < n->n; i++) {
            const char *fname = avro_schema_record_field_name(s, (int)i);
            if (fname == NULL || strcmp(fname, n->fields[i].name) != 0)
                return differ(c, "field %zu is not %s", i, n->fields[i].name);
            if (check_child(c, fname, n->fields[i].type,
                            avro_schema_record_field_get_by_index(s, (int)i)) != 0)
                return -1;
        }
        return 0;
    case TALLY_JA_ENUM:
        if (check_name(c, n, s) != 0)
            return -1;
        if (avro_schema_enum_number_of_symbols(s) != (int)n->n)
            return differ(c, "enum %s has another number of symbols", n->name);
        for (size_t i = 0; i < n->n; i++) {
            const char *sym = avro_schema_enum_get(s, (int)i);
            if (sym == NULL || strcmp(sym, n->symbols[i]) != 0)
                return differ(c, "symbol %zu of enum %s is not %s", i, n->name, n->symbols[i]);
        }
        return 0;
    case TALLY_JA_ARRAY:
        return check_child(c, "[]", n->items, avro_schema_array_items(s));
    case TALLY_JA_MAP:
        return check_child(c, "{}", n->items, avro_schema_map_values(s));
    case TALLY_JA_UNION:
        if (avro_schema_union_size(s) != n->n)
            return differ(c, "union of %zu branches, expected %zu", avro_schema_union_size(s),
                          n->n);
        for (size_t i = 0; i < n->n; i++)
            if (check_child(c, n->labels[i], n->branches[i],
                            avro_schema_union_branch(s, (int)i)) != 0)
                return -1;
        return 0;
    default:
        return 0;
    }
}

int tally_json_avro_plan_check(const tally_json_avro_plan_t *plan, avro_schema_t schema,
                               char *errbuf, size_t errsize)
{
    checker_t c;
    int rc;

    memset(&c, 0, sizeof c);
    c.errbuf = errbuf;
    c.errsize = errsize;
    rc = check_node(&c, plan->root, schema);
    free(c.seen);
    return rc;
}

/* ---- conversion context ---- */

void tally_json_avro_ctx_init(tally_json_avro_ctx_t *cx, const tally_json_avro_t *conv,
                              char *errbuf, size_t errsize)
{
    cx->conv = conv;
    cx->errbuf = errbuf;
    cx->errsize = errsize;
    cx->in_default = false;
    cx->r = NULL;
    cx->scratch = NULL;
    cx->plen = 0;
    cx->path[0] = '\0';
}

int tally_json_avro_ctx_fail(tally_json_avro_ctx_t *cx, int code, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cx->errbuf != NULL && cx->errsize > 0) {
        if (cx->plen > 0)
            snprintf(cx->errbuf, cx->errsize, "%s: %s", cx->path, msg);
        else
            snprintf(cx->errbuf, cx->errsize, "%s", msg);
    }
    return code;
}

int tally_json_avro_ctx_avro_failed(tally_json_avro_ctx_t *cx, const char *what)
{
    return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "avro-c %s failed: %s",
                                    what, avro_strerror());
}

size_t tally_json_avro_ctx_push(tally_json_avro_ctx_t *cx, const char *sep, const char *s,
                                size_t len)
{
    size_t mark = cx->plen, room = sizeof cx->path - 1 - mark, n;

    if (mark > 0) {
        n = strlen(sep) < room ? strlen(sep) : room;
        memcpy(cx->path + cx->plen, sep, n);
        cx->plen += n;
        room -= n;
    }
    n = len < room ? len : room;
    memcpy(cx->path + cx->plen, s, n);
    cx->plen += n;
    cx->path[cx->plen] = '\0';
    return mark;
}

size_t tally_json_avro_ctx_push_field(tally_json_avro_ctx_t *cx, const char *name)
{
    return tally_json_avro_ctx_push(cx, ".", name, strlen(name));
}

size_t tally_json_avro_ctx_push_index(tally_json_avro_ctx_t *cx, bool key, size_t i)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, key ? "[#%zu]" : "[%zu]", i);

    return tally_json_avro_ctx_push(cx, "", buf, (size_t)n);
}

void tally_json_avro_ctx_pop(tally_json_avro_ctx_t *cx, size_t mark)
{
    cx->plen = mark;
    cx->path[mark] = '\0';
}

int tally_json_avro_ctx_check_value(tally_json_avro_ctx_t *cx, const avro_value_t *value)
{
    const tally_json_avro_node_t *root = cx->conv->plan.root;
    avro_schema_t s;
    const char *name;

    if (avro_value_get_type(value) != AVRO_RECORD)
        return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "value is not a record");
    s = avro_value_get_schema(value);
    name = avro_schema_name(s);
    if (name == NULL || strcmp(name, root->short_name) != 0 ||
        avro_schema_record_size(s) != root->n)
        return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL,
                                        "value is not a %s record", root->name);
    return 0;
}
