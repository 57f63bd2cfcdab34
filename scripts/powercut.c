/*
 * powercut: models a power cut for one directory tree — what was not fsynced is lost.
 *
 * Built twice by the power-loss test (Tests/EndToEndTests/PowerLossTests.swift) with gcc:
 *   gcc -O2 -shared -fPIC -o libpowercut.so powercut.c -ldl      (the LD_PRELOAD shim)
 *   gcc -O2 -DPOWERCUT_REPLAY -o powercut-replay powercut.c      (the cut)
 *
 * The shim runs inside the process under test (POWERCUT_DIR = the directory, absolute;
 * POWERCUT_LOG = an undo log outside it, on the same file system). Writes go to the real files
 * (so reads see them, as they would from the page cache), but before each change to a file or
 * directory under POWERCUT_DIR the shim appends to the undo log what the change destroys:
 *   W  path off len origsize bytes   a write or truncation: the bytes it overwrites, the old size
 *   C  path                          a file created
 *   M  path                          a directory created
 *   R  old new backup                a rename (backup: a hard link of the file it replaced)
 *   U  path backup                   an unlink (backup: a hard link of the file)
 *   D  path                          a directory removed
 *   S  path                          fsync / fdatasync of path (a file or a directory); "*" = sync()
 *                                    also after each completed write through a descriptor opened
 *                                    O_DSYNC or O_SYNC (such a write returns once it is durable;
 *                                    the S covers the file's earlier writes too, which is exact for
 *                                    a file written only through such descriptors, as kioskd's
 *                                    seal log is, and kinder than a disk otherwise)
 * A W record is made durable by a later S of its file; C, M, R, U and D records by a later S of
 * the directory holding the entry (as POSIX requires; ext4 can be kinder, never stricter).
 *
 * The cut: the test SIGKILLs the process at a random moment, then runs powercut-replay LOG, which
 * walks the log backwards and undoes every record not made durable by a later S: the directory
 * is left as the disk would hold it had the power failed at that instant (unsynced writes, new
 * files and renames lost; like LazyFS, but without FUSE). SQLite's -shm files (shared memory,
 * never synced) are deleted. Then the log and its backups are removed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAGIC 0x50435554u /* "PCUT" */

struct rec {
    uint32_t magic;
    uint32_t type;
    uint64_t off;
    uint64_t len;
    int64_t origsize;
    uint64_t backup;
    uint32_t plen;
    uint32_t p2len;
};

#ifndef POWERCUT_REPLAY

/* ---------------------------------------------------------------- the shim */

static char root[PATH_MAX];
static size_t rootlen;
static char logpath[PATH_MAX];
static int logfd = -1;
static uint64_t backups;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
#define MAXFD 65536
static char *fdpath[MAXFD];
/* Descriptors opened O_DSYNC or O_SYNC: every completed write is synced. */
static unsigned char fddsync[MAXFD];
static int ready;

#define REAL(name, ret, ...)                                                    \
    static ret (*real_##name)(__VA_ARGS__);                                     \
    static void load_##name(void) {                                             \
        if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name);               \
    }

REAL(open, int, const char *, int, ...)
REAL(openat, int, int, const char *, int, ...)
REAL(write, ssize_t, int, const void *, size_t)
REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
REAL(pwrite64, ssize_t, int, const void *, size_t, off_t)
REAL(writev, ssize_t, int, const struct iovec *, int)
REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t)
REAL(ftruncate, int, int, off_t)
REAL(ftruncate64, int, int, off_t)
REAL(fsync, int, int)
REAL(fdatasync, int, int)
REAL(close, int, int)
REAL(dup, int, int)
REAL(dup2, int, int, int)
REAL(dup3, int, int, int, int)
REAL(fcntl, int, int, int, ...)
REAL(fcntl64, int, int, int, ...)
REAL(rename, int, const char *, const char *)
REAL(renameat, int, int, const char *, int, const char *)
REAL(renameat2, int, int, const char *, int, const char *, unsigned int)
REAL(unlink, int, const char *)
REAL(unlinkat, int, int, const char *, int)
REAL(mkdir, int, const char *, mode_t)
REAL(mkdirat, int, int, const char *, mode_t)
REAL(sync, void, void)
REAL(syncfs, int, int)

