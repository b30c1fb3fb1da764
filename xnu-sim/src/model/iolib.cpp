/*
 * IOLib and the small kernel services: IOLog (captured for assertions), IOSleep, IOLock,
 * IOMalloc, Mach time, current_thread, panic, proc_self*, plus the model's counters and its
 * loud failures.
 */
#include <IOKit/IOLib.h>
#include <kern/debug.h>
#include <sys/proc.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "sim.hpp"

/* ---- loud failures ---- */

void xsim_unmodelled(const char *what)
{
    fprintf(stderr, "xnu-sim: %s is not modelled by the simulator\n", what);
    fflush(stderr);
    abort();
}

void xsim_violation(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fprintf(stderr, "xnu-sim: kernel rule broken: ");
    vfprintf(stderr, format, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}

extern "C" void panic(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fprintf(stderr, "xnu-sim: panic: ");
    vfprintf(stderr, format, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}

/* ---- counters ---- */

static std::mutex sCountersLock;
static std::map<std::string, uint64_t> sCounters;

void xsim_count(const std::string &name, uint64_t by)
{
    std::lock_guard<std::mutex> guard(sCountersLock);
    sCounters[name] += by;
}

void xsim_counters_reset()
{
    std::lock_guard<std::mutex> guard(sCountersLock);
    sCounters.clear();
}

extern "C" uint64_t xsim_counter(const char *name)
{
    std::lock_guard<std::mutex> guard(sCountersLock);
    auto found = sCounters.find(name ? name : "");
    return found == sCounters.end() ? 0 : found->second;
}

/* ---- IOLog ---- */

static std::mutex sLogLock;
static std::vector<std::string> sLog;
static const bool sEchoLog = getenv("XNU_SIM_LOG") != nullptr;

extern "C" void IOLogv(const char *format, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof(line), format, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') {
        line[--n] = '\0';
    }
    if (sEchoLog) {
        fprintf(stderr, "[IOLog] %s\n", line);
    }
    std::lock_guard<std::mutex> guard(sLogLock);
    sLog.emplace_back(line);
}

extern "C" void IOLog(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    IOLogv(format, ap);
    va_end(ap);
}

void xsim_log_reset()
{
    std::lock_guard<std::mutex> guard(sLogLock);
    sLog.clear();
}

extern "C" size_t xsim_log_count(void)
{
    std::lock_guard<std::mutex> guard(sLogLock);
    return sLog.size();
}

extern "C" size_t xsim_log_line(size_t index, char *buffer, size_t capacity)
{
    std::lock_guard<std::mutex> guard(sLogLock);
    if (index >= sLog.size()) {
        return 0;
    }
    const std::string &line = sLog[index];
    if (capacity > 0) {
        size_t n = line.size() < capacity - 1 ? line.size() : capacity - 1;
        memcpy(buffer, line.data(), n);
        buffer[n] = '\0';
    }
    return line.size();
}

/* ---- time and threads ---- */

extern "C" void IOSleep(unsigned milliseconds)
{
    std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}

extern "C" void IODelay(unsigned microseconds)
{
    std::this_thread::sleep_for(std::chrono::microseconds(microseconds));
}

/* The timebase is 1 ns, as on Apple silicon's translated x86 and most Intel Macs. */
extern "C" uint64_t mach_absolute_time(void)
{
    return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

extern "C" void absolutetime_to_nanoseconds(uint64_t abstime, uint64_t *result)
{
    *result = abstime;
}

static thread_local char tThreadIdentity;

extern "C" thread_t current_thread(void) { return reinterpret_cast<thread_t>(&tThreadIdentity); }

/* ---- memory ---- */

extern "C" void *IOMalloc(size_t size) { return malloc(size ? size : 1); }
extern "C" void *IOMallocZero(size_t size) { return calloc(1, size ? size : 1); }
extern "C" void IOFree(void *address, size_t) { free(address); }

/* ---- IOLock ---- */

struct _IOLock {
    std::mutex mutex;
};

extern "C" IOLock *IOLockAlloc(void) { return new _IOLock; }
extern "C" void IOLockFree(IOLock *lock) { delete lock; }
extern "C" void IOLockLock(IOLock *lock) { lock->mutex.lock(); }
extern "C" boolean_t IOLockTryLock(IOLock *lock) { return lock->mutex.try_lock() ? TRUE : FALSE; }
extern "C" void IOLockUnlock(IOLock *lock) { lock->mutex.unlock(); }
