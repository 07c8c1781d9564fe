/* venuegw — the LAN CA: certificates for our broker's TLS listener and for
 * devices, made with mbedTLS's x509 write API (DESIGN.md §3 promise 7:
 * devices on the LAN use TLS).
 *
 * Keys are EC P-256, signatures ECDSA-SHA256.  Everything is returned as PEM
 * in memory; the caller writes the files (keys with restrictive modes).
 * Randomness comes from getrandom(2).  Errors are err.h's enum vg_err. */
#ifndef VG_PKI_H
#define VG_PKI_H

#include <stddef.h>

#define VG_PKI_PEM_MAX 4096

#define VG_PKI_CA_DAYS (10 * 365 + 2)
#define VG_PKI_SERVER_DAYS (2 * 365)
#define VG_PKI_CLIENT_DAYS (2 * 365)

/* A new self-signed CA (basicConstraints CA:TRUE pathlen 0, keyCertSign and
 * cRLSign) named "CN=<cn>,O=venuegw" valid for days from an hour ago.
 * key_pem and crt_pem receive NUL-terminated PEM (each VG_PKI_PEM_MAX bytes).
 * VG_OK, or with the reason in err VG_ERR_INVAL (cn not usable in a name) or
 * VG_ERR_IO (mbedTLS failed). */
int vg_pki_make_ca(const char *cn, int days, char *key_pem, char *crt_pem, char *err, size_t errsz);

enum vg_pki_kind { VG_PKI_SERVER = 0, VG_PKI_CLIENT = 1 };

/* A new key and a certificate "CN=<cn>,O=venuegw" signed by the CA whose
 * PEM key and certificate are given, valid for days from an hour ago.
 * Servers get extendedKeyUsage serverAuth and a subjectAltName with names
 * (DNS names, or IPv4/IPv6 addresses, which become iPAddress entries);
 * clients get clientAuth.  VG_OK, or with the reason in err VG_ERR_INVAL (a
 * name that is neither an address nor a DNS name, a CA key that does not
 * belong to the certificate) or VG_ERR_IO (mbedTLS failed: generating,
 * reading the CA's PEM, signing). */
int vg_pki_issue(const char *ca_key_pem, const char *ca_crt_pem, enum vg_pki_kind kind, const char *cn,
                 const char *const *names, int nnames, int days, char *key_pem, char *crt_pem,
                 char *err, size_t errsz);

/* Whether name may go into a subjectAltName: an IP address, or a DNS name
 * (labels of letters, digits and '-', dots between, '*.' first allowed). */
int vg_pki_name_ok(const char *name);

#endif
