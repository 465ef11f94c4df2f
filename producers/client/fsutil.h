#ifndef TALLY_CLIENT_FSUTIL_H
#define TALLY_CLIENT_FSUTIL_H

/* Files of the client: XDG folders, whole-file reads and crash-safe
 * replacement (temporary file, fsync, rename, fsync of the folder), so a
 * config, state or spool file is always either the old or the new one.
 *
 * The client's own files are opened without following a symbolic link
 * (O_NOFOLLOW): someone who can plant a link in a folder of the client must
 * not make it read, create or truncate another file with the user's rights.
 * The spool and state folders must be the user's own, and nobody else may
 * write to them (tally_fs_private_dir), or links could be planted. */

#include <stddef.h>
#include <sys/types.h>

/* tally_fs_read_file: the file does not exist. */
#define TALLY_FS_ENOENT (-2)

/* Writes the client's folder for an XDG base variable into out: $xdg_var/tally
 * when that variable holds an absolute path, else $HOME/<home_rel>/tally
 * (home_rel e.g. ".config", ".local/state"). Returns 0, or -1 when neither
 * is usable or out is too small. */
int tally_fs_xdg_dir(const char *xdg_var, const char *home_rel, char *out, size_t size,
                     char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* A new string dir + "/" + name (owned by the caller, free()); aborts
 * when out of memory. */
char *tally_fs_join(const char *dir, const char *name);

/* mkdir -p with mode for the folders it creates. 0 or -1. */
int tally_fs_mkdirs(const char *path, mode_t mode, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Creates path like tally_fs_mkdirs (mode 0700), then checks it is a folder
 * the client may trust: not a symbolic link, owned by the effective user,
 * writable by neither group nor others. 0, or -1 with a message naming the
 * folder and what is wrong with it. */
int tally_fs_private_dir(const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Reads the whole of path into a new NUL-terminated buffer (*data, owned by
 * the caller, free()) of *len bytes, at most max bytes. A symbolic link is
 * refused (not followed). Returns 0, TALLY_FS_ENOENT, or -1. */
int tally_fs_read_file(const char *path, size_t max, char **data, size_t *len, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Reads fd to its end, like tally_fs_read_file. */
int tally_fs_read_fd(int fd, size_t max, char **data, size_t *len, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Replaces path with data[0..len) crash-safely; the file gets mode. The
 * folder must exist. The temporary file is created anew (O_EXCL, no link
 * followed); a link at path is replaced, never written through. Borrows
 * everything. 0 or -1. */
int tally_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *errbuf,
                          size_t errsize)
    __attribute__((warn_unused_result));

/* Writes all of data to fd (retrying short writes and EINTR). 0 or -1 with errno set. */
int tally_fs_write_all(int fd, const void *data, size_t len)
    __attribute__((warn_unused_result));

/* fsync of the folder holding path (the file name is durable after it). */
int tally_fs_sync_parent(const char *path)
    __attribute__((warn_unused_result));

#endif
