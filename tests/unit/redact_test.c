/* Unit tests for firmware/core/redact.c, the last filter of the support
 * bundle (venuegw diag): known answers for tokens, email addresses,
 * international phone numbers and card numbers, and what it leaves alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact.h"

/* in, filtered, must read want. */
static void check(const char *in, const char *want)
{
	size_t need = vg_redact(in, strlen(in), NULL, 0);
	char *out = malloc(need + 1);
	assert_non_null(out);
	assert_int_equal(vg_redact(in, strlen(in), out, need + 1), need);
	assert_int_equal(strlen(out), need);
	if (strcmp(out, want) != 0)
		fail_msg("redact(\"%s\") = \"%s\", want \"%s\"", in, out, want);
	assert_true(need <= 7 * strlen(in) / 3);
	free(out);
}

static void tokens(void **state)
{
	(void)state;
	check("id v1.em.AAAAAAAAAAAAAAAAAAAAAA done", "id [token] done");
	check("v12.ph.abcdefghijklmnopqrstuv", "[token]");
	check("x=v3.pan.0123456789-_ABCDEFGHIJ;", "x=[token];");
	/* 22 characters are the token: the rest of a longer run stays. */
	check("v1.cu.AAAAAAAAAAAAAAAAAAAAAAxyz", "[token]xyz");
	/* Every kind. */
	check("v1.lo.AAAAAAAAAAAAAAAAAAAAAA v1.mc.AAAAAAAAAAAAAAAAAAAAAA v1.pc.AAAAAAAAAAAAAAAAAAAAAA",
	      "[token] [token] [token]");
	/* Not tokens: an unknown kind, too short, no version digits, inside a word. */
	check("v1.zz.AAAAAAAAAAAAAAAAAAAAAA", "v1.zz.AAAAAAAAAAAAAAAAAAAAAA");
	check("v1.em.AAAAAAAAAAAAAAAAAAAAA", "v1.em.AAAAAAAAAAAAAAAAAAAAA");
	check("v1.em.AAAAAAAAAAAAAAAAAAAAA done", "v1.em.AAAAAAAAAAAAAAAAAAAAA done");
	check("v.em.AAAAAAAAAAAAAAAAAAAAAA", "v.em.AAAAAAAAAAAAAAAAAAAAAA");
	check("xv1.em.AAAAAAAAAAAAAAAAAAAAAA", "xv1.em.AAAAAAAAAAAAAAAAAAAAAA");
}

static void emails(void **state)
{
	(void)state;
	check("contact: owner.contact@example.org\n", "contact: [email]\n");
	check("<a.b+tag@mail.example.co.uk>", "<[email]>");
	check("x@y.z and p@q.r", "[email] and [email]");
	/* No dot in the domain, no local part: left. */
	check("root@localhost", "root@localhost");
	check("@example.org", "@example.org");
	check("user @example.org", "user @example.org");
	/* The domain stops at '+' and '%'. */
	check("a@b.c+d", "[email]+d");
}

static void phones(void **state)
{
	(void)state;
	check("call +49 30 1234567 now", "call [phone] now");
	check("+4915112345678", "[phone]");
	check("tel:+1-202-555-0143.", "tel:[phone].");
	/* 8 to 15 digits after '+'. */
	check("+1234567", "+1234567");
	check("+12345678", "[phone]");
	check("+123456789012345", "[phone]");
	check("+1234567890123456", "+1234567890123456");
	/* Two separators in a row end the number. */
	check("+49  30 1234567", "+49  30 1234567");
	/* Without '+': not a phone (and not a card). */
	check("030 1234567", "030 1234567");
}

static void cards(void **state)
{
	(void)state;
	check("pan 4111111111111111 ok", "pan [card] ok");
	check("4111 1111 1111 1111", "[card]");
	check("4111-1111-1111-1111.", "[card].");
	check("amex 378282246310005", "amex [card]");
	/* Any scheme passing Luhn (Mir). */
	check("2200 0000 0000 0004", "[card]");
	/* Luhn fails: left. */
	check("4111111111111112", "4111111111111112");
	/* Too short or too long. */
	check("411111111111", "411111111111");
	check("41111111111111111111", "41111111111111111111");
	/* Inside a longer run of digits (a timestamp, an id): not split. */
	check("x14111111111111111", "x14111111111111111");
	check("9994111111111111111", "9994111111111111111");
}

static void left_alone(void **state)
{
	(void)state;
	check("", "");
	check("pending events      42\nschema version   3\n", "pending events      42\nschema version   3\n");
	check("2026-12-04T13:20:11.149Z venuegw[42]: batch 7 sent (200)",
	      "2026-12-04T13:20:11.149Z venuegw[42]: batch 7 sent (200)");
	check("endpoint = https://<redacted>@cdp.example/v1/batch", "endpoint = https://<redacted>@cdp.example/v1/batch");
}

static void binary_and_length(void **state)
{
	(void)state;
	/* Bytes after a NUL are filtered too: the length counts, not the NUL. */
	static const char in[] = "a\0+4915112345678";
	char out[64];
	assert_int_equal(vg_redact(in, sizeof in - 1, out, sizeof out), 9);
	assert_memory_equal(out, "a\0[phone]", 10);
	/* The worst growth: 3 bytes become 7. */
	check("a@.", "[email]");
	check("a@.a@.", "[email]@.");
	/* A short buffer: cut and terminated, the whole length returned. */
	char small[8];
	assert_int_equal(vg_redact("mail x@y.z now", 14, small, sizeof small), 16);
	assert_string_equal(small, "mail [e");
	assert_int_equal(vg_redact("x@y.z", 5, small, 0), 7);
	/* An email after a cut: the local part is taken back from what fits. */
	assert_int_equal(vg_redact("abcdefghij@example.org", 22, small, sizeof small), 7);
	assert_string_equal(small, "[email]");
	/* A long text. */
	size_t big = 100000;
	char *text = malloc(big + 1), *o = malloc(big + 1);
	assert_non_null(text);
	assert_non_null(o);
	for (size_t i = 0; i < big; i += 20)
		memcpy(text + i, "x 4111111111111111 y", 20);
	text[big] = '\0';
	assert_int_equal(vg_redact(text, big, o, big + 1), big / 20 * 10);
	assert_true(strncmp(o, "x [card] yx [card] y", 20) == 0);
	free(o);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens),
		cmocka_unit_test(emails),
		cmocka_unit_test(phones),
		cmocka_unit_test(cards),
		cmocka_unit_test(left_alone),
		cmocka_unit_test(binary_and_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
