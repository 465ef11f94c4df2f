/*
 * config_value.h: one option's value from its text, for config.c: strings,
 * integers, booleans, durations and sizes with their units, enums, the
 * option's range, and error texts that quote the bad value (cut, made
 * printable) unless the option is a secret. Private to config.c; the API
 * is config.h.
 */
#ifndef TALLY_CONFIG_VALUE_H
#define TALLY_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define TALLY_CONFIG_NAME_MAX 64
/* "TALLY_" + name, or "--no-" + name, plus NUL. */
#define TALLY_CONFIG_LABEL_SIZE (TALLY_CONFIG_NAME_MAX + 16)
/* How much of a bad value an error message quotes. */
#define TALLY_CONFIG_QUOTE_MAX 64

/* One option's value during a parse; which member is live follows the type
 * (ENUM uses i). */
typedef union tally_config_value_t {
    char *s;
    int64_t i;
    bool b;
} tally_config_value_t;

/* Parses text (borrowed) for opt into *staged (a string is copied, the old
 * one wiped and freed); label names the source in errors ("--port",
 * "TALLY_PORT"). Returns 0, or -1 with errbuf. */
int tally_config_value_parse(const tally_config_option_t *opt, tally_config_value_t *staged, const char *text,
                             const char *label, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Sets *staged to opt's default (none: NULL, false or 0). Returns 0, or -1
 * with errbuf when the table's default does not parse. */
int tally_config_value_default(const tally_config_option_t *opt, tally_config_value_t *staged, char *errbuf,
                               size_t errsize) __attribute__((warn_unused_result));

/* Frees a string value (NULL: no-op), wiped first: values may be tokens or
 * passwords. */
void tally_config_value_wipe(char *s);

/* Copies at most TALLY_CONFIG_QUOTE_MAX of value's len bytes into dst,
 * non-printable ones as '?', and "..." if it had to cut. */
void tally_config_quote(char *dst, size_t size, const char *value, size_t len);

#endif /* TALLY_CONFIG_VALUE_H */
