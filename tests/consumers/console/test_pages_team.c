/* The team page on a real, migrated database, loaded as tally_reader: the
 * tenant's environments with their kind and its members with their role;
 * names and e-mails for that tenant's own members only (vendor staff gets
 * ids and roles); removed members, deleted environments and other tenants'
 * people never appear. */
#include "page_fixture.h"

TestSuite(pages_team, .init = pf_setup, .fini = pf_teardown, .timeout = 60);

static void seed(void)
{
    pf_tenant("acme", "Acme Corp");
    pf_env("acme", "prod", "Production", "production");
    pf_env("acme", "dev", "Dev <script>alert(1)</script>", "development");
    pf_env("acme", "stage", "Staging", "staging");
    pf_env("acme", "old", "Old", "staging");
    pf_sql("UPDATE tally.environments SET deleted_at = now() WHERE tenant_id = 'acme' AND environment_id = 'old'");
    pf_member("acme", "m1", "Ada", "Lovelace", "ada@acme.example", "owner");
    pf_member("acme", "m2", "Grace", "Hopper", "grace@acme.example", "developer");
    pf_member("acme", "m3", "Gone", "Away", "gone@acme.example", "developer");
    pf_sql("UPDATE tally.members SET removed_at = now() WHERE member_id = 'm3'");
    pf_tenant("globex", "Globex Corporation");
    pf_env("globex", "prod", "Globex Production", "production");
    pf_member("globex", "g1", "Hank", "Scorpio", "hank@globex.example", "owner");
}

Test(pages_team, a_member_sees_names_and_emails_of_the_team)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    json_t *m = pf_load("team", &q);
    cr_assert(json_is_true(pf_at(m, "personal_data")));
    cr_assert_eq(json_array_size(pf_at(m, "environments")),
                 pf_scalar("SELECT count(*) FROM tally.environments WHERE tenant_id = 'acme' AND deleted_at IS NULL"));
    cr_assert_str_eq(pf_str(m, "environments.0.id"), "prod");
    cr_assert_str_eq(pf_str(m, "environments.0.kind"), "production");
    cr_assert_str_eq(pf_str(m, "environments.0.created_at"), "2026-01-02T03:04:05Z");
    cr_assert_str_eq(pf_str(m, "environments.1.kind"), "staging");
    cr_assert_str_eq(pf_str(m, "environments.2.name"), "Dev <script>alert(1)</script>");
    cr_assert_eq(json_array_size(pf_at(m, "members")), 2);
    /* By last name: Hopper, Lovelace. */
    cr_assert_str_eq(pf_str(m, "members.0.id"), "m2");
    cr_assert_str_eq(pf_str(m, "members.0.first_name"), "Grace");
    cr_assert_str_eq(pf_str(m, "members.0.last_name"), "Hopper");
    cr_assert_str_eq(pf_str(m, "members.0.email"), "grace@acme.example");
    cr_assert_str_eq(pf_str(m, "members.0.role"), "developer");
    cr_assert_str_eq(pf_str(m, "members.1.email"), "ada@acme.example");
    cr_assert_str_eq(pf_str(m, "members.1.role"), "owner");
    char *dump = pf_dump(m);
    cr_assert(strstr(dump, "gone@") == NULL && strstr(dump, "\"old\"") == NULL, "removed and deleted: %s", dump);
    cr_assert(strstr(dump, "globex") == NULL && strstr(dump, "Hank") == NULL && strstr(dump, "Globex") == NULL,
              "another tenant: %s", dump);
    free(dump);
    json_decref(m);
}

Test(pages_team, staff_sees_ids_and_roles_but_no_names_or_emails)
{
    seed();
    tally_page_query_t q = pf_query("acme", NULL);
    cr_assert_eq(q.staff, 1);
    json_t *m = pf_load("team", &q);
    cr_assert(json_is_false(pf_at(m, "personal_data")));
    cr_assert_eq(json_array_size(pf_at(m, "members")), 2);
    cr_assert_str_eq(pf_str(m, "members.0.id"), "m1");
    cr_assert_str_eq(pf_str(m, "members.0.role"), "owner");
    cr_assert_null(json_object_get(pf_at(m, "members.0"), "email"));
    cr_assert_null(json_object_get(pf_at(m, "members.0"), "first_name"));
    cr_assert_null(json_object_get(pf_at(m, "members.0"), "last_name"));
    char *dump = pf_dump(m);
    cr_assert(strstr(dump, "@acme.example") == NULL && strstr(dump, "Lovelace") == NULL &&
                  strstr(dump, "Ada") == NULL && strstr(dump, "Hopper") == NULL,
              "%s", dump);
    free(dump);
    json_decref(m);
    /* Staff with a member id set is still staff. */
    q.member_id = "m1";
    m = pf_load("team", &q);
    cr_assert(json_is_false(pf_at(m, "personal_data")));
    json_decref(m);
}

Test(pages_team, unknown_tenant)
{
    seed();
    tally_page_query_t q = pf_query("initech", "m1");
    pf_load_rc("team", &q, TALLY_PAGE_NOT_FOUND);
}

Test(pages_team, render_escapes_and_hides_personal_data_from_staff)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    json_t *m = pf_load("team", &q);
    char *html = pf_render("team", m, &q);
    cr_assert(strstr(html, "<table") != NULL, "%s", html);
    cr_assert(strstr(html, "grace@acme.example") != NULL && strstr(html, "Grace Hopper") != NULL, "%s", html);
    cr_assert(strstr(html, "Dev &lt;script&gt;alert(1)&lt;/script&gt;") != NULL, "%s", html);
    cr_assert(strstr(html, "<script") == NULL, "%s", html);
    free(html);
    json_decref(m);

    q = pf_query("acme", NULL);
    m = pf_load("team", &q);
    html = pf_render("team", m, &q);
    cr_assert(strstr(html, "@acme.example") == NULL && strstr(html, "Hopper") == NULL, "%s", html);
    cr_assert(strstr(html, "m2") != NULL && strstr(html, "developer") != NULL, "%s", html);
    free(html);
    json_decref(m);
}
