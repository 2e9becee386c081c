/*
 * memplugctl: the operator's command line. A command table maps each
 * command to its handler and usage text; global options (--json, --socket)
 * may stand before or after the command name. Every handler produces a
 * json-c object and output.c renders it, so `--json` and text show the same
 * data. `inspect` and `plan` also work offline, on a domain XML file or on
 * stdin (`virsh -c URI dumpxml D | memplugctl plan --xml -`): memplugctl
 * does not link libvirt, so a command that talks to the agent starts fast.
 *
 * Exit codes: 0 ok, 1 refused or failed, 2 usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "buildconf.h"
#include "client.h"
#include "logpath.h"
#include "domain.h"
#include "drift.h"
#include "proto.h"
#include "record.h"
#include "size.h"
#include "tail.h"
#include "host.h"
#include "output.h"
#include "plan.h"
#include "prepare.h"
#include "report.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct ctl {
	bool json;
	const char *socket;
	const char *connect_uri; /* only to say how to do without it */
	const char *config;      /* memplugd's, for the audit log's path */
};

struct command {
	const char *name;
	int (*handler)(struct ctl *ctl, int argc, char **argv);
	const char *usage;
	bool mutates;
};

static int cmd_status(struct ctl *ctl, int argc, char **argv);
static int cmd_inspect(struct ctl *ctl, int argc, char **argv);
static int cmd_plan(struct ctl *ctl, int argc, char **argv);
static int cmd_grow(struct ctl *ctl, int argc, char **argv);
static int cmd_shrink(struct ctl *ctl, int argc, char **argv);
static int cmd_policy(struct ctl *ctl, int argc, char **argv);
static int cmd_log(struct ctl *ctl, int argc, char **argv);
static int cmd_resize(struct ctl *ctl, int argc, char **argv);
static int cmd_prepare(struct ctl *ctl, int argc, char **argv);

enum {
	CMD_STATUS,
	CMD_INSPECT,
	CMD_PLAN,
	CMD_GROW,
	CMD_SHRINK,
	CMD_RESIZE,
	CMD_POLICY,
	CMD_LOG,
	CMD_PREPARE
};

static const struct command commands[] = {
        [CMD_STATUS] = {"status", cmd_status, "status", false},
        [CMD_INSPECT] =
                {"inspect", cmd_inspect,
                 "inspect (DOMAIN | --xml FILE|- [--inactive-xml FILE]) [--host | --host-sysfs DIR "
                 "| --host-caps FILE]",
                 false},
        [CMD_PLAN] = {"plan", cmd_plan,
                      "plan (DOMAIN | --xml FILE|-) [--strategy proportional|even|weights:W,...] "
                      "[--model dimm|virtio-mem] [--host | --host-sysfs DIR | --host-caps FILE]",
                      false},
        [CMD_GROW] = {"grow", cmd_grow,
                      "grow DOMAIN SIZE [--node N] [--model dimm|virtio-mem] "
                      "[--live | --config] [--no-wait] [--dry-run]",
                      true},
        [CMD_SHRINK] = {"shrink", cmd_shrink,
                        "shrink DOMAIN SIZE [--node N] [--model dimm|virtio-mem] "
                        "[--live | --config] [--no-wait] [--dry-run]",
                        true},
        [CMD_RESIZE] = {"resize", cmd_resize,
                        "resize DOMAIN SIZE [--node N] [--model dimm|virtio-mem] "
                        "[--live | --config] [--no-wait] [--dry-run]",
                        true},
        [CMD_POLICY] =
                {"policy", cmd_policy,
                 "policy DOMAIN show | enable | disable | set KEY=VALUE...   (all but show need "
                 "root or the admin group)\n  memplugctl policy DOMAIN unset KEY...",
                 false},
        [CMD_LOG] = {"log", cmd_log,
                     "log [--domain D] [--since T] [--until T] [--event E] [--request ID] "
                     "[--limit N] [--file PATH] [--follow]\n  memplugctl log verify [FILE...]",
                     false},
        [CMD_PREPARE] = {"prepare", cmd_prepare,
                         "prepare (DOMAIN | --xml FILE|-) [--host-caps FILE | --host-sysfs DIR] "
                         "(--mirror-host | --cells N) [--max SIZE] [--slots N] [--cpuless SIZE] "
                         "[--no-pin] [--model dimm|virtio-mem] [--print-xml | --define]   "
                         "(--define needs root or the "
                         "admin group)",
                         false},
};

static int emit(struct ctl *ctl, const char *cmd, json_object *data);

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: memplugctl [--json] [--socket PATH] [--agent-config FILE] COMMAND [ARGS]\n"
	        "       memplugctl --version\n\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  memplugctl %s%s\n", commands[i].usage,
		        commands[i].mutates ? "   (needs root or the admin group)" : "");
}

/* --json: errors go to stdout as the protocol's error object as well
 * (code "usage" for usage errors, the agent's code for its refusals,
 * "failed" for the rest), so a program reading stdout gets JSON. */
static bool json_errors;

static void json_error(const char *code, const char *message)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (json_errors)
		json_error(PROTO_E_FAILED, n < 0 ? "out of memory" : msg);
	fprintf(stderr, "memplugctl: %s\n", n < 0 ? "out of memory" : msg);
	free(msg);
	return EXIT_FAIL;
}

/* `cmd` may be NULL: then no usage line (the message says what to type). */
static int usage_error(const struct command *cmd, const char *why)
{
	if (json_errors)
		json_error("usage", why);
	fprintf(stderr, "memplugctl: %s\n", why);
	if (cmd)
		fprintf(stderr, "usage: memplugctl %s\n", cmd->usage);
	return EXIT_USAGE;
}

