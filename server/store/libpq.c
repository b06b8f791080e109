/* libpq.c - libpq opened at run time, on the first use of a PostgreSQL
 * database (postgres.c's PQconninfoParse), not linked.
 *
 * Linking libpq mapped it and its dependencies (OpenSSL's libcrypto and
 * libssl, Kerberos, LDAP, SASL: about 2.6 MB of resident pages at start,
 * measured with pmap -x) into every kindling, the SQLite-only ones too. Here
 * each PQ* function postgres.c calls is defined with libpq-fe.h's own
 * prototype and forwards to the symbol of the same name in libpq.so.5,
 * loaded once (pthread_once). Without libpq the first call, PQconninfoParse,
 * fails with an error message saying what to install; every other entry
 * point is only reached with a connection, so with libpq loaded. */
#include <dlfcn.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIBPQ_SONAME "libpq.so.5"

/* X(name) for every libpq function kindling calls */
#define PQ_FUNCS(X)                                                                                \
	X(PQclear)                                                                                 \
	X(PQcmdStatus)                                                                             \
	X(PQcmdTuples)                                                                             \
	X(PQconnectdbParams)                                                                       \
	X(PQconninfoFree)                                                                          \
	X(PQconninfoParse)                                                                         \
	X(PQconsumeInput)                                                                          \
	X(PQdb)                                                                                    \
	X(PQerrorMessage)                                                                          \
	X(PQfinish)                                                                                \
	X(PQflush)                                                                                 \
	X(PQfreemem)                                                                               \
	X(PQgetResult)                                                                             \
	X(PQgetisnull)                                                                             \
	X(PQgetvalue)                                                                              \
	X(PQhost)                                                                                  \
	X(PQisBusy)                                                                                \
	X(PQnfields)                                                                               \
	X(PQnotifies)                                                                              \
	X(PQntuples)                                                                               \
	X(PQport)                                                                                  \
	X(PQresultErrorField)                                                                      \
	X(PQresultErrorMessage)                                                                    \
	X(PQresultStatus)                                                                          \
	X(PQsendPrepare)                                                                           \
	X(PQsendQuery)                                                                             \
	X(PQsendQueryParams)                                                                       \
	X(PQsendQueryPrepared)                                                                     \
	X(PQsetNoticeProcessor)                                                                    \
	X(PQsetnonblocking)                                                                        \
	X(PQsocket)                                                                                \
	X(PQstatus)                                                                                \
	X(PQtransactionStatus)                                                                     \
	X(PQuser)

static struct {
#define SLOT(name) __typeof__(name) *name; /* NOLINT(bugprone-macro-parentheses): a declarator */
	PQ_FUNCS(SLOT)
#undef SLOT
} pq;
static int pq_loaded;
static char pq_err[512];
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;

