/* A simulated disk for tests and the simulator: stet_file_ops (file_io.h) over files kept in
 * memory, with faults. No POSIX I/O.
 *
 * Each file has a volatile copy (what reads see) and a durable copy (what a crash leaves), plus
 * the list of changes (writes, truncates) made since its last fdatasync, in order:
 *  - pwritev/ftruncate change the volatile copy and append to the list;
 *  - fdatasync copies volatile to durable and empties the list; a failing one (see
 *    stet_file_sim_fail_syncs) returns -EIO after persisting a seeded random prefix of the
 *    list (the last kept write maybe torn) and empties it all the same: as on Linux after a
 *    failed fsync, those changes are never written again, so a later successful fdatasync does
 *    not make them durable ("fsyncgate");
 *  - stet_file_sim_crash: every file's volatile copy becomes its durable copy plus what the
 *    crash mode keeps of the list. A torn write keeps a prefix of itself ending at a sector
 *    boundary (STET_FILE_SIM_SECTOR_BYTES of the file offset): a write inside one sector is
 *    all or nothing. Files whose directory was not synced since they were created vanish.
 *    Every open handle becomes stale (-EBADF, close still releases it); failures armed with
 *    fail_syncs/fail_writes stay armed;
 *  - directories exist from mkdir on, crash or not (a simplification).
 *
 * Everything random (the crash and failure choices, ops->random) comes from one seeded
 * generator, so a run with the same seed and the same calls is the same run.
 *
 * Paths are compared as strings (no normalisation); a file's directory is its path up to the
 * last '/', and must have been made with mkdir. Not thread-safe: one caller at a time.
 */
#ifndef STET_STORE_FILE_SIM_H
#define STET_STORE_FILE_SIM_H

#include <stdint.h>

#include "store/file_io.h"

enum { STET_FILE_SIM_SECTOR_BYTES = 512 };

enum stet_file_sim_crash {
    STET_FILE_SIM_CRASH_LOSE_UNSYNCED, /* every change since a file's last fdatasync is lost */
    STET_FILE_SIM_CRASH_TEAR_LAST,     /* the changes reach the disk except each file's last
                                        * one: of a write, a seeded sector prefix (shorter than
                                        * the write, maybe empty) does; a truncate is lost */
    STET_FILE_SIM_CRASH_RANDOM,        /* per file, a seeded number of the changes reach the
                                        * disk in order, the next write torn as above, the
                                        * rest are lost */
    STET_FILE_SIM_CRASH_ANY,           /* each change independently reaches the disk whole,
                                        * torn or not at all (write-back in any order) */
};

struct stet_file_sim_stats {
    uint64_t writes, syncs;          /* calls that succeeded (syncs: fdatasync and sync_dir) */
    uint64_t failed_writes, failed_syncs;
    uint64_t crashes, torn_writes;   /* torn_writes: writes kept in part by a crash or failed sync */
};

struct stet_file_sim;

/* Allocates an empty disk; the caller frees it with destroy (after closing what uses it). */
struct stet_file_sim *stet_file_sim_create(uint64_t seed);
void stet_file_sim_destroy(struct stet_file_sim *s);
/* The ops for this disk (ctx = s); borrowed, valid until destroy. */
const struct stet_file_ops *stet_file_sim_ops(struct stet_file_sim *s);
/* After `after` more successful fdatasync/sync_dir calls, the next `count` fail with -EIO (see
 * above). Replaces what was armed before; count 0 disarms. */
void stet_file_sim_fail_syncs(struct stet_file_sim *s, unsigned after, unsigned count);
/* After `after` more successful pwritev calls, the next `count` fail with `error` (< 0, e.g.
 * -ENOSPC); each may be preceded by a seeded short write of part of the data, as a full disk
 * does. Replaces what was armed before; count 0 disarms. */
void stet_file_sim_fail_writes(struct stet_file_sim *s, unsigned after, unsigned count, int error);
/* The machine crashes and restarts (see the modes above). */
void stet_file_sim_crash(struct stet_file_sim *s, enum stet_file_sim_crash mode);
/* 64 bits from the disk's seeded generator (what ops->random returns). */
uint64_t stet_file_sim_random(struct stet_file_sim *s);
void stet_file_sim_stats(const struct stet_file_sim *s, struct stet_file_sim_stats *out);

#endif
