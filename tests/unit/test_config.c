/* Tests for src/config: defaults, RESTATE_* variables, flags, errors naming the culprit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

static int load(struct stet_config *cfg, char **envp, char *err, size_t errlen, ...) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "restate-server";
    va_list ap;
    va_start(ap, errlen);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return stet_config_load(cfg, argc, argv, envp, err, errlen);
}

static void test_defaults(void **state) {
    (void)state;
    struct stet_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), NULL), 0);
    assert_string_equal(cfg.cluster_name, "localcluster");
    assert_string_equal(cfg.ingress_bind, "0.0.0.0:8080");
    assert_string_equal(cfg.admin_bind, "0.0.0.0:9070");
    assert_string_equal(cfg.node_bind, "0.0.0.0:5122");
    assert_string_equal(cfg.advertised_ingress, "http://127.0.0.1:8080/");
    assert_int_equal(cfg.default_num_partitions, 24);
    assert_int_equal(cfg.inactivity_timeout_ms, 60000);
    assert_int_equal(cfg.abort_timeout_ms, 600000);
    assert_int_equal(cfg.retry_initial_interval_ms, 500);
    assert_true(cfg.retry_exponentiation_factor == 2.0);
    assert_int_equal(cfg.retry_max_attempts, 70);
    assert_int_equal(cfg.retry_max_interval_ms, 60000);
    assert_false(cfg.retry_on_max_attempts_kill);
    assert_int_equal(cfg.default_idempotency_retention_ms, 86400000ull);
    assert_int_equal(cfg.default_workflow_retention_ms, 86400000ull);
    assert_int_equal(cfg.default_journal_retention_ms, 86400000ull);
    assert_int_equal(cfg.ingress_request_size_limit, 32u * 1024 * 1024);
    assert_false(cfg.dump_config);
    assert_null(cfg.config_file);
    char host[256];
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    assert_string_equal(cfg.node_name, host);
    char expect_suffix[300];
    snprintf(expect_suffix, sizeof(expect_suffix), "/restate-data/%s", host);
    size_t dl = strlen(cfg.data_dir), sl = strlen(expect_suffix);
    assert_true(dl > sl);
    assert_string_equal(cfg.data_dir + dl - sl, expect_suffix);
    stet_config_free(&cfg);
}

static void test_env_overrides(void **state) {
    (void)state;
    char *env[] = {
        "PATH=/usr/bin",
        "RESTATE_DEFAULT_NUM_PARTITIONS=8",
        "RESTATE_INGRESS__BIND_ADDRESS=127.0.0.1:18080",
        "RESTATE_ADMIN__BIND_ADDRESS=[::1]:19070",
        "RESTATE_BIND_ADDRESS=localhost:15122",
        "RESTATE_CLUSTER_NAME=test-cluster",
        "RESTATE_NODE_NAME=n7",
        "RESTATE_BASE_DIR=/tmp/stet-base/",
        "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT=90s",
        "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT=PT2M",
        "RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__MAX_ATTEMPTS=unlimited",
        "RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS=kill",
        "RESTATE_LOG_FILTER=debug",
        "RESTATE_SOMETHING_UNKNOWN=1",
        NULL,
    };
    struct stet_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, env, err, sizeof(err), NULL), 0);
    assert_int_equal(cfg.default_num_partitions, 8);
    assert_string_equal(cfg.ingress_bind, "127.0.0.1:18080");
    assert_string_equal(cfg.admin_bind, "[::1]:19070");
    assert_string_equal(cfg.node_bind, "localhost:15122");
    assert_string_equal(cfg.advertised_ingress, "http://127.0.0.1:18080/");
    assert_string_equal(cfg.cluster_name, "test-cluster");
    assert_string_equal(cfg.data_dir, "/tmp/stet-base/n7");
    assert_int_equal(cfg.inactivity_timeout_ms, 90000);
    assert_int_equal(cfg.abort_timeout_ms, 120000);
    assert_int_equal(cfg.retry_max_attempts, 0);
    assert_true(cfg.retry_on_max_attempts_kill);
    stet_config_free(&cfg);
}

static void test_advertised(void **state) {
    (void)state;
    struct stet_config cfg;
    char err[256];
    char *env1[] = {"RESTATE_INGRESS__BIND_ADDRESS=[::]:8081", NULL};
    assert_int_equal(load(&cfg, env1, err, sizeof(err), NULL), 0);
    assert_string_equal(cfg.advertised_ingress, "http://127.0.0.1:8081/");
    stet_config_free(&cfg);
    char *env2[] = {"RESTATE_INGRESS__BIND_ADDRESS=[::1]:8082", NULL};
    assert_int_equal(load(&cfg, env2, err, sizeof(err), NULL), 0);
    assert_string_equal(cfg.advertised_ingress, "http://[::1]:8082/");
    stet_config_free(&cfg);
    char *env3[] = {"RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT=https://ingress.example.com:443", NULL};
    assert_int_equal(load(&cfg, env3, err, sizeof(err), NULL), 0);
    assert_string_equal(cfg.advertised_ingress, "https://ingress.example.com:443/");
    stet_config_free(&cfg);
    char *env4[] = {"RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT=http://x/prefix/", NULL};
    assert_int_equal(load(&cfg, env4, err, sizeof(err), NULL), 0);
    assert_string_equal(cfg.advertised_ingress, "http://x/prefix/");
    stet_config_free(&cfg);
    char *env5[] = {"RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT=ftp://x", NULL};
    assert_int_equal(load(&cfg, env5, err, sizeof(err), NULL), -EINVAL);
    assert_non_null(strstr(err, "RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT"));
}

static void expect_env_error(const char *entry, const char *name, const char *value) {
    char *env[] = {(char *)entry, NULL};
    struct stet_config cfg;
    char err[512];
    int rc = load(&cfg, env, err, sizeof(err), NULL);
    if (rc != -EINVAL) fail_msg("%s was accepted", entry);
    if (strstr(err, name) == NULL) fail_msg("error '%s' does not name %s", err, name);
    char quoted[128];
    snprintf(quoted, sizeof(quoted), "'%s'", value);
    if (strstr(err, quoted) == NULL) fail_msg("error '%s' does not show %s", err, quoted);
}

static void test_env_errors(void **state) {
    (void)state;
    expect_env_error("RESTATE_DEFAULT_NUM_PARTITIONS=abc", "RESTATE_DEFAULT_NUM_PARTITIONS", "abc");
    expect_env_error("RESTATE_DEFAULT_NUM_PARTITIONS=0", "RESTATE_DEFAULT_NUM_PARTITIONS", "0");
    expect_env_error("RESTATE_DEFAULT_NUM_PARTITIONS=65536", "RESTATE_DEFAULT_NUM_PARTITIONS", "65536");
    expect_env_error("RESTATE_DEFAULT_NUM_PARTITIONS=-1", "RESTATE_DEFAULT_NUM_PARTITIONS", "-1");
    expect_env_error("RESTATE_INGRESS__BIND_ADDRESS=localhost", "RESTATE_INGRESS__BIND_ADDRESS", "localhost");
    expect_env_error("RESTATE_INGRESS__BIND_ADDRESS=1.2.3.4:99999", "RESTATE_INGRESS__BIND_ADDRESS", "1.2.3.4:99999");
    expect_env_error("RESTATE_ADMIN__BIND_ADDRESS=::1:80", "RESTATE_ADMIN__BIND_ADDRESS", "::1:80");
    expect_env_error("RESTATE_ADMIN__BIND_ADDRESS=256.1.1.1:80", "RESTATE_ADMIN__BIND_ADDRESS", "256.1.1.1:80");
    expect_env_error("RESTATE_BIND_ADDRESS=:80", "RESTATE_BIND_ADDRESS", ":80");
    expect_env_error("RESTATE_BIND_ADDRESS=[zz]:80", "RESTATE_BIND_ADDRESS", "[zz]:80");
    expect_env_error("RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT=abc", "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT",
                     "abc");
    expect_env_error("RESTATE_WORKER__INVOKER__ABORT_TIMEOUT=10", "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT", "10");
    expect_env_error("RESTATE_NODE_NAME=", "RESTATE_NODE_NAME", "");
    expect_env_error("RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS=stop",
                     "RESTATE_INVOCATION__DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS", "stop");
    expect_env_error("RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7=maybe", "RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7",
                     "maybe");
}

static void test_bind_parser(void **state) {
    (void)state;
    char host[64];
    uint16_t port;
    assert_int_equal(stet_config_parse_bind("0.0.0.0:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 8080);
    assert_int_equal(stet_config_parse_bind("[::1]:0", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(stet_config_parse_bind("my-host.local:65535", host, sizeof(host), &port), 0);
    assert_string_equal(host, "my-host.local");
    assert_int_equal(port, 65535);
    assert_int_equal(stet_config_parse_bind("host:65536", NULL, 0, NULL), -EINVAL);
    assert_int_equal(stet_config_parse_bind("host:", NULL, 0, NULL), -EINVAL);
    assert_int_equal(stet_config_parse_bind("host:8a", NULL, 0, NULL), -EINVAL);
    assert_int_equal(stet_config_parse_bind("[::1]8080", NULL, 0, NULL), -EINVAL);
    assert_int_equal(stet_config_parse_bind("ho st:80", NULL, 0, NULL), -EINVAL);
}

static void test_flags(void **state) {
    (void)state;
    char *env[] = {"RESTATE_NODE_NAME=from-env", "RESTATE_DEFAULT_NUM_PARTITIONS=4", NULL};
    struct stet_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, env, err, sizeof(err), "--base-dir", "/data/x", "--node-name=n1",
                          "--default-num-partitions", "12", "--dump-config", NULL),
                     0);
    assert_string_equal(cfg.node_name, "n1");
    assert_string_equal(cfg.data_dir, "/data/x/n1");
    assert_int_equal(cfg.default_num_partitions, 12);
    assert_true(cfg.dump_config);
    stet_config_free(&cfg);

    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "--bogus", NULL), -EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "--node-name", NULL), -EINVAL);
    assert_non_null(strstr(err, "--node-name"));
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "positional", NULL), -EINVAL);
    assert_non_null(strstr(err, "positional"));
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "--default-num-partitions=x", NULL), -EINVAL);
    assert_non_null(strstr(err, "--default-num-partitions"));
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "--dump-config=yes", NULL), -EINVAL);
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "--config-file", "/nonexistent/restate.toml", NULL), -EINVAL);
    assert_non_null(strstr(err, "cannot read the config file /nonexistent/restate.toml: No such file"));
    char *env2[] = {"RESTATE_CONFIG=/nonexistent/r.toml", NULL};
    assert_int_equal(load(&cfg, env2, err, sizeof(err), NULL), -EINVAL);
    assert_non_null(strstr(err, "/nonexistent/r.toml"));
}

static void test_help_version(void **state) {
    (void)state;
    struct stet_config cfg;
    char err[256];
    fflush(stdout);
    FILE *saved = stdout;
    char *buf = NULL;
    size_t len = 0;
    stdout = open_memstream(&buf, &len);
    int rc1 = load(&cfg, NULL, err, sizeof(err), "--version", NULL);
    int rc2 = load(&cfg, NULL, err, sizeof(err), "--help", NULL);
    int rc3 = load(&cfg, NULL, err, sizeof(err), "-V", NULL);
    fclose(stdout);
    stdout = saved;
    assert_int_equal(rc1, 1);
    assert_int_equal(rc2, 1);
    assert_int_equal(rc3, 1);
    assert_non_null(strstr(buf, "restate-server 1.7.12 (stet)\n"));
    assert_non_null(strstr(buf, "--base-dir"));
    free(buf);
}

static void test_print(void **state) {
    (void)state;
    struct stet_config cfg;
    char err[256];
    char *env[] = {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT=90s", NULL};
    assert_int_equal(load(&cfg, env, err, sizeof(err), NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    stet_config_print(&cfg, f);
    fclose(f);
    assert_non_null(strstr(buf, "cluster-name = \"localcluster\"\n"));
    assert_non_null(strstr(buf, "[worker.invoker]\ninactivity-timeout = \"1m 30s\"\n"));
    assert_non_null(strstr(buf, "default-num-partitions = 24\n"));
    assert_non_null(strstr(buf, "[admin]\nbind-address = \"0.0.0.0:9070\"\n"));
    assert_non_null(strstr(buf, "max-attempts = 70\n"));
    free(buf);
    stet_config_free(&cfg);
}


/* ---- config files ---- */

