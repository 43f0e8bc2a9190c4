/* Configuration loading: defaults, then the TOML config file, then RESTATE_* environment
 * variables, then flags (restate-server's order).
 *
 * Design
 *   Every setting Restate 1.7 knows is one row of key_table[], named by its dotted TOML key
 *   ("worker.invoker.inactivity-timeout"). A row either has a setter (the setting takes
 *   effect in stet) or a kind (the setting is accepted and type-checked, then ignored).
 *   All three sources go through the same rows:
 *     - the file is parsed with src/config/toml.c and walked key by key; a key that is not a
 *       row (nor a table leading to rows) is an error naming the key, file and line;
 *     - an environment variable name is turned into a key the way figment does it (strip
 *       RESTATE_, "__" separates tables, lowercase, '_' -> '-'); its value is parsed as a
 *       TOML value if it is one, else taken as a plain string;
 *     - flags name their row directly.
 *   Scalar setters receive text (a TOML string's contents, a number or boolean formatted
 *   back, or the raw environment/flag text) and parse it themselves, so "24" from the
 *   environment and 24 in a file behave the same. List setters (roles, addresses) need a
 *   TOML array. The environment is a caller-supplied envp array (never getenv), so tests
 *   control it completely. Derived values (data_dir, advertised_ingress,
 *   advertised_address) are computed last, so "--node-name x" also moves the data directory.
 *
 * Errors follow STYLE.md §4: one message that names the offending variable, key or flag,
 * the value, and what was expected.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "config/toml.h"

#define DAY_MS (24ull * 60 * 60 * 1000)
#define MAX_CONFIG_FILE_BYTES STET_TOML_MAX_INPUT

const char *const stet_config_role_names[5] = {"worker", "admin", "metadata-server", "log-server", "http-ingress"};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int replace_str(char **slot, const char *value) {
    char *copy = strdup(value);
    if (copy == NULL) return -ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static void free_list(char ***list, size_t *n) {
    for (size_t i = 0; i < *n; i++) free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

int stet_config_defaults(struct stet_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0') snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    char cwd[PATH_MAX];
    char base[PATH_MAX + 32];
    if (getcwd(cwd, sizeof(cwd)) != NULL) snprintf(base, sizeof(base), "%s/restate-data", cwd);
    else snprintf(base, sizeof(base), "./restate-data");

    cfg->cluster_name = strdup("localcluster");
    cfg->node_name = strdup(host);
    cfg->base_dir = strdup(base);
    cfg->ingress_bind = strdup("0.0.0.0:8080");
    cfg->admin_bind = strdup("0.0.0.0:9070");
    cfg->node_bind = strdup("0.0.0.0:5122");
    cfg->location = strdup("");
    cfg->log_filter = strdup("warn,restate=info");
    cfg->log_format = strdup("pretty");
    cfg->default_num_partitions = 24;
    cfg->ingress_request_size_limit = (size_t)32 * 1024 * 1024;
    cfg->eager_state_size_limit = (size_t)32 * 1024 * 1024;
    cfg->ingress_max_connections = 10000;
    cfg->inactivity_timeout_ms = 60 * 1000;
    cfg->abort_timeout_ms = 10 * 60 * 1000;
    cfg->retry_initial_interval_ms = 500;
    cfg->retry_exponentiation_factor = 2.0;
    cfg->retry_max_attempts = 70;
    cfg->retry_max_interval_ms = 60 * 1000;
    cfg->retry_on_max_attempts_kill = false;
    cfg->default_idempotency_retention_ms = DAY_MS;
    cfg->default_workflow_retention_ms = DAY_MS;
    cfg->default_journal_retention_ms = DAY_MS;
    cfg->roles = STET_ROLE_ALL;
    cfg->auto_provision = true;
    cfg->default_replication = 1;
    cfg->snapshots_num_retained = 1;
    cfg->shutdown_timeout_ms = 60 * 1000;
    if (!cfg->cluster_name || !cfg->node_name || !cfg->base_dir || !cfg->ingress_bind || !cfg->admin_bind ||
        !cfg->node_bind || !cfg->location || !cfg->log_filter || !cfg->log_format) {
        stet_config_free(cfg);
        return -ENOMEM;
    }
    return 0;
}

void stet_config_free(struct stet_config *cfg) {
    free(cfg->cluster_name);
    free(cfg->node_name);
    free(cfg->base_dir);
    free(cfg->data_dir);
    free(cfg->ingress_bind);
    free(cfg->admin_bind);
    free(cfg->node_bind);
    free(cfg->advertised_ingress);
    free(cfg->config_file);
    free(cfg->advertised_address);
    free(cfg->location);
    free_list(&cfg->metadata_addresses, &cfg->n_metadata_addresses);
    free(cfg->snapshots_destination);
    free(cfg->snapshots_aws_region);
    free(cfg->snapshots_aws_endpoint_url);
    free(cfg->snapshots_aws_access_key_id);
    free(cfg->snapshots_aws_secret_access_key);
    free(cfg->log_filter);
    free(cfg->log_format);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- value parsers ---- */

static bool is_hostname(const char *s, size_t n) {
    if (n == 0 || n > 253) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '.' || c == '_')) return false;
    }
    return true;
}

int stet_config_parse_bind(const char *addr, char *host, size_t hostlen, uint16_t *port) {
    size_t n = strlen(addr);
    const char *colon;
    const char *h;
    size_t hn;
    if (n > 0 && addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':') return -EINVAL;
        h = addr + 1;
        hn = (size_t)(close - h);
        char tmp[64];
        if (hn == 0 || hn >= sizeof(tmp)) return -EINVAL;
        memcpy(tmp, h, hn);
        tmp[hn] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, tmp, &a6) != 1) return -EINVAL;
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) return -EINVAL;
        h = addr;
        hn = (size_t)(colon - addr);
        if (memchr(h, ':', hn) != NULL) return -EINVAL; /* bare IPv6 needs brackets */
        if (!is_hostname(h, hn)) return -EINVAL;
        /* all-digit-and-dot hosts must be valid IPv4 addresses */
        bool numeric = true;
        for (size_t i = 0; i < hn; i++)
            if (!(isdigit((unsigned char)h[i]) || h[i] == '.')) numeric = false;
        if (numeric) {
            char tmp[32];
            if (hn >= sizeof(tmp)) return -EINVAL;
            memcpy(tmp, h, hn);
            tmp[hn] = '\0';
            struct in_addr a4;
            if (inet_pton(AF_INET, tmp, &a4) != 1) return -EINVAL;
        }
    }
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5) return -EINVAL;
    unsigned long v = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p)) return -EINVAL;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535) return -EINVAL;
    if (host != NULL && hostlen > 0) {
        size_t c = hn < hostlen - 1 ? hn : hostlen - 1;
        memcpy(host, h, c);
        host[c] = '\0';
    }
    if (port != NULL) *port = (uint16_t)v;
    return 0;
}

static int parse_u64_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    if (*s == '\0') return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) return -EINVAL;
        if (v > (UINT64_MAX - 9) / 10) return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < lo || v > hi) return -EINVAL;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out) {
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) { *out = true; return 0; }
    if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0) { *out = false; return 0; }
    return -EINVAL;
}

/* ---- setters (shared by env variables and flags) ---- */

typedef int (*setter_fn)(struct stet_config *cfg, const char *name, const char *value, char *err, size_t errlen);

static int set_nonempty(char **slot, const char *name, const char *value, const char *what, char *err,
                        size_t errlen) {
    if (value[0] == '\0') {
        set_err(err, errlen, "invalid value for %s: '' (expected %s)", name, what);
        return -EINVAL;
    }
    return replace_str(slot, value);
}

