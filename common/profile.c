/* Parser for the AWS shared config and credentials files (format in profile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile.h"
#include "utf8.h"

/* A property, or (key NULL) the start of a profile section. */
typedef struct {
    const char *profile;
    const char *key;
    const char *value;
} entry_t;

struct kn_profile_file_s {
    char *buf; /* the file's bytes, NUL-terminated in place; entries point into it */
    size_t buf_size;
    entry_t *entries;
    size_t n, cap;
};

static void set_err(kn_error_t **err, kn_error_t *e) {
    if (err)
        *err = e;
    else
        kn_error_destroy(e);
}

void kn_profile_file_destroy(kn_profile_file_t *f) {
    if (!f)
        return;
    if (f->buf) {
        explicit_bzero(f->buf, f->buf_size); /* it holds secret keys */
        free(f->buf);
    }
    free(f->entries);
    free(f);
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static char *skip_blank(char *s) {
    while (is_blank(*s))
        s++;
    return s;
}

/* Trims blanks at both ends of [s, e) in place and returns the start. */
static char *trim(char *s, char *e) {
    s = skip_blank(s);
    while (e > s && is_blank(e[-1]))
        e--;
    *e = '\0';
    return s;
}

static int add_entry(kn_profile_file_t *f, const char *profile, const char *key,
                     const char *value) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        entry_t *e = realloc(f->entries, cap * sizeof(*e));
        if (!e)
            return -1;
        f->entries = e;
        f->cap = cap;
    }
    f->entries[f->n++] = (entry_t){profile, key, value};
    return 0;
}

typedef struct {
    kn_profile_file_t *f;
    kn_profile_kind_t kind;
    const char *name;
    int line;
    const char *profile; /* current profile section, NULL in an ignored one */
    int in_section;
    int have_property; /* a property was seen in the current section */
} parser_t;

static kn_err_t parse_error(parser_t *p, kn_err_t code, const char *what, kn_error_t **err) {
    set_err(err, kn_error_new(code, "%s:%d: %s", p->name, p->line, what));
    return code;
}

/* The profile a header names, or NULL for a section that is not a profile. */
static const char *header_profile(kn_profile_kind_t kind, char *name) {
    if (kind == KN_PROFILE_CREDENTIALS || !strcmp(name, "default"))
        return name;
    if (!strncmp(name, "profile", 7) && is_blank(name[7]))
        return skip_blank(name + 8);
    return NULL;
}

static kn_err_t parse_header(parser_t *p, char *s, kn_error_t **err) {
    char *close = strchr(s, ']');
    if (!close)
        return parse_error(p, KN_ERR_INVALID_ARG, "section header without ']'", err);
    char *rest = skip_blank(close + 1);
    if (*rest && *rest != '#' && *rest != ';')
        return parse_error(p, KN_ERR_INVALID_ARG, "text after a section header", err);
    char *name = trim(s + 1, close);
    const char *profile = header_profile(p->kind, name);
    if (!*name || (profile && !*profile))
        return parse_error(p, KN_ERR_INVALID_ARG, "empty section name", err);
    p->profile = profile;
    p->in_section = 1;
    p->have_property = 0;
    if (profile && add_entry(p->f, profile, NULL, NULL))
        return parse_error(p, KN_ERR_NOMEM, "out of memory", err);
    return KN_OK;
}

static kn_err_t parse_line(parser_t *p, char *line, kn_error_t **err) {
    char *s = skip_blank(line);
    if (!*s || *s == '#' || *s == ';')
        return KN_OK;
    if (s != line && p->have_property)
        return KN_OK; /* continuation or nested sub-section: nothing we read */
    if (*s == '[')
        return parse_header(p, s, err);
    if (!p->in_section)
        return parse_error(p, KN_ERR_INVALID_ARG, "property before any section header", err);
    char *eq = strchr(s, '=');
    if (!eq)
        return parse_error(p, KN_ERR_INVALID_ARG, "expected 'key = value'", err);
    char *key = trim(s, eq);
    if (!*key)
        return parse_error(p, KN_ERR_INVALID_ARG, "empty key before '='", err);
    char *value = trim(eq + 1, eq + 1 + strlen(eq + 1));
    p->have_property = 1;
    if (p->profile && add_entry(p->f, p->profile, key, value))
        return parse_error(p, KN_ERR_NOMEM, "out of memory", err);
    return KN_OK;
}

