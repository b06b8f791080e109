/* api_pages.c - the browser pages: the cluster list, one cluster, delete by
 * form, and the static files they use. Every value goes through html.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "digest.h"
#include "discovery.h"
#include "fields.h"
#include "form.h"
#include "html.h"
#include "snapshots.h"
#include "generations.h"
#include "render.h"
#include "timeline.h"
#include "view.h"

#define PAGE_MAX          (16 * 1024 * 1024) /* a rendered config is up to 4 MiB */
#define ROW_MAX           (64 * 1024)
#define PAGE_LIST_DEFAULT 50
#define PAGE_LIST_MAX     1000
#define NAME_MAX_LEN      63
#define CURSOR_MAX        96
#define CONFIRM_MAX       128

/* ---- the list ---- */

static const struct {
	const char *name;
	enum store_sort sort;
	enum store_sort reverse;
} sorts[] = {
        {"name", SORT_NAME, SORT_NAME_DESC},
        {"-name", SORT_NAME_DESC, SORT_NAME},
        {"created", SORT_CREATED, SORT_CREATED_DESC},
        {"-created", SORT_CREATED_DESC, SORT_CREATED},
};
#define NSORTS (sizeof(sorts) / sizeof(sorts[0]))

/* What the list page was asked for. Strings borrowed from the request. */
struct list_args {
	const char *q;    /* NULL or "" for all */
	size_t sort;      /* index into sorts */
	const char *lim;  /* ?limit= as given, or NULL */
	int limit;        /* parsed */
	const char *from; /* ?cursor= (after) or ?before=, or NULL */
	bool backward;    /* from is ?before= */
};

/* One page's rows in display order, with the keyset cursor of each. */
struct rows {
	const struct app *a;
	bool by_time;
	char **html;
	char (*cursor)[CURSOR_MAX];
	size_t n, cap;
	enum kerr err;
};

static void rows_free(struct rows *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->html[i]);
	free(rs->html);
	free(rs->cursor);
	rs->html = NULL;
	rs->cursor = NULL;
	rs->n = 0;
}

/* Brackets a cluster id in a row: where its health summary goes. */
#define HEALTH_MARK "\x01"

/* Appends the health summary of the cluster with that id: how many of its
 * nodes reported healthy, how many failed units. */
static void health_cell(struct html *h, const struct app *a, const char *cluster_id)
{
	int healthy = 0, failed = 0;
	if (view_health(a, cluster_id, &healthy, &failed) != K_OK)
		html_raw(h, "<span class=\"muted\">unknown</span>");
	else if (!healthy && !failed)
		html_raw(h, "<span class=\"muted\">no reports</span>");
	if (healthy)
		html_addf(h, "<span class=\"status-ok\">%d healthy</span>", healthy);
	if (healthy && failed)
		html_raw(h, ", ");
	if (failed)
		html_addf(h, "<span class=\"status-bad\">%d failed</span>", failed);
}

/* Appends a row built by list_row, its health mark replaced by the summary. */
static void row_out(struct html *h, const struct app *a, const char *row)
{
	const char *m = strchr(row, HEALTH_MARK[0]);
	const char *end = m ? strchr(m + 1, HEALTH_MARK[0]) : NULL;
	if (!end) {
		html_raw(h, row);
		return;
	}
	char id[40];
	snprintf(id, sizeof(id), "%.*s", (int)(end - m - 1), m + 1);
	if (h->err == K_OK)
		h->err = buf_add(&h->buf, row, (size_t)(m - row));
	health_cell(h, a, id);
	html_raw(h, end + 1);
}

/* Appends one cluster's table row (store_cluster_list callback). */
static void list_row(const struct cluster *c, void *arg)
{
	struct rows *rs = arg;
	if (rs->err != K_OK || rs->n == rs->cap)
		return;
	struct html h;
	html_init(&h, ROW_MAX);
	html_addf(
	        &h,
	        "<tr>\n<th scope=\"row\" data-label=\"Name\"><a href=\"/clusters/%s\">%s</a></th>\n"
	        "<td data-label=\"Profiles\">",
	        c->name, c->name);
	size_t i;
	json_t *p;
	json_array_foreach (c->profiles, i, p) {
		html_addf(&h, "<span class=\"tag\">%s</span>", json_string_value(p));
	}
	html_addf(&h,
	          "</td>\n<td data-label=\"Size\" class=\"num\">%d</td>\n"
	          "<td data-label=\"Members\"><span class=\"members\">"
	          "<progress value=\"%d\" max=\"%d\" aria-label=\"%s: %d of %d members "
	          "registered\">%d of %d</progress> %d/%d</span></td>\n"
	          "<td data-label=\"Config fetches\" class=\"num\">%lld",
	          c->size, c->members, c->size, c->name, c->members, c->size, c->members, c->size,
	          c->members, c->size, (long long)c->fetch_count);
	if (c->last_fetch_at) {
		html_raw(&h, "<br><span class=\"muted\">last ");
		api_page_time(&h, c->last_fetch_at);
		html_raw(&h, "</span>");
	}
	/* the health cell is filled in once the list is read (HEALTH_MARK): no
	 * second database read while the list's is under way */
	html_raw(&h, "</td>\n<td data-label=\"Health\" class=\"health\">");
	if (h.err == K_OK)
		h.err = buf_addf(&h.buf, HEALTH_MARK "%s" HEALTH_MARK, c->id);
	html_addf(&h, "</td>\n<td data-label=\"Ignition\">%s</td>\n<td data-label=\"Created\">",
	          c->ignition_version);
	api_page_time(&h, c->created_at);
	html_raw(&h, "</td>\n</tr>\n");
	if (h.err != K_OK) {
		rs->err = h.err;
		html_free(&h);
		return;
	}
	rs->html[rs->n] = buf_steal(&h.buf, NULL);
	if (!rs->html[rs->n]) {
		rs->err = K_ENOMEM;
		return;
	}
	if (rs->by_time)
		snprintf(rs->cursor[rs->n], CURSOR_MAX, "%" PRId64 ".%s", c->created_at, c->name);
	else
		snprintf(rs->cursor[rs->n], CURSOR_MAX, "%s", c->name);
	rs->n++;
}

/* Parses the list query; on a bad value fills msg and returns false. */
static bool parse_list_args(struct req *r, struct list_args *la, char *msg, size_t msglen)
{
	memset(la, 0, sizeof(*la));
	la->q = req_query(r, "q");
	if (la->q && strlen(la->q) > NAME_MAX_LEN) {
		snprintf(msg, msglen, "The search text must be at most %d characters.",
		         NAME_MAX_LEN);
		return false;
	}
	const char *s = req_query(r, "sort");
	if (s && *s) {
		while (la->sort < NSORTS && strcmp(s, sorts[la->sort].name) != 0)
			la->sort++;
		if (la->sort == NSORTS) {
			snprintf(msg, msglen, "sort must be name, -name, created or -created.");
			return false;
		}
	}
	la->limit = PAGE_LIST_DEFAULT;
	la->lim = req_query(r, "limit");
	if (la->lim && *la->lim) {
		char *end;
		errno = 0;
		long v = strtol(la->lim, &end, 10);
		if (errno || *end || v < 1 || v > PAGE_LIST_MAX) {
			snprintf(msg, msglen, "limit must be a whole number from 1 to %d.",
			         PAGE_LIST_MAX);
			return false;
		}
		la->limit = (int)v;
	}
	la->from = req_query(r, "cursor");
	const char *before = req_query(r, "before");
	if (before && *before) {
		la->from = before;
		la->backward = true;
	}
	if (la->from && !*la->from)
		la->from = NULL;
	return true;
}

