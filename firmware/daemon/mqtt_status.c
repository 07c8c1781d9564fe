#include "mqtt_status.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>

#include "container.h"
#include "digest.h"
#include "err.h"
#include "log.h"
#include "metrics.h"

struct vg_status {
	struct vg_loop *loop;
	const struct vg_config *cfg;
	struct vg_metrics *metrics;
	struct mosquitto *m;
	struct vg_watch w;
	struct vg_timer misc, publish, reconnect;
	int connected;
	int backoff_ms;
	char password[256];
	char will[256];
};

static void drop(struct vg_status *s, const char *why);

/* The status object is the metrics' (vg_metrics_status): one source for the
 * MQTT status, status.json, /status.json and the page. */
static char *status_json(struct vg_status *s, const char *state)
{
	cJSON *mo = vg_metrics_status(s->metrics, state);
	char *t = mo ? cJSON_PrintUnformatted(mo) : NULL;
	cJSON_Delete(mo);
	return t;
}

static void update_watch(struct vg_status *s)
{
	int fd = s->m ? mosquitto_socket(s->m) : -1;
	if (fd < 0) {
		vg_loop_unwatch(s->loop, &s->w);
		return;
	}
	short ev = POLLIN;
	if (mosquitto_want_write(s->m))
		ev |= POLLOUT;
	if (vg_loop_watch(s->loop, &s->w, fd, ev) != VG_OK)
		vg_log(VG_LOG_ERR, "status", "the broker connection is not watched: status publishing stalls");
}

/* The same status as a file in data_dir (status.json, replaced atomically),
 * for `venuegw status`: it works when the broker is down too. */
static void write_status_file(struct vg_status *s, const char *text)
{
	char path[300], tmp[310];
	snprintf(path, sizeof path, "%s/status.json", s->cfg->data_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	int ok = fputs(text, f) >= 0;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, path) != 0)
		unlink(tmp);
}

static void publish_status(struct vg_status *s, const char *state)
{
	char *text = status_json(s, state);
	if (!text)
		return;
	write_status_file(s, text);
	if (!s->connected) {
		cJSON_free(text);
		return;
	}
	int rc = mosquitto_publish(s->m, NULL, VG_STATUS_TOPIC, (int)strlen(text), text, 1, true);
	cJSON_free(text);
	if (rc != MOSQ_ERR_SUCCESS)
		drop(s, mosquitto_strerror(rc));
	else
		update_watch(s);
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct vg_status *s = ud;
	if (rc != 0) {
		vg_log(VG_LOG_WARN, "status.mqtt", "broker refused the daemon's connection: %s",
		       mosquitto_connack_string(rc));
		return;
	}
	s->connected = 1;
	s->backoff_ms = 1000;
	vg_log(VG_LOG_INFO, "status.mqtt", "connected to our broker; status on %s", VG_STATUS_TOPIC);
	publish_status(s, "up");
}

static void try_connect(struct vg_status *s)
{
	if (!s->m) {
		char id[96];
		snprintf(id, sizeof id, "venuegw-daemon-%s", s->cfg->gateway_id);
		s->m = mosquitto_new(id, true, s);
		if (!s->m)
			return;
		mosquitto_connect_callback_set(s->m, on_connect);
		if (s->cfg->mqtt_username[0])
			mosquitto_username_pw_set(s->m, s->cfg->mqtt_username, s->password[0] ? s->password : NULL);
		mosquitto_will_set(s->m, VG_STATUS_TOPIC, (int)strlen(s->will), s->will, 1, true);
	}
	int rc = mosquitto_connect(s->m, s->cfg->mqtt_host, s->cfg->mqtt_port, 60);
	if (rc != MOSQ_ERR_SUCCESS) {
		vg_log(VG_LOG_DEBUG, "status.mqtt", "cannot connect to %s:%d: %s", s->cfg->mqtt_host,
		       s->cfg->mqtt_port, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		drop(s, NULL);
		return;
	}
	update_watch(s);
	vg_loop_timer(s->loop, &s->misc, vg_now_ms() + 1000);
}

static void drop(struct vg_status *s, const char *why)
{
	if (why && s->connected)
		vg_log(VG_LOG_WARN, "status.mqtt", "lost our broker: %s; reconnecting", why);
	s->connected = 0;
	vg_loop_unwatch(s->loop, &s->w);
	vg_loop_cancel(s->loop, &s->misc);
	if (s->m)
		mosquitto_disconnect(s->m);
	vg_loop_timer(s->loop, &s->reconnect, vg_now_ms() + s->backoff_ms);
	if (s->backoff_ms < 30000)
		s->backoff_ms *= 2;
}

static void on_io(struct vg_watch *w, short revents)
{
	struct vg_status *s = vg_container_of(w, struct vg_status, w);
	int rc = MOSQ_ERR_SUCCESS;
	if (revents & (POLLIN | POLLERR | POLLHUP))
		rc = mosquitto_loop_read(s->m, 1);
	if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT))
		rc = mosquitto_loop_write(s->m, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		drop(s, mosquitto_strerror(rc));
		return;
	}
	update_watch(s);
}

