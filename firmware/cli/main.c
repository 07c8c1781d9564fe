/* venuegw — one binary, several verbs (DESIGN.md §9): the global options,
 * then the verb's entry in the table (verbs.c) says what it is given. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "err.h"
#include "log.h"

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
		case 'h': vg_cli_print_help(vg_verb_find("help")); return VG_EXIT_OK;
		case 'V': printf("venuegw %s\n", VG_VERSION); return VG_EXIT_OK;
		case 'D': vg_config_describe(stdout); return VG_EXIT_OK;
		default: return vg_cli_usage_error(NULL, "%s", "unknown option");
		}
	}
	if (optind >= argc)
		return vg_cli_usage_error(NULL, "%s", "no verb given");
	const struct vg_verb *verb = vg_verb_find(argv[optind]);
	if (!verb)
		return vg_cli_usage_error(NULL, "unknown verb '%s'", argv[optind]);
	int vargc = argc - optind - 1;
	char **vargv = argv + optind + 1;
	/* help takes its arguments as they are (help VERB, help --list). */
	if (verb->fn == vg_cmd_help)
		return verb->fn(NULL, config_path, vargc, vargv);

	/* A verb's own --config (venuegw status --config F) is accepted too;
	 * --help anywhere among its arguments shows the verb's help. */
	if (vg_cli_common_args(&vargc, vargv, &config_path)) {
		vg_cli_print_help(verb);
		return VG_EXIT_OK;
	}

	int explicit_config = config_path != NULL;
	if (!config_path)
		config_path = VG_CONFIG_DEFAULT_PATH;
	/* provision writes the configuration: it does not read one. */
	if (verb->config == VG_VERB_NO_CONFIG)
		return verb->fn(NULL, config_path, vargc, vargv);

	static struct vg_config cfg;
	char err[600];
	int rc = vg_config_load(&cfg, config_path, err, sizeof err);
	if (rc != VG_OK && (verb->config == VG_VERB_NEEDS_CONFIG || explicit_config)) {
		/* Device makers may validate (and plans be checked) without a
		 * gateway's config; one they name must load. */
		fprintf(stderr, "venuegw: %s\n", err);
		return VG_EXIT_USAGE;
	}
	if (verb->no_args && vargc)
		return vg_cli_usage_error(NULL, "%s takes no arguments, got '%s'", verb->name, vargv[0]);
	return verb->fn(rc == VG_OK ? &cfg : NULL, config_path, vargc, vargv);
}
