/* venuegw validate: a sample event against the input contract (the tracking
 * plan), for device makers. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "contract.h"
#include "digest.h"
#include "err.h"
#include "ingest.h"
#include "keys.h"

const char vg_help_validate[] =
	"Usage: venuegw validate [--device ID] [--plan PLAN] FILE|-\n"
	"\n"
	"Checks a sample event (one JSON object, DESIGN.md section 4) against the input\n"
	"contract (the tracking plan), for device makers.  Prints the event as\n"
	"buffer.db would store it (tokenized, undeclared members dropped and named),\n"
	"or the reason, field and detail it would be quarantined with.  Works without\n"
	"a gateway's configuration (tokens then use a fixed test key).\n"
	"\n"
	"  --device ID   the device id the event is checked as (default validate)\n"
	"  --plan PLAN   the tracking plan (default: [contracts] plan, or the\n"
	"                package's " VG_PLAN_DEFAULT_PATH ")\n"
	"\n"
	"Exit status: 0 accepted; 1 the file cannot be read; 2 bad command line or\n"
	"configuration; 3 the event would be quarantined.\n";

int vg_cmd_validate(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	int have_config = cfg != NULL;
	const char *device = "validate";
	const char *file = NULL;
	const char *plan_path = have_config ? cfg->plan_path : VG_PLAN_DEFAULT_PATH;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
			device = argv[++i];
		else if (strcmp(argv[i], "--plan") == 0 && i + 1 < argc)
			plan_path = argv[++i];
		else if (!file)
			file = argv[i];
		else {
			fprintf(stderr, "venuegw validate: unexpected argument '%s'\n", argv[i]);
			return VG_EXIT_USAGE;
		}
	}
	if (!file) {
		fprintf(stderr, "venuegw validate: expected FILE (or - for standard input)\n");
		return VG_EXIT_USAGE;
	}
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	if (!f) {
		perror(file);
		return VG_EXIT_FAIL;
	}
	static char buf[VG_EVENT_MAX_BYTES + 2];
	size_t n = fread(buf, 1, sizeof buf, f);
	if (f != stdin)
		fclose(f);

	/* Tokens need a key: the gateway's when there is a config, else a
	 * throwaway one (the tokens then match nothing, which is fine here). */
	struct vg_keyring kr = { .n = 0 };
	struct vg_key throwaway = { .version = 1 };
	const struct vg_key *key = &throwaway;
	char err[600];
	if (have_config && vg_keyring_load(&kr, cfg->key_file, err, sizeof err) == VG_OK)
		key = vg_keyring_current(&kr, time(NULL));
	if (!key)
		key = &throwaway;
	/* Without a gateway's configuration: the defaults, for a venue "validate". */
	struct vg_config defaults;
	if (!have_config) {
		vg_config_defaults(&defaults);
		snprintf(defaults.venue_id, sizeof defaults.venue_id, "validate");
		cfg = &defaults;
	}
	struct vg_plan *plan = NULL;
	if (vg_plan_load(&plan, plan_path, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw validate: %s\n", err);
		vg_wipe(buf, n);
		vg_keyring_wipe(&kr);
		return VG_EXIT_USAGE;
	}
	struct vg_ingest_cfg icfg;
	vg_ingest_cfg_init(&icfg, cfg, key);
	icfg.plan = plan;
	struct vg_ingest_out out;
	int rc = vg_ingest(&icfg, device, buf, n, vg_wall_ms(), vg_clock_synced(), &out);
	vg_wipe(buf, n);
	vg_keyring_wipe(&kr);
	vg_plan_free(plan);
	if (rc) {
		fprintf(stderr, "venuegw validate: %s\n", vg_strerror(rc));
		return VG_EXIT_FAIL;
	}
	int exit_code = VG_EXIT_OK;
	if (out.quarantined) {
		printf("rejected: %s", vg_reject_name(out.rej.reason));
		if (out.rej.field[0])
			printf(" (field %s)", out.rej.field);
		if (out.rej.offset >= 0)
			printf(" at byte %ld", out.rej.offset);
		printf(": %s\n", out.rej.detail);
		exit_code = VG_EXIT_REJECTED;
	} else {
		printf("accepted: type %s, event key %s, priority %d\n", out.type, out.event_key, out.priority);
		for (int i = 0; i < out.nundeclared; i++)
			printf("dropped: %s (not declared by the plan)%s\n", out.undeclared[i],
			       out.undeclared_n[i] > 1 ? " (several times)" : "");
		if (out.undeclared_total > 0 && out.nundeclared == VG_INGEST_UNDECLARED_MAX)
			printf("dropped: %u undeclared members in all\n", out.undeclared_total);
		for (int b = 0; b < VG_FLAG__COUNT; b++)
			if (out.flags & (1u << b))
				printf("flag: %s\n", vg_flag_name(b));
	}
	if (out.pii.fields_dropped || out.pii.phones_dropped || out.pii.emails_dropped || out.pii.cards_masked ||
	    out.pii.emails_in_text)
		printf("personal data: %u fields dropped, %u phones and %u emails unusable, %u card numbers"
		       " and %u emails in text replaced\n", out.pii.fields_dropped, out.pii.phones_dropped,
		       out.pii.emails_dropped, out.pii.cards_masked, out.pii.emails_in_text);
	if (out.body)
		printf("stored as: %s\n", out.body);
	vg_ingest_out_free(&out);
	return exit_code;
}