static int set_cluster_name(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_nonempty(&c->cluster_name, n, v, "a non-empty cluster name", e, el);
}
static int set_node_name(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    if (strchr(v, '/') != NULL) {
        set_err(e, el, "invalid value for %s: '%s' (expected a node name without '/')", n, v);
        return -EINVAL;
    }
    return set_nonempty(&c->node_name, n, v, "a non-empty node name", e, el);
}
static int set_base_dir(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_nonempty(&c->base_dir, n, v, "a directory path", e, el);
}
static int set_config_file(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_nonempty(&c->config_file, n, v, "a file path", e, el);
}

static int set_bind(char **slot, const char *n, const char *v, char *e, size_t el) {
    if (stet_config_parse_bind(v, NULL, 0, NULL) != 0) {
        set_err(e, el,
                "invalid value for %s: '%s' (expected host:port with an IPv4 address, [IPv6] address or "
                "host name and a port 0..65535, e.g. 0.0.0.0:8080)",
                n, v);
        return -EINVAL;
    }
    return replace_str(slot, v);
}
static int set_ingress_bind(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_bind(&c->ingress_bind, n, v, e, el);
}
static int set_admin_bind(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_bind(&c->admin_bind, n, v, e, el);
}
static int set_node_bind(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_bind(&c->node_bind, n, v, e, el);
}

static int set_advertised_ingress(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    const char *rest = NULL;
    if (strncasecmp(v, "http://", 7) == 0) rest = v + 7;
    else if (strncasecmp(v, "https://", 8) == 0) rest = v + 8;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/') {
        set_err(e, el, "invalid value for %s: '%s' (expected an absolute http:// or https:// URL)", n, v);
        return -EINVAL;
    }
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            set_err(e, el, "invalid value for %s: '%s' (the URL must not contain spaces or control characters)",
                    n, v);
            return -EINVAL;
        }
    }
    /* http::Uri renders an authority-only URL with the path "/" */
    size_t len = strlen(v);
    bool has_path = strchr(rest, '/') != NULL;
    char *copy = malloc(len + 2);
    if (copy == NULL) return -ENOMEM;
    memcpy(copy, v, len);
    if (!has_path) copy[len++] = '/';
    copy[len] = '\0';
    free(c->advertised_ingress);
    c->advertised_ingress = copy;
    return 0;
}

static int set_num_partitions(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t x;
    if (parse_u64_range(v, 1, 65535, &x) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected an integer 1..65535)", n, v);
        return -EINVAL;
    }
    c->default_num_partitions = (uint32_t)x;
    return 0;
}

static int set_duration(uint64_t *slot, bool nonzero, const char *n, const char *v, char *e, size_t el) {
    char perr[160];
    uint64_t ms;
    if (stet_duration_parse(v, strlen(v), &ms, perr, sizeof(perr)) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected a duration such as \"1m\", \"90s\" or \"PT1M\": %s)", n,
                v, perr);
        return -EINVAL;
    }
    if (nonzero && ms == 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected a non-zero duration)", n, v);
        return -EINVAL;
    }
    *slot = ms;
    return 0;
}
static int set_inactivity(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->inactivity_timeout_ms, false, n, v, e, el);
}
static int set_abort(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->abort_timeout_ms, false, n, v, e, el);
}
static int set_idem_retention(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->default_idempotency_retention_ms, false, n, v, e, el);
}
static int set_wf_retention(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->default_workflow_retention_ms, false, n, v, e, el);
}
static int set_journal_retention(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->default_journal_retention_ms, false, n, v, e, el);
}
static int set_retry_initial(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->retry_initial_interval_ms, true, n, v, e, el);
}
static int set_retry_max_interval(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->retry_max_interval_ms, true, n, v, e, el);
}
static int set_retry_factor(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    char *end = NULL;
    errno = 0;
    double f = strtod(v, &end);
    if (v[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || !(f >= 1.0) || f > 1e6) {
        set_err(e, el, "invalid value for %s: '%s' (expected a number >= 1.0, e.g. 2.0)", n, v);
        return -EINVAL;
    }
    c->retry_exponentiation_factor = f;
    return 0;
}
static int set_retry_max_attempts(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    if (strcasecmp(v, "unlimited") == 0) {
        c->retry_max_attempts = 0;
        return 0;
    }
    uint64_t x;
    if (parse_u64_range(v, 1, UINT32_MAX, &x) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected \"unlimited\" or an integer >= 1)", n, v);
        return -EINVAL;
    }
    c->retry_max_attempts = (uint32_t)x;
    return 0;
}
static int set_retry_on_max(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    if (strcasecmp(v, "pause") == 0) c->retry_on_max_attempts_kill = false;
    else if (strcasecmp(v, "kill") == 0) c->retry_on_max_attempts_kill = true;
    else {
        set_err(e, el, "invalid value for %s: '%s' (expected \"pause\" or \"kill\")", n, v);
        return -EINVAL;
    }
    return 0;
}
static int set_protocol_v7(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    if (parse_bool(v, &c->experimental_enable_protocol_v7) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected true or false)", n, v);
        return -EINVAL;
    }
    return 0;
}
/* ---- more setters (cluster, snapshots, logging) ---- */

static int set_url(char **slot, const char *n, const char *v, char *e, size_t el) {
    const char *rest = NULL;
    if (strncasecmp(v, "http://", 7) == 0) rest = v + 7;
    else if (strncasecmp(v, "https://", 8) == 0) rest = v + 8;
    bool bad = rest == NULL || rest[0] == '\0' || rest[0] == '/';
    for (const char *p = v; !bad && *p; p++) bad = (unsigned char)*p <= 0x20 || *p == 0x7f;
    if (bad) {
        set_err(e, el, "invalid value for %s: '%s' (expected an absolute http:// or https:// URL, e.g. http://restate-1:5122)",
                n, v);
        return -EINVAL;
    }
    size_t len = strlen(v);
    bool has_path = strchr(rest, '/') != NULL;
    char *copy = malloc(len + 2);
    if (copy == NULL) return -ENOMEM;
    memcpy(copy, v, len);
    if (!has_path) copy[len++] = '/';
    copy[len] = '\0';
    free(*slot);
    *slot = copy;
    return 0;
}
static int set_advertised_address(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_url(&c->advertised_address, n, v, e, el);
}
static int set_location(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    STET_UNUSED(n); STET_UNUSED(e); STET_UNUSED(el);
    return replace_str(&c->location, v);
}
static int set_bool_slot(bool *slot, const char *n, const char *v, char *e, size_t el) {
    if (parse_bool(v, slot) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected true or false)", n, v);
        return -EINVAL;
    }
    return 0;
}
static int set_auto_provision(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_bool_slot(&c->auto_provision, n, v, e, el);
}
static int set_log_ansi(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_bool_slot(&c->log_disable_ansi_codes, n, v, e, el);
}
static int set_disable_prometheus(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_bool_slot(&c->disable_prometheus, n, v, e, el);
}
static int set_aws_allow_http(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_bool_slot(&c->snapshots_aws_allow_http, n, v, e, el);
}
static int set_force_node_id(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t x;
    if (parse_u64_range(v, 1, UINT32_MAX, &x) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected a node id 1..4294967295; 0 is not a valid id)", n, v);
        return -EINVAL;
    }
    c->force_node_id = (uint32_t)x;
    return 0;
}
static int set_shutdown_timeout(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_duration(&c->shutdown_timeout_ms, true, n, v, e, el);
}
static int set_log_filter(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    char why[160];
    if (stet_log_filter_check(v, why, sizeof(why)) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (%s)", n, v, why);
        return -EINVAL;
    }
    return replace_str(&c->log_filter, v);
}
static int set_log_format(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    if (strcmp(v, "pretty") != 0 && strcmp(v, "compact") != 0 && strcmp(v, "json") != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected \"pretty\", \"compact\" or \"json\")", n, v);
        return -EINVAL;
    }
    return replace_str(&c->log_format, v);
}
static int set_snap_destination(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    const char *sep = strstr(v, "://");
    if (sep == NULL || sep == v || sep[3] == '\0') {
        set_err(e, el, "invalid value for %s: '%s' (expected an object store URL such as s3://bucket/prefix)", n, v);
        return -EINVAL;
    }
    return replace_str(&c->snapshots_destination, v);
}
static int set_snap_interval_records(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t x;
    if (parse_u64_range(v, 1, UINT64_MAX / 2, &x) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected a number of records >= 1)", n, v);
        return -EINVAL;
    }
    c->snapshot_interval_num_records = x;
    return 0;
}
static int set_snap_num_retained(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t x;
    if (parse_u64_range(v, 1, 255, &x) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected an integer 1..255)", n, v);
        return -EINVAL;
    }
    c->snapshots_num_retained = (uint32_t)x;
    return 0;
}
static int set_aws_region(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    STET_UNUSED(n); STET_UNUSED(e); STET_UNUSED(el);
    return replace_str(&c->snapshots_aws_region, v);
}
static int set_aws_endpoint(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    char *tmp = NULL;
    int rc = set_url(&tmp, n, v, e, el);
    free(tmp);
    if (rc != 0) return rc;
    return replace_str(&c->snapshots_aws_endpoint_url, v);
}
static int set_aws_key_id(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    STET_UNUSED(n); STET_UNUSED(e); STET_UNUSED(el);
    return replace_str(&c->snapshots_aws_access_key_id, v);
}
static int set_aws_secret(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    STET_UNUSED(n); STET_UNUSED(e); STET_UNUSED(el);
    return replace_str(&c->snapshots_aws_secret_access_key, v);
}

