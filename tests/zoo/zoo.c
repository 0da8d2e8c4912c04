/*
 * The syscall zoo: makes each syscall the recorder decodes, with known arguments, so an
 * end-to-end test can find every one in the capture with the right values. Built static
 * and non-PIE so that its data sits below 4 GiB, where the 32-bit execve at the end can
 * point at it.
 *
 * Usage: zoo DIR   (DIR: an empty scratch directory)
 * Prints nothing on success; the test reads the capture, not this program's output.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char path_buf[4][512];

static const char *in_dir(int slot, const char *dir, const char *name) {
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
    return path_buf[slot];
}

/* Lives in .data (below 4 GiB in a non-PIE static binary) for the int 0x80 execve. */
static char exec32_path[] = "/bin/true";
static char exec32_arg0[] = "true";
static char exec32_arg1[] = "zoo32";
static uint32_t exec32_argv[3];

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: zoo DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char buf[256];

    /* Files: create, write, pwrite, writev, read back. */
    const char *file = in_dir(0, dir, "file");
    int fd = syscall(SYS_openat, AT_FDCWD, file, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    syscall(SYS_write, fd, "zoo-data-12345", 14);
    syscall(SYS_pwrite64, fd, "PW", 2, 100);
    struct iovec wv[2] = {{"ab", 2}, {"cd", 2}};
    syscall(SYS_writev, fd, wv, 2);
    syscall(SYS_close, fd);
    fd = syscall(SYS_openat, AT_FDCWD, file, O_RDONLY);
    syscall(SYS_read, fd, buf, 14);
    syscall(SYS_pread64, fd, buf, 2, 100);
    char r1[3], r2[4];
    struct iovec rv[2] = {{r1, 3}, {r2, 4}};
    syscall(SYS_lseek, fd, 0, SEEK_SET);
    syscall(SYS_readv, fd, rv, 2);
    int d1 = syscall(SYS_dup, fd);
    syscall(SYS_dup2, fd, 100);
    syscall(SYS_dup3, fd, 101, O_CLOEXEC);
    syscall(SYS_fcntl, fd, F_DUPFD, 200);
    syscall(SYS_close, d1);
    syscall(SYS_close, fd);

    /* Pipes. */
    int p[2];
    syscall(SYS_pipe2, p, O_CLOEXEC);
    syscall(SYS_write, p[1], "through-the-pipe", 16);
    syscall(SYS_read, p[0], buf, sizeof buf);

    /* Network: a refused TCP connect, a unix datagram round trip, sendmsg/recvmsg. */
    int s = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    syscall(SYS_connect, s, &sin, sizeof sin);
    syscall(SYS_close, s);

    const char *sock_path = in_dir(1, dir, "sock");
    int u = syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strncpy(sun.sun_path, sock_path, sizeof sun.sun_path - 1);
    syscall(SYS_bind, u, &sun, sizeof sun);
    syscall(SYS_sendto, u, "hello-unix", 10, 0, &sun, sizeof sun);
    struct sockaddr_un from;
    socklen_t from_len = sizeof from;
    syscall(SYS_recvfrom, u, buf, sizeof buf, 0, &from, &from_len);
    syscall(SYS_close, u);

    int sv[2];
    syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
    struct iovec mv = {"msg-payload", 11};
    struct msghdr mh = {.msg_iov = &mv, .msg_iovlen = 1};
    syscall(SYS_sendmsg, sv[0], &mh, 0);
    struct iovec rmv = {buf, sizeof buf};
    struct msghdr rmh = {.msg_iov = &rmv, .msg_iovlen = 1};
    syscall(SYS_recvmsg, sv[1], &rmh, 0);

    /* The file system. */
    const char *sub = in_dir(2, dir, "sub");
    syscall(SYS_mkdir, sub, 0750);
    const char *moved = in_dir(3, dir, "moved");
    syscall(SYS_rename, file, moved);
    syscall(SYS_symlinkat, "moved", AT_FDCWD, in_dir(0, dir, "link-sym"));
    syscall(SYS_linkat, AT_FDCWD, moved, AT_FDCWD, in_dir(1, dir, "link-hard"), 0);
    syscall(SYS_chmod, moved, 0700);
    syscall(SYS_fchmodat, AT_FDCWD, moved, 0600, 0);
    syscall(SYS_chown, moved, 0, 0);
    syscall(SYS_truncate, moved, 5);
    syscall(SYS_unlinkat, AT_FDCWD, in_dir(1, dir, "link-hard"), 0);
    syscall(SYS_rmdir, sub);
    syscall(SYS_chdir, dir);

    /* Processes and privileges (harmless forms). */
    syscall(SYS_kill, getpid(), 0);
    syscall(SYS_tgkill, getpid(), gettid(), 0);
    syscall(SYS_setuid, getuid());
    syscall(SYS_memfd_create, "zoo-memfd", 0);
    void *m = (void *)syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    syscall(SYS_mprotect, m, 4096, PROT_READ);
    syscall(SYS_prctl, PR_SET_NAME, "zoo-renamed", 0, 0, 0);
    syscall(SYS_init_module, NULL, 0, "zoo-param=1");
    syscall(SYS_delete_module, "zoo_no_such_module", 0);
    syscall(SYS_mount, "zoo-src", in_dir(0, dir, "nowhere"), "zoofs", 0, NULL);
    syscall(SYS_io_uring_setup, 0, NULL);

    /* A child that leaves with exit_group(7). */
    pid_t child = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (child == 0) {
        syscall(SYS_exit_group, 7);
    }
    int status;
    waitpid(child, &status, 0);

    /* Last: execve through the 32-bit entry (int 0x80, i386 number 11). */
    exec32_argv[0] = (uint32_t)(uintptr_t)exec32_arg0;
    exec32_argv[1] = (uint32_t)(uintptr_t)exec32_arg1;
    exec32_argv[2] = 0;
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(11), "b"((uint32_t)(uintptr_t)exec32_path),
                       "c"((uint32_t)(uintptr_t)exec32_argv), "d"(0)
                     : "memory");
    fprintf(stderr, "zoo: 32-bit execve failed: %ld\n", ret);
    return 1;
}
