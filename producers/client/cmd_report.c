/* tally report-usage: the usage reporter. Counters come in from stdin or a
 * counter file and accumulate in the state file; every --interval (or once)
 * the totals go out as a UsageReport through the spool. */
#include "commands.h"

#include "fsutil.h"
#include "reporter.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define COUNTER_FILE_MAX ((size_t)16 << 20)

typedef struct {
    tally_app_t *app;
    tally_reporter_t r;
    char path[4300];      /* the state file */
    bool absolute, strict, from_stdin;
    const char *file;     /* counter file, NULL for stdin */
    size_t line_no;
} reporter_run_t;

/* Applies text's lines to run->r. With final, a last line without a
 * newline counts too; else it is left for later. *consumed gets the bytes
 * used. strict: the first bad line fails the whole text, nothing applied;
 * else bad lines are reported and skipped. */
static int apply_lines(reporter_run_t *run, const char *text, size_t len, bool final, size_t *consumed)
{
    char err[256];
    tally_reporter_t work = run->r;
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        if (nl == NULL && !final)
            break;
        size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
        tally_counters_t c;
        unsigned mask;
        run->line_no++;
        if (tally_counters_parse(text + off, l, &c, &mask, err, sizeof err) != 0 ||
            tally_reporter_apply(&work, &c, mask, run->absolute, err, sizeof err) != 0) {
            fprintf(stderr, "tally report-usage: %s line %zu: %s%s\n", run->file ? run->file : "stdin",
                    run->line_no, err, run->strict ? "" : " (line skipped)");
            if (run->strict)
                return -1;
        }
        off += l + (nl ? 1 : 0);
    }
    run->r.totals = work.totals;
    *consumed = off;
    return 0;
}

static int save(reporter_run_t *run)
{
    char err[512];
    if (tally_reporter_save(run->path, &run->r, err, sizeof err) != 0) {
        fprintf(stderr, "tally report-usage: %s\n", err);
        return -1;
    }
    return 0;
}

/* Increment mode: the lines appended since the last read (the offset is
 * saved with the totals, so each line counts exactly once across
 * restarts). Absolute mode: the file's last line holds the totals. */
static int read_counter_file(reporter_run_t *run)
{
    char err[512];
    int fd = open(run->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && !run->strict)
            return 0; /* not written yet */
        fprintf(stderr, "tally report-usage: cannot open %s: %s\n", run->file, strerror(errno));
        return -1;
    }
    struct stat st;
    char *data = NULL;
    size_t len = 0, consumed = 0;
    int rc = -1;
    if (fstat(fd, &st) != 0)
        goto cleanup;
    if (run->absolute) {
        if (tally_fs_read_fd(fd, COUNTER_FILE_MAX, &data, &len, err, sizeof err) != 0) {
            fprintf(stderr, "tally report-usage: %s: %s\n", run->file, err);
            goto cleanup;
        }
        size_t end = len;
        while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == '\r' || data[end - 1] == ' '))
            end--;
        size_t start = end;
        while (start > 0 && data[start - 1] != '\n')
            start--;
        run->line_no = 0;
        rc = apply_lines(run, data + start, end - start, true, &consumed);
        goto cleanup;
    }
    bool same = strcmp(run->r.counter_file, run->file) == 0 && run->r.counter_file_ino == (uint64_t)st.st_ino &&
                run->r.counter_file_offset <= (int64_t)st.st_size;
    if (!same) {
        if (run->r.counter_file[0] != '\0')
            fprintf(stderr, "tally report-usage: %s is a new file: reading it from the start\n", run->file);
        snprintf(run->r.counter_file, sizeof run->r.counter_file, "%s", run->file);
        run->r.counter_file_ino = (uint64_t)st.st_ino;
        run->r.counter_file_offset = 0;
    }
    if (lseek(fd, (off_t)run->r.counter_file_offset, SEEK_SET) < 0 ||
        tally_fs_read_fd(fd, COUNTER_FILE_MAX, &data, &len, err, sizeof err) != 0) {
        fprintf(stderr, "tally report-usage: %s: %s\n", run->file, err);
        goto cleanup;
    }
    if (apply_lines(run, data, len, false, &consumed) != 0)
        goto cleanup;
    run->r.counter_file_offset += (int64_t)consumed;
    rc = 0;
