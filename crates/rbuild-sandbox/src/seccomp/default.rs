//! The default profile: the same decisions as Docker's default seccomp profile (moby's
//! profiles/seccomp/default.json), expressed as a [`Profile`] so the generator treats it like
//! a profile file. Everything not listed fails with EPERM.

use super::profile::{Action, Arg, Filter, Op, Profile, Rule};

/// Syscalls every container may make, separated by white space.
const ALLOWED: &str =
    "accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown \
     chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime \
     clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect \
     copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old \
     epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat \
     exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark \
     fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync \
     fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs \
     fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait \
     futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 \
     geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid \
     getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid \
     getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt \
     get_thread_area gettid gettimeofday getuid getuid32 getxattr getxattrat \
     inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl \
     io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set \
     io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset \
     landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr \
     listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise \
     map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod \
     mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open \
     mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink \
     mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap \
     name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open \
     pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 \
     prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 \
     pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom \
     recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename \
     renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending \
     rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait \
     rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam \
     sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval \
     sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam \
     sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop \
     semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 \
     setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority \
     setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 \
     setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid \
     setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd \
     signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs \
     statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee \
     tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 \
     timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 \
     timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask \
     uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice \
     wait4 waitid waitpid write writev";

/// Syscalls allowed only with the capability that makes them meaningful.
const BY_CAPABILITY: &[(&str, &str)] = &[
    ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
    (
        "CAP_SYS_ADMIN",
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie \
         lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount \
         open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog \
         umount umount2 unshare",
    ),
    ("CAP_SYS_BOOT", "reboot"),
    ("CAP_SYS_CHROOT", "chroot"),
    ("CAP_SYS_MODULE", "delete_module init_module finit_module"),
    ("CAP_SYS_PACCT", "acct"),
    (
        "CAP_SYS_PTRACE",
        "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    ),
    ("CAP_SYS_RAWIO", "iopl ioperm"),
    (
        "CAP_SYS_TIME",
        "settimeofday stime clock_settime clock_settime64",
    ),
    ("CAP_SYS_TTY_CONFIG", "vhangup"),
    (
        "CAP_SYS_NICE",
        "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    ),
    ("CAP_SYSLOG", "syslog"),
    ("CAP_BPF", "bpf"),
    ("CAP_PERFMON", "perf_event_open"),
];

/// Syscalls of one architecture family: (Go architecture names, syscall names).
const BY_ARCH: &[(&str, &str)] = &[
    ("ppc64le", "sync_file_range2 swapcontext"),
    (
        "arm arm64",
        "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
    ),
    ("amd64 x32", "arch_prctl"),
    ("amd64 x32 x86", "modify_ldt"),
    (
        "s390 s390x",
        "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
    ),
    ("riscv64", "riscv_flush_icache"),
];

/// The words of a white-space separated list.
fn words(list: &str) -> Vec<&str> {
    list.split_whitespace().collect()
}

/// personality(2) values a build may set: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32
/// and the query 0xffffffff; ADDR_NO_RANDOMIZE and friends are refused.
const PERSONALITIES: &[u64] = &[0, 8, 0x20000, 0x20008, 0xffff_ffff];

/// The namespace flags of clone(2) that need CAP_SYS_ADMIN: NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET.
pub const CLONE_NAMESPACES: u64 = 0x7e02_0000;

/// AF_ALG and AF_VSOCK: sockets reaching the kernel's crypto API and the hypervisor.
const REFUSED_FAMILIES: [u64; 2] = [38, 40];

fn arg(index: u32, op: Op, value: u64) -> Arg {
    Arg {
        index,
        value,
        value_two: 0,
        op,
    }
}

fn with_args(name: &str, args: Vec<Arg>) -> Rule {
    Rule {
        args: Some(args),
        ..Rule::new(&[name], Action::Allow)
    }
}

/// Rules with argument conditions: socket families, personality values, clone flags, clone3.
fn conditional() -> Vec<Rule> {
    let [alg, vsock] = REFUSED_FAMILIES;
    let mut rules = vec![
        with_args("socket", vec![arg(0, Op::Lt, alg)]),
        with_args("socket", vec![arg(0, Op::Eq, alg + 1)]),
        with_args("socket", vec![arg(0, Op::Gt, vsock)]),
    ];
    rules.extend(
        PERSONALITIES
            .iter()
            .map(|p| with_args("personality", vec![arg(0, Op::Eq, *p)])),
    );
    // Without CAP_SYS_ADMIN, clone may not make namespaces (the flags are argument 1 on s390).
    let no_admin = Filter::caps(&["CAP_SYS_ADMIN"]);
    rules.push(Rule {
        excludes: Some(Filter {
            arches: Some(vec!["s390".into(), "s390x".into()]),
            ..no_admin.clone()
        }),
        ..with_args("clone", vec![arg(0, Op::MaskedEq, CLONE_NAMESPACES)])
    });
    rules.push(Rule {
        includes: Some(Filter::arches(&["s390", "s390x"])),
        excludes: Some(no_admin.clone()),
        ..with_args("clone", vec![arg(1, Op::MaskedEq, CLONE_NAMESPACES)])
    });
    // clone3 hides its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
    rules.push(Rule {
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: Some(no_admin),
        ..Rule::new(&["clone3"], Action::Errno)
    });
    rules
}

/// Docker's default profile.
pub fn profile() -> Profile {
    let mut rules = vec![
        Rule::new(&words(ALLOWED), Action::Allow),
        Rule {
            includes: Some(Filter {
                min_kernel: Some("4.8".into()),
                ..Default::default()
            }),
            ..Rule::new(
                &["process_vm_readv", "process_vm_writev", "ptrace"],
                Action::Allow,
            )
        },
    ];
    rules.extend(conditional());
    rules.extend(BY_ARCH.iter().map(|(arches, names)| Rule {
        includes: Some(Filter::arches(&words(arches))),
        ..Rule::new(&words(names), Action::Allow)
    }));
    rules.extend(BY_CAPABILITY.iter().map(|(cap, names)| Rule {
        includes: Some(Filter::caps(&[cap])),
        ..Rule::new(&words(names), Action::Allow)
    }));
    Profile {
        default_action: Action::Errno,
        default_errno_ret: Some(libc::EPERM as u32),
        syscalls: Some(rules),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_hold_dockers_names() {
        let allowed = words(ALLOWED);
        assert_eq!(allowed.len(), 361);
        for name in [
            "accept",
            "chown32",
            "_llseek",
            "writev",
            "uretprobe",
            "mseal",
        ] {
            assert!(allowed.contains(&name), "{name}");
        }
        assert!(!allowed.contains(&"keyctl") && !allowed.contains(&"io_uring_setup"));
        let admin = BY_CAPABILITY.iter().find(|(c, _)| *c == "CAP_SYS_ADMIN");
        assert_eq!(admin.map(|(_, n)| words(n).len()), Some(26));
    }
}
