/* report.c - node boot reports: validation (report_parse) and the newest
 * report per node, stored and published (struct reports).
 *
 * Everything in a report is the node's word, so untrusted: it is bounded and
 * typed here, control characters are made visible, and every page, JSON
 * answer and picture that shows it escapes it as any other text. */
#include "report.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fields.h"
#include "view.h"

/* The deepest nesting of arrays and objects in body, strings skipped; stops
 * counting past limit. */
static int json_depth(const char *body, size_t len, int limit)
{
	int depth = 0, deepest = 0;
	bool in_string = false;
	for (size_t i = 0; i < len && deepest <= limit; i++) {
		char c = body[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			depth++;
			deepest = depth > deepest ? depth : deepest;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return deepest;
}

/* s (valid UTF-8, from jansson) with each control character but the tab
 * replaced by its Unicode control picture (U+2400 + c; DEL: U+2421), cut to
 * at most max bytes on a character boundary (a picture takes 3 bytes where
 * the character took 1, and what is kept must pass its own limit again): a
 * new string, or NULL on ENOMEM. */
static json_t *visible(const char *s, size_t n, size_t max)
{
	struct buf out;
	enum kerr e = K_OK;
	buf_init(&out, max + 1);
	for (size_t i = 0; i < n && e == K_OK;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (i + len > n)
			len = n - i;
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			unsigned cp = c == 0x7f ? 0x2421 : 0x2400 + c;
			char pic[3] = {(char)(0xe0 | (cp >> 12)), (char)(0x80 | ((cp >> 6) & 0x3f)),
			               (char)(0x80 | (cp & 0x3f))};
			if (out.len + 3 > max)
				break;
			e = buf_add(&out, pic, 3);
		} else {
			if (out.len + len > max)
				break;
			e = buf_add(&out, &s[i], len);
		}
		i += len;
	}
	json_t *j = e == K_OK ? json_stringn(buf_str(&out), out.len) : NULL;
	buf_free(&out);
	return j;
}

/* Whether s[0..n) is made of the bytes in allowed (and ASCII alphanumerics). */
static bool only(const char *s, size_t n, const char *allowed)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (c == '\0' || !strchr(allowed, c)))
			return false;
	}
	return true;
}

/* A string field of 1..max bytes, or NULL with an error. */
static const json_t *text(const json_t *v, json_t *errors, const char *field, size_t max)
{
	if (!json_is_string(v)) {
		field_error(errors, field, "must be a string");
		return NULL;
	}
	size_t n = json_string_length(v);
	if (n == 0 || n > max) {
		field_error(errors, field, "must be 1 to %zu bytes long (it is %zu)", max, n);
		return NULL;
	}
	return v;
}

