/*
 * secret_file.h: opening a file that holds secret keys (the anonymizer's
 * pseudonym keys, the license signing keys), refusing it unless only its
 * owner may access it, as ssh refuses a private key others can read.
 *
 * The check is made on the opened descriptor (fstat), so the file checked
 * is the file read; a symbolic link is followed (systemd credentials and
 * Kubernetes secrets are links) and what counts is the mode of the file it
 * names. The open is non-blocking, so a FIFO put in the file's place does
 * not hang the caller: it is refused as not a regular file.
 */
#ifndef TALLY_COMMON_SECRET_FILE_H
#define TALLY_COMMON_SECRET_FILE_H

#include <stddef.h>

/* Opens path (borrowed) read-only and returns the descriptor (the caller
 * owns and closes it), or -1 with errbuf "<what> <path>: <problem>":
 * unreadable, not a regular file, or any group/other permission bit set
 * (the message gives the mode and says "chmod 600 <path>"). what names the
 * file in messages (e.g. "pseudonym key file"). */
int tally_secret_file_open(const char *path, const char *what, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Opens path as above and reads it whole into *out (owned, NUL-terminated;
 * wipe with sodium_memzero and free) and *out_len. A file longer than max
 * bytes is refused ("larger than <max> bytes"). Returns 0 or -1 with
 * errbuf set; *out is untouched on failure. */
int tally_secret_file_read(const char *path, const char *what, size_t max, char **out, size_t *out_len,
                           char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif /* TALLY_COMMON_SECRET_FILE_H */