cleanup:
    free(data);
    close(fd);
    return rc;
}

/* Makes the next report, saves the state (seq first: never reused), sends. */
static int report(reporter_run_t *run)
{
    int64_t now = tally_app_now(run->app);
    if (now < run->r.started_at_ms) {
        fprintf(stderr, "tally report-usage: the time (--at) is before the reporter started\n");
        return TALLY_EXIT_USAGE;
    }
    json_t *rep = tally_reporter_next_report(&run->r, now);
    if (!run->app->s->dry_run && save(run) != 0) {
        json_decref(rep);
        return TALLY_EXIT_ERROR;
    }
    json_t *events = json_array();
    json_array_append_new(events, rep);
    if (run->app->s->verbose)
        fprintf(stderr, "tally report-usage: seq %lld: api_calls=%lld status_4xx=%lld status_5xx=%lld exec_ms=%lld\n",
                (long long)run->r.seq, (long long)run->r.totals.api_calls, (long long)run->r.totals.status_4xx,
                (long long)run->r.totals.status_5xx, (long long)run->r.totals.exec_ms);
    int rc = tally_app_send(run->app, TALLY_KIND_USAGE, events);
    json_decref(events);
    return rc;
}

static int once(reporter_run_t *run)
{
    char err[512];
    if (run->file != NULL) {
        if (read_counter_file(run) != 0)
            return TALLY_EXIT_USAGE;
    } else if (run->from_stdin) {
        char *text = NULL;
        size_t len = 0, consumed;
        if (tally_fs_read_fd(STDIN_FILENO, COUNTER_FILE_MAX, &text, &len, err, sizeof err) != 0) {
            fprintf(stderr, "tally report-usage: stdin: %s\n", err);
            return TALLY_EXIT_ERROR;
        }
        int a = apply_lines(run, text, len, true, &consumed);
        free(text);
        if (a != 0)
            return TALLY_EXIT_USAGE;
    }
    return report(run);
}

static int loop(reporter_run_t *run)
{
    tally_app_t *app = run->app;
    char buf[65536];
    size_t have = 0;
    bool input_open = run->from_stdin;
    int rc = TALLY_EXIT_OK;
    int64_t next = tally_app_monotonic_ms() + app->s->interval_ms;
    while (!(app->stop && *app->stop)) {
        int64_t wait = next - tally_app_monotonic_ms();
        if (wait > 0 && input_open) {
            struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
            int n = poll(&p, 1, (int)(wait > 1000 ? 1000 : wait));
            if (n > 0) {
                ssize_t r = read(STDIN_FILENO, buf + have, sizeof buf - have);
                if (r > 0)
                    have += (size_t)r;
                else if (r == 0 || (errno != EINTR && errno != EAGAIN))
                    input_open = false;
                size_t consumed = 0;
                (void)apply_lines(run, buf, have, !input_open, &consumed);
                if (consumed == 0 && have == sizeof buf) {
                    fprintf(stderr, "tally report-usage: stdin: a line longer than %zu bytes (skipped)\n", sizeof buf);
                    consumed = have;
                }
                memmove(buf, buf + consumed, have - consumed);
                have -= consumed;
                if (consumed > 0 && !app->s->dry_run)
                    (void)save(run);
                if (!input_open)
                    break; /* the end of input: one last report */
            }
            continue;
        }
        if (wait > 0) {
            tally_app_sleep(app, wait > 1000 ? 1000 : wait);
            continue;
        }
        if (run->file != NULL)
            (void)read_counter_file(run);
        rc = report(run);
        next += app->s->interval_ms;
        if (next < tally_app_monotonic_ms())
            next = tally_app_monotonic_ms() + app->s->interval_ms;
    }
    /* Stopped by a signal or the end of input: report the final totals.
     * A report left in the spool is safe, so that is a clean exit. */
    if (run->file != NULL)
        (void)read_counter_file(run);
    volatile sig_atomic_t *stop = app->stop;
    app->stop = NULL; /* let this last request finish */
    app->deliver.stop = NULL;
    rc = report(run);
    app->stop = stop;
    return rc == TALLY_EXIT_DEFERRED ? TALLY_EXIT_OK : rc;
}