static char tmp_path[256];

static const char *write_tmp(const char *content) {
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/stet-test-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return tmp_path;
}

/* The 3-node compose setup as a file (restate-cluster.md §1), plus the keys the issue names. */
static const char cluster_toml[] =
    "# node 1 of 3\n"
    "cluster-name = \"restate-cluster\"\n"
    "node-name = \"restate-1\"\n"
    "base-dir = \"/restate-data\"\n"
    "bind-address = \"0.0.0.0:5122\"\n"
    "advertised-address = \"http://restate-1:5122\"\n"
    "force-node-id = 1\n"
    "auto-provision = true\n"
    "default-num-partitions = 24\n"
    "default-replication = 2\n"
    "roles = [\"worker\", \"admin\", \"metadata-server\", \"log-server\", \"http-ingress\"]\n"
    "log-filter = \"restate=info\"\n"
    "rocksdb-total-memory-size = \"1.5 GiB\"\n"
    "\n"
    "[metadata-client]\n"
    "addresses = [\"http://restate-1:5122\", \"http://restate-2:5122\", \"http://restate-3:5122\"]\n"
    "\n"
    "[worker.snapshots]\n"
    "destination = \"s3://restate/snapshots\"\n"
    "snapshot-interval-num-records = 1000\n"
    "aws-region = \"local\"\n"
    "aws-endpoint-url = \"http://minio:9000\"\n"
    "aws-allow-http = true\n"
    "aws-access-key-id = \"minioadmin\"\n"
    "aws-secret-access-key = \"minioadmin\"\n"
    "\n"
    "[worker.invoker]\n"
    "inactivity-timeout = \"90s\"\n"
    "\n"
    "[default-retry-policy]\n"
    "max-attempts = 5\n"
    "on-max-attempts = \"kill\"\n"
    "\n"
    "[admin]\n"
    "bind-address = \"0.0.0.0:9070\"\n"
    "heartbeat-interval = \"1s 500ms\"\n"
    "[admin.query-engine]\n"
    "memory-size = \"1.0 GiB\"\n"
    "\n"
    "[ingress]\n"
    "bind-address = \"0.0.0.0:8080\"\n"
    "request-size-limit = \"16 MiB\"\n"
    "\n"
    "[bifrost]\n"
    "default-provider = \"replicated\"\n"
    "[bifrost.replicated-loglet]\n"
    "rpc-timeout = \"250ms..1m\"\n";

