/*
 * libFuzzer target: the audit log reader (common/record.c). The input is
 * an audit file: each line goes through the line parser and the text
 * formatter, then the whole file through the reader, the chain check and
 * the pending-intent scan that memplugd runs at start.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_lines(const char *buf, size_t size)
{
	const char *p = buf, *end = buf + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct json_object *rec = NULL;
		char *err = NULL;
		int64_t ms;

		if (record_parse_line(p, len, &rec, &err) == 0) {
			free(record_format_text(rec));
			(void)record_ts_ms(rec, &ms);
			(void)record_seq(rec);
		}
		json_object_put(rec);
		free(err);
		p += len + 1;
	}
}

/* The file readers take paths: a memfd stands in, without touching a disk. */
static void fuzz_files(const uint8_t *data, size_t size)
{
	struct record_verify_result res = {0};
	struct json_object *rec = NULL, *pending = NULL;
	struct record_reader *rd;
	char path[64], *files[1] = {path}, *err = NULL;
	int fd = memfd_create("audit", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rd = record_reader_new(files, 1);
	while (rd != NULL && record_reader_next(rd, &rec) == 1)
		json_object_put(rec);
	record_reader_free(rd);
	record_verify(files, 1, &res, &err);
	record_verify_result_clear(&res);
	free(err);
	err = NULL;
	record_pending_intents(files, 1, &pending, &err);
	json_object_put(pending);
	free(err);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_lines((const char *)data, size);
	fuzz_files(data, size);
	return 0;
}
