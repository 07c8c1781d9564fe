/* venuegw — fuzz target: the person-field normalizers of pii.h
 * (vg_norm_phone, vg_norm_email, vg_norm_ident) on arbitrary bytes.
 *
 * Input: two parameter bytes, then the text.
 *   byte 0: default calling code = ccs[b % N] (known, unknown and invalid)
 *   byte 1: size of the small output buffer (b % 40; 0 included)
 * Seeds start with the byte 45 + i for ccs[i] ('-': DE), then ' ' (32).
 *
 * Invariants:
 *  - a result is a length n ≥ 0 with out[n] == NUL, or VG_ERR_INVAL /
 *    VG_ERR_RANGE; a small buffer gives the same answer as a large one when
 *    the result fits, else VG_ERR_RANGE (never a write past outsz: ASan);
 *  - phone: "+" then 7..15 digits (E.164 allows 15; Austria's shortest
 *    national numbers make 7), no leading 0 after '+', at most 16 chars;
 *    normalizing the result again — with the same default code, or any
 *    other, since it is international — gives the same result;
 *  - email: exactly one '@', no upper-case letter, no byte ≤ 0x20 or 0x7f,
 *    no longer than the input; idempotent;
 *  - ident: 1..len bytes, no leading or trailing whitespace; idempotent.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "pii.h"

static const int ccs[] = { 49, 39, 1, 44, 0, 33, 34, 31, 43, 353, 7, 86, 999, 1000, -1 };
#define N_CCS (sizeof ccs / sizeof ccs[0])

typedef int (*norm_fn)(const char *in, size_t len, int cc, char *out, size_t outsz);

static int phone(const char *in, size_t len, int cc, char *out, size_t outsz)
{
	return vg_norm_phone(in, len, cc, out, outsz);
}

static int email(const char *in, size_t len, int cc, char *out, size_t outsz)
{
	(void)cc;
	return vg_norm_email(in, len, out, outsz);
}

static int ident(const char *in, size_t len, int cc, char *out, size_t outsz)
{
	(void)cc;
	return vg_norm_ident(in, len, out, outsz);
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Run fn into a large buffer and into one of exactly small bytes; check they
 * agree.  Returns the result; the large buffer's text is in *big (malloc'd,
 * caller frees). */
static int run(norm_fn fn, const char *in, size_t len, int cc, size_t small, char **big)
{
	const size_t bigsz = len + 64;
	char *out = malloc(bigsz);
	char *sm = malloc(small ? small : 1);
	FUZZ_CHECK(out && sm);
	int n = fn(in, len, cc, out, bigsz);
	FUZZ_CHECK(n >= 0 || n == VG_ERR_INVAL || n == VG_ERR_RANGE);
	if (n >= 0) {
		FUZZ_CHECK((size_t)n < bigsz && out[n] == '\0');
	}
	int m = fn(in, len, cc, sm, small);
	if (n >= 0 && (size_t)n + 1 <= small) {
		FUZZ_CHECK(m == n);
		FUZZ_CHECK(memcmp(sm, out, (size_t)n + 1) == 0);
	} else if (n >= 0) {
		FUZZ_CHECK(m == VG_ERR_RANGE);
	} else {
		FUZZ_CHECK(m == n);
	}
	free(sm);
	*big = out;
	return n;
}

/* fn(out) must give out again. */
static void check_fixpoint(norm_fn fn, const char *out, size_t n, int cc)
{
	char *again;
	int m = run(fn, out, n, cc, 0, &again);
	FUZZ_CHECK(m == (int)n);
	FUZZ_CHECK(memcmp(again, out, n) == 0);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const int cc = ccs[data[0] % N_CCS];
	const size_t small = data[1] % 40;
	const size_t len = size - 2;
	/* Exactly len bytes, not NUL-terminated: the normalizers take a length. */
	char *in = malloc(len ? len : 1);
	if (!in)
		return 0;
	memcpy(in, data + 2, len);
	char *out;
	int n;

	n = run(phone, in, len, cc, small, &out);
	if (n >= 0) {
		FUZZ_CHECK(out[0] == '+');
		FUZZ_CHECK(n >= 1 + 7 && n <= 1 + 15);
		FUZZ_CHECK(out[1] != '0');
		for (int i = 1; i < n; i++)
			FUZZ_CHECK(out[i] >= '0' && out[i] <= '9');
		check_fixpoint(phone, out, (size_t)n, cc);
		check_fixpoint(phone, out, (size_t)n, ccs[(data[0] + 1u) % N_CCS]);
	}
	free(out);

	n = run(email, in, len, cc, small, &out);
	if (n >= 0) {
		FUZZ_CHECK((size_t)n <= len);
		int ats = 0;
		for (int i = 0; i < n; i++) {
			unsigned char c = (unsigned char)out[i];
			FUZZ_CHECK(c > 0x20 && c != 0x7f && !(c >= 'A' && c <= 'Z'));
			ats += c == '@';
		}
		FUZZ_CHECK(ats == 1);
		check_fixpoint(email, out, (size_t)n, cc);
	}
	free(out);

	n = run(ident, in, len, cc, small, &out);
	if (n >= 0) {
		FUZZ_CHECK(n >= 1 && (size_t)n <= len);
		FUZZ_CHECK(!is_ws(out[0]) && !is_ws(out[n - 1]));
		check_fixpoint(ident, out, (size_t)n, cc);
	}
	free(out);

	free(in);
	return 0;
}