static void test_file(void **state) {
    (void)state;
    const char *path = write_tmp(cluster_toml);
    struct stet_config cfg;
    char err[512];
    int rc = load(&cfg, NULL, err, sizeof(err), "--config-file", path, NULL);
    if (rc != 0) fail_msg("%s", err);
    assert_string_equal(cfg.cluster_name, "restate-cluster");
    assert_string_equal(cfg.node_name, "restate-1");
    assert_string_equal(cfg.data_dir, "/restate-data/restate-1");
    assert_string_equal(cfg.node_bind, "0.0.0.0:5122");
    assert_string_equal(cfg.advertised_address, "http://restate-1:5122/");
    assert_int_equal(cfg.force_node_id, 1);
    assert_true(cfg.auto_provision);
    assert_int_equal(cfg.default_replication, 2);
    assert_int_equal(cfg.roles, STET_ROLE_ALL);
    assert_string_equal(cfg.log_filter, "restate=info");
    assert_int_equal(cfg.n_metadata_addresses, 3);
    assert_string_equal(cfg.metadata_addresses[2], "http://restate-3:5122/");
    assert_string_equal(cfg.snapshots_destination, "s3://restate/snapshots");
    assert_int_equal(cfg.snapshot_interval_num_records, 1000);
    assert_string_equal(cfg.snapshots_aws_region, "local");
    assert_string_equal(cfg.snapshots_aws_endpoint_url, "http://minio:9000");
    assert_true(cfg.snapshots_aws_allow_http);
    assert_string_equal(cfg.snapshots_aws_secret_access_key, "minioadmin");
    assert_int_equal(cfg.inactivity_timeout_ms, 90000);
    assert_int_equal(cfg.retry_max_attempts, 5);
    assert_true(cfg.retry_on_max_attempts_kill);
    assert_int_equal(cfg.ingress_request_size_limit, 16u * 1024 * 1024);
    assert_string_equal(cfg.config_file, path);
    stet_config_free(&cfg);

    /* RESTATE_CONFIG names the file too */
    char envname[300];
    snprintf(envname, sizeof(envname), "RESTATE_CONFIG=%s", path);
    char *env[] = {envname, NULL};
    assert_int_equal(load(&cfg, env, err, sizeof(err), NULL), 0);
    assert_string_equal(cfg.cluster_name, "restate-cluster");
    stet_config_free(&cfg);
    unlink(path);
}

