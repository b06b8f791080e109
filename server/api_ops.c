/* api_ops.c - /healthz, /metrics and /profiles. */
#include <inttypes.h>
#include <stdlib.h>

#include "api.h"
#include "fetchlog.h"
#include "render.h"

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
