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
    assert_int_equal(load(&cfg, NULL, err, sizeof(err), "--config-file", "/etc/restate.toml", NULL), -EINVAL);
    assert_non_null(strstr(err, "config files are not supported yet"));
    char *env2[] = {"RESTATE_CONFIG=/etc/r.toml", NULL};
    assert_int_equal(load(&cfg, env2, err, sizeof(err), NULL), -EINVAL);
    assert_non_null(strstr(err, "not supported yet"));
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_env_overrides), cmocka_unit_test(test_advertised),
        cmocka_unit_test(test_env_errors),  cmocka_unit_test(test_bind_parser),   cmocka_unit_test(test_flags),
        cmocka_unit_test(test_help_version), cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
