/* venuegw's verbs: the one table (name, handler, summary, help, exit
 * statuses, configuration), the usage text built from it, and `help`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define B VG_EXIT_BIT

const char vg_help_usage_head[] =
	"Usage: venuegw [--config FILE] VERB [ARGS]\n"
	"\n"
	"venuegw captures venue device events (MQTT through its broker plugin, serial),\n"
	"keeps them durable in buffer.db and forwards them to the central CDP.\n"
	"\n"
	"Verbs:\n";

const char vg_help_usage_tail[] =
	"\n"
	"Every verb takes --config FILE and --help (venuegw VERB --help).\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE    the configuration (default " VG_CONFIG_DEFAULT_PATH ")\n"
	"  -v, --verbose        log debug messages\n"
	"  -h, --help           this text\n"
	"      --version        print the version\n"
	"      --describe-config\n"
	"                       print every configuration key with its default and meaning\n"
	"\n"
	"Exit status:\n"
	"  0  success\n"
	"  1  operational failure (database, files, network, the broker);\n"
	"     plan: the plan (or the export to import) has errors\n"
	"  2  bad command line or bad configuration (the message names file:line)\n"
	"  3  validate: the event would be quarantined\n"
	"\n"
	"See venuegw(8) and venuegw.conf(5).\n";

const char vg_help_run[] =
	"Usage: venuegw [--config FILE] run\n"
	"\n"
	"The daemon: creates or migrates buffer.db and checkpoints it, forwards batches\n"
	"to the CDP, owns the [serial.*] and [hid.*] ports, publishes the retained status\n"
	"on venue/v1/_gateway/status and serves /metrics and the status page on\n"
	"[metrics] listen.  Under systemd (Type=notify) it reports READY, STATUS and\n"
	"STOPPING, pings the watchdog from its loop and logs to the journal.\n"
	"SIGHUP re-reads the configuration (what needs a restart is named in the log)\n"
	"and the write key; SIGTERM commits, checkpoints and exits 0.\n"
	"\n"
	"Exit status: 0 stopped by a signal; 1 buffer.db, a file or a port failed;\n"
	"2 bad configuration.\n";

/* The verbs, in the order of the usage text.  help NULL: the usage text. */
const struct vg_verb vg_verbs[] = {
	{ .name = "run", .fn = vg_cmd_run, .help = vg_help_run,
	  .summary = "the daemon: buffer.db, forwarding, ports, metrics, status page",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NEEDS_CONFIG, .no_args = 1 },
	{ .name = "provision", .fn = vg_cmd_provision, .help = vg_help_provision,
	  .summary = "write the configuration and its secrets (a new gateway)",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NO_CONFIG },
	{ .name = "device", .fn = vg_cmd_device, .help = vg_help_device,
	  .summary = "add | remove | disable | enable | list the broker's devices",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NEEDS_CONFIG },
	{ .name = "status", .fn = vg_cmd_status, .help = vg_help_status,
	  .summary = "backlog, freshness, rates, CDP errors, devices, ports",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NEEDS_CONFIG },
	{ .name = "quarantine", .fn = vg_cmd_quarantine, .help = vg_help_quarantine,
	  .summary = "list | show | retry refused inputs",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NEEDS_CONFIG, .usage_shows_help = 1 },
	{ .name = "forget", .fn = vg_cmd_forget, .help = vg_help_forget,
	  .summary = "erase a person (identifiers on standard input)",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NEEDS_CONFIG, .usage_shows_help = 1 },
	{ .name = "check-config", .fn = vg_cmd_check_config, .help = vg_help_check_config,
	  .summary = "check the configuration and the files it names",
	  .exits = B(0) | B(2), .config = VG_VERB_NEEDS_CONFIG, .no_args = 1 },
	{ .name = "validate", .fn = vg_cmd_validate, .help = vg_help_validate,
	  .summary = "check a sample event against the input contract",
	  .exits = B(0) | B(1) | B(2) | B(3), .config = VG_VERB_OPTIONAL_CONFIG },
	{ .name = "plan", .fn = vg_cmd_plan, .help = vg_help_plan,
	  .summary = "check | show | import a tracking plan (what passes)",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_OPTIONAL_CONFIG },
	{ .name = "diag", .fn = vg_cmd_diag, .help = vg_help_diag,
	  .summary = "write a support bundle without personal data",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NEEDS_CONFIG, .usage_shows_help = 1 },
	{ .name = "pair", .fn = vg_cmd_pair, .help = vg_help_pair,
	  .summary = "export | import: the second gateway of an active-active pair",
	  .exits = B(0) | B(1) | B(2), .config = VG_VERB_NO_CONFIG, .usage_shows_help = 1 },
	{ .name = "help", .fn = vg_cmd_help, .help = NULL,
	  .summary = "this text, or a verb's: venuegw help VERB",
	  .exits = B(0) | B(2), .config = VG_VERB_NO_CONFIG },
};
const size_t vg_nverbs = sizeof vg_verbs / sizeof vg_verbs[0];

const struct vg_verb *vg_verb_find(const char *name)
{
	for (size_t i = 0; i < vg_nverbs; i++)
		if (strcmp(vg_verbs[i].name, name) == 0)
			return &vg_verbs[i];
	return NULL;
}

/* snprintf that keeps counting past the end of out. */
__attribute__((format(printf, 4, 5)))
static void add(char *out, size_t outsz, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(*n < outsz ? out + *n : NULL, *n < outsz ? outsz - *n : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n += (size_t)k;
}

size_t vg_cli_usage(char *out, size_t outsz)
{
	size_t n = 0;
	if (outsz)
		out[0] = '\0';
	add(out, outsz, &n, "%s", vg_help_usage_head);
	for (size_t i = 0; i < vg_nverbs; i++)
		add(out, outsz, &n, "  %-20s %s\n", vg_verbs[i].name, vg_verbs[i].summary);
	add(out, outsz, &n, "%s", vg_help_usage_tail);
	return n;
}

size_t vg_cli_list(char *out, size_t outsz)
{
	size_t n = 0;
	if (outsz)
		out[0] = '\0';
	for (size_t i = 0; i < vg_nverbs; i++) {
		add(out, outsz, &n, "%s", vg_verbs[i].name);
		for (int s = 0; s < 8; s++)
			if (vg_verbs[i].exits & VG_EXIT_BIT(s))
				add(out, outsz, &n, " %d", s);
		add(out, outsz, &n, "\n");
	}
	return n;
}

void vg_cli_print_help(const struct vg_verb *v)
{
	if (v->help) {
		fputs(v->help, stdout);
		return;
	}
	char text[4096];
	size_t n = vg_cli_usage(text, sizeof text);
	fwrite(text, 1, n < sizeof text ? n : sizeof text - 1, stdout);
}

/* `venuegw help [VERB]`; the hidden `venuegw help --list` for the man page
 * test. */
int vg_cmd_help(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)cfg;
	(void)config_path;
	if (argc && strcmp(argv[0], "--list") == 0) {
		char text[2048];
		size_t n = vg_cli_list(text, sizeof text);
		fwrite(text, 1, n < sizeof text ? n : sizeof text - 1, stdout);
		return VG_EXIT_OK;
	}
	const struct vg_verb *v = vg_verb_find(argc ? argv[0] : "help");
	if (!v)
		return vg_cli_usage_error(NULL, "unknown verb '%s'", argv[0]);
	vg_cli_print_help(v);
	return VG_EXIT_OK;
}
