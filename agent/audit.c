/*
 * The audit log writer (see audit.h, docs/audit.md). Every append is one
 * write(2) of one whole line to a file opened O_APPEND, so a crash can only
 * leave a partial last line; opening the log cuts such a tail and records
 * that it did. A failed write is cut back too, so the chain state kept in
 * memory always matches the last whole line on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "audit.h"
#include "err.h"
#include "log.h"

#define AUDIT_TAIL_WINDOW 65536

struct audit {
	char *path;
	struct audit_options opts;
	int fd;                              /* -1 while the log cannot be written */
	uint64_t size;                       /* bytes in the current file */
	uint64_t last_seq;                   /* 0 before the first record */
	char last_hash[RECORD_HASH_HEX + 1]; /* "" before the first record */
	char *error;
	unsigned fail_after; /* test fault: the append after this many more fails */
	int fail_errno;      /* 0: no fault armed */
};

/* What the end of a file holds. */
struct audit_tail {
	bool found; /* a whole record */
	uint64_t seq;
	char hash[RECORD_HASH_HEX + 1];
	uint64_t good_end;  /* offset just after the last whole record */
	unsigned bad_lines; /* newline-terminated lines after it */
};

void audit_options_default(struct audit_options *opts)
{
	opts->max_bytes = 16 * 1024 * 1024;
	opts->keep = 8;
	opts->fail_closed = true;
}

static int64_t audit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Marks the log unwritable; returns rc. */
static int audit_fail(struct audit *a, int rc, const char *what)
{
	free(a->error);
	if (asprintf(&a->error, "audit log %s: %s: %s", a->path, what, strerror(-rc)) < 0)
		a->error = NULL;
	log_err("%s", a->error ? a->error : "audit log: out of memory");
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	return rc;
}

static int audit_read_at(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Looks at the whole lines of buf (file bytes from `start`) for records. */
static void audit_scan_lines(const char *buf, size_t len, uint64_t start, struct audit_tail *t)
{
	const char *p = buf, *end = buf + len, *nl;
	struct json_object *rec;

	if (start > 0) {
		/* The window began mid-line: that line is not ours to judge. */
		p = memchr(buf, '\n', len);
		p = p != NULL ? p + 1 : end;
	}
	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1) {
		const char *hash;

		if (record_parse_line(p, (size_t)(nl - p), &rec, NULL) < 0) {
			t->bad_lines++;
			continue;
		}
		hash = record_str(rec, "hash");
		if (strlen(hash) == RECORD_HASH_HEX) {
			t->found = true;
			t->seq = record_seq(rec);
			memcpy(t->hash, hash, sizeof(t->hash));
			t->good_end = start + (uint64_t)(nl + 1 - buf);
			t->bad_lines = 0;
		} else {
			t->bad_lines++;
		}
		json_object_put(rec);
	}
}

/* Finds the last whole record of a file, reading backwards in growing windows. */
static int audit_scan_tail(int fd, uint64_t size, struct audit_tail *t)
{
	for (uint64_t win = AUDIT_TAIL_WINDOW;; win *= 2) {
		uint64_t start = size > win ? size - win : 0;
		char *buf = malloc(size - start + 1);
		int rc;

		if (buf == NULL)
			return -ENOMEM;
		memset(t, 0, sizeof(*t));
		rc = audit_read_at(fd, buf, size - start, (off_t)start);
		if (rc == 0)
			audit_scan_lines(buf, size - start, start, t);
		free(buf);
		if (rc < 0 || t->found || start == 0)
			return rc;
	}
}

/* The chain state from the newest rotated file that holds a record. */
static int audit_scan_rotated(struct audit *a, struct audit_tail *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned k = 1; k <= a->opts.keep && !t->found; k++) {
		char *name = g_strdup_printf("%s.%u", a->path, k);
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		struct stat st;
		int rc = 0;

		g_free(name);
		if (fd < 0 && errno == ENOENT)
			continue; /* a crash mid-rotation can leave a gap */
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) == 0)
			rc = audit_scan_tail(fd, (uint64_t)st.st_size, t);
		close(fd);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int audit_fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (copy == NULL)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Cuts what follows the last whole record when a crash can explain it: at
 * most one line. More damage than that is left for a person to inspect.
 */
static int audit_cut_tail(struct audit *a, const struct audit_tail *t, uint64_t *cut)
{
	*cut = a->size - t->good_end;
	if (*cut == 0)
		return 0;
	if (t->bad_lines > 1)
		return audit_fail(a, -EBADMSG, "more than a torn line after the last record");
	if (ftruncate(a->fd, (off_t)t->good_end) < 0 || fsync(a->fd) < 0)
		return audit_fail(a, -errno, "cutting the torn last line");
	log_warn("audit log %s: cut a torn last line of %" PRIu64 " bytes at offset %" PRIu64,
	         a->path, *cut, t->good_end);
	a->size = t->good_end;
	return 0;
}

