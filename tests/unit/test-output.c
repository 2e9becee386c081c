/*
 * Unit tests for cli/output.c: what the text renderers print for replies
 * the agent sends (the offline commands have golden files instead). Each
 * case renders one JSON reply and compares the whole text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "output.h"

/* JSON with ' for " (readable tables); to_json() swaps them back. */
#define DIMM1 "{'node':0,'size_kib':131072,'alias':'dimm1','page_size_kib':4,'host_nodes':null}"
#define DIMM0 "{'node':1,'size_kib':131072,'alias':'dimm0','page_size_kib':4,'host_nodes':null}"
#define LIFO0 "{'node':0,'size_kib':131072,'reason':'most recently added first'}"
#define LIFO1 "{'node':1,'size_kib':131072,'reason':'most recently added first'}"

/* Drift: a DIMM plugged live behind the agent's back, one detached live,
 * a virtio-mem size requested live only. */
#define DRIFT_LIVE   "{'model':'dimm','alias':'dimm2','node':1,'size_kib':262144,'slot':2}"
#define DRIFT_CONFIG "{'model':'dimm','alias':'ua-mp-r1-0','node':0,'size_kib':131072,'slot':null}"
#define DRIFT_REQ                                                                                  \
	"{'alias':'virtiomem0','node':0,'size_kib':1048576,'live_kib':262144,'config_kib':0}"
#define DRIFT_TEXT                                                                                 \
	"  only in the running guest (gone when it stops): dimm 256 MiB on guest node 1 as dimm2 " \
	"in slot 2\n"                                                                              \
	"  only in the definition (back at the next start): dimm 128 MiB on guest node 0 as "      \
	"ua-mp-r1-0\n"                                                                             \
	"  virtio-mem virtiomem0 on guest node 0: requested 256 MiB live, 0 in the definition "    \
	"(the next start's)\n"