static int usage_errorf(const struct command *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int usage_errorf(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;
	char *why = NULL;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&why, fmt, ap);
	va_end(ap);
	rc = usage_error(cmd, rc < 0 ? "usage error" : why);
	free(why);
	return rc;
}

/* An option handler's "bad value", with its reason in opt_why: source_args()
 * reports that reason, once, with the usage. */
#define OPT_EXPLAINED (-EBADMSG)
static char opt_why[256];

/* Sends one request to memplugd and renders its reply as `render`. */
static int agent_call(struct ctl *ctl, const char *cmd, json_object *args, const char *render)
{
	struct client *c = NULL;
	struct proto_reply *reply = NULL;
	char *err = NULL;
	int rc;

	if (client_connect(ctl->socket, 0, &c, &err) < 0) {
		json_object_put(args); /* client_call() would have taken it */
		rc = fail("%s", err ? err : "cannot talk to memplugd");
	} else if (client_call(c, cmd, args, &reply, &err) < 0) {
		rc = fail("%s", err ? err : "cannot talk to memplugd");
	} else if (!reply->ok) {
		if (ctl->json)
			json_error(reply->code, reply->message);
		fprintf(stderr, "memplugctl: %s\n", reply->message);
		rc = strcmp(reply->code, PROTO_E_BAD_REQUEST) == 0 ? EXIT_USAGE : EXIT_FAIL;
	} else {
		rc = emit(ctl, render, json_object_get(reply->data));
	}
	free(err);
	proto_reply_free(reply);
	client_free(c);
	return rc;
}

static json_object *domain_args(const char *name)
{
	json_object *args = json_object_new_object();

	json_object_object_add(args, "domain", json_object_new_string(name));
	return args;
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	if (argc > 1)
		return usage_error(&commands[CMD_STATUS], "status takes no arguments");
	return agent_call(ctl, "status", NULL, "status");
}

/* A size grow or shrink cannot take, said with what to type instead. */
static int size_usage_error(const char *arg, const struct command *cmd)
{
	const char *what = strcmp(cmd->name, "grow") == 0     ? "the amount to add"
	                   : strcmp(cmd->name, "shrink") == 0 ? "the amount to take away"
	                                                      : "the total to reach";
	char *err = NULL;
	uint64_t kib;
	int rc;

	if (arg[0] == '-' && strcmp(cmd->name, "resize") == 0)
		rc = usage_errorf(NULL,
		                  "size '%s': negative sizes are not accepted; resize takes the "
		                  "total to reach, e.g. '%s'",
		                  arg, arg + 1);
	else if (arg[0] == '-' && strcmp(cmd->name, "grow") == 0)
		rc = usage_errorf(
		        NULL,
		        "size '%s': negative sizes are not accepted; to take memory away, "
		        "use 'memplugctl shrink DOMAIN %s'",
		        arg, arg + 1);
	else if (arg[0] == '-')
		rc = usage_errorf(NULL,
		                  "size '%s': negative sizes are not accepted; shrink takes the "
		                  "amount to take away: '%s'",
		                  arg, arg + 1);
	else if (size_parse(arg, &kib, &err) < 0)
		rc = usage_error(NULL, err);
	else
		rc = usage_errorf(NULL, "size '%s' is zero: give %s, e.g. 128M", arg, what);
	free(err);
	return rc;
}

static int resize(struct ctl *ctl, const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"node", required_argument, NULL, 'n'},
	        {"live", no_argument, NULL, 'l'},
	        {"config", no_argument, NULL, 'C'},
	        {"no-wait", no_argument, NULL, 'W'},
	        {"dry-run", no_argument, NULL, 'D'},
	        {"model", required_argument, NULL, 'm'},
	        {NULL, 0, NULL, 0},
	};
	json_object *args;
	uint64_t kib;
	long node = -1;
	const char *model = NULL;
	bool live = false, config = false, nowait = false, dry_run = false;
	char *err = NULL, *end;
	int opt;

	/* getopt would call "-128M" an unknown option: say what is wrong with it */
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-' && isdigit((unsigned char)argv[i][1]))
			return size_usage_error(argv[i], cmd);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'n') {
			node = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || node < 0 || node > 255)
				return usage_error(cmd, "--node takes a guest node number");
		} else if (opt == 'l') {
			live = true;
		} else if (opt == 'C') {
			config = true;
		} else if (opt == 'W') {
			nowait = true;
		} else if (opt == 'm') {
			if (strcmp(optarg, "dimm") != 0 && strcmp(optarg, "virtio-mem") != 0)
				return usage_error(cmd, "--model takes dimm or virtio-mem");
			model = optarg;
		} else if (opt == 'D') {
			dry_run = true;
		} else {
			return usage_error(cmd, "unknown option or missing value");
		}
	}
	if (argc - optind != 2)
		return usage_error(cmd, "give a domain and a size");
	if (size_parse(argv[optind + 1], &kib, &err) < 0 || kib == 0) {
		free(err);
		return size_usage_error(argv[optind + 1], cmd);
	}
	args = domain_args(argv[optind]);
	json_object_object_add(args, "size", json_object_new_uint64(kib * 1024));
	if (node >= 0)
		json_object_object_add(args, "node", json_object_new_int((int)node));
	if (live || config) {
		json_object_object_add(args, "live", json_object_new_boolean(live));
		json_object_object_add(args, "config", json_object_new_boolean(config));
	}
	json_object_object_add(args, "wait", json_object_new_boolean(!nowait));
	if (dry_run)
		json_object_object_add(args, "dry_run", json_object_new_boolean(true));
	if (model)
		json_object_object_add(args, "model", json_object_new_string(model));
	return agent_call(ctl, cmd->name, args, cmd->name);
}

