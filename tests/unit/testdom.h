/*
 * Builds struct domain by hand for the planner tests, without XML: a short
 * spec of cells (size, page size, CPU-less or not), memory devices and
 * <maxMemory>. The result is freed with domain_free().
 */
#ifndef MEMPLUG_TESTDOM_H
#define MEMPLUG_TESTDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain.h"

#define TESTDOM_MAX_CELLS 8
#define TESTDOM_MAX_DEVS  8

struct testdom_cell {
	uint64_t mib;
	uint64_t page_kib; /* 0: default pages */
	bool cpuless;
};

struct testdom_dev {
	enum memdev_model model;
	int node;
	uint64_t mib;
};

struct testdom {
	uint64_t max_mib; /* 0: no <maxMemory> */
	unsigned slots;
	size_t n_cells;
	struct testdom_cell cells[TESTDOM_MAX_CELLS];
	size_t n_devs;
	struct testdom_dev devs[TESTDOM_MAX_DEVS];
	uint64_t extra_kib; /* added to <memory>, for odd headrooms */
};

/* <memory> is the cells plus the devices plus extra_kib; a cell with a page
 * size gets a <hugepages><page nodeset='cell'>. Aborts when out of memory. */
struct domain *testdom_build(const struct testdom *spec);

#endif
