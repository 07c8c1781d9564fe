/* venuegw — one binary, several verbs (DESIGN.md §9). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "serial.h"

static const char usage_text[] =
	"Usage: venuegw [--config FILE] VERB [ARGS]\n"
	"\n"
	"venuegw captures venue device events (MQTT through its broker plugin, serial),\n"
	"keeps them durable in buffer.db and forwards them to the central CDP.\n"
	"\n"
	"Verbs:\n"
	"  run                  the daemon: buffer.db, forwarding, ports, metrics, status page\n"
	"  provision            write the configuration and its secrets (a new gateway)\n"
	"  device               add | remove | disable | enable | list the broker's devices\n"
	"  status               backlog, freshness, rates, CDP errors, devices, ports\n"
	"  quarantine           list | show | retry refused inputs\n"
	"  forget               erase a person (identifiers on standard input)\n"
	"  check-config         check the configuration and the files it names\n"
	"  validate             check a sample event against the input contract\n"
	"  plan                 check | show | import a tracking plan (what passes)\n"
	"  diag                 write a support bundle without personal data\n"
	"  help                 this text, or a verb's: venuegw help VERB\n"
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

const char vg_help_check_config[] =
	"Usage: venuegw [--config FILE] check-config\n"
	"\n"
	"Loads the configuration and checks what it names: the secrets' files exist,\n"
	"can be read by this user and are not readable by everyone; a token key is in\n"
	"force; the CDP's certificates; data_dir is writable; the ports' driver options.\n"
	"Every problem is listed.  Run it as the service user to check permissions as\n"
	"the services see them: runuser -u venuegw -- venuegw check-config\n"
	"\n"
	"Exit status: 0 usable (warnings may be printed); 2 an error in the file or in\n"
	"what it names.\n";

/* The verbs, in the order of the usage text.  NEEDS_CONFIG: the verb is given
 * the loaded configuration (a load error is exit 2). */
enum { NO_CONFIG, OPTIONAL_CONFIG, NEEDS_CONFIG };
static const struct verb {
	const char *name;
	const char *help;
	int config;
} verbs[] = {
	{ "run", vg_help_run, NEEDS_CONFIG },
	{ "provision", vg_help_provision, NO_CONFIG },
	{ "device", vg_help_device, NEEDS_CONFIG },
	{ "status", vg_help_status, NEEDS_CONFIG },
	{ "quarantine", vg_help_quarantine, NEEDS_CONFIG },
	{ "forget", vg_help_forget, NEEDS_CONFIG },
	{ "check-config", vg_help_check_config, NEEDS_CONFIG },
	{ "validate", vg_help_validate, OPTIONAL_CONFIG },
	{ "plan", vg_help_plan, OPTIONAL_CONFIG },
	{ "diag", vg_help_diag, NEEDS_CONFIG },
	{ "help", usage_text, NO_CONFIG },
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "venuegw: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'venuegw --help'.\n");
	return VG_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "describe-config", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	/* '+': stop at the verb, so verbs parse their own options. */
	while ((c = getopt_long(argc, argv, "+c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'v': vg_log_threshold = VG_LOG_DEBUG; break;
		case 'h': fputs(usage_text, stdout); return VG_EXIT_OK;
		case 'V': printf("venuegw %s\n", VG_VERSION); return VG_EXIT_OK;
		case 'D': vg_config_describe(stdout); return VG_EXIT_OK;
		default: return usage_error("%s", "unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("%s", "no verb given");
	const struct verb *verb = find_verb(argv[optind]);
	if (!verb)
		return usage_error("unknown verb '%s'", argv[optind]);
	int vargc = argc - optind - 1;
	char **vargv = argv + optind + 1;
	if (strcmp(verb->name, "help") == 0) {
		const struct verb *v = vargc ? find_verb(vargv[0]) : verb;
		if (!v)
			return usage_error("unknown verb '%s'", vargv[0]);
		fputs(v->help, stdout);
		return VG_EXIT_OK;
	}

	/* A verb's own --config (venuegw status --config F) is accepted too;
	 * --help anywhere among its arguments shows the verb's help. */
	for (int i = 0; i < vargc; i++) {
		if ((strcmp(vargv[i], "--config") == 0 || strcmp(vargv[i], "-c") == 0) && i + 1 < vargc) {
			config_path = vargv[i + 1];
			memmove(&vargv[i], &vargv[i + 2], (size_t)(vargc - i - 2) * sizeof *vargv);
			vargc -= 2;
			i--;
		} else if (strcmp(vargv[i], "--help") == 0 || strcmp(vargv[i], "-h") == 0) {
			fputs(verb->help, stdout);
			return VG_EXIT_OK;
		}
	}

	int explicit_config = config_path != NULL;
	if (!config_path)
		config_path = VG_CONFIG_DEFAULT_PATH;
	/* provision writes the configuration: it does not read one. */
	if (verb->config == NO_CONFIG)
		return vg_cmd_provision(config_path, vargc, vargv);

	static struct vg_config cfg;
	char err[600];
	int rc = vg_config_load(&cfg, config_path, err, sizeof err);
	if (verb->config == OPTIONAL_CONFIG) {
		/* Device makers may validate (and plans be checked) without a
		 * gateway's config; one they name must load. */
		if (rc != VG_OK && explicit_config) {
			fprintf(stderr, "venuegw: %s\n", err);
			return VG_EXIT_USAGE;
		}
		if (strcmp(verb->name, "plan") == 0)
			return vg_cmd_plan(rc == VG_OK ? &cfg : NULL, vargc, vargv);
		return vg_cmd_validate(&cfg, rc == VG_OK, vargc, vargv);
	}
	if (rc != VG_OK) {
		fprintf(stderr, "venuegw: %s\n", err);
		return VG_EXIT_USAGE;
	}
	if (strcmp(verb->name, "check-config") == 0)
		return vg_cmd_check_config(&cfg, vargc, vargv);
	if (strcmp(verb->name, "run") == 0) {
		if (vargc)
			return usage_error("run takes no arguments, got '%s'", vargv[0]);
		/* The ports' driver options are checked by their drivers. */
		if (vg_serial_check(&cfg, err, sizeof err) != VG_OK) {
			fprintf(stderr, "venuegw: %s\n", err);
			return VG_EXIT_USAGE;
		}
		return vg_cmd_run(&cfg);
	}
	if (strcmp(verb->name, "status") == 0)
		return vg_cmd_status(&cfg, vargc, vargv);
	if (strcmp(verb->name, "quarantine") == 0)
		return vg_cmd_quarantine(&cfg, vargc, vargv);
	if (strcmp(verb->name, "forget") == 0)
		return vg_cmd_forget(&cfg, vargc, vargv);
	if (strcmp(verb->name, "device") == 0)
		return vg_cmd_device(&cfg, vargc, vargv);
	return vg_cmd_diag(&cfg, vargc, vargv);
}