static int raw_open(const char *p, int flags, mode_t mode) {
    load_open();
    return real_open(p, flags, mode);
}

static void init(void) {
    if (ready) return;
    const char *r = getenv("POWERCUT_DIR"), *l = getenv("POWERCUT_LOG");
    if (!r || !l || !realpath(r, root)) {
        ready = -1;
        return;
    }
    rootlen = strlen(root);
    snprintf(logpath, sizeof logpath, "%s", l);
    ready = 1;
}

static int tracked(const char *abs) {
    if (ready != 1 || !abs) return 0;
    if (strncmp(abs, root, rootlen) != 0 || (abs[rootlen] != '/' && abs[rootlen] != 0)) return 0;
    size_t n = strlen(abs);
    if (n >= 4 && strcmp(abs + n - 4, "-shm") == 0) return 0; /* shared memory: never durable */
    return 1;
}

/* The absolute, lexically normalised form of path (relative to dirfd). No symlinks resolved. */
static int absolute(int dirfd, const char *path, char *out) {
    char base[PATH_MAX];
    if (!path) return 0;
    if (path[0] == '/') {
        base[0] = 0;
    } else if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base)) return 0;
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        if (n < 0) return 0;
        base[n] = 0;
    }
    char buf[PATH_MAX * 2];
    snprintf(buf, sizeof buf, "%s/%s", base, path);
    /* normalise: drop "." and "//", resolve ".." lexically */
    char *parts[PATH_MAX / 2];
    int np = 0;
    for (char *save, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0) continue;
        if (strcmp(t, "..") == 0) {
            if (np) np--;
            continue;
        }
        parts[np++] = t;
    }
    out[0] = 0;
    size_t len = 0;
    for (int i = 0; i < np; i++) {
        size_t k = strlen(parts[i]);
        if (len + k + 2 >= PATH_MAX) return 0;
        out[len++] = '/';
        memcpy(out + len, parts[i], k);
        len += k;
        out[len] = 0;
    }
    if (!np) strcpy(out, "/");
    return 1;
}

static void put(uint32_t type, const char *p, const char *p2, uint64_t off, const void *data, uint64_t len,
                int64_t origsize, uint64_t backup) {
    load_write();
    if (logfd < 0) {
        logfd = raw_open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (logfd < 0) {
            fprintf(stderr, "powercut: cannot open %s\n", logpath);
            abort();
        }
    }
    struct rec h = {MAGIC, type, off, len, origsize, backup, (uint32_t)strlen(p), p2 ? (uint32_t)strlen(p2) : 0};
    size_t total = sizeof h + h.plen + h.p2len + len;
    char *b = malloc(total);
    memcpy(b, &h, sizeof h);
    memcpy(b + sizeof h, p, h.plen);
    if (h.p2len) memcpy(b + sizeof h + h.plen, p2, h.p2len);
    if (len) memcpy(b + sizeof h + h.plen + h.p2len, data, len);
    size_t done = 0;
    while (done < total) {
        ssize_t n = real_write(logfd, b + done, total - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) abort();
        done += n;
    }
    free(b);
}

static void record(uint32_t type, const char *p, const char *p2, uint64_t backup) {
    pthread_mutex_lock(&mu);
    put(type, p, p2, 0, NULL, 0, -1, backup);
    pthread_mutex_unlock(&mu);
}

