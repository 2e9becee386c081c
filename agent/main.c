/*
 * memplugd: options, configuration, start-up and shutdown. Everything runs
 * on one libevent loop, which is also libvirt's event implementation;
 * signals are loop events too.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "agent.h"
#include "autoballoon.h"
#include "buildconf.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "threadcheck.h"
#include "virt.h"

struct overrides {
	const char *socket;
	const char *connect;
	const char *audit_log;
	const char *metrics_listen;
	bool foreground;
	bool debug;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: memplugd [--config FILE] [--socket PATH] [--connect URI]\n"
	             "                [--audit-log PATH] [--metrics-listen ADDR:PORT]\n"
	             "                [--foreground] [--debug]\n"
	             "       memplugd --help | --version\n");
}

static void apply_overrides(struct config *cfg, const struct overrides *ov)
{
	const struct {
		const char *value;
		char **slot;
	} map[] = {{ov->socket, &cfg->socket_path},
	           {ov->connect, &cfg->connect_uri},
	           {ov->audit_log, &cfg->audit_log},
	           {ov->metrics_listen, &cfg->metrics_listen}};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].value == NULL)
			continue;
		free(*map[i].slot);
		*map[i].slot = strdup(map[i].value);
	}
	if (ov->debug)
		cfg->log_level = LOG_LEVEL_DEBUG;
}

static struct overrides overrides;

/* What main() builds, in the order it builds it. */
struct daemon {
	char *config_path;
	bool config_must_exist;
	struct evloop *loop;
	struct agent *agent;
	struct ops *ops;
	struct dispatch *dispatch;
	struct virt *virt;
	struct autoballoon *autoballoon;
	struct control *control;
	struct metrics *metrics; /* NULL: metrics_listen is off */
};

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;
	unsigned running = ops_running_count(dm->ops);

	if (running == 0)
		log_info("signal %d: stopping", (int)sig);
	else /* Workers use the backend and the audit log: let them finish first. */
		log_info("signal %d: stopping once %u running operations end", (int)sig, running);
	ops_stop(dm->ops);
}

static bool differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* Says which changed keys only a restart applies: the socket, the libvirt
 * connection and the audit log are set up once, at start. */
static void reload_warn(const struct config *old, const struct config *cfg)
{
	const struct {
		const char *key;
		bool changed;
	} keys[] = {
	        {"connect", differ(old->connect_uri, cfg->connect_uri)},
	        {"socket", differ(old->socket_path, cfg->socket_path)},
	        {"socket_mode", old->socket_mode != cfg->socket_mode},
	        {"socket_group", differ(old->socket_group, cfg->socket_group)},
	        {"admin_group", differ(old->admin_group, cfg->admin_group)},
	        {"audit_log", differ(old->audit_log, cfg->audit_log)},
	        {"audit_rotate_size", old->audit_rotate_kib != cfg->audit_rotate_kib},
	        {"audit_keep", old->audit_keep != cfg->audit_keep},
	        {"fail_closed", old->fail_closed != cfg->fail_closed},
	        {"client_frame_timeout",
	         old->client_frame_timeout_ms != cfg->client_frame_timeout_ms},
	        {"metrics_listen", differ(old->metrics_listen, cfg->metrics_listen)},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].changed)
			log_warn("reload: %s changed; it takes effect when memplugd restarts",
			         keys[i].key);
}

/* SIGHUP: parse anew; swap only a valid config. Socket, connection and
 * audit settings take effect at the next start (reload_warn() says so). */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;
	struct config *cfg = NULL;
	char *err = NULL;

	if (config_load(dm->config_path, dm->config_must_exist, &cfg, &err) < 0) {
		log_err("reload refused, keeping the running configuration: %s", err);
		free(err);
		return;
	}
	apply_overrides(cfg, &overrides);
	reload_warn(agent_config(dm->agent), cfg);
	agent_set_config(dm->agent, cfg);
	log_set_level(cfg->log_level);
	log_info("configuration reloaded from %s", cfg->path ? cfg->path : "built-in defaults");
}

