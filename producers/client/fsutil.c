#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tally_fs_xdg_dir(const char *xdg_var, const char *home_rel, char *out, size_t size, char *errbuf,
                     size_t errsize)
{
    const char *base = getenv(xdg_var);
    int n;
    /* The XDG spec: a relative value is invalid and must be ignored. */
    if (base != NULL && base[0] == '/') {
        n = snprintf(out, size, "%s/tally", base);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] != '/') {
            snprintf(errbuf, errsize, "neither %s nor HOME is set to an absolute path", xdg_var);
            return -1;
        }
        n = snprintf(out, size, "%s/%s/tally", home, home_rel);
    }
    if (n < 0 || (size_t)n >= size) {
        snprintf(errbuf, errsize, "the %s folder path is too long", xdg_var);
        return -1;
    }
    return 0;
}

char *tally_fs_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (s == NULL)
        abort();
    memcpy(s, dir, a);
    s[a] = '/';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

int tally_fs_mkdirs(const char *path, mode_t mode, char *errbuf, size_t errsize)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        snprintf(errbuf, errsize, "bad folder path");
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) {
            snprintf(errbuf, errsize, "cannot create %s: %s", buf, strerror(errno));
            return -1;
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errbuf, errsize, "%s is not a folder", path);
        return -1;
    }
    return 0;
}

int tally_fs_private_dir(const char *path, char *errbuf, size_t errsize)
{
    if (tally_fs_mkdirs(path, 0700, errbuf, errsize) != 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) != 0) {
        snprintf(errbuf, errsize, "cannot check the folder %s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(errbuf, errsize, "refusing the folder %s: it is a symbolic link (not followed); make it a real "
                                  "folder", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(errbuf, errsize, "refusing %s: not a folder", path);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(errbuf, errsize, "refusing the folder %s: owned by another user (uid %lu, you are uid %lu)", path,
                 (unsigned long)st.st_uid, (unsigned long)geteuid());
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(errbuf, errsize, "refusing the folder %s: writable by group or others (mode %04o); chmod 700 it",
                 path, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

int tally_fs_read_fd(int fd, size_t max, char **data, size_t *len, char *errbuf, size_t errsize)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        abort();
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                snprintf(errbuf, errsize, "input larger than %zu bytes", max);
                return -1;
            }
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL)
                abort();
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(errbuf, errsize, "read: %s", strerror(errno));
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int tally_fs_read_file(const char *path, size_t max, char **data, size_t *len, char *errbuf, size_t errsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return TALLY_FS_ENOENT;
        if (errno == ELOOP)
            snprintf(errbuf, errsize, "refusing %s: it is a symbolic link (not followed)", path);
        else
            snprintf(errbuf, errsize, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char why[256];
    int rc = tally_fs_read_fd(fd, max, data, len, why, sizeof why);
    if (rc != 0)
        snprintf(errbuf, errsize, "%s: %s", path, why);
    close(fd);
    return rc;
}

int tally_fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int tally_fs_sync_parent(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int tally_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *errbuf,
                          size_t errsize)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(errbuf, errsize, "path too long: %s", path);
        return -1;
    }
    /* A leftover of a crashed run with our pid, or a planted link: gone. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        snprintf(errbuf, errsize, "cannot remove %s: %s", tmp, strerror(errno));
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(errbuf, errsize, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (tally_fs_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(errbuf, errsize, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(errbuf, errsize, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (tally_fs_sync_parent(path) != 0) {
        snprintf(errbuf, errsize, "cannot sync the folder of %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