/* Before a write of len bytes at off (off < 0: the fd's position / append) to fd. */
static void before_write(int fd, off_t off, size_t len) {
    if (fd < 0 || fd >= MAXFD) return;
    pthread_mutex_lock(&mu);
    char *p = fdpath[fd];
    if (!p) {
        pthread_mutex_unlock(&mu);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        pthread_mutex_unlock(&mu);
        return;
    }
    if (off < 0) {
        load_fcntl();
        int fl = real_fcntl(fd, F_GETFL);
        off = (fl & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
    }
    uint64_t keep = 0;
    char *old = NULL;
    if (off < st.st_size) {
        keep = (uint64_t)(st.st_size - off) < len ? (uint64_t)(st.st_size - off) : len;
        old = malloc(keep);
        int rfd = raw_open(p, O_RDONLY | O_CLOEXEC, 0);
        ssize_t n = rfd >= 0 ? pread(rfd, old, keep, off) : -1;
        if (rfd >= 0) {
            load_close();
            real_close(rfd);
        }
        if (n < 0) n = 0;
        keep = n;
    }
    put('W', p, NULL, off, old, keep, st.st_size, 0);
    free(old);
    pthread_mutex_unlock(&mu);
}

/* Before a truncation of fd (or path) to size. */
static void before_truncate(int fd, off_t size) {
    if (fd < 0 || fd >= MAXFD) return;
    pthread_mutex_lock(&mu);
    char *p = fdpath[fd];
    struct stat st;
    if (!p || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        pthread_mutex_unlock(&mu);
        return;
    }
    uint64_t keep = size < st.st_size ? st.st_size - size : 0;
    char *old = keep ? malloc(keep) : NULL;
    if (keep) {
        int rfd = raw_open(p, O_RDONLY | O_CLOEXEC, 0);
        ssize_t n = rfd >= 0 ? pread(rfd, old, keep, size) : -1;
        if (rfd >= 0) {
            load_close();
            real_close(rfd);
        }
        keep = n > 0 ? n : 0;
    }
    put('W', p, NULL, size, old, keep, st.st_size, 0);
    free(old);
    pthread_mutex_unlock(&mu);
}

static void synced(int fd) {
    if (fd < 0 || fd >= MAXFD) return;
    pthread_mutex_lock(&mu);
    if (fdpath[fd]) put('S', fdpath[fd], NULL, 0, NULL, 0, -1, 0);
    pthread_mutex_unlock(&mu);
}

static void setfd(int fd, const char *abs) {
    if (fd < 0 || fd >= MAXFD) return;
    pthread_mutex_lock(&mu);
    free(fdpath[fd]);
    fdpath[fd] = abs ? strdup(abs) : NULL;
    fddsync[fd] = 0;
    pthread_mutex_unlock(&mu);
}

static void copyfd(int from, int to) {
    if (from < 0 || from >= MAXFD || to < 0 || to >= MAXFD) return;
    pthread_mutex_lock(&mu);
    char *p = fdpath[from] ? strdup(fdpath[from]) : NULL;
    free(fdpath[to]);
    fdpath[to] = p;
    fddsync[to] = fddsync[from];
    pthread_mutex_unlock(&mu);
}

/* A hard link of abs kept beside the log, so an unlink or a replacing rename can be undone. */
static uint64_t backup_of(const char *abs) {
    struct stat st;
    if (lstat(abs, &st) != 0 || S_ISDIR(st.st_mode)) return 0;
    pthread_mutex_lock(&mu);
    uint64_t id = ++backups;
    pthread_mutex_unlock(&mu);
    char b[PATH_MAX + 32];
    snprintf(b, sizeof b, "%s.b%llu", logpath, (unsigned long long)id);
    return link(abs, b) == 0 ? id : 0;
}

static int do_open(int dirfd, const char *path, int flags, mode_t mode, int at) {
    init();
    char abs[PATH_MAX];
    int track = ready == 1 && absolute(dirfd, path, abs) && tracked(abs);
    int existed = 0;
    struct stat st;
    if (track) existed = lstat(abs, &st) == 0;
    if (track && existed && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && S_ISREG(st.st_mode)) {
        int tfd = raw_open(abs, O_RDONLY | O_CLOEXEC, 0);
        if (tfd >= 0) {
            setfd(tfd, abs);
            before_truncate(tfd, 0);
            setfd(tfd, NULL);
            load_close();
            real_close(tfd);
        }
    }
    if (track && !existed && (flags & O_CREAT)) record('C', abs, NULL, 0);
    int fd;
    if (at) {
        load_openat();
        fd = real_openat(dirfd, path, flags, mode);
    } else {
        load_open();
        fd = real_open(path, flags, mode);
    }
    if (fd >= 0) {
        setfd(fd, track ? abs : NULL);
        if (track && fd < MAXFD && (flags & O_DSYNC)) fddsync[fd] = 1;
    }
    return fd;
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return do_open(AT_FDCWD, path, flags, mode, 0);
}
int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return do_open(AT_FDCWD, path, flags, mode, 0);
}
int __open_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0, 0); }
int __open64_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0, 0); }
int openat(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return do_open(dirfd, path, flags, mode, 1);
}
int openat64(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return do_open(dirfd, path, flags, mode, 1);
}
int __openat_2(int dirfd, const char *path, int flags) { return do_open(dirfd, path, flags, 0, 1); }
int creat(const char *path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0); }
int creat64(const char *path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0); }

