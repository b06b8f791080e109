/* migrations.h - the schema migrations embedded from db/sqlite/ and db/postgres/ at build time. */
#ifndef KINDLING_MIGRATIONS_H
#define KINDLING_MIGRATIONS_H

struct migration {
	const char *name; /* file name, e.g. "0001_init.sql" */
	const char *sql;
};

/* In file-name order; migration i brings the schema to version i+1
 * (SQLite: PRAGMA user_version; PostgreSQL: the schema_version table). */
extern const struct migration migrations_sqlite[];
extern const int migrations_sqlite_count;
extern const struct migration migrations_postgres[];
extern const int migrations_postgres_count;

#endif