/* Parses buf[0..len) (buf has room for a NUL at len) and takes ownership of buf. */
static kn_err_t parse_owned(char *buf, size_t len, kn_profile_kind_t kind, const char *name,
                            kn_profile_file_t **out, kn_error_t **err) {
    *out = NULL;
    kn_profile_file_t *f = calloc(1, sizeof(*f));
    if (!f) {
        explicit_bzero(buf, len);
        free(buf);
        set_err(err, kn_error_new(KN_ERR_NOMEM, "%s: out of memory", name));
        return KN_ERR_NOMEM;
    }
    f->buf = buf;
    f->buf_size = len + 1;
    buf[len] = '\0';
    parser_t p = {f, kind, name, 0, NULL, 0, 0};
    kn_err_t rc = KN_OK;
    char *s = buf, *end = buf + len;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        s += 3;
    while (rc == KN_OK && s < end) {
        p.line++;
        char *nl = memchr(s, '\n', (size_t)(end - s));
        char *e = nl ? nl : end;
        if (e > s && e[-1] == '\r')
            e--;
        size_t n = (size_t)(e - s);
        if (n > KN_PROFILE_MAX_LINE_BYTES)
            rc = parse_error(&p, KN_ERR_TOO_LARGE, "line longer than the limit", err);
        else if (memchr(s, '\0', n))
            rc = parse_error(&p, KN_ERR_INVALID_ARG, "NUL byte in text", err);
        else if (!kn_utf8_valid(s, n))
            rc = parse_error(&p, KN_ERR_BAD_UTF8, "text is not valid UTF-8", err);
        if (rc != KN_OK)
            break;
        *e = '\0';
        rc = parse_line(&p, s, err);
        s = nl ? nl + 1 : end;
    }
    if (rc != KN_OK) {
        kn_profile_file_destroy(f);
        return rc;
    }
    *out = f;
    return KN_OK;
}

kn_err_t kn_profile_parse(const char *text, size_t len, kn_profile_kind_t kind, const char *name,
                          kn_profile_file_t **out, kn_error_t **err) {
    if (!out || (!text && len))
        return KN_ERR_INVALID_ARG;
    *out = NULL;
    if (!name)
        name = "(text)";
    if (len > KN_PROFILE_MAX_FILE_BYTES) {
        set_err(err, kn_error_new(KN_ERR_TOO_LARGE, "%s: larger than %d bytes", name,
                                  KN_PROFILE_MAX_FILE_BYTES));
        return KN_ERR_TOO_LARGE;
    }
    char *buf = malloc(len + 1);
    if (!buf) {
        set_err(err, kn_error_new(KN_ERR_NOMEM, "%s: out of memory", name));
        return KN_ERR_NOMEM;
    }
    if (len)
        memcpy(buf, text, len);
    return parse_owned(buf, len, kind, name, out, err);
}

static kn_err_t file_error(const char *path, const char *what, int errnum, kn_error_t **err) {
    char eb[128];
    const char *why = errnum ? strerror_r(errnum, eb, sizeof(eb)) : "";
    set_err(err, kn_error_new(KN_ERR_FILE, "%s: %s%s%s", path, what, errnum ? ": " : "", why));
    return KN_ERR_FILE;
}

/* Reads the whole file into a buffer with room for a NUL. */
static kn_err_t read_file(int fd, const char *path, char **out, size_t *out_len,
                          kn_error_t **err) {
    struct stat st;
    if (fstat(fd, &st))
        return file_error(path, "cannot stat", errno, err);
    if (!S_ISREG(st.st_mode))
        return file_error(path, "not a regular file", 0, err);
    if (st.st_size > KN_PROFILE_MAX_FILE_BYTES) {
        set_err(err, kn_error_new(KN_ERR_TOO_LARGE, "%s: larger than %d bytes", path,
                                  KN_PROFILE_MAX_FILE_BYTES));
        return KN_ERR_TOO_LARGE;
    }
    /* A file that grows meanwhile is read as it was at fstat. */
    size_t cap = (size_t)st.st_size, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        set_err(err, kn_error_new(KN_ERR_NOMEM, "%s: out of memory", path));
        return KN_ERR_NOMEM;
    }
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            explicit_bzero(buf, len);
            free(buf);
            return file_error(path, "read failed", e, err);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = buf;
    *out_len = len;
    return KN_OK;
}

