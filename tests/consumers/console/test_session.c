/* session: ids, expiry (never past the token's), rechecks, eviction. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

static tally_principal_t member(const char *tenant, int64_t token_expires_ms)
{
    tally_principal_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.tenant_id, sizeof p.tenant_id, "%s", tenant);
    snprintf(p.member_id, sizeof p.member_id, "m-%s", tenant);
    memset(p.token_sha256, 'a', TALLY_SESSION_ID_HEX);
    p.token_expires_ms = token_expires_ms;
    return p;
}

Test(session, create_get_end)
{
    tally_sessions_t *s = tally_sessions_new(10, 3600000, 5000);
    tally_principal_t p = member("acme", 10000000), got;
    char id[TALLY_SESSION_ID_HEX + 1], id2[TALLY_SESSION_ID_HEX + 1];
    int64_t age;
    cr_assert_eq(tally_sessions_create(s, &p, 1000, id, &age), 0);
    cr_assert_eq(strlen(id), 64);
    cr_assert_eq(age, 3600);
    cr_assert_eq(tally_sessions_create(s, &p, 1000, id2, &age), 0);
    cr_assert_str_neq(id, id2, "ids are random");
    cr_assert_eq(tally_sessions_get(s, id, 2000, &got), TALLY_SESSION_OK);
    cr_assert_str_eq(got.tenant_id, "acme");
    cr_assert_eq(tally_sessions_count(s), 2);
    cr_assert_eq(tally_sessions_end(s, id), 1);
    cr_assert_eq(tally_sessions_get(s, id, 2000, &got), TALLY_SESSION_NONE);
    cr_assert_eq(tally_sessions_end(s, id), 0);
    cr_assert_eq(tally_sessions_get(s, id2, 2000, &got), TALLY_SESSION_OK);
    tally_sessions_free(s);
}

Test(session, garbage_ids_are_unknown)
{
    tally_sessions_t *s = tally_sessions_new(10, 3600000, 5000);
    tally_principal_t p = member("acme", 10000000), got;
    char id[TALLY_SESSION_ID_HEX + 1];
    int64_t age;
    tally_sessions_create(s, &p, 1000, id, &age);
    char upper[TALLY_SESSION_ID_HEX + 1];
    for (int i = 0; i <= TALLY_SESSION_ID_HEX; i++)
        upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
    static const char *const bad[] = {"", "0", "zz", NULL};
    for (size_t i = 0; bad[i]; i++)
        cr_assert_eq(tally_sessions_get(s, bad[i], 2000, &got), TALLY_SESSION_NONE);
    cr_assert_eq(tally_sessions_get(s, NULL, 2000, &got), TALLY_SESSION_NONE);
    if (strcmp(upper, id) != 0)
        cr_assert_eq(tally_sessions_get(s, upper, 2000, &got), TALLY_SESSION_NONE, "upper-case hex");
    char longer[TALLY_SESSION_ID_HEX + 2];
    snprintf(longer, sizeof longer, "%s0", id);
    cr_assert_eq(tally_sessions_get(s, longer, 2000, &got), TALLY_SESSION_NONE);
    tally_sessions_free(s);
}

Test(session, expiry_never_past_the_token)
{
    tally_sessions_t *s = tally_sessions_new(10, 3600000, 5000);
    tally_principal_t p = member("acme", 61000), got;
    char id[TALLY_SESSION_ID_HEX + 1];
    int64_t age;
    tally_sessions_create(s, &p, 1000, id, &age);
    cr_assert_eq(age, 60, "the token's expiry, not the ttl");
    cr_assert_eq(tally_sessions_get(s, id, 60999, &got), TALLY_SESSION_RECHECK);
    cr_assert_eq(tally_sessions_get(s, id, 61000, &got), TALLY_SESSION_NONE);
    cr_assert_eq(tally_sessions_count(s), 0, "removed on the way");
    tally_principal_t staff;
    memset(&staff, 0, sizeof staff);
    staff.staff = 1;
    tally_sessions_create(s, &staff, 1000, id, &age);
    cr_assert_eq(age, 3600);
    cr_assert_eq(tally_sessions_get(s, id, 3600999, &got), TALLY_SESSION_OK, "staff: never rechecked");
    cr_assert_eq(tally_sessions_sweep(s, 3601000), 1);
    tally_sessions_free(s);
}

Test(session, recheck_then_keep_or_end)
{
    tally_sessions_t *s = tally_sessions_new(10, 3600000, 5000);
    tally_principal_t p = member("acme", 10000000), got;
    char id[TALLY_SESSION_ID_HEX + 1];
    int64_t age;
    tally_sessions_create(s, &p, 1000, id, &age);
    cr_assert_eq(tally_sessions_get(s, id, 5999, &got), TALLY_SESSION_OK);
    cr_assert_eq(tally_sessions_get(s, id, 6000, &got), TALLY_SESSION_RECHECK);
    tally_sessions_checked(s, id, 1, 6000);
    cr_assert_eq(tally_sessions_get(s, id, 10999, &got), TALLY_SESSION_OK);
    cr_assert_eq(tally_sessions_get(s, id, 11000, &got), TALLY_SESSION_RECHECK);
    tally_sessions_checked(s, id, 0, 11000);
    cr_assert_eq(tally_sessions_get(s, id, 11001, &got), TALLY_SESSION_NONE, "a failed recheck ends it");
    tally_sessions_free(s);
}

Test(session, full_store_evicts_the_nearest_end)
{
    tally_sessions_t *s = tally_sessions_new(2, 3600000, 5000);
    tally_principal_t early = member("a", 100000), late = member("b", 10000000), third = member("c", 10000000), got;
    char a[TALLY_SESSION_ID_HEX + 1], b[TALLY_SESSION_ID_HEX + 1], c[TALLY_SESSION_ID_HEX + 1];
    int64_t age;
    cr_assert_eq(tally_sessions_create(s, &late, 1000, b, &age), 0);
    cr_assert_eq(tally_sessions_create(s, &early, 1000, a, &age), 0);
    cr_assert_eq(tally_sessions_create(s, &third, 1000, c, &age), 1);
    cr_assert_eq(tally_sessions_count(s), 2);
    cr_assert_eq(tally_sessions_get(s, a, 2000, &got), TALLY_SESSION_NONE, "the one nearest its end went");
    cr_assert_eq(tally_sessions_get(s, b, 2000, &got), TALLY_SESSION_OK);
    cr_assert_eq(tally_sessions_get(s, c, 2000, &got), TALLY_SESSION_OK);
    tally_sessions_free(s);
}
