/* producers/client/input: one object, an array, NDJSON and pretty-printed
 * objects in a row are all events; anything else is refused with where it
 * went wrong, and without quoting the input. */
#include "input.h"

#include <criterion/criterion.h>
#include <string.h>

static char err[512];

static json_t *parse_ok(const char *text)
{
    json_t *events = json_array();
    int rc = tally_input_parse(text, strlen(text), "stdin", events, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    return events;
}

static void parse_fails(const char *text, const char *message)
{
    json_t *events = json_array();
    err[0] = '\0';
    cr_assert_eq(tally_input_parse(text, strlen(text), "argument 2", events, err, sizeof err), -1, "%s", text);
    cr_assert_eq(json_array_size(events), 0, "nothing appended on error");
    cr_assert_not_null(strstr(err, message), "want \"%s\" in \"%s\"", message, err);
    cr_assert_not_null(strstr(err, "argument 2"), "names the input: %s", err);
    json_decref(events);
}

Test(input, one_object_an_array_and_ndjson)
{
    json_t *e = parse_ok("{\"event\":\"a\"}");
    cr_assert_eq(json_array_size(e), 1);
    json_decref(e);
    e = parse_ok("[{\"event\":\"a\"},{\"event\":\"b\"}]");
    cr_assert_eq(json_array_size(e), 2);
    json_decref(e);
    e = parse_ok("{\"event\":\"a\"}\n{\"event\":\"b\"}\r\n\n{\"event\":\"c\"}\n");
    cr_assert_eq(json_array_size(e), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 2), "event")), "c");
    json_decref(e);
}

Test(input, pretty_printed_objects_and_arrays_mixed)
{
    json_t *e = parse_ok("{\n  \"event\": \"a\"\n}\n[\n {\"event\":\"b\"}\n] {\"event\":\"c\"}");
    cr_assert_eq(json_array_size(e), 3);
    json_decref(e);
}

Test(input, appends_to_what_is_there)
{
    json_t *events = json_array();
    cr_assert_eq(tally_input_parse("{}", 2, "a", events, err, sizeof err), 0);
    cr_assert_eq(tally_input_parse("[{},{}]", 7, "b", events, err, sizeof err), 0);
    cr_assert_eq(json_array_size(events), 3);
    json_decref(events);
}

Test(input, invalid_json_names_line_and_column)
{
    parse_fails("{\"event\":\"a\"}\n{\"event\": }\n", "line 2, column 11: invalid JSON");
    parse_fails("{\"event\":\"a\"", "line 1");
    parse_fails("{\"event\":\"a\"} junk", "invalid JSON");
}

Test(input, non_objects_are_refused)
{
    parse_fails("42", "invalid JSON");
    parse_fails("[{\"event\":\"a\"}, \"b\"]", "item 1 of the array is not a JSON object");
    parse_fails("\"text\"", "invalid JSON");
}

Test(input, empty_input_is_refused)
{
    parse_fails("", "empty: no event");
    parse_fails(" \n\t\n", "empty: no event");
    parse_fails("[]", "an empty array");
}

Test(input, duplicate_keys_and_nul_bytes_are_refused)
{
    parse_fails("{\"event\":\"a\",\"event\":\"b\"}", "invalid JSON");
    json_t *events = json_array();
    cr_assert_eq(tally_input_parse("{}\0{}", 5, "stdin", events, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "NUL"));
    json_decref(events);
}

Test(input, errors_never_quote_the_input)
{
    /* A personal value near the error must not be echoed to a terminal or log. */
    parse_fails("{\"email\": ada@example.com}", "invalid JSON");
    cr_assert_null(strstr(err, "ada@"), "%s", err);
}
