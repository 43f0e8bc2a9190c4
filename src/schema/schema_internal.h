/* Internals shared by the schema module's files (schema.c, manifest.c, persist.c,
 * render.c). Not part of the API. */
#ifndef STET_SCHEMA_INTERNAL_H
#define STET_SCHEMA_INTERNAL_H

#include "schema/schema.h"

struct stet_schema_active {
    const char *name;
    size_t name_len;
    const struct stet_service_schema *svc;
    const struct stet_deployment_schema *dep;
};

/* strdup that aborts on allocation failure (schemas are small; see buf.h's policy) */
char *stet_schema__strdup(const char *s);
char *stet_schema__strndup(const char *s, size_t n);
void *stet_schema__calloc(size_t n, size_t size);

void stet_schema__kv_free(struct stet_schema_kv *kv, size_t n);
struct stet_schema_kv *stet_schema__kv_copy(const struct stet_schema_kv *kv, size_t n);
void stet_schema__handler_free(struct stet_handler_schema *h);
void stet_schema__service_free(struct stet_service_schema *svc);
void stet_schema__service_copy(const struct stet_service_schema *src, struct stet_service_schema *dst);
void stet_schema__retry_clear(struct stet_retry_policy *r);
/* Fresh handler/service with every override unset. */
void stet_schema__handler_init(struct stet_handler_schema *h);
void stet_schema__service_init(struct stet_service_schema *svc);

/* Takes ownership of deps[0..n) (an array allocated with malloc) and builds a snapshot with
 * refs = 1: computes the active-revision index and every handler's is_public. */
struct stet_schema *stet_schema__build(struct stet_deployment_schema *deps, size_t n, uint64_t version);

/* Splits an absolute URI "scheme://authority/path?query" (authority and path borrowed from
 * uri). Returns 0 or -EINVAL when there is no scheme or authority. path_len may be 0. */
int stet_schema__split_uri(const char *uri, const char **authority, size_t *alen, const char **path,
                           size_t *plen);

void stet_schema__set_error(struct stet_schema_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

const char *stet_schema__handler_type_manifest_name(enum stet_handler_type ty); /* EXCLUSIVE, ... */
const char *stet_schema__service_type_manifest_name(enum stet_service_type ty); /* SERVICE, ... */

#endif