/* Byte counts as Restate writes them: 33554432, "32 MiB", "32.0 MiB", "1.5 GB", "512 KiB". */
static int parse_bytes(const char *s, uint64_t *out) {
    char *end = NULL;
    if (!isdigit((unsigned char)s[0])) return -EINVAL;
    errno = 0;
    double x = strtod(s, &end);
    if (errno != 0 || end == s || !(x >= 0)) return -EINVAL;
    while (*end == ' ') end++;
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},       {"B", 1},          {"KB", 1e3},          {"KiB", 1024.0},       {"MB", 1e6},
                 {"MiB", 1048576.0}, {"GB", 1e9}, {"GiB", 1073741824.0}, {"TB", 1e12}, {"TiB", 1099511627776.0}};
    for (size_t i = 0; i < STET_ARRAY_LEN(units); i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            double b = x * units[i].mult;
            if (b > 9.0e18) return -EINVAL;
            *out = (uint64_t)llround(b);
            return 0;
        }
    }
    return -EINVAL;
}
static int set_request_size_limit(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t b;
    if (parse_bytes(v, &b) != 0 || b == 0 || b > SIZE_MAX / 2) {
        set_err(e, el, "invalid value for %s: '%s' (expected a non-zero byte size such as \"32 MiB\" or 33554432)", n, v);
        return -EINVAL;
    }
    c->ingress_request_size_limit = (size_t)b;
    return 0;
}
static int set_rocksdb_memory(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t b;
    if (parse_bytes(v, &b) != 0 || b == 0 || b > SIZE_MAX / 2) {
        set_err(e, el, "invalid value for %s: '%s' (expected a byte size such as \"512 MiB\", above zero)", n, v);
        return -EINVAL;
    }
    c->rocksdb_total_memory_size = (size_t)b;
    return 0;
}
static int set_eager_state_limit(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t b;
    if (parse_bytes(v, &b) != 0 || b > SIZE_MAX / 2) {
        set_err(e, el, "invalid value for %s: '%s' (expected a byte size such as \"32 MiB\" or 33554432)", n, v);
        return -EINVAL;
    }
    c->eager_state_size_limit = (size_t)b;
    return 0;
}
static int set_u32_limit(const char *n, const char *v, uint32_t *out, char *e, size_t el) {
    uint64_t x;
    if (parse_u64_range(v, 1, 100000000, &x) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected an integer 1..100000000)", n, v);
        return -EINVAL;
    }
    *out = (uint32_t)x;
    return 0;
}
static int set_ingress_concurrent(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_u32_limit(n, v, &c->ingress_concurrent_limit, e, el);
}
static int set_invoker_concurrent(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_u32_limit(n, v, &c->invoker_concurrent_limit, e, el);
}
static int set_invoker_queue(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    return set_u32_limit(n, v, &c->invoker_queue_limit, e, el);
}
static int set_max_connections(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    uint64_t x;
    if (parse_u64_range(v, 1, 1000000, &x) != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected an integer 1..1000000)", n, v);
        return -EINVAL;
    }
    c->ingress_max_connections = (uint32_t)x;
    return 0;
}

/* ---- structured values (arrays, replication) ---- */

/* One value from any source: a TOML value (file, or an environment value that parsed as
 * one) and/or raw text (environment, flags). */
struct val {
    const struct stet_toml_value *toml;
    const char *raw;
};

/* Text form of a scalar, for the scalar setters. Returns NULL for arrays/tables. */
static const char *val_text(const struct val *v, char *buf, size_t buflen) {
    const struct stet_toml_value *t = v->toml;
    if (t != NULL && t->type == STET_TOML_STRING) return t->u.str.ptr;
    if (v->raw != NULL) return v->raw;
    if (t == NULL) return NULL;
    switch (t->type) {
    case STET_TOML_INTEGER: snprintf(buf, buflen, "%" PRId64, t->u.integer); return buf;
    case STET_TOML_FLOAT: snprintf(buf, buflen, "%.17g", t->u.flt); return buf;
    case STET_TOML_BOOL: return t->u.boolean ? "true" : "false";
    default: return NULL;
    }
}

/* A short rendering of any value for messages. */
static void val_show(const struct val *v, char *buf, size_t buflen) {
    if (v->raw != NULL) {
        snprintf(buf, buflen, "%s", v->raw);
        return;
    }
    struct stet_buf b = STET_BUF_INIT;
    stet_toml_write(&b, v->toml);
    snprintf(buf, buflen, "%.*s", (int)(b.len > 200 ? 200 : b.len), b.data ? (const char *)b.data : "");
    stet_buf_free(&b);
}

typedef int (*struct_setter_fn)(struct stet_config *cfg, const char *name, const struct val *v, char *err,
                                size_t errlen);

static int array_of_strings(const char *n, const struct val *v, const char *what, char *e, size_t el) {
    const struct stet_toml_value *t = v->toml;
    bool ok = t != NULL && t->type == STET_TOML_ARRAY;
    for (size_t i = 0; ok && i < t->u.arr.n; i++) ok = t->u.arr.items[i]->type == STET_TOML_STRING;
    if (!ok) {
        char shown[256];
        val_show(v, shown, sizeof(shown));
        set_err(e, el, "invalid value for %s: '%s' (expected an array of strings, %s)", n, shown, what);
        return -EINVAL;
    }
    return 0;
}

static int set_roles(struct stet_config *c, const char *n, const struct val *v, char *e, size_t el) {
    const char *what = "e.g. [\"worker\", \"admin\", \"metadata-server\", \"log-server\", \"http-ingress\"]";
    int rc = array_of_strings(n, v, what, e, el);
    if (rc != 0) return rc;
    uint32_t roles = 0;
    for (size_t i = 0; i < v->toml->u.arr.n; i++) {
        const char *r = v->toml->u.arr.items[i]->u.str.ptr;
        size_t k = 0;
        while (k < STET_ARRAY_LEN(stet_config_role_names) && strcmp(r, stet_config_role_names[k]) != 0) k++;
        if (k == STET_ARRAY_LEN(stet_config_role_names)) {
            set_err(e, el, "invalid value for %s: unknown role '%s' (expected worker, admin, metadata-server, "
                           "log-server or http-ingress)", n, r);
            return -EINVAL;
        }
        roles |= 1u << k;
    }
    c->roles = roles;
    return 0;
}

