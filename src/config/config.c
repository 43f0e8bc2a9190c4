/* Configuration loading: defaults, then RESTATE_* environment variables, then flags.
 *
 * Design
 *   The environment is processed from a caller-supplied envp array (never getenv), so tests
 *   control it completely. Every known variable maps to one setter in env_table[]; a setter
 *   parses and validates its value and writes an error naming the variable. Flags are handled
 *   the same way through flag_table[] (they accept "--flag value" and "--flag=value").
 *   Derived values (data_dir, advertised_ingress) are computed last, after all overrides,
 *   so "--node-name x" also moves the data directory.
 *
 * Errors follow STYLE.md §4: one message that names the offending variable or flag, the
 * value, and what was expected.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/timefmt.h"

#define DAY_MS (24ull * 60 * 60 * 1000)

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
    cfg->default_num_partitions = 24;
    cfg->ingress_request_size_limit = (size_t)32 * 1024 * 1024;
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
    if (!cfg->cluster_name || !cfg->node_name || !cfg->base_dir || !cfg->ingress_bind || !cfg->admin_bind ||
        !cfg->node_bind) {
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
static int set_ignored(struct stet_config *c, const char *n, const char *v, char *e, size_t el) {
    STET_UNUSED(c); STET_UNUSED(n); STET_UNUSED(v); STET_UNUSED(e); STET_UNUSED(el);
    return 0;
}

struct setting {
    const char *name;
    setter_fn set;
};

static const struct setting env_table[] = {
    {"RESTATE_BASE_DIR", set_base_dir},
    {"RESTATE_NODE_NAME", set_node_name},
    {"RESTATE_CLUSTER_NAME", set_cluster_name},
    {"RESTATE_CONFIG", set_config_file},
    {"RESTATE_INGRESS__BIND_ADDRESS", set_ingress_bind},
    {"RESTATE_ADMIN__BIND_ADDRESS", set_admin_bind},
    {"RESTATE_BIND_ADDRESS", set_node_bind},
    {"RESTATE_DEFAULT_NUM_PARTITIONS", set_num_partitions},
    {"RESTATE_BOOTSTRAP_NUM_PARTITIONS", set_num_partitions},
    {"RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT", set_advertised_ingress},
    {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT", set_inactivity},
    {"RESTATE_WORKER__INVOKER__ABORT_TIMEOUT", set_abort},
    {"RESTATE_INVOCATION__DEFAULT_IDEMPOTENCY_RETENTION", set_idem_retention},
    {"RESTATE_INVOCATION__DEFAULT_WORKFLOW_COMPLETION_RETENTION", set_wf_retention},
    {"RESTATE_INVOCATION__DEFAULT_JOURNAL_RETENTION", set_journal_retention},
    {"RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__INITIAL_INTERVAL", set_retry_initial},
    {"RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__EXPONENTIATION_FACTOR", set_retry_factor},
    {"RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__MAX_ATTEMPTS", set_retry_max_attempts},
    {"RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__MAX_INTERVAL", set_retry_max_interval},
    {"RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS", set_retry_on_max},
    {"RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7", set_protocol_v7},
    /* read elsewhere (common/log.c) or accepted without effect */
    {"RESTATE_LOG_FILTER", set_ignored},
    {"RESTATE_LOG_FORMAT", set_ignored},
    {"RESTATE_LOG_DISABLE_ANSI_CODES", set_ignored},
    {"RESTATE_ADVERTISED_ADDRESS", set_ignored},
    {"RESTATE_ADVERTISED_HOST", set_ignored},
    {"RESTATE_AUTO_PROVISION", set_ignored},
    {"RESTATE_DISABLE_TELEMETRY", set_ignored},
    {"RESTATE_LISTEN_MODE", set_ignored},
};

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
    {"default-num-partitions", set_num_partitions},
    {"bootstrap-num-partitions", set_num_partitions},
    {"advertised-address", set_ignored},
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
    "      --default-num-partitions <N>    Number of partitions provisioned initially (1..65535) [env: RESTATE_DEFAULT_NUM_PARTITIONS=]\n"
    "      --no-logo                       Do not print the logo at startup\n"
    "  -h, --help                          Print help\n"
    "  -V, --version                       Print version\n"
    "\n"
    "Other settings come from RESTATE_* environment variables, e.g. RESTATE_INGRESS__BIND_ADDRESS,\n"
    "RESTATE_ADMIN__BIND_ADDRESS, RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT.\n";

