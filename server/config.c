/* config.c - flags and KINDLING_* variables, described once in a table. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpcheck.h"
#include "render.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_LIST, OPT_HELP, OPT_VERSION };

struct opt {
	const char *name; /* flag without "--"; env is KINDLING_ + upper(name) */
	enum opt_type type;
	size_t offset; /* OPT_LIST: of a char *[] array, described in lists[] */
	const char *dflt;
	int min, max;
	const char *help;
};

#define F(field) offsetof(struct config, field)

static const struct opt opts[] = {
        {"listen", OPT_STR, F(listen), "127.0.0.1:8080", 0, 0,
         "address:port to listen on ([::1]:8080 for IPv6; port 0 picks a free one)"},
        {"db", OPT_STR, F(db_path), "db/kindling.db", 0, 0,
         "SQLite database file, or a postgresql:// URL"},
        {"templates", OPT_LIST, F(templates), "templates", 0, 0,
         "profile folder; repeat to add folders (later ones override same-named profiles)"},
        {"public-url", OPT_STR, F(public_url), NULL, 0, 0,
         "base URL nodes and etcd members use to reach kindling (default http://LISTEN)"},
        {"allow-host", OPT_LIST, F(allow_hosts), NULL, 0, 0,
         "another name clients may reach kindling by (Host header); repeat or separate "
         "with commas (IP addresses, localhost and the --public-url host always work)"},
        {"admin-token-file", OPT_STR, F(admin_token_file), NULL, 0, 0,
         "file holding the operator token (Bearer, or Basic password)"},
        {"insecure-no-auth", OPT_BOOL, F(insecure_no_auth), "false", 0, 0,
         "allow a non-loopback listen address without an admin token"},
        {"tls-cert", OPT_STR, F(tls_cert), NULL, 0, 0, "PEM certificate chain: serve HTTPS"},
        {"tls-key", OPT_STR, F(tls_key), NULL, 0, 0, "PEM private key for --tls-cert"},
        {"tls-priorities", OPT_STR, F(tls_priorities), NULL, 0, 0,
         "GnuTLS priority string for HTTPS (default libmicrohttpd's \"NORMAL\")"},
        {"tls-ca", OPT_STR, F(tls_ca), NULL, 0, 0,
         "PEM CA put into every pointer config so nodes trust --tls-cert"},
        {"discovery-upstream", OPT_STR, F(discovery_upstream), NULL, 0, 0,
         "allocate discovery URLs from this discovery.etcd.io-style service"},
        {"discovery-etcd", OPT_STR, F(discovery_etcd), NULL, 0, 0,
         "URL[,URL] of an etcd cluster (v3 JSON gateway) that v3 discovery of \"discovery\": "
         "\"upstream\" clusters uses"},
        {"upstream-timeout-ms", OPT_INT, F(upstream_timeout_ms), "5000", 100, 120000,
         "total time for one upstream allocation, all retries included"},
        {"upstream-retries", OPT_INT, F(upstream_retries), "2", 0, 10,
         "retries after an upstream 5xx or connection error"},
        {"threads", OPT_INT, F(threads), "0", 0, 64, "HTTP worker threads (0: one per CPU)"},
        {"long-poll-timeout", OPT_INT, F(long_poll_timeout_s), "60", 1, 3600,
         "seconds a discovery watch is held before an empty 200"},
        {"bodies-max", OPT_INT, F(bodies_max_mb), "64", 1, 65536,
         "MiB of request bodies held at once, all connections (past it: 503)"},
        {"header-max", OPT_INT, F(header_max), "8192", 4096, 1 << 20,
         "largest request line plus headers, bytes (past it: 431)"},
        {"body-max", OPT_INT, F(body_max), "1048576", 1024, 64 << 20,
         "largest request body, bytes"},
        {"conn-timeout", OPT_INT, F(conn_timeout_s), "30", 1, 3600,
         "seconds an idle or slow connection is kept"},
        {"max-conns", OPT_INT, F(max_conns), "16384", 16, 1 << 20, "open connections in all"},
        {"max-conns-per-ip", OPT_INT, F(max_conns_per_ip), "0", 0, 1 << 20,
         "open connections per client address (0: no limit)"},
        {"max-clusters", OPT_INT, F(max_clusters), "1000000", 1, INT_MAX, "clusters in all"},
        {"max-long-polls", OPT_INT, F(max_long_polls), "15000", 1, 1 << 20,
         "discovery watches held at once"},
        {"max-event-streams", OPT_INT, F(max_event_streams), "1000", 1, 1 << 20,
         "cluster event streams (GET /clusters/NAME/events) held at once"},
        {"event-keepalive", OPT_INT, F(event_keepalive_s), "15", 1, 3600,
         "seconds between keep-alive comments on an idle event stream"},
        {"max-profiles", OPT_INT, F(max_profiles), "8", 1, 64, "profiles one cluster may combine"},
        {"max-vars", OPT_INT, F(max_vars), "64", 1, 64, "variables one cluster may set"},
        {"max-registrations", OPT_INT, F(max_registrations), "0", 0, 10000,
         "etcd registrations per discovery URL (0: 3 x size + 10)"},
        {"token-grace", OPT_INT, F(token_grace_s), "3600", 0, 30 * 86400,
         "seconds a rotated fetch token stays valid"},
        {"http-total", OPT_INT, F(http_total_s), "600", 0, 86400,
         "timeouts.httpTotal written into pointer configs (0: retry forever)"},
        {"keep-generations", OPT_INT, F(keep_generations), "50", 1, 10000,
         "config generations kept per cluster (the oldest go: no rollback to them)"},
        {"fetch-log-size", OPT_INT, F(fetch_log_size), "50", 0, 10000,
         "recent config fetches remembered per cluster"},
        {"drain-timeout", OPT_INT, F(drain_timeout_s), "10", 0, 600,
         "seconds SIGTERM waits for requests in flight"},
        {"ignition-version", OPT_STR, F(ignition_version), "3.3.0", 0, 0,
         "default Ignition spec version of new clusters"},
        {"grpc-listen", OPT_STR, F(grpc_listen), NULL, 0, 0,
         "address:port of the etcd v3 gRPC discovery endpoint (plaintext HTTP/2) for "
         "discovery_protocol v3 clusters; unset: no v3 discovery"},
        {"grpc-endpoint", OPT_STR, F(grpc_endpoint), NULL, 0, 0,
         "URL etcd members are given to reach --grpc-listen (default http://<--public-url "
         "host>:<gRPC port>)"},
        {"grpc-idle-timeout", OPT_INT, F(grpc_idle_timeout_s), "300", 1, 86400,
         "seconds a gRPC connection with no call and nothing received is kept"},
        {"grpc-max-conns", OPT_INT, F(grpc_max_conns), "4096", 1, 1 << 20, "open gRPC connections"},
        {"grpc-max-streams", OPT_INT, F(grpc_max_streams), "1000", 1, 1 << 20,
         "concurrent gRPC calls on one connection (HTTP/2 MAX_CONCURRENT_STREAMS)"},
        {"grpc-max-calls", OPT_INT, F(grpc_max_calls), "20000", 1, 1 << 22,
         "gRPC calls open at once, all connections"},
        {"grpc-max-message", OPT_INT, F(grpc_max_message), "65536", 1024, 4 << 20,
         "largest gRPC request message, bytes"},
        {"grpc-max-watches", OPT_INT, F(grpc_max_watches), "1000", 1, 1 << 20,
         "watches on one gRPC Watch stream"},
        {"help", OPT_HELP, 0, NULL, 0, 0, "print this help and exit"},
        {"version", OPT_VERSION, 0, NULL, 0, 0, "print the version and exit"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* The list options: where their count is, how many they hold, and what
 * separates items in a KINDLING_* variable and in a flag (NULL: nothing). */
static const struct list_spec {
	size_t offset, count_offset;
	size_t max;
	const char *env_sep, *flag_sep;
} lists[] = {
        {F(templates), F(ntemplates), CONFIG_MAX_TEMPLATE_DIRS, ":", NULL},
        {F(allow_hosts), F(nallow_hosts), CONFIG_MAX_ALLOW_HOSTS, ",", ","},
};

static const struct list_spec *list_of(const struct opt *o)
{
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (lists[i].offset == o->offset)
			return &lists[i];
	return NULL;
}

static size_t *list_count(struct config *cfg, const struct opt *o)
{
	return (size_t *)(void *)((char *)cfg + list_of(o)->count_offset);
}

static void *field(struct config *cfg, const struct opt *o)
{
	return (char *)cfg + o->offset;
}

/* Adds one --allow-host name, lowercased: a host name without a port, or "*". */
static enum kerr add_host(char **list, size_t *n, const char *val, const char *from,
                          struct buf *errmsg)
{
	struct http_authority a;
	if (strcmp(val, "*") != 0 &&
	    (!http_authority_parse(val, strlen(val), &a) || a.port >= 0 || a.ip)) {
		buf_addf(errmsg,
		         "%s: \"%s\" is not a host name (letters, digits, \"-._~\"; no port, which "
		         "is not compared; IP addresses are always allowed)",
		         from, val);
		return K_EINVAL;
	}
	list[*n] = strdup(strcmp(val, "*") ? a.host : val);
	if (!list[*n])
		return K_ENOMEM;
	(*n)++;
	return K_OK;
}

/* Adds every item of val, split at any of sep (NULL: val is one item). */
static enum kerr set(struct config *cfg, const struct opt *o, const char *val, const char *from,
                     struct buf *errmsg);

static enum kerr set_list(struct config *cfg, const struct opt *o, const char *val, const char *sep,
                          const char *from, struct buf *errmsg)
{
	if (!sep)
		return set(cfg, o, val, from, errmsg);
	char *copy = strdup(val), *save = NULL;
	enum kerr e = K_OK;
	if (!copy)
		return K_ENOMEM;
	for (char *t = strtok_r(copy, sep, &save); t && e == K_OK; t = strtok_r(NULL, sep, &save))
		e = set(cfg, o, t, from, errmsg);
	free(copy);
	return e;
}

/* Empties a list (flags replace the environment's list rather than extend it). */
static void clear_list(struct config *cfg, const struct opt *o)
{
	char **list = field(cfg, o);
	size_t *n = list_count(cfg, o);
	for (size_t i = 0; i < *n; i++) {
		free(list[i]);
		list[i] = NULL;
	}
	*n = 0;
}

static enum kerr set(struct config *cfg, const struct opt *o, const char *val, const char *from,
                     struct buf *errmsg)
{
	switch (o->type) {
	case OPT_STR: {
		char **p = field(cfg, o);
		free(*p);
		*p = NULL;
		if (!*val) /* an empty value unsets: KINDLING_ADMIN_TOKEN_FILE= */
			return o->dflt ? set(cfg, o, o->dflt, from, errmsg) : K_OK;
		*p = strdup(val);
		return *p ? K_OK : K_ENOMEM;
	}
	case OPT_LIST: {
		char **list = field(cfg, o);
		size_t *n = list_count(cfg, o);
		if (*n == list_of(o)->max) {
			buf_addf(errmsg, "%s: at most %zu values", from, list_of(o)->max);
			return K_EINVAL;
		}
		if (o->offset == F(allow_hosts))
			return add_host(list, n, val, from, errmsg);
		list[*n] = strdup(val);
		if (!list[*n])
			return K_ENOMEM;
		(*n)++;
		return K_OK;
	}
	case OPT_INT: {
		char *end;
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || end == val || *end || v < o->min || v > o->max) {
			buf_addf(errmsg, "%s: \"%s\" is not a whole number from %d to %d", from,
			         val, o->min, o->max);
			return K_EINVAL;
		}
		*(int *)field(cfg, o) = (int)v;
		return K_OK;
	}
	case OPT_BOOL:
		if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes")) {
			*(bool *)field(cfg, o) = true;
		} else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no")) {
			*(bool *)field(cfg, o) = false;
		} else {
			buf_addf(errmsg, "%s: \"%s\" is not true or false", from, val);
			return K_EINVAL;
		}
		return K_OK;
	default:
		return K_OK;
	}
}

