/*
 * The marker workload: a child that makes exactly CALLS getppid syscalls and then
 * exit_group, with no libc and so no other syscall. The child's syscalls are therefore
 * CALLS + 2 (its side of clone returning, the getppids, exit_group), which lets a test check
 * recorded + counted as lost = made. The parent prints the child's pid and waits for it.
 *
 * Build: cc -static -nostdlib -O1 -DCALLS=N -o marker marker.c
 */
#ifndef CALLS
#define CALLS 100000
#endif

static long sys6(long nr, long a, long b, long c, long d) {
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

#define SYS_write 1
#define SYS_getppid 110
#define SYS_clone 56
#define SYS_wait4 61
#define SYS_exit_group 231
#define SIGCHLD 17

static void print_pid(long pid) {
    char buf[24];
    int i = sizeof buf;
    buf[--i] = '\n';
    do {
        buf[--i] = '0' + pid % 10;
        pid /= 10;
    } while (pid > 0);
    sys6(SYS_write, 1, (long)(buf + i), sizeof buf - i, 0);
}

void _start(void) {
    long child = sys6(SYS_clone, SIGCHLD, 0, 0, 0);
    if (child == 0) {
        for (long i = 0; i < CALLS; i++) {
            sys6(SYS_getppid, 0, 0, 0, 0);
        }
        sys6(SYS_exit_group, 0, 0, 0, 0);
    }
    print_pid(child);
    sys6(SYS_wait4, child, 0, 0, 0);
    sys6(SYS_exit_group, 0, 0, 0, 0);
    for (;;) {
    }
}
