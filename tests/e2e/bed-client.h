/* C face of the bed's harness (tests/e2e/bed) for end-to-end tests written
 * in C: each call runs one bed subcommand and returns 0 or a negative errno.
 * Guest names must start with "bed-". The bed script is found through the
 * BED environment variable, else the path compiled in as BED_PATH. */
#pragma once

/* Defines and starts TEMPLATE as NAME; returns once the guest's init reports. */
int bed_boot(const char *template_name, const char *name);

/* The guest's own MemTotal of guest node NODE, in kB, from its console. */
int bed_memtotal(const char *name, int node, long *kb);

/* The guest's own MemAvailable, in kB. */
int bed_avail(const char *name, long *kb);

/* Sends COMMAND ("consume 64", "release", "blocks", "ping") to the guest.
 * *reply (may be NULL) gets the guest's answer without its trailing newline,
 * owned by the caller (free()). Returns -EPROTO when the guest answered
 * "err ...", -EIO when it did not answer. */
int bed_cmd(const char *name, const char *command, char **reply);

/* Destroys and undefines NAME and removes its files; fine after any failure. */
int bed_teardown(const char *name);
