/* Unit tests of common/config: precedence, every value type, every bad
 * input (named, and changing nothing), secrets, -X into a real librdkafka
 * conf, --help and --version. Each test runs in its own process (Criterion
 * forks), so setenv and the global settings struct start fresh. */
#include "config.h"
#include "log.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *brokers;
    int64_t port;
    bool verbose;
    int64_t flush_timeout_ms;
    int64_t max_body;
    int log_level;
    char *admin_token;
    char *group_id;
} settings_t;

static settings_t s;

static const tally_config_option_t options[] = {
    TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
    TALLY_CONFIG_INT("port", &s.port, "8080", 1, 65535, "HTTP listen port"),
    TALLY_CONFIG_BOOL("verbose", &s.verbose, "false", "log request details"),
    TALLY_CONFIG_DURATION("flush-timeout", &s.flush_timeout_ms, "30s", 0, 3600000,
                          "how long shutdown waits for the broker"),
    TALLY_CONFIG_SIZE("max-body", &s.max_body, "1MiB", 1, 64 << 20, "largest request body"),
    TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names,
                      "debug, info, warn or error"),
    TALLY_CONFIG_SECRET_STR("admin-token", &s.admin_token, "default-secret-xyz",
                            "Control Panel admin token"),
    TALLY_CONFIG_STR("kafka.group-id", &s.group_id, NULL, "consumer group"),
};
#define N_OPTIONS (sizeof options / sizeof options[0])

static const char *const env_names[] = {
    "TALLY_BROKERS",   "TALLY_PORT",      "TALLY_VERBOSE",     "TALLY_FLUSH_TIMEOUT",
    "TALLY_MAX_BODY",  "TALLY_LOG_LEVEL", "TALLY_ADMIN_TOKEN", "TALLY_KAFKA_GROUP_ID",
    "TALLY_PIN",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
        unsetenv(env_names[i]);
}

TestSuite(config, .init = clear_env);

/* argv of "prog" and the strings up to NULL. */
#define ARGS(...) ((const char *[]){"prog", __VA_ARGS__, NULL})

static int parse(tally_config_t *cfg, const char **argv, char *err, size_t errsize)
{
    int argc = 0;

    while (argv[argc] != NULL)
        argc++;
    err[0] = '\0';
    return tally_config_parse(cfg, argc, (char *const *)argv, err, errsize);
}

static tally_config_t *new_config(void)
{
    return tally_config_new("prog", "1.2.3", "A test program.", options, N_OPTIONS);
}

static char *repeat(char c, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix);
    char *buf = malloc(plen + n + 1);

    cr_assert(buf != NULL);
    memcpy(buf, prefix, plen);
    memset(buf + plen, c, n);
    buf[plen + n] = '\0';
    return buf;
}

