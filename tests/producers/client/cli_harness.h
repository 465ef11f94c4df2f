#ifndef TALLY_TEST_CLI_HARNESS_H
#define TALLY_TEST_CLI_HARNESS_H

/* Black-box runs of the real `tally` binary for the client suites: its own
 * config, state and home folders per test, a clean environment (no TALLY_*,
 * DO_NOT_TRACK, CI or proxy variables from the outside), stdin from text,
 * stdout and stderr captured; and helpers to read back what reached the
 * real gateway's topics. Header-only (static inline): each suite includes
 * it and uses what it needs. */

#include "codec.h"
#include "gateway_fixture.h"
#include "json_avro.h"
#include "schema_catalog.h"
#include "timeutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    char dir[64];                         /* the test's temporary folder */
    char config[128], state[128], home[128];
} cli_env_t;

typedef struct {
    int status;                           /* exit status; 128+signal when killed */
    char *out, *err;                      /* owned, NUL-terminated */
} cli_result_t;

typedef struct {
    pid_t pid;
    char out_path[160], err_path[160];
} cli_proc_t;

static inline long long cli_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void cli_env_init(cli_env_t *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/tally-test-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(e->dir));
    snprintf(e->config, sizeof e->config, "%s/config", e->dir);
    snprintf(e->state, sizeof e->state, "%s/state", e->dir);
    snprintf(e->home, sizeof e->home, "%s/home", e->dir);
    cr_assert_eq(mkdir(e->home, 0700), 0);
}

static inline void cli_env_cleanup(cli_env_t *e)
{
    char cmd[256];
    if (e->dir[0] == '\0')
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->dir);
}

static inline char *cli_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* In the child: the clean environment, then env's "NAME=value" (or "NAME"
 * to unset) entries. */
