/*
 * One CPU and fixed-priority kernel threads.
 *
 * xnu's kernel threads run at fixed priority (TH_MODE_FIXED for threads of kernel_task,
 * sched_*_initial_thread_sched_mode): the terminate worker at BASEPRI_KERNEL 81
 * (kernel_thread_start(&terminateThread, ...)), the matching thread likewise, and thread calls of
 * the "high" group at BASEPRI_PREEMPT_HIGH 93 (thread_call.c, thread_call_allocate's group);
 * user threads run at 63 or below. On a one-CPU machine such a thread, once runnable, preempts a
 * user thread wherever it is, and the user thread runs again only when the kernel thread blocks
 * or finishes. A lock that spins with preemption enabled therefore livelocks: the kernel thread
 * spins on a lock held by the user thread it preempted.
 *
 * One-CPU mode: when a fixed-priority model thread starts a job it first preempts every
 * registered user thread at an arbitrary point (a signal whose handler parks the thread on a
 * futex). A monitor thread resumes them as soon as every running job's thread is blocked (its
 * state in /proc/self/task/<tid>/stat is not 'R': waiting on a futex, sleeping) or the jobs are
 * done, and preempts them again when a job's thread is runnable again. If a job's thread instead consumes kLivelockCpu of CPU time without blocking while they
 * are parked, that is a livelock: reported, then the user threads are resumed so the test ends.
 *
 * The handler and the monitor never allocate and take no lock a parked thread could hold (a
 * parked thread may be inside malloc, or inside any model lock: a job thread that needs one of
 * those blocks, and blocking releases the parked threads, as one CPU would).
 */
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "sim.hpp"

namespace {

const int kSlots = 16;
const int kJobs = 16;
/* CPU time a job's thread may burn without blocking while user threads are parked. */
const uint64_t kLivelockCpuNs = 250ull * 1000 * 1000;
const uint64_t kLivelockWallNs = 300ull * 1000 * 1000;

struct Victim {
    std::atomic<pid_t> tid{0};
    std::atomic<uint32_t> parkedGen{0};
    std::atomic<bool> inHandler{false};
};

struct Job {
    std::atomic<bool> active{false};
    pid_t tid = 0;
    clockid_t cpuClock = 0;
    const char *what = nullptr;
    int priority = 0;
    uint64_t cpuAtPark = 0;
    bool livelocked = false; /* reported: the user threads run on (the test must end) */
};

Victim sVictims[kSlots];
Job sJobs[kJobs];
std::atomic<bool> sOneCpu{false};
/* Fixed threads and the monitor only; a parked user thread never holds it. */
std::mutex &sCpuLock = *new std::mutex;
std::atomic<uint32_t> sParkGen{0};
std::atomic<uint32_t> sResumeGen{0};
bool sParked = false;          /* under sCpuLock */
/* A livelock found and the user threads resumed, its report not yet recorded. */
std::atomic<bool> sReportPending{false};
uint64_t sParkedAtWallNs = 0;  /* under sCpuLock */
int sParkSignal = 0;

thread_local int tVictimSlot = -1;

uint64_t wallNs()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cpuNs(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long futex(std::atomic<uint32_t> *word, int op, uint32_t value)
{
    return syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), op, value, nullptr, nullptr, 0);
}

/* The preemption point: runs on the user thread, anywhere. Async-signal-safe. */
void parkHandler(int)
{
    int saved = errno;
    int slot = tVictimSlot;
    if (slot >= 0) {
        Victim &v = sVictims[slot];
        uint32_t target = sParkGen.load();
        v.inHandler.store(true);
        v.parkedGen.store(target);
        for (;;) {
            uint32_t resumed = sResumeGen.load();
            if ((int32_t)(resumed - target) >= 0) {
                break;
            }
            futex(&sResumeGen, FUTEX_WAIT_PRIVATE, resumed);
        }
        v.inHandler.store(false);
    }
    errno = saved;
}

