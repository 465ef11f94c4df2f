/*
 * console_pages.c: times the console's overview and usage pages for
 * tests/bench/console.sh, one request after another (closed loop, one
 * connection), and prints one line per page and round:
 *
 *   page=overview round=1 requests=500 p50_ms=1.234 p99_ms=2.345 rps=789.0
 *
 *   --mode=http     GET base-url + path with libcurl (keep-alive), as a
 *                   browser or the Control Panel would, with
 *                   "Authorization: Bearer <--token>"; any status but 200
 *                   is fatal.
 *   --mode=inproc   the pages' own load and render (pages.h) on a libpq
 *                   connection to --pg-url: the same work without HTTP.
 *   --explain       (inproc) loads each page once with auto_explain on
 *                   (--pg-url must be a superuser's: LOAD) and prints the
 *                   plan of every query the page runs, nested ones too;
 *                   JIT off, as 0009 sets it for tally_reader.
 *
 * Other arguments: --tenant, --period (YYYY-MM), --requests (per page and
 * round), --rounds.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "pages.h"
#include "pg.h"
#include "textbuf.h"

static size_t discard(char *ptr, size_t size, size_t n, void *user)
{
    (void)ptr;
    *(size_t *)user += size * n;
    return size * n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request of page; returns its seconds. */
static double one_inproc(PGconn *pg, const tally_page_t *page, const tally_page_query_t *q, tally_textbuf_t *out)
{
    char err[512];
    json_t *model = NULL;
    double t0 = bench_now_s();
    tally_page_query_t qq = *q;
    qq.now_ms = wall_ms();
    if (page->load(pg, &qq, &model, err, sizeof err) != 0)
        bench_die(page->name, err);
    tally_textbuf_reset(out);
    page->render(model, &qq, out);
    char *json = json_dumps(model, JSON_COMPACT);   /* the API's face */
    free(json);
    json_decref(model);
    return bench_now_s() - t0;
}

static double one_http(CURL *curl, const char *url)
{
    size_t bytes = 0;
    long status = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &bytes);
    double t0 = bench_now_s();
    CURLcode rc = curl_easy_perform(curl);
    double dt = bench_now_s() - t0;
    if (rc != CURLE_OK)
        bench_die(url, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        char why[64];
        snprintf(why, sizeof why, "HTTP status %ld", status);
        bench_die(url, why);
    }
    return dt;
}

static void notice(void *arg, const char *message)
{
    (void)arg;
    fputs(message, stdout);
}

/* Loads each page once with every statement's plan printed. */
static void explain(PGconn *pg, const tally_page_query_t *q, const char *const *names, size_t n)
{
    char err[512];
    PQsetNoticeProcessor(pg, notice, NULL);
    if (tally_pg_exec(pg,
                      "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; "
                      "SET auto_explain.log_buffers = on; SET auto_explain.log_timing = on; "
                      "SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice; "
                      "SET client_min_messages = notice; SET jit = off",
                      err, sizeof err) != 0)
        bench_die("auto_explain", err);
    for (size_t i = 0; i < n; i++) {
        const tally_page_t *page = tally_page_find(names[i]);
        json_t *model = NULL;
        printf("==== plans of the %s page ====\n", names[i]);
        fflush(stdout);
        if (page->load(pg, q, &model, err, sizeof err) != 0)
            bench_die(names[i], err);
        json_decref(model);
    }
}

int main(int argc, char **argv)
{
    bench_program = "bench_console_pages";
    const char *mode = bench_arg(argc, argv, "--mode");
    const char *tenant = bench_arg(argc, argv, "--tenant");
    const char *period = bench_arg(argc, argv, "--period");
    int requests = atoi(bench_opt_arg(argc, argv, "--requests") ? bench_opt_arg(argc, argv, "--requests") : "300");
    int rounds = atoi(bench_opt_arg(argc, argv, "--rounds") ? bench_opt_arg(argc, argv, "--rounds") : "3");
    if (requests < 1 || rounds < 1)
        bench_die("arguments", "--requests and --rounds must be positive");
    static const char *const names[] = {"overview", "usage"};
    tally_page_query_t q = {.tenant_id = tenant, .staff = 1, .period = period, .now_ms = wall_ms()};
    char err[512];

    PGconn *pg = NULL;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    char urls[2][1024];
    tally_textbuf_t out = {0};
    if (strcmp(mode, "inproc") == 0) {
        pg = tally_pg_connect(bench_arg(argc, argv, "--pg-url"), "bench-console", err, sizeof err);
        if (pg == NULL)
            bench_die("connect", err);
        if (bench_opt_arg(argc, argv, "--explain")) {
            static const char *const all[] = {"overview", "usage", "seats", "team", "tenants", "product"};
            explain(pg, &q, all, sizeof all / sizeof all[0]);
            PQfinish(pg);
            return 0;
        }
    } else if (strcmp(mode, "http") == 0) {
        const char *base = bench_arg(argc, argv, "--url");
        char auth[512];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bench_arg(argc, argv, "--token"));
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl = curl_easy_init();
        headers = curl_slist_append(headers, auth);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        snprintf(urls[0], sizeof urls[0], "%s/t/%s/", base, tenant);
        snprintf(urls[1], sizeof urls[1], "%s/t/%s/usage?period=%s", base, tenant, period);
    } else {
        bench_die("--mode", "inproc or http");
    }

    double *lat = calloc((size_t)requests, sizeof *lat);
    for (int round = 1; round <= rounds; round++) {
        for (size_t p = 0; p < 2; p++) {
            const tally_page_t *page = tally_page_find(names[p]);
            /* One warm-up request (connections, plans, caches). */
            if (pg)
                (void)one_inproc(pg, page, &q, &out);
            else
                (void)one_http(curl, urls[p]);
            double t0 = bench_now_s();
            for (int i = 0; i < requests; i++)
                lat[i] = pg ? one_inproc(pg, page, &q, &out) : one_http(curl, urls[p]);
            double elapsed = bench_now_s() - t0;
            qsort(lat, (size_t)requests, sizeof *lat, cmp_double);
            int i99 = (int)((double)requests * 0.99 + 0.999999) - 1;
            printf("page=%s round=%d requests=%d p50_ms=%.3f p99_ms=%.3f rps=%.1f\n", names[p], round, requests,
                   lat[requests / 2] * 1000.0, lat[i99 < 0 ? 0 : i99] * 1000.0, (double)requests / elapsed);
            fflush(stdout);
        }
    }
    free(lat);
    tally_textbuf_free(&out);
    if (curl) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        curl_global_cleanup();
    }
    PQfinish(pg);
    return 0;
}