static int cmd_grow(struct ctl *ctl, int argc, char **argv)
{
	return resize(ctl, &commands[CMD_GROW], argc, argv);
}

static int cmd_shrink(struct ctl *ctl, int argc, char **argv)
{
	return resize(ctl, &commands[CMD_SHRINK], argc, argv);
}

static int cmd_resize(struct ctl *ctl, int argc, char **argv)
{
	return resize(ctl, &commands[CMD_RESIZE], argc, argv);
}

/* unset KEY...: {"keys": [KEY, ...]}. */
static int policy_unset_args(const struct command *cmd, int argc, char **argv, json_object *args)
{
	json_object *keys = json_object_new_array();

	json_object_object_add(args, "keys", keys);
	for (int i = 3; i < argc; i++) {
		if (*argv[i] == '\0' || strchr(argv[i], '=') != NULL)
			return usage_errorf(cmd, "unset takes key names, e.g. min, not '%s'",
			                    argv[i]);
		json_object_array_add(keys, json_object_new_string(argv[i]));
	}
	return EXIT_OK;
}

/* set KEY=VALUE...: {"settings": {KEY: VALUE, ...}}. */
static int policy_set_args(const struct command *cmd, int argc, char **argv, json_object *args)
{
	json_object *settings = json_object_new_object();

	json_object_object_add(args, "settings", settings);
	for (int i = 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		char *key = eq ? strndup(argv[i], (size_t)(eq - argv[i])) : NULL;

		if (key == NULL || *key == '\0' || eq[1] == '\0') {
			free(key);
			return usage_error(cmd, "settings are KEY=VALUE, e.g. low_free=10%");
		}
		json_object_object_add(settings, key, json_object_new_string(eq + 1));
		free(key);
	}
	return EXIT_OK;
}

static int cmd_policy(struct ctl *ctl, int argc, char **argv)
{
	const struct command *cmd = &commands[CMD_POLICY];
	const char *action = argc >= 3 ? argv[2] : "";
	bool set = strcmp(action, "set") == 0, unset = strcmp(action, "unset") == 0;
	json_object *args;
	int rc = EXIT_OK;

	if (strcmp(action, "show") != 0 && strcmp(action, "enable") != 0 &&
	    strcmp(action, "disable") != 0 && !set && !unset)
		return usage_error(cmd, "give a domain and show, enable, disable, set or unset");
	if (set && argc <= 3)
		return usage_error(cmd, "set takes KEY=VALUE settings, e.g. low_free=10%");
	if (unset && argc <= 3)
		return usage_error(cmd, "unset takes the keys whose run-time values go, e.g. min");
	if (!set && !unset && argc > 3)
		return usage_error(cmd, "only set and unset take more arguments");
	args = domain_args(argv[1]);
	json_object_object_add(args, "action", json_object_new_string(action));
	if (set)
		rc = policy_set_args(cmd, argc, argv, args);
	else if (unset)
		rc = policy_unset_args(cmd, argc, argv, args);
	if (rc != EXIT_OK) {
		json_object_put(args);
		return rc;
	}
	return agent_call(ctl, "policy", args, "policy");
}

static json_object *verify_json(const struct record_verify_result *res)
{
	json_object *o = json_object_new_object();
	bool ok = res->reason == RECORD_BREAK_NONE;

	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "records", json_object_new_uint64(res->records));
	json_object_object_add(o, "first_seq", json_object_new_uint64(res->first_seq));
	json_object_object_add(o, "last_seq", json_object_new_uint64(res->last_seq));
	json_object_object_add(o, "torn_tail", json_object_new_boolean(res->torn_tail));
	if (!ok) {
		json_object_object_add(o, "reason",
		                       json_object_new_string(record_break_name(res->reason)));
		json_object_object_add(o, "file", report_string(res->file));
		json_object_object_add(o, "line", json_object_new_uint64(res->line));
		json_object_object_add(o, "seq", json_object_new_uint64(res->seq));
		json_object_object_add(o, "detail", report_string(res->detail));
	}
	return o;
}

/* A log file named on the command line is missing: says where memplugd's
 * own log is (from memplugd.conf, not the agent, so the answer does not
 * hang on a socket) and how to get at that instead. `instead` is what to
 * leave out ("--file", "the files"), `verb` what the command does. */
static int log_missing(struct ctl *ctl, const char *file, const char *instead, const char *verb)
{
	struct logpath lp;
	char *err = NULL;
	int rc;

	if (logpath_find(NULL, ctl->config, &lp, &err) < 0) /* no configured log to offer */
		rc = fail("no audit log at %s: check the path (%s)", file, err ? err : "?");
	else if (strcmp(lp.path, file) == 0)
		rc = fail("no audit log at %s (%s): memplugd has written none there yet; check "
		          "that it runs with %s",
		          file, lp.from, ctl->config);
	else
		rc = fail("no audit log at %s: check the path, or leave out %s to %s memplugd's "
		          "own log (memplugctl asks memplugd where it is, else reads %s: %s)",
		          file, instead, verb, lp.path, lp.from);
	logpath_clear(&lp);
	free(err);
	return rc;
}

/* The log's files, oldest first, from the agent's or the configured path. */
static int log_verify_files(struct ctl *ctl, char ***files, size_t *n)
{
	struct logpath lp;
	char *err = NULL;
	int rc = EXIT_OK;

	if (logpath_find(ctl->socket, ctl->config, &lp, &err) < 0)
		rc = fail("%s", err);
	else if (record_log_files(lp.path, files, n, &err) < 0)
		rc = fail("%s", err);
	else if (*n == 0)
		rc = fail("no audit log at %s (%s): give the files to verify, or set audit_log "
		          "in %s",
		          lp.path, lp.from, ctl->config);
	if (rc != EXIT_OK && *files) {
		record_files_free(*files, *n);
		*files = NULL;
	}
	logpath_clear(&lp);
	free(err);
	return rc;
}

