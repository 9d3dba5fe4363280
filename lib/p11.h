/*
 * p11.h - private keys on PKCS#11 tokens (smart cards, USB tokens, HSMs):
 * the one door to PKCS#11.  Modules are loaded through p11-kit, either the
 * ones its configuration names (/usr/share/p11-kit/modules/, the user's
 * ~/.config/pkcs11/modules/) or the one a URI gives explicitly with
 * module-path= (or module-name=).  Keys are named by PKCS#11 URIs (RFC
 * 7512), e.g. pkcs11:token=simpp;object=alice.
 *
 * A key opened here is an sc_key whose private half stays on the token
 * (sc_key_external): sc_sign runs CKM_ECDSA on the token and sc_ecdh_* runs
 * CKM_ECDH1_DERIVE there; only the shared x-coordinate that ECDH yields
 * comes back (it is HKDF input, as for any key).  sc_key_scalar refuses such
 * a key, so it can never be written to a file.
 *
 * Only the programs that use tokens (simpp-keygen, simpp-register,
 * simpp-login) link libp11-kit; this is the only file that includes its
 * headers.
 *
 * Failures carry a message and an exit code (sysexits.h):
 *   EX_USAGE      a malformed URI, a PIN in the URI, no terminal for the PIN
 *   EX_UNAVAILABLE the module cannot be loaded, or the token lacks ECDSA or
 *                 ECDH (CKM_ECDSA, CKM_ECDH1_DERIVE)
 *   EX_TEMPFAIL   no token matches the URI (not inserted, removed)
 *   EX_NOINPUT    no key on the token matches the URI
 *   EX_NOPERM     wrong PIN
 *   EX_NOUSER     the PIN is locked (too many wrong PINs)
 *   EX_CANTCREAT  keygen: the token already holds a key of that name
 *   EX_IOERR      the token failed or went away in the middle of a use
 *   EX_SOFTWARE   anything else the module answers
 */
#ifndef SIMPP_P11_H
#define SIMPP_P11_H

#include <stddef.h>

#include "crypto.h"

struct p11_status {
    int code;               /* a sysexits.h code, 0 on success */
    char msg[384];
};

/* 1 if s is a PKCS#11 URI ("pkcs11:...") */
int p11_is_uri(const char *s);

/* The private key the URI names, logged in with the PIN from pinfd (or the
 * terminal, when the token asks for one).  Both ECDSA and ECDH must be
 * usable with it (SIMPP needs both). */
sc_key *p11_key_open(const char *uri, int pinfd, struct p11_status *st);

/* The public key the URI names, without a PIN when the token shows it
 * (else after a login as above); a public-only sc_key. */
sc_key *p11_key_public(const char *uri, int pinfd, struct p11_status *st);

/* Make a key pair on the token: private key sensitive and not extractable,
 * able to sign and derive; the label is the URI's object=, the id its id=
 * (or a random one).  Returns the key, opened as p11_key_open does. */
sc_key *p11_key_generate(const char *uri, int pinfd, int curve, struct p11_status *st);

#endif
