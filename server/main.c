/* main.c - flags and environment -> config, signals, start and stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "api.h"
#include "config.h"
#include "discovery.h"
#include "fetchlog.h"
#include "grpc/grpc.h"
#include "upstream.h"
#include "http.h"
#include "eventlog.h"
#include "report.h"
#include "log.h"
#include "migrate.h"
#include "render.h"
#include "replicas.h"
#include "service.h"
#include "snapshots.h"
#include "writer.h"

#define EVENTLOG_KEEP 4096 /* events kept for streams to resume from (Last-Event-ID) */

/* Raises the open-files limit to its hard maximum: every connection is a file. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Writes the base URL handed to nodes: --public-url, or derived from the
 * listen address and port. */
static void set_public_url(const struct config *cfg, int port, char *out, size_t outlen)
{
	if (cfg->public_url) {
		snprintf(out, outlen, "%s", cfg->public_url);
		return;
	}
	char host[256];
	const char *colon = strrchr(cfg->listen, ':');
	size_t n = colon ? (size_t)(colon - cfg->listen) : 0;
	snprintf(host, sizeof(host), "%.*s", (int)n, cfg->listen);
	if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "[::]")) {
		log_warnx("listening on all addresses without --public-url: the URLs handed to "
		          "nodes say 127.0.0.1, which nodes cannot reach; set --public-url");
		snprintf(host, sizeof(host), "127.0.0.1");
	}
	snprintf(out, outlen, "%s://%s:%d", cfg->tls_cert ? "https" : "http", host, port);
}

/* Writes the v3 endpoint handed to members: --grpc-endpoint, or the public
 * URL's host with the gRPC port: https with a certificate (members then
 * need --discovery-insecure-transport=false and --discovery-cacert), else
 * http (members default to --discovery-insecure-transport). */
static void set_grpc_endpoint(const struct config *cfg, const char *public_url, int port, char *out,
                              size_t outlen)
{
	if (cfg->grpc_endpoint) {
		snprintf(out, outlen, "%s", cfg->grpc_endpoint);
		return;
	}
	const char *h = strstr(public_url, "://");
	h = h ? h + 3 : public_url;
	size_t n = strcspn(h, "/");
	/* the host without the port: [v6] keeps its brackets */
	const char *end = h + n;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', n);
		end = rb ? rb + 1 : end;
	} else {
		const char *colon = memchr(h, ':', n);
		end = colon ? colon : end;
	}
	snprintf(out, outlen, "%s://%.*s:%d", cfg->tls_cert ? "https" : "http", (int)(end - h), h,
	         port);
}

/* The drain hook: long polls end now, so SIGTERM does not wait for them. */
static void drain(void *arg)
{
	struct app *app = arg;
	discovery_release_all(app->discovery);
}

/* After the drain: what parked requests still wait on ends, and answers them
 * (committed writes as usual, the rest 503: retry). Upstream allocations
 * first, since they hand their creates to the writer. */
static void stop_work(void *arg)
{
	struct app *app = arg;
	service_stop(2000);
	writer_stop(app->writer);
	discovery_stop(app->discovery);
}

