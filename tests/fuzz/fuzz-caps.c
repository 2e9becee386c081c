/*
 * libFuzzer target: the host capabilities parser host_from_caps()
 * (common/host.c), which reads `virsh capabilities` XML into the host
 * topology model. A parsed host must answer its own queries.
 */
#include <stdint.h>
#include <stdlib.h>

#include "host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host *h = NULL;
	char *err = NULL;

	if (host_from_caps((const char *)data, size, &h, &err) == 0) {
		struct host *copy = host_dup(h);
		struct nodeset all;

		host_nodeset(h, &all);
		for (size_t i = 0; i < h->n_nodes; i++) {
			const struct host_node *n = &h->nodes[i];

			if (host_node_find(h, n->id) != n)
				abort(); /* the model lost a node it lists */
			for (size_t j = 0; j < h->n_nodes; j++)
				(void)host_distance(h, n->id, h->nodes[j].id);
			for (size_t k = 0; k < n->n_pools; k++)
				(void)host_free_kib(h, &all, n->pools[k].page_kib);
		}
		host_free(copy);
	}
	host_free(h);
	free(err);
	return 0;
}
