/* frame.h - gRPC's length-prefixed message framing (1 flag byte, 4 bytes big-endian length). */
#ifndef KINDLING_GRPC_FRAME_H
#define KINDLING_GRPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GRPC_FRAME_HEAD 5

enum frame_result {
	FRAME_MORE = 0,        /* not a whole message yet */
	FRAME_MESSAGE = 1,     /* *out_msg, *out_len: one message; *out_used bytes consumed */
	FRAME_TOO_BIG = -1,    /* the prefix announces more than max bytes */
	FRAME_COMPRESSED = -2, /* compressed flag set: kindling never offers an encoding */
	FRAME_BAD_FLAG = -3,   /* a flag byte other than 0 or 1 */
};

/* Looks at the n bytes at p for the next message of at most max bytes. */
enum frame_result frame_next(const uint8_t *p, size_t n, size_t max, const uint8_t **out_msg,
                             size_t *out_len, size_t *out_used);

/* Writes the 5-byte prefix for an uncompressed message of len bytes. */
void frame_head(uint8_t out[GRPC_FRAME_HEAD], uint32_t len);

#endif