/* 'R' (running or runnable) or another state letter; 0 if unreadable. */
char threadState(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    char buffer[512];
    ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buffer[n] = '\0';
    char *paren = strrchr(buffer, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* Called with sCpuLock held. */
void resumeLocked()
{
    if (!sParked) {
        return;
    }
    sParked = false;
    sResumeGen.store(sParkGen.load());
    futex(&sResumeGen, FUTEX_WAKE_PRIVATE, INT32_MAX);
}

/* Called with sCpuLock held: by a job's thread when it starts, or by the monitor when a job's
 * thread that had blocked runs again (one CPU: it preempts the user threads again). */
void parkLocked()
{
    if (sParked) {
        return;
    }
    for (Job &job : sJobs) {
        if (job.active.load()) {
            job.cpuAtPark = cpuNs(job.cpuClock);
        }
    }
    uint32_t target = sParkGen.fetch_add(1) + 1;
    pid_t me = (pid_t)syscall(SYS_gettid);
    int signalled[kSlots];
    int count = 0;
    for (int i = 0; i < kSlots; i++) {
        pid_t tid = sVictims[i].tid.load();
        if (tid != 0 && tid != me) {
            if (syscall(SYS_tgkill, getpid(), tid, sParkSignal) == 0) {
                signalled[count++] = i;
            }
        }
    }
    sParked = true;
    sParkedAtWallNs = wallNs();
    /* The preempted threads are off the CPU once each is in the handler. */
    uint64_t deadline = wallNs() + 200ull * 1000 * 1000;
    for (int k = 0; k < count; k++) {
        Victim &v = sVictims[signalled[k]];
        while (v.tid.load() != 0 && (int32_t)(v.parkedGen.load() - target) < 0 && wallNs() < deadline) {
            struct timespec pause = {0, 20000};
            nanosleep(&pause, nullptr);
        }
    }
}

void monitorMain()
{
    for (;;) {
        struct timespec tick = {0, 1000000};
        nanosleep(&tick, nullptr);
        if (!sOneCpu.load()) {
            continue;
        }
        char livelock[256] = "";
        {
            std::lock_guard<std::mutex> guard(sCpuLock);
            if (!sParked) {
                /* A job's thread that blocked (so the user threads ran) and is runnable again
                 * takes the one CPU back, wherever the user threads are now. */
                for (Job &job : sJobs) {
                    if (job.active.load() && !job.livelocked && threadState(job.tid) == 'R') {
                        xsim_count("cpu.preemptions");
                        parkLocked();
                        break;
                    }
                }
                continue;
            }
            bool anyRunning = false;
            for (Job &job : sJobs) {
                if (!job.active.load()) {
                    continue;
                }
                if (threadState(job.tid) != 'R') {
                    continue; /* blocked: the CPU is free for the preempted threads */
                }
                anyRunning = true;
                uint64_t burnt = cpuNs(job.cpuClock) - job.cpuAtPark;
                if (burnt >= kLivelockCpuNs && wallNs() - sParkedAtWallNs >= kLivelockWallNs) {
                    job.livelocked = true;
                    snprintf(livelock, sizeof(livelock),
                             "%s (fixed priority %d) ran %llu ms of CPU without blocking while the "
                             "user thread(s) it preempted waited: a livelock on one CPU",
                             job.what, job.priority, (unsigned long long)(burnt / 1000000));
                }
            }
            if (livelock[0]) {
                sReportPending.store(true);
            }
            if (!anyRunning || livelock[0]) {
                resumeLocked();
            }
        }
        /* Reported once the user threads run again (a parked one may hold any lock);
         * xsim_cpu_set_one_cpu(false) waits for it, so the test sees it. */
        if (livelock[0]) {
            xsim_report(XSIM_VIOLATION_LIVELOCK, "one CPU", "fixed-priority thread", 0, "%s",
                        livelock);
            xsim_count("cpu.livelocks");
            sReportPending.store(false);
        }
    }
}

void installOnce()
{
    static std::once_flag once;
    std::call_once(once, [] {
        sParkSignal = SIGRTMIN + 5;
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = parkHandler;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        sigaction(sParkSignal, &action, nullptr);
        std::thread(monitorMain).detach();
    });
}

} // namespace

xsim_cpu_job::xsim_cpu_job(const char *what, int priority) : slot(-1)
{
    if (!sOneCpu.load()) {
        return;
    }
    std::lock_guard<std::mutex> guard(sCpuLock);
    for (int i = 0; i < kJobs; i++) {
        if (!sJobs[i].active.load()) {
            Job &job = sJobs[i];
            job.tid = (pid_t)syscall(SYS_gettid);
            pthread_getcpuclockid(pthread_self(), &job.cpuClock);
            job.what = what;
            job.priority = priority;
            job.cpuAtPark = cpuNs(job.cpuClock);
            job.livelocked = false;
            job.active.store(true);
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        xsim_unmodelled("more than 16 fixed-priority jobs at once");
    }
    xsim_count("cpu.preemptions");
    parkLocked();
}

xsim_cpu_job::~xsim_cpu_job()
{
    if (slot < 0) {
        return;
    }
    std::lock_guard<std::mutex> guard(sCpuLock);
    sJobs[slot].active.store(false);
    bool anyActive = false;
    for (Job &job : sJobs) {
        anyActive |= job.active.load();
    }
    if (!anyActive) {
        resumeLocked();
    }
}

void xsim_cpu_reset()
{
    sOneCpu.store(false);
    std::lock_guard<std::mutex> guard(sCpuLock);
    resumeLocked();
}

extern "C" void xsim_cpu_set_one_cpu(bool oneCpu)
{
    if (oneCpu) {
        if (xsim_sanitizer() == 2) {
            xsim_unmodelled("one-CPU mode under ThreadSanitizer (it defers signals to safe points)");
        }
        installOnce();
    }
    sOneCpu.store(oneCpu);
    if (!oneCpu) {
        {
            std::lock_guard<std::mutex> guard(sCpuLock);
            resumeLocked();
        }
        /* A livelock the monitor found is in the violations once this returns (bounded). */
        for (int i = 0; i < 5000 && sReportPending.load(); i++) {
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, nullptr);
        }
    }
}

extern "C" bool xsim_cpu_register_user_thread(void)
{
    installOnce();
    /* Not preemptible while it changes the table: a fixed thread reads it under sCpuLock. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, sParkSignal);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    bool ok = false;
    {
        std::lock_guard<std::mutex> guard(sCpuLock);
        pid_t me = (pid_t)syscall(SYS_gettid);
        for (int i = 0; i < kSlots; i++) {
            if (sVictims[i].tid.load() == 0) {
                sVictims[i].parkedGen.store(sParkGen.load());
                tVictimSlot = i;
                sVictims[i].tid.store(me);
                ok = true;
                break;
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return ok;
}

extern "C" void xsim_cpu_unregister_user_thread(void)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, sParkSignal);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    {
        std::lock_guard<std::mutex> guard(sCpuLock);
        if (tVictimSlot >= 0) {
            sVictims[tVictimSlot].tid.store(0);
            tVictimSlot = -1;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}