static const struct {
	const char *what;
	const char *cmd;
	const char *json;
	const char *text;
} cases[] = {
        {"shrink: the reason once, not once per DIMM", "shrink",
         "{'request':'r1','size':'256 MiB','live':true,'config':true,"
         "'selection':{'dimms':[" LIFO0 "," LIFO1 "]},'detached':[" DIMM1 "," DIMM0 "]}",
         "Request r1: 256 MiB\n"
         "  why: most recently added first\n"
         "  detached 128 MiB on guest node 0 as dimm1 (4 KiB pages, host nodes any)\n"
         "  detached 128 MiB on guest node 1 as dimm0 (4 KiB pages, host nodes any)\n"},
        {"grow: different reasons all shown", "grow",
         "{'request':'r2','size':'256 MiB','live':true,'config':true,'attached':[],"
         "'selection':{'dimms':[{'node':0,'reason':'node 0: a'},{'node':1,'reason':'node 1: b'}]}}",
         "Request r2: 256 MiB\n  why: node 0: a\n  why: node 1: b\n"},
        {"grow on a shut-off domain: only the definition", "grow",
         "{'request':'r3','size':'128 MiB','live':false,'config':true,'attached':[" DIMM0 "]}",
         "Request r3: 128 MiB\n"
         "  only the definition changed: the guest gets this memory when the domain next "
         "starts\n"
         "  added to the definition: 128 MiB on guest node 1 as dimm0 (4 KiB pages, host "
         "nodes any)\n"},
        {"shrink of the definition only", "shrink",
         "{'request':'r4','size':'128 MiB','live':false,'config':true,'detached':[" DIMM0 "]}",
         "Request r4: 128 MiB\n"
         "  only the definition changed: the guest loses this memory when the domain next "
         "starts\n"
         "  removed from the definition: 128 MiB on guest node 1 as dimm0 (4 KiB pages, host "
         "nodes any)\n"},
        {"live only", "grow",
         "{'request':'r5','size':'128 MiB','live':true,'config':false,'attached':[]}",
         "Request r5: 128 MiB\n"
         "  only the running guest changed: the definition is unchanged, so this is undone "
         "when the domain stops\n"},
        {"a dry run shows what a grow would attach", "grow",
         "{'request':'r7','size':'256 MiB','live':true,'config':true,'dry_run':true,"
         "'selection':{'op':'grow','dimms':[{'node':1,'size_kib':262144,'page_size_kib':4,"
         "'host_nodes':'0','reason':'node 1: chosen with --node'}]}}",
         "Dry run r7: grow 256 MiB passes the pre-flight; nothing changed\n"
         "  why: node 1: chosen with --node\n"
         "  would attach 256 MiB on guest node 1 (4 KiB pages, host nodes 0)\n"},
        {"a dry run shows what a shrink would detach", "shrink",
         "{'request':'r8','size':'256 MiB','live':true,'config':true,'dry_run':true,"
         "'selection':{'op':'shrink','dimms':[" LIFO0 "," LIFO1 "]}}",
         "Dry run r8: shrink 256 MiB passes the pre-flight; nothing changed\n"
         "  why: most recently added first\n"
         "  would detach 128 MiB on guest node 0 (- pages, host nodes any)\n"
         "  would detach 128 MiB on guest node 1 (- pages, host nodes any)\n"},
        {"a dry run on virtio-mem: what the device would plug", "grow",
         "{'request':'r11','size':'130 MiB','live':true,'config':true,'dry_run':true,"
         "'selection':{'op':'grow','dimms':[{'node':1,'model':'virtio-mem','size_kib':133120,"
         "'from_kib':0,'requested_kib':133120,'device_kib':1048576,'page_size_kib':4,"
         "'alias':'virtiomem1','reason':'node 1: chosen with --node'}]}}",
         "Dry run r11: grow 130 MiB passes the pre-flight; nothing changed\n"
         "  why: node 1: chosen with --node\n"
         "  would plug 130 MiB on guest node 1 through virtio-mem device virtiomem1: "
         "requested 0 -> 130 MiB, current unknown\n"},
        {"a dry run on virtio-mem: what the device would unplug", "shrink",
         "{'request':'r12','size':'130 MiB','live':true,'config':true,'dry_run':true,"
         "'selection':{'op':'shrink','dimms':[{'node':1,'model':'virtio-mem','size_kib':133120,"
         "'from_kib':133120,'requested_kib':0,'device_kib':1048576,'page_size_kib':4,"
         "'reason':'node 1: chosen with --node'}]}}",
         "Dry run r12: shrink 130 MiB passes the pre-flight; nothing changed\n"
         "  why: node 1: chosen with --node\n"
         "  would unplug 130 MiB on guest node 1 through virtio-mem device (no alias): "
         "requested 130 MiB -> 0, current unknown\n"},
        {"resize: the goal, then what it took", "resize",
         "{'request':'r9','size':'256 MiB','live':true,'config':true,"
         "'resize':{'from_kib':1048576,'to_kib':1310720,'op':'grow'},'attached':[" DIMM0 "]}",
         "Request r9: resize 1 GiB -> 1280 MiB, grow 256 MiB\n"
         "  attached 128 MiB on guest node 1 as dimm0 (4 KiB pages, host nodes any)\n"},
        {"resize to what it has", "resize",
         "{'request':'r10','size':'1 GiB','live':true,'config':true,"
         "'resize':{'from_kib':1048576,'to_kib':1048576,'op':'none'}}",
         "Request r10: resize 1 GiB -> 1 GiB, already there: nothing changed\n"},
        {"status: the drift column, then what differs", "status",
         "{'version':'1.0','uptime_s':5,'uri':'qemu:///system','connected':true,'reconnects':0,"
         "'operations_done':2,'audit':{'path':'/var/log/memplug/audit.log','writable':true},"
         "'domains':[{'name':'web','active':true,'memory_kib':2359296,'max_memory_kib':8388608,"
         "'nodes':[{'id':0,'kib':1048576},{'id':1,'kib':1310720}],'queue':[],"
         "'drift':{'in_sync':false,'only_live':[" DRIFT_LIVE "],'only_config':[" DRIFT_CONFIG
         "],'requested':[" DRIFT_REQ "]}},"
         "{'name':'db','active':true,'memory_kib':1048576,'max_memory_kib':4194304,"
         "'nodes':[{'id':0,'kib':1048576}],'queue':[],"
         "'drift':{'in_sync':true,'only_live':[],'only_config':[],'requested':[]}},"
         "{'name':'off','active':false,'memory_kib':1048576,'max_memory_kib':4194304,"
         "'nodes':[{'id':0,'kib':1048576}],'queue':[],'drift':null}]}",
         "memplugd 1.0, up 5 s, 2 operations done\n"
         "libvirt qemu:///system: connected, 0 reconnects\n"
         "audit log /var/log/memplug/audit.log\n\n"
         "DOMAIN  STATE     MEMORY    MAXIMUM  PER NODE            OPERATIONS  DRIFT\n"
         "web     running   2304 MiB  8 GiB    0:1 GiB 1:1280 MiB  -           yes\n"
         "db      running   1 GiB     4 GiB    0:1 GiB             -           none\n"
         "off     shut off  1 GiB     4 GiB    0:1 GiB             -           -\n"
         "\nDrift in web: the running guest and its persistent definition differ\n" DRIFT_TEXT},
        {"inspect: the drift after the devices", "inspect",
         "{'domain':'web','uuid':null,'memory_kib':2359296,'boot_kib':2097152,"
         "'max_memory_kib':8388608,'used_slots':1,'slots':8,'headroom_kib':6029312,"
         "'hotplug':true,'cells':[],'devices':[],"
         "'drift':{'in_sync':false,'only_live':[" DRIFT_LIVE "],'only_config':[" DRIFT_CONFIG
         "],'requested':[" DRIFT_REQ "]}}",
         "Domain web (no uuid)\n"
         "Memory 2304 MiB (boot 2 GiB), maximum 8 GiB\n"
         "Slots 1 used of 8, headroom 5888 MiB\n\n"
         "CELL  CPUS  MEMORY  PLUGGED  PAGE  PAGE FROM  HOST NODES  MODE  NODES FROM\n"
         "\nDrift: the running guest and its persistent definition differ\n" DRIFT_TEXT},
        {"inspect: in sync", "inspect",
         "{'domain':'db','uuid':null,'memory_kib':1048576,'boot_kib':1048576,"
         "'max_memory_kib':4194304,'used_slots':0,'slots':8,'headroom_kib':3145728,"
         "'hotplug':true,'cells':[],'devices':[],"
         "'drift':{'in_sync':true,'only_live':[],'only_config':[],'requested':[]}}",
         "Domain db (no uuid)\n"
         "Memory 1 GiB (boot 1 GiB), maximum 4 GiB\n"
         "Slots 0 used of 8, headroom 3 GiB\n\n"
         "CELL  CPUS  MEMORY  PLUGGED  PAGE  PAGE FROM  HOST NODES  MODE  NODES FROM\n"
         "\nDrift: none, the running guest and its persistent definition have the same "
         "memory devices\n"},
        {"an agent that sends no scope", "grow", "{'request':'r6','size':'128 MiB','attached':[]}",
         "Request r6: 128 MiB\n"},
};

