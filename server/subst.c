/* subst.c - ${name} template substitution with Terraform's $${X} escape, escaping each value
 * for the syntax it lands in. */
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

static const char *const context_names[] = {
        [SUBST_CTX_RAW] = "raw",
        [SUBST_CTX_SYSTEMD] = "systemd",
        [SUBST_CTX_SH] = "sh",
        [SUBST_CTX_JSON] = "json",
};

static const char *const filter_names[] = {
        [SUBST_FILTER_NONE] = "",
        [SUBST_FILTER_RAW] = "raw",
        [SUBST_FILTER_SH] = "sh",
        [SUBST_FILTER_JSON] = "json",
};

/* The systemd settings whose values are command lines (systemd.service(5),
 * systemd.socket(5)): unquoted, C-unescaped, specifier- and variable-expanded. */
static const char *const command_keys[] = {
        "ExecCondition", "ExecStart", "ExecStartPre", "ExecStartPost",
        "ExecReload",    "ExecStop",  "ExecStopPre",  "ExecStopPost",
};

bool subst_context_parse(const char *s, enum subst_context *out)
{
	for (size_t i = 0; i < sizeof(context_names) / sizeof(context_names[0]); i++) {
		if (strcmp(s, context_names[i]) == 0) {
			*out = (enum subst_context)i;
			return true;
		}
	}
	return false;
}

const char *subst_context_name(enum subst_context cx)
{
	return (size_t)cx < sizeof(context_names) / sizeof(context_names[0]) ? context_names[cx]
	                                                                     : "?";
}

const char *subst_filter_name(enum subst_filter f)
{
	return (size_t)f < sizeof(filter_names) / sizeof(filter_names[0]) ? filter_names[f] : "?";
}

/* ---- escapers ---- */

/* [A-Za-z0-9_@%+=:,./-]: bytes a POSIX shell word may hold unquoted. */
static bool sh_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("_@%+=:,./-", c) != NULL);
}

static enum kerr esc_sh(const char *v, size_t n, struct buf *out)
{
	enum kerr e = K_OK;
	bool safe = n > 0;

	for (size_t i = 0; i < n && safe; i++)
		safe = sh_safe((unsigned char)v[i]);
	if (safe)
		return buf_add(out, v, n);
	e = buf_add(out, "'", 1);
	for (size_t i = 0; i < n && e == K_OK; i++)
		e = v[i] == '\'' ? buf_add(out, "'\\''", 4) : buf_add(out, &v[i], 1);
	return e == K_OK ? buf_add(out, "'", 1) : e;
}

static enum kerr esc_json(const char *v, size_t n, struct buf *out)
{
	enum kerr e = buf_add(out, "\"", 1);

	for (size_t i = 0; i < n && e == K_OK; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '"')
			e = buf_add(out, "\\\"", 2);
		else if (c == '\\')
			e = buf_add(out, "\\\\", 2);
		else if (c == '\n')
			e = buf_add(out, "\\n", 2);
		else if (c == '\t')
			e = buf_add(out, "\\t", 2);
		else if (c == '\r')
			e = buf_add(out, "\\r", 2);
		else if (c < 0x20 || c == 0x7f)
			e = buf_addf(out, "\\u%04x", c);
		else
			e = buf_add(out, &v[i], 1);
	}
	return e == K_OK ? buf_add(out, "\"", 1) : e;
}

/* A systemd command line (dollar) or Environment= assignment (!dollar). */
static enum kerr esc_systemd_word(const char *v, size_t n, bool dollar, struct buf *out)
{
	enum kerr e = K_OK;

