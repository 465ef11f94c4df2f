/*
 * projection.h: the Control Panel projection. A ControlPanelEvent becomes
 * one statement on tenants, environments, members, api_keys,
 * license_terms, console_tokens or licenses, written so that applying an event twice, or an older event
 * after a newer one, changes nothing:
 *
 *   TenantRegistered    upsert; the latest registration (by occurred_at) wins
 *   EnvironmentCreated  upsert unless the row is newer or was deleted later
 *   EnvironmentDeleted  deleted_at set once, not before creation
 *   MemberAdded/Removed as environments
 *   LicenseTermsSet     upsert per (tenant, valid_from); the latest set_at wins
 *   ApiKeyIssued        insert once (key id and hash are unique)
 *   ApiKeyRevoked       revoked_at set once
 *   ConsoleTokenIssued  insert once, only for a member of the event's
 *                       tenant not removed at that point of the tenant's
 *                       (ordered) history; otherwise nothing is written.
 *                       A token id or hash already taken changes nothing.
 *   ConsoleTokenRevoked revoked_at set once, by the tenant's own event; a
 *                       revocation read before its issue leaves a row
 *                       without hash that the issue then completes, so the
 *                       token is born revoked, whatever the order.
 *   LicenseIssued       insert once per license id: the first wins, a repeat
 *                       with another payload changes nothing; exactly the
 *                       id of its kind (member_id for personal_dev,
 *                       environment_id for environment), valid_until after
 *                       valid_from, payload_sha256 the SHA-256 of payload.
 *   LicenseRevoked      revoked_at and revoke_reason set once, by the
 *                       tenant's own event; the first revocation wins, and
 *                       one read before its issue leaves a row the issue
 *                       completes, already revoked (as console tokens).
 *
 * The member check is inside the statement (no extra round trip), so an
 * issue for another tenant's member is dropped, not dead-lettered: the
 * batch's dead letters are decided before PostgreSQL answers.
 *
 * Values PostgreSQL would refuse (a hash that is not lower-case hex SHA-256,
 * a negative maximum, a period ending before it starts, text that is not
 * UTF-8) are refused here first, so a bad event goes to the dead-letter
 * topic and never blocks its partition.
 */
#ifndef TALLY_PROJECTION_H
#define TALLY_PROJECTION_H

#include <stddef.h>

#include <avro.h>

#include "batch.h"

/* The ControlPanelEvent version these kinds were written for: the reader
 * schema the materializer and replay decode with (when the catalog has
 * it), so a later version's new branches read as unknown_branch, never as
 * an unknown payload. */
#define TALLY_PROJECTION_CP_VERSION 3

/* Turns a decoded ControlPanelEvent (borrowed; read as version
 * TALLY_PROJECTION_CP_VERSION or older) into a Control Panel event of the
 * batch. Returns 0, or -1 with the reason
 * in errbuf and the batch unchanged. */
int tally_projection_add(tally_batch_t *b, avro_value_t *event, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The statement of kind, with "@." standing for the schema's qualifier
 * (static text), and its parameter count. */
const char *tally_projection_sql(tally_cp_kind_t kind, int *nparams);

/* "TenantRegistered", ...: the record name of kind (static). */
const char *tally_projection_kind_name(tally_cp_kind_t kind);

#endif
