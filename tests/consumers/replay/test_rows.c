/* tally-replay's pure parts: the comparison of recomputed and materialized
 * rows (missing, unexpected, differing fields, unverifiable rows left out),
 * CSV quoting, whole-day windows and the names a rebuild may create. */
#include "grid.h"
#include "replay.h"
#include "rows.h"
#include "shadow.h"
#include "timeutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY(y, m, d) ((int32_t)tally_days_from_civil((y), (m), (d)))

static tally_replay_row_t api(const char *tenant, const char *env, int32_t day, int64_t calls)
{
    tally_replay_row_t r = {.table = TALLY_REPLAY_API, .tenant = tenant, .environment = env, .day = day,
                            .v = {calls, 1, 2, 3}, .updated_at = 1000, .partition = -1};
    return r;
}

static tally_replay_row_t seat(const char *tenant, int32_t day, int64_t peak)
{
    tally_replay_row_t r = {.table = TALLY_REPLAY_SEAT, .tenant = tenant, .environment = "ignored", .day = day,
                            .v = {1, peak}, .updated_at = 1000, .partition = -1};
    return r;
}

Test(rows, interned_ids_are_shared_and_seats_have_no_environment)
{
    tally_replay_rows_t *s = tally_replay_rows_new();
    char a[8] = "acme", b[8] = "acme";
    tally_replay_row_t x = api(a, "prod", 1, 1), y = api(b, "prod", 2, 1), z = seat("acme", 3, 1);
    const char *p1 = tally_replay_rows_add(s, &x)->tenant;
    const char *p2 = tally_replay_rows_add(s, &y)->tenant;
    cr_assert_eq(p1, p2);
    cr_assert_str_eq(tally_replay_rows_add(s, &z)->environment, "");
    tally_replay_rows_free(s);
}

Test(rows, differences_by_kind_and_field)
{
    tally_replay_rows_t *e = tally_replay_rows_new(), *a = tally_replay_rows_new();
    tally_replay_row_t r;
    /* Added out of order: diff needs them sorted. */
    r = api("t2", "prod", DAY(2024, 3, 2), 10);
    tally_replay_rows_add(e, &r);
    r = api("t1", "prod", DAY(2024, 3, 1), 10);
    tally_replay_rows_add(e, &r);
    tally_replay_rows_add(a, &r);                       /* equal */
    r = api("t1", "prod", DAY(2024, 3, 2), 10);
    tally_replay_rows_add(e, &r);
    r.v[0] = 11;
    r.updated_at = 2000;
    tally_replay_rows_add(a, &r);                       /* api_calls and updated_at differ */
    r = api("t1", "dev", DAY(2024, 3, 2), 5);
    tally_replay_rows_add(a, &r);                       /* unexpected */
    r = seat("t1", DAY(2024, 3, 1), 4);
    tally_replay_rows_add(e, &r);                       /* missing (t2's API row too) */
    r = seat("t1", DAY(2024, 3, 2), 4);
    r.flags = TALLY_REPLAY_UNVERIFIABLE;
    tally_replay_rows_add(e, &r);
    r.flags = 0;
    r.v[1] = 99;
    tally_replay_rows_add(a, &r);                       /* not compared */
    r = seat("t1", DAY(2024, 3, 3), 4);
    r.flags = TALLY_REPLAY_UNVERIFIABLE;
    tally_replay_rows_add(e, &r);                       /* not compared, nothing materialized */
    tally_replay_rows_sort(e);
    tally_replay_rows_sort(a);

    tally_replay_diffs_t d = {0};
    tally_replay_rows_diff(e, a, &d);
    cr_assert_eq(d.n, 4);
    cr_assert_eq(d.unverifiable, 2);
    /* Key order: API rows (tenant, environment, day), then seats. */
    cr_assert_eq(d.v[0].kind, TALLY_REPLAY_UNEXPECTED);
    cr_assert_str_eq(d.v[0].actual->environment, "dev");
    cr_assert_eq(d.v[1].kind, TALLY_REPLAY_DIFFERS);
    cr_assert_eq(d.v[1].fields, (1u << 0) | TALLY_REPLAY_FIELD_UPDATED_AT);
    cr_assert_eq(d.v[1].expected->v[0], 10);
    cr_assert_eq(d.v[1].actual->v[0], 11);
    cr_assert_eq(d.v[2].kind, TALLY_REPLAY_MISSING);
    cr_assert_str_eq(d.v[2].expected->tenant, "t2");
    cr_assert_eq(d.v[3].kind, TALLY_REPLAY_MISSING);
    cr_assert_eq(d.v[3].expected->table, TALLY_REPLAY_SEAT);
    tally_replay_diffs_free(&d);

    /* Identical sets: nothing. */
    tally_replay_rows_diff(e, e, &d);
    cr_assert_eq(d.n, 0);
    tally_replay_diffs_free(&d);
    tally_replay_rows_free(e);
    tally_replay_rows_free(a);
}