static int set_metadata_addresses(struct stet_config *c, const char *n, const struct val *v, char *e, size_t el) {
    int rc = array_of_strings(n, v, "e.g. [\"http://restate-1:5122\", \"http://restate-2:5122\"]", e, el);
    if (rc != 0) return rc;
    size_t count = v->toml->u.arr.n;
    char **list = calloc(count ? count : 1, sizeof(*list));
    if (list == NULL) return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        char name[300];
        snprintf(name, sizeof(name), "%s[%zu]", n, i);
        rc = set_url(&list[i], name, v->toml->u.arr.items[i]->u.str.ptr, e, el);
        if (rc != 0) {
            free_list(&list, &i);
            return rc;
        }
    }
    free_list(&c->metadata_addresses, &c->n_metadata_addresses);
    c->metadata_addresses = list;
    c->n_metadata_addresses = count;
    return 0;
}

/* default-replication: 2, "2", {node = 2} or "{zone: 2, node: 3}" (node copies are used). */
static int set_replication(struct stet_config *c, const char *n, const struct val *v, char *e, size_t el) {
    char shown[256];
    val_show(v, shown, sizeof(shown));
    const struct stet_toml_value *t = v->toml;
    uint64_t node = 0;
    struct stet_toml_value *parsed = NULL;
    const char *display = t != NULL && t->type == STET_TOML_STRING ? t->u.str.ptr : t == NULL ? v->raw : NULL;
    if (display != NULL && display[0] == '{') {
        /* Restate's display form "{zone: 2, node: 3}": read it as an inline table */
        struct stet_buf b = STET_BUF_INIT;
        for (const char *p = display; *p; p++) stet_buf_append_byte(&b, *p == ':' ? '=' : (uint8_t)*p);
        if (stet_toml_parse_value((const char *)b.data, b.len, &parsed, NULL, 0) == 0) t = parsed;
        stet_buf_free(&b);
    }
    int rc = 0;
    if (t != NULL && t->type == STET_TOML_TABLE) {
        for (size_t i = 0; i < t->u.tab.n && rc == 0; i++) {
            const struct stet_toml_entry *en = &t->u.tab.items[i];
            bool scope = strcmp(en->key, "node") == 0 || strcmp(en->key, "zone") == 0 || strcmp(en->key, "region") == 0;
            if (!scope || en->value->type != STET_TOML_INTEGER || en->value->u.integer < 1 || en->value->u.integer > 128)
                rc = -EINVAL;
            else if (strcmp(en->key, "node") == 0)
                node = (uint64_t)en->value->u.integer;
        }
        if (rc == 0 && node == 0) rc = -EINVAL;
    } else {
        char buf[64];
        const char *text = val_text(v, buf, sizeof(buf));
        if (text == NULL || parse_u64_range(text, 1, 128, &node) != 0) rc = -EINVAL;
    }
    stet_toml_free(parsed);
    if (rc != 0) {
        set_err(e, el, "invalid value for %s: '%s' (expected a number of copies 1..128 or {node = N[, zone = N, "
                       "region = N]})", n, shown);
        return -EINVAL;
    }
    c->default_replication = (uint32_t)node;
    return 0;
}

/* ---- the key table ---- */

enum kind {
    K_SET,    /* scalar with a setter */
    K_SETV,   /* structured value with a setter */
    K_STR,    /* accepted and ignored: string */
    K_BOOL,   /* ... boolean */
    K_INT,    /* ... integer */
    K_NUM,    /* ... integer or float */
    K_SIZE,   /* ... byte count: integer or "32 MiB" */
    K_ARRAY,  /* ... array */
    K_ANY,    /* ... any value, including a table (sections stet does not use) */
};

struct key {
    const char *key; /* dotted TOML key */
    enum kind kind;
    setter_fn set;
    struct_setter_fn setv;
};

#define SET(k, f) {k, K_SET, f, NULL}
#define SETV(k, f) {k, K_SETV, NULL, f}
#define IGN(k, kind) {k, kind, NULL, NULL}