static void on_misc(struct vg_timer *t)
{
	struct vg_status *s = vg_container_of(t, struct vg_status, misc);
	int rc = mosquitto_loop_misc(s->m);
	if (rc != MOSQ_ERR_SUCCESS) {
		drop(s, mosquitto_strerror(rc));
		return;
	}
	update_watch(s);
	vg_loop_timer(s->loop, &s->misc, vg_now_ms() + 1000);
}

static void on_publish_timer(struct vg_timer *t)
{
	struct vg_status *s = vg_container_of(t, struct vg_status, publish);
	publish_status(s, "up");
	vg_loop_timer(s->loop, &s->publish, vg_now_ms() + (int64_t)s->cfg->status_interval_s * 1000);
}

static void on_reconnect(struct vg_timer *t)
{
	try_connect(vg_container_of(t, struct vg_status, reconnect));
}

int vg_status_open(struct vg_status **out, struct vg_loop *loop, const struct vg_config *cfg,
                   struct vg_metrics *metrics)
{
	struct vg_status *s = calloc(1, sizeof *s);
	if (!s)
		return VG_ERR_NOMEM;
	s->loop = loop;
	s->cfg = cfg;
	s->metrics = metrics;
	s->backoff_ms = 1000;
	s->w.cb = on_io;
	s->misc.cb = on_misc;
	s->publish.cb = on_publish_timer;
	s->reconnect.cb = on_reconnect;
	snprintf(s->will, sizeof s->will, "{\"state\":\"down\",\"venue_id\":\"%s\",\"gateway_id\":\"%s\"}",
	         cfg->venue_id, cfg->gateway_id);
	if (cfg->mqtt_password_file[0]) {
		FILE *f = fopen(cfg->mqtt_password_file, "r");
		if (f) {
			if (fgets(s->password, sizeof s->password, f))
				s->password[strcspn(s->password, "\r\n")] = '\0';
			fclose(f);
		} else {
			vg_log(VG_LOG_ERR, "status.mqtt", "cannot read %s: %s", cfg->mqtt_password_file, strerror(errno));
		}
	}
	mosquitto_lib_init();
	try_connect(s);
	vg_loop_timer(loop, &s->publish, vg_now_ms() + (int64_t)cfg->status_interval_s * 1000);
	*out = s;
	return VG_OK;
}

void vg_status_close(struct vg_status *s)
{
	if (!s)
		return;
	publish_status(s, "stopped"); /* the status file too */
	if (s->connected) {
		/* Flush the last status and a clean DISCONNECT (no will). */
		for (int i = 0; i < 10 && mosquitto_want_write(s->m); i++)
			mosquitto_loop_write(s->m, 1);
		mosquitto_disconnect(s->m);
		mosquitto_loop_write(s->m, 1);
	}
	vg_loop_unwatch(s->loop, &s->w);
	vg_loop_cancel(s->loop, &s->misc);
	vg_loop_cancel(s->loop, &s->publish);
	vg_loop_cancel(s->loop, &s->reconnect);
	mosquitto_destroy(s->m);
	mosquitto_lib_cleanup();
	vg_wipe(s->password, sizeof s->password);
	free(s);
}
