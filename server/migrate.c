/* migrate.c - "kindling migrate": flags, then store_copy, then what was copied. */
#include "migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "store.h"

static void migrate_usage(FILE *to)
{
	fprintf(to,
	        "usage: kindling migrate --from FILE --to postgresql://USER@HOST:PORT/DB\n\n"
	        "Copies a kindling SQLite database into an empty PostgreSQL database, in one\n"
	        "transaction: clusters with their fetch tokens (rotated ones with their grace),\n"
	        "secrets, generations, fetch counts and log, discovery directories and\n"
	        "registrations with their indexes. Stop the kindling that uses FILE first.\n\n"
	        "  --from FILE\n"
	        "      the SQLite database (the --db of the kindling that used it); opened "
	        "read-only\n"
	        "  --to URL\n"
	        "      the PostgreSQL database, a URL as for --db (PG* variables, ~/.pgpass and\n"
	        "      sslmode work); its migrations are applied first; it must hold no clusters\n"
	        "  --help\n"
	        "      print this help and exit\n");
}

/* The value of --name VALUE or --name=VALUE at argv[*a] (advancing *a), or
 * NULL when argv[*a] is not that flag; *missing when the value is. */
static const char *flag_value(int argc, char **argv, int *a, const char *name, int *missing)
{
	size_t n = strlen(name);
	const char *arg = argv[*a];
	if (!arg || strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] != '\0')
		return NULL;
	if (*a + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*a];
}

int migrate_main(int argc, char **argv)
{
	const char *from = NULL, *to = NULL;
	struct store *src = NULL, *dst = NULL;
	struct store_copy_stats st;
	struct buf err;
	int status = 1;

	for (int a = 1; a < argc; a++) {
		int missing = 0;
		const char *v;
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
			migrate_usage(stdout);
			return 0;
		} else if ((v = flag_value(argc, argv, &a, "--from", &missing)) != NULL) {
			from = v;
		} else if ((v = flag_value(argc, argv, &a, "--to", &missing)) != NULL) {
			to = v;
		} else {
			if (missing)
				fprintf(stderr, "kindling migrate: %s needs a value\n", argv[a]);
			else
				fprintf(stderr,
				        "kindling migrate: unexpected argument \"%s\" (see "
				        "kindling "
				        "migrate --help)\n",
				        argv[a]);
			return 2;
		}
	}
	if (!from || !to || !*from || !*to) {
		fprintf(stderr, "kindling migrate: %s (see kindling migrate --help)\n",
		        !from || !*from ? "--from FILE (the SQLite database) is required"
		                        : "--to URL (the PostgreSQL database) is required");
		return 2;
	}
	if (strncmp(to, "postgresql://", 13) != 0 && strncmp(to, "postgres://", 11) != 0) {
		fprintf(stderr,
		        "kindling migrate: --to \"%s\": not a postgresql:// URL (kindling migrate "
		        "copies into PostgreSQL)\n",
		        to);
		return 2;
	}
	buf_init(&err, 8192);
	/* the source first: a missing or unusable one changes nothing anywhere */
	if (store_open_snapshot(from, &src, &err) != K_OK) {
		fprintf(stderr, "kindling migrate: --from %s\n", buf_str(&err));
		goto out;
	}
	if (store_open(to, 2, &dst, &err) != K_OK) {
		fprintf(stderr, "kindling migrate: --to: %s; nothing was changed\n", buf_str(&err));
		goto out;
	}
	if (store_copy(src, dst, &st, &err) != K_OK) {
		fprintf(stderr, "kindling migrate: %s\n", buf_str(&err));
		goto out;
	}
	printf("kindling migrate: copied %s into %s in one transaction:\n", from, st.target);
	for (int i = 0; i < st.ntables; i++)
		printf("  %-20s %10" PRId64 "\n", st.names[i], st.rows[i]);
	printf("  %-20s %10" PRId64 " (registrations continue past it)\n", "discovery index",
	       st.discovery_index);
	printf("verified after the commit: every table holds the rows copied\n");
	status = 0;
out:
	store_close(&dst);
	store_close(&src);
	buf_free(&err);
	return status;
}
