/* tls.c - the certificate and key HTTPS is served with: checked, swapped on reload, shared.
 *
 * Threads: any thread may call every function. mu guards t->cur (the
 * pointer, not what it points to); it is taken after no other lock and held
 * for a few instructions. A tls_creds is immutable once made; its refs are
 * atomic: one for being current, one per session using it.
 *
 * libmicrohttpd 0.9.75 builds one GnuTLS credentials object at start and
 * gives it to every session; it has no way to replace it, and none to
 * enable session tickets. http.c calls tls_session_start from its
 * connection-started callback instead, before the handshake, and the
 * session uses the credentials and ticket key set here.
 */
#include "tls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DESC_MAX 512

struct tls_creds {
	gnutls_certificate_credentials_t x509;
	atomic_int refs;
	char desc[DESC_MAX]; /* for the log: key type, subject, expiry, fingerprint */
};

struct tls {
	pthread_mutex_t mu;
	struct tls_creds *cur; /* under mu */
	gnutls_datum_t ticket_key;
};

static void creds_unref(struct tls_creds *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	gnutls_certificate_free_credentials(c->x509);
	free(c);
}

/* Writes "not after" as an ISO date into out. */
static void iso_time(time_t t, char *out, size_t n)
{
	struct tm tm;
	if (t == (time_t)-1 || !gmtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		str_copy(out, n, "?");
}

/* Checks the leaf certificate (expiry) and describes it into c->desc.
 * K_OK, or K_EINVAL with the reason in errmsg. */
static enum kerr check_leaf(struct tls_creds *c, struct buf *errmsg)
{
	gnutls_datum_t der = {NULL, 0}, dn = {NULL, 0};
	gnutls_x509_crt_t crt = NULL;
	enum kerr e = K_EINVAL;
	int rc = gnutls_certificate_get_crt_raw(c->x509, 0, 0, &der);
	if (rc < 0 || (rc = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rc = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER)) < 0) {
		buf_addf(errmsg, "cannot read the certificate: %s", gnutls_strerror(rc));
		goto out;
	}
	time_t now = time(NULL), not_after = gnutls_x509_crt_get_expiration_time(crt);
	char when[32];
	iso_time(not_after, when, sizeof(when));
	if (not_after != (time_t)-1 && not_after < now) {
		buf_addf(errmsg, "the certificate expired on %s", when);
		goto out;
	}
	unsigned char fp[32];
	size_t fplen = sizeof(fp);
	if ((rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fplen)) < 0) {
		buf_addf(errmsg, "cannot fingerprint the certificate: %s", gnutls_strerror(rc));
		goto out;
	}
	char hex[3 * sizeof(fp) + 1] = "";
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < fplen; i++) {
		hex[3 * i] = digits[fp[i] >> 4];
		hex[3 * i + 1] = digits[fp[i] & 15];
		hex[3 * i + 2] = i + 1 < fplen ? ':' : '\0';
	}
	unsigned bits = 0;
	int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	const char *pkname = pk >= 0 ? gnutls_pk_get_name((gnutls_pk_algorithm_t)pk) : NULL;
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0)
		dn.data = NULL;
	snprintf(c->desc, sizeof(c->desc),
	         "%s %u-bit, subject \"%.200s\", not after %s, SHA-256 %s", pkname ? pkname : "?",
	         bits, dn.data ? (const char *)dn.data : "?", when, hex);
	e = K_OK;
out:
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
	return e;
}

/* Checks that the PEMs parse and that the key is the certificate's, before
 * GnuTLS's credentials see them (gnutls_certificate_set_x509_key_mem2 of
 * 3.7.9 leaks a certificate when it refuses a pair). K_OK, or K_EINVAL with
 * the reason in errmsg. */
static enum kerr precheck(const gnutls_datum_t *cert, const gnutls_datum_t *key, struct buf *errmsg)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t pk = NULL;
	unsigned char id1[64], id2[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2);
	enum kerr e = K_EINVAL;
	int rc;
	if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rc = gnutls_x509_crt_import(crt, cert, GNUTLS_X509_FMT_PEM)) < 0) {
		buf_addf(errmsg, "the certificate is not a PEM X.509 certificate: %s",
		         gnutls_strerror(rc));
		goto out;
	}
	if ((rc = gnutls_x509_privkey_init(&pk)) < 0 ||
	    (rc = gnutls_x509_privkey_import2(pk, key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		buf_addf(errmsg, "the key is not an unencrypted PEM private key: %s",
		         gnutls_strerror(rc));
		goto out;
	}
	if ((rc = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id1, &n1)) < 0 ||
	    (rc = gnutls_x509_privkey_get_key_id(pk, GNUTLS_KEYID_USE_SHA256, id2, &n2)) < 0) {
		buf_addf(errmsg, "cannot compare the key with the certificate: %s",
		         gnutls_strerror(rc));
		goto out;
	}
	if (n1 != n2 || memcmp(id1, id2, n1) != 0) {
		buf_addstr(errmsg, "the key is not the certificate's (their public keys differ)");
		goto out;
	}
	e = K_OK;
out:
	gnutls_x509_privkey_deinit(pk);
	gnutls_x509_crt_deinit(crt);
	return e;
}

