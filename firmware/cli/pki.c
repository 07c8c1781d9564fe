/* venuegw — the LAN CA (mbedTLS 2.28 x509 write API). */
#include "pki.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "err.h"
#include "passwd.h"

static int rng(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	return vg_random(buf, len) == 0 ? 0 : MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
}

static int fail(char *err, size_t errsz, const char *what, int rc)
{
	char m[160];
	mbedtls_strerror(rc, m, sizeof m);
	snprintf(err, errsz, "%s: %s (-0x%04x)", what, m, (unsigned)-rc);
	return VG_ERR_IO;
}

int vg_pki_name_ok(const char *name)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1)
		return 1;
	size_t n = strlen(name);
	if (n == 0 || n > 253)
		return 0;
	const char *p = name;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	size_t label = 0;
	for (; *p; p++) {
		char c = *p;
		if (c == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		           (c == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && p[-1] != '-';
}

/* DER length octets of n into p; returns how many. */
static size_t der_len(unsigned char *p, size_t n)
{
	if (n < 128) {
		p[0] = (unsigned char)n;
		return 1;
	}
	if (n < 256) {
		p[0] = 0x81;
		p[1] = (unsigned char)n;
		return 2;
	}
	p[0] = 0x82;
	p[1] = (unsigned char)(n >> 8);
	p[2] = (unsigned char)n;
	return 3;
}

/* subjectAltName: SEQUENCE OF GeneralName, dNSName [2] or iPAddress [7]. */
static int san_der(const char *const *names, int nnames, unsigned char *out, size_t outsz, size_t *outlen)
{
	unsigned char body[2048];
	size_t off = 0;
	for (int i = 0; i < nnames; i++) {
		unsigned char a[16];
		const unsigned char *v;
		size_t vl;
		unsigned char tag;
		if (inet_pton(AF_INET, names[i], a) == 1) {
			tag = 0x87, v = a, vl = 4;
		} else if (inet_pton(AF_INET6, names[i], a) == 1) {
			tag = 0x87, v = a, vl = 16;
		} else {
			tag = 0x82, v = (const unsigned char *)names[i], vl = strlen(names[i]);
		}
		if (off + 4 + vl > sizeof body)
			return -1;
		body[off++] = tag;
		off += der_len(body + off, vl);
		memcpy(body + off, v, vl);
		off += vl;
	}
	if (off + 4 > outsz)
		return -1;
	size_t h = 0;
	out[h++] = 0x30;
	h += der_len(out + h, off);
	if (h + off > outsz)
		return -1;
	memcpy(out + h, body, off);
	*outlen = h + off;
	return 0;
}

static void fmt_time(time_t t, char out[15])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, 15, "%Y%m%d%H%M%S", &tm) != 14)
		snprintf(out, 15, "99991231235959");
}

static int new_key(mbedtls_pk_context *key)
{
	int rc = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (rc == 0)
		rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), rng, NULL);
	return rc;
}

/* The fields every certificate gets: version 3, a random positive 128-bit
 * serial, validity, SHA-256. */
static int common(mbedtls_x509write_cert *crt, int days)
{
	unsigned char sbytes[16];
	mbedtls_mpi serial;
	char nb[15], na[15];
	time_t now = time(NULL);
	int rc;
	mbedtls_x509write_crt_set_version(crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(crt, MBEDTLS_MD_SHA256);
	if (vg_random(sbytes, sizeof sbytes) != 0)
		return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
	sbytes[0] = (unsigned char)((sbytes[0] & 0x7f) | 0x01);
	mbedtls_mpi_init(&serial);
	rc = mbedtls_mpi_read_binary(&serial, sbytes, sizeof sbytes);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_serial(crt, &serial);
	mbedtls_mpi_free(&serial);
	if (rc)
		return rc;
	/* An hour back: devices' clocks differ a little from ours. */
	fmt_time(now - 3600, nb);
	fmt_time(now + (time_t)days * 86400, na);
	return mbedtls_x509write_crt_set_validity(crt, nb, na);
}

static int subject_name(char *out, size_t outsz, const char *cn)
{
	/* Our names never hold the DN syntax characters; refuse if they do. */
	if (strpbrk(cn, ",=+\\\"<>;") != NULL)
		return -1;
	int n = snprintf(out, outsz, "CN=%s,O=venuegw", cn);
	return n > 0 && (size_t)n < outsz ? 0 : -1;
}

int vg_pki_make_ca(const char *cn, int days, char *key_pem, char *crt_pem, char *err, size_t errsz)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	char subject[256];
	int rc, ret = VG_ERR_INVAL;
	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	if (subject_name(subject, sizeof subject, cn) != 0) {
		snprintf(err, errsz, "the CA name '%s' is not usable in a certificate", cn);
		goto out;
	}
	if ((rc = new_key(&key))) {
		ret = fail(err, errsz, "cannot generate the CA key", rc);
		goto out;
	}
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if ((rc = common(&crt, days)) ||
	    (rc = mbedtls_x509write_crt_set_subject_name(&crt, subject)) ||
	    (rc = mbedtls_x509write_crt_set_issuer_name(&crt, subject)) ||
	    (rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0)) ||
	    (rc = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN |
	                                                    MBEDTLS_X509_KU_CRL_SIGN)) ||
	    (rc = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) ||
	    (rc = mbedtls_x509write_crt_set_authority_key_identifier(&crt))) {
		ret = fail(err, errsz, "cannot build the CA certificate", rc);
		goto out;
	}
	if ((rc = mbedtls_x509write_crt_pem(&crt, (unsigned char *)crt_pem, VG_PKI_PEM_MAX, rng, NULL))) {
		ret = fail(err, errsz, "cannot sign the CA certificate", rc);
		goto out;
	}
	if ((rc = mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, VG_PKI_PEM_MAX))) {
		ret = fail(err, errsz, "cannot encode the CA key", rc);
		goto out;
	}
	ret = VG_OK;