static int log_verify(struct ctl *ctl, int argc, char **argv)
{
	struct record_verify_result res;
	char **files = NULL, *err = NULL;
	size_t n = 0;
	int rc;

	if (argc > 2) {
		files = argv + 2;
		n = (size_t)argc - 2;
		for (size_t i = 0; i < n; i++)
			if (access(files[i], F_OK) < 0 && errno == ENOENT)
				return log_missing(ctl, files[i], "the files", "verify");
	} else if ((rc = log_verify_files(ctl, &files, &n)) != EXIT_OK) {
		return rc;
	}
	memset(&res, 0, sizeof(res));
	rc = record_verify(files, n, &res, &err);
	if (rc < 0)
		rc = fail("verify: %s", err);
	else if ((rc = emit(ctl, "verify", verify_json(&res))) == EXIT_OK &&
	         res.reason != RECORD_BREAK_NONE)
		rc = EXIT_FAIL;
	if (argc <= 2)
		record_files_free(files, n);
	record_verify_result_clear(&res);
	free(err);
	return rc;
}

/* Streams the agent's `log --follow` replies until it or we stop. */
static int log_stream(struct ctl *ctl, struct client *c, json_object *args)
{
	struct proto_reply *reply = NULL;
	char *err = NULL;
	int rc = EXIT_OK;

	if (client_send(c, "log", args, NULL, &err) < 0)
		rc = fail("%s", err);
	while (rc == EXIT_OK && client_recv(c, &reply, &err) == 0) {
		bool more = reply->more;

		if (!reply->ok)
			rc = fail("%s", reply->message);
		else
			rc = emit(ctl, "log", json_object_get(reply->data));
		proto_reply_free(reply);
		reply = NULL;
		if (!more)
			break;
	}
	free(err);
	client_free(c);
	return rc;
}

/* Offline --follow: prints `data`, then new records as they are written. */
static int log_tail(struct ctl *ctl, const char *path, const struct record_filter *f,
                    json_object *data)
{
	json_object *recs = json_object_object_get(data, "records");
	size_t n = json_object_array_length(recs);
	struct record_tail *t = record_tail_new(path);
	uint64_t last = n ? record_seq(json_object_array_get_idx(recs, n - 1)) : 0;
	int rc;

	if (t == NULL)
		return EXIT_FAIL;
	record_tail_skip_to(t, last);
	rc = emit(ctl, "log", data);
	while (rc == EXIT_OK) {
		json_object *all = json_object_new_array(), *match = json_object_new_array();

		if (record_tail_poll(t, all) < 0)
			rc = EXIT_FAIL;
		for (size_t i = 0; i < json_object_array_length(all); i++)
			if (record_filter_match(f, json_object_array_get_idx(all, i)))
				json_object_array_add(
				        match, json_object_get(json_object_array_get_idx(all, i)));
		json_object_put(all);
		data = json_object_new_object();
		json_object_object_add(data, "records", match);
		if (rc == EXIT_OK && json_object_array_length(match) > 0)
			rc = emit(ctl, "log", data);
		else
			json_object_put(data);
		usleep(500000);
	}
	record_tail_free(t);
	return rc;
}

/* Reads the log files directly: for when memplugd is not running. */
static int log_offline(struct ctl *ctl, const char *path, json_object *args)
{
	struct record_filter f;
	char **files = NULL, *err = NULL;
	size_t n = 0;
	json_object *data;
	int rc;

	if (record_filter_from_args(args, (int64_t)time(NULL) * 1000, &f, &err) < 0 ||
	    record_log_files(path, &files, &n, &err) < 0) {
		rc = fail("%s", err);
		free(err);
		return rc;
	}
	data = record_query(files, n, &f,
	                    (size_t)json_object_get_uint64(json_object_object_get(args, "limit")),
	                    NULL);
	record_files_free(files, n);
	if (!json_object_get_boolean(json_object_object_get(args, "follow")))
		return emit(ctl, "log", data);
	return log_tail(ctl, path, &f, data);
}

static int log_file(struct ctl *ctl, const char *file, json_object *args)
{
	if (!logpath_exists(file))
		return log_missing(ctl, file, "--file", "read");
	return log_offline(ctl, file, args);
}

/* The agent does not answer: read the log it would have written. */
static int log_configured(struct ctl *ctl, json_object *args)
{
	struct logpath lp;
	char *err = NULL;
	int rc;

	if (logpath_find(NULL, ctl->config, &lp, &err) < 0)
		rc = fail("memplugd is not running (nothing at %s) and %s", ctl->socket, err);
	else if (!logpath_exists(lp.path))
		rc = fail("memplugd is not running (nothing at %s) and there is no audit log at %s "
		          "(%s): start memplugd, or give --file PATH",
		          ctl->socket, lp.path, lp.from);
	else
		rc = log_offline(ctl, lp.path, args);
	logpath_clear(&lp);
	free(err);
	return rc;
}

