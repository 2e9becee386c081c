/*
 * Memory sizes. memplug carries every size in KiB in a uint64_t, as libvirt
 * does. Two parsers: one for what users type (binary suffixes required) and
 * one for libvirt's <... unit='...'> attributes. Both detect overflow.
 */
#ifndef MEMPLUG_SIZE_H
#define MEMPLUG_SIZE_H

#include <stddef.h>
#include <stdint.h>

#define SIZE_KIB_PER_MIB UINT64_C(1024)
#define SIZE_KIB_PER_GIB UINT64_C(1048576)
/* The largest size accepted, in KiB: libvirt's own limit (2^53 - 1), far
 * enough below UINT64_MAX that sums of many sizes cannot wrap. */
#define SIZE_KIB_MAX UINT64_C(9007199254740991)

/*
 * Parses a user size: a decimal number followed by K, M, G or T, optionally
 * followed by "iB" (all binary; lower case accepted), e.g. "768M", "1GiB".
 * A bare number is refused, with a message naming the accepted suffixes.
 * Sizes that are not a whole number of KiB or do not fit are refused.
 */
int size_parse(const char *str, uint64_t *kib, char **err);

/*
 * Converts `value` in libvirt unit `unit` (NULL means KiB) to KiB, the way
 * libvirt reads <memory unit=...>: b/bytes, KB, k/KiB, MB, M/MiB, GB,
 * G/GiB, TB, T/TiB, PB, P/PiB, EB, E/EiB. Values are rounded up to a whole
 * KiB, as libvirt does. Whitespace around the number is tolerated.
 */
int size_parse_unit(const char *value, const char *unit, uint64_t *kib, char **err);

/*
 * Formats a size for people in the largest binary unit that divides it
 * exactly, so nothing is rounded: "768 MiB", "1536 MiB", "1 GiB", "4 KiB".
 * Writes at most `len` bytes including the NUL; returns buf.
 */
char *size_format(uint64_t kib, char *buf, size_t len);
#define SIZE_FORMAT_MAX 32

#endif
