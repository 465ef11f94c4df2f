/*
 * config.c: defaults < TALLY_* environment < command line, from one table.
 *
 * A parse works on a staged copy of every value and stores them in the
 * caller's fields only once every source has parsed, so a bad value anywhere
 * leaves the settings struct exactly as it was. One value's text into its
 * type (units, ranges, error texts) is config_value.c's.
 */
#include "config.h"

#include "config_value.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ENV_PREFIX "TALLY_"

typedef struct tally_config_pair_t {
    char *key;
    char *value;
} tally_config_pair_t;

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

static const char *const type_names[] = {
    [TALLY_CONFIG_TYPE_STRING] = "STRING",
    [TALLY_CONFIG_TYPE_INT] = "INT",
    [TALLY_CONFIG_TYPE_BOOL] = "BOOL",
    [TALLY_CONFIG_TYPE_DURATION] = "DURATION",
    [TALLY_CONFIG_TYPE_SIZE] = "SIZE",
    [TALLY_CONFIG_TYPE_ENUM] = "ENUM",
};

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

static void check_option(const tally_config_t *cfg, size_t k)
{
    const tally_config_option_t *opt = &cfg->options[k];
    tally_config_value_t scratch = {0};
    char env[TALLY_CONFIG_LABEL_SIZE], other_env[TALLY_CONFIG_LABEL_SIZE], err[512];
    size_t len;

    if (opt->name == NULL)
        die_table(opt, "no name");
    len = strlen(opt->name);
    if (len == 0 || len > TALLY_CONFIG_NAME_MAX)
        die_table(opt, "name must be 1 to %d characters", TALLY_CONFIG_NAME_MAX);
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

    if (tally_config_value_default(opt, &scratch, err, sizeof err) < 0)
        die_table(opt, "bad default: %s", err);
    if (opt->type == TALLY_CONFIG_TYPE_STRING)
        tally_config_value_wipe(scratch.s);
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
        tally_config_value_wipe(pairs[i].key);
        tally_config_value_wipe(pairs[i].value);
    }
    free(pairs);
}

static void free_strings(char **strings, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tally_config_value_wipe(strings[i]);
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
        tally_config_value_wipe(cfg->owned[k]);
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
    char quoted[TALLY_CONFIG_QUOTE_MAX + 4];

    if (len > TALLY_CONFIG_VALUE_MAX) {
        snprintf(errbuf, errsize, "-X: argument too long (%zu bytes, max %d)",
                 len, TALLY_CONFIG_VALUE_MAX);
        return -1;
    }
    if (eq == NULL) {
        /* Without '=' the argument is only a key: safe to quote. */
        tally_config_quote(quoted, sizeof quoted, arg, len);
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
            tally_config_value_wipe(cfg->owned[k]);
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
    char label[TALLY_CONFIG_LABEL_SIZE], quoted[TALLY_CONFIG_QUOTE_MAX + 4];
    int rc;

    rc = scan_help(cfg, argc, argv);
    if (rc != 0)
        goto cleanup;
    rc = -1;

    for (size_t k = 0; k < cfg->n_options; k++) {
        if (tally_config_value_default(&cfg->options[k], &staged[k], errbuf, errsize) < 0)
            goto cleanup;
    }

    for (size_t k = 0; k < cfg->n_options; k++) {
        const char *value;

        env_name(cfg->options[k].name, label, sizeof label);
        value = getenv(label);
        if (value != NULL &&
            tally_config_value_parse(&cfg->options[k], &staged[k], value, label, errbuf, errsize) < 0)
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
            tally_config_quote(quoted, sizeof quoted, name, len);
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
        if (tally_config_value_parse(opt, &staged[k], value, label, errbuf, errsize) < 0)
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
            tally_config_value_wipe(staged[k].s);
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
    char env[TALLY_CONFIG_LABEL_SIZE];

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
