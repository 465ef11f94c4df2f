#include "subprocess.h"

#include "fixtures.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct tally_test_proc_t {
    pid_t pid;
    int err_fd;
    int exited, status;
    int eof;                /* the reader saw the end of the log */
    char *log;
    size_t len, cap;
    pthread_t reader;
    pthread_mutex_t lock;
};

static void *read_log(void *arg)
{
    tally_test_proc_t *p = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(p->err_fd, buf, sizeof buf);
        if (n <= 0)
            break;
        /* Echo the child's log so a failing test shows it. */
        if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
        }
        pthread_mutex_lock(&p->lock);
        if (p->len + (size_t)n + 1 > p->cap) {
            p->cap = (p->len + (size_t)n + 1) * 2;
            p->log = realloc(p->log, p->cap);
            if (p->log == NULL)
                abort();
        }
        memcpy(p->log + p->len, buf, (size_t)n);
        p->len += (size_t)n;
        p->log[p->len] = '\0';
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&p->lock);
    p->eof = 1;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

const char *tally_test_bin(const char *name)
{
    static char path[1024];
    const char *dir = getenv("TALLY_BIN_DIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "build/bin", name);
    return path;
}

tally_test_proc_t *tally_test_spawn(char *const argv[], const char *ready, int timeout_ms, char *line,
                                    size_t linesize)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    tally_test_proc_t *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    pthread_mutex_init(&p->lock, NULL);
    p->log = calloc(1, 1);
    p->cap = 1;
    tally_test_sanitizer_dir();
    p->pid = fork();
    cr_assert(p->pid >= 0);
    if (p->pid == 0) {
        /* Die with the test worker, even when it crashes or times out:
         * an orphan would hold ctest's output pipe open. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(127);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        tally_test_sanitizer_env(argv[0]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    p->err_fd = fds[0];
    pthread_create(&p->reader, NULL, read_log, p);
    if (ready == NULL)
        return p;
    long long deadline = tally_test_mono_ms() + timeout_ms;
    while (tally_test_mono_ms() < deadline) {
        pthread_mutex_lock(&p->lock);
        const char *hit = strstr(p->log, ready);
        if (hit) {
            const char *start = hit;
            while (start > p->log && start[-1] != '\n')
                start--;
            size_t n = strcspn(start, "\n");
            if (line)
                snprintf(line, linesize, "%.*s", (int)n, start);
            pthread_mutex_unlock(&p->lock);
            return p;
        }
        pthread_mutex_unlock(&p->lock);
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->exited = 1;
            p->status = st;
            cr_assert_fail("%s exited before it was ready (status %d); log:\n%s", argv[0], st, p->log);
        }
        usleep(20000);
    }
    cr_assert_fail("%s not ready within %d ms; log:\n%s", argv[0], timeout_ms, p->log);
    return NULL;
}

pid_t tally_test_pid(const tally_test_proc_t *p)
{
    return p->pid;
}

int tally_test_signal(tally_test_proc_t *p, int sig)
{
    if (p->exited)
        return -1;
    return kill(p->pid, sig) == 0 ? 0 : -1;
}

int tally_test_raw_status(const tally_test_proc_t *p)
{
    return p->exited ? p->status : -1;
}

static void append_option(const char *var, const char *option)
{
    const char *old = getenv(var);
    char value[2048];
    if (old != NULL && old[0] != '\0')
        snprintf(value, sizeof value, "%s:%s", old, option);
    else
        snprintf(value, sizeof value, "%s", option);
    setenv(var, value, 1);
}

void tally_test_sanitizer_env(const char *name)
{
    const char *dir = getenv("TALLY_TEST_SANITIZER_LOGS");
    if (dir == NULL || dir[0] == '\0')
        return;
    const char *base = strrchr(name, '/');
    char option[1200];
    snprintf(option, sizeof option, "log_path=%s/%s", dir, base ? base + 1 : name);
    append_option("ASAN_OPTIONS", option);
    append_option("UBSAN_OPTIONS", option);
}

void tally_test_sanitizer_dir(void)
{
    const char *dir = getenv("TALLY_TEST_SANITIZER_LOGS");
    if (dir == NULL || dir[0] == '\0')
        return;
    cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
}

int tally_test_system(const char *name, const char *cmd)
{
    tally_test_sanitizer_dir();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        tally_test_sanitizer_env(name);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    return st;
}

int tally_test_wait(tally_test_proc_t *p, int timeout_ms)
{
    long long deadline = tally_test_mono_ms() + timeout_ms;
    while (!p->exited) {
        int st;
        pid_t w = waitpid(p->pid, &st, WNOHANG);
        if (w == p->pid) {
            p->exited = 1;
            p->status = st;
            break;
        }
        if (tally_test_mono_ms() >= deadline)
            return -1;
        usleep(10000);
    }
    /* The whole log before the status (up to 2 s: a descendant may hold
     * the pipe open): the caller looks for the last words in it. */
    for (long long end = tally_test_mono_ms() + 2000;;) {
        pthread_mutex_lock(&p->lock);
        int eof = p->eof;
        pthread_mutex_unlock(&p->lock);
        if (eof || tally_test_mono_ms() >= end)
            break;
        usleep(1000);
    }
    if (WIFEXITED(p->status))
        return WEXITSTATUS(p->status);
    return 128 + WTERMSIG(p->status);
}

const char *tally_test_log(tally_test_proc_t *p)
{
    return p->log;
}

void tally_test_proc_free(tally_test_proc_t *p)
{
    if (p == NULL)
        return;
    if (!p->exited) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    pthread_join(p->reader, NULL);
    close(p->err_fd);
    pthread_mutex_destroy(&p->lock);
    free(p->log);
    free(p);
}

int tally_test_port_from_line(const char *line)
{
    const char *at = strstr(line, "listening on ");
    if (at == NULL)
        return -1;
    const char *colon = strchr(at + 13, ':');
    return colon ? atoi(colon + 1) : -1;
}
