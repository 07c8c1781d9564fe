/* Unit tests for firmware/cli/passwd.c and pki.c (the helpers of provision
 * and device): mosquitto $7$ entries made and verified, the password file in
 * memory and on disk, names for certificates, and their enum vg_err
 * returns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "passwd.h"
#include "pki.h"

static void generated_passwords_are_base64url_and_differ(void **state)
{
	(void)state;
	char a[25], b[25], tiny[24];
	assert_int_equal(vg_passwd_generate(a, sizeof a), VG_OK);
	assert_int_equal(vg_passwd_generate(b, sizeof b), VG_OK);
	assert_int_equal(strlen(a), 24);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 24);
	assert_string_not_equal(a, b);
	assert_int_equal(vg_passwd_generate(tiny, sizeof tiny), VG_ERR_RANGE);
}

static void entries_verify_their_password_only(void **state)
{
	(void)state;
	char line[VG_PASSWD_LINE_MAX], small[20];
	assert_int_equal(vg_passwd_entry("pos-1", "s3cret", line, sizeof line), VG_OK);
	assert_true(strncmp(line, "pos-1:$7$101$", 13) == 0);
	assert_int_equal(vg_passwd_verify(line, "s3cret"), 1);
	assert_int_equal(vg_passwd_verify(line, "s3cret "), 0);
	assert_int_equal(vg_passwd_verify(line, ""), 0);
	/* Not a $7$ entry, or a damaged one. */
	assert_int_equal(vg_passwd_verify("pos-1:$6$abc$def", "s3cret"), 0);
	assert_int_equal(vg_passwd_verify("no colon", "s3cret"), 0);
	/* A hash that differs in its first bytes only, then in its last. */
	char *h = strrchr(line, '$') + 1, was = h[1];
	h[1] = was == 'A' ? 'B' : 'A';
	assert_int_equal(vg_passwd_verify(line, "s3cret"), 0);
	h[1] = was;
	assert_int_equal(vg_passwd_verify(line, "s3cret"), 1);
	line[strlen(line) - 4] = line[strlen(line) - 4] == 'A' ? 'B' : 'A';  /* "XY==": X holds bits of the last byte */
	assert_int_equal(vg_passwd_verify(line, "s3cret"), 0);
	assert_int_equal(vg_passwd_entry("pos-1", "s3cret", small, sizeof small), VG_ERR_RANGE);
}

static void the_file_in_memory(void **state)
{
	(void)state;
	struct vg_pwfile f = { .n = 0 };
	char user[65], tiny[3];
	assert_int_equal(vg_pwfile_append(&f, "# comment"), VG_OK);
	assert_int_equal(vg_pwfile_append(&f, "pos-1:$7$x"), VG_OK);
	assert_int_equal(vg_pwfile_append(&f, "pos-10:$7$y"), VG_OK);
	assert_int_equal(vg_pwfile_find(&f, "pos-1"), 1);
	assert_int_equal(vg_pwfile_find(&f, "pos-10"), 2);
	assert_int_equal(vg_pwfile_find(&f, "pos"), VG_ERR_NOTFOUND);
	assert_int_equal(vg_pwfile_user(f.lines[2], user, sizeof user), VG_OK);
	assert_string_equal(user, "pos-10");
	assert_int_equal(vg_pwfile_user(f.lines[0], user, sizeof user), VG_ERR_INVAL);
	assert_int_equal(vg_pwfile_user(":x", user, sizeof user), VG_ERR_INVAL);
	assert_int_equal(vg_pwfile_user(f.lines[2], tiny, sizeof tiny), VG_ERR_RANGE);
	vg_pwfile_remove(&f, 1);
	assert_int_equal(f.n, 2);
	assert_int_equal(vg_pwfile_find(&f, "pos-1"), VG_ERR_NOTFOUND);
	assert_int_equal(vg_pwfile_find(&f, "pos-10"), 1);
	vg_pwfile_remove(&f, 7);   /* out of range: nothing */
	assert_int_equal(f.n, 2);
	vg_pwfile_free(&f);
	assert_int_equal(f.n, 0);
}

