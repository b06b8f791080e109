/* app.h - what the layers below the routes share: the configuration and the
 * modules set up by main. Knows nothing of HTTP. */
#ifndef KINDLING_APP_H
#define KINDLING_APP_H

#include "config.h"
#include "events.h"
#include "profile.h"
#include "store.h"
#include "writer.h"

struct confcache;
struct fetchlog;
struct discovery;
struct eventlog;
struct reports;
struct snapshots;

/* What the handlers (through req_app()), the service and the views read.
 * Set up by main, read-only while serving (the modules it points to are
 * thread-safe). */
struct app {
	const struct config *cfg;
	struct store *store;
	struct profile_set *profiles;
	char public_url[512]; /* no trailing slash; set before the server serves */
	/* the etcd v3 gRPC endpoint members are given (discovery_endpoints); "" when
	 * kindling has no --grpc-listen */
	char grpc_endpoint[512];
	const char *ca_pem; /* --tls-ca contents for pointer configs, or NULL */
	struct confcache *cache;
	struct fetchlog *fetchlog;
	struct discovery *discovery;
	struct writer *writer;
	struct eventlog *eventlog;   /* recent events, for event streams */
	struct reports *reports;     /* node boot reports (report.h) */
	struct snapshots *snapshots; /* the profile versions generations use */
};

#endif