/* Fills the store query's cursor from a page cursor; false when malformed. */
static bool set_cursor(struct store_list_query *q, const char *cursor, char name[CURSOR_MAX])
{
	bool by_time = q->sort == SORT_CREATED || q->sort == SORT_CREATED_DESC;
	const char *n = cursor;
	if (by_time) {
		char *end;
		errno = 0;
		long long t = strtoll(cursor, &end, 10);
		if (errno || end == cursor || *end != '.' || t < 0)
			return false;
		q->cursor_time = t;
		n = end + 1;
	}
	if (!name_valid(n, strlen(n)))
		return false;
	snprintf(name, CURSOR_MAX, "%s", n);
	q->has_cursor = true;
	q->cursor_name = name;
	return true;
}

/* Reverses the rows (a page read backwards from ?before=). */
static void rows_reverse(struct rows *rs)
{
	for (size_t i = 0, j = rs->n ? rs->n - 1 : 0; i < j; i++, j--) {
		char *t = rs->html[i];
		rs->html[i] = rs->html[j];
		rs->html[j] = t;
		char c[CURSOR_MAX];
		memcpy(c, rs->cursor[i], CURSOR_MAX);
		memcpy(rs->cursor[i], rs->cursor[j], CURSOR_MAX);
		memcpy(rs->cursor[j], c, CURSOR_MAX);
	}
}

/* A link to the list with these arguments: "/?..." into out (a URL, not yet
 * escaped for HTML). page_key is "cursor", "before" or NULL (first page). */
static void list_href(struct buf *out, const struct list_args *la, size_t sort,
                      const char *page_key, const char *page_value)
{
	const char *kv[] = {
	        "q",     la->q,   "sort",   sort ? sorts[sort].name : NULL,
	        "limit", la->lim, page_key, page_value,
	        NULL,    NULL,
	};
	buf_reset(out);
	buf_addstr(out, "/");
	html_query(out, kv);
}

/* The header cell of a sortable column. */
static void sort_th(struct html *h, const struct list_args *la, const char *label, size_t asc,
                    size_t desc)
{
	struct buf href;
	buf_init(&href, 1024);
	size_t next = la->sort == asc ? desc : asc;
	const char *aria = la->sort == asc ? "ascending" : la->sort == desc ? "descending" : NULL;
	const char *arrow = la->sort == asc ? " ↑" : la->sort == desc ? " ↓" : "";
	list_href(&href, la, next, NULL, NULL);
	if (aria)
		html_addf(h, "<th scope=\"col\" aria-sort=\"%s\">", aria);
	else
		html_raw(h, "<th scope=\"col\">");
	html_addf(h, "<a href=\"%s\">%s%s</a></th>", buf_str(&href), label, arrow);
	buf_free(&href);
}

/* The empty state: how to create the first cluster. */
static void empty_state(struct html *h, const struct app *a)
{
	html_raw(h, "<section class=\"empty\" aria-labelledby=\"empty-h\">\n"
	            "<h2 id=\"empty-h\">No clusters yet</h2>\n"
	            "<p>Create the first one with curl; it appears here at once.</p>\n"
	            "<div class=\"copyrow\"><h3>Create a cluster</h3>"
	            "<button type=\"button\" class=\"copy\" data-copy=\"create-cmd\" hidden>"
	            "Copy</button></div>\n<pre id=\"create-cmd\">");
	html_addf(h, "curl -s -X POST %s/clusters \\\n", a->public_url);
	if (a->cfg->admin_token)
		html_raw(h, "  -H \"Authorization: Bearer $KINDLING_TOKEN\" \\\n");
	html_raw(h, "  -H 'Content-Type: application/json' \\\n"
	            "  -d '{\"name\": \"example\", \"size\": 3, \"profiles\": [\"etcd\"]}'");
	html_raw(h, "</pre><p id=\"create-cmd-status\" role=\"status\" class=\"copied\"></p>\n"
	            "<p class=\"hint\">Then point your machines at "
	            "<code>GET /clusters/example/userdata</code> (the pointer config).</p>\n"
	            "</section>\n");
}

/* Runs one store query into rs. */
static enum kerr list_query(const struct app *a, const struct list_args *la, bool backward,
                            bool *out_more, int64_t *out_total, struct rows *rs)
{
	struct store_list_query q = {
	        .q = la->q && *la->q ? la->q : NULL,
	        .sort = backward ? sorts[la->sort].reverse : sorts[la->sort].sort,
	        .limit = la->limit,
	};
	char name[CURSOR_MAX];
	if (la->from && !set_cursor(&q, la->from, name))
		return K_EINVAL;
	return view_cluster_list(a, &q, list_row, rs, out_more, out_total);
}