static const struct key key_table[] = {
    /* top level: node identity, cluster, listeners */
    SET("cluster-name", set_cluster_name),
    SET("node-name", set_node_name),
    SET("base-dir", set_base_dir),
    SET("bind-address", set_node_bind),
    SET("advertised-address", set_advertised_address),
    SET("location", set_location),
    SET("force-node-id", set_force_node_id),
    SET("auto-provision", set_auto_provision),
    SETV("roles", set_roles),
    SET("default-num-partitions", set_num_partitions),
    SET("bootstrap-num-partitions", set_num_partitions),
    SETV("default-replication", set_replication),
    SET("shutdown-timeout", set_shutdown_timeout),
    SET("log-filter", set_log_filter),
    SET("log-format", set_log_format),
    SET("log-disable-ansi-codes", set_log_ansi),
    SET("disable-prometheus", set_disable_prometheus),
    SET("experimental-enable-protocol-v7", set_protocol_v7),
    IGN("bind-ip", K_STR), IGN("bind-port", K_INT), IGN("listen-mode", K_STR), IGN("advertised-host", K_STR),
    IGN("use-random-ports", K_BOOL), IGN("tls", K_ANY),
    IGN("tracing-endpoint", K_STR), IGN("tracing-runtime-endpoint", K_STR), IGN("tracing-services-endpoint", K_STR),
    IGN("tracing-json-path", K_STR), IGN("tracing-filter", K_STR), IGN("tracing-headers", K_ANY),
    IGN("tokio-console-bind-address", K_STR), IGN("default-thread-stack-size", K_SIZE),
    IGN("storage-high-priority-bg-threads", K_INT), IGN("storage-low-priority-bg-threads", K_INT),
    IGN("process-total-memory-size", K_SIZE), SET("rocksdb-total-memory-size", set_rocksdb_memory),
    IGN("rocksdb-total-memtables-ratio", K_NUM), IGN("rocksdb-max-write-rate-per-second", K_SIZE),
    IGN("rocksdb-perf-level", K_STR), IGN("rocksdb-high-priority-bg-threads", K_INT),
    IGN("rocksdb-bg-threads", K_INT), IGN("rocksdb-disable-direct-io-for-reads", K_BOOL),
    IGN("rocksdb-disable-direct-io-for-flush-and-compactions", K_BOOL), IGN("rocksdb-disable-statistics", K_BOOL),
    IGN("rocksdb-compaction-readahead-size", K_SIZE), IGN("rocksdb-disable-auto-compactions", K_BOOL),
    IGN("rocksdb-statistics-level", K_STR), IGN("rocksdb-log-level", K_STR), IGN("rocksdb-log-keep-file-num", K_INT),
    IGN("rocksdb-log-max-file-size", K_SIZE), IGN("rocksdb-block-size", K_SIZE),
    IGN("rocksdb-disable-wal-compression", K_BOOL), IGN("rocksdb-disable-l0-l1-compression", K_BOOL),
    IGN("metadata-update-interval", K_STR), IGN("metadata-fetch-from-peer-timeout", K_STR),
    IGN("initialization-timeout", K_STR), IGN("disable-telemetry", K_BOOL), IGN("disable-config-sql-table", K_BOOL),
    IGN("disable-controlled-idempotent-sharding", K_BOOL), IGN("network-error-retry-policy", K_ANY),
    IGN("gossip-tick-interval", K_STR), IGN("gossip-failure-threshold", K_INT), IGN("gossip-num-peers", K_INT),
    IGN("gossip-fd-stability-threshold", K_INT), IGN("gossip-suspect-interval", K_STR),
    IGN("gossip-loneliness-threshold", K_INT), IGN("gossip-extras-exchange-frequency", K_INT),
    IGN("gossip-time-skew-threshold", K_STR), IGN("hlc-max-drift", K_STR), IGN("cluster-marker", K_ANY),
    /* invocation options (flattened at the top level in 1.7) */
    SET("default-journal-retention", set_journal_retention),
    SET("default-idempotency-retention", set_idem_retention),
    SET("default-workflow-completion-retention", set_wf_retention),
    SET("default-retry-policy.initial-interval", set_retry_initial),
    SET("default-retry-policy.exponentiation-factor", set_retry_factor),
    SET("default-retry-policy.max-attempts", set_retry_max_attempts),
    SET("default-retry-policy.max-interval", set_retry_max_interval),
    SET("default-retry-policy.on-max-attempts", set_retry_on_max),
    IGN("max-journal-retention", K_STR), IGN("max-idempotency-retention", K_STR),
    IGN("max-workflow-completion-retention", K_STR), IGN("max-retry-policy-max-attempts", K_INT),
    /* [metadata-client] */
    SETV("metadata-client.addresses", set_metadata_addresses),
    IGN("metadata-client.type", K_STR), IGN("metadata-client.connect-timeout", K_STR),
    IGN("metadata-client.keep-alive-interval", K_STR), IGN("metadata-client.keep-alive-timeout", K_STR),
    IGN("metadata-client.message-size-limit", K_SIZE), IGN("metadata-client.backoff-policy", K_ANY),
    IGN("metadata-client.path", K_STR), IGN("metadata-client.endpoints", K_ARRAY),
    IGN("metadata-client.aws-profile", K_STR), IGN("metadata-client.aws-region", K_STR),
    IGN("metadata-client.aws-access-key-id", K_STR), IGN("metadata-client.aws-secret-access-key", K_STR),
    IGN("metadata-client.aws-session-token", K_STR), IGN("metadata-client.aws-endpoint-url", K_STR),
    IGN("metadata-client.aws-allow-http", K_BOOL), IGN("metadata-client.object-store-retry-policy", K_ANY),
    /* [admin] */
    SET("admin.bind-address", set_admin_bind),
    IGN("admin.advertised-admin-endpoint", K_STR), IGN("admin.advertised-address", K_STR),
    IGN("admin.bind-ip", K_STR), IGN("admin.bind-port", K_INT), IGN("admin.listen-mode", K_STR),
    IGN("admin.advertised-host", K_STR), IGN("admin.use-random-ports", K_BOOL),
    IGN("admin.deployment-routing-headers", K_ARRAY), IGN("admin.concurrent-api-requests-limit", K_INT),
    IGN("admin.query-engine", K_ANY), IGN("admin.heartbeat-interval", K_STR), IGN("admin.disable-web-ui", K_BOOL),
    IGN("admin.disable-cluster-controller", K_BOOL), IGN("admin.storage-accounting-update-interval", K_STR),
    IGN("admin.log-trim-check-interval", K_STR),
    /* [ingress] */
    SET("ingress.bind-address", set_ingress_bind),
    SET("ingress.advertised-ingress-endpoint", set_advertised_ingress),
    SET("ingress.request-size-limit", set_request_size_limit),
    SET("ingress.max-connections", set_max_connections), /* stet: connection limit of the ingress port */
    IGN("ingress.advertised-address", K_STR), IGN("ingress.bind-ip", K_STR), IGN("ingress.bind-port", K_INT),
    IGN("ingress.listen-mode", K_STR), IGN("ingress.advertised-host", K_STR), IGN("ingress.use-random-ports", K_BOOL),
    SET("ingress.concurrent-api-requests-limit", set_ingress_concurrent), IGN("ingress.kafka-clusters", K_ARRAY),
    IGN("ingress.ingestion", K_ANY),
    /* [worker] */
    SET("worker.invoker.inactivity-timeout", set_inactivity),
    SET("worker.invoker.abort-timeout", set_abort),
    IGN("worker.internal-queue-length", K_INT), IGN("worker.num-timers-in-memory-limit", K_INT),
    IGN("worker.cleanup-interval", K_STR), IGN("worker.storage", K_ANY), IGN("worker.disable-scheduler", K_BOOL),
    IGN("worker.max-command-batch-size", K_INT), IGN("worker.max-command-batch-bytes", K_SIZE),
    IGN("worker.durability-mode", K_STR), IGN("worker.trim-delay-interval", K_STR), IGN("worker.shuffle", K_ANY),
    IGN("worker.data-service-memory-limit", K_SIZE), IGN("worker.rule-book-poll-interval", K_STR),
    IGN("worker.use-multi-db-layout", K_BOOL), IGN("worker.self-proposal-queue-memory-limit", K_SIZE),
    IGN("worker.experimental-partition-driven-log-trimming", K_BOOL),
    IGN("worker.invoker.message-size-warning", K_SIZE), IGN("worker.invoker.message-size-limit", K_SIZE),
    IGN("worker.invoker.tmp-dir", K_STR), SET("worker.invoker.in-memory-queue-length-limit", set_invoker_queue),
    SET("worker.invoker.concurrent-invocations-limit", set_invoker_concurrent), SET("worker.invoker.eager-state-size-limit", set_eager_state_limit),
    IGN("worker.invoker.disable-eager-state", K_BOOL), IGN("worker.invoker.invocation-throttling", K_ANY),
    IGN("worker.invoker.action-throttling", K_ANY), IGN("worker.invoker.memory-limit", K_SIZE),
    IGN("worker.invoker.per-invocation-memory-limit", K_SIZE), IGN("worker.invoker.per-invocation-initial-memory", K_SIZE),
    IGN("worker.invoker.max-awaited-future-depth", K_INT), IGN("worker.invoker.request-identity-private-key-pem-file", K_STR),
    IGN("worker.invoker.request-identity-expiration", K_STR), IGN("worker.invoker.additional-request-headers", K_ANY),
    IGN("worker.invoker.http2-keep-alive-interval", K_STR), IGN("worker.invoker.http2-keep-alive-timeout", K_STR),
    IGN("worker.invoker.http2-keep-alive-jitter", K_NUM), IGN("worker.invoker.connect-timeout", K_STR),
    IGN("worker.invoker.http2-streams-per-connection-limit", K_INT),
    IGN("worker.invoker.http2-idle-connection-timeout", K_STR), IGN("worker.invoker.http2-initial-stream-window-size", K_SIZE),
    IGN("worker.invoker.http2-initial-connection-window-size", K_SIZE), IGN("worker.invoker.http2-max-frame-size", K_SIZE),
    IGN("worker.invoker.http-proxy", K_STR), IGN("worker.invoker.no-proxy", K_ANY),
    IGN("worker.invoker.aws-profile", K_STR), IGN("worker.invoker.aws-assume-role-external-id", K_STR),
    IGN("worker.invoker.request-compression-threshold", K_SIZE),
    /* [worker.snapshots] */
    SET("worker.snapshots.destination", set_snap_destination),
    SET("worker.snapshots.snapshot-interval-num-records", set_snap_interval_records),
    SET("worker.snapshots.num-retained", set_snap_num_retained),
    SET("worker.snapshots.aws-region", set_aws_region),
    SET("worker.snapshots.aws-endpoint-url", set_aws_endpoint),
    SET("worker.snapshots.aws-allow-http", set_aws_allow_http),
    SET("worker.snapshots.aws-access-key-id", set_aws_key_id),
    SET("worker.snapshots.aws-secret-access-key", set_aws_secret),
    IGN("worker.snapshots.snapshot-interval", K_STR), IGN("worker.snapshots.aws-profile", K_STR),
    IGN("worker.snapshots.aws-session-token", K_STR), IGN("worker.snapshots.object-store-retry-policy", K_ANY),
    IGN("worker.snapshots.export-concurrency-limit", K_INT), IGN("worker.snapshots.enable-cleanup", K_BOOL),
    IGN("worker.snapshots.experimental-num-retained", K_INT),
    /* sections stet does not use: accepted as a whole */
    IGN("bifrost", K_ANY), IGN("metadata-server", K_ANY), IGN("networking", K_ANY), IGN("log-server", K_ANY),
    IGN("common", K_ANY),
    /* stet reads these from flags or the environment only */
    SET("config", set_config_file),
};

