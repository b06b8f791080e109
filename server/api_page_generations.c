/* api_page_generations.c - generations in the browser: the diff page, and
 * the adopt and rollback forms of the cluster page's generations section
 * (api_pages.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "fields.h"
#include "form.h"
#include "generations.h"
#include "html.h"
#include "snapshots.h"
#include "view.h"

#define PAGE_MAX (16 * 1024 * 1024)

/* One item of a diff: its lines, - and + marked. */
static void diff_item(struct html *h, const json_t *it, size_t k)
{
	const char *status = json_string_value(json_object_get(it, "status"));
	html_addf(h,
	          "<section class=\"diff-item\" id=\"item-%zu\"><h3>%s <span "
	          "class=\"muted\">%s</span></h3>\n<pre class=\"diff\">",
	          k, json_string_value(json_object_get(it, "item")), status);
	size_t i;
	json_t *l;
	long long last_old = 0;
	json_array_foreach (json_object_get(it, "lines"), i, l) {
		const char *op = json_string_value(json_object_get(l, "op"));
		long long old = (long long)json_integer_value(json_object_get(l, "old"));
		if (i && old && last_old && old > last_old + 1)
			html_raw(h, "<span class=\"gap\">…</span>");
		if (old)
			last_old = old;
		html_addf(h, "<span class=\"%s\">%s %s</span>",
		          !strcmp(op, "+")   ? "add"
		          : !strcmp(op, "-") ? "del"
		                             : "ctx",
		          op, json_string_value(json_object_get(l, "text")));
	}
	html_raw(h, "</pre></section>\n");
}

static void side_name(char *out, size_t n, int64_t g)
{
	if (g == GENERATIONS_PENDING)
		snprintf(out, n, "the template folders' profiles");
	else
		snprintf(out, n, "generation %lld", (long long)g);
}

void api_page_diff(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	struct cluster c;
	enum kerr e = view_cluster_get(a, name, &c);
	if (e != K_OK) {
		api_page_error(r, e == K_ENOTFOUND ? 404 : 500, "No such cluster",
		               "There is no cluster of that name, or the database failed.", "/");
		return;
	}
	int64_t from, to, bad = 0;
	json_t *d = NULL;
	if (!api_diff_args(r, &c, &from, &to)) {
		cluster_clear(&c);
		return;
	}
	char back[128], fs[64], ts[64];
	snprintf(back, sizeof(back), "/clusters/%s#generations", c.name);
	e = generations_compare(a, &c, from, to, false, &d, &bad);
	if (e != K_OK) {
		char msg[256];
		snprintf(msg, sizeof(msg),
		         "Generation %lld of this cluster is not kept (or cannot be rendered: %s).",
		         (long long)bad, kerr_str(e));
		api_page_error(r, e == K_ENOTFOUND ? 404 : 500, "No such generation", msg, back);
		cluster_clear(&c);
		return;
	}
	side_name(fs, sizeof(fs), from);
	side_name(ts, sizeof(ts), to);
	struct html h;
	html_init(&h, PAGE_MAX);
	html_page_begin(&h, c.name);
	html_addf(
	        &h,
	        "<p class=\"crumbs\"><a href=\"/\">Clusters</a> / <a href=\"/clusters/%s\">%s</a> "
	        "/</p>\n<h1>Diff: %s → %s</h1>\n",
	        c.name, c.name, fs, ts);
	json_t *items = json_object_get(d, "items");
	json_t *vars = json_object_get(d, "vars");
	if (json_array_size(vars)) {
		size_t i;
		json_t *v;
		html_raw(&h, "<p id=\"diff-vars\">Variables changed: ");
		json_array_foreach (vars, i, v) {
			html_addf(&h, "%s<code>%s</code>", i ? ", " : "", json_string_value(v));
		}
		html_raw(&h, "</p>\n");
	}
	if (!json_array_size(items))
		html_addf(&h,
		          "<p id=\"diff-same\">The configs of %s and %s put the same units, "
		          "drop-ins and files on a node%s.</p>\n",
		          fs, ts,
		          json_is_true(json_object_get(d, "same")) ? " (byte for byte)" : "");
	else
		html_addf(&h,
		          "<p class=\"hint\">%zu of the items a node gets differ; secrets are "
		          "shown as <code>%s</code>.</p>\n",
		          json_array_size(items), GENERATIONS_MASKED);
	size_t i;
	json_t *it;
	json_array_foreach (items, i, it) {
		diff_item(&h, it, i);
	}
	html_addf(&h, "<p><a href=\"%s\">Back to the generations</a></p>\n", back);
	html_page_end(&h);
	json_decref(d);
	cluster_clear(&c);
	api_page_send(r, 200, &h);
}