static int cmd_log(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"domain", required_argument, NULL, 'd'},
	        {"since", required_argument, NULL, 's'},
	        {"until", required_argument, NULL, 'u'},
	        {"event", required_argument, NULL, 'e'},
	        {"request", required_argument, NULL, 'r'},
	        {"limit", required_argument, NULL, 'l'},
	        {"file", required_argument, NULL, 'f'},
	        {"follow", no_argument, NULL, 'F'},
	        {NULL, 0, NULL, 0},
	};
	static const char *const keys[] = {['d'] = "domain",
	                                   ['s'] = "since",
	                                   ['u'] = "until",
	                                   ['e'] = "event",
	                                   ['r'] = "request"};
	json_object *args;
	const char *file = NULL;
	struct client *c = NULL;
	struct record_filter f;
	char *err = NULL;
	int opt;

	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return log_verify(ctl, argc, argv);
	args = json_object_new_object();
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'f') {
			file = optarg;
		} else if (opt == 'F') {
			json_object_object_add(args, "follow", json_object_new_boolean(true));
		} else if (opt == 'l') {
			char *end;
			unsigned long long limit = strtoull(optarg, &end, 10);

			if (*optarg < '1' || *optarg > '9' || *end != '\0') {
				json_object_put(args);
				return usage_error(&commands[CMD_LOG],
				                   "--limit takes a positive number");
			}
			json_object_object_add(args, "limit", json_object_new_uint64(limit));
		} else if (opt > 0 && opt < (int)(sizeof(keys) / sizeof(keys[0])) && keys[opt]) {
			json_object_object_add(args, keys[opt], json_object_new_string(optarg));
		} else {
			json_object_put(args);
			return usage_error(&commands[CMD_LOG], "unknown option or missing value");
		}
	}
	if (optind < argc) {
		json_object_put(args);
		return usage_error(&commands[CMD_LOG], "unexpected argument");
	}
	if (record_filter_from_args(args, (int64_t)time(NULL) * 1000, &f, &err) < 0) {
		json_object_put(args);
		opt = usage_error(&commands[CMD_LOG], err);
		free(err);
		return opt;
	}
	/* Through the agent when it runs, else straight from the files. */
	if (file == NULL && client_connect(ctl->socket, 0, &c, NULL) == 0) {
		if (json_object_object_get(args, "follow"))
			return log_stream(ctl, c, args);
		client_free(c);
		return agent_call(ctl, "log", args, "log");
	}
	opt = file ? log_file(ctl, file, args) : log_configured(ctl, args);
	json_object_put(args);
	return opt;
}

struct source {
	const char *xml_path;
	const char *domain_name;
};

/* A domain XML larger than this is not a domain XML. */
#define STDIN_XML_MAX (64u << 20)

/* Reads a domain XML from stdin: `--xml -`, the end of a pipe from
 * `virsh -c URI dumpxml DOMAIN`. */
static int domain_read_stdin(struct domain **out, char **err)
{
	size_t len = 0, cap = 0, n;
	char *buf = NULL, *grown;
	int rc;

	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > STDIN_XML_MAX || (grown = realloc(buf, cap)) == NULL) {
				free(buf);
				*err = strdup(cap > STDIN_XML_MAX ? "more than 64 MiB of XML"
				                                  : "out of memory");
				return -ENOMEM;
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, stdin);
		len += n;
	} while (n > 0);
	if (ferror(stdin)) {
		free(buf);
		*err = strdup(strerror(errno));
		return -EIO;
	}
	rc = domain_parse(buf, len, out, err);
	free(buf);
	return rc;
}

/* Loads the domain named by --xml: a file, or stdin for "-". */
static int source_load(const struct source *src, struct domain **out)
{
	bool in = strcmp(src->xml_path, "-") == 0;
	char *err = NULL;
	int rc = in ? domain_read_stdin(out, &err) : domain_parse_file(src->xml_path, out, &err);

	if (rc == 0)
		return EXIT_OK;
	fprintf(stderr, "memplugctl: %s: %s\n", in ? "stdin" : src->xml_path,
	        err ? err : strerror(-rc));
	free(err);
	return EXIT_FAIL;
}

/* Parses an offline command's arguments: `opts` must include --xml ('x');
 * `extra` handles the command's other options. */
static int source_args(struct ctl *ctl, const struct command *cmd, int argc, char **argv,
                       const struct option *opts, int (*extra)(int opt, void *arg), void *extra_arg,
                       struct source *src)
{
	int opt, rc;

	memset(src, 0, sizeof(*src));
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'x') {
			src->xml_path = optarg;
			continue;
		}
		rc = opt == '?' || extra == NULL ? -EINVAL : extra(opt, extra_arg);
		if (rc == OPT_EXPLAINED)
			return usage_error(cmd, opt_why);
		if (rc < 0)
			return usage_error(cmd, optopt ? "missing or bad option value"
			                               : "unknown option");
	}
	if (optind < argc)
		src->domain_name = argv[optind++];
	if (optind < argc)
		return usage_error(cmd, "too many arguments");
	if (!src->xml_path == !src->domain_name)
		return usage_error(cmd, "give either --xml FILE or a domain name");
	return EXIT_OK;
}