static void env_name(const struct opt *o, char *out, size_t n)
{
	size_t j = (size_t)snprintf(out, n, "KINDLING_");
	for (const char *s = o->name; *s && j + 1 < n; s++)
		out[j++] = *s == '-' ? '_' : (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
	out[j] = '\0';
}

/* The supported spec versions, from render's one table, for --help. */
static void print_versions(void)
{
	printf("      one of (highest first; GET /profiles lists them too):\n");
	for (size_t i = 0; i < render_nspecs; i++)
		printf("        %s  stable since Ignition %s; %s\n", render_specs[i].version,
		       render_specs[i].ignition, render_specs[i].asked_by);
}

static void usage(void)
{
	printf("usage: kindling [flags]\n"
	       "       kindling migrate --from FILE --to postgresql://... (SQLite to PostgreSQL;\n"
	       "                        kindling migrate --help)\n\n"
	       "Issues per-cluster Ignition configs and serves etcd discovery.\n"
	       "Every flag can also be set as a KINDLING_* environment variable\n"
	       "(--public-url as KINDLING_PUBLIC_URL; KINDLING_TEMPLATES separated by ':',\n"
	       "KINDLING_ALLOW_HOST by ','). Flags win over the environment.\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		const char *arg = o->type == OPT_INT                          ? " N"
		                  : o->type == OPT_STR || o->type == OPT_LIST ? " VALUE"
		                                                              : "";
		printf("  --%s%s\n      %s", o->name, arg, o->help);
		if (o->dflt && o->type != OPT_BOOL)
			printf(" [%s]", o->dflt);
		printf("\n");
		if (!strcmp(o->name, "ignition-version"))
			print_versions();
	}
}

enum kerr config_read_token(const char *path, char **out, struct buf *errmsg)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		buf_addf(errmsg, "--admin-token-file %s: %s", path, strerror(errno));
		return K_EINVAL;
	}
	char line[512];
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n < 16 || n == sizeof(line) - 1 || strpbrk(line, " \t\r\n:")) {
		buf_addf(errmsg,
		         "--admin-token-file %s: the token must be one line of 16 to 510 "
		         "characters without spaces or ':'",
		         path);
		explicit_bzero(line, sizeof(line));
		return K_EINVAL;
	}
	*out = strdup(line);
	explicit_bzero(line, sizeof(line));
	return *out ? K_OK : K_ENOMEM;
}