/* A completed write through an O_DSYNC descriptor is durable: recorded as synced. */
static ssize_t after_write(int fd, ssize_t r) {
    if (r > 0 && fd >= 0 && fd < MAXFD && fddsync[fd]) synced(fd);
    return r;
}
ssize_t write(int fd, const void *b, size_t n) {
    load_write();
    before_write(fd, -1, n);
    return after_write(fd, real_write(fd, b, n));
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
    load_pwrite();
    before_write(fd, off, n);
    return after_write(fd, real_pwrite(fd, b, n, off));
}
ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) {
    load_pwrite64();
    before_write(fd, off, n);
    return after_write(fd, real_pwrite64(fd, b, n, off));
}
ssize_t writev(int fd, const struct iovec *v, int c) {
    load_writev();
    size_t n = 0;
    for (int i = 0; i < c; i++) n += v[i].iov_len;
    before_write(fd, -1, n);
    return after_write(fd, real_writev(fd, v, c));
}
ssize_t pwritev(int fd, const struct iovec *v, int c, off_t off) {
    load_pwritev();
    size_t n = 0;
    for (int i = 0; i < c; i++) n += v[i].iov_len;
    before_write(fd, off, n);
    return after_write(fd, real_pwritev(fd, v, c, off));
}
int ftruncate(int fd, off_t size) {
    load_ftruncate();
    before_truncate(fd, size);
    return real_ftruncate(fd, size);
}
int ftruncate64(int fd, off_t size) {
    load_ftruncate64();
    before_truncate(fd, size);
    return real_ftruncate64(fd, size);
}
int fsync(int fd) {
    load_fsync();
    int r = real_fsync(fd);
    if (r == 0) synced(fd);
    return r;
}
int fdatasync(int fd) {
    load_fdatasync();
    int r = real_fdatasync(fd);
    if (r == 0) synced(fd);
    return r;
}
void sync(void) {
    load_sync();
    real_sync();
    init();
    if (ready == 1) record('S', "*", NULL, 0);
}
int syncfs(int fd) {
    load_syncfs();
    int r = real_syncfs(fd);
    init();
    if (r == 0 && ready == 1) record('S', "*", NULL, 0);
    return r;
}
int close(int fd) {
    load_close();
    setfd(fd, NULL);
    return real_close(fd);
}
int dup(int fd) {
    load_dup();
    int r = real_dup(fd);
    if (r >= 0) copyfd(fd, r);
    return r;
}
int dup2(int fd, int to) {
    load_dup2();
    int r = real_dup2(fd, to);
    if (r >= 0) copyfd(fd, r);
    return r;
}
int dup3(int fd, int to, int flags) {
    load_dup3();
    int r = real_dup3(fd, to, flags);
    if (r >= 0) copyfd(fd, r);
    return r;
}
static int do_fcntl(int (*f)(int, int, ...), int fd, int cmd, void *arg) {
    int r = f(fd, cmd, arg);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) copyfd(fd, r);
    return r;
}
int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    load_fcntl();
    return do_fcntl(real_fcntl, fd, cmd, arg);
}
int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    load_fcntl64();
    return do_fcntl(real_fcntl64 ? real_fcntl64 : (load_fcntl(), real_fcntl), fd, cmd, arg);
}

