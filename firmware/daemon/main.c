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
	"  run                  run the daemon: migrate buffer.db, checkpoint it, forward\n"
	"  check-config         load the configuration and report the first error\n"
	"  status [--json]      what buffer.db holds: pending, forwarded, quarantined\n"
	"  quarantine list [--limit N]\n"
	"                       the newest quarantined inputs and why\n"
	"  validate FILE|-      check a sample event against the input contract (for\n"
	"                       device makers); prints the tokenized form or the reason\n"
	"  help [VERB]          this text, or a verb's\n"
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
	"  1  operational failure (database, files, network)\n"
	"  2  bad command line or bad configuration (the message names file:line)\n"
	"  3  validate: the event would be quarantined\n";

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
	const char *verb = argv[optind];
	int vargc = argc - optind - 1;
	char **vargv = argv + optind + 1;
	if (strcmp(verb, "help") == 0) {
		fputs(usage_text, stdout);
		return VG_EXIT_OK;
	}
	int known = strcmp(verb, "run") == 0 || strcmp(verb, "check-config") == 0 ||
	            strcmp(verb, "status") == 0 || strcmp(verb, "quarantine") == 0 ||
	            strcmp(verb, "validate") == 0 || strcmp(verb, "forget") == 0 ||
	            strcmp(verb, "provision") == 0 || strcmp(verb, "device") == 0 ||
	            strcmp(verb, "diag") == 0;
	if (!known)
		return usage_error("unknown verb '%s'", verb);

	/* A verb's own --config (venuegw status --config F) is accepted too. */
	for (int i = 0; i < vargc; i++) {
		if ((strcmp(vargv[i], "--config") == 0 || strcmp(vargv[i], "-c") == 0) && i + 1 < vargc) {
			config_path = vargv[i + 1];
			memmove(&vargv[i], &vargv[i + 2], (size_t)(vargc - i - 2) * sizeof *vargv);
			vargc -= 2;
			i--;
		} else if (strcmp(vargv[i], "--help") == 0 || strcmp(vargv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return VG_EXIT_OK;
		}
	}

	struct vg_config cfg;
	char err[600];
	int explicit_config = config_path != NULL;
	if (!config_path)
		config_path = VG_CONFIG_DEFAULT_PATH;
	/* provision writes the configuration: it does not read one. */
	if (strcmp(verb, "provision") == 0)
		return vg_cmd_provision(config_path, vargc, vargv);
	int rc = vg_config_load(&cfg, config_path, err, sizeof err);
	if (strcmp(verb, "validate") == 0) {
		/* Device makers may validate without a gateway's config. */
		if (rc != VG_OK && explicit_config) {
			fprintf(stderr, "venuegw: %s\n", err);
			return VG_EXIT_USAGE;
		}
		return vg_cmd_validate(&cfg, rc == VG_OK, vargc, vargv);
	}
	if (rc != VG_OK) {
		fprintf(stderr, "venuegw: %s\n", err);
		return VG_EXIT_USAGE;
	}
	if (strcmp(verb, "check-config") == 0)
		return vg_cmd_check_config(&cfg, vargc, vargv);
	if (strcmp(verb, "run") == 0) {
		/* The ports' driver options are checked by their drivers. */
		if (vg_serial_check(&cfg, err, sizeof err) != VG_OK) {
			fprintf(stderr, "venuegw: %s\n", err);
			return VG_EXIT_USAGE;
		}
	}
	if (strcmp(verb, "run") == 0) {
		if (vargc)
			return usage_error("run takes no arguments, got '%s'", vargv[0]);
		return vg_cmd_run(&cfg);
	}
	if (strcmp(verb, "status") == 0)
		return vg_cmd_status(&cfg, vargc, vargv);
	if (strcmp(verb, "quarantine") == 0)
		return vg_cmd_quarantine(&cfg, vargc, vargv);
	if (strcmp(verb, "forget") == 0)
		return vg_cmd_forget(&cfg, vargc, vargv);
	if (strcmp(verb, "device") == 0)
		return vg_cmd_device(&cfg, vargc, vargv);
	if (strcmp(verb, "diag") == 0)
		return vg_cmd_diag(&cfg, vargc, vargv);
	return usage_error("unknown verb '%s'", verb);
}