	for (size_t i = 0; i < n && e == K_OK; i++) {
		unsigned char c = (unsigned char)v[i];
		switch (c) {
		case '%':
			e = buf_add(out, "%%", 2);
			break;
		case '$':
			e = dollar ? buf_add(out, "$$", 2) : buf_add(out, "$", 1);
			break;
		case '\\':
			e = buf_add(out, "\\x5c", 4); /* never a backslash ending a line */
			break;
		case '"':
			e = buf_add(out, "\\\"", 2);
			break;
		case '\'':
			e = buf_add(out, "\\'", 2);
			break;
		case ' ':
			e = buf_add(out, "\\x20", 4);
			break;
		case ';':
			e = buf_add(out, "\\x3b", 4); /* never a lone ";" command separator */
			break;
		case '\t':
			e = buf_add(out, "\\t", 2);
			break;
		case '\n':
			e = buf_add(out, "\\n", 2);
			break;
		case '\r':
			e = buf_add(out, "\\r", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				e = buf_addf(out, "\\x%02x", c);
			else
				e = buf_add(out, &v[i], 1);
		}
	}
	return e;
}

/* Any other systemd setting: % doubled; nothing that ends or continues the line. */
static enum kerr esc_systemd_setting(const char *v, size_t n, struct buf *out)
{
	enum kerr e = K_OK;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return K_EINVAL;
	if (n && v[n - 1] == '\\')
		return K_EINVAL;
	for (size_t i = 0; i < n && e == K_OK; i++)
		e = v[i] == '%' ? buf_add(out, "%%", 2) : buf_add(out, &v[i], 1);
	return e;
}

/* Appends v escaped for the file's context alone. */
static enum kerr esc_context(const char *v, size_t n, enum subst_context cx, enum subst_where w,
                             struct buf *out)
{
	switch (cx) {
	case SUBST_CTX_SH:
		return esc_sh(v, n, out);
	case SUBST_CTX_JSON:
		return esc_json(v, n, out);
	case SUBST_CTX_SYSTEMD:
		if (w == SUBST_WHERE_COMMAND || w == SUBST_WHERE_ENVIRONMENT)
			return esc_systemd_word(v, n, w == SUBST_WHERE_COMMAND, out);
		return esc_systemd_setting(v, n, out);
	case SUBST_CTX_RAW:
		break;
	}
	return buf_add(out, v, n);
}

enum kerr subst_escape(const char *v, size_t n, enum subst_filter f, enum subst_context cx,
                       enum subst_where w, struct buf *out)
{
	struct buf inner;
	enum kerr e;

	if (f == SUBST_FILTER_RAW)
		return buf_add(out, v, n);
	if (f == SUBST_FILTER_NONE)
		return esc_context(v, n, cx, w, out);
	/* The filter's syntax inside the file's: filter first, context around it. */
	buf_init(&inner, out->max);
	e = f == SUBST_FILTER_SH ? esc_sh(v, n, &inner) : esc_json(v, n, &inner);
	if (e == K_OK)
		e = esc_context(buf_str(&inner), inner.len, cx, w, out);
	buf_free(&inner);
	return e;
}

/* ---- the scanner ---- */

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
	TOK_REF,    /* "${name}" or "${name|filter}" */
	TOK_END,
};

struct scanner {
	const char *tpl;
	size_t len;
	size_t pos;
	unsigned line;
	enum subst_context cx;
	size_t lstart; /* where the current logical line (after \ continuations) begins */
	/* the current token */
	const char *text;
	size_t text_len;
	char name[SUBST_NAME_MAX + 1];
	struct subst_ref ref;
};

/* Where in a systemd file the reference at t[pos] is: by the key of its logical line. */
static enum subst_where where_at(const struct scanner *s, size_t pos)
{
	const char *t = s->tpl;
	size_t i = s->lstart, k;
	const char *eq;

	if (s->cx != SUBST_CTX_SYSTEMD)
		return SUBST_WHERE_TEXT;
	while (i < pos && (t[i] == ' ' || t[i] == '\t'))
		i++;
	if (i >= pos || t[i] == '#' || t[i] == ';' || t[i] == '[')
		return SUBST_WHERE_SETTING;
	eq = memchr(t + i, '=', pos - i);
	if (!eq)
		return SUBST_WHERE_SETTING; /* in the key itself */
	k = (size_t)(eq - (t + i));
	while (k > 0 && (t[i + k - 1] == ' ' || t[i + k - 1] == '\t'))
		k--;
	for (size_t j = 0; j < sizeof(command_keys) / sizeof(command_keys[0]); j++)
		if (strlen(command_keys[j]) == k && memcmp(t + i, command_keys[j], k) == 0)
			return SUBST_WHERE_COMMAND;
	if (k == 11 && memcmp(t + i, "Environment", 11) == 0)
		return SUBST_WHERE_ENVIRONMENT;
	return SUBST_WHERE_SETTING;
}