static int do_rename(int ofd, const char *o, int nfd, const char *n, unsigned flags, int kind) {
    init();
    char ao[PATH_MAX], an[PATH_MAX];
    int track = ready == 1 && absolute(ofd, o, ao) && absolute(nfd, n, an) && (tracked(ao) || tracked(an));
    if (track) {
        uint64_t b = backup_of(an);
        record('R', ao, an, b);
    }
    if (kind == 0) {
        load_rename();
        return real_rename(o, n);
    }
    if (kind == 1) {
        load_renameat();
        return real_renameat(ofd, o, nfd, n);
    }
    load_renameat2();
    return real_renameat2(ofd, o, nfd, n, flags);
}
int rename(const char *o, const char *n) { return do_rename(AT_FDCWD, o, AT_FDCWD, n, 0, 0); }
int renameat(int ofd, const char *o, int nfd, const char *n) { return do_rename(ofd, o, nfd, n, 0, 1); }
int renameat2(int ofd, const char *o, int nfd, const char *n, unsigned int f) { return do_rename(ofd, o, nfd, n, f, 2); }

static void before_remove(int dirfd, const char *path, int isdir) {
    init();
    char abs[PATH_MAX];
    if (ready != 1 || !absolute(dirfd, path, abs) || !tracked(abs)) return;
    if (isdir) {
        record('D', abs, NULL, 0);
    } else {
        record('U', abs, NULL, backup_of(abs));
    }
}
int unlink(const char *p) {
    load_unlink();
    before_remove(AT_FDCWD, p, 0);
    return real_unlink(p);
}
int unlinkat(int dirfd, const char *p, int flags) {
    load_unlinkat();
    before_remove(dirfd, p, (flags & AT_REMOVEDIR) != 0);
    return real_unlinkat(dirfd, p, flags);
}
int rmdir(const char *p) {
    static int (*real)(const char *);
    if (!real) real = dlsym(RTLD_NEXT, "rmdir");
    before_remove(AT_FDCWD, p, 1);
    return real(p);
}
static void before_mkdir(int dirfd, const char *path) {
    init();
    char abs[PATH_MAX];
    struct stat st;
    if (ready == 1 && absolute(dirfd, path, abs) && tracked(abs) && lstat(abs, &st) != 0) record('M', abs, NULL, 0);
}
int mkdir(const char *p, mode_t m) {
    load_mkdir();
    before_mkdir(AT_FDCWD, p);
    return real_mkdir(p, m);
}
int mkdirat(int dirfd, const char *p, mode_t m) {
    load_mkdirat();
    before_mkdir(dirfd, p);
    return real_mkdirat(dirfd, p, m);
}

#else

/* ---------------------------------------------------------------- the cut */

struct entry {
    struct rec h;
    long pos; /* file offset of the path */
};

static char **synced;
static size_t nsynced, capsynced;

