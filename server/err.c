/* err.c - texts for the error enum. */
#include "err.h"

static const char *const texts[K_ERR_COUNT] = {
        [K_OK] = "ok",
        [K_ENOMEM] = "out of memory",
        [K_EBADREQ] = "malformed request",
        [K_EINVAL] = "invalid input",
        [K_ENOTFOUND] = "not found",
        [K_EEXIST] = "already exists",
        [K_ETOOBIG] = "too large",
        [K_EMEDIA] = "unsupported media type",
        [K_ENOTACCEPT] = "not acceptable",
        [K_EAUTH] = "authentication required",
        [K_EFORBIDDEN] = "forbidden",
        [K_EMETHOD] = "method not allowed",
        [K_ELIMIT] = "limit reached",
        [K_EUPSTREAM] = "upstream failed",
        [K_EUNAVAIL] = "temporarily unavailable",
        [K_EIO] = "storage failure",
};

const char *kerr_str(enum kerr e)
{
	if ((unsigned)e >= K_ERR_COUNT)
		return "unknown error";
	return texts[e];
}
