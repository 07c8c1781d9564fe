/* venuegw check-config: the configuration file, then what it points at — the
 * secrets' files (readable, not readable by everyone), the token keys (one in
 * force), the tracking plan (it loads), the CDP's certificates, data_dir and
 * the ports' drivers.  Every
 * problem is listed, not only the first; warnings do not fail. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "contract.h"
#include "cli.h"
#include "err.h"
#include "keys.h"
#include "store.h"

const char vg_help_check_config[] =
	"Usage: venuegw [--config FILE] check-config\n"
	"\n"
	"Loads the configuration and checks what it names: the secrets' files exist,\n"
	"can be read by this user and are not readable by everyone; a token key is in\n"
	"force; the CDP's certificates; data_dir is writable; the ports' driver options.\n"
	"With [output] kind = kafka it also asks the brokers for the topic (5 s at\n"
	"most): none answering, refused credentials or a missing topic are errors,\n"
	"though the daemon would start and buffer events.  Every problem is listed.  Run it as the service user to check permissions as\n"
	"the services see them: runuser -u venuegw -- venuegw check-config\n"
	"\n"
	"Exit status: 0 usable (warnings may be printed); 2 an error in the file or in\n"
	"what it names.\n";

struct check {
	const struct vg_config *cfg;
	int errors, warnings;
};

__attribute__((format(printf, 3, 4)))
static void report(struct check *c, int error, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: %s: ", c->cfg->path, error ? "error" : "warning");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (error)
		c->errors++;
	else
		c->warnings++;
}

/* A file named by section.key: it must exist and be readable by this user;
 * a secret must not be readable by every user. */