static bool address_valid(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static void parse_addresses(const json_t *v, json_t *errors, json_t *out)
{
	if (!json_is_array(v) || json_array_size(v) > REPORT_ADDRESSES_MAX) {
		field_error(errors, "addresses", "must be an array of at most %d IP addresses",
		            REPORT_ADDRESSES_MAX);
		return;
	}
	json_t *list = json_array();
	size_t i;
	const json_t *a;
	json_array_foreach (v, i, a) {
		char field[32];
		snprintf(field, sizeof(field), "addresses[%zu]", i);
		if (!text(a, errors, field, 45))
			continue;
		if (!address_valid(json_string_value(a)))
			field_error(errors, field, "must be an IPv4 or IPv6 address (no prefix)");
		else
			json_array_append_new(list, json_string(json_string_value(a)));
	}
	json_object_set_new(out, "addresses", list);
}

static void parse_units(const json_t *v, json_t *errors, json_t *out)
{
	if (!json_is_array(v) || json_array_size(v) > REPORT_UNITS_MAX) {
		field_error(errors, "failed_units",
		            "must be an array of at most %d {unit, journal} objects",
		            REPORT_UNITS_MAX);
		return;
	}
	json_t *list = json_array();
	size_t i;
	const json_t *u;
	json_array_foreach (v, i, u) {
		char field[96];
		snprintf(field, sizeof(field), "failed_units[%zu]", i);
		if (!json_is_object(u)) {
			field_error(errors, field, "must be an object {unit, journal}");
			continue;
		}
		const char *k;
		const json_t *x;
		json_object_foreach ((json_t *)u, k, x) {
			if (strcmp(k, "unit") != 0 && strcmp(k, "journal") != 0) {
				snprintf(field, sizeof(field), "failed_units[%zu].%.24s", i, k);
				field_error(errors, field, "is not a field of a failed unit");
			}
		}
		snprintf(field, sizeof(field), "failed_units[%zu].unit", i);
		const json_t *name = text(json_object_get(u, "unit"), errors, field, 256);
		if (name && !only(json_string_value(name), json_string_length(name), ":_.\\@-"))
			field_error(errors, field, "must be a systemd unit name");
		const json_t *journal = json_object_get(u, "journal");
		json_t *lines = json_array();
		snprintf(field, sizeof(field), "failed_units[%zu].journal", i);
		if (journal &&
		    (!json_is_array(journal) || json_array_size(journal) > REPORT_LINES_MAX)) {
			field_error(errors, field, "must be an array of at most %d strings",
			            REPORT_LINES_MAX);
			journal = NULL;
		}
		size_t l;
		const json_t *line;
		json_array_foreach (journal, l, line) {
			snprintf(field, sizeof(field), "failed_units[%zu].journal[%zu]", i, l);
			if (!json_is_string(line) || json_string_length(line) > REPORT_LINE_MAX)
				field_error(errors, field, "must be a string of at most %d bytes",
				            REPORT_LINE_MAX);
			else
				json_array_append_new(lines, visible(json_string_value(line),
				                                     json_string_length(line),
				                                     REPORT_LINE_MAX));
		}
		if (name)
			json_array_append_new(list,
			                      json_pack("{s:s, s:o}", "unit",
			                                json_string_value(name), "journal", lines));
		else
			json_decref(lines);
	}
	json_object_set_new(out, "failed_units", list);
}

static void parse_services(const json_t *v, json_t *errors, json_t *out)
{
	if (!json_is_object(v) || json_object_size(v) > REPORT_SERVICES_MAX) {
		field_error(errors, "services",
		            "must be an object of at most %d name: state strings",
		            REPORT_SERVICES_MAX);
		return;
	}
	json_t *map = json_object();
	const char *k;
	const json_t *s;
	json_object_foreach ((json_t *)v, k, s) {
		char field[96];
		snprintf(field, sizeof(field), "services.%.32s", k);
		size_t kn = strlen(k);
		if (kn == 0 || kn > 32 || !only(k, kn, "_-")) {
			field_error(errors, field,
			            "a service name must be 1 to 32 of A-Z a-z 0-9 _ -");
			continue;
		}
		if (text(s, errors, field, 128))
			json_object_set_new(
			        map, k, visible(json_string_value(s), json_string_length(s), 128));
	}
	json_object_set_new(out, "services", map);
}

json_t *report_parse(const char *body, size_t len, json_t *errors)
{
	size_t before = json_array_size(errors);
	if (len == 0 || len > REPORT_BODY_MAX) {
		field_error(errors, "body", "must be a JSON object of 1 to %d bytes",
		            REPORT_BODY_MAX);
		return NULL;
	}
	if (json_depth(body, len, REPORT_DEPTH_MAX) > REPORT_DEPTH_MAX) {
		field_error(errors, "body", "nests arrays and objects deeper than %d levels",
		            REPORT_DEPTH_MAX);
		return NULL;
	}
	json_error_t jerr;
	json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(in)) {
		if (in)
			field_error(errors, "body", "must be a JSON object");
		else
			field_error(errors, "body", "is not JSON: %s at byte %d", jerr.text,
			            jerr.position);
		json_decref(in);
		return NULL;
	}
	static const char *const known[] = {"hostname", "boot_id",  "addresses",    "ignition",
	                                    "trigger",  "uptime_s", "failed_units", "services"};
	const char *k;
	json_t *v;
	json_object_foreach (in, k, v) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && !ok; i++)
			ok = !strcmp(k, known[i]);
		if (!ok) {
			char field[48];
			snprintf(field, sizeof(field), "%.40s", k);
			field_error(errors, field, "is not a field of a report");
		}
	}
	json_t *out = json_object();
	const json_t *h = text(json_object_get(in, "hostname"), errors, "hostname", 253);
	if (h && !only(json_string_value(h), json_string_length(h), ".-_"))
		field_error(errors, "hostname", "must be a host name: A-Z a-z 0-9 . - _");
	else if (h)
		json_object_set_new(out, "hostname", json_string(json_string_value(h)));
	const json_t *b = text(json_object_get(in, "boot_id"), errors, "boot_id", 64);
	if (b && !only(json_string_value(b), json_string_length(b), "-"))
		field_error(errors, "boot_id", "must be a boot id: hex digits and -");
	else if (b)
		json_object_set_new(out, "boot_id", json_string(json_string_value(b)));
	v = json_object_get(in, "ignition");
	if (v) {
		const char *s = json_string_value(v);
		if (!s || (strcmp(s, "success") != 0 && strcmp(s, "failure") != 0 &&
		           strcmp(s, "unknown") != 0))
			field_error(errors, "ignition",
			            "must be \"success\", \"failure\" or \"unknown\"");
		else
			json_object_set_new(out, "ignition", json_string(s));
	}
	v = json_object_get(in, "trigger");
	if (v && text(v, errors, "trigger", 300))
		json_object_set_new(out, "trigger",
		                    visible(json_string_value(v), json_string_length(v), 300));
	v = json_object_get(in, "uptime_s");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
		field_error(errors, "uptime_s", "must be a whole number of seconds, 0 or more");
	else if (v)
		json_object_set_new(out, "uptime_s", json_integer(json_integer_value(v)));
	v = json_object_get(in, "addresses");
	if (v)
		parse_addresses(v, errors, out);
	else
		json_object_set_new(out, "addresses", json_array());
	v = json_object_get(in, "failed_units");
	if (v)
		parse_units(v, errors, out);
	else
		json_object_set_new(out, "failed_units", json_array());
	v = json_object_get(in, "services");
	if (v)
		parse_services(v, errors, out);
	else
		json_object_set_new(out, "services", json_object());
	json_decref(in);
	if (json_array_size(errors) > before) {
		json_decref(out);
		return NULL;
	}
	return out;
}

