/*
 * pseudonym.h: keyed pseudonyms of raw identifiers (install_id, project_id,
 * user_id), so that clean records can be counted per installation, project
 * or seat without carrying the identifier itself.
 *
 * A reference is "v<key version>:<32 hex digits>": 16 bytes of keyed
 * BLAKE2b (libsodium) of the identifier, personalised per kind of
 * identifier so that an install id and a user id that happen to be equal
 * do not get the same reference. Without the key, a reference cannot be
 * turned back into its identifier, not even by hashing guessed ids.
 *
 * The key file holds one key a line: "<version> <hex key>", the version a
 * positive integer, the key 32 to 64 random bytes in hex (generate one
 * with `head -c 32 /dev/urandom | xxd -p -c 64`); '#' starts a comment.
 * Rotation: add a line with a higher version and restart; new references
 * use the newest key (and say so in their "vN:" prefix), older lines stay
 * so that tools can still compute the references made with them. The file
 * must be readable by the anonymizer's user only: a file that group or
 * others may read or write is refused (as ssh refuses such a private key),
 * judged on the opened file (a symbolic link is followed: systemd
 * credentials and Kubernetes secrets are links).
 */
#ifndef TALLY_ANONYMIZER_PSEUDONYM_H
#define TALLY_ANONYMIZER_PSEUDONYM_H

#include <stddef.h>

/* Room for the longest reference and its NUL ("v65535:" + 32 hex). */
#define TALLY_PSEUDONYM_REF_SIZE 48
/* Bytes of hash in a reference. */
#define TALLY_PSEUDONYM_HASH_BYTES 16

typedef enum tally_pseudonym_kind_t {
    TALLY_PSEUDONYM_INSTALL,   /* install_id -> install_ref */
    TALLY_PSEUDONYM_PROJECT,   /* project_id -> project_ref */
    TALLY_PSEUDONYM_USER,      /* user_id -> seat_ref */
} tally_pseudonym_kind_t;

typedef struct tally_pseudonym_t tally_pseudonym_t;

/* Loads the key file at path. Returns an owned keyring (free with
 * tally_pseudonym_free), or NULL with errbuf naming the file, the line and
 * the problem (never the key): unreadable, not a regular file, open to
 * group or others, or bad syntax. */
tally_pseudonym_t *tally_pseudonym_load(const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Wipes the keys and frees; NULL is a no-op. */
void tally_pseudonym_free(tally_pseudonym_t *ps);

/* The newest key version, the one tally_pseudonym_ref uses. */
int tally_pseudonym_version(const tally_pseudonym_t *ps);

/* Writes the reference of id[0..len) (borrowed) with the newest key into
 * out and returns its length. Thread-safe (the keyring is read-only). */
size_t tally_pseudonym_ref(const tally_pseudonym_t *ps, tally_pseudonym_kind_t kind, const char *id, size_t len,
                           char out[TALLY_PSEUDONYM_REF_SIZE]);

/* The same with key version; returns 0 and writes out, or -1 when the file
 * has no such version. */
int tally_pseudonym_ref_version(const tally_pseudonym_t *ps, int version, tally_pseudonym_kind_t kind,
                                const char *id, size_t len, char out[TALLY_PSEUDONYM_REF_SIZE], size_t *out_len)
    __attribute__((warn_unused_result));

#endif /* TALLY_ANONYMIZER_PSEUDONYM_H */