static int emit(struct ctl *ctl, const char *cmd, json_object *data)
{
	int rc = output_render(stdout, cmd, data, ctl->json);

	json_object_put(data);
	if (rc < 0)
		return fail("cannot render the reply to %s", cmd);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

struct inspect_opts {
	bool host;
	const char *host_sysfs;
	const char *host_caps;    /* a saved `virsh capabilities`: no free values */
	const char *inactive_xml; /* inspect: `virsh dumpxml --inactive`, for the drift */
};

static int inspect_opt(int opt, void *arg)
{
	struct inspect_opts *io = arg;

	if (opt == 'H')
		io->host = true;
	else if (opt == 'S')
		io->host_sysfs = optarg;
	else if (opt == 'C')
		io->host_caps = optarg;
	else if (opt == 'I')
		io->inactive_xml = optarg;
	else
		return -EINVAL;
	return 0;
}

/* Host data only describes the host the domain runs on: local URIs. */
static int host_load(const struct command *cmd, const struct inspect_opts *io, struct host **host)
{
	char *err = NULL;
	int rc = 0;

	if (io->host + !!io->host_sysfs + !!io->host_caps > 1)
		return usage_error(cmd, "give one of --host, --host-sysfs and --host-caps");
	if (io->host_caps)
		rc = host_from_caps_file(io->host_caps, host, &err);
	else if (io->host_sysfs)
		rc = host_snapshot_at(io->host_sysfs, host, &err);
	else if (io->host)
		rc = host_snapshot(host, &err);
	if (rc < 0)
		rc = fail("host: %s", err);
	free(err);
	return rc;
}

/* Adds "drift" to an offline inspect: the --xml file against the persistent
 * definition in `path` (as `virsh dumpxml --inactive` writes it). */
static int inspect_drift(json_object *data, const struct domain *live, const char *path)
{
	struct domain *config = NULL;
	struct drift *d = NULL;
	char *err = NULL;
	int rc = domain_parse_file(path, &config, &err);

	if (rc < 0)
		fprintf(stderr, "memplugctl: %s: %s\n", path, err ? err : strerror(-rc));
	else if ((rc = drift_compare(live, config, &d)) < 0)
		fprintf(stderr, "memplugctl: %s: %s\n", path, strerror(-rc));
	else
		json_object_object_add(data, "drift", report_drift(d));
	drift_free(d);
	domain_free(config);
	free(err);
	return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

static int cmd_inspect(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"xml", required_argument, NULL, 'x'},
	                                     {"host", no_argument, NULL, 'H'},
	                                     {"host-sysfs", required_argument, NULL, 'S'},
	                                     {"host-caps", required_argument, NULL, 'C'},
	                                     {"inactive-xml", required_argument, NULL, 'I'},
	                                     {NULL, 0, NULL, 0}};
	struct inspect_opts io = {0};
	struct source src;
	struct domain *dom = NULL;
	struct host *host = NULL;
	json_object *data = NULL;
	char *err = NULL;
	int rc;

	rc = source_args(ctl, &commands[CMD_INSPECT], argc, argv, opts, inspect_opt, &io, &src);
	if (rc != EXIT_OK)
		return rc;
	if (src.domain_name && io.inactive_xml)
		return usage_error(&commands[CMD_INSPECT],
		                   "--inactive-xml goes with --xml: for a domain name the agent "
		                   "reads both definitions itself");
	if (src.domain_name)
		return agent_call(ctl, "inspect", domain_args(src.domain_name), "inspect");
	if ((rc = source_load(&src, &dom)) != EXIT_OK)
		return rc;
	if ((rc = host_load(&commands[CMD_INSPECT], &io, &host)) != EXIT_OK)
		;
	else if ((data = report_inspect(dom, host, &err)) == NULL)
		rc = fail("%s", err);
	else if (io.inactive_xml && (rc = inspect_drift(data, dom, io.inactive_xml)) != EXIT_OK)
		json_object_put(data);
	else
		rc = emit(ctl, "inspect", data);
	free(err);
	host_free(host);
	domain_free(dom);
	return rc;
}

struct plan_args {
	const char *strategy;
	const char *model; /* --model: forced on every node; NULL: per node */
	struct inspect_opts host;
};

static int plan_opt(int opt, void *arg)
{
	struct plan_args *pa = arg;

	if (opt == 's')
		pa->strategy = optarg;
	else if (opt == 'm')
		pa->model = optarg;
	else
		return inspect_opt(opt, &pa->host);
	return 0;
}

/* The agent's plan: it falls back to its own device_model without --model. */
static int plan_agent(struct ctl *ctl, const char *domain, const struct plan_args *pa)
{
	json_object *args = domain_args(domain);

	if (pa->strategy)
		json_object_object_add(args, "strategy", json_object_new_string(pa->strategy));
	if (pa->model)
		json_object_object_add(args, "model", json_object_new_string(pa->model));
	return agent_call(ctl, "plan", args, "plan");
}

static int cmd_plan(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"xml", required_argument, NULL, 'x'},
	                                     {"strategy", required_argument, NULL, 's'},
	                                     {"model", required_argument, NULL, 'm'},
	                                     {"host", no_argument, NULL, 'H'},
	                                     {"host-sysfs", required_argument, NULL, 'S'},
	                                     {"host-caps", required_argument, NULL, 'C'},
	                                     {NULL, 0, NULL, 0}};
	struct plan_args pa = {0};
	struct plan_options po = {.strategy = PLAN_PROPORTIONAL};
	enum devmodel_choice model = DEVMODEL_AUTO;
	unsigned *weights = NULL;
	struct source src;
	struct domain *dom = NULL;
	struct host *host = NULL;
	struct plan *plan = NULL;
	json_object *data;
	char *err = NULL;
	int rc;

	rc = source_args(ctl, &commands[CMD_PLAN], argc, argv, opts, plan_opt, &pa, &src);
	if (rc != EXIT_OK)
		return rc;
	if (pa.model && (devmodel_choice_parse(pa.model, &model) < 0 || model == DEVMODEL_AUTO))
		return usage_error(&commands[CMD_PLAN], "--model takes dimm or virtio-mem");
	if (src.domain_name)
		return plan_agent(ctl, src.domain_name, &pa);
	if (pa.strategy && plan_strategy_parse(pa.strategy, &po, &weights, &err) < 0) {
		rc = usage_errorf(NULL, "--strategy %s: %s", pa.strategy, err);
		free(err);
		return rc;
	}
	po.model = model; /* after plan_strategy_parse(), which resets po */
	if ((rc = source_load(&src, &dom)) != EXIT_OK ||
	    (rc = host_load(&commands[CMD_PLAN], &pa.host, &host)) != EXIT_OK)
		goto out;
	if (plan_options_check(&po, dom->n_cells, &err) < 0) {
		rc = usage_errorf(NULL, "--strategy %s: %s", pa.strategy, err);
	} else if (plan_layout(dom, host, &po, &plan, &err) < 0) {
		rc = fail("cannot plan: %s", err);
	} else {
		data = report_plan(dom, plan);
		report_plan_host(data, plan, host);
		json_object_object_add(data, "model_forced_by",
		                       pa.model ? json_object_new_string("--model") : NULL);
		rc = emit(ctl, "plan", data);
	}
