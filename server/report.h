/* report.h - node boot reports (the report profile's POST): what a valid
 * report is, and keeping the newest one per node (stored, then published as
 * a node-reported event). Knows nothing of HTTP. */
#ifndef KINDLING_REPORT_H
#define KINDLING_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"
#include "events.h"
#include "store.h"

/* A report's bounds: its bytes (the route's body limit), its nesting, and
 * what it may list. */
#define REPORT_BODY_MAX      (64 * 1024)
#define REPORT_DEPTH_MAX     4 /* report > failed_units > unit > journal */
#define REPORT_ADDRESSES_MAX 16
#define REPORT_UNITS_MAX     32
#define REPORT_LINES_MAX     100 /* journal lines per failed unit */
#define REPORT_LINE_MAX      1024
#define REPORT_SERVICES_MAX  16
/* Reports kept per cluster: its size times this (nodes replaced keep theirs
 * until newer ones push them out). */
#define REPORT_KEEP_PER_NODE 2

/*
 * Validates the body a node sent. Returns the report as kindling keeps it
 * (a new reference: the known fields only; control characters in text
 * replaced by their visible Unicode pictures, U+2400...), or NULL with one
 * {field, message} per problem appended to errors (a JSON array) - for
 * JSON that does not parse, that nests deeper than REPORT_DEPTH_MAX or is
 * not an object, one error on the field "body". Pure.
 */
json_t *report_parse(const char *body, size_t len, json_t *errors);

/* The failed units a (parsed) report lists. */
int report_failed_units(const json_t *report);

/* The store and publish side; thread-safe. */
struct reports;

/* K_OK or K_ENOMEM. s and ev (which may be NULL) are borrowed for its life. */
enum kerr reports_new(struct store *s, struct events *ev, struct reports **out);

/* Frees and NULLs *r. Accepts NULL. */
void reports_free(struct reports **r);

/*
 * Keeps report (from report_parse; borrowed) as the newest of its node in
 * cluster c, with the time it arrived and the address it came from, in one
 * durable write (c->size * REPORT_KEEP_PER_NODE kept for the cluster), and
 * publishes EV_NODE_REPORTED once it is on disk. Runs on the caller's
 * thread. K_OK, K_ENOTFOUND (the cluster went meanwhile), K_ENOMEM,
 * K_EUNAVAIL, K_EIO.
 */
enum kerr reports_put(struct reports *r, const struct cluster *c, const json_t *report,
                      const char *client);

/* Counted since start: reports stored, and reports refused (bad token,
 * bad input: counted by the caller with reports_refused). */
void reports_refused(struct reports *r);
unsigned long long reports_received_total(const struct reports *r);
unsigned long long reports_refused_total(const struct reports *r);

#endif