static int make_parent(const char *path, mode_t mode)
{
	char *copy = strdup(path);
	int rc = 0;

	if (copy == NULL)
		return -ENOMEM;
	if (mkdir(dirname(copy), mode) < 0 && errno != EEXIST)
		rc = -errno;
	free(copy);
	return rc;
}

static void agent_record(struct agent *a, enum record_event ev, json_object *extra)
{
	struct record r = {.event = ev, .actor = {.kind = RECORD_ACTOR_AGENT}, .extra = extra};

	agent_audit(a, &r, true, NULL);
	json_object_put(extra);
}

/*
 * A second memplugd on the same audit log or socket would serve with an
 * unwritable log, or steal the socket: refuse it while its exit status can
 * still reach whoever started it (before daemon()).
 */
static void check_alone(const struct config *cfg)
{
	if (cfg->audit_log && audit_check_lock(cfg->audit_log) == -EBUSY)
		fatal("another memplugd writes the audit log %s (it holds the lock): stop it, or "
		      "give this one its own audit_log and socket",
		      cfg->audit_log);
	if (control_check_path(cfg->socket_path) == -EADDRINUSE)
		fatal("another memplugd serves %s: stop it, or give this one its own socket and "
		      "audit_log",
		      cfg->socket_path);
}

static struct audit *open_audit(const struct config *cfg)
{
	struct audit_options ao;
	struct audit *audit = NULL;
	int rc;

	audit_options_default(&ao);
	ao.max_bytes = cfg->audit_rotate_kib * 1024;
	ao.keep = cfg->audit_keep;
	ao.fail_closed = cfg->fail_closed;
	make_parent(cfg->audit_log, 0750);
	rc = audit_open(cfg->audit_log, &ao, &audit);
	if (rc == -EBUSY) /* another memplugd took it since check_alone() */
		check_alone(cfg);
	if (audit == NULL || rc == -EBUSY)
		fatal("cannot open the audit log %s: %s", cfg->audit_log, strerror(-rc));
	if (!audit_writable(audit))
		log_err("audit log %s cannot be written (%s)%s", cfg->audit_log, audit_error(audit),
		        cfg->fail_closed ? ": memory changes are refused" : "");
	return audit;
}

/* The metrics endpoint, when asked for: last, so it sees everything. */
static void metrics_start(struct daemon *dm, const struct config *cfg)
{
	struct metrics_sources src = {.agent = dm->agent, .control = dm->control, .ops = dm->ops};
	char *err = NULL;

	if (cfg->metrics_listen == NULL)
		return;
	if (metrics_new(&src, cfg->metrics_listen, &dm->metrics, &err) < 0)
		fatal("metrics_listen: %s", err);
}

/* The order matters: libvirt's event implementation before any connection,
 * the dispatcher before the connection that reports to it, the backend
 * before anything that calls it. */
static void daemon_start(struct daemon *dm, struct config *cfg)
{
	static const struct virt_callbacks cbs = {
	        .connected = dispatch_connected,
	        .disconnected = dispatch_disconnected,
	        .domain_event = dispatch_event,
	};
	struct control_config cc = {
	        .path = cfg->socket_path,
	        .mode = cfg->socket_mode,
	        .group = cfg->socket_group,
	        .admin_group = cfg->admin_group,
	        .frame_timeout_ms = (int)cfg->client_frame_timeout_ms,
	};
	struct backend b;
	int rc;

	if ((dm->loop = evloop_new()) == NULL || evloop_register_libvirt(dm->loop) < 0)
		fatal("cannot set up the event loop");
	if ((dm->agent = agent_new(cfg, dm->loop, open_audit(cfg))) == NULL ||
	    (dm->ops = ops_new(dm->agent)) == NULL ||
	    (dm->dispatch = dispatch_new(dm->agent, dm->ops)) == NULL)
		fatal("out of memory");
	make_parent(cfg->socket_path, 0755);
	if ((rc = control_new(evloop_base(dm->loop), &cc, dispatch_request, dm->dispatch,
	                      &dm->control)) < 0)
		fatal("cannot serve %s: %s", cfg->socket_path, strerror(-rc));
	dm->virt = virt_new(evloop_base(dm->loop), cfg->connect_uri, &cbs, dm->dispatch);
	if (dm->virt == NULL)
		fatal("cannot set up the libvirt connection");
	virt_backend(dm->virt, &b);
	agent_set_backend(dm->agent, &b);
	agent_record(dm->agent, RECORD_AGENT_START, json_object_new_object());
	virt_start(dm->virt);
	if ((dm->autoballoon = autoballoon_new(dm->agent, dm->ops)) == NULL)
		fatal("cannot start the policy");
	dispatch_set_autoballoon(dm->dispatch, dm->autoballoon);
	metrics_start(dm, cfg);
	log_info("memplugd %s serving %s, libvirt %s; thread checks: %s", MEMPLUG_VERSION,
	         cfg->socket_path, cfg->connect_uri, THREADCHECK_ENABLED ? "on" : "off");
}