static void test_file_precedence(void **state) {
    (void)state;
    const char *path = write_tmp("node-name = \"file\"\ncluster-name = \"file\"\ndefault-num-partitions = 3\n"
                                 "[worker.invoker]\nabort-timeout = \"5m\"\n"
                                 "[invocation.default-retry-policy]\nmax-attempts = 9\n");
    char *env[] = {"RESTATE_CLUSTER_NAME=env", "RESTATE_NODE_NAME=env", NULL};
    struct stet_config cfg;
    char err[512];
    int rc = load(&cfg, env, err, sizeof(err), "--config-file", path, "--node-name", "flag", NULL);
    if (rc != 0) fail_msg("%s", err);
    assert_string_equal(cfg.node_name, "flag");     /* flag > env > file */
    assert_string_equal(cfg.cluster_name, "env");   /* env > file */
    assert_int_equal(cfg.default_num_partitions, 3); /* file > default */
    assert_int_equal(cfg.abort_timeout_ms, 300000);
    assert_int_equal(cfg.retry_max_attempts, 9); /* the 1.6 [invocation] spelling */
    stet_config_free(&cfg);
    unlink(path);
}

static void expect_file_error(const char *content, const char *needle1, const char *needle2) {
    const char *path = write_tmp(content);
    struct stet_config cfg;
    char err[512];
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "--config-file", path, NULL), -EINVAL);
    if (strstr(err, needle1) == NULL) fail_msg("error '%s' lacks '%s'", err, needle1);
    if (needle2 && strstr(err, needle2) == NULL) fail_msg("error '%s' lacks '%s'", err, needle2);
    if (strstr(err, path) == NULL) fail_msg("error '%s' does not name the file", err);
    unlink(path);
}