/* The 1.6 spelling: invocation.<key> for the top-level invocation keys. */
static const char *strip_invocation_alias(const char *key) {
    if (strncmp(key, "invocation.", 11) != 0) return key;
    const char *rest = key + 11;
    if (strncmp(rest, "default-", 8) == 0 || strncmp(rest, "max-", 4) == 0) return rest;
    return key;
}

static const struct key *find_key(const char *key) {
    key = strip_invocation_alias(key);
    for (size_t i = 0; i < STET_ARRAY_LEN(key_table); i++)
        if (strcmp(key_table[i].key, key) == 0) return &key_table[i];
    return NULL;
}

/* true if some row lives below `prefix` (so a table named prefix may be walked into). */
static bool is_key_prefix(const char *prefix) {
    prefix = strip_invocation_alias(prefix);
    if (strcmp(prefix, "invocation") == 0) return true;
    size_t n = strlen(prefix);
    for (size_t i = 0; i < STET_ARRAY_LEN(key_table); i++)
        if (strncmp(key_table[i].key, prefix, n) == 0 && key_table[i].key[n] == '.') return true;
    return false;
}

static int kind_check(const struct key *k, const char *name, const struct val *v, char *e, size_t el) {
    const struct stet_toml_value *t = v->toml;
    char buf[64];
    const char *text = val_text(v, buf, sizeof(buf));
    bool ok = true;
    const char *what = "";
    switch (k->kind) {
    case K_STR:
        ok = text != NULL && !(t != NULL && t->type == STET_TOML_BOOL && v->raw == NULL);
        what = "a string";
        break;
    case K_BOOL: {
        bool b;
        ok = text != NULL && parse_bool(text, &b) == 0;
        what = "true or false";
        break;
    }
    case K_INT: {
        uint64_t x;
        ok = text != NULL && parse_u64_range(text, 0, UINT64_MAX, &x) == 0;
        what = "a non-negative integer";
        break;
    }
    case K_NUM: {
        char *end = NULL;
        ok = text != NULL && text[0] != '\0' && (strtod(text, &end), end != NULL && *end == '\0');
        what = "a number";
        break;
    }
    case K_SIZE: {
        uint64_t x;
        ok = text != NULL && parse_bytes(text, &x) == 0;
        what = "a byte size such as \"32 MiB\" or 33554432";
        break;
    }
    case K_ARRAY:
        ok = t != NULL && t->type == STET_TOML_ARRAY;
        what = "an array";
        break;
    case K_ANY: break;
    case K_SET:
    case K_SETV: STET_UNREACHABLE();
    }
    if (!ok) {
        char shown[256];
        val_show(v, shown, sizeof(shown));
        set_err(e, el, "invalid value for %s: '%s' (expected %s)", name, shown, what);
        return -EINVAL;
    }
    return 0;
}

static int apply_key(struct stet_config *cfg, const struct key *k, const char *name, const struct val *v, char *err,
                     size_t errlen) {
    if (k->kind == K_SETV) return k->setv(cfg, name, v, err, errlen);
    if (k->kind != K_SET) return kind_check(k, name, v, err, errlen);
    char buf[64];
    const char *text = val_text(v, buf, sizeof(buf));
    if (text == NULL) {
        set_err(err, errlen, "invalid value for %s: expected a single value, found %s %s", name,
                v->toml->type == STET_TOML_ARRAY ? "an" : "a", stet_toml_type_name(v->toml->type));
        return -EINVAL;
    }
    return k->set(cfg, name, text, err, errlen);
}

/* ---- the config file ---- */

static int apply_table(struct stet_config *cfg, const char *file, const struct stet_toml_value *t,
                       struct stet_buf *path, char *err, size_t errlen) {
    for (size_t i = 0; i < t->u.tab.n; i++) {
        const struct stet_toml_entry *en = &t->u.tab.items[i];
        size_t save = path->len;
        if (path->len) stet_buf_append_byte(path, '.');
        stet_buf_append(path, en->key, en->key_len);
        stet_buf_append_byte(path, 0);
        path->len--;
        const char *key = (const char *)path->data;
        int rc = 0;
        const struct key *k = strlen(key) == path->len ? find_key(key) : NULL;
        if (k != NULL) {
            struct val v = {en->value, NULL};
            rc = apply_key(cfg, k, key, &v, err, errlen);
            if (rc == -EINVAL && err != NULL) {
                size_t used = strlen(err);
                if (used < errlen)
                    snprintf(err + used, errlen - used, " in %s line %" PRIu32, file, en->value->line);
            }
        } else if (en->value->type == STET_TOML_TABLE && is_key_prefix(key)) {
            rc = apply_table(cfg, file, en->value, path, err, errlen);
        } else {
            set_err(err, errlen,
                    "unknown key '%s' in %s line %" PRIu32 " (not a restate-server 1.7 setting; check the spelling "
                    "and the [section] it is in)",
                    key, file, en->value->line);
            rc = -EINVAL;
        }
        path->len = save;
        if (rc != 0) return rc;
    }
    return 0;
}

static int load_file(struct stet_config *cfg, const char *file, char *err, size_t errlen) {
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        int e = errno;
        set_err(err, errlen, "cannot read the config file %s: %s", file, strerror(e));
        return -EINVAL;
    }
    struct stet_buf b = STET_BUF_INIT;
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        stet_buf_append(&b, chunk, n);
        if (b.len > MAX_CONFIG_FILE_BYTES) break;
    }
    if (ferror(f)) {
        set_err(err, errlen, "cannot read the config file %s: read error", file);
        rc = -EINVAL;
    }
    fclose(f);
    struct stet_toml_value *root = NULL;
    if (rc == 0) {
        char perr[300];
        rc = stet_toml_parse(b.data ? (const char *)b.data : "", b.len, &root, perr, sizeof(perr));
        if (rc == -ENOMEM) {
            set_err(err, errlen, "out of memory while reading the config file %s", file);
        } else if (rc != 0) {
            set_err(err, errlen, "invalid config file %s: %s", file, perr);
            rc = -EINVAL;
        }
    }
    if (rc == 0) {
        struct stet_buf path = STET_BUF_INIT;
        rc = apply_table(cfg, file, root, &path, err, errlen);
        stet_buf_free(&path);
    }
    stet_toml_free(root);
    stet_buf_free(&b);
    return rc;
}

/* ---- environment ---- */

/* RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT -> worker.invoker.inactivity-timeout */
static void env_to_key(const char *name, size_t n, char *out, size_t outlen) {
    size_t o = 0;
    for (size_t i = 8; i < n && o + 1 < outlen; i++) {
        if (name[i] == '_' && i + 1 < n && name[i + 1] == '_') {
            out[o++] = '.';
            i++;
        } else if (name[i] == '_') {
            out[o++] = '-';
        } else {
            out[o++] = (char)tolower((unsigned char)name[i]);
        }
    }
    out[o] = '\0';
}

/* Variables that are read elsewhere or are flags of other programs: no warning. */
static bool env_known_elsewhere(const char *key) {
    static const char *const names[] = {"admin-url", "ingress-url", "auth-token", "environment", "cli-config-home",
                                        "host", "host-scheme", "editor", "config-home", "running"};
    for (size_t i = 0; i < STET_ARRAY_LEN(names); i++)
        if (strcmp(key, names[i]) == 0) return true;
    return false;
}

