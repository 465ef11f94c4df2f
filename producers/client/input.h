#ifndef TALLY_CLIENT_INPUT_H
#define TALLY_CLIENT_INPUT_H

/* Events as the user gives them: a text holding a stream of JSON values,
 * each a JSON object (one event) or an array of objects (a batch), separated
 * by white space. That covers one object, one array, NDJSON (one object a
 * line) and pretty-printed objects one after the other. */

#include <jansson.h>
#include <stddef.h>

/* Largest input read from stdin or one argument. */
#define TALLY_INPUT_MAX ((size_t)64 << 20)

/* Appends every event of text[0..len) (borrowed) to events (a JSON array,
 * borrowed; it gets new references). origin names the input in messages
 * ("stdin", "argument 2"). On error returns -1, appends nothing, and writes
 * e.g. "stdin: line 3, column 7: invalid JSON: '}' expected" or
 * "argument 1: item 2 of the array is not a JSON object" into errbuf; an
 * input with no event at all is an error too. Never quotes the input's
 * values (they may carry personal data). */
int tally_input_parse(const char *text, size_t len, const char *origin, json_t *events, char *errbuf,
                      size_t errsize)
    __attribute__((warn_unused_result));

#endif