static void check_file(struct check *c, const char *section, const char *key, const char *path,
                       int secret, int required)
{
	if (!path[0])
		return;
	struct stat st;
	if (stat(path, &st) != 0) {
		report(c, required, "[%s] %s: %s: %s", section, key, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		report(c, 1, "[%s] %s: %s is not a regular file", section, key, path);
		return;
	}
	if (access(path, R_OK) != 0)
		report(c, required, "[%s] %s: %s: cannot be read by this user (uid %u): %s", section, key, path,
		       (unsigned)getuid(), strerror(errno));
	if (secret && (st.st_mode & 0004))
		report(c, 0, "[%s] %s: %s is readable by every user (mode %04o); chmod 0640 and chgrp it to the"
		       " service's group", section, key, path, (unsigned)(st.st_mode & 07777));
}

int vg_cmd_check_config(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	(void)argc;
	(void)argv;
	struct check c = { .cfg = cfg };
	char err[600];

	/* The ports' driver options are checked by their drivers. */
	if (vg_run_check(cfg, err, sizeof err) != VG_OK)
		report(&c, 1, "%s", err);

	if (cfg->output == VG_OUTPUT_KAFKA) {
		check_file(&c, "kafka", "ssl_ca_file", cfg->kafka_ssl_ca_file, 0, 1);
		check_file(&c, "kafka", "ssl_cert_file", cfg->kafka_ssl_cert_file, 0, 1);
		check_file(&c, "kafka", "ssl_key_file", cfg->kafka_ssl_key_file, 1, 1);
		check_file(&c, "kafka", "sasl_password_file", cfg->kafka_sasl_password_file, 1, 1);
		if (cfg->endpoint[0])
			report(&c, 0, "[cdp] endpoint is set, but [output] kind = kafka: events go to Kafka, not there");
		/* The brokers themselves: reachable, the credentials taken, the topic there. */
		char info[200] = "";
		if (!c.errors) {
			if (vg_run_probe_output(cfg, 5000, info, sizeof info, err, sizeof err) != VG_OK)
				report(&c, 1, "[kafka] brokers %s: %s (the daemon would buffer events until this works)",
				       cfg->kafka_brokers, err);
			else
				printf("%s: [kafka] %s\n", cfg->path, info);
		}
	} else if (!cfg->endpoint[0]) {
		report(&c, 0, "[cdp] endpoint is empty: events are captured but not forwarded");
	} else {
		check_file(&c, "cdp", "write_key_file", cfg->write_key_file, 1, 1);
		check_file(&c, "cdp", "ca_file", cfg->ca_file, 0, 1);
		check_file(&c, "cdp", "client_cert", cfg->client_cert, 0, 1);
		check_file(&c, "cdp", "client_key", cfg->client_key, 1, 1);
		if (!!cfg->client_cert[0] != !!cfg->client_key[0])
			report(&c, 1, "[cdp] client_cert and client_key go together");
	}

	struct vg_keyring kr;
	check_file(&c, "tokens", "key_file", cfg->key_file, 1, 1);
	if (access(cfg->key_file, R_OK) == 0) {
		if (vg_keyring_load(&kr, cfg->key_file, err, sizeof err) != VG_OK)
			report(&c, 1, "[tokens] key_file: %s", err);
		else if (!vg_keyring_current(&kr, (int64_t)time(NULL)))
			report(&c, 1, "[tokens] key_file: %s: no key is in force now (every activate_at is in the future)",
			       cfg->key_file);
		vg_keyring_wipe(&kr);
	}

	/* The tracking plan: both services refuse to start without one. */
	check_file(&c, "contracts", "plan", cfg->plan_path, 0, 1);
	struct vg_plan *plan = NULL;
	if (access(cfg->plan_path, R_OK) == 0) {
		if (vg_plan_load(&plan, cfg->plan_path, err, sizeof err) != VG_OK)
			report(&c, 1, "[contracts] plan: %s (venuegw plan check %s lists every problem)", err,
			       cfg->plan_path);
		vg_plan_free(plan);
	}

	check_file(&c, "mqtt", "password_file", cfg->mqtt_password_file, 1, 1);
	check_file(&c, "metrics", "password_file", cfg->metrics_password_file, 1, 1);
	/* Only the device verbs need these: a warning. */
	check_file(&c, "broker", "passwd_file", cfg->broker_passwd_file, 1, 0);
	check_file(&c, "broker", "acl_file", cfg->broker_acl_file, 0, 0);

	struct stat st;
	if (stat(cfg->data_dir, &st) != 0)
		report(&c, 0, "[gateway] data_dir: %s: %s (venuegw run creates it)", cfg->data_dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		report(&c, 1, "[gateway] data_dir: %s is not a directory", cfg->data_dir);
	else if (access(cfg->data_dir, W_OK | X_OK) != 0)
		report(&c, 1, "[gateway] data_dir: %s: not writable by this user (uid %u)", cfg->data_dir,
		       (unsigned)getuid());

	/* Erasure across key rotations: suppressions match under the versions
	 * they were written for, so those must stay in the key file. */
	char db[VG_CONFIG_DB_PATH_MAX];
	if (vg_config_db_path(cfg, db, sizeof db) == VG_OK && access(db, R_OK) == 0) {
		struct vg_store *bst = vg_cli_open_store(cfg, VG_CLI_BUSY_MS, NULL, 0);
		char warn[600];
		if (bst && vg_suppression_check(cfg, bst, warn, sizeof warn) == VG_OK && warn[0])
			report(&c, 0, "[tokens] key_file: %s", warn);
		vg_store_close(bst);
	}

	if (c.errors) {
		fprintf(stderr, "%s: %d error%s, %d warning%s\n", cfg->path, c.errors, c.errors == 1 ? "" : "s",
		        c.warnings, c.warnings == 1 ? "" : "s");
		return VG_EXIT_USAGE;
	}
	printf("%s: OK (venue %s, data_dir %s, durability %s%s)\n", cfg->path, cfg->venue_id, cfg->data_dir,
	       cfg->durability == VG_DURABILITY_FULL ? "full" : "os",
	       c.warnings ? "; see the warnings above" : "");
	return VG_EXIT_OK;
}
