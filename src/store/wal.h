/* The store's own write-ahead log: two recycled files instead of RocksDB's WAL.
 *
 * Why. Every group commit of the log ends in an fdatasync. With RocksDB's WAL each one costs
 * two device writes on ext4: the data, and the inode because the file grew. RocksDB's WAL
 * recycling, which would avoid that, is disabled by RocksDB itself with point-in-time
 * recovery. This WAL writes into files that earlier cycles already filled, so an fdatasync
 * usually flushes data blocks only (one device write); see bench/RESULTS.md.
 *
 * How. `wal-0` and `wal-1` in one directory. Appends go to the active file at the write
 * offset; each record is self-checking (header with sequence number and xxHash64). A store
 * flush (memtables to SST files) begins with stet_wal_rotate_begin: the other file becomes
 * active and the next append writes it from offset 0 over whatever an older cycle left there.
 * Once the flush succeeded, stet_wal_rotate_end marks the previous file reusable. If a flush
 * failed, the next rotation is refused (the file is still needed) and appends keep growing the
 * active file until a flush succeeds. A rotation is also skipped while nothing was appended
 * since the last one: the other file then holds the newest run, and overwriting it while the
 * file left behind holds only older records could leave, after a crash, a stale prefix of it
 * as the only run (keys would go back in time).
 *
 * Replay (stet_wal_replay, at open): each file holds one run of records starting at offset 0
 * with consecutive sequence numbers; the run ends at the first record that does not check out
 * (a torn write, or older content with a lower sequence number). The runs of both files are
 * replayed oldest first, the older one only if it ends right where the newer one begins.
 * Replaying records that an earlier flush already made durable is harmless because every key
 * is written either only through the WAL or only without it (the callers' key spaces are
 * disjoint), and replay is always a contiguous suffix of what was appended, so a key ends
 * with its last write either way. Three rules keep it contiguous: a rotation first fdatasyncs
 * the file it leaves if an append without sync left it dirty (else the new file's records
 * could reach the disk and the old file's tail not); no rotation without an append since the
 * last one (above); and an older run that does not end where the newer begins is stale (a
 * later cycle overwrote what followed it, e.g. a crash kept a later write of the new cycle but
 * not its first) and is skipped.
 *
 * A clean close (stet_wal_mark_clean, after the store was flushed) invalidates both runs so
 * the next open replays nothing. It invalidates the older run first: a crash in between leaves
 * the newer run, which may be replayed alone (it holds the last write of each of its keys),
 * whereas the older run alone would set keys back to older values.
 *
 * Failures (the contract with the caller):
 *  - A failed write (e.g. -ENOSPC) is returned; the record counts as not appended (it is
 *    incomplete on disk, so its hash does not check out) and the next append writes over it.
 *    The WAL stays usable.
 *  - A failed fdatasync is returned, and the WAL is failed from then on: every later append
 *    and mark_clean returns the same error (stet_wal_error), and rotations are refused. After
 *    a failed fdatasync the records appended since the last successful one may or may not be
 *    on disk, and Linux may already have marked their pages clean, so a later fdatasync that
 *    succeeds would not prove them durable (PostgreSQL's "fsyncgate", 2018: it now PANICs).
 *    The only way on is to close, reopen and replay (restart the server): replay then sees
 *    exactly what reached the disk. The record whose append failed may or may not be replayed.
 *  - A failed invalidation (mark_clean, reset) fails the WAL the same way: a run left behind
 *    must not meet the runs of a later session.
 *
 * File I/O goes through a `struct stet_file_ops` (file_io.h): the real file system in
 * production (stet_file_posix_ops), a simulated disk with crashes, torn writes and failing
 * syncs in tests (file_sim.h).
 *
 * Threading: stet_wal_append and the rotation functions may be called from any thread; the
 * caller serialises them with its own lock (rocks.c holds one across append + memtable write,
 * which rotation must not split). */
#ifndef STET_STORE_WAL_H
#define STET_STORE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/file_io.h"

struct stet_wal;

/* Opens (creating) `dir`/wal-0 and wal-1 through `io` (copied; io->ctx must outlive the WAL).
 * Returns 0 or a negative errno; errmsg (may be NULL) gets a malloc'd message on error. */
int stet_wal_open(const char *dir, const struct stet_file_ops *io, struct stet_wal **out, char **errmsg);
/* Calls apply(arg, payload, len) for every valid record, oldest first. Stops at the first
 * apply error (returned). Afterwards the caller makes the applied state durable (a store
 * flush) and calls stet_wal_reset. */
int stet_wal_replay(struct stet_wal *w, int (*apply)(void *arg, const uint8_t *payload, size_t len), void *arg);
/* Everything replayed is durable elsewhere: invalidates both runs; the next append starts a
 * new run in wal-0. 0, or the negative errno that failed the WAL (see "Failures"). */
int stet_wal_reset(struct stet_wal *w);
/* Appends one record; with sync, fdatasyncs before returning: 0 means the record and every
 * record appended before it are durable. Otherwise a negative errno (see "Failures"). */
int stet_wal_append(struct stet_wal *w, const void *payload, size_t len, bool sync);
/* A store flush begins: switch files if the other one is reusable and the active one holds
 * records of this cycle. Returns whether it did. */
bool stet_wal_rotate_begin(struct stet_wal *w);
/* The flush that began with the last rotate_begin ended; ok: everything appended before it
 * is durable. */
void stet_wal_rotate_end(struct stet_wal *w, bool ok);
/* Every record is durable elsewhere (the store was flushed and no append follows): invalidate
 * both runs so the next open replays nothing. 0 or a negative errno. */
int stet_wal_mark_clean(struct stet_wal *w);
void stet_wal_close(struct stet_wal *w);
/* 0, or the negative errno that failed the WAL (see "Failures"). */
int stet_wal_error(const struct stet_wal *w);

struct stet_wal_stats {
    uint64_t appends, syncs, bytes;
    uint64_t rotations;
    uint64_t grown_appends; /* appends that extended their file (slower fdatasync) */
};
void stet_wal_stats(const struct stet_wal *w, struct stet_wal_stats *out);

#endif