/* Makes a credentials object (one reference) from the PEMs; K_OK and *out,
 * K_EINVAL with the reason in errmsg, K_ENOMEM. */
static enum kerr creds_new(const char *cert_pem, const char *key_pem, struct tls_creds **out,
                           struct buf *errmsg)
{
	gnutls_datum_t cert = {(unsigned char *)(uintptr_t)cert_pem, (unsigned)strlen(cert_pem)};
	gnutls_datum_t key = {(unsigned char *)(uintptr_t)key_pem, (unsigned)strlen(key_pem)};
	enum kerr e = precheck(&cert, &key, errmsg);
	if (e != K_OK)
		return e;
	struct tls_creds *c = calloc(1, sizeof(*c));
	if (!c)
		return K_ENOMEM;
	atomic_init(&c->refs, 1);
	if (gnutls_certificate_allocate_credentials(&c->x509) < 0) {
		free(c);
		return K_ENOMEM;
	}
	/* checks that the key is the certificate's (GnuTLS >= 3.5 does unless told not to) */
	int rc = gnutls_certificate_set_x509_key_mem2(c->x509, &cert, &key, GNUTLS_X509_FMT_PEM,
	                                              NULL, 0);
	if (rc < 0) {
		buf_addf(errmsg, "%s", gnutls_strerror(rc));
		creds_unref(c);
		return K_EINVAL;
	}
	e = check_leaf(c, errmsg);
	if (e != K_OK) {
		creds_unref(c);
		return e;
	}
	*out = c;
	return K_OK;
}

enum kerr tls_new(const char *cert_pem, const char *key_pem, struct tls **out, struct buf *errmsg)
{
	struct tls *t = calloc(1, sizeof(*t));
	if (!t)
		return K_ENOMEM;
	enum kerr e = creds_new(cert_pem, key_pem, &t->cur, errmsg);
	if (e != K_OK) {
		free(t);
		return e;
	}
	if (gnutls_session_ticket_key_generate(&t->ticket_key) < 0) {
		creds_unref(t->cur);
		free(t);
		return K_ENOMEM;
	}
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return K_OK;
}

void tls_free(struct tls **tp)
{
	if (!tp || !*tp)
		return;
	struct tls *t = *tp;
	creds_unref(t->cur);
	if (t->ticket_key.data) {
		gnutls_memset(t->ticket_key.data, 0, t->ticket_key.size);
		gnutls_free(t->ticket_key.data);
	}
	pthread_mutex_destroy(&t->mu);
	free(t);
	*tp = NULL;
}

enum kerr tls_reload(struct tls *t, const char *cert_pem, const char *key_pem, struct buf *errmsg)
{
	struct tls_creds *c = NULL;
	enum kerr e = creds_new(cert_pem, key_pem, &c, errmsg);
	if (e != K_OK)
		return e;
	pthread_mutex_lock(&t->mu);
	struct tls_creds *old = t->cur;
	t->cur = c;
	pthread_mutex_unlock(&t->mu);
	creds_unref(old); /* freed now, or when its last connection ends */
	return K_OK;
}

/* The current credentials, with a reference for the caller. */
static struct tls_creds *current(struct tls *t)
{
	pthread_mutex_lock(&t->mu);
	struct tls_creds *c = t->cur;
	atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&t->mu);
	return c;
}

void tls_describe(struct tls *t, struct buf *out)
{
	struct tls_creds *c = current(t);
	buf_addstr(out, c->desc);
	creds_unref(c);
}

struct tls_creds *tls_session_start(struct tls *t, void *session)
{
	if (!session)
		return NULL;
	gnutls_session_t s = session;
	struct tls_creds *c = current(t);
	/* replaces the credentials libmicrohttpd set: the session uses these */
	if (gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->x509) < 0) {
		creds_unref(c);
		return NULL;
	}
	/* resumption: a returning client skips the signature (TLS 1.2: and the
	 * key exchange); failing that, full handshakes still work */
	(void)gnutls_session_ticket_enable_server(s, &t->ticket_key);
	return c;
}

void tls_session_done(struct tls_creds *c)
{
	creds_unref(c);
}
