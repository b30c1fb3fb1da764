/*
 * IOLib and the small kernel services: IOLog (captured for assertions), IOLock, IOMalloc,
 * current_thread, panic, plus the model's counters, its loud failures, the recorded violations
 * and the quiet/activity bookkeeping behind xsim_wait_quiet. (Time and sleeps: clock.cpp.)
 */
#include <IOKit/IOLib.h>
#include <kern/debug.h>
#include <sys/proc.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <chrono>
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

/* ---- recorded violations ---- */

namespace {
struct Violation {
    int kind;
    std::string subject;
    std::string callback;
    uint64_t heldNs;
    std::string text;
};
std::mutex sViolationsLock;
std::vector<Violation> sViolations;
std::atomic<bool> sShuttingDown{false};

size_t copyOut(const std::string &from, char *buffer, size_t capacity)
{
    if (buffer && capacity > 0) {
        size_t n = from.size() < capacity - 1 ? from.size() : capacity - 1;
        memcpy(buffer, from.data(), n);
        buffer[n] = '\0';
    }
    return from.size();
}
} // namespace

void xsim_report(int kind, const std::string &subject, const std::string &callback, uint64_t heldNs,
                 const char *format, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    if (sShuttingDown.load()) {
        fprintf(stderr, "xnu-sim: (during the model's shutdown) %s\n", text);
        return;
    }
    fprintf(stderr, "xnu-sim: VIOLATION: %s\n", text);
    std::lock_guard<std::mutex> guard(sViolationsLock);
    sViolations.push_back({kind, subject, callback, heldNs, text});
}

void xsim_set_shutting_down(bool shuttingDown) { sShuttingDown.store(shuttingDown); }

void xsim_violations_reset()
{
    std::lock_guard<std::mutex> guard(sViolationsLock);
    sViolations.clear();
}

extern "C" size_t xsim_violation_count(void)
{
    std::lock_guard<std::mutex> guard(sViolationsLock);
    return sViolations.size();
}

extern "C" size_t xsim_violation_get(size_t index, int *kind, uint64_t *heldNs, char *subject,
                                     size_t subjectCapacity, char *callback,
                                     size_t callbackCapacity, char *text, size_t textCapacity)
{
    std::lock_guard<std::mutex> guard(sViolationsLock);
    if (index >= sViolations.size()) {
        return 0;
    }
    const Violation &v = sViolations[index];
    *kind = v.kind;
    *heldNs = v.heldNs;
    copyOut(v.subject, subject, subjectCapacity);
    copyOut(v.callback, callback, callbackCapacity);
    return copyOut(v.text, text, textCapacity);
}

extern "C" void xsim_violations_drop(size_t count)
{
    std::lock_guard<std::mutex> guard(sViolationsLock);
    sViolations.erase(sViolations.begin(),
                      sViolations.begin() + (long)(count < sViolations.size() ? count : sViolations.size()));
}

/* ---- quiet: activity counts and the registry's busy count ---- */

namespace {
std::mutex sQuietLock;
std::condition_variable sQuietChanged;
std::atomic<int> sActivity{0};
} // namespace

void xsim_activity_begin() { sActivity.fetch_add(1); }

void xsim_activity_end()
{
    if (sActivity.fetch_sub(1) <= 0) {
        xsim_violation("model activity ended twice");
    }
    xsim_quiet_changed();
}

void xsim_quiet_changed()
{
    std::lock_guard<std::mutex> guard(sQuietLock);
    sQuietChanged.notify_all();
}

bool xsim_model_quiet()
{
    return sActivity.load() == 0 && xsim_registry::rootBusy() == 0 && xsim_terminate_idle() &&
           xsim_thread_calls_idle();
}

extern "C" bool xsim_wait_quiet(uint32_t timeoutMs)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        /* The predicate takes other modules' locks: never under sQuietLock. */
        if (xsim_model_quiet()) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::unique_lock<std::mutex> held(sQuietLock);
        sQuietChanged.wait_for(held, std::chrono::milliseconds(2));
    }
}

#if defined(__SANITIZE_ADDRESS__)
#define XSIM_SANITIZER 1
#elif defined(__SANITIZE_THREAD__)
#define XSIM_SANITIZER 2
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XSIM_SANITIZER 1
#elif __has_feature(thread_sanitizer)
#define XSIM_SANITIZER 2
#endif
#endif
#ifndef XSIM_SANITIZER
#define XSIM_SANITIZER 0
#endif

extern "C" int xsim_sanitizer(void) { return XSIM_SANITIZER; }

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

/* ---- threads ---- */

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