static int apply_env(struct stet_config *cfg, char **envp, char *err, size_t errlen) {
    if (envp == NULL) return 0;
    for (char **e = envp; *e != NULL; e++) {
        const char *entry = *e;
        if (strncmp(entry, "RESTATE_", 8) != 0) continue;
        const char *eq = strchr(entry, '=');
        if (eq == NULL) continue;
        size_t nlen = (size_t)(eq - entry);
        char key[256];
        env_to_key(entry, nlen, key, sizeof(key));
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)nlen, entry);
        const struct key *k = find_key(key);
        if (k == NULL || strcmp(key, "config") == 0) {
            if (k == NULL && !env_known_elsewhere(key))
                stet_warn("config", "ignoring unknown environment variable %s (no setting %s)", name, key);
            continue;
        }
        const char *value = eq + 1;
        struct stet_toml_value *parsed = NULL;
        if (stet_toml_parse_value(value, strlen(value), &parsed, NULL, 0) != 0) parsed = NULL;
        struct val v = {parsed, value};
        /* a quoted string ("x") stands for its contents */
        if (parsed != NULL && parsed->type == STET_TOML_STRING) v.raw = NULL;
        /* structured values need the parsed form; scalars take the text */
        if (parsed != NULL && (parsed->type == STET_TOML_ARRAY || parsed->type == STET_TOML_TABLE)) v.raw = NULL;
        int rc = apply_key(cfg, k, name, &v, err, errlen);
        stet_toml_free(parsed);
        if (rc != 0) return rc;
    }
    return 0;
}

static const char *env_lookup(char **envp, const char *name) {
    size_t n = strlen(name);
    for (char **e = envp; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/* ---- flags ---- */

struct flag {
    const char *name; /* without the leading "--" */
    setter_fn set;    /* NULL: boolean flag handled in stet_config_load */
};

static const struct flag flag_table[] = {
    {"base-dir", set_base_dir},
    {"node-name", set_node_name},
    {"cluster-name", set_cluster_name},
    {"config-file", set_config_file},
    {"bind-address", set_node_bind},
    {"advertised-address", set_advertised_address},
    {"default-num-partitions", set_num_partitions},
    {"bootstrap-num-partitions", set_num_partitions},
    {"log-filter", set_log_filter},
    {"dump-config", NULL},
    {"help", NULL},
    {"version", NULL},
    {"no-logo", NULL},
};

static const char help_text[] =
    "restate-server " STET_CONFIG_SERVER_VERSION " (stet): durable execution server\n"
    "\n"
    "Usage: restate-server [OPTIONS]\n"
    "\n"
    "Options:\n"
    "      --config-file <FILE>            Set a configuration file to use for Restate [env: RESTATE_CONFIG=]\n"
    "      --dump-config                   Dumps the loaded configuration (or default if no config-file is set) to stdout and exits\n"
    "      --node-name <NODE_NAME>         Unique name for this node in the cluster [env: RESTATE_NODE_NAME=]\n"
    "      --cluster-name <CLUSTER_NAME>   A unique identifier for the cluster [env: RESTATE_CLUSTER_NAME=]\n"
    "      --base-dir <BASE_DIR>           The working directory for relative paths (default: ./restate-data) [env: RESTATE_BASE_DIR=]\n"
    "      --bind-address <BIND_ADDRESS>   Address to bind for node-to-node communication [env: RESTATE_BIND_ADDRESS=]\n"
    "      --advertised-address <URL>      Address other nodes use to reach this node [env: RESTATE_ADVERTISED_ADDRESS=]\n"
    "      --default-num-partitions <N>    Number of partitions provisioned initially (1..65535) [env: RESTATE_DEFAULT_NUM_PARTITIONS=]\n"
    "      --log-filter <FILTER>           Log filter, e.g. \"warn,restate=info\" or debug [env: RESTATE_LOG_FILTER=]\n"
    "      --no-logo                       Do not print the logo at startup\n"
    "  -h, --help                          Print help\n"
    "  -V, --version                       Print version\n"
    "\n"
    "Every other setting comes from the config file or from RESTATE_* environment variables with\n"
    "Restate's mapping: RESTATE_ADMIN__BIND_ADDRESS is [admin] bind-address,\n"
    "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT is [worker.invoker] inactivity-timeout.\n";

static int derive(struct stet_config *cfg, char *err, size_t errlen) {
    size_t n = strlen(cfg->base_dir) + strlen(cfg->node_name) + 2;
    char *dd = malloc(n);
    if (dd == NULL) return -ENOMEM;
    size_t bl = strlen(cfg->base_dir);
    bool slash = bl > 0 && cfg->base_dir[bl - 1] == '/';
    snprintf(dd, n, "%s%s%s", cfg->base_dir, slash ? "" : "/", cfg->node_name);
    free(cfg->data_dir);
    cfg->data_dir = dd;

    if (cfg->advertised_ingress == NULL) {
        char host[256];
        uint16_t port;
        if (stet_config_parse_bind(cfg->ingress_bind, host, sizeof(host), &port) != 0) {
            set_err(err, errlen, "invalid ingress bind address '%s'", cfg->ingress_bind);
            return -EINVAL;
        }
        bool unspecified = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || host[0] == '\0';
        bool v6 = strchr(host, ':') != NULL;
        char url[320];
        if (unspecified) snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
        else if (v6) snprintf(url, sizeof(url), "http://[%s]:%u/", host, port);
        else snprintf(url, sizeof(url), "http://%s:%u/", host, port);
        cfg->advertised_ingress = strdup(url);
        if (cfg->advertised_ingress == NULL) return -ENOMEM;
    }
    if (cfg->advertised_address == NULL) {
        uint16_t port;
        if (stet_config_parse_bind(cfg->node_bind, NULL, 0, &port) != 0) {
            set_err(err, errlen, "invalid bind address '%s'", cfg->node_bind);
            return -EINVAL;
        }
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
        cfg->advertised_address = strdup(url);
        if (cfg->advertised_address == NULL) return -ENOMEM;
    }
    return 0;
}

int stet_config_load(struct stet_config *cfg, int argc, char **argv, char **envp, char *err, size_t errlen) {
    if (err != NULL && errlen > 0) err[0] = '\0';
    int rc = stet_config_defaults(cfg);
    if (rc != 0) {
        set_err(err, errlen, "out of memory while loading the configuration");
        return rc;
    }
    /* pass 1: parse the flags into a list so the config file (lowest of the overrides) can
     * be applied before the environment and the flags */
    bool want_help = false, want_version = false;
    const struct flag *flags[64];
    const char *values[64];
    size_t n_flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0) { want_help = true; continue; }
        if (strcmp(arg, "-V") == 0) { want_version = true; continue; }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            set_err(err, errlen, "unexpected argument '%s' (run with --help to see the accepted flags)", arg);
            rc = -EINVAL;
            goto fail;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag *f = NULL;
        for (size_t k = 0; k < STET_ARRAY_LEN(flag_table); k++) {
            if (strlen(flag_table[k].name) == nlen && memcmp(flag_table[k].name, name, nlen) == 0) {
                f = &flag_table[k];
                break;
            }
        }
        if (f == NULL) {
            set_err(err, errlen, "unknown flag '--%.*s' (run with --help to see the accepted flags)", (int)nlen, name);
            rc = -EINVAL;
            goto fail;
        }
        if (f->set == NULL) {
            if (eq != NULL) {
                set_err(err, errlen, "flag --%s takes no value", f->name);
                rc = -EINVAL;
                goto fail;
            }
            if (strcmp(f->name, "dump-config") == 0) cfg->dump_config = true;
            else if (strcmp(f->name, "help") == 0) want_help = true;
            else if (strcmp(f->name, "version") == 0) want_version = true;
            continue;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) {
                set_err(err, errlen, "flag --%s needs a value", f->name);
                rc = -EINVAL;
                goto fail;
            }
            value = argv[++i];
        }
        if (n_flags == STET_ARRAY_LEN(flags)) {
            set_err(err, errlen, "too many flags (at most %zu)", STET_ARRAY_LEN(flags));
            rc = -EINVAL;
            goto fail;
        }
        flags[n_flags] = f;
        values[n_flags++] = value;
    }
    if (want_help) {
        fputs(help_text, stdout);
        stet_config_free(cfg);
        return 1;
    }
    if (want_version) {
        printf("restate-server %s (stet)\n", STET_CONFIG_SERVER_VERSION);
        stet_config_free(cfg);
        return 1;
    }

    /* the config file: --config-file wins over RESTATE_CONFIG */
    const char *env_file = env_lookup(envp, "RESTATE_CONFIG");
    if (env_file != NULL) {
        rc = set_config_file(cfg, "RESTATE_CONFIG", env_file, err, errlen);
        if (rc != 0) goto fail;
    }
    for (size_t i = 0; i < n_flags; i++) {
        if (flags[i]->set != set_config_file) continue;
        rc = set_config_file(cfg, "--config-file", values[i], err, errlen);
        if (rc != 0) goto fail;
    }
    if (cfg->config_file != NULL) {
        char *file = strdup(cfg->config_file);
        if (file == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = load_file(cfg, file, err, errlen);
        /* a `config` key in the file does not move the file */
        free(cfg->config_file);
        cfg->config_file = file;
        if (rc != 0) goto fail;
    }
    rc = apply_env(cfg, envp, err, errlen);
    if (rc != 0) goto fail;
    for (size_t i = 0; i < n_flags; i++) {
        if (flags[i]->set == set_config_file) continue;
        char flagname[64];
        snprintf(flagname, sizeof(flagname), "--%s", flags[i]->name);
        rc = flags[i]->set(cfg, flagname, values[i], err, errlen);
        if (rc != 0) goto fail;
    }
    rc = derive(cfg, err, errlen);
    if (rc != 0) goto fail;
    return 0;

fail:
    if (rc == -ENOMEM && err != NULL && errlen > 0 && err[0] == '\0')
        set_err(err, errlen, "out of memory while loading the configuration");
    stet_config_free(cfg);
    return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}

