/* frame.c - gRPC's length-prefixed message framing. */
#include "frame.h"

enum frame_result frame_next(const uint8_t *p, size_t n, size_t max, const uint8_t **out_msg,
                             size_t *out_len, size_t *out_used)
{
	if (n < 1)
		return FRAME_MORE;
	if (p[0] > 1)
		return FRAME_BAD_FLAG;
	if (p[0] == 1)
		return FRAME_COMPRESSED;
	if (n < GRPC_FRAME_HEAD)
		return FRAME_MORE;
	uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (len > max)
		return FRAME_TOO_BIG;
	if (n - GRPC_FRAME_HEAD < len)
		return FRAME_MORE;
	*out_msg = p + GRPC_FRAME_HEAD;
	*out_len = len;
	*out_used = GRPC_FRAME_HEAD + (size_t)len;
	return FRAME_MESSAGE;
}

void frame_head(uint8_t out[GRPC_FRAME_HEAD], uint32_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}
