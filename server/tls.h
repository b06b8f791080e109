/* tls.h - the certificate and key HTTPS is served with: checked, swapped on reload, shared. */
#ifndef KINDLING_TLS_H
#define KINDLING_TLS_H

#include "buf.h"
#include "err.h"

/* The server's TLS state: the credentials new connections get and the
 * session ticket key. Safe to use from any thread. */
struct tls;
/* One certificate chain and key, shared by the connections that began
 * while it was current; freed when the last of them ends. */
struct tls_creds;

/*
 * Loads a PEM certificate chain and its PEM private key (not copied after
 * the call) and makes a fresh session ticket key. Returns K_OK and *out; or
 * K_EINVAL with the reason in errmsg (unreadable PEM, a key that does not
 * match the certificate, an expired certificate); K_ENOMEM.
 */
enum kerr tls_new(const char *cert_pem, const char *key_pem, struct tls **out, struct buf *errmsg);

/* Frees the state and NULLs *t; call it after every session has ended
 * (tls_session_done). Accepts NULL. */
void tls_free(struct tls **t);

/*
 * Replaces the certificate and key new connections get; connections open
 * now keep theirs until they close. Checked as tls_new checks them; on an
 * error (K_EINVAL with the reason in errmsg, K_ENOMEM) nothing changes and
 * the old pair stays in use. The ticket key stays, so clients resume.
 */
enum kerr tls_reload(struct tls *t, const char *cert_pem, const char *key_pem, struct buf *errmsg);

/* Appends a description of the certificate in use: key type, subject,
 * expiry and SHA-256 fingerprint (as `openssl x509 -fingerprint -sha256`). */
void tls_describe(struct tls *t, struct buf *out);

/*
 * Sets up a new server session (a gnutls_session_t, before its handshake):
 * the current credentials and session tickets. Returns the reference the
 * session holds, which the caller gives back with tls_session_done once the
 * session is deinitialised; NULL when session is NULL.
 */
struct tls_creds *tls_session_start(struct tls *t, void *session);
void tls_session_done(struct tls_creds *c); /* accepts NULL */

#endif