static int audit_note_repair(struct audit *a, uint64_t offset, uint64_t bytes)
{
	struct json_object *extra = json_object_new_object();
	struct record r = {
	        .event = RECORD_LOG_REPAIRED,
	        .actor.kind = RECORD_ACTOR_AGENT,
	        .result = RECORD_OK,
	        .extra = extra,
	};
	int rc;

	json_object_object_add(extra, "file", json_object_new_string(a->path));
	json_object_object_add(extra, "offset", json_object_new_uint64(offset));
	json_object_object_add(extra, "torn_bytes", json_object_new_uint64(bytes));
	rc = audit_append(a, &r, true, NULL, NULL);
	json_object_put(extra);
	return rc;
}

/* Takes the chain state from the current file, or else the rotated ones. */
static int audit_load_state(struct audit *a, uint64_t *cut)
{
	struct audit_tail t = {0};
	struct stat st;
	int rc;

	*cut = 0;
	if (fstat(a->fd, &st) < 0)
		return audit_fail(a, -errno, "stat");
	a->size = (uint64_t)st.st_size;
	if (!S_ISREG(st.st_mode))
		return 0; /* a device or pipe: nothing to continue from */
	if ((rc = audit_scan_tail(a->fd, a->size, &t)) < 0)
		return audit_fail(a, rc, "reading the last records");
	if ((rc = audit_cut_tail(a, &t, cut)) < 0)
		return rc;
	if (!t.found && (rc = audit_scan_rotated(a, &t)) < 0)
		return audit_fail(a, rc, "reading the rotated files");
	a->last_seq = t.found ? t.seq : 0;
	memcpy(a->last_hash, t.found ? t.hash : "", t.found ? sizeof(t.hash) : 1);
	return 0;
}

/*
 * Opens path for appending, locked: a second writer (another memplugd on
 * the same file) would fork the chain.
 */
static int audit_open_file(struct audit *a)
{
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (a->fd < 0)
		return audit_fail(a, -errno, "open");
	if (flock(a->fd, LOCK_EX | LOCK_NB) < 0)
		return audit_fail(a, errno == EWOULDBLOCK ? -EBUSY : -errno,
		                  "locked by another writer");
	return 0;
}

int audit_check_lock(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
	close(fd); /* drops the lock it may have taken */
	return rc;
}

static int audit_reopen(struct audit *a)
{
	uint64_t cut, offset;
	int rc;

	if (a->fd >= 0)
		close(a->fd);
	if ((rc = audit_open_file(a)) < 0)
		return rc;
	if ((rc = audit_load_state(a, &cut)) < 0)
		return rc;
	if (a->size == 0 && (rc = audit_fsync_dir(a->path)) < 0)
		return audit_fail(a, rc, "fsync of its directory");
	free(a->error);
	a->error = NULL;
	offset = a->size;
	return cut > 0 ? audit_note_repair(a, offset, cut) : 0;
}

int audit_open(const char *path, const struct audit_options *opts, struct audit **out)
{
	struct audit *a;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->path = strdup(path)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	a->fd = -1;
	if (opts != NULL)
		a->opts = *opts;
	else
		audit_options_default(&a->opts);
	*out = a;
	return audit_reopen(a);
}

void audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a->path);
	free(a->error);
	free(a);
}

/* path.keep-1 -> path.keep, ..., path -> path.1, then a new empty path. */
static int audit_rotate(struct audit *a)
{
	char *from, *to;
	int rc = 0;

	if (fsync(a->fd) < 0)
		return audit_fail(a, -errno, "fsync before rotation");
	for (unsigned k = a->opts.keep; k > 0 && rc == 0; k--) {
		from = k > 1 ? g_strdup_printf("%s.%u", a->path, k - 1) : g_strdup(a->path);
		to = g_strdup_printf("%s.%u", a->path, k);
		if (rename(from, to) < 0 && errno != ENOENT)
			rc = -errno;
		g_free(from);
		g_free(to);
	}
	if (rc == 0 && a->opts.keep == 0 && unlink(a->path) < 0)
		rc = -errno;
	if (rc < 0)
		return audit_fail(a, rc, "rotation");
	close(a->fd);
	if ((rc = audit_open_file(a)) < 0)
		return rc;
	a->size = 0;
	if ((rc = audit_fsync_dir(a->path)) < 0)
		return audit_fail(a, rc, "fsync of its directory after rotation");
	return 0;
}

