/*
 * memplugctl: the operator's command line. A command table maps each
 * command to its handler and usage text; global options (--json, --socket,
 * --connect) may stand before or after the command name. Every handler
 * produces a json-c object and output.c renders it, so `--json` and text
 * show the same data. `inspect` and `plan` also work offline, on a domain
 * XML file or straight from libvirt.
 *
 * Exit codes: 0 ok, 1 refused or failed, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "buildconf.h"
#include "domain.h"
#include "host.h"
#include "output.h"
#include "plan.h"
#include "report.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct ctl {
	bool json;
	const char *socket;
	const char *connect_uri;
};

struct command {
	const char *name;
	int (*handler)(struct ctl *ctl, int argc, char **argv);
	const char *usage;
	bool mutates;
};

static int cmd_inspect(struct ctl *ctl, int argc, char **argv);
static int cmd_plan(struct ctl *ctl, int argc, char **argv);

static const struct command commands[] = {
        {"inspect", cmd_inspect,
         "inspect (--xml FILE | --connect URI DOMAIN) [--host | --host-sysfs DIR]", false},
        {"plan", cmd_plan,
         "plan (--xml FILE | --connect URI DOMAIN) [--strategy proportional|even|weights:W,...]",
         false},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: memplugctl [--json] [--socket PATH] [--connect URI] COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  memplugctl %s%s\n", commands[i].usage,
		        commands[i].mutates ? "   (needs root or the admin group)" : "");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "memplugctl: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return EXIT_FAIL;
}

static int usage_error(const struct command *cmd, const char *why)
{
	fprintf(stderr, "memplugctl: %s\nusage: memplugctl %s\n", why, cmd->usage);
	return EXIT_USAGE;
}

/* Reads a domain's XML from libvirt: live when it runs, else its definition. */
static int domain_fetch(const char *uri, const char *name, struct domain **out)
{
	virConnectPtr conn = virConnectOpenReadOnly(uri);
	virDomainPtr dom = NULL;
	char *xml = NULL, *err = NULL;
	int rc = EXIT_FAIL;

	if (conn == NULL) {
		fprintf(stderr, "memplugctl: cannot connect to %s: %s\n", uri,
		        virGetLastErrorMessage());
		return EXIT_FAIL;
	}
	dom = virDomainLookupByName(conn, name);
	if (dom == NULL)
		fprintf(stderr, "memplugctl: no domain '%s' on %s\n", name, uri);
	else if ((xml = virDomainGetXMLDesc(dom, 0)) == NULL)
		fprintf(stderr, "memplugctl: cannot read the XML of '%s': %s\n", name,
		        virGetLastErrorMessage());
	else if (domain_parse(xml, strlen(xml), out, &err) < 0)
		fprintf(stderr, "memplugctl: domain '%s': %s\n", name, err);
	else
		rc = EXIT_OK;
	free(err);
	free(xml);
	if (dom)
		virDomainFree(dom);
	virConnectClose(conn);
	return rc;
}

struct source {
	const char *xml_path;
	const char *domain_name;
};

/* Loads the domain named by --xml, or by --connect URI plus a name. */
static int source_load(struct ctl *ctl, const struct source *src, struct domain **out)
{
	char *err = NULL;

	if (src->xml_path) {
		if (domain_parse_file(src->xml_path, out, &err) == 0)
			return EXIT_OK;
		fprintf(stderr, "memplugctl: %s: %s\n", src->xml_path, err);
		free(err);
		return EXIT_FAIL;
	}
	return domain_fetch(ctl->connect_uri, src->domain_name, out);
}

/* Parses an offline command's arguments: `opts` must include --xml ('x');
 * `extra` handles the command's other options. */
static int source_args(struct ctl *ctl, const struct command *cmd, int argc, char **argv,
                       const struct option *opts, int (*extra)(int opt, void *arg), void *extra_arg,
                       struct source *src)
{
	int opt;

	memset(src, 0, sizeof(*src));
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == 'x')
			src->xml_path = optarg;
		else if (opt == '?' || extra == NULL || extra(opt, extra_arg) < 0)
			return usage_error(cmd, optopt ? "missing or bad option value"
			                               : "unknown option");
	}
	if (optind < argc)
		src->domain_name = argv[optind++];
	if (optind < argc)
		return usage_error(cmd, "too many arguments");
	if (!src->xml_path == !src->domain_name)
		return usage_error(cmd, "give either --xml FILE or a domain name");
	if (src->domain_name && ctl->connect_uri == NULL)
		return usage_error(cmd,
		                   "a domain name needs --connect URI (or a running memplugd)");
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
};