void api_page_list(struct req *r)
{
	const struct app *a = req_app(r);
	struct list_args la;
	char msg[256];
	if (!parse_list_args(r, &la, msg, sizeof(msg))) {
		api_page_error(r, 422, "Invalid list request", msg, "/");
		return;
	}
	struct rows rs = {.a = a,
	                  .by_time = sorts[la.sort].sort == SORT_CREATED ||
	                             sorts[la.sort].sort == SORT_CREATED_DESC,
	                  .cap = (size_t)la.limit};
	rs.html = calloc(rs.cap, sizeof(*rs.html));
	rs.cursor = calloc(rs.cap, sizeof(*rs.cursor));
	if (!rs.html || !rs.cursor) {
		rows_free(&rs);
		api_page_error(r, 503, "Out of memory", "Try again.", "/");
		return;
	}
	bool more = false;
	int64_t total = 0;
	bool has_prev = la.from != NULL, has_next;
	enum kerr e = list_query(a, &la, la.backward, &more, &total, &rs);
	if (e == K_OK && la.backward) {
		rows_reverse(&rs);
		has_prev = more;
		has_next = true;
		if (!more) { /* reached the start: show the first page, full */
			rows_free(&rs);
			rs.html = calloc(rs.cap, sizeof(*rs.html));
			rs.cursor = calloc(rs.cap, sizeof(*rs.cursor));
			la.from = NULL;
			la.backward = false;
			e = rs.html && rs.cursor ? list_query(a, &la, false, &more, &total, &rs)
			                         : K_ENOMEM;
			has_next = more;
		}
	} else {
		has_next = more;
	}
	if (e == K_OK)
		e = rs.err;
	if (e == K_EINVAL) {
		rows_free(&rs);
		api_page_error(
		        r, 422, "Invalid list request",
		        "The page cursor does not belong to this sort order; start again from "
		        "the first page.",
		        "/");
		return;
	}
	if (e != K_OK) {
		rows_free(&rs);
		api_page_error(r, e == K_ENOMEM ? 503 : 500, "The database failed",
		               "kindling could not read the clusters; see the server log.", "/");
		return;
	}

	struct html h;
	html_init(&h, PAGE_MAX);
	struct buf href;
	buf_init(&href, 1024);
	html_page_begin(&h, "Clusters");
	bool filtered = la.q && *la.q;
	html_raw(&h, "<div class=\"summary\"><h1>Clusters</h1><p class=\"muted\">");
	if (filtered)
		html_addf(&h, "%lld %s matching “%s”", (long long)total,
		          total == 1 ? "cluster" : "clusters", la.q);
	else
		html_addf(&h, "%lld %s", (long long)total, total == 1 ? "cluster" : "clusters");
	html_raw(&h, "</p></div>\n");
	if (total == 0 && !filtered) {
		empty_state(&h, a);
	} else {
		html_addf(
		        &h,
		        "<form class=\"inline\" method=\"get\" action=\"/\" role=\"search\">\n"
		        "<div><label for=\"q\">Search by name</label>"
		        "<input type=\"search\" id=\"q\" name=\"q\" value=\"%s\" maxlength=\"63\" "
		        "autocomplete=\"off\" spellcheck=\"false\" "
		        "autocapitalize=\"none\"></div>\n",
		        la.q ? la.q : "");
		if (la.sort)
			html_addf(&h, "<input type=\"hidden\" name=\"sort\" value=\"%s\">\n",
			          sorts[la.sort].name);
		if (la.lim && *la.lim)
			html_addf(&h, "<input type=\"hidden\" name=\"limit\" value=\"%s\">\n",
			          la.lim);
		html_raw(&h, "<button type=\"submit\">Search</button>\n");
		if (filtered) {
			struct list_args all = la;
			all.q = NULL;
			list_href(&href, &all, la.sort, NULL, NULL);
			html_addf(&h, "<a class=\"button\" href=\"%s\">Show all</a>\n",
			          buf_str(&href));
		}
		html_raw(&h, "</form>\n");
	}
	if (rs.n) {
		html_raw(&h, "<div class=\"table-wrap\"><table class=\"cards\" id=\"clusters\">\n"
		             "<thead><tr>");
		sort_th(&h, &la, "Name", 0, 1);
		html_raw(&h, "<th scope=\"col\">Profiles</th><th scope=\"col\">Size</th>"
		             "<th scope=\"col\">Members</th><th scope=\"col\">Config fetches</th>"
		             "<th scope=\"col\">Health</th><th scope=\"col\">Ignition</th>");
		sort_th(&h, &la, "Created", 2, 3);
		html_raw(&h, "</tr></thead>\n<tbody>\n");
		for (size_t i = 0; i < rs.n; i++)
			row_out(&h, a, rs.html[i]);
		html_raw(&h, "</tbody></table></div>\n");
	} else if (filtered) {
		html_addf(&h, "<section><p>No cluster name contains “%s”.</p></section>\n", la.q);
	}
	if (rs.n && (has_prev || has_next)) {
		html_raw(&h, "<nav class=\"pager\" aria-label=\"Pages\"><span>");
		if (has_prev) {
			list_href(&href, &la, la.sort, "before", rs.cursor[0]);
			html_addf(&h, "<a rel=\"prev\" href=\"%s\">← Previous</a>", buf_str(&href));
		}
		html_raw(&h, "</span><span>");
		if (has_next) {
			list_href(&href, &la, la.sort, "cursor", rs.cursor[rs.n - 1]);
			html_addf(&h, "<a rel=\"next\" href=\"%s\">Next →</a>", buf_str(&href));
		}
		html_raw(&h, "</span></nav>\n");
	}
	html_page_end(&h);
	buf_free(&href);
	rows_free(&rs);
	api_page_send(r, 200, &h);
}

/* ---- one cluster ---- */

/* The names of the "generate": "secret" variables of the cluster's profiles
 * (new reference, an object used as a set). */
static json_t *secret_var_names(const struct app *a, const struct cluster *c)
{
	json_t *set = json_object();
	json_t *all = profile_set_describe(a->profiles);
	size_t i, j, k;
	json_t *p, *want, *v;
	json_array_foreach (json_object_get(all, "profiles"), i, p) {
		bool chosen = false;
		json_array_foreach (c->profiles, k, want) {
			chosen = chosen || json_equal(want, json_object_get(p, "name"));
		}
		if (!chosen)
			continue;
		json_array_foreach (json_object_get(p, "variables"), j, v) {
			const char *g = json_string_value(json_object_get(v, "generate"));
			const char *n = json_string_value(json_object_get(v, "name"));
			if (g && n && !strcmp(g, "secret"))
				json_object_set_new(set, n, json_true());
		}
	}
	json_decref(all);
	const char *key;
	json_object_foreach (c->secrets, key, v) {
		json_object_set_new(set, key, json_true());
	}
	return set;
}

/* A pretty-printed copy of compact JSON text (malloc'd), or NULL. */
static char *pretty(const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return s;
}

/* Appends a <pre> with a copy button and its live status line. */
static void copy_block(struct html *h, const char *id, const char *heading, const char *text)
{
	html_addf(
	        h,
	        "<div class=\"copyrow\"><h3 id=\"%s-h\">%s</h3>"
	        "<button type=\"button\" class=\"copy\" data-copy=\"%s\" aria-describedby=\"%s-h\" "
	        "hidden>Copy</button></div>\n"
	        "<pre id=\"%s\" tabindex=\"0\" aria-labelledby=\"%s-h\">%s</pre>"
	        "<p id=\"%s-status\" role=\"status\" class=\"copied\"></p>\n",
	        id, heading, id, id, id, id, text, id);
}

/* What a fetch's status means, for people. */
static const char *fetch_result(int status)
{
	static const struct {
		int status;
		const char *text;
	} results[] = {
	        {200, "served"},          {304, "not modified"},
	        {401, "no fetch token"},  {403, "wrong token"},
	        {404, "no such cluster"}, {406, "version not supported"},
	        {500, "server error"},    {503, "unavailable, retried"},
	};
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		if (results[i].status == status)
			return results[i].text;
	return status >= 500 ? "server error" : status >= 400 ? "refused" : "";
}

static void fetch_row(const struct store_fetch *f, void *arg)
{
	struct html *h = arg;
	char ign[32];
	html_ignition_version(f->user_agent, ign, sizeof(ign));
	html_raw(h, "<tr><td data-label=\"Time\">");
	api_page_time(h, f->at);
	html_addf(h,
	          "</td><td data-label=\"Client\"><code>%s</code></td>"
	          "<td data-label=\"Ignition\" title=\"%s\">%s</td>"
	          "<td data-label=\"Spec served\">%s</td>"
	          "<td data-label=\"Result\" class=\"%s\">%d %s</td></tr>\n",
	          f->client, f->user_agent ? f->user_agent : "", ign[0] ? ign : "—",
	          f->version && f->version[0] ? f->version : "—",
	          f->status < 400 ? "status-ok" : "status-bad", f->status, fetch_result(f->status));
}

