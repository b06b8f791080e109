/* test_events.c - the subscriber list and the kind names. */
#include "../../server/events.h"
#include "test.h"

static char seen[64];

static void first(void *arg, const struct event *ev)
{
	(void)arg;
	strncat(seen, ev->kind == EV_CLUSTER_DELETED ? "1d" : "1?",
	        sizeof(seen) - strlen(seen) - 1);
}

static void second(void *arg, const struct event *ev)
{
	int *n = arg;
	(*n)++;
	strncat(seen, !strcmp(ev->cluster, "a") ? "2a" : "2?", sizeof(seen) - strlen(seen) - 1);
}

/* Every subscriber gets every event, in the order they subscribed. */
static void publishes_in_order(void)
{
	struct events *e = NULL;
	int n = 0;
	CHECK_INT(events_new(&e), K_OK);
	CHECK_INT(events_subscribe(e, first, NULL), K_OK);
	CHECK_INT(events_subscribe(e, second, &n), K_OK);
	seen[0] = '\0';
	struct event ev = {.kind = EV_CLUSTER_DELETED, .cluster = "a", .token = ""};
	events_publish(e, &ev);
	events_publish(e, &ev);
	CHECK_STR(seen, "1d2a1d2a");
	CHECK_INT(n, 2);
	events_publish(NULL, &ev); /* nothing subscribed: nothing happens */
	events_free(&e);
	CHECK(e == NULL);
	events_free(&e);
	events_free(NULL);
}

/* Past the fixed capacity a subscription is refused, the others kept. */
static void refuses_past_capacity(void)
{
	struct events *e = NULL;
	int n = 0, ok = 0;
	CHECK_INT(events_new(&e), K_OK);
	for (int i = 0; i < 100; i++)
		ok += events_subscribe(e, second, &n) == K_OK;
	CHECK(ok >= 8 && ok < 100);
	struct event ev = {.kind = EV_RESYNC, .cluster = "a", .token = ""};
	seen[0] = '\0';
	events_publish(e, &ev);
	CHECK_INT(n, ok);
	events_free(&e);
}

/* Every kind has a name that parses back to it; unknown names do not parse. */
static void names_round_trip(void)
{
	for (int k = 0; k < EV_NKINDS; k++) {
		enum event_kind back = EV_NKINDS;
		CHECK(event_kind_parse(event_kind_name((enum event_kind)k), &back));
		CHECK_INT(back, k);
	}
	enum event_kind x;
	CHECK(!event_kind_parse("cluster", &x));
	CHECK(!event_kind_parse("", &x));
	CHECK_STR(event_kind_name(EV_NKINDS), "unknown");
	CHECK_STR(event_kind_name(EV_MEMBER_REGISTERED), "member-registered");
}

int main(void)
{
	RUN(publishes_in_order);
	RUN(refuses_past_capacity);
	RUN(names_round_trip);
	return TEST_EXIT();
}