/* Parses the inside of "${...}", t[start..end): name [ "|" filter ]. */
static enum kerr parse_ref(struct scanner *s, size_t start, size_t end, const char *file,
                           struct buf *errmsg)
{
	const char *t = s->tpl;
	const char *bar = memchr(t + start, '|', end - start);
	size_t name_end = bar ? (size_t)(bar - t) : end;
	enum subst_filter f = SUBST_FILTER_NONE;

	if (!subst_name_valid(t + start, name_end - start)) {
		if (errmsg) {
			buf_addf(errmsg, "%s:%u: invalid variable reference \"${", file, s->line);
			add_excerpt(errmsg, t + start, end - start);
			buf_addstr(errmsg, "}\": names are [a-z_][a-z0-9_]*, at most 64 "
			                   "characters (write $${ for a literal ${)");
		}
		return K_EINVAL;
	}
	if (bar) {
		size_t fs = name_end + 1, fn = end - fs;
		bool known = false;
		for (size_t i = SUBST_FILTER_RAW;
		     i < sizeof(filter_names) / sizeof(filter_names[0]); i++) {
			if (strlen(filter_names[i]) == fn &&
			    memcmp(t + fs, filter_names[i], fn) == 0) {
				f = (enum subst_filter)i;
				known = true;
			}
		}
		if (!known) {
			if (errmsg) {
				buf_addf(errmsg, "%s:%u: unknown filter \"", file, s->line);
				add_excerpt(errmsg, t + fs, fn);
				buf_addstr(errmsg, "\" in \"${");
				add_excerpt(errmsg, t + start, end - start);
				buf_addstr(errmsg, "}\" (filters: raw, sh, json)");
			}
			return K_EINVAL;
		}
	}
	memcpy(s->name, t + start, name_end - start);
	s->name[name_end - start] = '\0';
	s->ref = (struct subst_ref){
	        .name = s->name,
	        .filter = f,
	        .where = where_at(s, start - 2),
	        .line = s->line,
	};
	return K_OK;
}

/* Advances to the next token. K_OK or K_EINVAL (message appended). */
static enum kerr scan_next(struct scanner *s, enum tok *out, const char *file, struct buf *errmsg)
{
	const char *t = s->tpl;
	size_t n = s->len, i = s->pos;

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
		if (parse_ref(s, start, j, file, errmsg) != K_OK)
			return K_EINVAL;
		s->pos = j + 1;
		*out = TOK_REF;
		return K_OK;
	}
	/* Plain text: this byte (perhaps a lone '$') up to the next '$'. */
	size_t j = i + 1;
	while (j < n && t[j] != '$')
		j++;
	for (size_t k = i; k < j; k++) {
		if (t[k] != '\n')
			continue;
		s->line++;
		if (k == 0 || t[k - 1] != '\\')
			s->lstart = k + 1;
	}
	s->text = t + i;
	s->text_len = j - i;
	s->pos = j;
	*out = TOK_TEXT;
	return K_OK;
}

enum kerr subst_scan(const char *tpl, size_t len, const char *file, enum subst_context cx,
                     subst_ref_fn fn, void *ctx, struct buf *errmsg)
{
	struct scanner s = {.tpl = tpl, .len = len, .line = 1, .cx = cx};
	enum kerr e = K_OK;
	enum tok tok;

	for (;;) {
		e = scan_next(&s, &tok, file, errmsg);
		if (e != K_OK || tok == TOK_END)
			goto out;
		if (tok == TOK_REF) {
			e = fn(ctx, &s.ref);
			if (e != K_OK)
				goto out;
		}
	}
out:
	return e;
}

enum kerr subst_expand(const char *tpl, size_t len, const char *file, enum subst_context cx,
                       subst_lookup_fn lookup, void *ctx, struct buf *out, struct buf *errmsg)
{
	struct scanner s = {.tpl = tpl, .len = len, .line = 1, .cx = cx};
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
					         s.ref.line, s.name);
				e = K_EINVAL;
				break;
			}
			e = subst_escape(v, strlen(v), s.ref.filter, cx, s.ref.where, out);
			if (e == K_EINVAL && errmsg)
				buf_addf(errmsg,
				         "%s:%u: the value of ${%s} cannot be written in this "
				         "systemd setting (it holds a control character or ends "
				         "in a backslash)",
				         file, s.ref.line, s.name);
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
