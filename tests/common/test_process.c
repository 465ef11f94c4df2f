/* Unit tests of common/process: the command line every process parses
 * (built-in defaults that the operator's flags override, the exit codes of
 * --help and of a usage error), signals as flags, the instance's name.
 * Each test runs in its own process (Criterion forks). */
#include "process.h"
#include "log.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *brokers;
    int64_t port;
    int log_level;
} settings_t;

static settings_t s;

static const tally_config_option_t options[] = {
    TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
    TALLY_CONFIG_INT("port", &s.port, "8080", 1, 65535, "HTTP listen port"),
    TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
};

static tally_config_t *config(void)
{
    memset(&s, 0, sizeof s);
    return tally_config_new("tally-test", "0.0.0", "A test process.", options, sizeof options / sizeof options[0]);
}

static int parse(tally_config_t *cfg, const char *const *defaults, size_t n, int argc, char **argv)
{
    return tally_process_parse(cfg, "tally-test", argc, argv, defaults, n, &s.log_level);
}

Test(process, defaults_come_first_so_the_operators_flags_win)
{
    tally_config_t *cfg = config();
    const char *const defaults[] = {"-Xconsumer.queued.min.messages=1000000", "--port=9000"};
    char *argv[] = {"tally-test", "--port=9100", "-Xconsumer.queued.min.messages=5", "--log-level=warn", NULL};
    cr_assert_eq(parse(cfg, defaults, 2, 4, argv), TALLY_PROCESS_RUN);
    cr_assert_eq(s.port, 9100);
    cr_assert_eq(s.log_level, TALLY_LOG_WARN);
    /* Both -X pairs are kept in order: librdkafka applies the last. */
    size_t n = tally_config_kafka_count(cfg);
    cr_assert_eq(n, 2);
    const char *key, *value;
    cr_assert_eq(tally_config_kafka_get(cfg, n - 1, &key, &value), 0);
    cr_assert_str_eq(value, "5");
    tally_config_free(cfg);

    cfg = config();
    char *bare[] = {"tally-test", NULL};
    cr_assert_eq(parse(cfg, defaults, 2, 1, bare), TALLY_PROCESS_RUN);
    cr_assert_eq(s.port, 9000, "a built-in default applies when the operator gives none");
    tally_config_free(cfg);
}

Test(process, help_exits_0, .init = cr_redirect_stdout)
{
    tally_config_t *cfg = config();
    char *argv[] = {"tally-test", "--help", NULL};
    cr_assert_eq(parse(cfg, NULL, 0, 2, argv), 0);
    tally_config_free(cfg);
}

Test(process, usage_errors_exit_2_with_the_reason, .init = cr_redirect_stderr)
{
    tally_config_t *cfg = config();
    char *unknown[] = {"tally-test", "--bogus", NULL};
    cr_assert_eq(parse(cfg, NULL, 0, 2, unknown), 2);
    tally_config_free(cfg);
    cfg = config();
    char *positional[] = {"tally-test", "extra", NULL};
    cr_assert_eq(parse(cfg, NULL, 0, 2, positional), 2);
    tally_config_free(cfg);
    cfg = config();
    char *range[] = {"tally-test", "--port=70000", NULL};
    cr_assert_eq(parse(cfg, NULL, 0, 2, range), 2);
    tally_config_free(cfg);
    fflush(stderr);
    cr_assert_stderr_eq_str("tally-test: unknown flag \"--bogus\" (see --help)\n"
                            "tally-test: unexpected argument (see --help)\n"
                            "tally-test: --port: out of range 1..65535: \"70000\" (see --help)\n");
}

static volatile sig_atomic_t stop, hup;

Test(process, signals_set_flags)
{
    tally_process_signals(&stop, &hup);
    cr_assert_eq(raise(SIGTERM), 0);
    cr_assert_eq(stop, SIGTERM);
    cr_assert_eq(raise(SIGHUP), 0);
    cr_assert_eq(hup, SIGHUP);
    stop = 0;
    cr_assert_eq(raise(SIGINT), 0);
    cr_assert_eq(stop, SIGINT);
    cr_assert_eq(raise(SIGPIPE), 0, "SIGPIPE is ignored: a closed socket does not kill the process");
}

Test(process, the_instance_is_named_by_flag_or_host)
{
    char buf[256], host[256];
    cr_assert_str_eq(tally_process_instance_id("agg-1", "x", buf, sizeof buf), "agg-1");
    cr_assert_eq(gethostname(host, sizeof host), 0);
    cr_assert_str_eq(tally_process_instance_id(NULL, "x", buf, sizeof buf), host);
    cr_assert_str_eq(tally_process_instance_id("", "x", buf, sizeof buf), host);
}
