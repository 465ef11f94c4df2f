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
 * with `head -c 32 /dev/urandom | xxd -p -c 64`), and, once it holds more
 * than one key, a line "seat <version>" naming the seat key; '#' starts a
 * comment. The file must be readable by the anonymizer's user only: a
 * file that group or others may read or write is refused (as ssh refuses
 * such a private key), judged on the opened file (a symbolic link is
 * followed: systemd credentials and Kubernetes secrets are links).
 *
 * Rotation: add a line with a higher version (and, on the first rotation,
 * "seat <the old version>") and restart. Install and project references
 * then use the newest key (and say so in their "vN:" prefix); older lines
 * stay so that tools can still compute the references made with them.
 *
 * Seat references do NOT rotate: they are always made with the seat key.
 * A seat's reference is its identity in the aggregator for the seat's
 * whole life (rollup.h): an ASSIGNED under one reference and a RELEASED
 * under another are two seats, one never released, so a customer would be
 * shown over its license. Seats can stay assigned for years without an
 * event, and the anonymizer keeps no state, so the only way it can give a
 * later event of the same user the same reference is to keep the key that
 * made the first one: the seat key must stay in the file for as long as
 * any seat made with it may be live (a tenant's contract). Hence:
 *   - one key and no "seat" line: that key is the seat key;
 *   - several keys: a "seat <version>" line is required, and the file is
 *     refused when that version's line is missing. Removing the old key
 *     after a rotation is thus refused while it is the seat key; it keeps
 *     making seat references only (install and project references moved
 *     on at the rotation).
 * Emitting every live version's reference during a rotation window was
 * the alternative; it fails once the old key is retired, for every seat
 * not touched during the window. The price of this rule: rotating does
 * not protect seat references, so a leaked seat key exposes them to
 * guessing until the seat key is changed. A deployment that never rotated
 * keeps its references byte for byte (its one key is the seat key; the
 * "vN:" prefix names it), so no schema and no aggregator state changes.
 * Changing the seat key on purpose (the
 * "seat" line, or removing it together with the seat key's line) starts
 * every seat afresh: seats assigned before count until released under
 * their old reference, which no longer happens. Do that only where the
 * seat state starts over too.
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
 * group or others, bad syntax, or no usable seat key. */
tally_pseudonym_t *tally_pseudonym_load(const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Wipes the keys and frees; NULL is a no-op. */
void tally_pseudonym_free(tally_pseudonym_t *ps);

/* The newest key version, the one install and project references use. */
int tally_pseudonym_version(const tally_pseudonym_t *ps);

/* The seat key's version, the one seat references (TALLY_PSEUDONYM_USER)
 * use. */
int tally_pseudonym_seat_version(const tally_pseudonym_t *ps);

/* Writes the reference of id[0..len) (borrowed) into out and returns its
 * length: with the seat key for TALLY_PSEUDONYM_USER, the newest key
 * otherwise. Thread-safe (the keyring is read-only). */
size_t tally_pseudonym_ref(const tally_pseudonym_t *ps, tally_pseudonym_kind_t kind, const char *id, size_t len,
                           char out[TALLY_PSEUDONYM_REF_SIZE]);

/* The same with key version; returns 0 and writes out, or -1 when the file
 * has no such version. */
int tally_pseudonym_ref_version(const tally_pseudonym_t *ps, int version, tally_pseudonym_kind_t kind,
                                const char *id, size_t len, char out[TALLY_PSEUDONYM_REF_SIZE], size_t *out_len)
    __attribute__((warn_unused_result));

#endif /* TALLY_ANONYMIZER_PSEUDONYM_H */
