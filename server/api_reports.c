/* api_reports.c - POST /clusters/{name}/reports: a node's boot report (the
 * report profile's script), authenticated by that cluster's fetch token. */
#include <stdio.h>

#include "api.h"
#include "report.h"

void api_cluster_report(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	struct cluster c;
	enum kerr e = store_cluster_get(a->store, name, &c);
	if (e != K_OK) {
		reports_refused(a->reports);
		api_reply_store_error(r, e, name);
		return;
	}
	/* the token first: nothing of the body is looked at for a stranger */
	e = api_fetch_token_check(&c, api_fetch_token(r));
	if (e == K_EAUTH) {
		reply_header(r, "WWW-Authenticate", "Bearer realm=\"kindling\"");
		reply_error(r, e,
		            "a report needs the cluster's fetch token: Authorization: Bearer "
		            "<token> (the one in the node's pointer config)");
	} else if (e == K_EFORBIDDEN) {
		reply_error(r, e, "the fetch token is not valid for cluster \"%s\"", name);
	}
	if (e != K_OK) {
		reports_refused(a->reports);
		cluster_clear(&c);
		return;
	}
	size_t len;
	const char *body = req_body(r, &len);
	json_t *errors = json_array();
	json_t *rep = report_parse(body, len, errors);
	if (!rep) {
		reports_refused(a->reports);
		reply_invalid(r, errors);
		cluster_clear(&c);
		return;
	}
	json_decref(errors);
	e = reports_put(a->reports, &c, rep, req_client(r));
	if (e == K_OK)
		reply_static(r, 204, NULL, "", 0);
	else
		api_reply_store_error(r, e, name);
	json_decref(rep);
	cluster_clear(&c);
}
