/* File I/O behind a small vtable, so a simulation can fault the disk.
 *
 * The store's write-ahead log (wal.c) does all its file I/O through `struct stet_file_ops`:
 * production passes stet_file_posix_ops() (file_posix.c: open/pwritev/fdatasync/... on the real
 * file system), tests and the simulator pass an in-memory disk that can lose unsynced data at a
 * crash, tear the last write, fail fdatasync or fail writes (file_sim.h).
 *
 * The operations are exactly what the WAL needs, no more. Files are named by path and used
 * through a handle (a non-negative int; for POSIX it is the file descriptor). Every function
 * returns 0 (or a byte count) on success and a negative errno on failure. None of them retries
 * a partial transfer: pread and pwritev may move fewer bytes than asked, as their POSIX
 * namesakes do, and the caller loops.
 *
 * Durability model (what a caller may assume, and what the simulation enforces):
 *  - pwritev and ftruncate change what later reads see, not what survives a crash;
 *  - fdatasync makes every earlier write and truncate of that file durable; if it fails, the
 *    unsynced changes may or may not be on disk, and a later successful fdatasync does not
 *    make them durable either (Linux may drop the dirty pages' error state: "fsyncgate");
 *  - a file created by open survives a crash only once sync_dir of its directory succeeded.
 */
#ifndef STET_STORE_FILE_IO_H
#define STET_STORE_FILE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct stet_file_ops {
    void *ctx; /* passed to every function; must outlive every handle */
    /* Creates directory `path` (its parent must exist). 0, also when it exists already. */
    int (*mkdir)(void *ctx, const char *path);
    /* Opens `path` for reading and writing, creating it (empty, mode 0644) if missing:
     * *handle gets a handle, *created whether the file was created. */
    int (*open)(void *ctx, const char *path, int *handle, bool *created);
    /* Makes the names in directory `path` durable (files created in it survive a crash). */
    int (*sync_dir)(void *ctx, const char *path);
    /* *size gets the file's current length. */
    int (*size)(void *ctx, int handle, uint64_t *size);
    /* Reads up to len bytes at off: the number read (0 at the end of the file) or -errno. */
    ssize_t (*pread)(void *ctx, int handle, void *buf, size_t len, uint64_t off);
    /* Writes the iovecs at off: the number of bytes written (maybe fewer) or -errno. */
    ssize_t (*pwritev)(void *ctx, int handle, const struct iovec *iov, int iovcnt, uint64_t off);
    /* Makes every earlier write and truncate of the file durable. */
    int (*fdatasync)(void *ctx, int handle);
    int (*ftruncate)(void *ctx, int handle, uint64_t size);
    /* Releases the handle (also after a failure of any other call). */
    int (*close)(void *ctx, int handle);
    /* 64 random bits (the WAL's sequence base): the simulation makes them seeded. */
    uint64_t (*random)(void *ctx);
};

/* The real file system (POSIX calls; randomness from getrandom). Static; never freed. */
const struct stet_file_ops *stet_file_posix_ops(void);

#endif