out:
	free(err);
	plan_free(plan);
	host_free(host);
	domain_free(dom);
	free(weights);
	return rc;
}

struct prepare_args {
	struct partition_opts opts;
	const char *host_caps;
	const char *host_sysfs;
	bool mode_given;
	bool print_xml;
	bool define;
};

/* A positive decimal number below limit, or -EINVAL. */
static int parse_count(const char *s, unsigned limit, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s < '0' || *s > '9' || *end != '\0' || v == 0 || v > limit)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Says what was wrong with an option's value, for source_args() to report. */
static int prepare_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int prepare_bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(opt_why, sizeof(opt_why), fmt, ap);
	va_end(ap);
	return OPT_EXPLAINED;
}

static int parse_prepare_size(const char *opt, const char *s, bool zero_ok, uint64_t *kib)
{
	char *err = NULL;
	int rc = 0;

	if (zero_ok && strcmp(s, "0") == 0)
		*kib = 0;
	else if (size_parse(s, kib, &err) < 0)
		rc = prepare_bad("%s %s: %s", opt, s, err);
	else if (*kib == 0 && !zero_ok)
		rc = prepare_bad("%s %s: the size must be more than 0", opt, s);
	free(err);
	return rc;
}

static int prepare_opt(int opt, void *arg)
{
	struct prepare_args *pa = arg;
	struct partition_opts *o = &pa->opts;

	switch (opt) {
	case 'm':
	case 'c':
		if (pa->mode_given)
			return prepare_bad("give --mirror-host or --cells N, not both");
		pa->mode_given = true;
		o->mirror = opt == 'm';
		if (opt == 'c' && parse_count(optarg, 128, &o->n_cells) < 0)
			return prepare_bad("--cells %s: takes a number of cells, 1..128", optarg);
		return 0;
	case 'M':
		return parse_prepare_size("--max", optarg, false, &o->max_kib);
	case 'n':
		if (parse_count(optarg, DOMAIN_MAX_SLOTS, &o->slots) < 0)
			return prepare_bad("--slots %s: takes 1..256 (QEMU's limit)", optarg);
		return 0;
	case 'L':
		o->cpuless_set = true;
		return parse_prepare_size("--cpuless", optarg, true, &o->cpuless_kib);
	case 'P':
		o->no_pin = true;
		return 0;
	case 'o':
		if (strcmp(optarg, "dimm") != 0 && strcmp(optarg, "virtio-mem") != 0)
			return prepare_bad("--model %s: takes dimm or virtio-mem", optarg);
		o->vmem = strcmp(optarg, "virtio-mem") == 0;
		return 0;
	case 'p':
		pa->print_xml = true;
		return 0;
	case 'd':
		pa->define = true;
		return 0;
	case 'C':
		pa->host_caps = optarg;
		return 0;
	case 'S':
		pa->host_sysfs = optarg;
		return 0;
	}
	return -EINVAL;
}

/* The host prepare maps onto, offline: a capabilities file, a fabricated
 * sysfs, or this machine. */
static int prepare_host(struct prepare_args *pa, struct host **host, char **err)
{
	gchar *caps = NULL;
	gsize len = 0;
	GError *gerr = NULL;
	int rc;

	if (pa->host_sysfs)
		return host_snapshot_at(pa->host_sysfs, host, err);
	if (pa->host_caps == NULL)
		return host_snapshot(host, err);
	if (!g_file_get_contents(pa->host_caps, &caps, &len, &gerr)) {
		rc = -ENOENT;
		*err = strdup(gerr->message);
		g_error_free(gerr);
		return rc;
	}
	rc = host_from_caps(caps, len, host, err);
	g_free(caps);
	return rc;
}

static int prepare_emit(struct ctl *ctl, struct prepare_args *pa, json_object *report,
                        const char *xml)
{
	if (pa->print_xml || ctl->json)
		json_object_object_add(report, "xml", xml ? json_object_new_string(xml) : NULL);
	return emit(ctl, pa->print_xml ? "prepare-xml" : "prepare", report);
}

static int prepare_offline(struct ctl *ctl, struct prepare_args *pa, const char *path)
{
	struct prepare *p = NULL;
	struct host *host = NULL;
	gchar *xml = NULL;
	gsize len = 0;
	GError *gerr = NULL;
	char *err = NULL;
	int rc;

	/* "-": the end of a pipe, e.g. from `virsh dumpxml` */
	if (!g_file_get_contents(strcmp(path, "-") == 0 ? "/dev/stdin" : path, &xml, &len, &gerr)) {
		rc = fail("%s", gerr->message);
		g_error_free(gerr);
		return rc;
	}
	if (prepare_host(pa, &host, &err) < 0)
		rc = fail("host: %s", err);
	else if (prepare_parse(xml, len, &p, &err) < 0)
		rc = fail("%s: %s", path, err);
	else if (prepare_compute(p, host, &pa->opts, &err) < 0)
		rc = fail("cannot prepare '%s': %s", p->dom->name, err);
	else
		rc = prepare_emit(ctl, pa, prepare_report(p, host, &pa->opts), p->xml);
	free(err);
	prepare_free(p);
	host_free(host);
	g_free(xml);
	return rc;
}