/* The overview list of fields. */
static void overview(struct html *h, const struct cluster *c, const json_t *j)
{
	html_raw(h, "<section id=\"overview\" aria-labelledby=\"overview-h\"><h2 "
	            "id=\"overview-h\">Overview</h2>\n"
	            "<dl class=\"fields\">\n");
	html_addf(h, "<dt>Name</dt><dd>%s</dd>\n<dt>ID</dt><dd><code>%s</code></dd>\n", c->name,
	          c->id);
	html_addf(h, "<dt>Size</dt><dd>%d (the etcd discovery size; fixed)</dd>\n", c->size);
	html_raw(h, "<dt>Profiles</dt><dd>");
	size_t i;
	json_t *p;
	json_array_foreach (c->profiles, i, p) {
		html_addf(h, "<span class=\"tag\">%s</span>", json_string_value(p));
	}
	html_addf(h,
	          "</dd>\n<dt>Members</dt><dd><span class=\"members\">"
	          "<progress value=\"%d\" max=\"%d\" aria-label=\"%d of %d members registered\">"
	          "%d of %d</progress> %d of %d registered</span></dd>\n",
	          c->members, c->size, c->members, c->size, c->members, c->size, c->members,
	          c->size);
	html_addf(h, "<dt>Config fetches</dt><dd>%lld", (long long)c->fetch_count);
	if (c->last_fetch_at) {
		html_raw(h, ", last ");
		api_page_time(h, c->last_fetch_at);
	}
	html_addf(h,
	          "</dd>\n<dt>Ignition spec</dt><dd>%s (default; nodes may ask for another)</dd>\n"
	          "<dt>Discovery</dt><dd>%s</dd>\n<dt>Discovery URL</dt>"
	          "<dd><code class=\"wrap\" id=\"discovery-url\">%s</code></dd>\n"
	          "<dt>Ignition URL</dt><dd><code class=\"wrap\">%s</code></dd>\n"
	          "<dt>Userdata URL</dt><dd><code class=\"wrap\">%s</code></dd>\n"
	          "<dt>Generation</dt><dd>%lld</dd>\n<dt>Created</dt><dd>",
	          c->ignition_version, c->discovery_mode, c->discovery_url,
	          json_string_value(json_object_get(j, "ignition_url")),
	          json_string_value(json_object_get(j, "userdata_url")), (long long)c->generation);
	api_page_time(h, c->created_at);
	html_raw(h, "</dd>\n<dt>Updated</dt><dd>");
	api_page_time(h, c->updated_at);
	html_raw(h, "</dd>\n");
	int64_t until;
	int grace = cluster_grace_tokens(c, store_now_ms(), &until);
	if (grace) {
		html_addf(h, "<dt>Rotated tokens</dt><dd>%d previous fetch token%s still work%s, ",
		          grace, grace == 1 ? "" : "s", grace == 1 ? "s" : "");
		html_raw(h, grace == 1 ? "until " : "the last until ");
		api_page_time(h, until);
		html_raw(h, "</dd>\n");
	}
	html_raw(h, "</dl></section>\n");
}