static void test_file_errors(void **state) {
    (void)state;
    expect_file_error("cluster-name = \"x\"\nclustr-name = \"y\"\n", "unknown key 'clustr-name'", "line 2");
    expect_file_error("[admin]\nbind-adress = \"0.0.0.0:1\"\n", "unknown key 'admin.bind-adress'", "line 2");
    expect_file_error("[worker.snapshots]\ndestinaton = \"s3://x\"\n", "unknown key 'worker.snapshots.destinaton'", NULL);
    expect_file_error("[nonsense]\na = 1\n", "unknown key 'nonsense'", "line 1");
    expect_file_error("default-num-partitions = 0\n", "invalid value for default-num-partitions", "'0'");
    expect_file_error("default-num-partitions = \"many\"\n", "invalid value for default-num-partitions", "line 1");
    expect_file_error("\n[ingress]\nbind-address = \"nowhere\"\n", "invalid value for ingress.bind-address", "line 3");
    expect_file_error("roles = [\"worker\", \"boss\"]\n", "invalid value for roles", "unknown role 'boss'");
    expect_file_error("roles = \"worker\"\n", "invalid value for roles", "expected an array of strings");
    expect_file_error("force-node-id = 0\n", "invalid value for force-node-id", "0 is not a valid id");
    expect_file_error("auto-provision = \"perhaps\"\n", "invalid value for auto-provision", NULL);
    expect_file_error("default-replication = 0\n", "invalid value for default-replication", NULL);
    expect_file_error("default-replication = {rack = 2}\n", "invalid value for default-replication", NULL);
    expect_file_error("[metadata-client]\naddresses = [\"restate-1:5122\"]\n", "metadata-client.addresses[0]",
                      "restate-1:5122");
    expect_file_error("[worker.invoker]\ninactivity-timeout = \"soon\"\n", "worker.invoker.inactivity-timeout", "soon");
    expect_file_error("rocksdb-total-memory-size = true\n", "invalid value for rocksdb-total-memory-size",
                      "expected a byte size");
    expect_file_error("log-filter = \"restate=loud\"\n", "invalid value for log-filter", "unknown level 'loud'");
    expect_file_error("log-format = \"xml\"\n", "invalid value for log-format", NULL);
    expect_file_error("cluster-name = \"a\"\ncluster-name = \"b\"\n", "invalid config file", "duplicate key");
    expect_file_error("node-name = [1, 2]\n", "invalid value for node-name", "expected a single value");
}

