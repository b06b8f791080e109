/* api_ops.c - /healthz, /metrics and /profiles. */
#include <inttypes.h>
#include <stdlib.h>

#include "api.h"
#include "eventlog.h"
#include "fetchlog.h"
#include "render.h"
#include "report.h"

void api_healthz(struct req *r)
{
	const struct app *a = req_app(r);
	int64_t n = 0;
	struct buf why;
	buf_init(&why, 1024);
	enum kerr e = store_health(a->store, &why);
	if (e == K_OK)
		e = store_cluster_count(a->store, &n);
	if (e != K_OK)
		reply_error(r, K_EUNAVAIL, "the database cannot be used: %s",
		            why.len ? buf_str(&why) : kerr_str(e));
	else
		reply_json(r, 200,
		           json_pack("{s:s, s:I}", "status", "ok", "clusters", (json_int_t)n));
	buf_free(&why);
}

void api_metrics(struct req *r)
{
	const struct app *a = req_app(r);
	struct buf out;
	buf_init(&out, 1 << 20);
	http_write_metrics(req_server(r), &out);
	int64_t n = 0;
	if (store_cluster_count(a->store, &n) == K_OK)
		buf_addf(&out,
		         "# HELP kindling_clusters Clusters in the database.\n"
		         "# TYPE kindling_clusters gauge\n"
		         "kindling_clusters %" PRId64 "\n",
		         n);
	if (a->fetchlog)
		buf_addf(&out,
		         "# HELP kindling_fetches_dropped_total Config fetches not recorded: "
		         "the fetch log's queue was full.\n"
		         "# TYPE kindling_fetches_dropped_total counter\n"
		         "kindling_fetches_dropped_total %llu\n",
		         fetchlog_dropped(a->fetchlog));
	if (a->reports)
		buf_addf(&out,
		         "# HELP kindling_reports_received_total Node boot reports stored.\n"
		         "# TYPE kindling_reports_received_total counter\n"
		         "kindling_reports_received_total %llu\n"
		         "# HELP kindling_reports_refused_total Node boot reports refused (no such "
		         "cluster, no or a wrong token, invalid content; an oversized body or "
		         "content type is counted in kindling_http_requests_total).\n"
		         "# TYPE kindling_reports_refused_total counter\n"
		         "kindling_reports_refused_total %llu\n",
		         reports_received_total(a->reports), reports_refused_total(a->reports));
	int64_t nodes = 0, failed = 0;
	if (store_reports_count(a->store, &nodes, &failed) == K_OK)
		buf_addf(&out,
		         "# HELP kindling_nodes_reported Nodes whose newest boot report is kept.\n"
		         "# TYPE kindling_nodes_reported gauge\n"
		         "kindling_nodes_reported %" PRId64 "\n"
		         "# HELP kindling_nodes_failed Nodes whose newest boot report lists failed "
		         "units.\n"
		         "# TYPE kindling_nodes_failed gauge\n"
		         "kindling_nodes_failed %" PRId64 "\n",
		         nodes, failed);
	if (a->eventlog)
		buf_addf(&out,
		         "# HELP kindling_event_streams_open Event streams (GET "
		         "/clusters/NAME/events) open now.\n"
		         "# TYPE kindling_event_streams_open gauge\n"
		         "kindling_event_streams_open %zu\n",
		         eventlog_watchers(a->eventlog));
	buf_addf(&out,
	         "# HELP kindling_build_info The running version.\n"
	         "# TYPE kindling_build_info gauge\n"
	         "kindling_build_info{version=\"%s\"} 1\n",
	         KINDLING_VERSION);
	size_t len;
	char *body = buf_steal(&out, &len);
	if (!body) {
		reply_error(r, K_ENOMEM, "out of memory");
		return;
	}
	reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

void api_profiles(struct req *r)
{
	const struct app *a = req_app(r);
	json_t *j = profile_set_describe(a->profiles);
	if (!j) {
		reply_error(r, K_ENOMEM, "out of memory");
		return;
	}
	/* the spec versions (render's one table), and which of them each profile fits */
	json_object_set_new(j, "ignition", render_describe(a->cfg->ignition_version));
	size_t i;
	json_t *p;
	json_array_foreach (json_object_get(j, "profiles"), i, p) {
		json_t *needs = render_profile_needs(a->profiles,
		                                     json_string_value(json_object_get(p, "name")));
		if (needs)
			json_object_set_new(p, "ignition", needs);
	}
	reply_json(r, 200, j);
}
