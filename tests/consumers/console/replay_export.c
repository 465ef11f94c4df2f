/*
 * replay_export.c: `tally-replay export` as a subprocess for the console's
 * download suites (see replay_export.h).
 */
#include "replay_export.h"

#include "fixtures.h"
#include "services.h"
#include "subprocess.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char *console_replay_export(const char *pg_url, const char *usage_topic, const char *tenant, const char *period,
                            const char *format, size_t *len)
{
    static char a[16][512];
    char *argv[20], path[] = "/tmp/tally-replay-export-XXXXXX";
    int n = 0, fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    const char *args[] = {tally_test_bin("tally-replay"), "export", "--tenant", tenant, "--period", period,
                          "--format", format, NULL};
    for (int i = 0; args[i]; i++)
        snprintf(a[n], sizeof a[n], "%s", args[i]), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--output=%s", path), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--schemas=%s", tally_test_source_path("schemas")), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--brokers=%s", tally_test_brokers()), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--pg-url=%s", pg_url), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--usage-topic=%s", usage_topic), argv[n] = a[n], n++;
    argv[n] = NULL;
    tally_test_proc_t *proc = tally_test_spawn(argv, NULL, 0, NULL, 0);
    int status = tally_test_wait(proc, 120000);
    cr_assert(status == 0 || status == 1, "tally-replay export: status %d; log:\n%s", status, tally_test_log(proc));
    tally_test_proc_free(proc);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    char *out = malloc(1 << 20);
    cr_assert_not_null(out);
    *len = fread(out, 1, (1 << 20) - 1, f);
    out[*len] = '\0';
    fclose(f);
    unlink(path);
    return out;
}
