#include "spool.h"

#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_PREFIX "seg-"
#define SEGMENT_SUFFIX ".ndjson"
/* One segment is at most a batch; a file past this is not ours. */
#define SEGMENT_MAX ((size_t)256 << 20)

struct tally_spool_t {
    char *dir;
    tally_spool_limits_t limits;
    unsigned counter;
};

tally_spool_t *tally_spool_open(const char *dir, const tally_spool_limits_t *limits, char *errbuf, size_t errsize)
{
    if (tally_fs_private_dir(dir, errbuf, errsize) != 0)
        return NULL;
    tally_spool_t *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL)
        abort();
    s->limits = *limits;
    return s;
}

void tally_spool_free(tally_spool_t *s)
{
    if (s == NULL)
        return;
    free(s->dir);
    free(s);
}

const char *tally_spool_dir(const tally_spool_t *s)
{
    return s->dir;
}

const tally_spool_limits_t *tally_spool_limits(const tally_spool_t *s)
{
    return &s->limits;
}

static bool is_segment_name(const char *name)
{
    size_t n = strlen(name), p = strlen(SEGMENT_PREFIX), x = strlen(SEGMENT_SUFFIX);
    return n > p + x && strncmp(name, SEGMENT_PREFIX, p) == 0 && strcmp(name + n - x, SEGMENT_SUFFIX) == 0;
}

/* Header line + one compact line per event, newline-terminated. */
static char *render(tally_kind_t kind, const char *auth, json_t *refused, int64_t created_ms, json_t *events,
                    size_t first, size_t count, const bool *keep, size_t *len)
{
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        abort();
    json_t *header = json_pack("{s:i,s:s,s:s,s:I}", "tally_spool", 1, "kind", tally_kind_name(kind), "auth", auth,
                               "created_at", (json_int_t)created_ms);
    if (json_array_size(refused) > 0)
        json_object_set(header, "refused", refused);
    for (size_t i = 0; i <= count; i++) {
        if (i > 0 && keep != NULL && !keep[i - 1])
            continue;
        json_t *v = i == 0 ? header : json_array_get(events, first + i - 1);
        char *line = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (line == NULL)
            abort();
        size_t l = strlen(line);
        while (n + l + 1 > cap) {
            cap *= 2;
            if ((buf = realloc(buf, cap)) == NULL)
                abort();
        }
        memcpy(buf + n, line, l);
        buf[n + l] = '\n';
        n += l + 1;
        free(line);
    }
    json_decref(header);
    *len = n;
    return buf;
}

/* Creates tmp exclusively, locks it, writes data, syncs, renames it to
 * path and syncs the folder. Returns the locked fd, or -1. */
