/* api_common.c - helpers every handler file uses: bodies, field errors, times. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "api.h"

json_t *api_body_object(struct req *r)
{
	size_t len;
	const char *body = req_body(r, &len);
	if (len == 0) {
		reply_error(r, K_EBADREQ, "the body is empty; send a JSON object");
		return NULL;
	}
	json_error_t err;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		reply_error(r, K_EBADREQ, "invalid JSON at byte %d (line %d, column %d): %s",
		            err.position, err.line, err.column, err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		reply_error(r, K_EBADREQ, "the body must be a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

void api_field_error(json_t *errors, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

void api_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

bool api_valid_name(const char *s, size_t n)
{
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

struct render_cluster api_render_input(const struct app *a, const struct cluster *c)
{
	return (struct render_cluster){
	        .name = c->name,
	        .id = c->id,
	        .size = c->size,
	        .discovery_url = c->discovery_url,
	        .public_url = a->public_url,
	        .profiles = c->profiles,
	        .vars = c->vars,
	        .secrets = c->secrets,
	};
}