/* Reads a whole small file (a PEM) into a malloc'd string, or NULL. */
static char *read_file(const char *path, struct buf *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		buf_addf(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct buf b;
	buf_init(&b, 1 << 20);
	char chunk[4096];
	size_t n;
	enum kerr e = K_OK;
	while (e == K_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		e = buf_add(&b, chunk, n);
	fclose(f);
	if (e != K_OK || b.len == 0) {
		buf_addf(err, "%s: empty, unreadable or over 1 MiB", path);
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

/* Frees a PEM, the key's bytes wiped first. Accepts NULL. */
static void free_secret(char **p)
{
	if (*p)
		explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

/* SIGHUP: the certificate and key, and the admin token, read again. What
 * cannot be read or used is refused with a log line, and the old one stays;
 * connections and parked requests are not touched. */
static void reload(struct http_server *http, const struct config *cfg)
{
	struct buf err, desc;
	buf_init(&err, 4096);
	buf_init(&desc, 1024);
	if (cfg->tls_cert) {
		char *cert = read_file(cfg->tls_cert, &err);
		char *key = cert ? read_file(cfg->tls_key, &err) : NULL;
		if (key && http_tls_reload(http, cert, key, &err) == K_OK) {
			http_tls_describe(http, &desc);
			log_info("SIGHUP: new connections get the certificate in %s: %s",
			         cfg->tls_cert, buf_str(&desc));
		} else {
			http_tls_describe(http, &desc);
			log_warnx(
			        "SIGHUP: refusing the new --tls-cert %s / --tls-key %s: %s; still "
			        "serving %s",
			        cfg->tls_cert, cfg->tls_key, buf_str(&err), buf_str(&desc));
		}
		free(cert);
		free_secret(&key);
	}
	if (cfg->admin_token_file) {
		char *token = NULL;
		buf_reset(&err);
		if (config_read_token(cfg->admin_token_file, &token, &err) != K_OK)
			log_warnx("SIGHUP: refusing the new admin token: %s; the old one stays",
			          buf_str(&err));
		else if (http_set_admin_token(http, token) != K_OK)
			log_warnx("SIGHUP: cannot replace the admin token: out of memory");
		else
			log_info("SIGHUP: the admin token in %s replaces the old one",
			         cfg->admin_token_file);
		free_secret(&token);
	}
	if (!cfg->tls_cert && !cfg->admin_token_file)
		log_info("SIGHUP: nothing to reload (no --tls-cert, no --admin-token-file)");
	buf_free(&desc);
	buf_free(&err);
}

int main(int argc, char **argv)
{
	static struct config cfg; /* static: threads may outlive main (see out:) */
	struct buf err;
	static struct app app; /* static, like cfg */
	struct http_server *http = NULL;
	struct events *events = NULL;
	struct grpc_server *grpc = NULL;
	char *ca_pem = NULL, *cert_pem = NULL, *key_pem = NULL;
	int status = 1, exit_now;
	enum kerr e;

	buf_init(&err, 4096);
	umask(077); /* the database, its folder and everything else kindling makes is private */
	if (argc > 1 && !strcmp(argv[1], "migrate")) { /* a subcommand: copy, then exit */
		buf_free(&err);
		return migrate_main(argc - 1, argv + 1);
	}
	if (config_parse(&cfg, argc, argv, &err, &exit_now) != K_OK) {
		fprintf(stderr, "kindling: %s\n", buf_str(&err));
		goto out;
	}
	if (exit_now >= 0) {
		status = exit_now;
		goto out;
	}
	if (!render_version_known(cfg.ignition_version)) {
		buf_addf(&err,
		         "--ignition-version %s: not a spec version kindling renders; one of ",
		         cfg.ignition_version);
		render_versions_list(&err);
		fprintf(stderr, "kindling: %s\n", buf_str(&err));
		goto out;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop and reload signals in every thread; main waits for them below. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	app.cfg = &cfg;
	if (cfg.discovery_upstream || cfg.discovery_etcd) { /* libcurl only when used: ~2.5 MB */
		const char *why = upstream_global_init();
		if (why) {
			log_warnx("--discovery-upstream and --discovery-etcd need libcurl: %s",
			          why);
			goto out;
		}
	}
	if (profile_set_load((const char *const *)cfg.templates, cfg.ntemplates, &app.profiles,
	                     &err) != K_OK) {
		log_warnx("profiles: %s", buf_str(&err));
		goto out;
	}
	if (cfg.tls_cert) {
		cert_pem = read_file(cfg.tls_cert, &err);
		key_pem = cert_pem ? read_file(cfg.tls_key, &err) : NULL;
		if (!key_pem) {
			log_warnx("--tls-cert/--tls-key: %s", buf_str(&err));
			goto out;
		}
	}
	if (cfg.tls_ca) {
		ca_pem = read_file(cfg.tls_ca, &err);
		if (!ca_pem) {
			log_warnx("--tls-ca: %s", buf_str(&err));
			goto out;
		}
		app.ca_pem = ca_pem;
	}
	/* a connection per HTTP worker and per writer (creates, registrations, fetch log) */
	if (store_open(cfg.db_path, cfg.threads + 3, &app.store, &err) != K_OK) {
		log_warnx("database: %s", buf_str(&err));
		goto out;
	}
	store_keep_generations(app.store, cfg.keep_generations);
	if (snapshots_new(app.store, app.profiles, &app.snapshots) != K_OK) {
		log_warnx("database: cannot store the profiles of the template folders");
		goto out;
	}
	struct discovery_options dopt = {.long_poll_timeout_s = cfg.long_poll_timeout_s,
	                                 .max_waiters = cfg.max_long_polls,
	                                 .max_registrations = cfg.max_registrations};
	if (events_new(&events) != K_OK) {
		log_warnx("cannot start: out of memory");
		goto out;
	}
	dopt.events = events;
	/* every committed change reaches the copies: cached configs, discovery */
	if (confcache_new(&app.cache) != K_OK ||
	    fetchlog_start(app.store, cfg.fetch_log_size, events, &app.fetchlog) != K_OK ||
	    discovery_new(app.store, &dopt, &app.discovery) != K_OK ||
	    events_subscribe(events, confcache_on_event, app.cache) != K_OK ||
	    events_subscribe(events, discovery_on_event, app.discovery) != K_OK ||
	    eventlog_new(EVENTLOG_KEEP, cfg.event_keepalive_s, &app.eventlog) != K_OK ||
	    events_subscribe(events, eventlog_on_event, app.eventlog) != K_OK ||
	    writer_start(app.store, cfg.max_clusters, events, &app.writer) != K_OK ||
	    reports_new(app.store, events, &app.reports) != K_OK) {
		log_warnx("cannot start: out of memory or threads");
		goto out;
	}
	/* other replicas' changes (PostgreSQL), once everything subscribed */
	if (replicas_start(app.store, events) != K_OK) {
		log_warnx("cannot start the database listener: out of memory or threads");
		goto out;
	}
	/* clusters stored before generations: their snapshot is the folders now */
	int snapshotted = 0;
	if (service_snapshot_legacy(&app, &snapshotted) != K_OK) {
		log_warnx("database: cannot snapshot the profiles of older clusters");
		goto out;
	}
	if (snapshotted)
		log_info("generations: %d clusters stored before generations now serve a snapshot "
		         "of the template folders' profiles",
		         snapshotted);
	struct http_options ho = {
	        .listen = cfg.listen,
	        .public_url = app.public_url,
	        .allow_hosts = (const char *const *)cfg.allow_hosts,
	        .nallow_hosts = cfg.nallow_hosts,
	        .threads = cfg.threads,
	        .conn_timeout_s = cfg.conn_timeout_s,
	        .max_conns = cfg.max_conns,
	        .max_conns_per_ip = cfg.max_conns_per_ip,
	        .body_max = (size_t)cfg.body_max,
	        .header_max = (size_t)cfg.header_max,
	        .bodies_max = (size_t)cfg.bodies_max_mb << 20,
	        .tls_cert_pem = cert_pem,
	        .tls_key_pem = key_pem,
	        .tls_priorities = cfg.tls_priorities,
	        .admin_token = cfg.admin_token,
	        .drain = drain,
	        .stop_work = stop_work,
	};
	/* bound, not listening: the refusal below comes before anyone can connect */
	e = http_bind(&ho, api_routes, api_nroutes, &app, &http, &err);
	free(cert_pem); /* http_bind made its own credentials from them */
	cert_pem = NULL;
	free_secret(&key_pem);
	if (e != K_OK) {
		log_warnx("%s", buf_str(&err));
		goto out;
	}
	if (!http_is_loopback(http) && !cfg.admin_token && !cfg.insecure_no_auth) {
		log_warnx(
		        "refusing to listen on %s without an admin token: anyone who can reach it "
		        "could read every cluster's secrets. Give --admin-token-file FILE, or "
		        "--insecure-no-auth if you really mean it",
		        cfg.listen);
		goto out;
	}
	if (!cfg.admin_token)
		log_warnx("no admin token: operator routes are open to anyone who can connect%s",
		          http_is_loopback(http) ? " (loopback only)" : " (--insecure-no-auth)");
	/* the bound port is known (port 0 too): the URL is final before any worker reads it */
	set_public_url(&cfg, http_port(http), app.public_url, sizeof(app.public_url));
	if (cfg.grpc_listen) {
		struct grpc_options go = {
		        .listen = cfg.grpc_listen,
		        .idle_timeout_s = cfg.grpc_idle_timeout_s,
		        .max_conns = cfg.grpc_max_conns,
		        .max_streams = cfg.grpc_max_streams,
		        .max_calls = cfg.grpc_max_calls,
		        .max_message = (size_t)cfg.grpc_max_message,
		        .max_watches = cfg.grpc_max_watches,
		        .tls = http_tls(http), /* the same certificate, reloaded together */
		};
		if (grpc_bind(&go, app.discovery, &grpc, &err) != K_OK) {
			log_warnx("%s", buf_str(&err));
			goto out;
		}
		set_grpc_endpoint(&cfg, app.public_url, grpc_port(grpc), app.grpc_endpoint,
		                  sizeof(app.grpc_endpoint));
		if (grpc_serve(grpc, &err) != K_OK) {
			log_warnx("%s", buf_str(&err));
			goto out;
		}
		log_info("etcd v3 gRPC discovery on %s (port %d), endpoint %s", cfg.grpc_listen,
		         grpc_port(grpc), app.grpc_endpoint);
	}
	if (http_serve(http, &err) != K_OK) {
		log_warnx("%s", buf_str(&err));
		goto out;
	}
	log_info("kindling %s listening on %s (port %d), public URL %s, database %s, %d threads",
	         KINDLING_VERSION, cfg.listen, http_port(http), app.public_url, cfg.db_path,
	         cfg.threads);
	if (cfg.tls_cert) {
		buf_reset(&err);
		http_tls_describe(http, &err);
		log_info("TLS certificate %s: %s (SIGHUP reloads it)", cfg.tls_cert, buf_str(&err));
	}
	if (!log_start_writer())
		log_warnx("cannot start the log writer: request lines are written one by one");

	int sig = 0;
	while (sigwait(&stop, &sig) == 0 && sig == SIGHUP)
		reload(http, &cfg);
	log_info("%s: draining and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	status = 0;
out:
	grpc_stop(grpc); /* GOAWAY; its watches end before discovery goes */
	http_stop(&http, cfg.drain_timeout_s);
	service_stop(2000);
	replicas_stop(app.store); /* no remote event reaches what goes below */
	writer_free(&app.writer);
	discovery_free(&app.discovery);
	grpc_free(&grpc); /* after discovery: its writer may still answer a registration */
	fetchlog_stop(&app.fetchlog);
	confcache_free(&app.cache);
	eventlog_free(&app.eventlog);
	reports_free(&app.reports);
	snapshots_free(&app.snapshots);
	store_close(&app.store);
	events_free(&events);
	/* requests answered 503 at the end of the drain whose handler threads
	 * still run (an upstream call): what those use stays (cfg is static, so
	 * it is not a leak); they end with the process */
	int held = http_requests_held();
	if (held)
		log_warnx("%d request%s still in a handler's thread (an upstream call): "
		          "exiting without waiting for %s",
		          held, held == 1 ? "" : "s", held == 1 ? "it" : "them");
	free(ca_pem);
	free(cert_pem);
	free_secret(&key_pem);
	profile_set_free(&app.profiles);
	if ((cfg.discovery_upstream || cfg.discovery_etcd) && !held)
		upstream_global_cleanup();
	if (!held)
		config_free(&cfg);
	buf_free(&err);
	if (status == 0 && exit_now < 0)
		log_info("stopped");
	log_stop_writer();
	return status;
}
