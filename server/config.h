/* config.h - the configuration: flags and KINDLING_* variables, filled once at start-up. */
#ifndef KINDLING_CONFIG_H
#define KINDLING_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define CONFIG_MAX_TEMPLATE_DIRS 16
#define CONFIG_MAX_ALLOW_HOSTS   32

/* Filled by config_parse, read-only afterwards. Strings are owned by it. */
struct config {
	char *listen; /* host:port, "[v6]:port"; port 0 picks one */
	char *db_path;
	char *templates[CONFIG_MAX_TEMPLATE_DIRS];
	size_t ntemplates;
	char *public_url; /* NULL: derived from the listen address */
	/* --allow-host: more names the Host header may carry (lowercase, no port; "*": any) */
	char *allow_hosts[CONFIG_MAX_ALLOW_HOSTS];
	size_t nallow_hosts;
	char *admin_token_file;
	char *admin_token; /* read from admin_token_file, or NULL */
	bool insecure_no_auth;
	char *tls_cert, *tls_key, *tls_ca; /* file names */
	char *tls_priorities;              /* GnuTLS priority string, or NULL */
	char *discovery_upstream;          /* base URL of a discovery.etcd.io-style service */
	char *discovery_etcd;              /* URL[,URL] of an etcd for upstream v3 discovery */
	int upstream_timeout_ms;
	int upstream_retries;
	int threads;
	int long_poll_timeout_s;
	int body_max;       /* bytes of a request body */
	int header_max;     /* bytes of a request's line and headers */
	int bodies_max_mb;  /* request bodies held at once, all connections */
	int conn_timeout_s; /* idle connection timeout */
	int max_conns;
	int max_conns_per_ip;
	int max_clusters;
	int max_long_polls;
	int max_event_streams;
	int event_keepalive_s;
	int max_profiles;      /* profiles per cluster */
	int max_vars;          /* vars per cluster */
	int max_registrations; /* per discovery token; 0: 3 x size + 10 */
	int token_grace_s;     /* how long a rotated fetch token stays valid */
	int http_total_s;      /* timeouts.httpTotal in pointer configs */
	int fetch_log_size;    /* recent fetches kept per cluster */
	int keep_generations;  /* config generations kept per cluster */
	int drain_timeout_s;
	char *ignition_version; /* default spec version of new clusters */
	char *grpc_listen;      /* etcd v3 gRPC discovery listener; NULL: none */
	char *grpc_endpoint;    /* the URL v3 members are given; NULL: derived */
	int grpc_idle_timeout_s;
	int grpc_max_conns;
	int grpc_max_streams; /* per connection */
	int grpc_max_calls;   /* all connections */
	int grpc_max_message; /* bytes */
	int grpc_max_watches; /* per Watch stream */
};

/*
 * Fills cfg from defaults, then KINDLING_* environment variables, then argv.
 * Returns K_OK; K_EINVAL with a message in errmsg for a bad flag or value;
 * and sets *out_exit (0 for --help/--version after printing, -1 otherwise).
 */
enum kerr config_parse(struct config *cfg, int argc, char **argv, struct buf *errmsg,
                       int *out_exit);

/*
 * Reads the admin token file (one line of 16 to 510 characters without
 * spaces or ':'): K_OK and *out (malloc'd), or K_EINVAL with the reason in
 * errmsg, K_ENOMEM. For config_parse and for SIGHUP.
 */
enum kerr config_read_token(const char *path, char **out, struct buf *errmsg);

/* Frees what config_parse allocated. Accepts NULL. */
void config_free(struct config *cfg);

#endif