/* After an adopt or a rollback: back to the generations, or why not. */
static void page_changed(struct req *r)
{
	struct api_call *call = req_data(r);
	const struct service_reply *rep = &call->rep;
	char back[128];
	snprintf(back, sizeof(back), "/clusters/%s#generations", rep->name);
	if (rep->err == K_EINVAL) {
		const char *msg = json_string_value(
		        json_object_get(json_array_get(rep->errors, 0), "message"));
		api_page_error(r, 422, "Nothing changed", msg ? msg : "The change was refused.",
		               back);
		return;
	}
	if (rep->err != K_OK) {
		api_page_error(r, rep->err == K_ENOTFOUND ? 404 : 503, "Nothing changed",
		               rep->err == K_ENOTFOUND
		                       ? "The cluster does not exist (any more)."
		                       : "The database is busy or failed; try again.",
		               back);
		return;
	}
	static const char see_other[] = "<!doctype html><html lang=\"en\"><title>Changed</title>"
	                                "<p>Changed. <a href=\"./\">Back</a></p></html>\n";
	reply_header(r, "Location", back);
	reply_static(r, 303, "text/html; charset=utf-8", see_other, sizeof(see_other) - 1);
}

/* The form's body, or NULL (replied 415). */
static const char *form_body(struct req *r, size_t *len, const char *back)
{
	const char *ct = req_header(r, "Content-Type");
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		api_page_error(r, 415, "Unsupported form",
		               "Send the form as application/x-www-form-urlencoded.", back);
		return NULL;
	}
	return req_body(r, len);
}

/* POST /clusters/{name}/adopt (from the cluster page). */
void api_page_adopt(struct req *r)
{
	const char *name = req_param(r, "name");
	char back[128];
	size_t len;
	snprintf(back, sizeof(back), "/clusters/%s#generations",
	         name_valid(name, strlen(name)) ? name : "");
	if (!form_body(r, &len, back))
		return;
	struct api_call *call = api_call_start(r, page_changed);
	if (call)
		service_adopt_profiles(req_app(r), name, NULL, &call->rep, api_call_done, call);
}

/* POST /clusters/{name}/rollback: generation=N&confirm=NAME. */
void api_page_rollback(struct req *r)
{
	const char *name = req_param(r, "name");
	char back[128], gen[24], confirm[128];
	size_t len;
	snprintf(back, sizeof(back), "/clusters/%s#generations",
	         name_valid(name, strlen(name)) ? name : "");
	const char *body = form_body(r, &len, back);
	if (!body)
		return;
	if (!form_get(body, len, "confirm", confirm, sizeof(confirm)) ||
	    strcmp(confirm, name) != 0) {
		api_page_error(
		        r, 422, "Not rolled back",
		        "To roll back, type the cluster's name exactly into the confirmation "
		        "field.",
		        back);
		return;
	}
	int64_t n = 0;
	if (!form_get(body, len, "generation", gen, sizeof(gen)) ||
	    !api_parse_generation(gen, false, &n)) {
		api_page_error(r, 422, "Not rolled back", "Give the generation to roll back to.",
		               back);
		return;
	}
	struct api_call *call = api_call_start(r, page_changed);
	if (call)
		service_rollback(req_app(r), name, n, &call->rep, api_call_done, call);
}