/* ---- --dump-config ---- */

static void print_string(FILE *f, const char *key, const char *v) {
    struct stet_buf b = STET_BUF_INIT;
    stet_toml_write_string(&b, v ? v : "", v ? strlen(v) : 0);
    fprintf(f, "%s = %.*s\n", key, (int)b.len, (const char *)b.data);
    stet_buf_free(&b);
}

static void print_duration(FILE *f, const char *key, uint64_t ms) {
    char buf[64];
    stet_duration_format_friendly(ms, buf, sizeof(buf));
    fprintf(f, "%s = \"%s\"\n", key, buf);
}

void stet_config_print(const struct stet_config *cfg, FILE *f) {
    fputs("roles = [", f);
    bool first = true;
    for (size_t i = 0; i < STET_ARRAY_LEN(stet_config_role_names); i++) {
        if (!(cfg->roles & (1u << i))) continue;
        fprintf(f, "%s\"%s\"", first ? "" : ", ", stet_config_role_names[i]);
        first = false;
    }
    fputs("]\n", f);
    print_string(f, "node-name", cfg->node_name);
    print_string(f, "cluster-name", cfg->cluster_name);
    print_string(f, "base-dir", cfg->base_dir);
    print_string(f, "bind-address", cfg->node_bind);
    print_string(f, "advertised-address", cfg->advertised_address);
    if (cfg->location[0] != '\0') print_string(f, "location", cfg->location);
    if (cfg->force_node_id != 0) fprintf(f, "force-node-id = %" PRIu32 "\n", cfg->force_node_id);
    fprintf(f, "auto-provision = %s\n", cfg->auto_provision ? "true" : "false");
    fprintf(f, "default-num-partitions = %" PRIu32 "\n", cfg->default_num_partitions);
    if (cfg->rocksdb_total_memory_size) fprintf(f, "rocksdb-total-memory-size = %zu\n", cfg->rocksdb_total_memory_size);
    fprintf(f, "default-replication = %" PRIu32 "\n", cfg->default_replication);
    print_duration(f, "shutdown-timeout", cfg->shutdown_timeout_ms);
    print_string(f, "log-filter", cfg->log_filter);
    print_string(f, "log-format", cfg->log_format);
    fprintf(f, "log-disable-ansi-codes = %s\n", cfg->log_disable_ansi_codes ? "true" : "false");
    fprintf(f, "disable-prometheus = %s\n", cfg->disable_prometheus ? "true" : "false");
    fprintf(f, "experimental-enable-protocol-v7 = %s\n", cfg->experimental_enable_protocol_v7 ? "true" : "false");
    print_duration(f, "default-journal-retention", cfg->default_journal_retention_ms);
    print_duration(f, "default-idempotency-retention", cfg->default_idempotency_retention_ms);
    print_duration(f, "default-workflow-completion-retention", cfg->default_workflow_retention_ms);
    fputs("\n[metadata-client]\naddresses = [", f);
    for (size_t i = 0; i < cfg->n_metadata_addresses; i++) {
        struct stet_buf b = STET_BUF_INIT;
        stet_toml_write_string(&b, cfg->metadata_addresses[i], strlen(cfg->metadata_addresses[i]));
        fprintf(f, "%s%.*s", i ? ", " : "", (int)b.len, (const char *)b.data);
        stet_buf_free(&b);
    }
    fputs("]\n", f);
    fputs("\n[default-retry-policy]\n", f);
    print_duration(f, "initial-interval", cfg->retry_initial_interval_ms);
    char factor[64];
    snprintf(factor, sizeof(factor), "%.17g", cfg->retry_exponentiation_factor);
    fprintf(f, "exponentiation-factor = %s%s\n", factor, strpbrk(factor, ".eEn") ? "" : ".0");
    if (cfg->retry_max_attempts == 0) fputs("max-attempts = \"unlimited\"\n", f);
    else fprintf(f, "max-attempts = %" PRIu32 "\n", cfg->retry_max_attempts);
    print_duration(f, "max-interval", cfg->retry_max_interval_ms);
    fprintf(f, "on-max-attempts = \"%s\"\n", cfg->retry_on_max_attempts_kill ? "kill" : "pause");
    fputs("\n[worker.invoker]\n", f);
    print_duration(f, "inactivity-timeout", cfg->inactivity_timeout_ms);
    print_duration(f, "abort-timeout", cfg->abort_timeout_ms);
    fprintf(f, "eager-state-size-limit = %zu\n", cfg->eager_state_size_limit);
    fprintf(f, "concurrent-invocations-limit = %" PRIu32 "\n", cfg->invoker_concurrent_limit ? cfg->invoker_concurrent_limit : 1024);
    fprintf(f, "in-memory-queue-length-limit = %" PRIu32 "\n", cfg->invoker_queue_limit ? cfg->invoker_queue_limit : 4096);
    fputs("\n[worker.snapshots]\n", f);
    if (cfg->snapshots_destination) print_string(f, "destination", cfg->snapshots_destination);
    if (cfg->snapshot_interval_num_records)
        fprintf(f, "snapshot-interval-num-records = %" PRIu64 "\n", cfg->snapshot_interval_num_records);
    fprintf(f, "num-retained = %" PRIu32 "\n", cfg->snapshots_num_retained);
    if (cfg->snapshots_aws_region) print_string(f, "aws-region", cfg->snapshots_aws_region);
    if (cfg->snapshots_aws_endpoint_url) print_string(f, "aws-endpoint-url", cfg->snapshots_aws_endpoint_url);
    if (cfg->snapshots_aws_allow_http) fputs("aws-allow-http = true\n", f);
    if (cfg->snapshots_aws_access_key_id) print_string(f, "aws-access-key-id", cfg->snapshots_aws_access_key_id);
    fputs("\n[admin]\n", f);
    print_string(f, "bind-address", cfg->admin_bind);
    fputs("\n[ingress]\n", f);
    print_string(f, "bind-address", cfg->ingress_bind);
    print_string(f, "advertised-ingress-endpoint", cfg->advertised_ingress ? cfg->advertised_ingress : "");
    fprintf(f, "request-size-limit = %zu\n", cfg->ingress_request_size_limit);
    fprintf(f, "max-connections = %" PRIu32 "\n", cfg->ingress_max_connections);
    if (cfg->ingress_concurrent_limit)
        fprintf(f, "concurrent-api-requests-limit = %" PRIu32 "\n", cfg->ingress_concurrent_limit);
}