kn_err_t kn_profile_load(const char *path, kn_profile_kind_t kind, kn_profile_file_t **out,
                         kn_error_t **err) {
    if (!path || !*path || !out)
        return KN_ERR_INVALID_ARG;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return KN_OK;
        return file_error(path, "cannot open", errno, err);
    }
    char *buf;
    size_t len;
    kn_err_t rc = read_file(fd, path, &buf, &len, err);
    close(fd);
    if (rc != KN_OK)
        return rc;
    return parse_owned(buf, len, kind, path, out, err);
}

int kn_profile_has(const kn_profile_file_t *f, const char *profile) {
    if (!f || !profile)
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (!f->entries[i].key && !strcmp(f->entries[i].profile, profile))
            return 1;
    return 0;
}

const char *kn_profile_get(const kn_profile_file_t *f, const char *profile, const char *key) {
    if (!f || !profile || !key)
        return NULL;
    for (size_t i = f->n; i-- > 0;) { /* the last definition wins */
        const entry_t *e = &f->entries[i];
        if (e->key && !strcasecmp(e->key, key) && !strcmp(e->profile, profile))
            return e->value;
    }
    return NULL;
}

kn_err_t kn_profile_name(const char *configured, char *buf, size_t size, kn_error_t **err) {
    const char *name = configured, *from = "conf profile";
    if (!name || !*name) {
        name = getenv("AWS_PROFILE");
        from = "AWS_PROFILE";
    }
    if (!name || !*name)
        name = "default";
    size_t n = strlen(name);
    if (n > KN_PROFILE_MAX_NAME || n >= size) {
        set_err(err, kn_error_new(KN_ERR_INVALID_ARG, "%s: profile name longer than %d bytes",
                                  from, KN_PROFILE_MAX_NAME));
        return KN_ERR_INVALID_ARG;
    }
    memcpy(buf, name, n + 1);
    return KN_OK;
}

kn_err_t kn_profile_src_load(kn_profile_src_t *src, kn_profile_kind_t kind, kn_error_t **err) {
    memset(src, 0, sizeof(*src));
    const char *var = kind == KN_PROFILE_CONFIG ? "AWS_CONFIG_FILE" : "AWS_SHARED_CREDENTIALS_FILE";
    const char *env = getenv(var), *home = getenv("HOME");
    int n;
    if (env && *env && strncmp(env, "~/", 2)) {
        n = snprintf(src->path, sizeof(src->path), "%s", env);
    } else {
        const char *rel = env && *env ? env + 1 /* keeps the '/' */
                          : kind == KN_PROFILE_CONFIG ? "/.aws/config" : "/.aws/credentials";
        int no_home = !home || !*home;
        n = snprintf(src->path, sizeof(src->path), "%s%s", no_home ? "~" : home, rel);
        if (no_home)
            src->absent = "HOME not set";
    }
    if (n < 0 || (size_t)n >= sizeof(src->path)) {
        set_err(err, kn_error_new(KN_ERR_INVALID_ARG, "%s: path longer than %d bytes",
                                  env && *env ? var : "HOME", KN_PROFILE_PATH_MAX - 1));
        return KN_ERR_INVALID_ARG;
    }
    if (src->absent)
        return KN_OK;
    kn_err_t rc = kn_profile_load(src->path, kind, &src->file, err);
    if (rc == KN_OK && !src->file)
        src->absent = "no such file";
    return rc;
}

void kn_profile_src_clear(kn_profile_src_t *src) {
    if (!src)
        return;
    kn_profile_file_destroy(src->file);
    src->file = NULL;
}

const char *kn_profile_src_describe(const kn_profile_src_t *src, char *buf, size_t size) {
    if (src->absent)
        snprintf(buf, size, "%s (%s)", src->path, src->absent);
    else
        snprintf(buf, size, "%s", src->path);
    return buf;
}
