/*
 * config_value.c: one option's value from its text (config_value.h).
 */
#include "config_value.h"

#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void tally_config_value_wipe(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static const struct {
    const char *name;
    bool value;
} bool_words[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false},
    {"on", true},   {"off", false},   {"1", true},   {"0", false},
};

typedef struct tally_config_unit_t {
    const char *unit;
    int64_t factor;
} tally_config_unit_t;

static const tally_config_unit_t duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {NULL, 0},
};

/* Binary units only: "MB" would leave 10^6 against 2^20 to a guess. */
static const tally_config_unit_t size_units[] = {
    {"", 1},
    {"b", 1},
    {"kib", INT64_C(1) << 10},
    {"mib", INT64_C(1) << 20},
    {"gib", INT64_C(1) << 30},
    {"tib", INT64_C(1) << 40},
    {NULL, 0},
};

void tally_config_quote(char *dst, size_t size, const char *value, size_t len)
{
    size_t i;

    for (i = 0; i < len && i < TALLY_CONFIG_QUOTE_MAX && i + 1 < size; i++) {
        unsigned char c = (unsigned char)value[i];

        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
    if (i < len && i + 4 <= size)
        memcpy(dst + i, "...", 4);
}

/* "<label>: <reason>: "<value>"", or without the value for a secret. */
static __attribute__((format(printf, 6, 7)))
void value_error(const tally_config_option_t *opt, const char *label,
                 const char *value, char *errbuf, size_t errsize,
                 const char *fmt, ...)
{
    char reason[256];
    char quoted[TALLY_CONFIG_QUOTE_MAX + 4];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (opt->flags & TALLY_CONFIG_SECRET) {
        snprintf(errbuf, errsize, "%s: %s (value not shown: secret option)",
                 label, reason);
    } else {
        tally_config_quote(quoted, sizeof quoted, value, strlen(value));
        snprintf(errbuf, errsize, "%s: %s: \"%s\"", label, reason, quoted);
    }
}

/* Unsigned decimal digits at *p (at least one); advances *p. */
static int parse_digits(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';

        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

static int parse_int(const char *text, int64_t *out)
{
    const char *p = text;
    bool negative = false;
    int64_t v;

    if (*p == '-' || *p == '+')
        negative = *p++ == '-';
    /* INT64_MIN is not representable as digits then negated; nobody needs it. */
    if (parse_digits(&p, &v) < 0 || *p != '\0')
        return -1;
    *out = negative ? -v : v;
    return 0;
}

/* <digits><unit> with unit from a NULL-terminated table; -2 on overflow. */
static int parse_scaled(const char *text, const tally_config_unit_t *units,
                        bool unit_case_matters, int64_t *out)
{
    const char *p = text;
    int64_t v;

    if (parse_digits(&p, &v) < 0)
        return -1;
    for (; units->unit != NULL; units++) {
        bool same = unit_case_matters ? strcmp(p, units->unit) == 0
                                      : strcasecmp(p, units->unit) == 0;

        if (same) {
            if (v > INT64_MAX / units->factor)
                return -2;
            *out = v * units->factor;
            return 0;
        }
    }
    return -1;
}

static int out_of_range(const tally_config_option_t *opt, int64_t v)
{
    if (opt->min == 0 && opt->max == 0)
        return 0;
    return v < opt->min || v > opt->max;
}

int tally_config_value_parse(const tally_config_option_t *opt, tally_config_value_t *staged,
                     const char *text, const char *label, char *errbuf, size_t errsize)
{
    size_t len = strlen(text);
    int64_t v = 0;
    int rc;

    if (len > TALLY_CONFIG_VALUE_MAX) {
        snprintf(errbuf, errsize, "%s: value too long (%zu bytes, max %d)",
                 label, len, TALLY_CONFIG_VALUE_MAX);
        return -1;
    }

    switch (opt->type) {
    case TALLY_CONFIG_TYPE_STRING:
        tally_config_value_wipe(staged->s);
        staged->s = tally_xstrdup(text);
        return 0;

    case TALLY_CONFIG_TYPE_BOOL:
        for (size_t k = 0; k < sizeof bool_words / sizeof bool_words[0]; k++) {
            if (strcasecmp(text, bool_words[k].name) == 0) {
                staged->b = bool_words[k].value;
                return 0;
            }
        }
        value_error(opt, label, text, errbuf, errsize,
                    "not a boolean (true/false, yes/no, on/off, 1/0)");
        return -1;

    case TALLY_CONFIG_TYPE_ENUM:
        for (int k = 0; opt->choices[k] != NULL; k++) {
            if (strcmp(text, opt->choices[k]) == 0) {
                staged->i = k;
                return 0;
            }
        }
        {
            char list[256] = "";

            for (int k = 0; opt->choices[k] != NULL; k++) {
                if (k > 0)
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, opt->choices[k], sizeof list - strlen(list) - 1);
            }
            value_error(opt, label, text, errbuf, errsize, "not one of %s", list);
        }
        return -1;

    case TALLY_CONFIG_TYPE_INT:
        if (parse_int(text, &v) < 0) {
            value_error(opt, label, text, errbuf, errsize, "not an integer");
            return -1;
        }
        if (out_of_range(opt, v)) {
            value_error(opt, label, text, errbuf, errsize,
                        "out of range %" PRId64 "..%" PRId64, opt->min, opt->max);
            return -1;
        }
        staged->i = v;
        return 0;

    case TALLY_CONFIG_TYPE_DURATION:
        if (strcmp(text, "0") == 0) {
            v = 0;
            rc = 0;
        } else {
            rc = parse_scaled(text, duration_units, true, &v);
        }
        if (rc == -2) {
            value_error(opt, label, text, errbuf, errsize, "duration too large");
            return -1;
        }
        if (rc < 0) {
            value_error(opt, label, text, errbuf, errsize,
                        "not a duration (a whole number and a unit: ms, s, m or h, "
                        "e.g. 500ms, 30s, 5m)");
            return -1;
        }
        if (out_of_range(opt, v)) {
            value_error(opt, label, text, errbuf, errsize,
                        "out of range %" PRId64 "ms..%" PRId64 "ms", opt->min, opt->max);
            return -1;
        }
        staged->i = v;
        return 0;

    case TALLY_CONFIG_TYPE_SIZE:
        rc = parse_scaled(text, size_units, false, &v);
        if (rc == -2) {
            value_error(opt, label, text, errbuf, errsize, "size too large");
            return -1;
        }
        if (rc < 0) {
            value_error(opt, label, text, errbuf, errsize,
                        "not a size (bytes, or a whole number and a unit: B, KiB, "
                        "MiB, GiB or TiB, e.g. 64KiB, 10MiB)");
            return -1;
        }
        if (out_of_range(opt, v)) {
            value_error(opt, label, text, errbuf, errsize,
                        "out of range %" PRId64 "..%" PRId64 " bytes", opt->min, opt->max);
            return -1;
        }
        staged->i = v;
        return 0;
    }
    snprintf(errbuf, errsize, "%s: option has an unknown type", label);
    return -1;
}

int tally_config_value_default(const tally_config_option_t *opt, tally_config_value_t *staged,
                       char *errbuf, size_t errsize)
{
    char label[TALLY_CONFIG_LABEL_SIZE + 16];

    if (opt->default_value == NULL) {
        if (opt->type == TALLY_CONFIG_TYPE_STRING) {
            tally_config_value_wipe(staged->s);
            staged->s = NULL;
        } else if (opt->type == TALLY_CONFIG_TYPE_BOOL) {
            staged->b = false;
        } else {
            staged->i = 0;
        }
        return 0;
    }
    snprintf(label, sizeof label, "default of --%s", opt->name);
    return tally_config_value_parse(opt, staged, opt->default_value, label, errbuf, errsize);
}
