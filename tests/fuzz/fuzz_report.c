/* fuzz_report.c - libFuzzer target: node boot reports (report.h), the one
 * parser of what a node sends.
 *
 * The input is a report body. report_parse must either refuse it with at
 * least one well-formed {field, message} error, or accept it with none; an
 * accepted report has only the known fields, its strings hold no control
 * character but the tab (they became their Unicode pictures), and it is a
 * fixed point: its own JSON parses again to an equal report. The first
 * byte, when odd, wraps the input as the journal line of a failed unit, so
 * that arbitrary bytes reach the string checks too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_report: %s\n", what);
		abort();
	}
}

/* No control character but the tab in any string of j. */
static int visible_only(const json_t *j)
{
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		for (size_t i = 0; i < json_string_length(j); i++)
			if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
				return 0;
		return 1;
	}
	size_t i;
	const char *k;
	json_t *v;
	if (json_is_array(j)) {
		json_array_foreach (j, i, v) {
			if (!visible_only(v))
				return 0;
		}
	}
	if (json_is_object(j)) {
		json_object_foreach ((json_t *)j, k, v) {
			if (!visible_only(v))
				return 0;
		}
	}
	return 1;
}

static void one(const char *body, size_t len)
{
	json_t *errors = json_array();
	json_t *r = report_parse(body, len, errors);
	if (!r) {
		check(json_array_size(errors) > 0, "refused without an error");
		size_t i;
		json_t *e;
		json_array_foreach (errors, i, e) {
			check(json_is_string(json_object_get(e, "field")) &&
			              json_is_string(json_object_get(e, "message")),
			      "an error without field and message");
		}
		json_decref(errors);
		return;
	}
	check(json_array_size(errors) == 0, "accepted with errors");
	static const char *const known[] = {"hostname", "boot_id",  "addresses",    "ignition",
	                                    "trigger",  "uptime_s", "failed_units", "services"};
	const char *k;
	json_t *v;
	json_object_foreach (r, k, v) {
		int ok = 0;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= !strcmp(k, known[i]);
		check(ok, "an unknown field was kept");
	}
	check(json_is_string(json_object_get(r, "hostname")) &&
	              json_is_string(json_object_get(r, "boot_id")),
	      "accepted without hostname or boot_id");
	check(visible_only(r), "a control character was kept");
	check(report_failed_units(r) <= REPORT_UNITS_MAX, "too many failed units");
	char *again = json_dumps(r, JSON_COMPACT);
	check(again != NULL, "cannot dump");
	json_t *errors2 = json_array();
	json_t *r2 = report_parse(again, strlen(again), errors2);
	check(r2 && json_equal(r, r2), "not a fixed point");
	json_decref(r2);
	json_decref(errors2);
	free(again);
	json_decref(r);
	json_decref(errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > REPORT_BODY_MAX + 16)
		return 0;
	if (size > 0 && (data[0] & 1)) {
		/* the bytes as a journal line: JSON-escaped with jansson when they are UTF-8 */
		json_t *line = json_stringn((const char *)data + 1, size - 1);
		if (!line)
			return 0;
		json_t *rep = json_pack("{s:s, s:s, s:[{s:s, s:[o]}]}", "hostname", "n", "boot_id",
		                        "1", "failed_units", "unit", "a.service", "journal", line);
		char *s = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
		if (s)
			one(s, strlen(s));
		free(s);
		json_decref(rep);
		return 0;
	}
	one((const char *)data, size);
	return 0;
}
