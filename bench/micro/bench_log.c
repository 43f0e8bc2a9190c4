/* Micro benchmark of the local log: append + group commit on RocksDB in a temp dir, with a
 * real worker thread behind env->submit (as in production, where the loop hands the fsync
 * to a thread pool). Each round appends `batch` 100-byte records, flushes, and waits for the
 * commit; the loop thread also runs the completion, as a libuv loop would.
 *
 * Prints records/s, ns per record and commits/s for batches of 1, 32 and 256 records.
 * Scale: argv[1] multiplies the number of commits per batch size (default 1). */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/assert.h"
#include "log/log.h"
#include "store/store.h"

/* ---- a one-slot worker thread: run work, then hand done back to the "loop" ---------- */

struct worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    stet_env_work_fn work;
    stet_env_done_fn done;
    void *arg;
    bool has_job;
    bool job_finished;
    bool stop;
};

static void *worker_main(void *p) {
    struct worker *w = p;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->has_job && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        stet_env_work_fn work = w->work;
        void *arg = w->arg;
        pthread_mutex_unlock(&w->mu);
        work(arg);
        pthread_mutex_lock(&w->mu);
        w->has_job = false;
        w->job_finished = true;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int worker_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct worker *w = ctx;
    pthread_mutex_lock(&w->mu);
    STET_ASSERT(!w->has_job && !w->job_finished); /* the log keeps one commit in flight */
    w->work = work;
    w->done = done;
    w->arg = arg;
    w->has_job = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* On the loop thread: waits for the job and runs its completion. */
static void worker_complete(struct worker *w) {
    pthread_mutex_lock(&w->mu);
    while (!w->job_finished) pthread_cond_wait(&w->cv, &w->mu);
    w->job_finished = false;
    stet_env_done_fn done = w->done;
    void *arg = w->arg;
    pthread_mutex_unlock(&w->mu);
    done(arg);
}

static uint64_t mono_ms(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t rand_u64(void *ctx) {
    (void)ctx;
    return (uint64_t)rand();
}

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

static uint64_t acked;
static void on_ack(void *arg, int status, uint64_t lsn) {
    (void)arg;
    (void)lsn;
    STET_ASSERT(status == 0);
    acked++;
}

int main(int argc, char **argv) {
    long scale = argc > 1 ? atol(argv[1]) : 1;
    if (scale < 1) scale = 1;
    char dir[] = "/tmp/stet-bench-log-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    struct stet_store *store = NULL;
    char *err = NULL;
    if (stet_store_open_rocks(dir, &store, &err) != 0) {
        fprintf(stderr, "bench_log: %s\n", err ? err : "cannot open RocksDB");
        free(err);
        return 1;
    }
    struct worker w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    STET_ASSERT(pthread_create(&w.thread, NULL, worker_main, &w) == 0);
    struct stet_env env = {.ctx = &w, .now_ms = mono_ms, .monotonic_ms = mono_ms, .random_u64 = rand_u64,
                           .submit = worker_submit};
    struct stet_log *log = NULL;
    STET_ASSERT(stet_log_create(&env, store, NULL, NULL, NULL, &log) == 0);

    uint8_t rec[100];
    memset(rec, 0xab, sizeof(rec));
    const struct {
        int batch;
        long commits;
    } runs[] = {{1, 1000}, {32, 1000}, {256, 400}};
    printf("%-10s %12s %12s %12s %14s\n", "batch", "records", "records/s", "ns/record", "commits/s");
    for (size_t r = 0; r < STET_ARRAY_LEN(runs); r++) {
        uint32_t log_id = (uint32_t)r;
        long commits = runs[r].commits * scale;
        acked = 0;
        double t0 = now_ns();
        for (long c = 0; c < commits; c++) {
            for (int i = 0; i < runs[r].batch; i++)
                STET_ASSERT(stet_log_append(log, log_id, rec, sizeof(rec), on_ack, NULL, NULL) == 0);
            STET_ASSERT(stet_log_flush(log));
            worker_complete(&w);
        }
        double t1 = now_ns();
        uint64_t records = (uint64_t)commits * (uint64_t)runs[r].batch;
        STET_ASSERT(acked == records);
        STET_ASSERT(stet_log_durable_tail(log, log_id) == records);
        double secs = (t1 - t0) / 1e9;
        printf("%-10d %12llu %12.0f %12.0f %14.0f\n", runs[r].batch, (unsigned long long)records,
               (double)records / secs, (t1 - t0) / (double)records, (double)commits / secs);
    }
    struct stet_log_stats st;
    stet_log_stats(log, &st);
    printf("commits=%llu commit_latency_avg_us=%.0f commit_latency_max_us=%llu\n", (unsigned long long)st.commits,
           st.commits ? (double)st.commit_latency_us_sum / (double)st.commits : 0.0,
           (unsigned long long)st.commit_latency_us_max);

    STET_ASSERT(stet_log_drain(log));
    stet_log_destroy(log);
    stet_store_destroy(store);
    pthread_mutex_lock(&w.mu);
    w.stop = true;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(w.thread, NULL);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