static json_object *to_json(const char *quoted)
{
	char *s = strdup(quoted);
	json_object *o;

	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	o = json_tokener_parse(s);
	free(s);
	return o;
}

static void test_render(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *data = to_json(cases[i].json);
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		print_message("%s\n", cases[i].what);
		assert_non_null(data);
		assert_non_null(out);
		assert_int_equal(output_render(out, cases[i].cmd, data, false), 0);
		fclose(out);
		assert_string_equal(text, cases[i].text);
		free(text);
		json_object_put(data);
	}
}

/* `policy show`: parts of the text that must, and must not, be there. */
static const struct {
	const char *what;
	const char *json;
	const char *has[3];
	const char *lacks[3];
} policy_cases[] = {
        {"before any decision: no age",
         "{'domain':'web01','enabled':false,'settings':{},'state':{'action':'none','reason':null,"
         "'message':'','age_ms':null,'balloon_kib':1048576,'usable_kib':null,"
         "'available_kib':null,'manageable':false}}",
         {"\nlast decision: none yet\n", "guest: balloon 1.0 GiB, usable -, total -"},
         {" ms ago", "(-)", "1048576"}},
        {"an older agent sends an age with no decision",
         "{'state':{'action':'none','age_ms':505171}}",
         {"last decision: none yet\n"},
         {"505171", "ago"}},
        {"a decision: age in seconds, sizes in MiB/GiB",
         "{'state':{'action':'grow','reason':'below_low_free','message':'plugged 256 MiB',"
         "'age_ms':12345,'balloon_kib':2097152,'usable_kib':812345,'available_kib':1960000,"
         "'manageable':true}}",
         {"last decision: grow (below_low_free) 12 s ago: plugged 256 MiB\n",
          "guest: balloon 2.0 GiB, usable 793 MiB, total 1.9 GiB\n"},
         {"KiB", "ms ago"}},
};

static void test_policy(void **state)
{
	for (size_t i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		json_object *data = to_json(policy_cases[i].json);
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		print_message("%s\n", policy_cases[i].what);
		assert_non_null(data);
		assert_int_equal(output_render(out, "policy", data, false), 0);
		fclose(out);
		for (size_t k = 0; k < 3 && policy_cases[i].has[k]; k++)
			if (strstr(text, policy_cases[i].has[k]) == NULL)
				fail_msg("%s: no \"%s\" in:\n%s", policy_cases[i].what,
				         policy_cases[i].has[k], text);
		for (size_t k = 0; k < 3 && policy_cases[i].lacks[k]; k++)
			if (strstr(text, policy_cases[i].lacks[k]) != NULL)
				fail_msg("%s: \"%s\" in:\n%s", policy_cases[i].what,
				         policy_cases[i].lacks[k], text);
		free(text);
		json_object_put(data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_render),
	        cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