static void test_env_typed_values(void **state) {
    (void)state;
    char *env[] = {
        "RESTATE_METADATA_CLIENT__ADDRESSES=[\"http://restate-1:5122\",\"http://restate-2:5122\"]",
        "RESTATE_AUTO_PROVISION=false",
        "RESTATE_ROLES=[\"worker\", \"http-ingress\"]",
        "RESTATE_DEFAULT_REPLICATION=2",
        "RESTATE_FORCE_NODE_ID=3",
        "RESTATE_ADVERTISED_ADDRESS=http://restate-3:5122",
        "RESTATE_WORKER__SNAPSHOTS__DESTINATION=s3://restate/snapshots",
        "RESTATE_WORKER__SNAPSHOTS__SNAPSHOT_INTERVAL_NUM_RECORDS=1000",
        "RESTATE_WORKER__SNAPSHOTS__AWS_ALLOW_HTTP=true",
        "RESTATE_NODE_NAME=\"quoted\"",
        "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS=4",
        "RESTATE_LOG_FORMAT=json",
        "RESTATE_ADMIN_URL=http://127.0.0.1:9070", /* the CLI's variable: ignored */
        NULL,
    };
    struct stet_config cfg;
    char err[512];
    int rc = load(&cfg, env, err, sizeof(err), NULL);
    if (rc != 0) fail_msg("%s", err);
    assert_int_equal(cfg.n_metadata_addresses, 2);
    assert_string_equal(cfg.metadata_addresses[0], "http://restate-1:5122/");
    assert_false(cfg.auto_provision);
    assert_int_equal(cfg.roles, STET_ROLE_WORKER | STET_ROLE_HTTP_INGRESS);
    assert_int_equal(cfg.default_replication, 2);
    assert_int_equal(cfg.force_node_id, 3);
    assert_string_equal(cfg.advertised_address, "http://restate-3:5122/");
    assert_string_equal(cfg.snapshots_destination, "s3://restate/snapshots");
    assert_int_equal(cfg.snapshot_interval_num_records, 1000);
    assert_true(cfg.snapshots_aws_allow_http);
    assert_string_equal(cfg.node_name, "quoted");
    assert_int_equal(cfg.retry_max_attempts, 4);
    assert_string_equal(cfg.log_format, "json");
    stet_config_free(&cfg);

    expect_env_error("RESTATE_ROLES=worker", "RESTATE_ROLES", "worker");
    expect_env_error("RESTATE_FORCE_NODE_ID=0", "RESTATE_FORCE_NODE_ID", "0");
    expect_env_error("RESTATE_AUTO_PROVISION=sometimes", "RESTATE_AUTO_PROVISION", "sometimes");
    expect_env_error("RESTATE_METADATA_CLIENT__ADDRESSES=[1]", "RESTATE_METADATA_CLIENT__ADDRESSES", "[1]");
    expect_env_error("RESTATE_DEFAULT_REPLICATION={node: 0}", "RESTATE_DEFAULT_REPLICATION", "{node: 0}");
    expect_env_error("RESTATE_LOG_FILTER=restate=loud", "RESTATE_LOG_FILTER", "restate=loud");
    expect_env_error("RESTATE_WORKER__SNAPSHOTS__DESTINATION=bucket", "RESTATE_WORKER__SNAPSHOTS__DESTINATION", "bucket");

    /* Restate's display form of a replication property */
    char *env2[] = {"RESTATE_DEFAULT_REPLICATION={zone: 2, node: 3}", NULL};
    assert_int_equal(load(&cfg, env2, err, sizeof(err), NULL), 0);
    assert_int_equal(cfg.default_replication, 3);
    stet_config_free(&cfg);
}