enum kerr config_parse(struct config *cfg, int argc, char **argv, struct buf *errmsg, int *out_exit)
{
	enum kerr e = K_OK;
	memset(cfg, 0, sizeof(*cfg));
	*out_exit = -1;
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].dflt && opts[i].type != OPT_LIST &&
		    (e = set(cfg, &opts[i], opts[i].dflt, "default", errmsg)) != K_OK)
			return e;
	for (size_t i = 0; i < NOPTS; i++) {
		char name[64];
		env_name(&opts[i], name, sizeof(name));
		const char *v = getenv(name);
		if (!v || opts[i].type == OPT_HELP || opts[i].type == OPT_VERSION)
			continue;
		if (opts[i].type == OPT_LIST) {
			e = set_list(cfg, &opts[i], v, list_of(&opts[i])->env_sep, name, errmsg);
		} else {
			e = set(cfg, &opts[i], v, name, errmsg);
		}
		if (e != K_OK)
			return e;
	}
	bool from_env[NOPTS]; /* a list still holding the environment's items */
	for (size_t i = 0; i < NOPTS; i++)
		from_env[i] = opts[i].type == OPT_LIST;
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (strncmp(arg, "--", 2) != 0) {
			buf_addf(errmsg, "unexpected argument \"%s\" (see --help)", arg);
			return K_EINVAL;
		}
		const char *eq = strchr(arg + 2, '=');
		size_t nlen = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		const struct opt *o = NULL;
		for (size_t i = 0; i < NOPTS; i++)
			if (strlen(opts[i].name) == nlen &&
			    memcmp(opts[i].name, arg + 2, nlen) == 0)
				o = &opts[i];
		if (!o) {
			buf_addf(errmsg, "unknown flag \"%.*s\" (see --help)", (int)nlen + 2, arg);
			return K_EINVAL;
		}
		if (o->type == OPT_HELP) {
			usage();
			*out_exit = 0;
			return K_OK;
		}
		if (o->type == OPT_VERSION) {
			printf("kindling %s\n", KINDLING_VERSION);
			*out_exit = 0;
			return K_OK;
		}
		const char *val = eq ? eq + 1 : NULL;
		if (!val && o->type == OPT_BOOL)
			val = "true";
		if (!val) {
			if (a + 1 >= argc) {
				buf_addf(errmsg, "--%s needs a value", o->name);
				return K_EINVAL;
			}
			val = argv[++a];
		}
		char from[80];
		snprintf(from, sizeof(from), "--%s", o->name);
		if (o->type == OPT_LIST) {
			if (from_env[o - opts]) {
				clear_list(cfg, o);
				from_env[o - opts] = false;
			}
			e = set_list(cfg, o, val, list_of(o)->flag_sep, from, errmsg);
		} else {
			e = set(cfg, o, val, from, errmsg);
		}
		if (e != K_OK)
			return e;
	}
	if (cfg->ntemplates == 0 &&
	    (e = set(cfg, &opts[2], opts[2].dflt, "default", errmsg)) != K_OK)
		return e;
	if (cfg->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->threads = n < 1 ? 1 : n > 16 ? 16 : (int)n;
	}
	if (cfg->admin_token_file &&
	    (e = config_read_token(cfg->admin_token_file, &cfg->admin_token, errmsg)) != K_OK)
		return e;
	if (!cfg->tls_cert != !cfg->tls_key) {
		buf_addstr(errmsg, "--tls-cert and --tls-key go together");
		return K_EINVAL;
	}
	if (cfg->public_url) {
		size_t n = strlen(cfg->public_url);
		while (n > 0 && cfg->public_url[n - 1] == '/')
			cfg->public_url[--n] = '\0';
		if (strncmp(cfg->public_url, "http://", 7) != 0 &&
		    strncmp(cfg->public_url, "https://", 8) != 0) {
			buf_addf(errmsg, "--public-url \"%s\" must start with http:// or https://",
			         cfg->public_url);
			return K_EINVAL;
		}
	}
	return K_OK;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].type == OPT_STR) {
			char **p = field(cfg, &opts[i]);
			free(*p);
			*p = NULL;
		}
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].type == OPT_LIST)
			clear_list(cfg, &opts[i]);
	free(cfg->admin_token);
	cfg->admin_token = NULL;
}
