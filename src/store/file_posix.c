/* The production stet_file_ops (file_io.h): thin wrappers over POSIX calls, 0/bytes or -errno.
 * The handle is the file descriptor; ctx is unused. */
#include "store/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int posix_mkdir(void *ctx, const char *path) {
    (void)ctx;
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -errno;
    return 0;
}

static int posix_open(void *ctx, const char *path, int *handle, bool *created) {
    (void)ctx;
    *created = true;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        *created = false;
        fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) return -errno;
    *handle = fd;
    return 0;
}

static int posix_sync_dir(void *ctx, const char *path) {
    (void)ctx;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -errno;
    int rc = fsync(dfd) != 0 ? -errno : 0;
    close(dfd);
    return rc;
}

static int posix_size(void *ctx, int handle, uint64_t *size) {
    (void)ctx;
    struct stat st;
    if (fstat(handle, &st) != 0) return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static ssize_t posix_pread(void *ctx, int handle, void *buf, size_t len, uint64_t off) {
    (void)ctx;
    ssize_t n;
    do n = pread(handle, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static ssize_t posix_pwritev(void *ctx, int handle, const struct iovec *iov, int iovcnt, uint64_t off) {
    (void)ctx;
    ssize_t n;
    do n = pwritev(handle, iov, iovcnt, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int posix_fdatasync(void *ctx, int handle) {
    (void)ctx;
    /* not retried on EINTR: after a failed fdatasync nothing may be assumed (file_io.h) */
    return fdatasync(handle) != 0 ? -errno : 0;
}

static int posix_ftruncate(void *ctx, int handle, uint64_t size) {
    (void)ctx;
    return ftruncate(handle, (off_t)size) != 0 ? -errno : 0;
}

static int posix_close(void *ctx, int handle) {
    (void)ctx;
    return close(handle) != 0 ? -errno : 0;
}

static uint64_t posix_random(void *ctx) {
    (void)ctx;
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) r = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    return r;
}

static const struct stet_file_ops posix_ops = {
    .ctx = NULL,
    .mkdir = posix_mkdir,
    .open = posix_open,
    .sync_dir = posix_sync_dir,
    .size = posix_size,
    .pread = posix_pread,
    .pwritev = posix_pwritev,
    .fdatasync = posix_fdatasync,
    .ftruncate = posix_ftruncate,
    .close = posix_close,
    .random = posix_random,
};

const struct stet_file_ops *stet_file_posix_ops(void) { return &posix_ops; }
