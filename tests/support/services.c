#include "services.h"

#include "fixtures.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int tally_test_service_run(const char *service, const char *command, char *out, size_t outsize)
{
    char script[64], cmd[1536];
    snprintf(script, sizeof script, "deploy/local/%s.sh", service);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", tally_test_source_path(script), command);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t len = 0;
    char buf[1024];
    if (out && outsize)
        out[0] = '\0';
    while (fgets(buf, sizeof buf, p)) {
        if (out == NULL || outsize < 2)
            continue;
        size_t n = strlen(buf);
        if (len + n >= outsize) {
            /* Keep the tail: what went wrong is at the end. */
            size_t drop = len + n - outsize + 1;
            if (drop > len)
                drop = len;
            memmove(out, out + drop, len - drop);
            len -= drop;
        }
        size_t take = n < outsize - 1 - len ? n : outsize - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
        out[len] = '\0';
    }
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

pid_t tally_test_service_pid(const char *service)
{
    char out[256];
    if (tally_test_service_run(service, "pid", out, sizeof out) != 0)
        return -1;
    long pid = strtol(out, NULL, 10);
    return pid > 0 ? (pid_t)pid : -1;
}

int tally_test_pid_alive(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close = strrchr(stat, ')');
    if (close == NULL || close[1] != ' ')
        return 0;
    if (close[2] != 'Z')
        return 1;
    /* A zombie main thread whose other threads still exit (a JVM after
     * SIGKILL) still holds its files and ports. */
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    int tasks = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        tasks += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return tasks > 1;
}

static int bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int tally_test_free_ports(int count)
{
    /* Below the ephemeral range: an outgoing connection never takes it
     * while a restarted server is down. */
    int low = 32768, high = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    if (low <= 12000)
        low = 32768;
    unsigned seed = (unsigned)getpid() ^ (unsigned)tally_test_mono_ms();
    for (int i = 0; i < 200; i++) {
        int port = 10000 + (int)(rand_r(&seed) % (unsigned)(low - 10000 - count));
        int k = 0;
        while (k < count && bindable(port + k))
            k++;
        if (k == count)
            return port;
    }
    return -1;
}

int tally_test_free_port(void)
{
    return tally_test_free_ports(1);
}

const char *tally_test_sanitizer_report(const char *log)
{
    static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                                        "WARNING: ThreadSanitizer"};
    const char *first = NULL;
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        const char *hit = strstr(log, marks[i]);
        if (hit && (first == NULL || hit < first))
            first = hit;
    }
    while (first && first > log && first[-1] != '\n')
        first--;
    return first;
}
