/* Server configuration: Restate's defaults, overridden by a TOML config file, RESTATE_*
 * environment variables and command-line flags (restate-server's order, via figment).
 *
 * Sources, in increasing priority:
 *   1. built-in defaults (the values restate-server 1.7.12 ships with, listed below);
 *   2. the config file (--config-file <toml> or RESTATE_CONFIG), with Restate's key names
 *      (cluster-name, [admin] bind-address, [worker.snapshots] destination, ...);
 *   3. environment variables, mapped as Restate maps them: strip RESTATE_, split at "__"
 *      into nested keys, lowercase, '_' -> '-'. So RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT
 *      is worker.invoker.inactivity-timeout and RESTATE_METADATA_CLIENT__ADDRESSES is
 *      metadata-client.addresses. Values are read like TOML values when they parse as one
 *      (["a","b"] is an array, true a boolean, 2 an integer, "x" the string x), otherwise
 *      they are taken as plain strings;
 *   4. flags (--base-dir, --node-name, --cluster-name, --bind-address, ...).
 *
 * Keys: every key restate-server 1.7 documents is accepted. The ones listed in struct
 * stet_config take effect; the others are checked for their type and otherwise ignored.
 * In the config file an unknown key or a bad value is an error naming the key, the file
 * and the line. Unknown RESTATE_* variables are ignored with a warning (the environment
 * also carries variables of other Restate tools, e.g. RESTATE_ADMIN_URL of the CLI);
 * invalid values of known variables are errors naming the variable.
 *
 * The Restate 1.6 spelling [invocation] (e.g. RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__*)
 * is accepted as an alias of the top-level invocation keys of 1.7.
 *
 * Ownership: struct stet_config is caller-owned (init/close style: stet_config_load fills
 * it, stet_config_free releases the strings). All strings are NUL-terminated, never NULL
 * after a successful load (config_file may be NULL; the metadata address list may be empty).
 */
#ifndef STET_CONFIG_H
#define STET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STET_CONFIG_SERVER_VERSION "1.7.12"

/* Node roles (roles = [...]); the default is all of them. */
enum {
    STET_ROLE_WORKER = 1u << 0,
    STET_ROLE_ADMIN = 1u << 1,
    STET_ROLE_METADATA_SERVER = 1u << 2,
    STET_ROLE_LOG_SERVER = 1u << 3,
    STET_ROLE_HTTP_INGRESS = 1u << 4,
    STET_ROLE_ALL = (1u << 5) - 1,
};
/* Role names in Restate's spelling, indexed by bit number ("worker", "admin", ...). */
extern const char *const stet_config_role_names[5];

struct stet_config {
    char *cluster_name;       /* cluster-name, "localcluster" */
    char *node_name;          /* node-name, default: the host name */
    char *base_dir;           /* base-dir, default: <cwd>/restate-data */
    char *data_dir;           /* <base_dir>/<node_name> (derived) */
    char *ingress_bind;       /* ingress.bind-address, "0.0.0.0:8080" */
    char *admin_bind;         /* admin.bind-address, "0.0.0.0:9070" */
    char *node_bind;          /* bind-address (node/fabric port), "0.0.0.0:5122" */
    char *advertised_ingress; /* ingress.advertised-ingress-endpoint; default derived from
                                 ingress_bind: "http://127.0.0.1:8080/" (unspecified hosts
                                 0.0.0.0 / [::] advertise 127.0.0.1); always ends in '/' */
    char *config_file;        /* --config-file / RESTATE_CONFIG, NULL if not given */

    uint32_t default_num_partitions;    /* default-num-partitions, 24 (1..65535) */
    size_t ingress_request_size_limit;  /* bytes, 32 MiB */
    size_t eager_state_size_limit;      /* worker.invoker.eager-state-size-limit, 32 MiB */
    uint32_t ingress_max_connections;   /* 10000 */
    uint32_t ingress_concurrent_limit;  /* ingress.concurrent-api-requests-limit; 0 = unlimited */
    uint32_t invoker_concurrent_limit;  /* worker.invoker.concurrent-invocations-limit; 0 = 1024 */
    size_t rocksdb_total_memory_size;   /* rocksdb-total-memory-size: the store's block cache; 0 = sized
                                           from the cgroup memory limit (1/64, 8..64 MiB), else 8 MiB */
    uint32_t invoker_queue_limit;       /* worker.invoker.in-memory-queue-length-limit: invocations held in
                                           memory, the rest wait in the store; 0 = 4096 */

