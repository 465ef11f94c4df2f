#include "process.h"

#include "log.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t *stop_flag, *hup_flag;

static void on_stop(int sig)
{
    *stop_flag = sig;
}

static void on_hup(int sig)
{
    *hup_flag = sig;
}

int tally_process_parse(tally_config_t *cfg, const char *program, int argc, char **argv,
                        const char *const *defaults, size_t n_defaults, const int *log_level)
{
    char err[1024];
    char **args = tally_xcalloc((size_t)argc + n_defaults + 1, sizeof *args);
    args[0] = argv[0];
    for (size_t i = 0; i < n_defaults; i++)
        args[1 + i] = (char *)defaults[i];
    for (int i = 1; i < argc; i++)
        args[n_defaults + (size_t)i] = argv[i];
    int prc = tally_config_parse(cfg, argc + (int)n_defaults, args, err, sizeof err);
    free(args);
    if (prc > 0)
        return 0;
    if (prc < 0 || tally_config_positional_count(cfg) > 0) {
        fprintf(stderr, "%s: %s (see --help)\n", program, prc < 0 ? err : "unexpected argument");
        return 2;
    }
    if (log_level != NULL && *log_level >= 0)
        tally_log_set_level((tally_log_level_t)*log_level);
    return TALLY_PROCESS_RUN;
}

void tally_process_signals(volatile sig_atomic_t *stop, volatile sig_atomic_t *hup)
{
    struct sigaction sa;
    signal(SIGPIPE, SIG_IGN);
    stop_flag = stop;
    memset(&sa, 0, sizeof sa);   /* no SA_RESTART: sleeps and polls wake up */
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (hup != NULL) {
        hup_flag = hup;
        sa.sa_handler = on_hup;
        sigaction(SIGHUP, &sa, NULL);
    }
}

const char *tally_process_instance_id(const char *given, const char *fallback, char *buf, size_t size)
{
    if (given != NULL && *given)
        return given;
    if (size == 0)
        return fallback;
    if (gethostname(buf, size) != 0 || !*buf)
        snprintf(buf, size, "%s", fallback);
    buf[size - 1] = '\0';
    return buf;
}