static int cmd_prepare(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"xml", required_argument, NULL, 'x'},
	                                     {"host-caps", required_argument, NULL, 'C'},
	                                     {"host-sysfs", required_argument, NULL, 'S'},
	                                     {"mirror-host", no_argument, NULL, 'm'},
	                                     {"cells", required_argument, NULL, 'c'},
	                                     {"max", required_argument, NULL, 'M'},
	                                     {"slots", required_argument, NULL, 'n'},
	                                     {"cpuless", required_argument, NULL, 'L'},
	                                     {"no-pin", no_argument, NULL, 'P'},
	                                     {"model", required_argument, NULL, 'o'},
	                                     {"print-xml", no_argument, NULL, 'p'},
	                                     {"define", no_argument, NULL, 'd'},
	                                     {NULL, 0, NULL, 0}};
	const struct command *cmd = &commands[CMD_PREPARE];
	struct prepare_args pa = {0};
	struct source src;
	json_object *args;
	int rc;

	rc = source_args(ctl, cmd, argc, argv, opts, prepare_opt, &pa, &src);
	if (rc != EXIT_OK)
		return rc;
	if (!pa.mode_given)
		return usage_error(cmd, "give --mirror-host or --cells N");
	if (pa.print_xml && pa.define)
		return usage_error(cmd, "give --print-xml or --define, not both");
	if (pa.host_caps && pa.host_sysfs)
		return usage_error(cmd, "give --host-caps or --host-sysfs, not both");
	if (src.xml_path && pa.define)
		return usage_error(cmd, "--define takes a DOMAIN: memplugd reads its definition "
		                        "itself");
	if (src.xml_path)
		return prepare_offline(ctl, &pa, src.xml_path);
	if (pa.host_caps || pa.host_sysfs)
		return usage_error(cmd, "--host-caps and --host-sysfs work with --xml; for a "
		                        "DOMAIN the host is memplugd's");
	args = prepare_opts_json(&pa.opts);
	json_object_object_add(args, "domain", json_object_new_string(src.domain_name));
	json_object_object_add(args, "action",
	                       json_object_new_string(pa.define ? "define" : "show"));
	return agent_call(ctl, "prepare", args, pa.print_xml ? "prepare-xml" : "prepare");
}

/* memplugctl links no libvirt (it would cost every command a slow start):
 * say how to read a domain from any libvirt URI instead. */
static int connect_gone(const char *uri)
{
	if (json_errors)
		json_error("usage", "--connect is gone: pipe the domain XML in instead, e.g. "
		                    "virsh dumpxml DOMAIN | memplugctl plan --xml -");
	fprintf(stderr,
	        "memplugctl: --connect is gone; pipe the domain XML in instead:\n"
	        "  virsh -c %s dumpxml DOMAIN | memplugctl plan --xml -\n"
	        "  (or inspect --xml -); a DOMAIN without --xml asks memplugd\n",
	        uri);
	return EXIT_USAGE;
}

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Takes the global options out of argv wherever they stand; what is left,
 * in order, is the command and its own arguments. Returns the new argc, or
 * -1 on a usage error. */
static int global_args(struct ctl *ctl, int argc, char **argv, char **rest)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (strcmp(a, "--json") == 0) {
			ctl->json = json_errors = true;
			continue;
		}
		if (strcmp(a, "--socket") == 0)
			slot = &ctl->socket;
		else if (strcmp(a, "--agent-config") == 0) /* not --config: grow's scope */
			slot = &ctl->config;
		else if (strcmp(a, "--connect") == 0 || strcmp(a, "-c") == 0)
			slot = &ctl->connect_uri;
		if (slot == NULL) {
			if (strncmp(a, "--socket=", 9) == 0)
				ctl->socket = a + 9;
			else if (strncmp(a, "--agent-config=", 15) == 0)
				ctl->config = a + 15;
			else if (strncmp(a, "--connect=", 10) == 0)
				ctl->connect_uri = a + 10;
			else
				rest[n++] = argv[i];
			continue;
		}
		if (i + 1 >= argc) {
			usage_errorf(NULL, "%s needs a value", a);
			return -1;
		}
		*slot = argv[++i];
	}
	rest[n] = NULL;
	return n;
}

/* The CLI's own version: it needs no agent (status shows the agent's). */
static int version(struct ctl *ctl, int n)
{
	json_object *o;

	if (n > 1)
		return usage_error(NULL, "--version takes no arguments");
	if (!ctl->json) {
		printf("memplugctl %s\n", MEMPLUG_VERSION);
		return EXIT_OK;
	}
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(MEMPLUG_VERSION));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.socket = MEMPLUG_SOCKET,
	                  .config = MEMPLUG_SYSCONFDIR "/memplug/memplugd.conf"};
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	const struct command *cmd;
	int n, rc;

	if (rest == NULL)
		return EXIT_FAIL;
	n = global_args(&ctl, argc, argv, rest);
	if (n < 0) {
		rc = EXIT_USAGE;
	} else if (n == 0 || strcmp(rest[0], "help") == 0 || strcmp(rest[0], "--help") == 0 ||
	           strcmp(rest[0], "-h") == 0) {
		usage(n == 0 ? stderr : stdout);
		rc = n == 0 ? EXIT_USAGE : EXIT_OK;
	} else if (strcmp(rest[0], "--version") == 0 || strcmp(rest[0], "version") == 0) {
		rc = version(&ctl, n);
	} else if ((cmd = command_find(rest[0])) == NULL) {
		rc = usage_errorf(NULL, "unknown command '%s'", rest[0]);
		usage(stderr);
		rc = EXIT_USAGE;
	} else if (ctl.connect_uri) {
		rc = connect_gone(ctl.connect_uri);
	} else {
		rc = cmd->handler(&ctl, n, rest);
	}
	free(rest);
	return rc;
}