/* What the 3-node compose file sets for restate-2 (restate-cluster.md §1.1, §1.2). */
static void test_compose_environment(void **state) {
    (void)state;
    char *env[] = {
        "TZ=UTC",
        "RESTATE_CLUSTER_NAME=restate-cluster",
        "RESTATE_LOG_FILTER=restate=info",
        "RESTATE_DEFAULT_REPLICATION=2",
        "RESTATE_METADATA_CLIENT__ADDRESSES=[\"http://restate-1:5122\",\"http://restate-2:5122\",\"http://restate-3:5122\"]",
        "RESTATE_WORKER__SNAPSHOTS__DESTINATION=s3://restate/snapshots",
        "RESTATE_WORKER__SNAPSHOTS__SNAPSHOT_INTERVAL_NUM_RECORDS=1000",
        "RESTATE_WORKER__SNAPSHOTS__AWS_REGION=local",
        "RESTATE_WORKER__SNAPSHOTS__AWS_ENDPOINT_URL=http://minio:9000",
        "RESTATE_WORKER__SNAPSHOTS__AWS_ALLOW_HTTP=true",
        "RESTATE_WORKER__SNAPSHOTS__AWS_ACCESS_KEY_ID=minioadmin",
        "RESTATE_WORKER__SNAPSHOTS__AWS_SECRET_ACCESS_KEY=minioadmin",
        "RESTATE_NODE_NAME=restate-2",
        "RESTATE_FORCE_NODE_ID=2",
        "RESTATE_ADVERTISED_ADDRESS=http://restate-2:5122",
        "RESTATE_AUTO_PROVISION=false",
        NULL,
    };
    struct stet_config cfg;
    char err[512];
    int rc = load(&cfg, env, err, sizeof(err), NULL);
    if (rc != 0) fail_msg("%s", err);
    assert_string_equal(cfg.cluster_name, "restate-cluster");
    assert_string_equal(cfg.node_name, "restate-2");
    assert_int_equal(cfg.force_node_id, 2);
    assert_false(cfg.auto_provision);
    assert_int_equal(cfg.default_replication, 2);
    assert_int_equal(cfg.n_metadata_addresses, 3);
    assert_string_equal(cfg.snapshots_aws_access_key_id, "minioadmin");
    stet_config_free(&cfg);
}