Test(config, defaults_fill_every_field)
{
    tally_config_t *cfg = new_config();
    char err[512];

    cr_assert_eq(parse(cfg, ARGS(NULL), err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(s.brokers, "127.0.0.1:19092");
    cr_assert_eq(s.port, 8080);
    cr_assert_eq(s.verbose, false);
    cr_assert_eq(s.flush_timeout_ms, 30000);
    cr_assert_eq(s.max_body, 1 << 20);
    cr_assert_eq(s.log_level, TALLY_LOG_INFO);
    cr_assert_str_eq(s.admin_token, "default-secret-xyz");
    cr_assert_null(s.group_id);
    cr_assert_eq(tally_config_positional_count(cfg), 0);
    cr_assert_eq(tally_config_kafka_count(cfg), 0);
    tally_config_free(cfg);
}

Test(config, environment_overrides_defaults)
{
    tally_config_t *cfg = new_config();
    char err[512];

    setenv("TALLY_PORT", "9000", 1);
    setenv("TALLY_VERBOSE", "yes", 1);
    setenv("TALLY_FLUSH_TIMEOUT", "5m", 1);
    setenv("TALLY_MAX_BODY", "64KiB", 1);
    setenv("TALLY_LOG_LEVEL", "debug", 1);
    setenv("TALLY_KAFKA_GROUP_ID", "materializer", 1);
    setenv("TALLY_ADMIN_TOKEN", "from-env", 1);
    cr_assert_eq(parse(cfg, ARGS(NULL), err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.port, 9000);
    cr_assert_eq(s.verbose, true);
    cr_assert_eq(s.flush_timeout_ms, 300000);
    cr_assert_eq(s.max_body, 65536);
    cr_assert_eq(s.log_level, TALLY_LOG_DEBUG);
    cr_assert_str_eq(s.group_id, "materializer", "'.' and '-' map to '_' in TALLY_KAFKA_GROUP_ID");
    cr_assert_str_eq(s.admin_token, "from-env");
    cr_assert_str_eq(s.brokers, "127.0.0.1:19092", "unset variable keeps the default");
    tally_config_free(cfg);
}

Test(config, flags_override_environment_in_both_forms)
{
    tally_config_t *cfg = new_config();
    char err[512];

    setenv("TALLY_PORT", "9000", 1);
    setenv("TALLY_BROKERS", "env:9092", 1);
    setenv("TALLY_VERBOSE", "true", 1);
    cr_assert_eq(parse(cfg, ARGS("--port", "9100", "--brokers=flag:9092", "--no-verbose"), err,
                       sizeof err), 0, "%s", err);
    cr_assert_eq(s.port, 9100);
    cr_assert_str_eq(s.brokers, "flag:9092");
    cr_assert_eq(s.verbose, false);

    cr_assert_eq(parse(cfg, ARGS("--port=1", "--port=2", "--kafka.group-id", "g"), err,
                       sizeof err), 0, "%s", err);
    cr_assert_eq(s.port, 2, "the last flag wins");
    cr_assert_str_eq(s.brokers, "env:9092", "a new parse starts again from env and defaults");
    cr_assert_str_eq(s.group_id, "g");
    tally_config_free(cfg);
}

Test(config, int_bounds_are_inclusive_and_signs_parse)
{
    static int64_t offset;
    static const tally_config_option_t table[] = {
        TALLY_CONFIG_INT("offset", &offset, "0", 0, 0, "unbounded"),
    };
    tally_config_t *cfg = new_config();
    tally_config_t *unbounded = tally_config_new("prog", "1", NULL, table, 1);
    char err[512];

    cr_assert_eq(parse(cfg, ARGS("--port=1"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.port, 1);
    cr_assert_eq(parse(cfg, ARGS("--port=+65535"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.port, 65535);
    cr_assert_eq(parse(unbounded, ARGS("--offset", "-5"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(offset, -5, "a value may start with a single '-'");
    cr_assert_eq(parse(unbounded, ARGS("--offset=9223372036854775807"), err, sizeof err), 0);
    cr_assert_eq(offset, INT64_MAX);
    tally_config_free(unbounded);
    tally_config_free(cfg);
}

Test(config, bools_accept_every_spelling)
{
    static const struct {
        const char *arg;
        bool value;
    } cases[] = {
        {"--verbose", true},        {"--no-verbose", false},    {"--verbose=true", true},
        {"--verbose=false", false}, {"--verbose=YES", true},    {"--verbose=no", false},
        {"--verbose=on", true},     {"--verbose=Off", false},   {"--verbose=1", true},
        {"--verbose=0", false},
    };
    tally_config_t *cfg = new_config();
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s.verbose = !cases[i].value;
        cr_assert_eq(parse(cfg, ARGS(cases[i].arg), err, sizeof err), 0, "%s: %s",
                     cases[i].arg, err);
        cr_assert_eq(s.verbose, cases[i].value, "%s", cases[i].arg);
    }
    /* A bool flag without '=' never takes the next argument. */
    cr_assert_eq(parse(cfg, ARGS("--verbose", "false"), err, sizeof err), 0);
    cr_assert_eq(s.verbose, true);
    cr_assert_str_eq(tally_config_positional_get(cfg, 0), "false");
    tally_config_free(cfg);
}

Test(config, durations_are_milliseconds)
{
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"0", 0}, {"500ms", 500}, {"30s", 30000}, {"5m", 300000}, {"1h", 3600000}, {"0s", 0},
    };
    tally_config_t *cfg = new_config();
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(parse(cfg, ARGS("--flush-timeout", cases[i].text), err, sizeof err), 0,
                     "%s: %s", cases[i].text, err);
        cr_assert_eq(s.flush_timeout_ms, cases[i].ms, "%s", cases[i].text);
    }
    tally_config_free(cfg);
}

Test(config, sizes_are_bytes_with_binary_units)
{
    static const struct {
        const char *text;
        int64_t bytes;
    } cases[] = {
        {"123", 123}, {"2B", 2}, {"64KiB", 65536}, {"10MiB", 10485760}, {"1mib", 1048576},
        {"64MiB", 64 << 20},
    };
    tally_config_t *cfg = new_config();
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(parse(cfg, ARGS("--max-body", cases[i].text), err, sizeof err), 0,
                     "%s: %s", cases[i].text, err);
        cr_assert_eq(s.max_body, cases[i].bytes, "%s", cases[i].text);
    }
    tally_config_free(cfg);
}

Test(config, enums_store_the_choice_index)
{
    tally_config_t *cfg = new_config();
    char err[512];

    cr_assert_eq(parse(cfg, ARGS("--log-level=error"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.log_level, TALLY_LOG_ERROR);
    cr_assert_eq(parse(cfg, ARGS("--log-level", "warn"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.log_level, TALLY_LOG_WARN);
    tally_config_free(cfg);
}

Test(config, positional_arguments_keep_their_order)
{
    tally_config_t *cfg = new_config();
    char err[512];

    cr_assert_eq(parse(cfg, ARGS("start", "--port", "81", "extra", "-", "--", "--port=1", "-X"),
                       err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.port, 81, "only flags before \"--\" count");
    cr_assert_eq(tally_config_positional_count(cfg), 5);
    cr_assert_str_eq(tally_config_positional_get(cfg, 0), "start");
    cr_assert_str_eq(tally_config_positional_get(cfg, 1), "extra");
    cr_assert_str_eq(tally_config_positional_get(cfg, 2), "-");
    cr_assert_str_eq(tally_config_positional_get(cfg, 3), "--port=1");
    cr_assert_str_eq(tally_config_positional_get(cfg, 4), "-X");
    cr_assert_null(tally_config_positional_get(cfg, 5));

    cr_assert_eq(parse(cfg, ARGS("stop"), err, sizeof err), 0);
    cr_assert_eq(tally_config_positional_count(cfg), 1, "a new parse replaces the list");
    cr_assert_str_eq(tally_config_positional_get(cfg, 0), "stop");
    tally_config_free(cfg);
}

Test(config, strings_are_copies_owned_by_the_config)
{
    tally_config_t *cfg = new_config();
    char arg[] = "--brokers=copy:9092";
    const char *argv[] = {"prog", arg, NULL};
    char err[512];

    cr_assert_eq(parse(cfg, argv, err, sizeof err), 0, "%s", err);
    memset(arg, 'z', sizeof arg - 1);
    cr_assert_str_eq(s.brokers, "copy:9092");
    tally_config_free(cfg);
    cr_assert_null(s.brokers, "free resets the string fields it owned");
    cr_assert_null(s.admin_token);
    tally_config_free(NULL);
}

Test(config, kafka_pairs_are_collected_in_order)
{
    tally_config_t *cfg = new_config();
    const char *key, *value;
    char err[512];

    cr_assert_eq(parse(cfg, ARGS("-X", "linger.ms=5", "-Xacks=all", "-X", "sasl.jaas=a=b",
                                 "-X", "client.id="),
                       err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_config_kafka_count(cfg), 4);
    cr_assert_eq(tally_config_kafka_get(cfg, 0, &key, &value), 0);
    cr_assert_str_eq(key, "linger.ms");
    cr_assert_str_eq(value, "5");
    cr_assert_eq(tally_config_kafka_get(cfg, 1, &key, &value), 0);
    cr_assert_str_eq(key, "acks");
    cr_assert_str_eq(value, "all");
    cr_assert_eq(tally_config_kafka_get(cfg, 2, &key, &value), 0);
    cr_assert_str_eq(key, "sasl.jaas", "the key ends at the first '='");
    cr_assert_str_eq(value, "a=b");
    cr_assert_eq(tally_config_kafka_get(cfg, 3, &key, &value), 0);
    cr_assert_str_eq(value, "");
    cr_assert_lt(tally_config_kafka_get(cfg, 4, &key, &value), 0);
    tally_config_free(cfg);
}

Test(config, kafka_pairs_apply_to_a_real_librdkafka_conf)
{
    tally_config_t *cfg = new_config();
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512], value[64];
    size_t size = sizeof value;

    cr_assert_eq(parse(cfg, ARGS("-X", "linger.ms=5", "-Xcompression.codec=zstd"), err,
                       sizeof err), 0, "%s", err);
    cr_assert_eq(tally_config_apply_kafka(cfg, conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rd_kafka_conf_get(conf, "linger.ms", value, &size), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(value, "5");
    size = sizeof value;
    cr_assert_eq(rd_kafka_conf_get(conf, "compression.codec", value, &size), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(value, "zstd");
    rd_kafka_conf_destroy(conf);
    tally_config_free(cfg);
}

Test(config, kafka_errors_name_the_key_with_librdkafkas_text)
{
    static const struct {
        const char *arg;
        const char *expect[2];
    } cases[] = {
        {"no.such.key=1", {"-X no.such.key: ", "No such configuration property"}},
        {"linger.ms=abc", {"-X linger.ms: ", "Invalid value"}},
        {"linger.ms=99999999", {"-X linger.ms: ", "outside allowed range"}},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_config_t *cfg = new_config();
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[512], value[64];
        size_t size = sizeof value;

        cr_assert_eq(parse(cfg, ARGS("-X", "acks=1", "-X", cases[i].arg), err, sizeof err), 0);
        cr_assert_lt(tally_config_apply_kafka(cfg, conf, err, sizeof err), 0, "%s", cases[i].arg);
        for (int k = 0; k < 2; k++)
            cr_assert(strstr(err, cases[i].expect[k]) != NULL, "%s: %s", cases[i].arg, err);
        cr_assert_eq(rd_kafka_conf_get(conf, "acks", value, &size), RD_KAFKA_CONF_OK);
        cr_assert_str_eq(value, "1", "pairs before the bad one are applied");
        rd_kafka_conf_destroy(conf);
        tally_config_free(cfg);
    }
}

/* One bad input: either argv or one environment variable. */
typedef struct {
    const char *args[4];
    const char *env_name;
    const char *env_value;
    const char *expect[3];  /* substrings of the error */
    const char *never;      /* must not appear in the error */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {{"--nope=1"}, NULL, NULL, {"unknown flag \"--nope\""}, "=1"},
    {{"--admin-tokn=hunter2"}, NULL, NULL, {"unknown flag \"--admin-tokn\""}, "hunter2"},
    {{"-p8080"}, NULL, NULL, {"unknown flag \"-p\""}, "8080"},
    {{"--no-port"}, NULL, NULL, {"unknown flag \"--no-port\""}, NULL},
    {{"--brokers"}, NULL, NULL, {"--brokers: missing value"}, NULL},
    {{"--brokers", "--verbose"}, NULL, NULL, {"--brokers: missing value"}, NULL},
    {{"--port=abc"}, NULL, NULL, {"--port: ", "not an integer", "\"abc\""}, NULL},
    {{"--port", "70000"}, NULL, NULL, {"--port: ", "out of range 1..65535", "\"70000\""}, NULL},
    {{"--port=0"}, NULL, NULL, {"--port: ", "out of range", "\"0\""}, NULL},
    {{"--port=1.5"}, NULL, NULL, {"--port: ", "not an integer", "\"1.5\""}, NULL},
    {{"--port= 80"}, NULL, NULL, {"--port: ", "not an integer"}, NULL},
    {{"--port=99999999999999999999"}, NULL, NULL, {"--port: ", "not an integer"}, NULL},
    {{"--verbose=maybe"}, NULL, NULL, {"--verbose: ", "not a boolean", "\"maybe\""}, NULL},
    {{"--no-verbose=1"}, NULL, NULL, {"--no-verbose: takes no value"}, NULL},
    {{"--flush-timeout=5"}, NULL, NULL, {"--flush-timeout: ", "not a duration", "\"5\""}, NULL},
    {{"--flush-timeout=5 m"}, NULL, NULL, {"--flush-timeout: ", "not a duration"}, NULL},
    {{"--flush-timeout=5x"}, NULL, NULL, {"--flush-timeout: ", "not a duration"}, NULL},
    {{"--flush-timeout=-5s"}, NULL, NULL, {"--flush-timeout: ", "not a duration"}, NULL},
    {{"--flush-timeout=1.5s"}, NULL, NULL, {"--flush-timeout: ", "not a duration"}, NULL},
    {{"--flush-timeout=5S"}, NULL, NULL, {"--flush-timeout: ", "not a duration"}, NULL},
    {{"--flush-timeout=2h"}, NULL, NULL, {"--flush-timeout: ", "out of range 0ms..3600000ms"}, NULL},
    {{"--flush-timeout=99999999999999999h"}, NULL, NULL, {"--flush-timeout: ", "too large"}, NULL},
    {{"--max-body=10MB"}, NULL, NULL, {"--max-body: ", "not a size", "\"10MB\""}, NULL},
    {{"--max-body=KiB"}, NULL, NULL, {"--max-body: ", "not a size"}, NULL},
    {{"--max-body=1.5MiB"}, NULL, NULL, {"--max-body: ", "not a size"}, NULL},
    {{"--max-body=128MiB"}, NULL, NULL, {"--max-body: ", "out of range"}, NULL},
    {{"--max-body=0"}, NULL, NULL, {"--max-body: ", "out of range"}, NULL},
    {{"--max-body=9999999999TiB"}, NULL, NULL, {"--max-body: ", "too large"}, NULL},
    {{"--log-level=verbose"}, NULL, NULL,
     {"--log-level: ", "not one of debug, info, warn, error", "\"verbose\""}, NULL},
    {{"-X", "linger.ms"}, NULL, NULL, {"-X: expected key=value", "\"linger.ms\""}, NULL},
    {{"-X", "=hunter2"}, NULL, NULL, {"-X: empty key"}, "hunter2"},
    {{"-X"}, NULL, NULL, {"-X: missing key=value"}, NULL},
    {{"--port=1", "bogus-after-good", "--port=x"}, NULL, NULL, {"--port: "}, NULL},
    {{NULL}, "TALLY_PORT", "abc", {"TALLY_PORT: ", "not an integer", "\"abc\""}, NULL},
    {{NULL}, "TALLY_PORT", "", {"TALLY_PORT: ", "not an integer", "\"\""}, NULL},
    {{NULL}, "TALLY_VERBOSE", "maybe", {"TALLY_VERBOSE: ", "not a boolean", "\"maybe\""}, NULL},
    {{NULL}, "TALLY_FLUSH_TIMEOUT", "10", {"TALLY_FLUSH_TIMEOUT: ", "not a duration"}, NULL},
    {{NULL}, "TALLY_MAX_BODY", "1MB", {"TALLY_MAX_BODY: ", "not a size", "\"1MB\""}, NULL},
    {{NULL}, "TALLY_LOG_LEVEL", "loud", {"TALLY_LOG_LEVEL: ", "not one of"}, NULL},
    /* A good flag does not excuse a bad environment variable. */
    {{"--port=80"}, "TALLY_PORT", "x", {"TALLY_PORT: "}, NULL},
};

static void assert_bad_input_changes_nothing(const bad_case_t *c, size_t index)
{
    tally_config_t *cfg = new_config();
    settings_t before;
    const char *argv[6] = {"prog"};
    char err[512];
    const char *key, *value;
    int argc = 1;

    /* A good parse first: the bad one must leave all of it in place. */
    cr_assert_eq(parse(cfg, ARGS("--brokers=good:9092", "--port=81", "--verbose", "run",
                                 "-X", "acks=all"), err, sizeof err), 0, "%s", err);
    memcpy(&before, &s, sizeof s);

    for (int i = 0; i < 4 && c->args[i] != NULL; i++)
        argv[argc++] = c->args[i];
    if (c->env_name != NULL)
        setenv(c->env_name, c->env_value, 1);

    cr_assert_lt(parse(cfg, argv, err, sizeof err), 0, "case %zu was accepted", index);
    for (int k = 0; k < 3 && c->expect[k] != NULL; k++)
        cr_assert(strstr(err, c->expect[k]) != NULL, "case %zu: \"%s\" not in: %s", index,
                  c->expect[k], err);
    if (c->never != NULL)
        cr_assert(strstr(err, c->never) == NULL, "case %zu echoes \"%s\": %s", index, c->never,
                  err);

    cr_assert_eq(memcmp(&before, &s, sizeof s), 0, "case %zu changed the settings", index);
    cr_assert_str_eq(s.brokers, "good:9092");
    cr_assert_str_eq(s.admin_token, "default-secret-xyz");
    cr_assert_eq(tally_config_positional_count(cfg), 1);
    cr_assert_str_eq(tally_config_positional_get(cfg, 0), "run");
    cr_assert_eq(tally_config_kafka_count(cfg), 1);
    cr_assert_eq(tally_config_kafka_get(cfg, 0, &key, &value), 0);
    cr_assert_str_eq(value, "all");

    if (c->env_name != NULL)
        unsetenv(c->env_name);
    tally_config_free(cfg);
}

Test(config, every_bad_input_is_named_and_changes_nothing)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        assert_bad_input_changes_nothing(&bad_cases[i], i);
}

Test(config, first_parse_error_leaves_fields_untouched)
{
    tally_config_t *cfg = new_config();
    char err[512];

    cr_assert_lt(parse(cfg, ARGS("--port=x"), err, sizeof err), 0);
    cr_assert_null(s.brokers, "defaults are not stored when the parse fails");
    cr_assert_eq(s.port, 0);
    cr_assert_eq(s.flush_timeout_ms, 0);
    tally_config_free(cfg);
}

Test(config, oversized_values_are_rejected_without_echo)
{
    tally_config_t *cfg = new_config();
    char *flag = repeat('q', TALLY_CONFIG_VALUE_MAX + 1, "--brokers=");
    char *token = repeat('s', TALLY_CONFIG_VALUE_MAX + 1, "--admin-token=");
    char *kafka = repeat('k', TALLY_CONFIG_VALUE_MAX + 1, "client.id=");
    char *env = repeat('e', TALLY_CONFIG_VALUE_MAX + 1, "");
    char *fits = repeat('f', TALLY_CONFIG_VALUE_MAX, "--brokers=");
    char err[512];

    cr_assert_lt(parse(cfg, ARGS(flag), err, sizeof err), 0);
    cr_assert(strstr(err, "--brokers: value too long (4097 bytes, max 4096)") != NULL, "%s", err);
    cr_assert(strstr(err, "qqqq") == NULL);

    cr_assert_lt(parse(cfg, ARGS(token), err, sizeof err), 0);
    cr_assert(strstr(err, "--admin-token: value too long") != NULL, "%s", err);
    cr_assert(strstr(err, "ssss") == NULL);

    cr_assert_lt(parse(cfg, ARGS("-X", kafka), err, sizeof err), 0);
    cr_assert(strstr(err, "-X: argument too long") != NULL, "%s", err);

    setenv("TALLY_BROKERS", env, 1);
    cr_assert_lt(parse(cfg, ARGS(NULL), err, sizeof err), 0);
    cr_assert(strstr(err, "TALLY_BROKERS: value too long") != NULL, "%s", err);
    cr_assert(strstr(err, "eeee") == NULL);
    unsetenv("TALLY_BROKERS");

    cr_assert_null(s.brokers, "nothing was stored");
    cr_assert_eq(parse(cfg, ARGS(fits), err, sizeof err), 0, "%s", err);
    cr_assert_eq(strlen(s.brokers), (size_t)TALLY_CONFIG_VALUE_MAX);

    free(flag);
    free(token);
    free(kafka);
    free(env);
    free(fits);
    tally_config_free(cfg);
}

Test(config, long_bad_values_are_quoted_short)
{
    tally_config_t *cfg = new_config();
    char *arg = repeat('9', 200, "--port=x");
    char err[512];

    cr_assert_lt(parse(cfg, ARGS(arg), err, sizeof err), 0);
    cr_assert(strstr(err, "...\"") != NULL, "%s", err);
    cr_assert_lt(strlen(err), 160);
    free(arg);
    tally_config_free(cfg);
}

Test(config, secret_values_are_never_echoed)
{
    static int64_t pin;
    static char *password;
    static const tally_config_option_t table[] = {
        {"pin", TALLY_CONFIG_TYPE_INT, &pin, "4321", "a secret number", 0, 9999, NULL,
         TALLY_CONFIG_SECRET},
        TALLY_CONFIG_SECRET_STR("password", &password, "pa55word-default", "a password"),
    };
    tally_config_t *cfg = tally_config_new("prog", "1", NULL, table, 2);
    char err[512];
    char *out = NULL;
    size_t len = 0;
    FILE *mem;

    cr_assert_lt(parse(cfg, ARGS("--pin=hunter2"), err, sizeof err), 0);
    cr_assert(strstr(err, "--pin: not an integer (value not shown: secret option)") != NULL,
              "%s", err);
    cr_assert(strstr(err, "hunter2") == NULL, "%s", err);

    cr_assert_lt(parse(cfg, ARGS("--pin", "123456"), err, sizeof err), 0);
    cr_assert(strstr(err, "--pin: out of range") != NULL, "%s", err);
    cr_assert(strstr(err, "123456") == NULL, "%s", err);

    setenv("TALLY_PIN", "hunter3", 1);
    cr_assert_lt(parse(cfg, ARGS(NULL), err, sizeof err), 0);
    cr_assert(strstr(err, "TALLY_PIN: not an integer") != NULL, "%s", err);
    cr_assert(strstr(err, "hunter3") == NULL, "%s", err);
    unsetenv("TALLY_PIN");

    mem = open_memstream(&out, &len);
    tally_config_set_output(cfg, mem);
    cr_assert_eq(parse(cfg, ARGS("--help"), err, sizeof err), TALLY_CONFIG_HELP);
    fclose(mem);
    cr_assert(strstr(out, "--pin=INT (0..9999) (secret)") != NULL, "%s", out);
    cr_assert(strstr(out, "--password=STRING (secret)") != NULL, "%s", out);
    cr_assert(strstr(out, "4321") == NULL, "help shows a secret default: %s", out);
    cr_assert(strstr(out, "pa55word") == NULL, "help shows a secret default: %s", out);
    free(out);
    tally_config_free(cfg);
}

Test(config, help_lists_every_option_and_stops)
{
    tally_config_t *cfg = new_config();
    char err[512];
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    static const char *const expected[] = {
        "Usage: prog [options] [command...]",
        "A test program.",
        "--brokers=STRING\n      Kafka bootstrap servers\n"
        "      default: \"127.0.0.1:19092\"; env: TALLY_BROKERS\n",
        "--port=INT (1..65535)\n      HTTP listen port\n      default: \"8080\"; env: TALLY_PORT\n",
        "--verbose, --no-verbose\n",
        "env: TALLY_VERBOSE",
        "--flush-timeout=DURATION (0ms..3600000ms)\n",
        "default: \"30s\"; env: TALLY_FLUSH_TIMEOUT",
        "--max-body=SIZE (1B..67108864B)\n",
        "default: \"1MiB\"; env: TALLY_MAX_BODY",
        "--log-level=debug|info|warn|error\n",
        "env: TALLY_LOG_LEVEL",
        "--admin-token=STRING (secret)\n",
        "default: (hidden); env: TALLY_ADMIN_TOKEN",
        "--kafka.group-id=STRING\n",
        "default: (none); env: TALLY_KAFKA_GROUP_ID",
        "-X KEY=VALUE",
        "--help",
        "--version",
    };

    tally_config_set_output(cfg, mem);
    /* --help wins even over a bad environment and bad flags. */
    setenv("TALLY_PORT", "abc", 1);
    cr_assert_eq(parse(cfg, ARGS("start", "--nope", "--help", "--port=x"), err, sizeof err),
                 TALLY_CONFIG_HELP);
    fclose(mem);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        cr_assert(strstr(out, expected[i]) != NULL, "help lacks \"%s\":\n%s", expected[i], out);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char flag[80];

        snprintf(flag, sizeof flag, "  --%s", options[i].name);
        cr_assert(strstr(out, flag) != NULL, "help lacks %s", flag);
    }
    cr_assert(strstr(out, "default-secret-xyz") == NULL, "help shows the secret default");
    cr_assert_null(s.brokers, "help stores nothing");
    cr_assert_eq(s.port, 0);
    free(out);

    out = NULL;
    mem = open_memstream(&out, &len);
    tally_config_set_output(cfg, mem);
    cr_assert_eq(parse(cfg, ARGS("-h"), err, sizeof err), TALLY_CONFIG_HELP);
    fclose(mem);
    cr_assert(strstr(out, "Usage: prog") != NULL);
    free(out);
    tally_config_free(cfg);
}

Test(config, version_prints_program_and_version)
{
    tally_config_t *cfg = new_config();
    char err[512];
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);

    tally_config_set_output(cfg, mem);
    cr_assert_eq(parse(cfg, ARGS("--version"), err, sizeof err), TALLY_CONFIG_VERSION);
    fclose(mem);
    cr_assert_str_eq(out, "prog 1.2.3\n");
    cr_assert_null(s.brokers);
    free(out);

    /* After "--" it is an argument like any other. */
    cr_assert_eq(parse(cfg, ARGS("--", "--version"), err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(tally_config_positional_get(cfg, 0), "--version");
    tally_config_free(cfg);
}

/* Table mistakes are programming errors: tally_config_new aborts. */
static int64_t dummy_int, dummy_int2;
static char *dummy_str;

Test(config, duplicate_name_aborts, .signal = SIGABRT)
{
    static const tally_config_option_t table[] = {
        TALLY_CONFIG_INT("port", &dummy_int, "1", 0, 0, ""),
        TALLY_CONFIG_INT("port", &dummy_int2, "1", 0, 0, ""),
    };

    tally_config_free(tally_config_new("prog", "1", NULL, table, 2));
}

Test(config, names_sharing_an_env_variable_abort, .signal = SIGABRT)
{
    static const tally_config_option_t table[] = {
        TALLY_CONFIG_STR("group.id", &dummy_str, NULL, ""),
        TALLY_CONFIG_INT("group-id", &dummy_int, "1", 0, 0, ""),
    };

    tally_config_free(tally_config_new("prog", "1", NULL, table, 2));
}

Test(config, bad_default_aborts, .signal = SIGABRT)
{
    static const tally_config_option_t table[] = {
        TALLY_CONFIG_DURATION("timeout", &dummy_int, "30", 0, 0, ""),
    };

    tally_config_free(tally_config_new("prog", "1", NULL, table, 1));
}

Test(config, reserved_name_aborts, .signal = SIGABRT)
{
    static const tally_config_option_t table[] = {
        TALLY_CONFIG_INT("help", &dummy_int, "1", 0, 0, ""),
    };

    tally_config_free(tally_config_new("prog", "1", NULL, table, 1));
}

Test(config, bad_name_aborts, .signal = SIGABRT)
{
    static const tally_config_option_t table[] = {
        TALLY_CONFIG_INT("Port", &dummy_int, "1", 0, 0, ""),
    };

    tally_config_free(tally_config_new("prog", "1", NULL, table, 1));
}
