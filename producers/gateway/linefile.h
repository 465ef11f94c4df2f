/*
 * linefile.h: reads an operator's table file line by line (the API key
 * file, the opt-out list), with the checks and messages they share.
 */
#ifndef TALLY_GATEWAY_LINEFILE_H
#define TALLY_GATEWAY_LINEFILE_H

#include <stddef.h>

/* Called with each line (lineno from 1), its line end (LF or CRLF)
 * removed: len bytes, none of them NUL, NUL-terminated; writable and only
 * valid during the call. Returns 0 to go on, or -1 with what is wrong in
 * errbuf (the reader prefixes the file and line number; never quote the
 * line, it may carry a secret). */
typedef int (*tally_linefile_fn)(void *cls, char *line, size_t len, long lineno,
                                 char *errbuf, size_t errsize);

/* Calls fn for every line of path (borrowed). Fails, returning -1 with
 * "<what> file <path>..." in errbuf, when the file cannot be opened or
 * read, a line is longer than line_max bytes or holds a NUL byte, or fn
 * fails ("<what> file <path> line <n>: <fn's message>"). The line buffer
 * is wiped before it is freed. */
int tally_linefile_read(const char *path, const char *what, size_t line_max,
                        tally_linefile_fn fn, void *cls, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif /* TALLY_GATEWAY_LINEFILE_H */
