/* stet: a durable execution server compatible with Restate 1.7.
 * With no arguments it runs a single node with data in ./restate-data/<node-name>, ingress
 * on :8080, admin on :9070 and the node port on :5122 (see src/config/config.h). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "config/config.h"
#include "node/node.h"

extern char **environ;

int main(int argc, char **argv) {
    /* all our work runs on one loop thread; a few more threads (fsync, RocksDB) must not each
     * grow a heap arena of their own */
    mallopt(M_ARENA_MAX, 2);
    /* blocks of 64 KiB and more (RocksDB memtable arena blocks, grown batch buffers) are
     * mmapped and go back to the system when freed, instead of pinning heap pages behind them
     * (a fixed threshold also stops glibc from raising it after the first big free) */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    if (stet_log_init_from_env() != 0) {
        fprintf(stderr, "stet: invalid value for RESTATE_LOG_FILTER: '%s' (expected error|warn|info|debug|trace "
                        "or restate=<level>)\n", getenv("RESTATE_LOG_FILTER"));
        return 2;
    }
    struct stet_config cfg;
    char err[1024] = "";
    int rc = stet_config_load(&cfg, argc, argv, environ, err, sizeof(err));
    if (rc == 1) return 0; /* --help / --version printed */
    if (rc != 0) {
        fprintf(stderr, "stet: %s\n", err);
        return 2;
    }
    /* the effective filter and format (file < environment < flags); validated by the loader */
    if (stet_log_configure(cfg.log_filter, cfg.log_format) != 0) {
        fprintf(stderr, "stet: invalid log-filter '%s' or log-format '%s'\n", cfg.log_filter, cfg.log_format);
        stet_config_free(&cfg);
        return 2;
    }
    if (cfg.dump_config) {
        stet_config_print(&cfg, stdout);
        stet_config_free(&cfg);
        return 0;
    }
    struct stet_node *node = NULL;
    rc = stet_node_create(&cfg, &node, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "stet: %s\n", err[0] ? err : "cannot start");
        stet_config_free(&cfg);
        return 1;
    }
    rc = stet_node_run(node);
    stet_node_destroy(node);
    stet_config_free(&cfg);
    return rc;
}
