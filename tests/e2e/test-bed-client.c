/* e2e: the bed's C interface drives a real guest: commands reach the guest
 * over its serial socket and come back answered, the console stats give each
 * node's MemTotal, and "consume" / "release" move the guest's MemAvailable.
 * Run through `bed guard NAME -- test-bed-client NAME` so the guest goes away
 * even if this process dies; the group teardown removes it otherwise. */
#include "bed-client.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char guest[64];

static int guest_boot(void **state)
{
	return bed_boot("guest-2cell", guest) == 0 ? 0 : -1;
}

static int guest_teardown(void **state)
{
	return bed_teardown(guest) == 0 ? 0 : -1;
}

static const struct {
	const char *what;
	const char *command;
	int rc;
	const char *reply_has;
} cmd_cases[] = {
        {"ping is answered", "ping", 0, "ok pong"},
        {"an unknown command is refused", "frobnicate", -EPROTO, "err unknown command"},
        {"blocks lists node 1's boot memory", "blocks", 0, ":node1"},
        {"release without consume is fine", "release", 0, "ok released"},
};

static void test_cmd(void **state)
{
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		char *reply = NULL;
		int rc = bed_cmd(guest, cmd_cases[i].command, &reply);

		print_message("%s: rc=%d reply='%s'\n", cmd_cases[i].what, rc, reply);
		assert_int_equal(rc, cmd_cases[i].rc);
		assert_non_null(strstr(reply, cmd_cases[i].reply_has));
		free(reply);
	}
}

static const struct {
	const char *what;
	int node;
	int rc;
} memtotal_cases[] = {
        {"node 0 is reported", 0, 0},
        {"node 1 is reported", 1, 0},
        {"a node the guest lacks is an error", 5, -EIO},
};

static void test_memtotal(void **state)
{
	for (size_t i = 0; i < sizeof(memtotal_cases) / sizeof(memtotal_cases[0]); i++) {
		long kb = -1;
		int rc = bed_memtotal(guest, memtotal_cases[i].node, &kb);

		print_message("%s: rc=%d kb=%ld\n", memtotal_cases[i].what, rc, kb);
		assert_int_equal(rc, memtotal_cases[i].rc);
		/* A 256 MiB cell keeps well over 64 MiB after the kernel's share. */
		if (rc == 0)
			assert_in_range(kb, 65536, 262144);
	}
}

/* Polls the guest's MemAvailable until it is within [lo, hi] kB. */
static long avail_wait(long lo, long hi)
{
	long kb = -1;

	for (int i = 0; i < 60; i++) {
		assert_int_equal(bed_avail(guest, &kb), 0);
		if (kb >= lo && kb <= hi)
			break;
		sleep(1);
	}
	return kb;
}

static void test_consume_release(void **state)
{
	long before = 0, after;
	char *reply = NULL;

	assert_int_equal(bed_avail(guest, &before), 0);
	assert_int_equal(bed_cmd(guest, "consume 128", &reply), 0);
	assert_string_equal(reply, "ok consumed=128");
	free(reply);
	after = avail_wait(0, before - 120 * 1024);
	print_message("MemAvailable %ld -> %ld kB after consume 128\n", before, after);
	assert_in_range(after, 0, before - 120 * 1024);

	assert_int_equal(bed_cmd(guest, "release", NULL), 0);
	after = avail_wait(before - 32 * 1024, before + 32 * 1024);
	print_message("MemAvailable back to %ld kB after release\n", after);
	assert_in_range(after, before - 32 * 1024, before + 32 * 1024);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cmd),
	        cmocka_unit_test(test_memtotal),
	        cmocka_unit_test(test_consume_release),
	};

	if (argc > 1)
		snprintf(guest, sizeof(guest), "%s", argv[1]);
	else
		snprintf(guest, sizeof(guest), "bed-cclient-%d", (int)getpid());
	return cmocka_run_group_tests(tests, guest_boot, guest_teardown);
}
