/*
 * config.c: defaults < TALLY_* environment < command line, from one table.
 *
 * A parse works on a staged copy of every value and stores them in the
 * caller's fields only once every source has parsed, so a bad value anywhere
 * leaves the settings struct exactly as it was.
 */
#include "config.h"

#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ENV_PREFIX "TALLY_"
#define NAME_MAX_LEN 64
/* "TALLY_" + name, or "--no-" + name, plus NUL. */
#define LABEL_SIZE (NAME_MAX_LEN + 16)
/* How much of a bad value an error message quotes. */
#define QUOTE_MAX 64

typedef struct tally_config_pair_t {
    char *key;
    char *value;
} tally_config_pair_t;

/* One option's value during a parse; which member is live follows the type
 * (ENUM uses i). */
typedef union tally_config_value_t {
    char *s;
    int64_t i;
    bool b;
} tally_config_value_t;

struct tally_config_t {
    const char *program;
    const char *version;
    const char *summary;
    const tally_config_option_t *options;
    size_t n_options;
    char **owned;                 /* per option: the string put in its field */
    tally_config_pair_t *kafka;
    size_t n_kafka;
    char **positional;
    size_t n_positional;
    FILE *out;
};

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

static const char *const type_names[] = {
    [TALLY_CONFIG_TYPE_STRING] = "STRING",
    [TALLY_CONFIG_TYPE_INT] = "INT",
    [TALLY_CONFIG_TYPE_BOOL] = "BOOL",
    [TALLY_CONFIG_TYPE_DURATION] = "DURATION",
    [TALLY_CONFIG_TYPE_SIZE] = "SIZE",
    [TALLY_CONFIG_TYPE_ENUM] = "ENUM",
};

/* Wipes before freeing: values may be tokens or passwords. */
static void free_wiped(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static __attribute__((noreturn, format(printf, 2, 3)))
void die_table(const tally_config_option_t *opt, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tally_config: option table, option \"%s\": ",
            opt->name != NULL ? opt->name : "(null)");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void env_name(const char *name, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, ENV_PREFIX "%s", name);

    for (size_t i = sizeof ENV_PREFIX - 1; i < len && i < size; i++) {
        if (buf[i] == '-' || buf[i] == '.')
            buf[i] = '_';
        else if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
    }
}

/* Copies at most QUOTE_MAX of value's len bytes, non-printable ones as '?',
 * and "..." if it had to cut. */