static void the_file_on_disk(void **state)
{
	(void)state;
	char dir[] = "/tmp/vg_passwd_test.XXXXXX", path[100], err[300];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/passwd", dir);
	struct vg_pwfile f;
	/* Missing: an error naming it, unless missing is fine. */
	assert_int_equal(vg_pwfile_load(&f, path, 0, err, sizeof err), VG_ERR_NOTFOUND);
	assert_non_null(strstr(err, path));
	assert_int_equal(vg_pwfile_load(&f, path, 1, err, sizeof err), VG_OK);
	assert_int_equal(f.existed, 0);
	assert_int_equal(vg_pwfile_append(&f, "a:$7$1"), VG_OK);
	assert_int_equal(vg_pwfile_append(&f, "b:$7$2"), VG_OK);
	assert_int_equal(vg_pwfile_save(&f, path, 0640, NULL, err, sizeof err), VG_OK);
	vg_pwfile_free(&f);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(vg_pwfile_load(&f, path, 0, err, sizeof err), VG_OK);
	assert_int_equal(f.existed, 1);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.lines[1], "b:$7$2");
	vg_pwfile_free(&f);
	/* Not replacing an existing file. */
	assert_int_equal(vg_file_write(path, "x\n", 2, 0600, (uid_t)-1, (gid_t)-1, 0, err, sizeof err), VG_ERR_IO);
	assert_non_null(strstr(err, "exists"));
	/* A line too long. */
	char *big = malloc(VG_PASSWD_LINE_MAX + 10);
	assert_non_null(big);
	memset(big, 'x', VG_PASSWD_LINE_MAX + 8);
	big[VG_PASSWD_LINE_MAX + 8] = '\n';
	assert_int_equal(vg_file_write(path, big, VG_PASSWD_LINE_MAX + 9, 0600, (uid_t)-1, (gid_t)-1, 1, err,
	                               sizeof err), VG_OK);
	free(big);
	assert_int_equal(vg_pwfile_load(&f, path, 0, err, sizeof err), VG_ERR_INVAL);
	assert_int_equal(f.n, 0);
	/* The lock. */
	int fd = vg_pwfile_lock(path, err, sizeof err);
	assert_true(fd >= 0);
	close(fd);
	char lock[120];
	snprintf(lock, sizeof lock, "%s.lock", path);
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof path, "%s/no/such/dir/passwd", dir);
	assert_int_equal(vg_pwfile_lock(path, err, sizeof err), VG_ERR_IO);
	assert_int_equal(rmdir(dir), 0);
}

static void certificate_names(void **state)
{
	(void)state;
	assert_true(vg_pki_name_ok("192.168.1.10"));
	assert_true(vg_pki_name_ok("::1"));
	assert_true(vg_pki_name_ok("gw-1.venue.example"));
	assert_true(vg_pki_name_ok("*.venue.example"));
	assert_false(vg_pki_name_ok(""));
	assert_false(vg_pki_name_ok("-gw.example"));
	assert_false(vg_pki_name_ok("gw-.example"));
	assert_false(vg_pki_name_ok("gw..example"));
	assert_false(vg_pki_name_ok("gw_1.example"));
	assert_false(vg_pki_name_ok("a.*.example"));
}

static void ca_and_issue_return_vg_err(void **state)
{
	(void)state;
	char *ca_key = malloc(VG_PKI_PEM_MAX), *ca_crt = malloc(VG_PKI_PEM_MAX);
	char *key = malloc(VG_PKI_PEM_MAX), *crt = malloc(VG_PKI_PEM_MAX);
	char err[300];
	assert_non_null(ca_key && ca_crt && key && crt ? ca_key : NULL);
	assert_int_equal(vg_pki_make_ca("bad,name", 10, ca_key, ca_crt, err, sizeof err), VG_ERR_INVAL);
	assert_int_equal(vg_pki_make_ca("venue-1 CA", 10, ca_key, ca_crt, err, sizeof err), VG_OK);
	assert_non_null(strstr(ca_crt, "BEGIN CERTIFICATE"));
	const char *names[] = { "10.0.0.1", "gw.example" };
	assert_int_equal(vg_pki_issue(ca_key, ca_crt, VG_PKI_SERVER, "gw", names, 2, 10, key, crt, err, sizeof err),
	                 VG_OK);
	assert_non_null(strstr(key, "PRIVATE KEY"));
	const char *bad[] = { "not a name" };
	assert_int_equal(vg_pki_issue(ca_key, ca_crt, VG_PKI_SERVER, "gw", bad, 1, 10, key, crt, err, sizeof err),
	                 VG_ERR_INVAL);
	assert_non_null(strstr(err, "not a name"));
	/* A CA that does not parse: mbedTLS fails to read it. */
	assert_int_equal(vg_pki_issue("junk", ca_crt, VG_PKI_CLIENT, "pos-1", NULL, 0, 10, key, crt, err, sizeof err),
	                 VG_ERR_IO);
	free(ca_key);
	free(ca_crt);
	free(key);
	free(crt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generated_passwords_are_base64url_and_differ),
		cmocka_unit_test(entries_verify_their_password_only),
		cmocka_unit_test(the_file_in_memory),
		cmocka_unit_test(the_file_on_disk),
		cmocka_unit_test(certificate_names),
		cmocka_unit_test(ca_and_issue_return_vg_err),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