out:
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return ret;
}

int vg_pki_issue(const char *ca_key_pem, const char *ca_crt_pem, enum vg_pki_kind kind, const char *cn,
                 const char *const *names, int nnames, int days, char *key_pem, char *crt_pem,
                 char *err, size_t errsz)
{
	/* extendedKeyUsage: SEQUENCE { id-kp-serverAuth | id-kp-clientAuth } */
	unsigned char eku[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };
	mbedtls_pk_context ca_key, key;
	mbedtls_x509_crt ca;
	mbedtls_x509write_cert crt;
	char subject[256], issuer[512];
	unsigned char san[2100];
	size_t sanlen = 0;
	int rc, ret = VG_ERR_INVAL;
	mbedtls_pk_init(&ca_key);
	mbedtls_pk_init(&key);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509write_crt_init(&crt);
	if (subject_name(subject, sizeof subject, cn) != 0) {
		snprintf(err, errsz, "the name '%s' is not usable in a certificate", cn);
		goto out;
	}
	for (int i = 0; i < nnames; i++) {
		if (!vg_pki_name_ok(names[i])) {
			snprintf(err, errsz, "'%s' is neither an IP address nor a DNS name", names[i]);
			goto out;
		}
	}
	if ((rc = mbedtls_pk_parse_key(&ca_key, (const unsigned char *)ca_key_pem, strlen(ca_key_pem) + 1,
	                               NULL, 0))) {
		ret = fail(err, errsz, "cannot read the CA key", rc);
		goto out;
	}
	if ((rc = mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_crt_pem, strlen(ca_crt_pem) + 1))) {
		ret = fail(err, errsz, "cannot read the CA certificate", rc);
		goto out;
	}
	if (mbedtls_pk_check_pair(&ca.pk, &ca_key) != 0) {
		snprintf(err, errsz, "the CA key does not belong to the CA certificate");
		goto out;
	}
	/* The CA's subject as "CN=...,O=..." (x509_dn_gets puts ", " between). */
	char dn[512];
	if (mbedtls_x509_dn_gets(dn, sizeof dn, &ca.subject) < 0) {
		snprintf(err, errsz, "cannot read the CA certificate's subject");
		goto out;
	}
	size_t o = 0;
	for (const char *p = dn; *p && o + 1 < sizeof issuer; p++) {
		issuer[o++] = *p;
		if (*p == ',' && p[1] == ' ')
			p++;
	}
	issuer[o] = '\0';
	if ((rc = new_key(&key))) {
		ret = fail(err, errsz, "cannot generate a key", rc);
		goto out;
	}
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &ca_key);
	if (kind == VG_PKI_CLIENT)
		eku[sizeof eku - 1] = 0x02;
	if ((rc = common(&crt, days)) ||
	    (rc = mbedtls_x509write_crt_set_subject_name(&crt, subject)) ||
	    (rc = mbedtls_x509write_crt_set_issuer_name(&crt, issuer)) ||
	    (rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1)) ||
	    (rc = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) ||
	    (rc = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
	                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
	                                              eku, sizeof eku)) ||
	    (rc = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) ||
	    (rc = mbedtls_x509write_crt_set_authority_key_identifier(&crt))) {
		ret = fail(err, errsz, "cannot build the certificate", rc);
		goto out;
	}
	if (nnames > 0) {
		if (san_der(names, nnames, san, sizeof san, &sanlen) != 0) {
			snprintf(err, errsz, "too many or too long names for the certificate");
			goto out;
		}
		if ((rc = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
		                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
		                                              san, sanlen))) {
			ret = fail(err, errsz, "cannot add the certificate's names", rc);
			goto out;
		}
	}
	if ((rc = mbedtls_x509write_crt_pem(&crt, (unsigned char *)crt_pem, VG_PKI_PEM_MAX, rng, NULL))) {
		ret = fail(err, errsz, "cannot sign the certificate", rc);
		goto out;
	}
	if ((rc = mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, VG_PKI_PEM_MAX))) {
		ret = fail(err, errsz, "cannot encode the key", rc);
		goto out;
	}
	ret = VG_OK;
out:
	mbedtls_x509write_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	mbedtls_pk_free(&key);
	mbedtls_pk_free(&ca_key);
	return ret;
}
