/*
 * The AWS shared configuration files: ~/.aws/config ("[default]",
 * "[profile NAME]") and ~/.aws/credentials ("[NAME]"). Pure parsing plus one
 * bounded file read; no caching (callers cache what they derive).
 *
 * Format accepted, as the AWS SDKs read it:
 * - "key = value" lines, whitespace around '=' and the ends trimmed; keys are
 *   matched case-insensitively, section names exactly; values are literal (no
 *   inline comments).
 * - Whole-line comments start with '#' or ';' (after optional whitespace); a
 *   section header may be followed by such a comment.
 * - Indented lines after a property are its continuation or, after an empty
 *   value, an s3-style nested sub-section: neither is used here, so both are
 *   skipped. An indented property right after a header is a normal property.
 * - In the config file only "[default]" and "[profile NAME]" are profiles;
 *   other sections ("[sso-session x]", "[services y]", "[NAME]") are ignored.
 *   "[profile default]" and "[default]" are the same profile.
 * - A repeated section or key merges: the later value wins.
 * - LF or CRLF line ends; a UTF-8 byte order mark is skipped.
 * Errors (malformed line, NUL byte, invalid UTF-8, line or file over its limit)
 * name the file and line, never the line's text, which may hold a secret.
 */
#ifndef KN_PROFILE_H
#define KN_PROFILE_H

#include <stddef.h>

#include "err.h"

/** Largest shared file read; a bigger one is rejected rather than truncated. */
#define KN_PROFILE_MAX_FILE_BYTES (1024 * 1024)
/** Longest line, CR/LF excluded (session tokens run to a few KiB). */
#define KN_PROFILE_MAX_LINE_BYTES (16 * 1024)
/** Longest profile name accepted from conf or AWS_PROFILE. */
#define KN_PROFILE_MAX_NAME 256
/** Room for a shared file's path. */
#define KN_PROFILE_PATH_MAX 4096

typedef enum {
    KN_PROFILE_CONFIG,     /* "[default]", "[profile NAME]" */
    KN_PROFILE_CREDENTIALS /* "[NAME]" */
} kn_profile_kind_t;

/** A parsed shared file. Its values are wiped from memory when destroyed. */
typedef struct kn_profile_file_s kn_profile_file_t;

/**
 * Parses `len` bytes of `text`. `name` (usually the path) prefixes error
 * messages. Returns KN_OK, KN_ERR_INVALID_ARG (malformed), KN_ERR_BAD_UTF8,
 * KN_ERR_TOO_LARGE or KN_ERR_NOMEM, with *err set on failure.
 */
kn_err_t kn_profile_parse(const char *text, size_t len, kn_profile_kind_t kind, const char *name,
                          kn_profile_file_t **out, kn_error_t **err);

/**
 * Reads and parses the file at `path`. A file that does not exist is not an
 * error: KN_OK with *out NULL. Otherwise as kn_profile_parse, plus KN_ERR_FILE
 * when the file cannot be read or is not a regular file.
 */
kn_err_t kn_profile_load(const char *path, kn_profile_kind_t kind, kn_profile_file_t **out,
                         kn_error_t **err);

/** Whether `profile` has a section in `f` (NULL f: no). */
int kn_profile_has(const kn_profile_file_t *f, const char *profile);

/**
 * The value of `key` in `profile`, or NULL when absent (or f is NULL). Valid
 * until `f` is destroyed. An empty value ("key =") is returned as "".
 */
const char *kn_profile_get(const kn_profile_file_t *f, const char *profile, const char *key);

/** Wipes and frees. Accepts NULL. */
void kn_profile_file_destroy(kn_profile_file_t *f);

/**
 * The profile to use: `configured` when non-empty, else AWS_PROFILE when
 * non-empty, else "default". Copied into buf. KN_ERR_INVALID_ARG (with *err)
 * when the name is longer than KN_PROFILE_MAX_NAME or buf is too small.
 */
kn_err_t kn_profile_name(const char *configured, char *buf, size_t size, kn_error_t **err);

/** One shared file, located and (when it exists) loaded. */
typedef struct kn_profile_src_s {
    char path[KN_PROFILE_PATH_MAX]; /* "~/.aws/NAME" when no home directory is known */
    const char *absent;             /* why there is no file ("no such file"), or NULL */
    kn_profile_file_t *file;        /* NULL when absent */
} kn_profile_src_t;

/**
 * Locates the shared file of `kind` (AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE,
 * a leading "~/" expanded; else ~/.aws/config or ~/.aws/credentials under $HOME)
 * and loads it. A missing file or home directory only sets src->absent.
 * Errors as kn_profile_load; src must be cleared with kn_profile_src_clear.
 */
kn_err_t kn_profile_src_load(kn_profile_src_t *src, kn_profile_kind_t kind, kn_error_t **err);

/** Frees the loaded file. Accepts NULL. */
void kn_profile_src_clear(kn_profile_src_t *src);

/** Writes "PATH" or "PATH (REASON)" into buf for messages; returns buf. */
const char *kn_profile_src_describe(const kn_profile_src_t *src, char *buf, size_t size);

#endif