static int inspect_opt(int opt, void *arg)
{
	struct inspect_opts *io = arg;

	if (opt == 'H')
		io->host = true;
	else if (opt == 'S')
		io->host_sysfs = optarg;
	else
		return -EINVAL;
	return 0;
}

static int cmd_inspect(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"xml", required_argument, NULL, 'x'},
	                                     {"host", no_argument, NULL, 'H'},
	                                     {"host-sysfs", required_argument, NULL, 'S'},
	                                     {NULL, 0, NULL, 0}};
	struct inspect_opts io = {0};
	struct source src;
	struct domain *dom = NULL;
	struct host *host = NULL;
	json_object *data = NULL;
	char *err = NULL;
	int rc;

	rc = source_args(ctl, &commands[0], argc, argv, opts, inspect_opt, &io, &src);
	if (rc != EXIT_OK)
		return rc;
	if ((rc = source_load(ctl, &src, &dom)) != EXIT_OK)
		return rc;
	/* Host data only describes the host the domain runs on: local URIs. */
	if (io.host_sysfs)
		rc = host_snapshot_at(io.host_sysfs, &host, &err);
	else if (io.host || (src.domain_name && strstr(ctl->connect_uri, "://") &&
	                     strstr(ctl->connect_uri, ":///")))
		rc = host_snapshot(&host, &err);
	if (rc < 0)
		rc = fail("host snapshot: %s", err);
	else if ((data = report_inspect(dom, host, &err)) == NULL)
		rc = fail("%s", err);
	else
		rc = emit(ctl, "inspect", data);
	free(err);
	host_free(host);
	domain_free(dom);
	return rc;
}

struct plan_args {
	const char *strategy;
};

static int plan_opt(int opt, void *arg)
{
	struct plan_args *pa = arg;

	if (opt != 's')
		return -EINVAL;
	pa->strategy = optarg;
	return 0;
}

static int cmd_plan(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"xml", required_argument, NULL, 'x'},
	                                     {"strategy", required_argument, NULL, 's'},
	                                     {NULL, 0, NULL, 0}};
	struct plan_args pa = {0};
	struct plan_options po = {.strategy = PLAN_PROPORTIONAL};
	unsigned *weights = NULL;
	struct source src;
	struct domain *dom = NULL;
	struct plan *plan = NULL;
	char *err = NULL;
	int rc;

	rc = source_args(ctl, &commands[1], argc, argv, opts, plan_opt, &pa, &src);
	if (rc != EXIT_OK)
		return rc;
	if (pa.strategy && plan_strategy_parse(pa.strategy, &po, &weights, &err) < 0) {
		fprintf(stderr, "memplugctl: --strategy: %s\n", err);
		free(err);
		return EXIT_USAGE;
	}
	if ((rc = source_load(ctl, &src, &dom)) != EXIT_OK)
		goto out;
	if (plan_layout(dom, NULL, &po, &plan, &err) < 0)
		rc = fail("cannot plan: %s", err);
	else
		rc = emit(ctl, "plan", report_plan(dom, plan));
out:
	free(err);
	plan_free(plan);
	domain_free(dom);
	free(weights);
	return rc;
}

/* libvirt would print every error itself; memplugctl reports them once. */
static void libvirt_quiet(void *opaque, virErrorPtr error)
{
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
			ctl->json = true;
			continue;
		}
		if (strcmp(a, "--socket") == 0)
			slot = &ctl->socket;
		else if (strcmp(a, "--connect") == 0 || strcmp(a, "-c") == 0)
			slot = &ctl->connect_uri;
		if (slot == NULL) {
			if (strncmp(a, "--socket=", 9) == 0)
				ctl->socket = a + 9;
			else if (strncmp(a, "--connect=", 10) == 0)
				ctl->connect_uri = a + 10;
			else
				rest[n++] = argv[i];
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "memplugctl: %s needs a value\n", a);
			return -1;
		}
		*slot = argv[++i];
	}
	rest[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.socket = MEMPLUG_SOCKET};
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
	} else if ((cmd = command_find(rest[0])) == NULL) {
		fprintf(stderr, "memplugctl: unknown command '%s'\n", rest[0]);
		usage(stderr);
		rc = EXIT_USAGE;
	} else {
		virSetErrorFunc(NULL, libvirt_quiet);
		rc = cmd->handler(&ctl, n, rest);
	}
	free(rest);
	return rc;
}