Test(rows, whole_days_of_a_window)
{
    int64_t march1 = (int64_t)DAY(2024, 3, 1) * TALLY_MS_PER_DAY;
    cr_assert_eq(tally_replay_first_whole_day(march1), DAY(2024, 3, 1));
    cr_assert_eq(tally_replay_first_whole_day(march1 + 1), DAY(2024, 3, 2));
    cr_assert_eq(tally_replay_first_whole_day(march1 - 1), DAY(2024, 3, 1));
    cr_assert_eq(tally_replay_last_whole_day(march1), DAY(2024, 2, 29));
    cr_assert_eq(tally_replay_last_whole_day(march1 + TALLY_MS_PER_DAY - 1), DAY(2024, 2, 29));
    cr_assert_eq(tally_replay_last_whole_day(march1 + TALLY_MS_PER_DAY), DAY(2024, 3, 1));
    /* Before 1970 too. */
    cr_assert_eq(tally_replay_first_whole_day(-1), 0);
    cr_assert_eq(tally_replay_first_whole_day(-TALLY_MS_PER_DAY), -1);
    cr_assert_eq(tally_replay_last_whole_day(-1), -2);
}

Test(rows, csv_quotes_what_needs_it)
{
    static const char *const header[] = {"a", "b", "c"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tally_replay_grid_t *g = tally_replay_grid_new(3, header);
    const char *row[] = {"plain", "with,comma", "say \"hi\"\nbye"};
    tally_replay_grid_add(g, row);
    const char *empty[] = {NULL, "", "x"};
    tally_replay_grid_add(g, empty);
    cr_assert_eq(tally_replay_grid_rows(g), 2);
    tally_replay_grid_csv(g, f);
    fclose(f);
    cr_assert_str_eq(buf, "a,b,c\nplain,\"with,comma\",\"say \"\"hi\"\"\nbye\"\n,,x\n");
    free(buf);

    f = open_memstream(&buf, &len);
    tally_replay_grid_print(g, f);
    fclose(f);
    cr_assert(strstr(buf, "a      b           c\n"), "%s", buf);
    free(buf);
    tally_replay_grid_free(g);
}

Test(rows, schema_names_a_rebuild_may_create)
{
    cr_assert(tally_shadow_name_ok("tally_rebuild"));
    cr_assert(tally_shadow_name_ok("_x1"));
    cr_assert_not(tally_shadow_name_ok(""));
    cr_assert_not(tally_shadow_name_ok("Tally"));
    cr_assert_not(tally_shadow_name_ok("1abc"));
    cr_assert_not(tally_shadow_name_ok("a-b"));
    cr_assert_not(tally_shadow_name_ok("a\"b"));
    cr_assert_not(tally_shadow_name_ok("pg_temp"));
    cr_assert_not(tally_shadow_name_ok("public"));
    cr_assert_not(tally_shadow_name_ok("information_schema"));
    char long_name[70];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    cr_assert_not(tally_shadow_name_ok(long_name));
    long_name[63] = '\0';
    cr_assert(tally_shadow_name_ok(long_name));
}