static inline void cli_child_env(const cli_env_t *e, const char *const env[])
{
    for (int again = 1; again;) {
        again = 0;
        for (char **v = environ; *v != NULL; v++) {
            if (strncmp(*v, "TALLY_", 6) == 0 || strncmp(*v, "XDG_", 4) == 0) {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(*v, "="), *v);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    static const char *const drop[] = {"DO_NOT_TRACK", "CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID",
                                       "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                                       "ALL_PROXY", NULL};
    for (int i = 0; drop[i] != NULL; i++)
        unsetenv(drop[i]);
    setenv("HOME", e->home, 1);
    setenv("XDG_CONFIG_HOME", e->config, 1);
    setenv("XDG_STATE_HOME", e->state, 1);
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq == NULL) {
            unsetenv(env[i]);
        } else {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
            setenv(name, eq + 1, 1);
        }
    }
}

/* Starts `tally args...` (NULL-terminated) with stdin_text (NULL: empty). */
static inline cli_proc_t cli_spawn(const cli_env_t *e, const char *stdin_text, const char *const env[],
                                   const char *const args[])
{
    static int counter;
    cli_proc_t p;
    char in_path[160];
    counter++;
    snprintf(in_path, sizeof in_path, "%s/stdin-%d", e->dir, counter);
    snprintf(p.out_path, sizeof p.out_path, "%s/stdout-%d", e->dir, counter);
    snprintf(p.err_path, sizeof p.err_path, "%s/stderr-%d", e->dir, counter);
    FILE *f = fopen(in_path, "w");
    cr_assert_not_null(f);
    if (stdin_text)
        fputs(stdin_text, f);
    fclose(f);
    const char *argv[64];
    int n = 0;
    argv[n++] = tally_test_bin("tally");
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", argv[0]);
    argv[0] = bin;
    tally_test_sanitizer_dir();
    p.pid = fork();
    cr_assert(p.pid >= 0);
    if (p.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive the test worker */
        int in = open(in_path, O_RDONLY), out = open(p.out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            err = open(p.err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        tally_test_sanitizer_env(bin);   /* before cli_child_env drops TALLY_* */
        cli_child_env(e, env);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return p;
}

/* Waits up to timeout_ms; the result, or status -1 on timeout (then the
 * process still runs). */
static inline cli_result_t cli_wait(cli_proc_t *p, int timeout_ms)
{
    cli_result_t r = {.status = -1};
    long long end = cli_mono_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t w = waitpid(p->pid, &st, WNOHANG);
        if (w == p->pid) {
            r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (cli_mono_ms() > end)
            return r;
        usleep(5000);
    }
    r.out = cli_slurp(p->out_path);
    r.err = cli_slurp(p->err_path);
    /* Show the client's stderr: a failing test then explains itself. */
    fprintf(stderr, "--- tally (exit %d):\n%s", r.status, r.err);
    return r;
}

static inline cli_result_t cli_run(const cli_env_t *e, const char *stdin_text, const char *const env[],
                                   const char *const args[])
{
    cli_proc_t p = cli_spawn(e, stdin_text, env, args);
    cli_result_t r = cli_wait(&p, 120000);
    if (r.status == -1) {
        kill(p.pid, SIGKILL);
        waitpid(p.pid, NULL, 0);
        cr_assert_fail("tally did not finish in 120 s");
    }
    return r;
}

static inline void cli_result_free(cli_result_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* A local port nothing listens on: a gateway that is down. */
static inline int cli_closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* Every event of the request bodies in a --debug or --dry-run text: the
 * lines that hold a JSON array. A new array. */
static inline json_t *cli_sent_events(const char *text)
{
    json_t *all = json_array();
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > 0 && line[0] == '[') {
            json_t *a = json_loadb(line, len, 0, NULL);
            if (json_is_array(a))
                json_array_extend(all, a);
            json_decref(a);
        }
        line = nl ? nl + 1 : NULL;
    }
    return all;
}

/* Requests the gateway counted on route, whatever their status. */
static inline long cli_gateway_requests(const tally_test_gateway_t *gw, const char *route)
{
    char url[128], needle[160];
    snprintf(url, sizeof url, "%s/metrics", gw->base_url);
    snprintf(needle, sizeof needle, "tally_gateway_requests_total{route=\"%s\",", route);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    long total = 0;
    for (const char *p = r.body; (p = strstr(p, needle)) != NULL;) {
        p = strchr(p, '}');
        if (p == NULL)
            break;
        total += strtol(p + 1, NULL, 10);
    }
    tally_test_response_free(&r);
    return total;
}

/* Whether ev's key is one of values (an array of strings). */
static inline int cli_matches(json_t *ev, const char *key, json_t *values)
{
    const char *v = json_string_value(json_object_get(ev, key));
    size_t i;
    json_t *allowed;
    json_array_foreach(values, i, allowed) {
        if (v != NULL && json_string_value(allowed) != NULL && strcmp(v, json_string_value(allowed)) == 0)
            return 1;
    }
    return 0;
}

/* The records of topic that belong to this test (key is one of values, a
 * JSON array of strings), decoded to JSON, in a new array. Topic names of
 * the fixture are made of a pid and a counter, and pids come round again:
 * an earlier run's records may still be in "our" topic, hence the filter.
 * Reads again until at least want match, then idle_ms pass with nothing
 * new, or 30 s. */
static inline json_t *cli_topic_events(const tally_catalog_t *cat, const char *topic, const char *key,
                                       json_t *values, size_t want, int idle_ms)
{
    char err[512];
    long long end = cli_mono_ms() + 30000;
    json_t *out;
    for (;;) {
        tally_test_record_t *recs;
        size_t n = tally_test_topic_read(topic, want, idle_ms, 30000, &recs);
        out = json_array();
        tally_decoder_t *dec = tally_decoder_new_any(cat);
        for (size_t i = 0; i < n; i++) {
            avro_value_t *v;
            const tally_catalog_entry_t *w;
            cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s",
                         err);
            tally_json_avro_t *conv = tally_json_avro_new(w->json, NULL, err, sizeof err);
            cr_assert_not_null(conv, "%s", err);
            json_t *j;
            cr_assert_eq(tally_json_avro_to_json(conv, v, &j, err, sizeof err), 0, "%s", err);
            json_object_set_new(j, "_schema", json_string(w->name));
            if (cli_matches(j, key, values))
                json_array_append(out, j);
            json_decref(j);
            tally_json_avro_free(conv);
        }
        tally_decoder_free(dec);
        tally_test_records_free(recs, n);
        if (json_array_size(out) >= want || cli_mono_ms() > end)
            return out;
        json_decref(out);
        usleep(200000);
    }
}

/* This test's installation id (from its config.json) in a new array, as a
 * cli_topic_events filter; empty before the first product event. */
static inline json_t *cli_install_ids(const cli_env_t *e)
{
    char path[256];
    snprintf(path, sizeof path, "%s/tally/config.json", e->config);
    json_t *cfg = json_load_file(path, 0, NULL), *ids = json_array();
    json_t *id = json_object_get(cfg, "install_id");
    if (json_is_string(id))
        json_array_append(ids, id);
    json_decref(cfg);
    return ids;
}

/* A decoded timestamp (RFC 3339 text or epoch ms) in epoch ms. */
static inline long long cli_time_ms(json_t *v)
{
    int64_t ms = -1;
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    cr_assert_not_null(s, "not a timestamp");
    cr_assert_eq(tally_rfc3339_parse(s, strlen(s), &ms), 0, "%s", s);
    return ms;
}

/* How many events of arr have key == value. */
static inline size_t cli_count(json_t *arr, const char *key, const char *value)
{
    size_t i, n = 0;
    json_t *ev;
    json_array_foreach(arr, i, ev) {
        const char *v = json_string_value(json_object_get(ev, key));
        if (v != NULL && strcmp(v, value) == 0)
            n++;
    }
    return n;
}

/* The number of "events: N" in `tally spool` output. */
static inline long cli_spool_events(const char *spool_out)
{
    const char *p = strstr(spool_out, "\nevents: ");
    cr_assert_not_null(p, "no events line in: %s", spool_out);
    return strtol(p + 9, NULL, 10);
}

#endif