    uint64_t inactivity_timeout_ms;     /* worker.invoker.inactivity-timeout, 1m */
    uint64_t abort_timeout_ms;          /* worker.invoker.abort-timeout, 10m */

    /* invocation.default-retry-policy */
    uint64_t retry_initial_interval_ms; /* 500ms */
    double retry_exponentiation_factor; /* 2.0 */
    uint32_t retry_max_attempts;        /* 70; 0 = unlimited */
    uint64_t retry_max_interval_ms;     /* 1m */
    bool retry_on_max_attempts_kill;    /* false = pause (default) */

    uint64_t default_idempotency_retention_ms;         /* invocation.default-idempotency-retention, 1d */
    uint64_t default_workflow_retention_ms;            /* invocation.default-workflow-completion-retention, 1d */
    uint64_t default_journal_retention_ms;             /* invocation.default-journal-retention, 1d */

    bool experimental_enable_protocol_v7; /* RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7, false */
    bool dump_config;                     /* --dump-config: print and exit */

    /* cluster membership (one node for now; the cluster issue makes these take effect) */
    char *advertised_address;       /* advertised-address, default "http://127.0.0.1:<node port>/" */
    char *location;                 /* location, "" */
    uint32_t roles;                 /* roles, STET_ROLE_ALL */
    bool auto_provision;            /* auto-provision, true */
    uint32_t force_node_id;         /* force-node-id, 0 = not set (1.. when set) */
    uint32_t default_replication;   /* default-replication: node-scope copies, 1 */
    char **metadata_addresses;      /* metadata-client.addresses, default empty */
    size_t n_metadata_addresses;

    /* [worker.snapshots] */
    char *snapshots_destination;               /* destination, NULL = no snapshots */
    uint64_t snapshot_interval_num_records;    /* snapshot-interval-num-records, 0 = off */
    uint32_t snapshots_num_retained;           /* num-retained, 1 */
    char *snapshots_aws_region;                /* aws-region, NULL */
    char *snapshots_aws_endpoint_url;          /* aws-endpoint-url, NULL */
    bool snapshots_aws_allow_http;             /* aws-allow-http, false */
    char *snapshots_aws_access_key_id;         /* aws-access-key-id, NULL */
    char *snapshots_aws_secret_access_key;     /* aws-secret-access-key, NULL (never printed) */

    /* logging (src/common/log.h applies them) */
    char *log_filter;               /* log-filter, "warn,restate=info" */
    char *log_format;               /* log-format: "pretty" | "compact" | "json" */
    bool log_disable_ansi_codes;    /* log-disable-ansi-codes, false */
    bool disable_prometheus;        /* disable-prometheus, false: no /metrics */
    uint64_t shutdown_timeout_ms;   /* shutdown-timeout, 1m */
};

/* Fills *cfg with the built-in defaults (no environment, no flags). Returns 0 or -ENOMEM. */
int stet_config_defaults(struct stet_config *cfg);

/* Parses argv and the environment (envp is a NULL-terminated "NAME=value" array, so tests
 * can pass their own; it may be NULL for an empty environment). Returns:
 *   0        configuration loaded, run the server (or dump it if cfg->dump_config);
 *   1        --help or --version was printed to stdout: exit 0 (cfg is freed already);
 *   -EINVAL  a bad flag or value; err gets a message naming the variable or flag, e.g.
 *            "invalid value for RESTATE_DEFAULT_NUM_PARTITIONS: 'abc' (expected an integer
 *            1..65535)"; cfg is freed already.
 * argv[0] is the program name and is skipped. */
int stet_config_load(struct stet_config *cfg, int argc, char **argv, char **envp, char *err, size_t errlen);

void stet_config_free(struct stet_config *cfg);

/* The effective configuration as TOML with Restate's key names (what --dump-config
 * prints). The output loads back with --config-file to the same configuration, except
 * for aws-secret-access-key, which is never printed. */
void stet_config_print(const struct stet_config *cfg, FILE *f);

/* Validates a bind address "host:port": host is an IPv4 address, a bracketed IPv6 address
 * ("[::1]:9070") or a host name; port is 0..65535. Returns 0 or -EINVAL. If host/port are
 * not NULL they receive the host (without brackets, NUL-terminated, truncated to hostlen)
 * and the port. */
int stet_config_parse_bind(const char *addr, char *host, size_t hostlen, uint16_t *port);

#endif
