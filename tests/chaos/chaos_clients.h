/*
 * chaos_clients.h: the client threads of the chaos suite (chaos_clients.c;
 * chaos.h shows the suite's files), and the run's names and numbers they
 * share with the rest.
 */
#ifndef TALLY_TEST_CHAOS_CLIENTS_H
#define TALLY_TEST_CHAOS_CLIENTS_H

#include "chaos.h"

/* A random value in [0, n) from the xorshift state *s. */
int64_t chaos_rnd_below(uint64_t *s, int64_t n);

/* The API key of a tenant's environment, and a tenant's id. */
void chaos_api_key(char *out, size_t size, int tenant, int env);
void chaos_tenant_id(char *out, size_t size, int tenant);

/* The start (epoch ms) of day (0..DAYS-1) of the run. */
int64_t chaos_day_start(int day);

/* The license terms sent for tenant t. */
void chaos_license_of(int t, int64_t *seats_max, int64_t *monthly_max, int64_t *daily_max);

/* A new reporter for cell (counters from 0). */
void chaos_new_reporter(client_t *c, cell_state_t *cell);

/* A client thread (arg: its client_t). */
void *chaos_client_main(void *arg);

#endif /* TALLY_TEST_CHAOS_CLIENTS_H */