static char *print_to_string(const struct stet_config *cfg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    stet_config_print(cfg, f);
    fclose(f);
    return buf;
}

/* --dump-config output loads back to the same configuration. */
static void test_dump_roundtrip(void **state) {
    (void)state;
    const char *path = write_tmp(cluster_toml);
    char path_copy[256];
    snprintf(path_copy, sizeof(path_copy), "%s", path);
    char *env[] = {"RESTATE_WORKER__INVOKER__ABORT_TIMEOUT=1h 2m", "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS=unlimited",
                   "RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT=http://ingress.example/", "RESTATE_LOCATION=eu.zone-a",
                   NULL};
    struct stet_config a, b;
    char err[512];
    int rc = load(&a, env, err, sizeof(err), "--config-file", path_copy, NULL);
    if (rc != 0) fail_msg("%s", err);
    char *dump1 = print_to_string(&a);
    const char *path2 = write_tmp(dump1);
    rc = load(&b, NULL, err, sizeof(err), "--config-file", path2, NULL);
    if (rc != 0) fail_msg("%s\n%s", err, dump1);
    char *dump2 = print_to_string(&b);
    assert_string_equal(dump1, dump2);
    assert_non_null(strstr(dump1, "roles = [\"worker\", \"admin\", \"metadata-server\", \"log-server\", \"http-ingress\"]\n"));
    assert_non_null(strstr(dump1, "[metadata-client]\naddresses = [\"http://restate-1:5122/\""));
    assert_non_null(strstr(dump1, "[worker.snapshots]\ndestination = \"s3://restate/snapshots\"\n"));
    assert_non_null(strstr(dump1, "max-attempts = \"unlimited\"\n"));
    assert_null(strstr(dump1, "aws-secret-access-key")); /* never printed */
    assert_string_equal(b.location, "eu.zone-a");
    assert_int_equal(b.abort_timeout_ms, a.abort_timeout_ms);
    assert_int_equal(b.retry_max_attempts, 0);
    assert_int_equal(b.force_node_id, 1);
    assert_string_equal(b.advertised_ingress, "http://ingress.example/");
    free(dump1);
    free(dump2);
    stet_config_free(&a);
    stet_config_free(&b);
    unlink(path_copy);
    unlink(path2);
}

/* The defaults dump loads back too, and names every key with Restate's spelling. */
static void test_dump_defaults_roundtrip(void **state) {
    (void)state;
    struct stet_config a, b;
    char err[512];
    assert_int_equal(load(&a, NULL, err, sizeof(err), NULL), 0);
    char *dump1 = print_to_string(&a);
    const char *path = write_tmp(dump1);
    int rc = load(&b, NULL, err, sizeof(err), "--config-file", path, NULL);
    if (rc != 0) fail_msg("%s\n%s", err, dump1);
    char *dump2 = print_to_string(&b);
    assert_string_equal(dump1, dump2);
    assert_non_null(strstr(dump1, "log-filter = \"warn,restate=info\"\n"));
    assert_non_null(strstr(dump1, "auto-provision = true\n"));
    assert_non_null(strstr(dump1, "advertised-address = \"http://127.0.0.1:5122/\"\n"));
    free(dump1);
    free(dump2);
    stet_config_free(&a);
    stet_config_free(&b);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_env_overrides), cmocka_unit_test(test_advertised),
        cmocka_unit_test(test_env_errors),  cmocka_unit_test(test_bind_parser),   cmocka_unit_test(test_flags),
        cmocka_unit_test(test_help_version), cmocka_unit_test(test_print),
        cmocka_unit_test(test_file),        cmocka_unit_test(test_file_precedence), cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_env_typed_values), cmocka_unit_test(test_compose_environment),
        cmocka_unit_test(test_dump_roundtrip), cmocka_unit_test(test_dump_defaults_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
