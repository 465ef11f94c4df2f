#include "linefile.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

int tally_linefile_read(const char *path, const char *what, size_t line_max,
                        tally_linefile_fn fn, void *cls, char *errbuf, size_t errsize)
{
    int rc = -1;
    char *line = NULL;
    size_t line_cap = 0;
    long lineno = 0;
    char why[512];
    ssize_t n;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errbuf, errsize, "%s file %s: %s", what, path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        if ((size_t)n > line_max) {
            snprintf(errbuf, errsize, "%s file %s line %ld: longer than %zu bytes", what, path,
                     lineno, line_max);
            goto cleanup;
        }
        if (memchr(line, '\0', (size_t)n) != NULL) {
            snprintf(errbuf, errsize, "%s file %s line %ld: contains a NUL byte", what, path,
                     lineno);
            goto cleanup;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        why[0] = '\0';
        if (fn(cls, line, (size_t)n, lineno, why, sizeof why) != 0) {
            snprintf(errbuf, errsize, "%s file %s line %ld: %s", what, path, lineno, why);
            goto cleanup;
        }
    }
    if (ferror(f)) {
        snprintf(errbuf, errsize, "%s file %s: read error after line %ld", what, path, lineno);
        goto cleanup;
    }
    rc = 0;
cleanup:
    /* Key files hold hashes of credentials. */
    if (line != NULL)
        sodium_memzero(line, line_cap);
    free(line);
    fclose(f);
    return rc;
}
