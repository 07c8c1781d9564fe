/* venuegw — fuzz target: the configuration file (config.c: inih and our key
 * table) and the [metrics] listen syntax.
 *
 * Input: the text of a configuration file (NUL-terminated copy; a NUL inside
 * ends it, as it would when inih reads a line).
 *
 * Invariants:
 *  - vg_config_parse returns VG_OK or VG_ERR_CONFIG, and an error names the
 *    file ("fuzz.conf:") in a NUL-terminated message;
 *  - a configuration that loads has a valid venue_id, a listen value that
 *    vg_config_parse_listen accepts (or none), at most VG_MAX_PORTS ports;
 *  - vg_config_parse_listen on the raw text either explains why it is wrong
 *    or gives a port in 1..65535.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	static struct vg_config cfg;
	char err[600];
	memset(err, 'x', sizeof err);
	int rc = vg_config_parse(&cfg, text, "fuzz.conf", err, sizeof err);
	FUZZ_CHECK(rc == VG_OK || rc == VG_ERR_CONFIG);
	if (rc == VG_OK) {
		FUZZ_CHECK(vg_config_valid_id(cfg.venue_id));
		FUZZ_CHECK(cfg.nports >= 0 && cfg.nports <= VG_MAX_PORTS);
		if (cfg.listen[0]) {
			char addr[64];
			int port = 0, loopback = 0;
			FUZZ_CHECK(vg_config_parse_listen(cfg.listen, addr, sizeof addr, &port, &loopback) == NULL);
			FUZZ_CHECK(port >= 1 && port <= 65535);
			FUZZ_CHECK(loopback || cfg.metrics_password_file[0]);
		}
	} else {
		FUZZ_CHECK(memchr(err, 0, sizeof err) != NULL);
		FUZZ_CHECK(strncmp(err, "fuzz.conf", 9) == 0);
	}

	char addr[64];
	int port = 0, loopback = 0;
	const char *why = vg_config_parse_listen(text, addr, sizeof addr, &port, &loopback);
	if (!why) {
		FUZZ_CHECK(port >= 1 && port <= 65535);
		FUZZ_CHECK(memchr(addr, 0, sizeof addr) != NULL);
	} else {
		FUZZ_CHECK(why[0] != 0);
	}
	free(text);
	return 0;
}
