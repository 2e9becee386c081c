/*
 * prepare-bench: what `memplugctl prepare` costs after parsing. Parses the
 * guest and the host once per iteration (timed apart), then times the work
 * after parsing: the partition, the tree edits, formatting the new XML, and
 * the account (JSON). CPU time of this thread (CLOCK_THREAD_CPUTIME_ID);
 * prints the median and the 99th percentile over the iterations.
 *
 *   prepare-bench [ITERATIONS] [GUEST_XML] [CAPS_XML]
 * Defaults: 2000, tests/data/prepare-16vcpu.xml on tests/data/caps-8node.xml
 * (the case: 16 vCPUs and 64 GiB mirrored onto 8 host nodes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "prepare.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void print_row(const char *what, double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	printf("%-34s median %8.1f us   p99 %8.1f us\n", what, v[n / 2], v[n * 99 / 100]);
}

static char *slurp(const char *path, size_t *len)
{
	char *text = NULL;
	gsize n = 0;

	if (!g_file_get_contents(path, &text, &n, NULL)) {
		fprintf(stderr, "prepare-bench: cannot read %s\n", path);
		exit(2);
	}
	*len = n;
	return text;
}

int main(int argc, char **argv)
{
	size_t iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	const char *guest_path = argc > 2 ? argv[2] : "tests/data/prepare-16vcpu.xml";
	const char *caps_path = argc > 3 ? argv[3] : "tests/data/caps-8node.xml";
	size_t glen, clen;
	char *guest = slurp(guest_path, &glen), *caps = slurp(caps_path, &clen), *err = NULL;
	double *parse = calloc(iters, sizeof(double)), *work = calloc(iters, sizeof(double));
	double *report = calloc(iters, sizeof(double));
	struct partition_opts o = {.mirror = true};

	if (iters == 0 || parse == NULL || work == NULL || report == NULL)
		return 2;
	o.host_threads = prepare_caps_threads(caps, clen);
	for (size_t i = 0; i < iters; i++) {
		struct host *h = NULL;
		struct prepare *p = NULL;
		json_object *rep;
		double t0 = now_us(), t1, t2;

		if (host_from_caps(caps, clen, &h, &err) < 0 ||
		    prepare_parse(guest, glen, &p, &err) < 0) {
			fprintf(stderr, "prepare-bench: %s\n", err);
			return 1;
		}
		t1 = now_us();
		if (prepare_compute(p, h, &o, &err) < 0) {
			fprintf(stderr, "prepare-bench: %s\n", err);
			return 1;
		}
		t2 = now_us();
		rep = prepare_report(p, h, &o);
		report[i] = now_us() - t2;
		parse[i] = t1 - t0;
		work[i] = t2 - t1;
		json_object_put(rep);
		prepare_free(p);
		host_free(h);
	}
	printf("prepare-bench: %zu iterations, %s on %s, --mirror-host\n", iters, guest_path,
	       caps_path);
	print_row("parse (caps, domain model + tree)", parse, iters);
	print_row("work after parsing", work, iters);
	print_row("account (JSON report)", report, iters);
	free(parse);
	free(work);
	free(report);
	g_free(guest);
	g_free(caps);
	return 0;
}