static void quote_value(char *dst, size_t size, const char *value, size_t len)
{
    size_t i;

    for (i = 0; i < len && i < QUOTE_MAX && i + 1 < size; i++) {
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
    char quoted[QUOTE_MAX + 4];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (opt->flags & TALLY_CONFIG_SECRET) {
        snprintf(errbuf, errsize, "%s: %s (value not shown: secret option)",
                 label, reason);
    } else {
        quote_value(quoted, sizeof quoted, value, strlen(value));
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

/* Parses text for opt into *staged; label names the source in errors. */
static int set_value(const tally_config_option_t *opt, tally_config_value_t *staged,
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
        free_wiped(staged->s);
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

static int set_default(const tally_config_option_t *opt, tally_config_value_t *staged,
                       char *errbuf, size_t errsize)
{
    char label[LABEL_SIZE + 16];

    if (opt->default_value == NULL) {
        if (opt->type == TALLY_CONFIG_TYPE_STRING) {
            free_wiped(staged->s);
            staged->s = NULL;
        } else if (opt->type == TALLY_CONFIG_TYPE_BOOL) {
            staged->b = false;
        } else {
            staged->i = 0;
        }
        return 0;
    }
    snprintf(label, sizeof label, "default of --%s", opt->name);
    return set_value(opt, staged, opt->default_value, label, errbuf, errsize);
}

static void check_option(const tally_config_t *cfg, size_t k)
{
    const tally_config_option_t *opt = &cfg->options[k];
    tally_config_value_t scratch = {0};
    char env[LABEL_SIZE], other_env[LABEL_SIZE], err[512];
    size_t len;

    if (opt->name == NULL)
        die_table(opt, "no name");
    len = strlen(opt->name);
    if (len == 0 || len > NAME_MAX_LEN)
        die_table(opt, "name must be 1 to %d characters", NAME_MAX_LEN);
    for (size_t i = 0; i < len; i++) {
        char c = opt->name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '-' || c == '.'));

        if (!ok)
            die_table(opt, "name must be [a-z0-9][a-z0-9.-]*");
    }
    if (strcmp(opt->name, "help") == 0 || strcmp(opt->name, "version") == 0 ||
        strncmp(opt->name, "no-", 3) == 0)
        die_table(opt, "name is reserved (help, version, no-*)");
    if (opt->field == NULL)
        die_table(opt, "no field");
    if ((unsigned)opt->type > TALLY_CONFIG_TYPE_ENUM)
        die_table(opt, "unknown type %d", (int)opt->type);
    if (opt->type == TALLY_CONFIG_TYPE_ENUM &&
        (opt->choices == NULL || opt->choices[0] == NULL))
        die_table(opt, "enum without choices");
    if (opt->min > opt->max)
        die_table(opt, "min > max");

    env_name(opt->name, env, sizeof env);
    for (size_t j = 0; j < k; j++) {
        env_name(cfg->options[j].name, other_env, sizeof other_env);
        if (strcmp(env, other_env) == 0)
            die_table(opt, "same name or environment variable as \"%s\"",
                      cfg->options[j].name);
    }

    if (set_default(opt, &scratch, err, sizeof err) < 0)
        die_table(opt, "bad default: %s", err);
    if (opt->type == TALLY_CONFIG_TYPE_STRING)
        free_wiped(scratch.s);
}

tally_config_t *tally_config_new(const char *program, const char *version,
                                 const char *summary,
                                 const tally_config_option_t *options,
                                 size_t n_options)
{
    tally_config_t *cfg = tally_xcalloc(1, sizeof *cfg);

    cfg->program = program != NULL ? program : "tally";
    cfg->version = version != NULL ? version : "unknown";
    cfg->summary = summary;
    cfg->options = options;
    cfg->n_options = n_options;
    cfg->owned = tally_xcalloc(n_options, sizeof *cfg->owned);
    cfg->out = stdout;
    for (size_t k = 0; k < n_options; k++)
        check_option(cfg, k);
    return cfg;
}

static void free_pairs(tally_config_pair_t *pairs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free_wiped(pairs[i].key);
        free_wiped(pairs[i].value);
    }
    free(pairs);
}

static void free_strings(char **strings, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free_wiped(strings[i]);
    free(strings);
}

void tally_config_free(tally_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t k = 0; k < cfg->n_options; k++) {
        if (cfg->owned[k] == NULL)
            continue;
        if (*(char **)cfg->options[k].field == cfg->owned[k])
            *(char **)cfg->options[k].field = NULL;
        free_wiped(cfg->owned[k]);
    }
    free(cfg->owned);
    free_pairs(cfg->kafka, cfg->n_kafka);
    free_strings(cfg->positional, cfg->n_positional);
    free(cfg);
}

void tally_config_set_output(tally_config_t *cfg, FILE *out)
{
    cfg->out = out;
}

static const tally_config_option_t *find_option(const tally_config_t *cfg,
                                                const char *name, size_t len,
                                                size_t *index)
{
    for (size_t k = 0; k < cfg->n_options; k++) {
        const char *candidate = cfg->options[k].name;

        if (strlen(candidate) == len && strncmp(candidate, name, len) == 0) {
            *index = k;
            return &cfg->options[k];
        }
    }
    return NULL;
}

static int add_kafka_pair(tally_config_pair_t **pairs, size_t *n, const char *arg,
                          char *errbuf, size_t errsize)
{
    size_t len = strlen(arg);
    const char *eq = strchr(arg, '=');
    char quoted[QUOTE_MAX + 4];

    if (len > TALLY_CONFIG_VALUE_MAX) {
        snprintf(errbuf, errsize, "-X: argument too long (%zu bytes, max %d)",
                 len, TALLY_CONFIG_VALUE_MAX);
        return -1;
    }
    if (eq == NULL) {
        /* Without '=' the argument is only a key: safe to quote. */
        quote_value(quoted, sizeof quoted, arg, len);
        snprintf(errbuf, errsize, "-X: expected key=value: \"%s\"", quoted);
        return -1;
    }
    if (eq == arg) {
        /* The value may be a secret: say only what is wrong. */
        snprintf(errbuf, errsize, "-X: empty key in key=value argument");
        return -1;
    }
    *pairs = tally_xrealloc(*pairs, *n + 1, sizeof **pairs);
    (*pairs)[*n].key = tally_xstrndup(arg, (size_t)(eq - arg));
    (*pairs)[*n].value = tally_xstrdup(eq + 1);
    (*n)++;
    return 0;
}

/* --help and --version win over everything else, even a bad environment. */
static int scan_help(const tally_config_t *cfg, int argc, char *const argv[])
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            tally_config_usage(cfg, cfg->out);
            return TALLY_CONFIG_HELP;
        }
        if (strcmp(argv[i], "--version") == 0) {
            fprintf(cfg->out, "%s %s\n", cfg->program, cfg->version);
            return TALLY_CONFIG_VERSION;
        }
    }
    return 0;
}