static int apply_env(struct stet_config *cfg, char **envp, char *err, size_t errlen) {
    if (envp == NULL) return 0;
    for (char **e = envp; *e != NULL; e++) {
        const char *entry = *e;
        if (strncmp(entry, "RESTATE_", 8) != 0) continue;
        const char *eq = strchr(entry, '=');
        if (eq == NULL) continue;
        size_t nlen = (size_t)(eq - entry);
        const struct setting *found = NULL;
        for (size_t i = 0; i < STET_ARRAY_LEN(env_table); i++) {
            if (strlen(env_table[i].name) == nlen && memcmp(env_table[i].name, entry, nlen) == 0) {
                found = &env_table[i];
                break;
            }
        }
        if (found == NULL) {
            stet_warn("config", "ignoring unknown environment variable %.*s (not a setting stet knows)", (int)nlen,
                      entry);
            continue;
        }
        int rc = found->set(cfg, found->name, eq + 1, err, errlen);
        if (rc != 0) return rc;
    }
    return 0;
}

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
    return 0;
}

int stet_config_load(struct stet_config *cfg, int argc, char **argv, char **envp, char *err, size_t errlen) {
    if (err != NULL && errlen > 0) err[0] = '\0';
    int rc = stet_config_defaults(cfg);
    if (rc != 0) {
        set_err(err, errlen, "out of memory while loading the configuration");
        return rc;
    }
    rc = apply_env(cfg, envp, err, errlen);
    if (rc != 0) goto fail;

    bool want_help = false, want_version = false;
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
        char flagname[64];
        snprintf(flagname, sizeof(flagname), "--%s", f->name);
        if (f->set == NULL) {
            if (eq != NULL) {
                set_err(err, errlen, "flag %s takes no value", flagname);
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
                set_err(err, errlen, "flag %s needs a value", flagname);
                rc = -EINVAL;
                goto fail;
            }
            value = argv[++i];
        }
        rc = f->set(cfg, flagname, value, err, errlen);
        if (rc != 0) goto fail;
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
    if (cfg->config_file != NULL) {
        set_err(err, errlen,
                "config files are not supported yet (got '%s'); configure stet with RESTATE_* environment "
                "variables or flags instead",
                cfg->config_file);
        rc = -EINVAL;
        goto fail;
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

static void print_string(FILE *f, const char *key, const char *v) {
    fprintf(f, "%s = \"", key);
    for (const char *p = v; p && *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if ((unsigned char)*p < 0x20) fprintf(f, "\\u%04x", (unsigned char)*p);
        else fputc(*p, f);
    }
    fputs("\"\n", f);
}

static void print_duration(FILE *f, const char *key, uint64_t ms) {
    char buf[64];
    stet_duration_format_friendly(ms, buf, sizeof(buf));
    fprintf(f, "%s = \"%s\"\n", key, buf);
}

void stet_config_print(const struct stet_config *cfg, FILE *f) {
    print_string(f, "node-name", cfg->node_name);
    print_string(f, "cluster-name", cfg->cluster_name);
    print_string(f, "base-dir", cfg->base_dir);
    fprintf(f, "default-num-partitions = %" PRIu32 "\n", cfg->default_num_partitions);
    print_string(f, "bind-address", cfg->node_bind);
    fprintf(f, "experimental-enable-protocol-v7 = %s\n", cfg->experimental_enable_protocol_v7 ? "true" : "false");
    fputs("\n[worker.invoker]\n", f);
    print_duration(f, "inactivity-timeout", cfg->inactivity_timeout_ms);
    print_duration(f, "abort-timeout", cfg->abort_timeout_ms);
    fputs("\n[invocation]\n", f);
    print_duration(f, "default-journal-retention", cfg->default_journal_retention_ms);
    print_duration(f, "default-idempotency-retention", cfg->default_idempotency_retention_ms);
    print_duration(f, "default-workflow-completion-retention", cfg->default_workflow_retention_ms);
    fputs("\n[invocation.default-retry-policy]\n", f);
    print_duration(f, "initial-interval", cfg->retry_initial_interval_ms);
    fprintf(f, "exponentiation-factor = %g\n", cfg->retry_exponentiation_factor);
    if (cfg->retry_max_attempts == 0) fputs("max-attempts = \"unlimited\"\n", f);
    else fprintf(f, "max-attempts = %" PRIu32 "\n", cfg->retry_max_attempts);
    print_duration(f, "max-interval", cfg->retry_max_interval_ms);
    fprintf(f, "on-max-attempts = \"%s\"\n", cfg->retry_on_max_attempts_kill ? "kill" : "pause");
    fputs("\n[ingress]\n", f);
    print_string(f, "bind-address", cfg->ingress_bind);
    print_string(f, "advertised-ingress-endpoint", cfg->advertised_ingress ? cfg->advertised_ingress : "");
    fprintf(f, "request-size-limit = %zu\n", cfg->ingress_request_size_limit);
    fprintf(f, "max-connections = %" PRIu32 "\n", cfg->ingress_max_connections);
    fputs("\n[admin]\n", f);
    print_string(f, "bind-address", cfg->admin_bind);
}
