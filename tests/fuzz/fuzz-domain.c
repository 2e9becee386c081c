/*
 * libFuzzer target: the domain XML parser (common/domain.c) and what reads
 * its model right after (hotplug check, per-cell backing inference). Any
 * input must give a model or an error message, never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "backing.h"
#include "domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct domain *dom = NULL;
	struct backing b;
	char *err = NULL;

	if (domain_parse((const char *)data, size, &dom, &err) == 0) {
		free(err);
		err = NULL;
		domain_check_hotplug(dom, &err);
		for (size_t i = 0; i < dom->n_cells; i++) {
			free(err);
			err = NULL;
			if (backing_infer(dom, (unsigned)i, NULL, &b, &err) == 0)
				(void)backing_align_kib(&b);
		}
	}
	free(err);
	domain_free(dom);
	return 0;
}