static int write_locked(const char *tmp, const char *path, const char *data, size_t len, char *errbuf,
                        size_t errsize)
{
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(errbuf, errsize, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || tally_fs_write_all(fd, data, len) != 0 || fsync(fd) != 0 ||
        rename(tmp, path) != 0) {
        snprintf(errbuf, errsize, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (tally_fs_sync_parent(path) != 0) {
        snprintf(errbuf, errsize, "cannot sync %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static char *tmp_path_for(const tally_spool_t *s, const char *name)
{
    char tmpname[512];
    snprintf(tmpname, sizeof tmpname, ".tmp-%ld-%s", (long)getpid(), name);
    return tally_fs_join(s->dir, tmpname);
}

int tally_spool_add(tally_spool_t *s, tally_kind_t kind, const char *auth, json_t *events, size_t first,
                    size_t count, int64_t now_ms, tally_segment_t **out, char *errbuf, size_t errsize)
{
    char name[128];
    snprintf(name, sizeof name, SEGMENT_PREFIX "%013" PRId64 "-%08ld-%06u-%08x" SEGMENT_SUFFIX,
             now_ms < 0 ? 0 : now_ms, (long)getpid(), ++s->counter, tally_ids_random(UINT32_MAX));
    char *path = tally_fs_join(s->dir, name), *tmp = tmp_path_for(s, name);
    size_t len;
    char *data = render(kind, auth ? auth : "", NULL, now_ms, events, first, count, NULL, &len);
    int fd = write_locked(tmp, path, data, len, errbuf, errsize);
    free(data);
    free(tmp);
    if (fd < 0) {
        free(path);
        return -1;
    }
    tally_segment_t *seg = calloc(1, sizeof *seg);
    if (seg == NULL)
        abort();
    seg->path = path;
    seg->fd = fd;
    seg->kind = kind;
    snprintf(seg->auth, sizeof seg->auth, "%s", auth ? auth : "");
    seg->created_ms = now_ms;
    seg->refused = json_array();
    seg->events = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append(seg->events, json_array_get(events, first + i));
    *out = seg;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tally_spool_list(const tally_spool_t *s, char ***names, size_t *count, char *errbuf, size_t errsize)
{
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        snprintf(errbuf, errsize, "cannot read %s: %s", s->dir, strerror(errno));
        return -1;
    }
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_segment_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            if ((v = realloc(v, cap * sizeof *v)) == NULL)
                abort();
        }
        if ((v[n++] = strdup(e->d_name)) == NULL)
            abort();
    }
    closedir(d);
    if (n > 0)
        qsort(v, n, sizeof *v, compare_names);
    *names = v;
    *count = n;
    return 0;
}

void tally_spool_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* Parses the header line of data. 0 or -1. */
static int parse_header(const char *data, size_t len, tally_kind_t *kind, char *auth, int64_t *created,
                        json_t **refused, size_t *header_len)
{
    const char *nl = memchr(data, '\n', len);
    if (nl == NULL)
        return -1;
    json_t *h = json_loadb(data, (size_t)(nl - data), 0, NULL);
    const char *k = json_string_value(json_object_get(h, "kind"));
    const char *a = json_string_value(json_object_get(h, "auth"));
    int rc = -1;
    if (h != NULL && json_integer_value(json_object_get(h, "tally_spool")) == 1 && k != NULL &&
        tally_kind_parse(k, kind) == 0 && a != NULL && strlen(a) < TALLY_FINGERPRINT_SIZE) {
        snprintf(auth, TALLY_FINGERPRINT_SIZE, "%s", a);
        *created = json_integer_value(json_object_get(h, "created_at"));
        *header_len = (size_t)(nl - data) + 1;
        if (refused != NULL) {
            json_t *r = json_object_get(h, "refused");
            *refused = json_is_array(r) ? json_incref(r) : json_array();
        }
        rc = 0;
    }
    json_decref(h);
    return rc;
}

static json_t *parse_events(const char *data, size_t len)
{
    json_t *events = json_array();
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(data + off, '\n', len - off);
        if (nl == NULL)
            goto bad; /* every line ends with a newline */
        size_t l = (size_t)(nl - (data + off));
        if (l > 0) {
            json_t *ev = json_loadb(data + off, l, 0, NULL);
            if (!json_is_object(ev)) {
                json_decref(ev);
                goto bad;
            }
            json_array_append_new(events, ev);
        }
        off += l + 1;
    }
    return events;
bad:
    json_decref(events);
    return NULL;
}

static void move_aside(const tally_spool_t *s, const char *name)
{
    char bad[512];
    snprintf(bad, sizeof bad, "bad-%s", name);
    char *from = tally_fs_join(s->dir, name), *to = tally_fs_join(s->dir, bad);
    if (rename(from, to) != 0)
        unlink(from);
    free(from);
    free(to);
}

int tally_spool_claim(tally_spool_t *s, const char *name, tally_segment_t **out, char *errbuf, size_t errsize)
{
    char *path = tally_fs_join(s->dir, name);
    char *data = NULL;
    size_t len = 0, hlen = 0;
    struct stat a, b;
    int rc = -1;
    /* A link planted in the spool is never followed: it is left alone. */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? TALLY_SPOOL_BUSY : -1;
        if (errno == ELOOP)
            snprintf(errbuf, errsize, "refusing %s: it is a symbolic link (not followed); remove it", path);
        else if (rc < 0)
            snprintf(errbuf, errsize, "cannot open %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? TALLY_SPOOL_BUSY : -1;
        if (rc < 0)
            snprintf(errbuf, errsize, "cannot lock %s: %s", path, strerror(errno));
        goto cleanup;
    }
    /* Locked, but maybe an inode its last holder already replaced or removed. */
    if (fstat(fd, &a) != 0 || a.st_nlink == 0 || stat(path, &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev) {
        rc = TALLY_SPOOL_BUSY;
        goto cleanup;
    }
    if (tally_fs_read_fd(fd, SEGMENT_MAX, &data, &len, errbuf, errsize) != 0)
        goto cleanup;
    tally_segment_t seg = {.fd = fd};
    if (parse_header(data, len, &seg.kind, seg.auth, &seg.created_ms, &seg.refused, &hlen) != 0 ||
        (seg.events = parse_events(data + hlen, len - hlen)) == NULL) {
        json_decref(seg.refused);
        snprintf(errbuf, errsize, "%s: not a spool segment; moved aside as bad-%s", path, name);
        move_aside(s, name);
        rc = TALLY_SPOOL_CORRUPT;
        goto cleanup;
    }
    seg.path = path;
    path = NULL;
    fd = -1;
    if ((*out = malloc(sizeof **out)) == NULL)
        abort();
    **out = seg;
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    free(data);
    free(path);
    return rc;
}

/* Replaces the held segment's file with its header and the kept events
 * (keep NULL: all), crash-safely, still held. */
static int rewrite(tally_spool_t *s, tally_segment_t *seg, const bool *keep, char *errbuf, size_t errsize)
{
    size_t n = json_array_size(seg->events), len;
    char *data = render(seg->kind, seg->auth, seg->refused, seg->created_ms, seg->events, 0, n, keep, &len);
    const char *name = strrchr(seg->path, '/') + 1;
    char *tmp = tmp_path_for(s, name);
    int fd = write_locked(tmp, seg->path, data, len, errbuf, errsize);
    free(tmp);
    free(data);
    if (fd < 0)
        return -1;
    close(seg->fd);
    seg->fd = fd;
    if (keep != NULL) {
        json_t *rest = json_array();
        for (size_t i = 0; i < n; i++)
            if (keep[i])
                json_array_append(rest, json_array_get(seg->events, i));
        json_decref(seg->events);
        seg->events = rest;
    }
    return 0;
}

/* Few: a segment only meets the credentials of one machine. */
#define REFUSED_MAX 16

int tally_spool_refuse(tally_spool_t *s, tally_segment_t *seg, const char *fingerprint, char *errbuf, size_t errsize)
{
    seg->auth[0] = '\0';
    if (!tally_spool_refused_by(seg, fingerprint)) {
        if (json_array_size(seg->refused) >= REFUSED_MAX)
            json_array_remove(seg->refused, 0);
        json_array_append_new(seg->refused, json_string(fingerprint));
    }
    return rewrite(s, seg, NULL, errbuf, errsize);
}

bool tally_spool_refused_by(const tally_segment_t *seg, const char *fingerprint)
{
    size_t i;
    json_t *v;
    json_array_foreach(seg->refused, i, v) {
        if (json_string_value(v) != NULL && strcmp(json_string_value(v), fingerprint) == 0)
            return true;
    }
    return false;
}

int tally_spool_settle(tally_spool_t *s, tally_segment_t *seg, const bool *keep, char *errbuf, size_t errsize)
{
    size_t n = json_array_size(seg->events), kept = 0;
    for (size_t i = 0; i < n; i++)
        kept += keep[i] ? 1 : 0;
    if (kept == n)
        return 0;
    if (kept == 0) {
        if (unlink(seg->path) != 0 && errno != ENOENT) {
            snprintf(errbuf, errsize, "cannot remove %s: %s", seg->path, strerror(errno));
            return -1;
        }
        /* Unsynced, a crash may bring the file back: its events are then
         * sent again with the same ids, which the pipeline counts once. */
        int synced = tally_fs_sync_parent(seg->path);
        (void)synced;
        json_array_clear(seg->events);
        return 0;
    }
    return rewrite(s, seg, keep, errbuf, errsize);
}

void tally_spool_release(tally_segment_t *seg)
{
    if (seg == NULL)
        return;
    if (seg->fd >= 0)
        close(seg->fd);
    json_decref(seg->refused);
    json_decref(seg->events);
    free(seg->path);
    free(seg);
}

/* Events, bytes and header of one segment file, read without its lock: a
 * segment is replaced by rename, so any open sees a whole file. */
static int peek(const tally_spool_t *s, const char *name, size_t *events, size_t *bytes, tally_kind_t *kind,
                int64_t *created)
{
    char *path = tally_fs_join(s->dir, name), *data = NULL, why[256], auth[TALLY_FINGERPRINT_SIZE];
    size_t len = 0, hlen = 0;
    int rc = tally_fs_read_file(path, SEGMENT_MAX, &data, &len, why, sizeof why);
    free(path);
    if (rc != 0)
        return -1;
    rc = parse_header(data, len, kind, auth, created, NULL, &hlen);
    *events = 0;
    for (size_t i = hlen; i < len; i++)
        if (data[i] == '\n' && i > 0 && data[i - 1] != '\n')
            (*events)++;
    *bytes = len;
    free(data);
    return rc;
}

int tally_spool_stats(const tally_spool_t *s, tally_spool_stats_t *st, char *errbuf, size_t errsize)
{
    char **names;
    size_t n;
    memset(st, 0, sizeof *st);
    if (tally_spool_list(s, &names, &n, errbuf, errsize) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t events, bytes;
        tally_kind_t kind;
        int64_t created;
        if (peek(s, names[i], &events, &bytes, &kind, &created) != 0)
            continue; /* gone meanwhile, or corrupt: claim deals with it */
        st->segments++;
        st->events += events;
        st->bytes += bytes;
        st->events_by_kind[kind] += events;
        if (st->oldest_ms == 0 || created < st->oldest_ms)
            st->oldest_ms = created;
    }
    tally_spool_names_free(names, n);
    return 0;
}

int tally_spool_enforce_cap(tally_spool_t *s, size_t *dropped, char *errbuf, size_t errsize)
{
    *dropped = 0;
    tally_spool_stats_t st;
    if (tally_spool_stats(s, &st, errbuf, errsize) != 0)
        return -1;
    if (st.events <= s->limits.max_events && st.bytes <= s->limits.max_bytes)
        return 0;
    /* One trimmer at a time, or two would both drop the same excess. */
    char *lockpath = tally_fs_join(s->dir, ".lock");
    int lock = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    free(lockpath);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        snprintf(errbuf, errsize, "cannot lock the spool %s: %s", s->dir, strerror(errno));
        if (lock >= 0)
            close(lock);
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = -1;
    if (tally_spool_stats(s, &st, errbuf, errsize) != 0 || tally_spool_list(s, &names, &n, errbuf, errsize) != 0)
        goto cleanup;
    for (size_t i = 0; i < n && (st.events > s->limits.max_events || st.bytes > s->limits.max_bytes); i++) {
        tally_segment_t *seg;
        int c = tally_spool_claim(s, names[i], &seg, errbuf, errsize);
        if (c != 0)
            continue; /* held by a sender, gone, or moved aside */
        size_t count = json_array_size(seg->events), k = 0, freed = 0;
        size_t excess_events = st.events > s->limits.max_events ? st.events - s->limits.max_events : 0;
        size_t excess_bytes = st.bytes > s->limits.max_bytes ? st.bytes - s->limits.max_bytes : 0;
        bool *keep = malloc((count ? count : 1) * sizeof *keep);
        if (keep == NULL)
            abort();
        for (size_t e = 0; e < count; e++) {
            bool drop = k < excess_events || freed < excess_bytes;
            if (drop) {
                char *line = json_dumps(json_array_get(seg->events, e), JSON_COMPACT);
                freed += (line ? strlen(line) : 0) + 1;
                free(line);
                k++;
            }
            keep[e] = !drop;
        }
        struct stat sb;
        size_t before = fstat(seg->fd, &sb) == 0 ? (size_t)sb.st_size : 0;
        if (tally_spool_settle(s, seg, keep, errbuf, errsize) == 0) {
            size_t after = json_array_size(seg->events) ? (fstat(seg->fd, &sb) == 0 ? (size_t)sb.st_size : 0) : 0;
            st.events -= k;
            st.bytes -= before > after ? before - after : 0;
            *dropped += k;
        }
        free(keep);
        tally_spool_release(seg);
    }
    rc = 0;
cleanup:
    tally_spool_names_free(names, n);
    close(lock);
    return rc;
}
