/* The durable log ("Bifrost" with a local loglet): one append-only log per partition.
 *
 * Every record is appended, made durable (a store write with sync=true), and only then
 * delivered to readers. Appends are grouped: records appended while no commit is running
 * form the pending group; stet_log_flush hands that group as ONE synchronous store write to
 * env->submit_short (env->submit when the env leaves submit_short NULL), and new appends
 * accumulate into the next group while it runs (group commit). The env may run the write
 * inline on the loop thread or on a worker; either way a submitted commit completes later,
 * from the loop, never inside stet_log_flush.
 *
 * Guarantees
 *  1. LSNs of a log id start at 1 and are assigned at append time, strictly increasing,
 *     without gaps.
 *  2. A record is readable (stet_log_read/scan, durable_tail) only after the commit that
 *     contains it returned success; append callbacks and durable_cb run only then, on the
 *     loop thread, in LSN order per log id (and in append order across log ids).
 *  3. If a commit fails, every append of that group and of the group that accumulated
 *     behind it gets status < 0, and the log is failed: later appends return -EIO. Nothing
 *     is half-acknowledged.
 *
 * Completion order for a successful group: durable tails advance for all its log ids, then
 * durable_cb runs once per log id in the group (in order of first append), then each append
 * callback runs in append order. Callbacks may call stet_log_append/flush/read/scan/trim,
 * but not stet_log_destroy.
 *
 * Threading: all functions are called on the loop thread. Only the store write may run off it
 * (on the env's worker, when submit_short/submit hands it to one); reads use the store
 * concurrently with it (the RocksDB store is thread-safe; the mem store is only used with an
 * env that runs work on the loop thread).
 *
 * The log never includes uv.h: time and the background executor come from struct stet_env.
 * It shares the store with the partition store and only touches keys that start with 'L'
 * (records) or 'l' (per-log metadata); the layout is documented in src/log/local.c.
 */
#ifndef STET_LOG_LOG_H
#define STET_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/env.h"
#include "store/store.h"

struct stet_log;

/* Called on the loop thread once the record is durable (status 0) or failed (status < 0). */
typedef void (*stet_log_append_cb)(void *arg, int status /* 0 durable, <0 error */, uint64_t lsn);
/* Called on the loop thread after a group of records became durable; records
 * [first_lsn, last_lsn] of log_id are now readable. */
typedef void (*stet_log_durable_cb)(void *arg, uint32_t log_id, uint64_t first_lsn, uint64_t last_lsn);

struct stet_log_config {
    size_t max_batch_bytes;   /* start a commit early when the pending group exceeds this; 0 = 4 MiB */
    uint32_t max_log_ids;     /* most distinct log ids (any u32 value); 0 = 1024 */
    size_t max_pending_bytes; /* appends fail with -ENOBUFS beyond this many unflushed record
                                 bytes (pending + in flight); 0 = 64 MiB. A record larger
                                 than this is accepted when nothing else is unflushed. */
};

/* Creates the log over `store` (borrowed; must outlive the log) and `env` (borrowed) and
 * recovers each log id's durable tail and trim point from the store. cfg may be NULL for
 * defaults. durable_cb may be NULL. Returns 0 or a negative errno (-ENOSPC: the store holds
 * more than max_log_ids logs; -EIO: the store could not be read). Caller destroys *out. */
int stet_log_create(const struct stet_env *env, struct stet_store *store, const struct stet_log_config *cfg,
                    stet_log_durable_cb durable_cb, void *durable_arg, struct stet_log **out);
/* Frees the log. Must not be called while a commit is in flight (stet_log_drain returns true
 * when it is safe) nor from inside one of the log's callbacks. Pending appends that were
 * never flushed are dropped without their callbacks running. */
void stet_log_destroy(struct stet_log *log);

/* Copies rec (caller keeps ownership) and assigns the next LSN of log_id immediately; the
 * record becomes durable with the next commit; cb (may be NULL) runs on the loop thread after
 * durability, in LSN order. Returns the assigned LSN via *lsn_out (may be NULL).
 * Returns 0, -EIO (the log failed), -ENOSPC (too many log ids), -ENOBUFS (max_pending_bytes
 * reached: flush and retry later). On error cb is not called. May start a commit itself
 * when the pending group exceeds max_batch_bytes. */
