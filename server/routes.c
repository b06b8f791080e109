/* routes.c - the one route table: method, pattern, handler, auth, flags. */
#include "api.h"
#include "html.h"
#include "report.h"

/* A cluster list or a cluster is a page for a browser, JSON for the rest:
 * Vary: Accept, and text/html preferred in Accept picks the page. */
static bool wants_html(struct req *r)
{
	reply_header(r, "Vary", "Accept");
	return html_accept_prefers(req_header(r, "Accept"));
}

static void clusters_list(struct req *r)
{
	if (wants_html(r))
		api_page_list(r);
	else
		api_clusters_list(r);
}

static void cluster_get(struct req *r)
{
	if (wants_html(r))
		api_page_cluster(r);
	else
		api_cluster_get(r);
}

static void cluster_diff(struct req *r)
{
	if (wants_html(r))
		api_page_diff(r);
	else
		api_cluster_diff(r);
}

/* Scanned in order for every request: the node routes, which carry boot
 * storms, come first. No two patterns overlap, so order means nothing else.
 * Every operator write is ROUTE_STATE_CHANGE (http_bind refuses a table
 * without): http.c refuses what a page on another site could have sent. */
const struct route api_routes[] = {
        /* a node route: the handler checks the cluster's fetch token */
        {"GET", "/clusters/{name}/ignition", api_cluster_ignition, AUTH_NONE, 0, 0},
        /* a node route too: the handler checks that cluster's fetch token */
        {"POST", "/clusters/{name}/reports", api_cluster_report, AUTH_NONE, ROUTE_JSON_BODY,
         REPORT_BODY_MAX},
        /* etcd members: the token in the URL is the capability; first the
         * join step's replacement report, so that its log line names it */
        {"POST", "/discovery/{token}/_kindling/replacements", api_discovery_replacement, AUTH_NONE,
         ROUTE_SECRET_PATH | ROUTE_JSON_BODY, 4096},
        {"GET", "/discovery/{token}", api_discovery_dir, AUTH_NONE, ROUTE_SECRET_PATH, 0},
        {"GET", "/discovery/{token}/{key*}", api_discovery_key, AUTH_NONE, ROUTE_SECRET_PATH, 0},
        {"PUT", "/discovery/{token}/{key*}", api_discovery_put, AUTH_NONE, ROUTE_SECRET_PATH, 4096},
        /* the browser pages; the static files are public */
        {"GET", "/", api_page_list, AUTH_OPERATOR, ROUTE_BROWSER, 0},
        {"GET", "/static/{file}", api_static, AUTH_NONE, 0, 0},
        {"POST", "/clusters/{name}/delete", api_page_delete, AUTH_OPERATOR,
         ROUTE_BROWSER | ROUTE_STATE_CHANGE | ROUTE_FORM, 0},
        {"POST", "/clusters/{name}/adopt", api_page_adopt, AUTH_OPERATOR,
         ROUTE_BROWSER | ROUTE_STATE_CHANGE | ROUTE_FORM, 0},
        {"POST", "/clusters/{name}/rollback", api_page_rollback, AUTH_OPERATOR,
         ROUTE_BROWSER | ROUTE_STATE_CHANGE | ROUTE_FORM, 0},
        {"GET", "/clusters", clusters_list, AUTH_OPERATOR, ROUTE_BROWSER, 0},
        {"POST", "/clusters", api_clusters_create, AUTH_OPERATOR,
         ROUTE_JSON_BODY | ROUTE_STATE_CHANGE, 0},
        {"GET", "/clusters/{name}", cluster_get, AUTH_OPERATOR, ROUTE_BROWSER, 0},
        {"PATCH", "/clusters/{name}", api_cluster_patch, AUTH_OPERATOR,
         ROUTE_JSON_BODY | ROUTE_STATE_CHANGE, 0},
        {"DELETE", "/clusters/{name}", api_cluster_delete, AUTH_OPERATOR, ROUTE_STATE_CHANGE, 0},
        {"POST", "/clusters/{name}/token", api_cluster_token, AUTH_OPERATOR, ROUTE_STATE_CHANGE, 0},
        {"GET", "/clusters/{name}/userdata", api_cluster_userdata, AUTH_OPERATOR, 0, 0},
        {"GET", "/clusters/{name}/events", api_cluster_events, AUTH_OPERATOR, 0, 0},
        {"GET", "/clusters/{name}/generations", api_cluster_generations, AUTH_OPERATOR, 0, 0},
        {"GET", "/clusters/{name}/generations/{n}", api_cluster_generation, AUTH_OPERATOR, 0, 0},
        {"GET", "/clusters/{name}/diff", cluster_diff, AUTH_OPERATOR, ROUTE_BROWSER, 0},
        {"GET", "/profiles", api_profiles, AUTH_OPERATOR, 0, 0},
        /* discovery.etcd.io-compatible allocation: any method, like the original;
         * a GET that allocates, so it is a state change too */
        {"GET", "/new", api_discovery_new, AUTH_OPERATOR, ROUTE_STATE_CHANGE, 0},
        {"POST", "/new", api_discovery_new, AUTH_OPERATOR, ROUTE_STATE_CHANGE, 0},
        {"GET", "/healthz", api_healthz, AUTH_NONE, 0, 0},
        {"GET", "/metrics", api_metrics, AUTH_NONE, 0, 0},
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