/* The pointer config: hidden until revealed, since it holds the fetch token. */
static void pointer_section(struct html *h, const struct cluster *c, const json_t *j, bool reveal)
{
	html_raw(h, "<section id=\"pointer\" aria-labelledby=\"pointer-h\">"
	            "<h2 id=\"pointer-h\">Pointer config (userdata)</h2>\n"
	            "<p class=\"hint\">Paste this as the machine's user data (EC2: the base64 "
	            "form, or base64encode() in Terraform). Ignition then fetches the full config "
	            "from kindling.</p>\n");
	if (!reveal) {
		html_addf(h,
		          "<p class=\"notice\">The pointer config holds the cluster's fetch token, "
		          "so it is hidden. <a href=\"/clusters/%s?reveal=1#pointer\" "
		          "id=\"reveal-pointer\">Reveal the pointer and secrets</a></p>\n",
		          c->name);
		html_raw(h, "</section>\n");
		return;
	}
	const json_t *ptr = json_object_get(j, "pointer");
	char *text =
	        json_is_object(ptr) ? json_dumps(ptr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	char *compact =
	        json_is_object(ptr) ? json_dumps(ptr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	size_t b64_len;
	char *b64 = compact ? digest_base64(compact, strlen(compact), &b64_len) : NULL;
	if (!text || !b64) {
		html_raw(h, "<p class=\"notice\">The pointer config could not be built; see the "
		            "server log.</p>\n");
	} else {
		html_addf(h,
		          "<p class=\"notice\">Shown because you asked: it holds the fetch token. "
		          "<a href=\"/clusters/%s\">Hide</a></p>\n",
		          c->name);
		copy_block(h, "pointer-json", "JSON", text);
		copy_block(h, "pointer-base64", "Base64", b64);
	}
	free(b64);
	free(compact);
	free(text);
	html_raw(h, "</section>\n");
}

/* The State cell of a member row (view.c's states), and the Peer URLs cell's start. */
static void member_state_cell(struct html *h, const json_t *m)
{
	const char *state = json_string_value(json_object_get(m, "state"));
	const char *replaces = json_string_value(json_object_get(m, "replaces"));
	const char *removed_by = json_string_value(json_object_get(m, "removed_by"));
	state = state ? state : "";
	html_addf(h, "<td data-label=\"State\" class=\"member-state\" data-state=\"%s\">%s", state,
	          state);
	if (replaces && !removed_by)
		html_addf(h, " of <code>%s</code>", replaces);
	if (removed_by)
		html_addf(h, " (replaced by <code>%s</code>)", removed_by);
	html_raw(h, "</td><td data-label=\"Peer URLs\" class=\"wrap\">");
}

static void members_section(struct html *h, const struct cluster *c, const json_t *j)
{
	const json_t *list = json_object_get(json_object_get(j, "members"), "list");
	html_addf(h,
	          "<section id=\"members\" aria-labelledby=\"members-h\">"
	          "<h2 id=\"members-h\">Registered members (%d of %d)</h2>\n",
	          c->members, c->size);
	if (!json_array_size(list)) {
		html_raw(h, "<p class=\"muted\">No etcd member has registered in discovery yet.</p>"
		            "</section>\n");
		return;
	}
	html_raw(h, "<div class=\"table-wrap\"><table class=\"cards\"><thead><tr>"
	            "<th scope=\"col\">ID</th><th scope=\"col\">Name</th>"
	            "<th scope=\"col\">State</th>"
	            "<th scope=\"col\">Peer URLs</th><th scope=\"col\">Registered</th>"
	            "</tr></thead><tbody>\n");
	size_t i, k;
	json_t *m, *u;
	json_array_foreach (list, i, m) {
		html_addf(h,
		          "<tr><td data-label=\"ID\"><code>%s</code></td><td "
		          "data-label=\"Name\">%s</td>",
		          json_string_value(json_object_get(m, "id")),
		          json_string_value(json_object_get(m, "name")));
		member_state_cell(h, m);
		json_array_foreach (json_object_get(m, "peer_urls"), k, u) {
			if (k)
				html_raw(h, "<br>");
			html_addf(h, "<code>%s</code>", json_string_value(u));
		}
		html_raw(h, "</td><td data-label=\"Registered\">");
		const char *t = json_string_value(json_object_get(m, "registered_at"));
		api_page_time_str(h, t ? t : "");
		html_raw(h, "</td></tr>\n");
	}
	html_raw(h, "</tbody></table></div></section>\n");
}

/* When a node's step happened, or a dash. */
static void node_time(struct html *h, const char *label, int64_t ms)
{
	html_addf(h, "<td data-label=\"%s\">", label);
	if (ms)
		api_page_time(h, ms);
	else
		html_raw(h, "—");
	html_raw(h, "</td>");
}

/* A failed unit of a report and its journal lines (node-supplied: escaped). */
static void failed_unit(struct html *h, const json_t *u)
{
	const json_t *lines = json_object_get(u, "journal");
	html_addf(h,
	          "<details class=\"unit\"><summary><code>%s</code> (%zu journal lines)</summary>",
	          json_string_value(json_object_get(u, "unit")), json_array_size(lines));
	html_raw(h, "<pre class=\"journal\">");
	size_t i;
	const json_t *l;
	json_array_foreach (lines, i, l) {
		html_addf(h, "%s\n", json_string_value(l));
	}
	html_raw(h, "</pre></details>");
}

/* The nodes: the boot timeline and one row per node (fetched -> registered
 * -> reported). Everything a node reported is untrusted text. */
static void nodes_section(struct html *h, const struct app *a, const struct cluster *c)
{
	struct view_nodes ns;
	enum kerr e = view_nodes_get(a, c, &ns);
	html_addf(h,
	          "<section id=\"nodes\" aria-labelledby=\"nodes-h\">"
	          "<h2 id=\"nodes-h\">Nodes (%d healthy, %d failed)</h2>\n",
	          ns.healthy, ns.failed);
	if (e != K_OK) {
		html_raw(h, "<p class=\"notice\">The nodes could not be read.</p></section>\n");
		view_nodes_clear(&ns);
		return;
	}
	if (!ns.n) {
		html_raw(h, "<p class=\"muted\">No node has fetched its config, registered or "
		            "reported yet.</p></section>\n");
		view_nodes_clear(&ns);
		return;
	}
	struct timeline_lane lanes[VIEW_NODES_MAX];
	for (size_t i = 0; i < ns.n; i++)
		lanes[i] = (struct timeline_lane){ns.v[i].name, ns.v[i].fetched_at,
		                                  ns.v[i].registered_at, ns.v[i].reported_at,
		                                  ns.v[i].failed};
	html_raw(h, "<figure class=\"timeline-wrap\"><div class=\"table-wrap\">");
	timeline_svg(h, lanes, ns.n);
	html_raw(h, "</div><figcaption class=\"legend\"><span class=\"key-fetch\">●</span> config "
	            "fetched <span class=\"key-register\">■</span> registered in discovery "
	            "<span class=\"key-healthy\">▲</span> reported healthy "
	            "<span class=\"key-failed\">▲</span> reported failed units</figcaption>"
	            "</figure>\n");
	html_raw(h,
	         "<div class=\"table-wrap\"><table class=\"cards\" id=\"nodes-table\"><thead><tr>"
	         "<th scope=\"col\">Node</th><th scope=\"col\">State</th>"
	         "<th scope=\"col\">Fetched</th><th scope=\"col\">Registered</th>"
	         "<th scope=\"col\">Reported</th><th scope=\"col\">Report</th>"
	         "</tr></thead><tbody>\n");
	for (size_t i = 0; i < ns.n; i++) {
		const struct view_node *v = &ns.v[i];
		const json_t *rep = json_object_get(v->json, "report");
		const char *state = json_string_value(json_object_get(v->json, "state"));
		html_addf(h, "<tr class=\"node-%s\"><th scope=\"row\" data-label=\"Node\">%s",
		          state, v->name);
		size_t k;
		const json_t *ad;
		json_array_foreach (json_object_get(v->json, "addresses"), k, ad) {
			html_raw(h, k ? " " : "<br>");
			html_addf(h, "<code>%s</code>", json_string_value(ad));
		}
		html_addf(h, "</th><td data-label=\"State\" class=\"%s\">%s</td>",
		          !strcmp(state, "failed")    ? "status-bad"
		          : !strcmp(state, "healthy") ? "status-ok"
		                                      : "",
		          state);
		node_time(h, "Fetched", v->fetched_at);
		node_time(h, "Registered", v->registered_at);
		node_time(h, "Reported", v->reported_at);
		html_raw(h, "<td data-label=\"Report\">");
		if (rep) {
			const char *ign = json_string_value(json_object_get(rep, "ignition"));
			html_addf(h, "Ignition: %s", ign ? ign : "—");
			const char *sk;
			const json_t *sv;
			json_object_foreach ((json_t *)json_object_get(rep, "services"), sk, sv) {
				html_addf(h, " · %s: %s", sk, json_string_value(sv));
			}
			const char *trigger = json_string_value(json_object_get(rep, "trigger"));
			if (trigger)
				html_addf(h, "<br><span class=\"muted\">sent on %s</span>",
				          trigger);
			json_array_foreach (json_object_get(rep, "failed_units"), k, ad) {
				failed_unit(h, ad);
			}
		} else {
			html_raw(h, "<span class=\"muted\">no report</span>");
		}
		html_raw(h, "</td></tr>\n");
	}
	html_raw(h, "</tbody></table></div></section>\n");
	view_nodes_clear(&ns);
}

static void fetches_section(struct html *h, const struct app *a, const struct cluster *c)
{
	html_addf(h,
	          "<section id=\"fetches\" aria-labelledby=\"fetches-h\">"
	          "<h2 id=\"fetches-h\">Recent config fetches</h2>\n"
	          "<p class=\"hint\">%lld in all; the newest %d are kept.</p>\n",
	          (long long)c->fetch_count, a->cfg->fetch_log_size);
	struct html rows;
	html_init(&rows, PAGE_MAX / 4);
	enum kerr e = store_fetches_list(a->store, c->id, a->cfg->fetch_log_size, fetch_row, &rows);
	if (e != K_OK || rows.err != K_OK) {
		html_raw(h, "<p class=\"notice\">The fetch log could not be read.</p>\n");
	} else if (!rows.buf.len) {
		html_raw(h, "<p class=\"muted\">No node has fetched its config yet.</p>\n");
	} else {
		html_raw(h, "<div class=\"table-wrap\"><table class=\"cards\"><thead><tr>"
		            "<th scope=\"col\">Time</th><th scope=\"col\">Client</th>"
		            "<th scope=\"col\">Ignition</th><th scope=\"col\">Spec served</th>"
		            "<th scope=\"col\">Result</th></tr></thead><tbody>\n");
		html_raw(h, buf_str(&rows.buf));
		html_raw(h, "</tbody></table></div>\n");
	}
	html_free(&rows);
	html_raw(h, "</section>\n");
}

/* Variables and generated secrets; secret values only when revealed. */
static void vars_section(struct html *h, const struct cluster *c, const json_t *secret_names,
                         bool reveal)
{
	html_raw(h, "<section id=\"vars\" aria-labelledby=\"vars-h\">"
	            "<h2 id=\"vars-h\">Variables</h2>\n");
	if (!json_object_size(c->vars)) {
		html_raw(h, "<p class=\"muted\">None set; the profiles' defaults apply.</p>\n");
	} else {
		html_raw(h, "<dl class=\"fields\" id=\"vars-list\">\n");
		const char *key;
		json_t *v;
		json_object_foreach (c->vars, key, v) {
			bool hide = !reveal && json_object_get(secret_names, key);
			html_addf(h, "<dt>%s</dt><dd><code class=\"wrap\">%s</code></dd>\n", key,
			          hide ? "(hidden: a secret)" : json_string_value(v));
		}
		html_raw(h, "</dl>\n");
	}
	html_raw(h, "</section>\n<section id=\"secrets\" aria-labelledby=\"secrets-h\">"
	            "<h2 id=\"secrets-h\">Generated secrets</h2>\n");
	if (!json_object_size(c->secrets)) {
		html_raw(h, "<p class=\"muted\">This cluster's profiles generate no secret.</p>\n");
	} else {
		if (reveal)
			html_addf(h,
			          "<p class=\"notice\">Secret values are shown because you asked. "
			          "<a href=\"/clusters/%s#secrets\">Hide</a></p>\n",
			          c->name);
		else
			html_addf(h,
			          "<p class=\"hint\">Made once at creation and stored. "
			          "<a href=\"/clusters/%s?reveal=1#secrets\" id=\"reveal-secrets\">"
			          "Reveal the values</a> (and the pointer config).</p>\n",
			          c->name);
		html_raw(h, "<dl class=\"fields\" id=\"secrets-list\">\n");
		const char *key;
		json_t *v;
		json_object_foreach (c->secrets, key, v) {
			html_addf(h, "<dt>%s</dt><dd><code class=\"wrap\">%s</code></dd>\n", key,
			          reveal ? json_string_value(v) : "••••••••");
		}
		html_raw(h, "</dl>\n");
	}
	html_raw(h, "</section>\n");
}

/* The rendered config for one version, with the version selector. */
static void config_section(struct html *h, const struct app *a, const struct cluster *c,
                           const json_t *secret_names, const char *asked, bool reveal)
{
	const char *version = c->ignition_version;
	bool unknown = asked && *asked && !render_version_known(asked);
	if (asked && *asked && !unknown)
		version = asked;
	html_addf(h,
	          "<section id=\"config\" aria-labelledby=\"config-h\">"
	          "<h2 id=\"config-h\">Rendered config</h2>\n"
	          "<form class=\"inline\" method=\"get\" action=\"/clusters/%s#config\">\n"
	          "<div><label for=\"version\">Ignition spec version</label>"
	          "<select id=\"version\" name=\"version\">\n",
	          c->name);
	for (const char *const *v = render_versions; *v; v++)
		html_addf(h, "<option value=\"%s\"%s>%s%s</option>\n", *v,
		          !strcmp(*v, version) ? " selected" : "", *v,
		          !strcmp(*v, c->ignition_version) ? " (cluster default)" : "");
	html_raw(h, "</select></div>\n");
	if (reveal)
		html_raw(h, "<input type=\"hidden\" name=\"reveal\" value=\"1\">\n");
	html_raw(h, "<button type=\"submit\">Show</button></form>\n");
	if (unknown)
		html_addf(h,
		          "<p class=\"notice\">kindling does not render spec version “%s”; showing "
		          "%s.</p>\n",
		          asked, version);
	json_t *vars = reveal ? json_incref(c->vars) : generations_masked(c->vars, secret_names);
	json_t *secrets =
	        reveal ? json_incref(c->secrets) : generations_masked(c->secrets, secret_names);
	struct render_cluster rc = view_render_input(a, c);
	rc.vars = vars;
	rc.secrets = secrets;
	char *body = NULL, *text = NULL;
	size_t len = 0;
	struct profile_set *ps = NULL;
	enum kerr e = vars && secrets ? view_profile_set(a, c, &ps) : K_ENOMEM;
	if (e == K_OK)
		e = render_config(ps, &rc, version, &body, &len);
	if (e == K_OK)
		text = pretty(body, len);
	if (e == K_ENOTACCEPT) { /* the profiles hold what this spec cannot express */
		json_t *why = json_array();
		size_t i;
		json_t *w;
		render_check(ps, c->profiles, version, "version", why);
		html_addf(h,
		          "<p class=\"notice\">Spec %s cannot express this cluster's "
		          "config:</p>\n<ul>\n",
		          version);
		json_array_foreach (why, i, w) {
			html_addf(h, "<li>%s</li>\n",
			          json_string_value(json_object_get(w, "message")));
		}
		html_raw(h, "</ul>\n");
		json_decref(why);
	} else if (!text) {
		html_addf(h, "<p class=\"notice\">The config could not be rendered: %s.</p>\n",
		          kerr_str(e == K_OK ? K_ENOMEM : e));
	} else {
		if (!reveal && json_object_size(secret_names))
			html_addf(h,
			          "<p class=\"hint\">What <code>GET "
			          "/clusters/%s/ignition?version=%s</code> "
			          "serves, pretty-printed, with secret values replaced by "
			          "<code>%s</code>: "
			          "<a "
			          "href=\"/clusters/%s?reveal=1&amp;version=%s#config\">reveal</a> "
			          "to see exactly what a node receives.</p>\n",
			          c->name, version, GENERATIONS_MASKED, c->name, version);
		else
			html_addf(h,
			          "<p class=\"hint\">What <code>GET "
			          "/clusters/%s/ignition?version=%s</code> "
			          "serves, pretty-printed (%zu bytes as served).</p>\n",
			          c->name, version, len);
		copy_block(h, "config-json", "Config", text);
	}
	free(text);
	free(body);
	profile_set_free(&ps);
	json_decref(secrets);
	json_decref(vars);
	html_raw(h, "</section>\n");
}

/* "vars rabbitmq_image", "profiles etcd", "rollback to 1", "created". */
static void change_text(struct html *h, const json_t *change)
{
	const char *kind = json_string_value(json_object_get(change, "kind"));
	const json_t *vars = json_object_get(change, "vars");
	size_t i;
	json_t *v;
	if (!kind)
		kind = "?";
	if (!strcmp(kind, "rollback"))
		html_addf(h, "rollback to generation %lld",
		          (long long)json_integer_value(json_object_get(change, "to")));
	else if (!strcmp(kind, "profiles"))
		html_raw(h, "adopted profile files");
	else if (!strcmp(kind, "snapshot"))
		html_raw(h, "snapshot of the profiles at upgrade");
	else if (!strcmp(kind, "vars"))
		html_raw(h, "vars");
	else
		html_text(h, kind);
	json_array_foreach (json_object_get(change, "profiles"), i, v) {
		html_addf(h, "%s%s", i ? ", " : ": ",
		          json_string_value(json_object_get(v, "profile")));
	}
	json_array_foreach (vars, i, v) {
		html_addf(h, "%s<code>%s</code>",
		          i ? ", " : (!strcmp(kind, "vars") ? ": " : "; vars "),
		          json_string_value(v));
	}
}

/* "3 nodes on 5, 2 on 4" from {generation: n}, newest generation first. */
static void nodes_text(struct html *h, const json_t *by_gen, const json_t *gens)
{
	size_t i, shown = 0;
	json_t *g;
	json_array_foreach (gens, i, g) {
		char key[24];
		snprintf(key, sizeof(key), "%lld",
		         (long long)json_integer_value(json_object_get(g, "generation")));
		json_int_t n = json_integer_value(json_object_get(by_gen, key));
		if (!n)
			continue;
		/* "3 nodes on 5, 2 on 4" */
		html_addf(h, "%s%lld%s on %s", shown ? ", " : "", (long long)n,
		          shown ? "" : (n == 1 ? " node" : " nodes"), key);
		shown++;
	}
	if (!shown)
		html_raw(h, "none yet (no node has fetched a config)");
}

/* Generations: profile changes to adopt, nodes per generation, the
 * history with diffs, the rollback form (api_page_generations.c takes it). */
static void generations_section(struct html *h, const struct app *a, const struct cluster *c)
{
	enum kerr e;
	json_t *list = generations_list_json(a, c, &e);
	json_t *changes =
	        snapshots_changes(a->snapshots, c->profiles, c->profile_versions, c->generation);
	html_addf(h,
	          "<section id=\"generations\" aria-labelledby=\"generations-h\">"
	          "<h2 id=\"generations-h\">Generations</h2>\n"
	          "<p>Nodes are served generation <strong>%lld</strong>: the profile files, "
	          "variables and secrets stored when it was made, whatever the template "
	          "folders hold now.</p>\n",
	          (long long)c->generation);
	if (json_array_size(changes)) {
		size_t i;
		json_t *ch;
		html_raw(h, "<div class=\"notice\" id=\"profile-changes\"><ul>\n");
		json_array_foreach (changes, i, ch) {
			html_addf(h, "<li>%s</li>\n",
			          json_string_value(json_object_get(ch, "message")));
		}
		html_addf(h,
		          "</ul><p><a href=\"/clusters/%s/diff?from=%lld&amp;to=profiles\" "
		          "id=\"pending-diff\">See what would change</a></p>\n"
		          "<form class=\"inline\" method=\"post\" action=\"/clusters/%s/adopt\">"
		          "<button type=\"submit\" id=\"adopt\">Adopt the profile files as "
		          "generation "
		          "%lld</button></form></div>\n",
		          c->name, (long long)c->generation, c->name, (long long)c->generation + 1);
	}
	if (!list) {
		html_raw(h, "<p class=\"notice\">The history could not be read; see the server "
		            "log.</p></section>\n");
		json_decref(changes);
		return;
	}
	const json_t *gens = json_object_get(list, "generations");
	html_raw(h, "<p id=\"nodes-by-generation\">Nodes per generation: ");
	nodes_text(h, json_object_get(list, "nodes_by_generation"), gens);
	html_addf(h, " (from the fetch log).</p>\n"
	             "<div class=\"table-wrap\"><table id=\"generations-table\" class=\"cards\">"
	             "<thead><tr><th scope=\"col\">Generation</th><th scope=\"col\">Made</th>"
	             "<th scope=\"col\">What changed</th><th scope=\"col\">Fetches</th>"
	             "<th scope=\"col\">Nodes</th><th scope=\"col\">Diff</th></tr></thead>"
	             "<tbody>\n");
	size_t i;
	json_t *g;
	json_array_foreach (gens, i, g) {
		long long n = (long long)json_integer_value(json_object_get(g, "generation"));
		html_addf(h,
		          "<tr id=\"generation-%lld\"><td data-label=\"Generation\">%lld%s</td><td "
		          "data-label=\"Made\">",
		          n, n, json_is_true(json_object_get(g, "current")) ? " (current)" : "");
		api_page_time(h, json_integer_value(json_object_get(g, "created_at")));
		html_raw(h, "</td><td data-label=\"What changed\">");
		change_text(h, json_object_get(g, "change"));
		html_addf(h,
		          "</td><td data-label=\"Fetches\">%lld</td><td "
		          "data-label=\"Nodes\">%lld</td><td data-label=\"Diff\">",
		          (long long)json_integer_value(json_object_get(g, "fetches")),
		          (long long)json_integer_value(json_object_get(g, "nodes")));
		if (n > 1)
			html_addf(
			        h,
			        "<a href=\"/clusters/%s/diff?from=%lld&amp;to=%lld\">with %lld</a>",
			        c->name, n - 1, n, n - 1);
		html_raw(h, "</td></tr>\n");
	}
	html_addf(h,
	          "</tbody></table></div>\n<p class=\"hint\">The newest %d generations are kept "
	          "(--keep-generations); older ones can no longer be rolled back to.</p>\n",
	          a->cfg->keep_generations);
	if (json_array_size(gens) > 1)
		html_addf(h,
		          "<form class=\"inline\" method=\"post\" action=\"/clusters/%s/rollback\" "
		          "id=\"rollback-form\">\n"
		          "<div><label for=\"rollback-generation\">Roll back to generation</label>"
		          "<input type=\"number\" id=\"rollback-generation\" name=\"generation\" "
		          "min=\"1\" max=\"%lld\" required></div>\n"
		          "<div><label for=\"rollback-confirm\">Type the name, <code>%s</code>, to "
		          "confirm</label><input type=\"text\" id=\"rollback-confirm\" "
		          "name=\"confirm\" required autocomplete=\"off\" spellcheck=\"false\" "
		          "autocapitalize=\"none\"></div>\n"
		          "<button type=\"submit\" class=\"danger\">Roll back</button>\n"
		          "<p class=\"hint\">A rollback makes generation %lld with that "
		          "generation's inputs; the history stays.</p></form>\n",
		          c->name, (long long)c->generation - 1, c->name,
		          (long long)c->generation + 1);
	html_raw(h, "</section>\n");
	json_decref(changes);
	json_decref(list);
}

static void delete_section(struct html *h, const struct cluster *c)
{
	html_addf(h,
	          "<section id=\"delete\" class=\"danger-zone\" aria-labelledby=\"delete-h\">"
	          "<h2 id=\"delete-h\">Delete this cluster</h2>\n"
	          "<p>Deleting removes the cluster, its discovery registrations and its fetch "
	          "log. Nodes that have not booted yet can no longer fetch their config. This "
	          "cannot be undone.</p>\n"
	          "<form class=\"inline\" method=\"post\" action=\"/clusters/%s/delete\">\n"
	          "<div><label for=\"confirm\">Type the name, <code>%s</code>, to confirm</label>"
	          "<input type=\"text\" id=\"confirm\" name=\"confirm\" required "
	          "autocomplete=\"off\" spellcheck=\"false\" autocapitalize=\"none\"></div>\n"
	          "<button type=\"submit\" class=\"danger\">Delete cluster</button>\n"
	          "</form></section>\n",
	          c->name, c->name);
}

void api_page_cluster(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	const char *rv = req_query(r, "reveal");
	bool reveal = rv && (!strcmp(rv, "1") || !strcmp(rv, "true"));
	struct cluster c;
	enum kerr e = view_cluster_get(a, name, &c);
	if (e == K_ENOTFOUND) {
		char msg[160];
		snprintf(msg, sizeof(msg), "There is no cluster named “%.63s”.", name);
		api_page_error(r, 404, "No such cluster", msg, "/");
		return;
	}
	if (e != K_OK) {
		api_page_error(r, 500, "The database failed",
		               "kindling could not read the cluster; see the server log.", "/");
		return;
	}
	json_t *j = view_cluster_json(a, &c, true);
	json_t *secret_names = secret_var_names(a, &c);
	/* the nodes' boot reports, when there are any: " · 2 healthy, 1 failed" */
	const json_t *health = json_object_get(j, "health");
	char reported[64] = "";
	int healthy = (int)json_integer_value(json_object_get(health, "healthy"));
	int failed = (int)json_integer_value(json_object_get(health, "failed"));
	if (healthy || failed)
		snprintf(reported, sizeof(reported), " · %d healthy, %d failed", healthy, failed);
	struct html h;
	html_init(&h, PAGE_MAX);
	html_page_begin(&h, c.name);
	html_addf(
	        &h,
	        "<p class=\"crumbs\"><a href=\"/\">Clusters</a> /</p>\n<h1>%s</h1>\n"
	        "<p class=\"muted\" id=\"summary\">%d of %d members registered · %lld "
	        "config fetches%s · "
	        "<a href=\"#pointer\">pointer</a> · <a href=\"#generations\">generation %lld</a> · "
	        "<a href=\"#config\">config</a> · "
	        "<a href=\"#delete\">delete</a></p>\n"
	        /* kindling.js follows the events and shows this; without it: reload */
	        "<p id=\"live\" class=\"live\" role=\"status\" hidden "
	        "data-events=\"/clusters/%s/events\"></p>\n",
	        c.name, c.members, c.size, (long long)c.fetch_count, reported,
	        (long long)c.generation, c.name);
	if (!j || !secret_names) {
		h.err = K_ENOMEM;
	} else {
		overview(&h, &c, j);
		pointer_section(&h, &c, j, reveal);
		members_section(&h, &c, j);
		nodes_section(&h, a, &c);
		fetches_section(&h, a, &c);
		vars_section(&h, &c, secret_names, reveal);
		generations_section(&h, a, &c);
		config_section(&h, a, &c, secret_names, req_query(r, "version"), reveal);
		delete_section(&h, &c);
	}
	html_page_end(&h);
	json_decref(secret_names);
	json_decref(j);
	cluster_clear(&c);
	api_page_send(r, 200, &h);
}

/* ---- delete by form ---- */

static void page_deleted(struct req *r);

/* POST /clusters/{name}/delete. Only from kindling's own pages: http.c's
 * cross-site check (ROUTE_STATE_CHANGE | ROUTE_FORM) ran before. */
void api_page_delete(struct req *r)
{
	const char *name = req_param(r, "name");
	char back[128];
	snprintf(back, sizeof(back), "/clusters/%s#delete",
	         name_valid(name, strlen(name)) ? name : "");
	const char *ct = req_header(r, "Content-Type");
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		api_page_error(r, 415, "Unsupported form",
		               "Send the delete form as application/x-www-form-urlencoded.", back);
		return;
	}
	size_t len;
	const char *body = req_body(r, &len);
	char confirm[CONFIRM_MAX];
	if (!form_get(body, len, "confirm", confirm, sizeof(confirm)) ||
	    strcmp(confirm, name) != 0) {
		api_page_error(r, 422, "Not deleted",
		               "To delete the cluster, type its name exactly into the confirmation "
		               "field.",
		               back);
		return;
	}
	struct api_call *call = api_call_start(r, page_deleted);
	if (call)
		service_delete(req_app(r), name, &call->rep, api_call_done, call);
}

/* Resumed after the delete's commit. */
static void page_deleted(struct req *r)
{
	struct api_call *call = req_data(r);
	enum kerr e = call->rep.err;
	char back[128];
	snprintf(back, sizeof(back), "/clusters/%s", call->rep.name);
	if (e == K_ENOTFOUND) {
		api_page_error(r, 404, "No such cluster", "The cluster does not exist (any more).",
		               "/");
		return;
	}
	if (e == K_EUNAVAIL) {
		reply_header(r, "Retry-After", "1");
		api_page_error(r, 503, "Busy",
		               "The database is busy or kindling is stopping; the cluster was not "
		               "deleted. Try again.",
		               back);
		return;
	}
	if (e != K_OK) {
		api_page_error(r, 500, "The database failed",
		               "The cluster was not deleted; the server log says why.", back);
		return;
	}
	static const char see_other[] = "<!doctype html><html lang=\"en\"><title>Deleted</title>"
	                                "<p>Deleted. <a href=\"/\">Back to the clusters</a></p>"
	                                "</html>\n";
	reply_header(r, "Location", "/");
	reply_header(r, "Content-Security-Policy", api_page_csp);
	reply_header(r, "Referrer-Policy", "same-origin");
	reply_static(r, 303, "text/html; charset=utf-8", see_other, sizeof(see_other) - 1);
}

/* ---- static files ---- */

void api_static(struct req *r)
{
	const struct html_static *s = html_static_find(req_param(r, "file"));
	if (!s) {
		reply_error(r, K_ENOTFOUND, "no static file named \"%s\"", req_param(r, "file"));
		return;
	}
	char etag[32];
	snprintf(etag, sizeof(etag), "\"%s\"", s->version);
	const char *v = req_query(r, "v");
	/* A URL with the current version never changes: cache it for a year. */
	reply_header(r, "Cache-Control",
	             v && !strcmp(v, s->version) ? "public, max-age=31536000, immutable"
	                                         : "no-cache");
	reply_header(r, "ETag", etag);
	const char *inm = req_header(r, "If-None-Match");
	if (inm && strstr(inm, etag)) {
		reply_static(r, 304, NULL, "", 0);
		return;
	}
	reply_static(r, 200, s->type, (const char *)s->data, s->len);
}
