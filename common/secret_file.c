#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

int tally_secret_file_open(const char *path, const char *what, char *errbuf, size_t errsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        snprintf(errbuf, errsize, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(errbuf, errsize, "%s %s: %s", what, path, strerror(errno));
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(errbuf, errsize, "%s %s: not a regular file", what, path);
        goto err;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(errbuf, errsize, "%s %s has mode %04o: group or others may access it; chmod 600 %s", what, path,
                 (unsigned)(st.st_mode & 07777), path);
        goto err;
    }
    return fd;
err:
    close(fd);
    return -1;
}

int tally_secret_file_read(const char *path, const char *what, size_t max, char **out, size_t *out_len,
                           char *errbuf, size_t errsize)
{
    int fd = tally_secret_file_open(path, what, errbuf, errsize);
    if (fd < 0)
        return -1;
    /* A regular file never blocks; the descriptor is made blocking again
     * so that a short read is only the end of the file. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    char *buf = tally_xcalloc(max + 2, 1);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(errbuf, errsize, "%s %s: %s", what, path, strerror(errno));
            goto err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            snprintf(errbuf, errsize, "%s %s: larger than %zu bytes", what, path, max);
            goto err;
        }
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
err:
    close(fd);
    sodium_memzero(buf, max + 2);
    free(buf);
    return -1;
}