static void commit(tally_config_t *cfg, tally_config_value_t *staged)
{
    for (size_t k = 0; k < cfg->n_options; k++) {
        const tally_config_option_t *opt = &cfg->options[k];

        switch (opt->type) {
        case TALLY_CONFIG_TYPE_STRING:
            *(char **)opt->field = staged[k].s;
            free_wiped(cfg->owned[k]);
            cfg->owned[k] = staged[k].s;
            staged[k].s = NULL;
            break;
        case TALLY_CONFIG_TYPE_BOOL:
            *(bool *)opt->field = staged[k].b;
            break;
        case TALLY_CONFIG_TYPE_ENUM:
            *(int *)opt->field = (int)staged[k].i;
            break;
        case TALLY_CONFIG_TYPE_INT:
        case TALLY_CONFIG_TYPE_DURATION:
        case TALLY_CONFIG_TYPE_SIZE:
            *(int64_t *)opt->field = staged[k].i;
            break;
        }
    }
}

int tally_config_parse(tally_config_t *cfg, int argc, char *const argv[],
                       char *errbuf, size_t errsize)
{
    tally_config_value_t *staged = tally_xcalloc(cfg->n_options, sizeof *staged);
    tally_config_pair_t *kafka = NULL;
    size_t n_kafka = 0;
    char **positional = NULL;
    size_t n_positional = 0;
    bool only_positional = false;
    char label[LABEL_SIZE], quoted[QUOTE_MAX + 4];
    int rc;

    rc = scan_help(cfg, argc, argv);
    if (rc != 0)
        goto cleanup;
    rc = -1;

    for (size_t k = 0; k < cfg->n_options; k++) {
        if (set_default(&cfg->options[k], &staged[k], errbuf, errsize) < 0)
            goto cleanup;
    }

    for (size_t k = 0; k < cfg->n_options; k++) {
        const char *value;

        env_name(cfg->options[k].name, label, sizeof label);
        value = getenv(label);
        if (value != NULL &&
            set_value(&cfg->options[k], &staged[k], value, label, errbuf, errsize) < 0)
            goto cleanup;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const tally_config_option_t *opt;
        const char *name, *eq, *value;
        size_t len, k = 0;
        bool negated = false;

        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            positional = tally_xrealloc(positional, n_positional + 1, sizeof *positional);
            positional[n_positional++] = tally_xstrdup(arg);
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (arg[1] == 'X') {
            const char *pair = arg[2] != '\0' ? arg + 2 : (i + 1 < argc ? argv[++i] : NULL);

            if (pair == NULL) {
                snprintf(errbuf, errsize, "-X: missing key=value argument");
                goto cleanup;
            }
            if (add_kafka_pair(&kafka, &n_kafka, pair, errbuf, errsize) < 0)
                goto cleanup;
            continue;
        }
        if (arg[1] != '-') {
            /* Quote only the letter: "-pVALUE" may carry a value. */
            snprintf(errbuf, errsize, "unknown flag \"-%c\" (options are --name=value)",
                     arg[1] >= 0x20 && arg[1] < 0x7f ? arg[1] : '?');
            goto cleanup;
        }

        name = arg + 2;
        eq = strchr(name, '=');
        len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        opt = find_option(cfg, name, len, &k);
        if (opt == NULL && len > 3 && strncmp(name, "no-", 3) == 0) {
            opt = find_option(cfg, name + 3, len - 3, &k);
            if (opt != NULL && opt->type != TALLY_CONFIG_TYPE_BOOL)
                opt = NULL;
            negated = opt != NULL;
        }
        if (opt == NULL) {
            /* Never the value after '=': it may be a mistyped secret. */
            quote_value(quoted, sizeof quoted, name, len);
            snprintf(errbuf, errsize, "unknown flag \"--%s\"", quoted);
            goto cleanup;
        }
        snprintf(label, sizeof label, "--%s%s", negated ? "no-" : "", opt->name);

        if (opt->type == TALLY_CONFIG_TYPE_BOOL && eq == NULL) {
            staged[k].b = !negated;
            continue;
        }
        if (negated) {
            snprintf(errbuf, errsize, "%s: takes no value", label);
            goto cleanup;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            snprintf(errbuf, errsize, "%s: missing value", label);
            goto cleanup;
        }
        if (set_value(opt, &staged[k], value, label, errbuf, errsize) < 0)
            goto cleanup;
    }

    commit(cfg, staged);
    free_pairs(cfg->kafka, cfg->n_kafka);
    cfg->kafka = kafka;
    cfg->n_kafka = n_kafka;
    kafka = NULL;
    n_kafka = 0;
    free_strings(cfg->positional, cfg->n_positional);
    cfg->positional = positional;
    cfg->n_positional = n_positional;
    positional = NULL;
    n_positional = 0;
    rc = 0;

cleanup:
    for (size_t k = 0; k < cfg->n_options; k++) {
        if (cfg->options[k].type == TALLY_CONFIG_TYPE_STRING)
            free_wiped(staged[k].s);
    }
    free(staged);
    free_pairs(kafka, n_kafka);
    free_strings(positional, n_positional);
    return rc;
}