static void daemon_stop(struct daemon *dm)
{
	agent_record(dm->agent, RECORD_AGENT_STOP, NULL);
	metrics_free(dm->metrics);
	control_free(dm->control);
	autoballoon_free(dm->autoballoon);
	virt_free(dm->virt);
	evloop_free(dm->loop);
	dispatch_free(dm->dispatch);
	ops_free(dm->ops);
	agent_free(dm->agent);
	free(dm->config_path);
}

static void parse_args(int argc, char **argv, struct daemon *dm)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'f'},
	        {"socket", required_argument, NULL, 's'},
	        {"connect", required_argument, NULL, 'c'},
	        {"audit-log", required_argument, NULL, 'a'},
	        {"metrics-listen", required_argument, NULL, 'm'},
	        {"foreground", no_argument, NULL, 'F'},
	        {"debug", no_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	char *err = NULL;
	int opt;

	dm->config_path = strdup(MEMPLUG_SYSCONFDIR "/memplug/memplugd.conf");
	while ((opt = getopt_long(argc, argv, "f:s:c:a:m:FdhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			free(dm->config_path);
			dm->config_path = strdup(optarg);
			dm->config_must_exist = true;
			break;
		case 's':
			overrides.socket = optarg;
			break;
		case 'c':
			overrides.connect = optarg;
			break;
		case 'a':
			overrides.audit_log = optarg;
			break;
		case 'm': /* checked here, before the daemon forks: a typo fails loudly */
			if (metrics_listen_parse(optarg, NULL, NULL, &err) < 0) {
				fprintf(stderr, "memplugd: --metrics-listen: %s\n", err);
				exit(2);
			}
			overrides.metrics_listen = optarg;
			break;
		case 'F':
			overrides.foreground = true;
			break;
		case 'd':
			overrides.debug = true;
			break;
		case 'V':
			printf("memplugd %s\n", MEMPLUG_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct daemon dm = {0};
	struct config *cfg = NULL;
	struct event *sigs[3];
	char *err = NULL;

	parse_args(argc, argv, &dm);
	log_init("memplugd", true, LOG_LEVEL_INFO);
	if (config_load(dm.config_path, dm.config_must_exist, &cfg, &err) < 0)
		fatal("%s", err);
	apply_overrides(cfg, &overrides);
	log_init("memplugd", overrides.foreground, cfg->log_level);
	check_alone(cfg);
	if (!overrides.foreground && daemon(0, 0) < 0)
		fatal("cannot daemonize: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	daemon_start(&dm, cfg);
	sigs[0] = evsignal_new(evloop_base(dm.loop), SIGTERM, on_stop, &dm);
	sigs[1] = evsignal_new(evloop_base(dm.loop), SIGINT, on_stop, &dm);
	sigs[2] = evsignal_new(evloop_base(dm.loop), SIGHUP, on_reload, &dm);
	for (size_t i = 0; i < 3; i++)
		event_add(sigs[i], NULL);
	evloop_run(dm.loop);
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	daemon_stop(&dm);
	log_info("stopped");
	return 0;
}
