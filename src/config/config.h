/* Server configuration: Restate's defaults, overridden by RESTATE_* environment variables
 * and command-line flags (flags win over the environment, as in restate-server).
 *
 * Sources, in increasing priority:
 *   1. built-in defaults (the values restate-server 1.7.12 ships with, listed below);
 *   2. environment variables (RESTATE_* names, '__' separates config sections, e.g.
 *      RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT = worker.invoker.inactivity-timeout);
 *   3. flags (--base-dir, --node-name, --cluster-name, --bind-address, ...).
 * A TOML config file (--config-file / RESTATE_CONFIG) is accepted on the command line but
 * loading it is not implemented yet: stet_config_load fails with a message saying so.
 *
 * Unknown RESTATE_* variables are ignored with a warning (restate-server ignores keys it
 * does not know as well); invalid values of known variables are errors naming the variable.
 *
 * Ownership: struct stet_config is caller-owned (init/close style: stet_config_load fills
 * it, stet_config_free releases the strings). All strings are NUL-terminated, never NULL
 * after a successful load (config_file may be NULL).
 */
#ifndef STET_CONFIG_H
#define STET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STET_CONFIG_SERVER_VERSION "1.7.12"

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
    uint32_t ingress_max_connections;   /* 10000 */

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

/* TOML-style dump using Restate's key names (what --dump-config prints). */
void stet_config_print(const struct stet_config *cfg, FILE *f);

/* Validates a bind address "host:port": host is an IPv4 address, a bracketed IPv6 address
 * ("[::1]:9070") or a host name; port is 0..65535. Returns 0 or -EINVAL. If host/port are
 * not NULL they receive the host (without brackets, NUL-terminated, truncated to hostlen)
 * and the port. */
int stet_config_parse_bind(const char *addr, char *host, size_t hostlen, uint16_t *port);

#endif