static int is_synced(const char *p) {
    for (size_t i = 0; i < nsynced; i++)
        if (strcmp(synced[i], p) == 0 || strcmp(synced[i], "*") == 0) return 1;
    return 0;
}
static void add_synced(const char *p) {
    if (is_synced(p)) return;
    if (nsynced == capsynced) {
        capsynced = capsynced ? capsynced * 2 : 64;
        synced = realloc(synced, capsynced * sizeof *synced);
    }
    synced[nsynced++] = strdup(p);
}
static void parent(const char *p, char *out) {
    strcpy(out, p);
    char *s = strrchr(out, '/');
    if (s && s != out) *s = 0;
    else strcpy(out, "/");
}
static void remove_tree(const char *p) {
    struct stat st;
    if (lstat(p, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char c[PATH_MAX];
                snprintf(c, sizeof c, "%s/%s", p, e->d_name);
                remove_tree(c);
            }
            closedir(d);
        }
        rmdir(p);
    } else {
        unlink(p);
    }
}
static void remove_shm(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char c[PATH_MAX];
        snprintf(c, sizeof c, "%s/%s", dir, e->d_name);
        size_t n = strlen(e->d_name);
        struct stat st;
        if (lstat(c, &st) == 0 && S_ISDIR(st.st_mode)) remove_shm(c);
        else if (n >= 4 && !strcmp(e->d_name + n - 4, "-shm")) unlink(c);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: powercut-replay LOG [DIR]  (undoes what was not synced; DIR: delete its -shm files)\n");
        return 2;
    }
    const char *log = argv[1];
    FILE *f = fopen(log, "rb");
    size_t n = 0, cap = 0;
    struct entry *es = NULL;
    if (f) {
        for (;;) {
            struct entry e;
            if (fread(&e.h, sizeof e.h, 1, f) != 1 || e.h.magic != MAGIC) break;
            e.pos = ftell(f);
            if (fseek(f, e.h.plen + e.h.p2len + e.h.len, SEEK_CUR) != 0) break;
            /* a record torn at the cut has a short tail: drop it */
            long end = ftell(f);
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            if (end > size) break;
            fseek(f, end, SEEK_SET);
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                es = realloc(es, cap * sizeof *es);
            }
            es[n++] = e;
        }
    }
    unsigned long undone = 0, kept = 0;
    for (size_t i = n; i-- > 0;) {
        struct entry *e = &es[i];
        char p[PATH_MAX] = {0}, p2[PATH_MAX] = {0}, dir[PATH_MAX], dir2[PATH_MAX], b[PATH_MAX + 32];
        fseek(f, e->pos, SEEK_SET);
        if (fread(p, 1, e->h.plen, f) != e->h.plen) continue;
        if (e->h.p2len && fread(p2, 1, e->h.p2len, f) != e->h.p2len) continue;
        parent(p, dir);
        if (e->h.backup) snprintf(b, sizeof b, "%s.b%llu", log, (unsigned long long)e->h.backup);
        switch (e->h.type) {
        case 'S': add_synced(p); break;
        case 'W':
            if (is_synced(p)) {
                kept++;
                break;
            }
            undone++;
            {
                int fd = open(p, O_WRONLY);
                if (fd < 0) break;
                if (e->h.len) {
                    char *data = malloc(e->h.len);
                    if (fread(data, 1, e->h.len, f) == e->h.len) pwrite(fd, data, e->h.len, e->h.off);
                    free(data);
                }
                if (e->h.origsize >= 0) ftruncate(fd, e->h.origsize);
                close(fd);
            }
            break;
        case 'C':
            if (is_synced(dir)) break;
            undone++;
            unlink(p);
            break;
        case 'M':
            if (is_synced(dir)) break;
            undone++;
            remove_tree(p);
            break;
        case 'D':
            if (is_synced(dir)) break;
            undone++;
            mkdir(p, 0700);
            break;
        case 'U':
            if (is_synced(dir)) break;
            undone++;
            if (e->h.backup) link(b, p);
            break;
        case 'R':
            parent(p2, dir2);
            if (is_synced(dir2)) break;
            undone++;
            rename(p2, p);
            if (e->h.backup) link(b, p2);
            break;
        }
    }
    if (f) fclose(f);
    if (argc > 2) remove_shm(argv[2]);
    /* the log and its backups */
    char dirl[PATH_MAX];
    parent(log, dirl);
    const char *base = strrchr(log, '/') ? strrchr(log, '/') + 1 : log;
    DIR *d = opendir(dirl);
    if (d) {
        struct dirent *e;
        size_t bl = strlen(base);
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, base, bl) && (e->d_name[bl] == 0 || e->d_name[bl] == '.')) {
                char c[PATH_MAX];
                snprintf(c, sizeof c, "%s/%s", dirl, e->d_name);
                unlink(c);
            }
        closedir(d);
    }
    printf("powercut: %zu records, %lu undone, %lu writes kept (synced)\n", n, undone, kept);
    return 0;
}
#endif
