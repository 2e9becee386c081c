/*
 * policy-bench: what one policy interval costs the agent with many guests.
 * Feeds autoballoon_process() a fake stats source of N domains (default 1,000)
 * for a number of intervals and reports the CPU time per interval, the
 * share of one core at the configured interval, and the agent's RSS.
 * Scenarios: every guest inside its band; and 10% of them under pressure
 * in a dry run, so decisions are made and audited every cooldown.
 *
 *   policy-bench [DOMAINS] [INTERVALS] [DOMAIN_XML]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent.h"
#include "autoballoon.h"
#include "domain.h"
#include "domains.h"
#include "ops.h"

#define MIB UINT64_C(1024)

static const char *default_xml =
        "<domain type='qemu'><name>x</name>"
        "<maxMemory slots='16' unit='GiB'>8</maxMemory><memory unit='MiB'>768</memory>"
        "<vcpu>2</vcpu><cpu><numa><cell id='0' cpus='0' memory='256' unit='MiB'/>"
        "<cell id='1' cpus='1' memory='256' unit='MiB'/></numa></cpu><devices>"
        "<memory model='dimm'><target><size unit='MiB'>256</size><node>1</node></target>"
        "<alias name='ua-mp-1-0'/><address type='dimm' slot='0'/></memory>"
        "</devices></domain>";

static uint64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = atol(line + strlen(field) + 1);
	if (f)
		fclose(f);
	return v;
}

static void add_domains(struct agent *a, struct backend_balloon_list *stats, size_t n,
                        const char *xml)
{
	stats->n = n;
	stats->doms = calloc(n, sizeof(*stats->doms));
	for (size_t i = 0; i < n; i++) {
		struct domain_view *d;
		struct domain *model = NULL;
		char *err = NULL, name[32];

		snprintf(name, sizeof(name), "bench-%05zu", i);
		d = domains_add(agent_domains(a), name, NULL);
		if (d == NULL || domain_parse(xml, strlen(xml), &model, &err) < 0) {
			fprintf(stderr, "policy-bench: %s\n", err ? err : "out of memory");
			exit(1);
		}
		domains_set_model(d, model);
		d->active = true;
		stats->doms[i] = (struct backend_balloon){
		        .name = strdup(d->name),
		        .current = d->model->memory_kib,
		        .maximum = d->model->memory_kib,
		        .available = d->model->memory_kib - 16 * MIB,
		        .usable = (d->model->memory_kib - 16 * MIB) / 5, /* 20%: in the band */
		        .unused = (d->model->memory_kib - 16 * MIB) / 3,
		        .rss = d->model->memory_kib,
		};
	}
}

static void run(struct autoballoon *p, struct backend_balloon_list *stats, unsigned intervals,
                uint64_t interval_ms, const char *what, size_t n)
{
	static uint64_t now = 1000;
	struct autoballoon_counters c0, c1;
	uint64_t t0 = cpu_us(), used;

	autoballoon_get_counters(p, &c0);
	for (unsigned i = 0; i < intervals; i++, now += interval_ms)
		autoballoon_process(p, stats, NULL, 0, NULL, now);
	used = cpu_us() - t0;
	autoballoon_get_counters(p, &c1);
	printf("%-38s %zu domains, %u intervals: %.3f ms CPU per interval = %.3f%% of one core "
	       "at %llu ms; %llu decisions audited\n",
	       what, n, intervals, used / 1000.0 / intervals,
	       used / 10.0 / intervals / (double)interval_ms, (unsigned long long)interval_ms,
	       (unsigned long long)(c1.decisions - c0.decisions));
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	unsigned intervals = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200;
	char *xml = NULL, dir[] = "/tmp/policy-bench-XXXXXX", path[64];
	struct config *cfg = config_new_default();
	struct evloop *loop;
	struct audit *audit = NULL;
	struct agent *a;
	struct backend_balloon_list stats = {0};
	struct audit_options ao;
	struct autoballoon *p;
	long rss0 = status_kib("VmRSS:");

	if (argc > 3) {
		FILE *f = fopen(argv[3], "r");
		size_t len = 0;

		if (f == NULL || getdelim(&xml, &len, '\0', f) < 0) {
			perror(argv[3]);
			return 1;
		}
		fclose(f);
	}
	log_init("policy-bench", true, LOG_LEVEL_WARN);
	cfg->policy.enabled = true;
	loop = evloop_new();
	audit_options_default(&ao);
	snprintf(path, sizeof(path), "%s/audit.jsonl", mkdtemp(dir));
	if (loop == NULL || audit_open(path, &ao, &audit) < 0 ||
	    (a = agent_new(cfg, loop, audit)) == NULL ||
	    (p = autoballoon_new(a, ops_new(a))) == NULL) {
		fprintf(stderr, "policy-bench: cannot set up\n");
		return 1;
	}
	add_domains(a, &stats, n, xml ? xml : default_xml);
	printf("RSS before the domains %ld KiB, with %zu domain views %ld KiB\n", rss0, n,
	       status_kib("VmRSS:"));
	run(p, &stats, intervals, cfg->policy_interval_ms, "all inside their band:", n);
	cfg->policy.dry_run = true;
	for (size_t i = 0; i < n; i += 10)
		stats.doms[i].usable = stats.doms[i].available / 20;
	run(p, &stats, intervals, cfg->policy_interval_ms, "10% under pressure, dry run:", n);
	printf("RSS after %ld KiB, peak %ld KiB (policy state for %zu domains included)\n",
	       status_kib("VmRSS:"), status_kib("VmHWM:"), n);
	printf("audit log: %s\n", path);
	autoballoon_free(p);
	return 0;
}