static void pq_load(void)
{
	void *so = dlopen(LIBPQ_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		const char *why = dlerror();
		snprintf(pq_err, sizeof(pq_err), "cannot load %s (install libpq5): %s",
		         LIBPQ_SONAME, why ? why : "unknown error");
		return;
	}
#define LOAD(name)                                                                                 \
	if (!(*(void **)&pq.name = dlsym(so, #name))) {                                            \
		snprintf(pq_err, sizeof(pq_err), "%s has no %s", LIBPQ_SONAME, #name);             \
		dlclose(so);                                                                       \
		memset(&pq, 0, sizeof(pq));                                                        \
		return;                                                                            \
	}
	PQ_FUNCS(LOAD)
#undef LOAD
	pq_loaded = 1;
}

/* libpq's entry points; NULL when it cannot be loaded */
static int pq_ready(void)
{
	pthread_once(&pq_once, pq_load);
	return pq_loaded;
}

/* reached only after PQconninfoParse succeeded, so with libpq loaded */
#define PQ(name) (pq_ready() ? pq.name : (abort(), pq.name))

PQconninfoOption *PQconninfoParse(const char *conninfo, char **errmsg)
{
	if (!pq_ready()) {
		if (errmsg)
			*errmsg = strdup(pq_err); /* freed by PQfreemem below */
		return NULL;
	}
	return pq.PQconninfoParse(conninfo, errmsg);
}

void PQfreemem(void *ptr)
{
	if (!pq_ready()) {
		free(ptr); /* the message above */
		return;
	}
	pq.PQfreemem(ptr);
}

void PQclear(PGresult *res)
{
	if (res)
		PQ(PQclear)(res);
}

void PQfinish(PGconn *conn)
{
	if (conn)
		PQ(PQfinish)(conn);
}

void PQconninfoFree(PQconninfoOption *connOptions)
{
	if (connOptions)
		PQ(PQconninfoFree)(connOptions);
}

char *PQcmdStatus(PGresult *res)
{
	return PQ(PQcmdStatus)(res);
}
char *PQcmdTuples(PGresult *res)
{
	return PQ(PQcmdTuples)(res);
}
PGconn *PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
	return PQ(PQconnectdbParams)(keywords, values, expand_dbname);
}
int PQconsumeInput(PGconn *conn)
{
	return PQ(PQconsumeInput)(conn);
}
char *PQdb(const PGconn *conn)
{
	return PQ(PQdb)(conn);
}
char *PQerrorMessage(const PGconn *conn)
{
	return PQ(PQerrorMessage)(conn);
}
int PQflush(PGconn *conn)
{
	return PQ(PQflush)(conn);
}
PGresult *PQgetResult(PGconn *conn)
{
	return PQ(PQgetResult)(conn);
}
int PQgetisnull(const PGresult *res, int tup_num, int field_num)
{
	return PQ(PQgetisnull)(res, tup_num, field_num);
}
char *PQgetvalue(const PGresult *res, int tup_num, int field_num)
{
	return PQ(PQgetvalue)(res, tup_num, field_num);
}
char *PQhost(const PGconn *conn)
{
	return PQ(PQhost)(conn);
}
int PQisBusy(PGconn *conn)
{
	return PQ(PQisBusy)(conn);
}
int PQnfields(const PGresult *res)
{
	return PQ(PQnfields)(res);
}
PGnotify *PQnotifies(PGconn *conn)
{
	return PQ(PQnotifies)(conn);
}
int PQntuples(const PGresult *res)
{
	return PQ(PQntuples)(res);
}
char *PQport(const PGconn *conn)
{
	return PQ(PQport)(conn);
}
char *PQresultErrorField(const PGresult *res, int fieldcode)
{
	return PQ(PQresultErrorField)(res, fieldcode);
}
char *PQresultErrorMessage(const PGresult *res)
{
	return PQ(PQresultErrorMessage)(res);
}
ExecStatusType PQresultStatus(const PGresult *res)
{
	return PQ(PQresultStatus)(res);
}
int PQsendPrepare(PGconn *conn, const char *stmtName, const char *query, int nParams,
                  const Oid *paramTypes)
{
	return PQ(PQsendPrepare)(conn, stmtName, query, nParams, paramTypes);
}
int PQsendQuery(PGconn *conn, const char *query)
{
	return PQ(PQsendQuery)(conn, query);
}
int PQsendQueryParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                      const char *const *paramValues, const int *paramLengths,
                      const int *paramFormats, int resultFormat)
{
	return PQ(PQsendQueryParams)(conn, command, nParams, paramTypes, paramValues, paramLengths,
	                             paramFormats, resultFormat);
}
int PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams,
                        const char *const *paramValues, const int *paramLengths,
                        const int *paramFormats, int resultFormat)
{
	return PQ(PQsendQueryPrepared)(conn, stmtName, nParams, paramValues, paramLengths,
	                               paramFormats, resultFormat);
}
PQnoticeProcessor PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg)
{
	return PQ(PQsetNoticeProcessor)(conn, proc, arg);
}
int PQsetnonblocking(PGconn *conn, int arg)
{
	return PQ(PQsetnonblocking)(conn, arg);
}
int PQsocket(const PGconn *conn)
{
	return PQ(PQsocket)(conn);
}
ConnStatusType PQstatus(const PGconn *conn)
{
	return PQ(PQstatus)(conn);
}
PGTransactionStatusType PQtransactionStatus(const PGconn *conn)
{
	return PQ(PQtransactionStatus)(conn);
}
char *PQuser(const PGconn *conn)
{
	return PQ(PQuser)(conn);
}
