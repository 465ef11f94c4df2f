/*
 * config.h: a process's configuration as one table of options.
 *
 * Each process declares a table of tally_config_option_t, one entry per field
 * of its own settings struct, with the TALLY_CONFIG_* macros below. Values
 * come from, lowest precedence first:
 *
 *   1. the table's default (text, parsed like any other source);
 *   2. the environment: TALLY_<NAME>, the name upper-cased with '-' and '.'
 *      turned into '_' ("linger-ms" -> TALLY_LINGER_MS);
 *   3. the command line: --name=value or --name value; a bool is --name
 *      (true), --no-name (false) or --name=<bool>.
 *
 * -X key=value (or -Xkey=value), repeatable, is kept aside, in order, for
 * librdkafka: tally_config_apply_kafka passes each pair to rd_kafka_conf_set,
 * so operators can tune anything librdkafka can. Arguments that are not flags
 * (a subcommand such as "start"), and everything after "--", are positional
 * and returned in order. --help (or -h) and --version print and stop.
 *
 * Value types (TALLY_CONFIG_TYPE_*; table entries TALLY_CONFIG_STR, _INT,
 * _BOOL, _DURATION, _SIZE, _ENUM) and the field each one writes:
 *   STRING    char **      a copy owned by the config (NULL if no default)
 *   INT       int64_t *    decimal, within [min, max] unless both are 0
 *   BOOL      bool *       true/false, yes/no, on/off, 1/0 (any case)
 *   DURATION  int64_t *    milliseconds; "0" or <digits><unit>, unit one of
 *                          ms, s, m, h ("500ms", "30s", "5m")
 *   SIZE      int64_t *    bytes; <digits> or <digits><unit>, unit one of
 *                          B, KiB, MiB, GiB, TiB (any case; "64KiB")
 *   ENUM      int *        index of the value in choices (exact match)
 * DURATION and SIZE are bounded by [min, max] (ms, bytes) like INT.
 *
 * An option flagged TALLY_CONFIG_SECRET (tokens, passwords) never has its
 * value echoed: not in error messages, not as a default in --help. Prefer
 * the environment for secrets: command lines are visible to every local
 * user in /proc.
 */
#ifndef TALLY_CONFIG_H
#define TALLY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

/* Longest value accepted from any source, in bytes. */
#define TALLY_CONFIG_VALUE_MAX 4096

/* tally_config_parse results besides 0 and errors: usage or version was
 * printed; main should exit with status 0. */
#define TALLY_CONFIG_HELP 1
#define TALLY_CONFIG_VERSION 2

/* Option flags. */
#define TALLY_CONFIG_SECRET 0x1u

typedef enum tally_config_type_t {
    TALLY_CONFIG_TYPE_STRING,
    TALLY_CONFIG_TYPE_INT,
    TALLY_CONFIG_TYPE_BOOL,
    TALLY_CONFIG_TYPE_DURATION,
    TALLY_CONFIG_TYPE_SIZE,
    TALLY_CONFIG_TYPE_ENUM,
} tally_config_type_t;

typedef struct tally_config_option_t {
    const char *name;          /* [a-z0-9.-]+, e.g. "brokers", "linger-ms" */
    tally_config_type_t type;
    void *field;               /* see the type list above */
    const char *default_value; /* text; NULL: NULL, 0, false or index 0 */
    const char *help;          /* one line for --help */
    int64_t min, max;          /* INT, DURATION, SIZE; both 0: unbounded */
    const char *const *choices; /* ENUM: NULL-terminated */
    unsigned flags;            /* TALLY_CONFIG_SECRET */
} tally_config_option_t;

/* Table entries, checking the field's type at compile time (a mismatch is a
 * "pointer type mismatch" warning, an error under -Werror). */
#define TALLY_CONFIG_FIELD_(type, ptr) ((void *)(1 ? (ptr) : (type)0))

#define TALLY_CONFIG_STR(name, ptr, def, help)                                \
    {(name), TALLY_CONFIG_TYPE_STRING, TALLY_CONFIG_FIELD_(char **, ptr),     \
     (def), (help), 0, 0, NULL, 0}
