/*
 * NUMA node sets (see nodeset.h). The parser follows libvirt's
 * virBitmapParse: tokens are processed left to right, so "^N" removes N
 * from what earlier tokens added; spaces are allowed around numbers.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "nodeset.h"

static void nodeset_skip_spaces(const char **p)
{
	while (isspace((unsigned char)**p))
		(*p)++;
}

/* Reads one node id at *p, refusing anything >= NODESET_MAX. */
static int nodeset_read_id(const char *str, const char **p, unsigned *id, char **err)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)**p))
		return err_ret(err, -EINVAL, "nodeset '%s': expected a node number at '%s'", str,
		               *p);
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno == ERANGE || v >= NODESET_MAX)
		return err_ret(err, -ERANGE, "nodeset '%s': node %.*s is not below %d", str,
		               (int)(end - *p), *p, NODESET_MAX);
	*p = end;
	*id = (unsigned)v;
	return 0;
}

/* Applies one token ("N", "N-M" or "^N") at *p to ns. */
static int nodeset_parse_token(const char *str, const char **p, struct nodeset *ns, char **err)
{
	bool neg = false;
	unsigned first, last;
	int rc;

	if (**p == '^') {
		neg = true;
		(*p)++;
	}
	if ((rc = nodeset_read_id(str, p, &first, err)) < 0)
		return rc;
	nodeset_skip_spaces(p);
	last = first;
	if (**p == '-') {
		if (neg)
			return err_ret(err, -EINVAL, "nodeset '%s': '^' takes a single node", str);
		(*p)++;
		nodeset_skip_spaces(p);
		if ((rc = nodeset_read_id(str, p, &last, err)) < 0)
			return rc;
		if (last < first)
			return err_ret(err, -EINVAL, "nodeset '%s': range %u-%u is reversed", str,
			               first, last);
		nodeset_skip_spaces(p);
	}
	for (unsigned i = first; i <= last; i++)
		neg ? nodeset_clear(ns, i) : nodeset_set(ns, i);
	return 0;
}

int nodeset_parse(const char *str, struct nodeset *out, char **err)
{
	struct nodeset ns;
	const char *p = str;
	int rc;

	if (str == NULL)
		return err_ret(err, -EINVAL, "nodeset is missing");
	nodeset_clear_all(&ns);
	nodeset_skip_spaces(&p);
	if (*p == '\0')
		return err_ret(err, -EINVAL, "nodeset '%s' is empty", str);
	while (*p != '\0') {
		if ((rc = nodeset_parse_token(str, &p, &ns, err)) < 0)
			return rc;
		if (*p == ',') {
			p++;
			nodeset_skip_spaces(&p);
			if (*p == '\0')
				return err_ret(err, -EINVAL, "nodeset '%s' ends with ','", str);
		} else if (*p != '\0') {
			return err_ret(err, -EINVAL, "nodeset '%s': unexpected '%c'", str, *p);
		}
	}
	if (nodeset_is_empty(&ns))
		return err_ret(err, -EINVAL, "nodeset '%s' selects no node", str);
	*out = ns;
	return 0;
}

char *nodeset_format(const struct nodeset *ns, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (int i = nodeset_next(ns, 0); i >= 0;) {
		int last = i;

		while (last + 1 < NODESET_MAX && nodeset_test(ns, (unsigned)last + 1))
			last++;
		int n = last == i ? snprintf(buf + used, len - used, "%s%d", used ? "," : "", i)
		                  : snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", i,
		                             last);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
		i = last + 1 < NODESET_MAX ? nodeset_next(ns, (unsigned)last + 1) : -1;
	}
	return buf;
}

void nodeset_clear_all(struct nodeset *ns)
{
	memset(ns, 0, sizeof(*ns));
}

void nodeset_set(struct nodeset *ns, unsigned id)
{
	if (id < NODESET_MAX)
		ns->bits[id / 64] |= UINT64_C(1) << (id % 64);
}

void nodeset_clear(struct nodeset *ns, unsigned id)
{
	if (id < NODESET_MAX)
		ns->bits[id / 64] &= ~(UINT64_C(1) << (id % 64));
}

bool nodeset_test(const struct nodeset *ns, unsigned id)
{
	return id < NODESET_MAX && (ns->bits[id / 64] >> (id % 64)) & 1;
}

unsigned nodeset_count(const struct nodeset *ns)
{
	unsigned n = 0;

	for (size_t i = 0; i < NODESET_MAX / 64; i++)
		n += (unsigned)__builtin_popcountll(ns->bits[i]);
	return n;
}

bool nodeset_is_empty(const struct nodeset *ns)
{
	return nodeset_count(ns) == 0;
}

bool nodeset_equal(const struct nodeset *a, const struct nodeset *b)
{
	return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}

int nodeset_next(const struct nodeset *ns, unsigned from)
{
	for (unsigned id = from; id < NODESET_MAX; id++) {
		uint64_t word = ns->bits[id / 64] >> (id % 64);

		if (word == 0) {
			id |= 63; /* skip the rest of this word */
			continue;
		}
		return (int)(id + (unsigned)__builtin_ctzll(word));
	}
	return -1;
}
