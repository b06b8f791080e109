/* subst.c - ${name} template substitution with Terraform's $${X} escape. */
#include "subst.h"

#include <string.h>

bool subst_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > SUBST_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

/* Appends at most 40 bytes of s[0..n) to b with anything unprintable as '?'. */
static void add_excerpt(struct buf *b, const char *s, size_t n)
{
	size_t m = n > 40 ? 40 : n;
	for (size_t i = 0; i < m; i++) {
		unsigned char c = (unsigned char)s[i];
		char o = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		buf_add(b, &o, 1);
	}
	if (m < n)
		buf_addstr(b, "...");
}

/* The scanner both public functions share: what it found at tpl[i]. */
enum tok {
	TOK_TEXT,   /* plain bytes up to the next '$' */
	TOK_ESCAPE, /* "$${": emit "${" */
	TOK_REF,    /* "${name}" */
	TOK_END,
};

struct scanner {
	const char *tpl;
	size_t len;
	size_t pos;
	unsigned line;
	/* the current token */
	const char *text;
	size_t text_len;
	char name[SUBST_NAME_MAX + 1];
	unsigned tok_line;
};

/* Advances to the next token. K_OK or K_EINVAL (message appended). */
static enum kerr scan_next(struct scanner *s, enum tok *out, const char *file, struct buf *errmsg)
{
	const char *t = s->tpl;
	size_t n = s->len, i = s->pos;

	s->tok_line = s->line;
	if (i >= n) {
		*out = TOK_END;
		return K_OK;
	}
	if (t[i] == '$' && i + 2 < n && t[i + 1] == '$' && t[i + 2] == '{') {
		s->pos = i + 3;
		*out = TOK_ESCAPE;
		return K_OK;
	}
	if (t[i] == '$' && i + 1 < n && t[i + 1] == '{') {
		size_t start = i + 2, j = start;
		while (j < n && t[j] != '}' && t[j] != '\n')
			j++;
		if (j >= n || t[j] != '}') {
			if (errmsg) {
				buf_addf(errmsg, "%s:%u: unterminated \"${", file, s->line);
				add_excerpt(errmsg, t + start, j - start);
				buf_addstr(errmsg, "\" (write $${ for a literal ${)");
			}
			return K_EINVAL;
		}
		if (!subst_name_valid(t + start, j - start)) {
			if (errmsg) {
				buf_addf(errmsg, "%s:%u: invalid variable reference \"${", file,
				         s->line);
				add_excerpt(errmsg, t + start, j - start);
				buf_addstr(errmsg, "}\": names are [a-z_][a-z0-9_]*, at most 64 "
				                   "characters (write $${ for a literal ${)");
			}
			return K_EINVAL;
		}
		memcpy(s->name, t + start, j - start);
		s->name[j - start] = '\0';
		s->pos = j + 1;
		*out = TOK_REF;
		return K_OK;
	}
	/* Plain text: this byte (perhaps a lone '$') up to the next '$'. */
	size_t j = i + 1;
	while (j < n && t[j] != '$')
		j++;
	for (size_t k = i; k < j; k++)
		if (t[k] == '\n')
			s->line++;
	s->text = t + i;
	s->text_len = j - i;
	s->pos = j;
	*out = TOK_TEXT;
	return K_OK;
}

enum kerr subst_scan(const char *tpl, size_t len, const char *file, subst_ref_fn fn, void *ctx,
                     struct buf *errmsg)
{
	struct scanner s = {.tpl = tpl, .len = len, .line = 1};
	enum kerr e = K_OK;
	enum tok tok;

	for (;;) {
		e = scan_next(&s, &tok, file, errmsg);
		if (e != K_OK || tok == TOK_END)
			goto out;
		if (tok == TOK_REF) {
			e = fn(ctx, s.name, s.tok_line);
			if (e != K_OK)
				goto out;
		}
	}
out:
	return e;
}

enum kerr subst_expand(const char *tpl, size_t len, const char *file, subst_lookup_fn lookup,
                       void *ctx, struct buf *out, struct buf *errmsg)
{
	struct scanner s = {.tpl = tpl, .len = len, .line = 1};
	enum kerr e = K_OK;
	enum tok tok;
	const char *v;

	for (;;) {
		e = scan_next(&s, &tok, file, errmsg);
		if (e != K_OK || tok == TOK_END)
			goto out;
		switch (tok) {
		case TOK_TEXT:
			e = buf_add(out, s.text, s.text_len);
			break;
		case TOK_ESCAPE:
			e = buf_add(out, "${", 2);
			break;
		case TOK_REF:
			v = lookup(ctx, s.name);
			if (!v) {
				if (errmsg)
					buf_addf(errmsg, "%s:%u: unknown variable ${%s}", file,
					         s.tok_line, s.name);
				e = K_EINVAL;
				break;
			}
			e = buf_addstr(out, v);
			break;
		case TOK_END:
			break;
		}
		if (e != K_OK)
			goto out;
	}
out:
	return e;
}