int tally_cmd_report_usage(tally_app_t *app, size_t argc, const char *const argv[])
{
    const tally_client_settings_t *s = app->s;
    char err[512];
    if (argc != 0) {
        fprintf(stderr, "tally report-usage: takes no argument (counters come from --counters)\n");
        return TALLY_EXIT_USAGE;
    }
    if (s->tenant == NULL || *s->tenant == '\0' || s->environment == NULL || *s->environment == '\0') {
        fprintf(stderr, "tally report-usage: needs --tenant and --environment (TALLY_TENANT, TALLY_ENVIRONMENT)\n");
        return TALLY_EXIT_USAGE;
    }
    if (app->deliver.api_key == NULL) {
        fprintf(stderr, "tally report-usage: needs the environment's API key: --api-key or TALLY_API_KEY\n");
        return TALLY_EXIT_USAGE;
    }
    if (!s->once && app->has_at) {
        fprintf(stderr, "tally report-usage: --at only goes with --once\n");
        return TALLY_EXIT_USAGE;
    }
    reporter_run_t run = {.app = app, .absolute = s->counter_mode == 1, .strict = s->once};
    if (s->reporter_state != NULL && *s->reporter_state != '\0')
        snprintf(run.path, sizeof run.path, "%s", s->reporter_state);
    else
        snprintf(run.path, sizeof run.path, "%s/reporter.json", app->state_dir);
    if (s->counters == NULL || strcmp(s->counters, "-") == 0)
        run.from_stdin = true;
    else if (strcmp(s->counters, "none") != 0)
        run.file = s->counters;

    /* One process per state file, or two would hand out the same seq for
     * different totals. The lock goes with the process. */
    char lockpath[4400];
    snprintf(lockpath, sizeof lockpath, "%s.lock", run.path);
    char dir[4300];
    snprintf(dir, sizeof dir, "%s", run.path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (tally_fs_private_dir(dir, err, sizeof err) != 0) {
            fprintf(stderr, "tally report-usage: %s\n", err);
            return TALLY_EXIT_ERROR;
        }
    }
    int lock = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "tally report-usage: %s: %s\n", lockpath,
                lock < 0 ? strerror(errno) : "another tally report-usage uses this state file (--reporter-state)");
        if (lock >= 0)
            close(lock);
        return TALLY_EXIT_ERROR;
    }
    int l = s->reset ? TALLY_REPORTER_NONE : tally_reporter_load(run.path, &run.r, err, sizeof err);
    if (l < 0) {
        fprintf(stderr, "tally report-usage: %s\n", err);
        close(lock);
        return TALLY_EXIT_ERROR;
    }
    if (l == TALLY_REPORTER_NONE) {
        tally_reporter_init(&run.r, s->tenant, s->environment, tally_app_now(app));
    } else if (strcmp(run.r.tenant_id, s->tenant) != 0 || strcmp(run.r.environment_id, s->environment) != 0) {
        fprintf(stderr,
                "tally report-usage: %s is the state of a reporter of another tenant or environment; use "
                "--reporter-state for each reporter, or --reset to start a new one here\n",
                run.path);
        close(lock);
        return TALLY_EXIT_USAGE;
    }
    if (!s->dry_run && save(&run) != 0) {
        close(lock);
        return TALLY_EXIT_ERROR;
    }
    if (s->verbose)
        fprintf(stderr, "tally report-usage: reporter %s, %s, last seq %lld\n", run.r.reporter_id,
                l == TALLY_REPORTER_NONE ? "new" : "resumed", (long long)run.r.seq);
    int rc = s->once ? once(&run) : loop(&run);
    close(lock);
    return rc;
}
