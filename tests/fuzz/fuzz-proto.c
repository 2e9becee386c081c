/*
 * libFuzzer target: the control protocol's framing and JSON decoding
 * (common/proto.c), both directions. The input is cut into frames as the
 * agent cuts a client's stream; each payload is read as a request (what
 * memplugd does) and as a reply (what memplugctl does).
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_payload(const char *buf, size_t len)
{
	struct proto_request *req = NULL;
	struct proto_reply *reply = NULL;
	char *err = NULL;
	uint32_t id = 0;

	if (proto_request_parse(buf, len, &req, &id, &err) == 0)
		(void)proto_request_mutates(req);
	proto_request_free(req);
	free(err);
	err = NULL;
	proto_reply_parse(buf, len, &reply, &err);
	proto_reply_free(reply);
	free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, len;

	while (off < size) {
		char *err = NULL;
		int rc = proto_frame_check(data + off, size - off, PROTO_REQUEST_MAX, &len, &err);

		free(err);
		if (rc < 0)
			break;
		fuzz_payload((const char *)data + off + PROTO_HEADER_LEN, len);
		off += PROTO_HEADER_LEN + len;
	}
	return 0;
}