/* Writes the whole line or, failing that, cuts back what went out. */
static int audit_write_line(struct audit *a, const char *line, size_t len, bool sync)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(a->fd, line + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int rc = n < 0 ? -errno : -EIO;

			if (done > 0 && ftruncate(a->fd, (off_t)a->size) < 0)
				log_warn("audit log %s: cannot cut a partial line", a->path);
			return audit_fail(a, rc, "write");
		}
		done += (size_t)n;
	}
	if (sync && fdatasync(a->fd) < 0)
		return audit_fail(a, -errno, "fsync");
	return 0;
}

int audit_append(struct audit *a, const struct record *r, bool sync, uint64_t *seq_out, char **err)
{
	struct json_object *rec = NULL;
	char *line = NULL;
	size_t len;
	int rc;

	if (a->fd < 0 && audit_reopen(a) < 0)
		return err_ret(err, -EIO, "%s", a->error ? a->error : "audit log unwritable");
	if (a->fail_errno && a->fail_after-- == 0) {
		rc = audit_fail(a, a->fail_errno, "write (injected fault)");
		a->fail_errno = 0;
		return err_ret(err, rc, "%s", a->error);
	}
	rc = record_to_json(r, audit_now_ms(), a->last_seq + 1, &rec, err);
	if (rc == 0)
		rc = record_seal(rec, a->last_hash[0] ? a->last_hash : NULL, &line, err);
	if (rc < 0)
		goto out;
	len = strlen(line);
	if (a->opts.max_bytes > 0 && a->size > 0 && a->size + len > a->opts.max_bytes &&
	    (rc = audit_rotate(a)) < 0)
		goto fail;
	if ((rc = audit_write_line(a, line, len, sync)) < 0)
		goto fail;
	a->size += len;
	a->last_seq++;
	g_strlcpy(a->last_hash, record_str(rec, "hash"), sizeof(a->last_hash));
	if (seq_out != NULL)
		*seq_out = a->last_seq;
	goto out;
fail:
	err_set(err, "%s", a->error ? a->error : "audit log unwritable");
out:
	json_object_put(rec);
	free(line);
	return rc;
}

int audit_reserve(struct audit *a, uint64_t bytes, char **err)
{
	int rc;

	if (a->fd < 0 && audit_reopen(a) < 0)
		return err_ret(err, -EIO, "%s", a->error ? a->error : "audit log unwritable");
	/* The records must fit the file they will go to: rotate first when
	 * they would not fit this one. */
	if (a->opts.max_bytes > 0 && a->size > 0 && a->size + bytes > a->opts.max_bytes &&
	    (rc = audit_rotate(a)) < 0)
		return err_ret(err, rc, "%s", a->error ? a->error : "rotation failed");
	/* Blocks past the end, the size unchanged: the appends that follow
	 * land in them and cannot meet a full disk. */
	if (fallocate(a->fd, FALLOC_FL_KEEP_SIZE, (off_t)a->size, (off_t)bytes) == 0)
		return 0;
	rc = -errno;
	if (rc == -EOPNOTSUPP || rc == -ENOSYS) {
		log_debug("audit log %s: no space reservation on this file system", a->path);
		return 0;
	}
	return err_ret(err, rc,
	               "audit log %s: cannot reserve %" PRIu64 " bytes for the records: %s",
	               a->path, bytes, strerror(-rc));
}

void audit_inject_failure(struct audit *a, unsigned after, int err)
{
	a->fail_after = after;
	a->fail_errno = err;
}

bool audit_writable(const struct audit *a)
{
	return a->fd >= 0;
}

const char *audit_error(const struct audit *a)
{
	return a->fd >= 0 ? NULL : a->error;
}

int audit_check_changes(struct audit *a, char **err)
{
	/* No reopen here: opening proves nothing on a full disk; the next
	 * audit_append() retries with a real write. */
	if (a->fd >= 0)
		return 0;
	if (!a->opts.fail_closed) {
		log_warn("%s; changing memory anyway (fail_closed = false)", a->error);
		return 0;
	}
	return err_ret(err, -EROFS, "%s; memory changes are refused until it can be written",
	               a->error ? a->error : "audit log unwritable");
}

uint64_t audit_last_seq(const struct audit *a)
{
	return a->last_seq;
}

const char *audit_path(const struct audit *a)
{
	return a->path;
}

int audit_files(const struct audit *a, char ***files, size_t *n, char **err)
{
	return record_log_files(a->path, files, n, err);
}

int audit_pending_intents(const struct audit *a, struct json_object **out, char **err)
{
	char **files = NULL;
	size_t n = 0;
	int rc = audit_files(a, &files, &n, err);

	if (rc == 0)
		rc = record_pending_intents(files, n, out, err);
	record_files_free(files, n);
	return rc;
}
