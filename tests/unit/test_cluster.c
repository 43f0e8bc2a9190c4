/* Tests for src/cluster: the GET /cluster document for one node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/cluster.h"
#include "config/config.h"
#include "json/json.h"

static const char *str(const struct stet_json *j, const char *key) {
    const struct stet_json *v = stet_json_object_get(j, key);
    assert_non_null(v);
    return stet_json_string(v, NULL);
}

static uint64_t num(const struct stet_json *j, const char *key) {
    uint64_t x = 0;
    assert_true(stet_json_uint64(stet_json_object_get(j, key), &x));
    return x;
}

static void test_one_node(void **state) {
    (void)state;
    struct stet_cluster_node node = {
        .id = 2, .generation = 7, .name = "restate-2", .roles = STET_ROLE_WORKER | STET_ROLE_ADMIN, .location = "",
        .status = "alive", .uptime_ms = 1234, .advertised_address = "http://restate-2:5122/",
        .fabric_bind = "0.0.0.0:5122", .admin_bind = "0.0.0.0:9070", .ingress_bind = "0.0.0.0:8080",
        .advertised_ingress = "http://127.0.0.1:8080/",
    };
    struct stet_cluster_partition parts[2] = {
        {.id = 0, .key_start = 0, .key_end = UINT64_MAX / 2 - 1, .leader_node = 2, .epoch = 1, .applied_lsn = 5,
         .durable_lsn = 7, .trim_point = 1},
        {.id = 1, .key_start = UINT64_MAX / 2, .key_end = UINT64_MAX, .leader_node = 0, .epoch = 1},
    };
    struct stet_cluster_view v = {.cluster_name = "c\"1", .nodes = &node, .n_nodes = 1, .this_node = 2,
                                  .partitions = parts, .n_partitions = 2, .replication = 2, .log_provider = "local",
                                  .metadata_provider = "local", .schema_version = 3};
    struct stet_buf b = STET_BUF_INIT;
    stet_cluster_render(&b, &v);
    struct stet_json *j = NULL;
    char err[128];
    assert_int_equal(stet_json_parse((const char *)b.data, b.len, &j, err, sizeof(err)), 0);
    assert_string_equal(str(j, "cluster_name"), "c\"1");
    assert_string_equal(str(j, "this_node"), "N2");
    const struct stet_json *nodes = stet_json_object_get(j, "nodes");
    assert_int_equal(stet_json_array_len(nodes), 1);
    const struct stet_json *n0 = stet_json_array_at(nodes, 0);
    assert_string_equal(str(n0, "id"), "N2");
    assert_string_equal(str(n0, "generational_id"), "N2:7");
    assert_string_equal(str(n0, "name"), "restate-2");
    assert_string_equal(str(n0, "status"), "alive");
    const struct stet_json *roles = stet_json_object_get(n0, "roles");
    assert_int_equal(stet_json_array_len(roles), 2);
    assert_string_equal(stet_json_string(stet_json_array_at(roles, 0), NULL), "worker");
    assert_string_equal(str(stet_json_object_get(n0, "addresses"), "advertised"), "http://restate-2:5122/");
    const struct stet_json *ps = stet_json_object_get(j, "partitions");
    assert_int_equal(stet_json_array_len(ps), 2);
    const struct stet_json *p0 = stet_json_array_at(ps, 0), *p1 = stet_json_array_at(ps, 1);
    assert_string_equal(str(p0, "mode"), "leader");
    assert_string_equal(str(p0, "leader"), "N2");
    assert_int_equal(num(p0, "applied_lsn"), 5);
    assert_int_equal(num(p0, "durable_lsn"), 7);
    assert_int_equal(num(p0, "lsn_lag"), 2);
    assert_true(num(stet_json_object_get(p1, "key_range"), "end") == UINT64_MAX);
    assert_string_equal(str(p1, "mode"), "follower");
    assert_int_equal(stet_json_type(stet_json_object_get(p1, "leader")), STET_JSON_NULL);
    const struct stet_json *logs = stet_json_object_get(j, "logs");
    assert_int_equal(num(stet_json_array_at(logs, 0), "tail_lsn"), 7);
    assert_int_equal(num(stet_json_array_at(logs, 0), "trim_point"), 1);
    assert_int_equal(num(stet_json_array_at(logs, 0), "replication"), 2);
    const struct stet_json *md = stet_json_object_get(j, "metadata");
    assert_string_equal(str(md, "status"), "member");
    assert_int_equal(num(md, "schema_version"), 3);
    stet_json_free(j);
    stet_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_node)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
