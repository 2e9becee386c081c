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
#include "ops.h"
#include "buildconf.h"
#include "log.h"
#include "policy.h"

struct overrides {
	const char *socket;
	const char *connect;
	const char *audit_log;
	bool foreground;
	bool debug;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: memplugd [--config FILE] [--socket PATH] [--connect URI]\n"
	             "                [--audit-log PATH] [--foreground] [--debug]\n"
	             "       memplugd --help | --version\n");
}

static void apply_overrides(struct config *cfg, const struct overrides *ov)
{
	const struct {
		const char *value;
		char **slot;
	} map[] = {{ov->socket, &cfg->socket_path},
	           {ov->connect, &cfg->connect_uri},
	           {ov->audit_log, &cfg->audit_log}};

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

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct agent *a = arg;

	a->stopping = true;
	for (struct agent_domain *d = a->domains; d; d = d->next)
		ops_cancel_queued(a, d, "memplugd is stopping");
	if (a->ops_running == 0) {
		log_info("signal %d: stopping", (int)sig);
		evloop_stop(a->loop);
	} else {
		/* Workers use virt and the audit log: let them finish first. */
		log_info("signal %d: stopping once %u running operations end", (int)sig,
		         a->ops_running);
	}
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
	struct agent *a = arg;
	struct config *cfg = NULL;
	char *err = NULL;

	if (config_load(a->config_path, a->config_must_exist, &cfg, &err) < 0) {
		log_err("reload refused, keeping the running configuration: %s", err);
		free(err);
		return;
	}
	apply_overrides(cfg, &overrides);
	reload_warn(a->cfg, cfg);
	config_free(a->cfg);
	a->cfg = cfg;
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
static void agent_check_alone(const struct config *cfg)
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

static int agent_open_audit(struct agent *a)
{
	struct audit_options ao;
	int rc;

	audit_options_default(&ao);
	ao.max_bytes = a->cfg->audit_rotate_kib * 1024;
	ao.keep = a->cfg->audit_keep;
	ao.fail_closed = a->cfg->fail_closed;
	make_parent(a->cfg->audit_log, 0750);
	rc = audit_open(a->cfg->audit_log, &ao, &a->audit);
	if (a->audit == NULL || rc == -EBUSY) /* -EBUSY: another memplugd has it */
		return rc;
	if (!audit_writable(a->audit))
		log_err("audit log %s cannot be written (%s)%s", a->cfg->audit_log,
		        audit_error(a->audit),
		        a->cfg->fail_closed ? ": memory changes are refused" : "");
	return 0;
}

static int agent_start(struct agent *a)
{
	static const struct virt_callbacks cbs = {
	        .connected = agent_on_connected,
	        .disconnected = agent_on_disconnected,
	        .domain_event = agent_on_event,
	};
	struct control_config cc = {
	        .path = a->cfg->socket_path,
	        .mode = a->cfg->socket_mode,
	        .group = a->cfg->socket_group,
	        .admin_group = a->cfg->admin_group,
	};
	int rc;

	if ((a->loop = evloop_new()) == NULL || evloop_register_libvirt(a->loop) < 0)
		fatal("cannot set up the event loop");
	if ((rc = agent_open_audit(a)) == -EBUSY) /* started since the check */
		agent_check_alone(a->cfg);
	if (rc < 0)
		fatal("cannot open the audit log %s: %s", a->cfg->audit_log, strerror(-rc));
	make_parent(a->cfg->socket_path, 0755);
	if ((rc = control_new(evloop_base(a->loop), &cc, agent_on_request, a, &a->control)) < 0)
		fatal("cannot serve %s: %s", a->cfg->socket_path, strerror(-rc));
	a->virt = virt_new(evloop_base(a->loop), a->cfg->connect_uri, &cbs, a);
	if (a->virt == NULL)
		fatal("cannot set up the libvirt connection");
	agent_record(a, RECORD_AGENT_START, json_object_new_object());
	virt_start(a->virt);
	if ((a->policy = policy_new(a)) == NULL)
		fatal("cannot start the policy");
	log_info("memplugd %s serving %s, libvirt %s", MEMPLUG_VERSION, a->cfg->socket_path,
	         a->cfg->connect_uri);
	return 0;
}

static void agent_stop(struct agent *a)
{
	agent_record(a, RECORD_AGENT_STOP, NULL);
	control_free(a->control);
	policy_free(a->policy);
	virt_free(a->virt);
	evloop_free(a->loop);
	audit_free(a->audit);
	while (a->domains) {
		struct agent_domain *d = a->domains;

		a->domains = d->next;
		agent_domain_free(d);
	}
	while (a->late) {
		struct agent_late *l = a->late;

		a->late = l->next;
		agent_late_free(l);
	}
	config_free(a->cfg);
	free(a->config_path);
}

static void parse_args(int argc, char **argv, struct agent *a)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'f'},
	        {"socket", required_argument, NULL, 's'},
	        {"connect", required_argument, NULL, 'c'},
	        {"audit-log", required_argument, NULL, 'a'},
	        {"foreground", no_argument, NULL, 'F'},
	        {"debug", no_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	int opt;

	a->config_path = strdup(MEMPLUG_SYSCONFDIR "/memplug/memplugd.conf");
	while ((opt = getopt_long(argc, argv, "f:s:c:a:FdhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			free(a->config_path);
			a->config_path = strdup(optarg);
			a->config_must_exist = true;
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
	struct agent a = {.started = time(NULL)};
	struct event *sigs[3];
	char *err = NULL;

	parse_args(argc, argv, &a);
	log_init("memplugd", true, LOG_LEVEL_INFO);
	if (config_load(a.config_path, a.config_must_exist, &a.cfg, &err) < 0)
		fatal("%s", err);
	apply_overrides(a.cfg, &overrides);
	log_init("memplugd", overrides.foreground, a.cfg->log_level);
	agent_check_alone(a.cfg);
	if (!overrides.foreground && daemon(0, 0) < 0)
		fatal("cannot daemonize: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&a.audit_lock, NULL);
	pthread_mutex_init(&a.wait_lock, NULL);
	pthread_cond_init(&a.wait_cond, NULL);
	agent_start(&a);
	sigs[0] = evsignal_new(evloop_base(a.loop), SIGTERM, on_stop, &a);
	sigs[1] = evsignal_new(evloop_base(a.loop), SIGINT, on_stop, &a);
	sigs[2] = evsignal_new(evloop_base(a.loop), SIGHUP, on_reload, &a);
	for (size_t i = 0; i < 3; i++)
		event_add(sigs[i], NULL);
	evloop_run(a.loop);
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	agent_stop(&a);
	log_info("stopped");
	return 0;
}
