/* test_report.c - node boot reports (report.h): what report_parse accepts,
 * keeps and refuses; and the boot timeline picture (timeline.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "test.h"
#include "timeline.h"

/* Parses s; *errors gets the field errors (new reference). */
static json_t *parse(const char *s, json_t **errors)
{
	*errors = json_array();
	return report_parse(s, strlen(s), *errors);
}

static bool names_field(const json_t *errors, const char *field)
{
	size_t i;
	const json_t *e;
	json_array_foreach (errors, i, e) {
		if (!strcmp(json_string_value(json_object_get(e, "field")), field))
			return true;
	}
	return false;
}

static void keeps_a_valid_report(void)
{
	json_t *errors;
	json_t *r = parse(
	        "{\"hostname\":\"node-1\",\"boot_id\":\"0f1e-2d3c\",\"addresses\":[\"10.0.0.1\","
	        "\"fd00::1\"],\"ignition\":\"success\",\"uptime_s\":9,\"trigger\":\"boot\","
	        "\"services\":{\"etcd\":\"healthy\"},\"failed_units\":[{\"unit\":\"a@b.service\","
	        "\"journal\":[\"x\\u001b[31m\\u0007y\\tz\"]}]}",
	        &errors);
	CHECK(r != NULL);
	CHECK_INT(json_array_size(errors), 0);
	CHECK_STR(json_string_value(json_object_get(r, "hostname")), "node-1");
	CHECK_INT(report_failed_units(r), 1);
	const json_t *line = json_array_get(
	        json_object_get(json_array_get(json_object_get(r, "failed_units"), 0), "journal"),
	        0);
	/* control characters become their pictures; the tab stays */
	CHECK_STR(json_string_value(line), "x\xe2\x90\x9b[31m\xe2\x90\x87y\tz");
	json_decref(r);
	json_decref(errors);
	r = parse("{\"hostname\":\"n\",\"boot_id\":\"1\"}", &errors);
	CHECK(r && json_array_size(json_object_get(r, "failed_units")) == 0 &&
	      json_is_object(json_object_get(r, "services")));
	json_decref(r);
	json_decref(errors);
}

/* a line of control characters grows 3 times as pictures: cut to its limit */
static void cuts_pictures_to_the_limit(void)
{
	char line[REPORT_LINE_MAX + 1];
	memset(line, 0x1b, REPORT_LINE_MAX);
	line[REPORT_LINE_MAX] = '\0';
	json_t *rep = json_pack("{s:s, s:s, s:[{s:s, s:[s]}]}", "hostname", "n", "boot_id", "1",
	                        "failed_units", "unit", "a.service", "journal", line);
	char *s = json_dumps(rep, JSON_COMPACT);
	json_t *errors;
	json_t *r = parse(s, &errors);
	CHECK(r != NULL);
	const json_t *kept = json_array_get(
	        json_object_get(json_array_get(json_object_get(r, "failed_units"), 0), "journal"),
	        0);
	CHECK(json_string_length(kept) <= REPORT_LINE_MAX);
	CHECK_INT(json_string_length(kept), (REPORT_LINE_MAX / 3) * 3);
	free(s);
	json_decref(r);
	json_decref(rep);
	json_decref(errors);
}

static void refuses_what_is_not_a_report(void)
{
	static const struct {
		const char *body;
		const char *field;
	} bad[] = {
	        {"[]", "body"},
	        {"{\"hostname\":", "body"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"services\":[[[[[]]]]]}", "body"},
	        {"{\"boot_id\":\"1\"}", "hostname"},
	        {"{\"hostname\":\"a b\",\"boot_id\":\"1\"}", "hostname"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"xyz!\"}", "boot_id"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"addresses\":[\"10.0.0.1/24\"]}",
	         "addresses[0]"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"ignition\":\"ok\"}", "ignition"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"uptime_s\":-1}", "uptime_s"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"failed_units\":[{\"unit\":\"<x>\"}]}",
	         "failed_units[0].unit"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"failed_units\":[{\"unit\":\"a.service\","
	         "\"journal\":[1]}]}",
	         "failed_units[0].journal[0]"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"services\":{\"a b\":\"x\"}}",
	         "services.a b"},
	        {"{\"hostname\":\"n\",\"boot_id\":\"1\",\"extra\":1}", "extra"},
	        {"{\"hostname\":\"n\",\"hostname\":\"m\",\"boot_id\":\"1\"}", "body"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *errors;
		json_t *r = parse(bad[i].body, &errors);
		CHECK(r == NULL);
		if (!names_field(errors, bad[i].field))
			fprintf(stderr, "  %s: no error on %s\n", bad[i].body, bad[i].field);
		CHECK(names_field(errors, bad[i].field));
		json_decref(r);
		json_decref(errors);
	}
	/* too big, and too many journal lines */
	json_t *errors = json_array();
	char *big = calloc(1, REPORT_BODY_MAX + 2);
	memset(big, ' ', REPORT_BODY_MAX + 1);
	CHECK(report_parse(big, REPORT_BODY_MAX + 1, errors) == NULL &&
	      names_field(errors, "body"));
	free(big);
	json_decref(errors);
	json_t *lines = json_array();
	for (int i = 0; i <= REPORT_LINES_MAX; i++)
		json_array_append_new(lines, json_string("l"));
	json_t *rep = json_pack("{s:s, s:s, s:[{s:s, s:o}]}", "hostname", "n", "boot_id", "1",
	                        "failed_units", "unit", "a.service", "journal", lines);
	char *s = json_dumps(rep, 0);
	json_t *out = parse(s, &errors);
	CHECK(out == NULL && names_field(errors, "failed_units[0].journal"));
	free(s);
	json_decref(rep);
	json_decref(errors);
}

static void draws_an_escaped_timeline(void)
{
	struct html h;
	html_init(&h, 1 << 16);
	CHECK(!timeline_svg(&h, (struct timeline_lane[]){{"n", 0, 0, 0, false}}, 1));
	CHECK_INT(h.buf.len, 0);
	struct timeline_lane lanes[] = {
	        {"<b>node</b>&1", 1700000000000LL, 1700000001000LL, 1700000005000LL, false},
	        {"node-2", 1700000000500LL, 0, 1700000009000LL, true},
	};
	CHECK(timeline_svg(&h, lanes, 2));
	CHECK_INT(h.err, K_OK);
	const char *svg = buf_str(&h.buf);
	CHECK(strstr(svg, "<svg class=\"timeline\"") != NULL);
	CHECK(strstr(svg, "&lt;b&gt;node&lt;/b&gt;&amp;1") != NULL);
	CHECK(strstr(svg, "<b>") == NULL);
	CHECK(strstr(svg, "class=\"mark-failed\"") != NULL);
	CHECK(strstr(svg, "class=\"mark-healthy\"") != NULL);
	CHECK(strstr(svg, "(+9 s)") != NULL); /* the axis spans first to last mark */
	html_free(&h);
}

int main(void)
{
	RUN(keeps_a_valid_report);
	RUN(cuts_pictures_to_the_limit);
	RUN(refuses_what_is_not_a_report);
	RUN(draws_an_escaped_timeline);
	return TEST_EXIT();
}
