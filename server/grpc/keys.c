/* keys.c - etcd v3 discovery's key layout over kindling's discovery directories. */
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_LEN (sizeof(KEYS_REGISTRY) - 1)

static bool hex_run(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

enum key_kind keys_parse(const uint8_t *key, size_t len, char out_token[33], char out_id[33])
{
	out_token[0] = 0;
	out_id[0] = 0;
	if (len < REG_LEN + 32 || memcmp(key, KEYS_REGISTRY, REG_LEN) != 0 ||
	    !hex_run(key + REG_LEN, 32))
		return KEY_OTHER;
	memcpy(out_token, key + REG_LEN, 32);
	out_token[32] = 0;
	const uint8_t *rest = key + REG_LEN + 32;
	size_t rn = len - REG_LEN - 32;
	static const char size_tail[] = "/_config/size", mem[] = "/members/";
	if (rn == sizeof(size_tail) - 1 && !memcmp(rest, size_tail, rn))
		return KEY_SIZE;
	size_t ml = sizeof(mem) - 1;
	if (rn > ml && rn - ml <= 16 && !memcmp(rest, mem, ml) && hex_run(rest + ml, rn - ml)) {
		memcpy(out_id, rest + ml, rn - ml);
		out_id[rn - ml] = 0;
		return KEY_MEMBER;
	}
	return KEY_OTHER;
}

/* memcmp of byte strings of different lengths, shorter first on a tie. */
static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = n ? memcmp(a, b, n) : 0; /* protobuf-c leaves an empty bytes field NULL */
	if (c)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

bool keys_in_range(const uint8_t *key, size_t klen, const uint8_t *begin, size_t blen,
                   const uint8_t *end, size_t elen)
{
	if (elen == 0)
		return klen == blen && (!klen || !memcmp(key, begin, klen));
	if (bytes_cmp(key, klen, begin, blen) < 0)
		return false;
	if (elen == 1 && end[0] == 0)
		return true;
	return bytes_cmp(key, klen, end, elen) < 0;
}

static int kv_cmp(const void *a, const void *b)
{
	const struct v3_kv *x = a, *y = b;
	return bytes_cmp((const uint8_t *)x->key, x->klen, (const uint8_t *)y->key, y->klen);
}

bool kv_list_build(const char *token, const struct store_dir *dir, const uint8_t *begin,
                   size_t blen, const uint8_t *end, size_t elen, int64_t rev, struct kv_list *out)
{
	memset(out, 0, sizeof(*out));
	size_t text = 0;
	for (size_t i = 0; i < dir->n; i++)
		text += sizeof(KEYS_REGISTRY) + 32 + 9 + 33 + strlen(dir->members[i].value) + 1;
	text += sizeof(KEYS_REGISTRY) + 32 + 14 + 16;
	out->kvs = calloc(dir->n + 1, sizeof(*out->kvs));
	out->text = malloc(text);
	if (!out->kvs || !out->text) {
		kv_list_clear(out);
		return false;
	}
	char *p = out->text;
	size_t left = text;
	for (size_t i = 0; i <= dir->n; i++) {
		const struct store_member *m = i < dir->n ? &dir->members[i] : NULL;
		int64_t crev = m ? m->created_index : 1;
		if (rev > 0 && crev > rev)
			continue;
		int kl = m ? snprintf(p, left, KEYS_REGISTRY "%s/members/%s", token, m->id)
		           : snprintf(p, left, KEYS_REGISTRY "%s/_config/size", token);
		if (kl < 0 || (size_t)kl >= left)
			continue;
		if (!keys_in_range((const uint8_t *)p, (size_t)kl, begin, blen, end, elen))
			continue;
		struct v3_kv *kv = &out->kvs[out->n++];
		kv->key = p;
		kv->klen = (size_t)kl;
		p += kl + 1;
		left -= (size_t)kl + 1;
		int vl = m ? snprintf(p, left, "%s", m->value) : snprintf(p, left, "%d", dir->size);
		if (vl < 0 || (size_t)vl >= left) {
			out->n--;
			continue;
		}
		kv->value = p;
		kv->vlen = (size_t)vl;
		p += vl + 1;
		left -= (size_t)vl + 1;
		kv->create_revision = crev;
	}
	qsort(out->kvs, out->n, sizeof(*out->kvs), kv_cmp);
	return true;
}

void kv_list_clear(struct kv_list *l)
{
	if (!l)
		return;
	free(l->kvs);
	free(l->text);
	memset(l, 0, sizeof(*l));
}
