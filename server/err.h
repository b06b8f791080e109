/* err.h - the one error enum every kindling module returns. */
#ifndef KINDLING_ERR_H
#define KINDLING_ERR_H

/*
 * Every fallible function returns one of these. Lower modules never know
 * about HTTP; http.c owns the single mapping from these to status codes.
 */
enum kerr {
	K_OK = 0,
	K_ENOMEM,     /* allocation failed */
	K_EBADREQ,    /* malformed request (syntax): 400 */
	K_EINVAL,     /* well-formed but invalid fields: 422 */
	K_ENOTFOUND,  /* no such resource: 404 */
	K_EEXIST,     /* already exists: 409 */
	K_ETOOBIG,    /* input over a configured limit: 413 */
	K_EMEDIA,     /* unsupported content type: 415 */
	K_ENOTACCEPT, /* no acceptable representation: 406 */
	K_EAUTH,      /* missing or wrong credentials: 401 */
	K_EFORBIDDEN, /* credentials valid but not for this: 403 */
	K_EMETHOD,    /* method not allowed: 405 */
	K_ELIMIT,     /* a count limit was reached: 429 */
	K_EUPSTREAM,  /* an upstream service failed: 502 */
	K_EUNAVAIL,   /* temporarily unavailable, retry: 503 */
	K_EIO,        /* storage or system failure: 500 */
	K_ERR_COUNT
};

/* Returns a short static English text for e; never NULL. */
const char *kerr_str(enum kerr e);

#endif
