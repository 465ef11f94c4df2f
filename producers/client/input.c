#include "input.h"

#include <stdio.h>
#include <string.h>

/* Line (1-based) and column (1-based, in bytes) of offset off in text. */
static void locate(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    size_t start = 0;
    for (size_t i = 0; i < off; i++)
        if (text[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *col = (int)(off - start) + 1;
}

int tally_input_parse(const char *text, size_t len, const char *origin, json_t *events, char *errbuf,
                      size_t errsize)
{
    json_t *found = json_array();
    size_t off = 0, values = 0;
    int line, col;
    if (memchr(text, '\0', len) != NULL) {
        snprintf(errbuf, errsize, "%s: holds a NUL byte; expected JSON text", origin);
        goto fail;
    }
    for (;;) {
        while (off < len && strchr(" \t\r\n", text[off]) != NULL)
            off++;
        if (off >= len)
            break;
        json_error_t je;
        /* DISABLE_EOF_CHECK: stop after one value; je.position is where. */
        json_t *v = json_loadb(text + off, len - off, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
        if (v == NULL) {
            locate(text, off + (je.position > 0 ? (size_t)je.position - 1 : 0), &line, &col);
            /* jansson's text may quote the input near the error: keep only
             * its description, up to " near ". */
            const char *near = strstr(je.text, " near ");
            int keep = near ? (int)(near - je.text) : (int)strlen(je.text);
            snprintf(errbuf, errsize, "%s: line %d, column %d: invalid JSON: %.*s", origin, line, col, keep,
                     je.text);
            goto fail;
        }
        values++;
        locate(text, off, &line, &col);
        if (json_is_object(v)) {
            json_array_append(found, v);
        } else {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item) {
                if (!json_is_object(item)) {
                    snprintf(errbuf, errsize, "%s: line %d: item %zu of the array is not a JSON object", origin,
                             line, i);
                    json_decref(v);
                    goto fail;
                }
                json_array_append(found, item);
            }
        }
        json_decref(v);
        off += (size_t)je.position;
    }
    if (json_array_size(found) == 0) {
        snprintf(errbuf, errsize, "%s: %s", origin, values ? "an empty array: no event" : "empty: no event");
        goto fail;
    }
    json_array_extend(events, found);
    json_decref(found);
    return 0;
fail:
    json_decref(found);
    return -1;
}