static void print_range(FILE *out, const tally_config_option_t *opt, const char *unit)
{
    if (opt->min != 0 || opt->max != 0)
        fprintf(out, " (%" PRId64 "%s..%" PRId64 "%s)", opt->min, unit, opt->max, unit);
}

void tally_config_usage(const tally_config_t *cfg, FILE *out)
{
    char env[LABEL_SIZE];

    fprintf(out, "Usage: %s [options] [command...]\n", cfg->program);
    if (cfg->summary != NULL)
        fprintf(out, "%s\n", cfg->summary);
    fprintf(out, "\nOptions (flag, type, default, environment variable):\n");

    for (size_t k = 0; k < cfg->n_options; k++) {
        const tally_config_option_t *opt = &cfg->options[k];

        switch (opt->type) {
        case TALLY_CONFIG_TYPE_BOOL:
            fprintf(out, "  --%s, --no-%s", opt->name, opt->name);
            break;
        case TALLY_CONFIG_TYPE_ENUM:
            fprintf(out, "  --%s=", opt->name);
            for (int c = 0; opt->choices[c] != NULL; c++)
                fprintf(out, "%s%s", c > 0 ? "|" : "", opt->choices[c]);
            break;
        default:
            fprintf(out, "  --%s=%s", opt->name, type_names[opt->type]);
            break;
        }
        if (opt->type == TALLY_CONFIG_TYPE_INT)
            print_range(out, opt, "");
        else if (opt->type == TALLY_CONFIG_TYPE_DURATION)
            print_range(out, opt, "ms");
        else if (opt->type == TALLY_CONFIG_TYPE_SIZE)
            print_range(out, opt, "B");
        if (opt->flags & TALLY_CONFIG_SECRET)
            fprintf(out, " (secret)");
        fputc('\n', out);
        if (opt->help != NULL)
            fprintf(out, "      %s\n", opt->help);

        env_name(opt->name, env, sizeof env);
        if (opt->flags & TALLY_CONFIG_SECRET)
            fprintf(out, "      default: (hidden)");
        else if (opt->default_value == NULL)
            fprintf(out, "      default: (none)");
        else
            fprintf(out, "      default: \"%s\"", opt->default_value);
        fprintf(out, "; env: %s\n", env);
    }

    fprintf(out, "  -X KEY=VALUE\n"
                 "      librdkafka configuration property, passed to rd_kafka_conf_set;\n"
                 "      repeatable\n"
                 "  -h, --help\n"
                 "      print this help and exit\n"
                 "  --version\n"
                 "      print the version and exit\n"
                 "Arguments after \"--\" are never read as flags.\n");
}

size_t tally_config_positional_count(const tally_config_t *cfg)
{
    return cfg->n_positional;
}

const char *tally_config_positional_get(const tally_config_t *cfg, size_t i)
{
    return i < cfg->n_positional ? cfg->positional[i] : NULL;
}

size_t tally_config_kafka_count(const tally_config_t *cfg)
{
    return cfg->n_kafka;
}

int tally_config_kafka_get(const tally_config_t *cfg, size_t i,
                           const char **key, const char **value)
{
    if (i >= cfg->n_kafka)
        return -1;
    *key = cfg->kafka[i].key;
    *value = cfg->kafka[i].value;
    return 0;
}

int tally_config_apply_kafka(const tally_config_t *cfg, rd_kafka_conf_t *conf,
                             char *errbuf, size_t errsize)
{
    char errstr[512];

    for (size_t i = 0; i < cfg->n_kafka; i++) {
        errstr[0] = '\0';
        if (rd_kafka_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK) {
            /* librdkafka names the property by its canonical name
             * (linger.ms -> queue.buffering.max.ms): name the key typed too. */
            snprintf(errbuf, errsize, "-X %s: %s", cfg->kafka[i].key, errstr);
            return -1;
        }
    }
    return 0;
}