#define TALLY_CONFIG_SECRET_STR(name, ptr, def, help)                         \
    {(name), TALLY_CONFIG_TYPE_STRING, TALLY_CONFIG_FIELD_(char **, ptr),     \
     (def), (help), 0, 0, NULL, TALLY_CONFIG_SECRET}
#define TALLY_CONFIG_INT(name, ptr, def, lo, hi, help)                        \
    {(name), TALLY_CONFIG_TYPE_INT, TALLY_CONFIG_FIELD_(int64_t *, ptr),      \
     (def), (help), (lo), (hi), NULL, 0}
#define TALLY_CONFIG_BOOL(name, ptr, def, help)                               \
    {(name), TALLY_CONFIG_TYPE_BOOL, TALLY_CONFIG_FIELD_(bool *, ptr),        \
     (def), (help), 0, 0, NULL, 0}
#define TALLY_CONFIG_DURATION(name, ptr, def, lo_ms, hi_ms, help)             \
    {(name), TALLY_CONFIG_TYPE_DURATION, TALLY_CONFIG_FIELD_(int64_t *, ptr), \
     (def), (help), (lo_ms), (hi_ms), NULL, 0}
#define TALLY_CONFIG_SIZE(name, ptr, def, lo, hi, help)                       \
    {(name), TALLY_CONFIG_TYPE_SIZE, TALLY_CONFIG_FIELD_(int64_t *, ptr),     \
     (def), (help), (lo), (hi), NULL, 0}
#define TALLY_CONFIG_ENUM(name, ptr, def, choices, help)                      \
    {(name), TALLY_CONFIG_TYPE_ENUM, TALLY_CONFIG_FIELD_(int *, ptr),         \
     (def), (help), 0, 0, (choices), 0}

typedef struct tally_config_t tally_config_t;

/* Returns a new, owned config for this table. Borrows program, version,
 * summary (may be NULL) and options, which must outlive the config, as must
 * the fields the options point to. Does not touch the fields. An invalid
 * table (bad or duplicate name, default that does not parse, enum without
 * choices) is a programming error: it aborts with a message naming the
 * option. Never returns NULL (allocation failure aborts). */
tally_config_t *tally_config_new(const char *program, const char *version,
                                 const char *summary,
                                 const tally_config_option_t *options,
                                 size_t n_options);

/* Frees the config, the strings it stored in the fields (which it resets to
 * NULL), the -X pairs and the positional arguments. NULL is a no-op. */
void tally_config_free(tally_config_t *cfg);

/* Where --help and --version print; borrowed; stdout by default. */
void tally_config_set_output(tally_config_t *cfg, FILE *out);

/* Reads defaults, the environment and argv (argv[0] is skipped; argv is
 * borrowed, every string kept is copied) and, on success, stores every
 * option in its field, replacing the -X pairs and positional arguments of
 * any earlier call. Returns 0, TALLY_CONFIG_HELP or TALLY_CONFIG_VERSION
 * after printing usage or version (fields untouched), or -1 with a message
 * naming the flag or environment variable (and the bad value, unless the
 * option is secret) in errbuf; on error no field changes. */
int tally_config_parse(tally_config_t *cfg, int argc, char *const argv[],
                       char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Prints usage generated from the table: every option's flag, type, default
 * (hidden for secrets), environment variable and help. */
void tally_config_usage(const tally_config_t *cfg, FILE *out);

/* Positional arguments of the last successful parse, in order; borrowed,
 * valid until the next parse or tally_config_free. NULL if i is past the
 * end. */
size_t tally_config_positional_count(const tally_config_t *cfg);
const char *tally_config_positional_get(const tally_config_t *cfg, size_t i);

/* -X pairs of the last successful parse, in order; borrowed like the
 * positional arguments. Returns -1 if i is past the end. */
size_t tally_config_kafka_count(const tally_config_t *cfg);
int tally_config_kafka_get(const tally_config_t *cfg, size_t i,
                           const char **key, const char **value)
    __attribute__((warn_unused_result));

/* Calls rd_kafka_conf_set(conf, key, value) for each -X pair, in order.
 * Borrows conf. On the first pair librdkafka refuses, returns -1 with
 * "-X <key>: <librdkafka's error>" in errbuf; pairs before it stay set. */
int tally_config_apply_kafka(const tally_config_t *cfg, rd_kafka_conf_t *conf,
                             char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif /* TALLY_CONFIG_H */
