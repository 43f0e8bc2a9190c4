/* Micro benchmark of the store write path the partition processor uses: one atomic batch
 * of 4 puts per applied record (invocation status ~200 B, a journal entry ~120 B, an
 * outbox/inbox entry ~60 B and the applied-LSN marker 8 B), written with sync=false.
 * Also point reads of the status keys. Runs on RocksDB in a temp dir and on the mem store.
 *
 * Prints ns/op. Iterations: argv[1] (default 100,000 batches). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/assert.h"
#include "store/store.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Keys shaped like the partition store's: a table byte, the partition id, an invocation id. */
static size_t make_key(uint8_t *out, uint8_t table, uint64_t n, uint32_t suffix) {
    out[0] = table;
    stet_store_u32be(out + 1, 0);                            /* partition */
    stet_store_u64be(out + 5, n * 0x9e3779b97f4a7c15ULL);     /* scattered, like invocation ids */
    stet_store_u64be(out + 13, n);
    stet_store_u32be(out + 21, suffix);
    return 25;
}

static volatile size_t sink;

static void bench(const char *name, struct stet_store *s, long iterations) {
    uint8_t status[200], entry[120], outbox[60], applied[8];
    memset(status, 's', sizeof(status));
    memset(entry, 'e', sizeof(entry));
    memset(outbox, 'o', sizeof(outbox));
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    uint8_t key[32];
    double t0 = now_ns();
    for (long i = 0; i < iterations; i++) {
        stet_store_batch_clear(&b);
        size_t kl = make_key(key, 's', (uint64_t)i, 0);
        stet_store_batch_put(&b, key, kl, status, sizeof(status));
        kl = make_key(key, 'j', (uint64_t)i, 1);
        stet_store_batch_put(&b, key, kl, entry, sizeof(entry));
        kl = make_key(key, 'o', (uint64_t)i, 0);
        stet_store_batch_put(&b, key, kl, outbox, sizeof(outbox));
        stet_store_u64be(applied, (uint64_t)i);
        stet_store_batch_put(&b, "fsm-applied", 11, applied, sizeof(applied));
        STET_ASSERT(stet_store_write(s, &b, false) == 0);
    }
    double t1 = now_ns();
    stet_store_batch_free(&b);

    struct stet_buf out = STET_BUF_INIT;
    long reads = iterations < 100000 ? iterations : 100000;
    double t2 = now_ns();
    for (long i = 0; i < reads; i++) {
        size_t kl = make_key(key, 's', (uint64_t)(i * 7919 % iterations), 0);
        STET_ASSERT(stet_store_get(s, key, kl, &out) == 0);
        sink += out.len;
    }
    double t3 = now_ns();
    stet_buf_free(&out);
    printf("%-6s write batch of 4 puts (no sync): %8.0f ns/op  (%ld ops)\n", name, (t1 - t0) / (double)iterations,
           iterations);
    printf("%-6s point get (status):              %8.0f ns/op  (%ld ops)\n", name, (t3 - t2) / (double)reads,
           reads);
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 100000;
    if (iterations < 1) iterations = 1;
    char dir[] = "/tmp/stet-bench-store-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    struct stet_store *s = NULL;
    char *err = NULL;
    if (stet_store_open_rocks(dir, &s, &err) != 0) {
        fprintf(stderr, "bench_store: %s\n", err ? err : "cannot open RocksDB");
        free(err);
        return 1;
    }
    bench("rocks", s, iterations);
    stet_store_destroy(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

    s = stet_store_create_mem();
    bench("mem", s, iterations < 20000 ? iterations : 20000); /* O(n) inserts: keep it small */
    stet_store_destroy(s);
    return 0;
}
