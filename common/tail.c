/*
 * The audit log tail (see tail.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "record.h"
#include "tail.h"

struct record_tail {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t off;
	bool known; /* dev/ino/off describe a file we have read */
	uint64_t last_seq;
};

struct record_tail *record_tail_new(const char *path)
{
	struct record_tail *t = calloc(1, sizeof(*t));
	struct stat st;

	if (t == NULL || (t->path = strdup(path)) == NULL) {
		free(t);
		return NULL;
	}
	if (stat(path, &st) == 0) {
		t->dev = st.st_dev;
		t->ino = st.st_ino;
		t->off = st.st_size;
		t->known = true;
	}
	return t;
}

void record_tail_free(struct record_tail *t)
{
	if (t == NULL)
		return;
	free(t->path);
	free(t);
}

void record_tail_skip_to(struct record_tail *t, uint64_t seq)
{
	t->last_seq = seq;
}

/* Reads whole lines of `path` from *off on; advances *off past them. */
static int tail_read(struct record_tail *t, const char *path, off_t *off, json_object *out)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0;

	if (f == NULL)
		return errno == ENOENT ? 0 : -errno;
	if (fseeko(f, *off, SEEK_SET) < 0) {
		fclose(f);
		return -errno;
	}
	while ((len = getline(&line, &cap, f)) > 0 && line[len - 1] == '\n') {
		json_object *rec = NULL;

		*off += len;
		if (record_parse_line(line, (size_t)len - 1, &rec, NULL) < 0)
			continue;
		if (record_seq(rec) > t->last_seq) {
			t->last_seq = record_seq(rec);
			json_object_array_add(out, rec);
			n++;
		} else {
			json_object_put(rec);
		}
	}
	free(line);
	fclose(f);
	return n;
}

int record_tail_poll(struct record_tail *t, json_object *out)
{
	struct stat st, old;
	char *rotated = NULL;
	int n = 0, rc;

	if (stat(t->path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (t->known && (st.st_dev != t->dev || st.st_ino != t->ino)) {
		/* Rotated: finish what was written to the old file first. */
		if (asprintf(&rotated, "%s.1", t->path) < 0)
			return -ENOMEM;
		if (stat(rotated, &old) == 0 && old.st_dev == t->dev && old.st_ino == t->ino &&
		    (rc = tail_read(t, rotated, &t->off, out)) > 0)
			n += rc;
		free(rotated);
		t->off = 0;
	}
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->known = true;
	if (st.st_size < t->off) /* cut back (torn tail repaired) */
		t->off = st.st_size;
	rc = tail_read(t, t->path, &t->off, out);
	return rc < 0 ? rc : n + rc;
}
