/* venuegw — the last filter of the support bundle (venuegw diag): nothing
 * shaped like personal data leaves.  A pure policy over text.
 *
 * Replaced, wherever they stand in the text:
 *   [token]  a token "v<digits>.<kind>.<22 base64url>" (kinds em, ph, cu, lo,
 *            mc, pc, pan) that does not continue a base64url word
 *   [email]  local@domain where the domain holds a dot
 *   [phone]  '+' and 8-15 digits, single spaces or dashes between them
 *   [card]   13-19 digits (single spaces or dashes between them) that pass
 *            the scheme and Luhn checks (vg_card_valid), not part of a longer
 *            run of digits */
#ifndef VG_REDACT_H
#define VG_REDACT_H

#include <stddef.h>

/* The len bytes of text, filtered, into out: at most outsz - 1 bytes and a
 * NUL (none when outsz is 0; out may then be NULL).  Returns the length of
 * the whole filtered text, as snprintf does: call it with outsz 0 to size
 * the buffer.  The filtered text is never longer than 7 * len / 3. */
size_t vg_redact(const char *text, size_t len, char *out, size_t outsz);

#endif
