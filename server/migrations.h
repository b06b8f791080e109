/* migrations.h - the schema migrations embedded from db/ at build time. */
#ifndef KINDLING_MIGRATIONS_H
#define KINDLING_MIGRATIONS_H

struct migration {
	const char *name; /* file name, e.g. "0001_init.sql" */
	const char *sql;
};

/* In file-name order; migration i brings the schema to user_version i+1. */
extern const struct migration migrations[];
extern const int migrations_count;

#endif