int stet_log_append(struct stet_log *log, uint32_t log_id, const void *rec, size_t len, stet_log_append_cb cb,
                    void *arg, uint64_t *lsn_out) __attribute__((warn_unused_result));

/* Starts a group commit of everything pending (appends and trims) if none is in flight:
 * one store write with sync=true via env->submit_short (env->submit if that is NULL). The
 * owner calls this once per event-loop iteration (and after appends); while a commit is in
 * flight, new appends accumulate into the next group. Returns true if a commit was started.
 * If the submit call itself fails, the group fails at once (its callbacks run before this
 * returns) and the log becomes failed. */
bool stet_log_flush(struct stet_log *log);

/* true while a commit is in flight or appends/trims are pending. */
bool stet_log_busy(const struct stet_log *log);

/* Flushes what is pending (when no commit is in flight) and returns true once nothing is in
 * flight or pending, i.e. when stet_log_destroy is safe. Shutdown:
 * `while (!stet_log_drain(log)) run_one_loop_iteration();`. A failed log drains at once. */
bool stet_log_drain(struct stet_log *log);

/* Reads one durable record: 0 found (bytes replace out's contents), 1 not found (lsn 0,
 * trimmed, or beyond the durable tail), <0 error. */
int stet_log_read(struct stet_log *log, uint32_t log_id, uint64_t lsn, struct stet_buf *out);

/* Calls cb for each durable record with from_lsn <= lsn <= to_lsn (clamped to the part above
 * the trim point and up to the durable tail), in order. rec is borrowed for the call only.
 * cb returns 0 to continue, non-zero to stop (that value is returned). Returns 0 at the end,
 * or a negative errno. */
int stet_log_scan(struct stet_log *log, uint32_t log_id, uint64_t from_lsn, uint64_t to_lsn,
                  int (*cb)(void *arg, uint64_t lsn, const uint8_t *rec, size_t len), void *arg);

/* Highest durable LSN, 0 if none. After a full trim the tail stays where it was. */
uint64_t stet_log_durable_tail(const struct stet_log *log, uint32_t log_id);
/* Highest LSN handed out by stet_log_append (>= durable tail). */
uint64_t stet_log_assigned_tail(const struct stet_log *log, uint32_t log_id);
/* Highest trimmed LSN, 0 if none. */
uint64_t stet_log_trim_point(const struct stet_log *log, uint32_t log_id);

/* Deletes records <= up_to_lsn. up_to_lsn is clamped to the durable tail; trimming at or
 * below the current trim point is a no-op. The trim point moves at once (reads of trimmed
 * LSNs return 1 immediately); the delete-range and the new trim point are written with the
 * next commit. Returns 0, -EIO (failed log), -ENOSPC (too many log ids). */
int stet_log_trim(struct stet_log *log, uint32_t log_id, uint64_t up_to_lsn);

/* Frees buffers kept for the next commits (an idle node calls it after a burst). */
void stet_log_release_memory(struct stet_log *log);

/* true once a commit failed; every later append returns -EIO. */
bool stet_log_failed(const struct stet_log *log);

struct stet_log_stats {
    uint64_t appends;               /* records made durable */
    uint64_t bytes;                 /* their payload bytes */
    uint64_t commits;               /* successful store writes */
    uint64_t commit_latency_us_sum; /* submit -> done, from env->monotonic_ms (ms resolution) */
    uint64_t commit_latency_us_max;
};
void stet_log_stats(const struct stet_log *log, struct stet_log_stats *out);

/* Asserts the log's invariants (documented at the top of src/log/local.c); for tests, fuzzers
 * and the simulator, after every step. Aborts on a violation. */
void stet_log_check(const struct stet_log *log);

/* Key helpers (exposed for tests and tools): 'L' | u32 BE log_id | u64 BE lsn, and
 * 'l' | u32 BE log_id. */
enum { STET_LOG_RECORD_KEY_LEN = 13, STET_LOG_META_KEY_LEN = 5 };
void stet_log_record_key(uint8_t out[STET_LOG_RECORD_KEY_LEN], uint32_t log_id, uint64_t lsn);
void stet_log_meta_key(uint8_t out[STET_LOG_META_KEY_LEN], uint32_t log_id);

#endif