int report_failed_units(const json_t *report)
{
	return (int)json_array_size(json_object_get(report, "failed_units"));
}

struct reports {
	struct store *store;
	struct events *events;
	atomic_ullong received, refused;
};

enum kerr reports_new(struct store *s, struct events *ev, struct reports **out)
{
	struct reports *r = calloc(1, sizeof(*r));
	if (!r)
		return K_ENOMEM;
	r->store = s;
	r->events = ev;
	*out = r;
	return K_OK;
}

void reports_free(struct reports **r)
{
	if (!r)
		return;
	free(*r);
	*r = NULL;
}

enum kerr reports_put(struct reports *r, const struct cluster *c, const json_t *report,
                      const char *client)
{
	int64_t now = store_now_ms();
	char at[32];
	view_time(now, at);
	json_t *kept = json_deep_copy(report);
	if (!kept)
		return K_ENOMEM;
	json_object_set_new(kept, "received_at", json_string(at));
	json_object_set_new(kept, "client", json_string(client ? client : ""));
	char *body = json_dumps(kept, JSON_COMPACT | JSON_PRESERVE_ORDER);
	const char *node = json_string_value(json_object_get(report, "hostname"));
	const char *boot = json_string_value(json_object_get(report, "boot_id"));
	int failed = report_failed_units(report);
	enum kerr e = body ? K_OK : K_ENOMEM;
	if (e == K_OK) {
		struct store_report sr = {node, boot, now, failed, body};
		int keep = c->size * REPORT_KEEP_PER_NODE;
		e = store_report_put(r->store, c->id, &sr, keep);
	}
	if (e == K_OK) {
		atomic_fetch_add(&r->received, 1);
		json_t *units = json_array();
		size_t i;
		const json_t *u;
		json_array_foreach (json_object_get(report, "failed_units"), i, u) {
			json_array_append(units, json_object_get(u, "unit"));
		}
		json_t *data =
		        json_pack("{s:s, s:s, s:s, s:o}", "node", node, "boot_id", boot, "state",
		                  failed ? "failed" : "healthy", "failed_units", units);
		struct event ev = {
		        .kind = EV_NODE_REPORTED,
		        .cluster = c->name,
		        .cluster_id = c->id,
		        .token = c->discovery_token,
		        .at = now,
		        .data = data,
		};
		events_publish(r->events, &ev);
		json_decref(data);
	}
	free(body);
	json_decref(kept);
	return e;
}

void reports_refused(struct reports *r)
{
	atomic_fetch_add(&r->refused, 1);
}

unsigned long long reports_received_total(const struct reports *r)
{
	return atomic_load(&r->received);
}

unsigned long long reports_refused_total(const struct reports *r)
{
	return atomic_load(&r->refused);
}
