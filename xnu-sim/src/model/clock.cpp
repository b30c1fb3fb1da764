/*
 * Kernel time. mach_absolute_time (timebase 1 ns), IOSleep, IODelay, every deadline of the model
 * and the delayed thread calls run on one clock: XSIM_TIME_FACTOR times the host's steady clock
 * since boot, plus what the test advanced. The factor is the same everywhere, so every
 * relationship between the driver's own durations (a 1000 ms grace against a 5000 ms drain
 * bound, a 60 s autounload delay) is the kernel's; only the host's share shrinks.
 *
 * The timer thread fires kernel-time events in deadline order: delayed thread calls and the busy
 * desktop. The desktop models a logged-in machine: updateConsoleUsers publishes the
 * IOConsoleUsersSeed resource (IOService.cpp: `publishResource( gIOConsoleUsersSeedKey, ... )`)
 * on every console user or screen-lock change, which re-registers IOResources and so re-runs
 * matching of every personality on it. Default schedule: a publish every 5 s for 30 s, then 75 s
 * without, repeating from boot; each publish is a registry busy/quiet edge, and xnu restarts the
 * 60 s autounload countdown at every quiet edge (OSKext::considerUnloads from _adjustBusy), so a
 * kext can autounload only in a quiet gap of at least 60 s.
 *
 * advance_clock steps through the events one by one (time jumps to the next, the event fires,
 * the model goes quiet) so that every countdown is restarted at the kernel time its edge happens.
 */
#include <IOKit/IOLib.h>
#include <libkern/c++/OSNumber.h>

#include <chrono>
#include <map>
#include <thread>

#include "sim.hpp"

namespace {

const uint64_t kFactor = XSIM_TIME_FACTOR;
const uint64_t kMs = 1000ull * 1000;
const uint64_t kSecond = 1000 * kMs;
/* A kernel-time wait notices a clock jump within this much host time. */
const auto kJumpSlice = std::chrono::milliseconds(2);

uint64_t hostNs()
{
    return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::atomic<uint64_t> sHostBootNs{hostNs()};
std::atomic<uint64_t> sOffsetNs{0};

/* Never destroyed: the timer thread waits on them until the process exits. */
std::mutex &sTimerLock = *new std::mutex;
std::condition_variable &sTimerChanged = *new std::condition_variable;
std::condition_variable &sClockChanged = *new std::condition_variable;

struct Timer {
    uint64_t id;
    void (*fire)(void *);
    void (*drop)(void *);
    void *arg;
};
/* deadline -> timer, in deadline order (ties in order of entry). */
std::multimap<uint64_t, Timer> sTimers;
uint64_t sNextTimer = 1;
bool sFiring = false;

struct Desktop {
    bool on = false;
    uint64_t everyNs = 0;
    uint64_t burstNs = 0;
    uint64_t quietNs = 0;
    uint64_t nextAt = 0; /* kernel time of the next publish */
    uint32_t seed = 0;
};
Desktop sDesktop;

/* The first scheduled publish at or after kernel time x. */
uint64_t desktopAtOrAfter(const Desktop &d, uint64_t x)
{
    uint64_t period = d.burstNs + d.quietNs;
    uint64_t base = x / period * period;
    uint64_t k = (x - base + d.everyNs - 1) / d.everyNs;
    if (k * d.everyNs <= d.burstNs) {
        return base + k * d.everyNs;
    }
    return base + period;
}

/* The earliest event (timer or desktop) and whether there is one. */
bool nextEvent(uint64_t *when)
{
    bool any = false;
    if (!sTimers.empty()) {
        *when = sTimers.begin()->first;
        any = true;
    }
    if (sDesktop.on && (!any || sDesktop.nextAt < *when)) {
        *when = sDesktop.nextAt;
        any = true;
    }
    return any;
}

void desktopPublish(uint32_t seed)
{
    /* updateConsoleUsers: publishResource(gIOConsoleUsersSeedKey, gIOConsoleUsersSeedValue). */
    OSNumber *value = OSNumber::withNumber(seed, 64);
    IOService::publishResource("IOConsoleUsersSeed", value);
    value->release();
    xsim_count("desktop.publishes");
}

void timerMain()
{
    std::unique_lock<std::mutex> held(sTimerLock);
    for (;;) {
        uint64_t when = 0;
        bool any = nextEvent(&when);
        uint64_t now = xsim_now_ns();
        if (any && when <= now) {
            sFiring = true;
            bool desktop = sDesktop.on && sDesktop.nextAt == when &&
                           (sTimers.empty() || when < sTimers.begin()->first);
            if (desktop) {
                sDesktop.nextAt = desktopAtOrAfter(sDesktop, when + 1);
                uint32_t seed = ++sDesktop.seed;
                xsim_activity_begin();
                held.unlock();
                desktopPublish(seed);
                xsim_activity_end();
                held.lock();
            } else {
                auto first = sTimers.begin();
                Timer timer = first->second;
                sTimers.erase(first);
                xsim_activity_begin();
                held.unlock();
                timer.fire(timer.arg);
                xsim_activity_end();
                held.lock();
            }
            sFiring = false;
            sTimerChanged.notify_all();
            continue;
        }
        if (any) {
            uint64_t hostWait = (when - now) / kFactor + 1;
            sTimerChanged.wait_for(held, std::chrono::nanoseconds(hostWait));
        } else {
            sTimerChanged.wait(held);
        }
    }
}

void jump(uint64_t ns)
{
    sOffsetNs.fetch_add(ns);
    sTimerChanged.notify_all();
    sClockChanged.notify_all();
}

} // namespace

uint64_t xsim_now_ns()
{
    return (hostNs() - sHostBootNs.load()) * kFactor + sOffsetNs.load();
}

void xsim_clock_boot()
{
    std::lock_guard<std::mutex> guard(sTimerLock);
    sHostBootNs.store(hostNs());
    sOffsetNs.store(0);
}

bool xsim_wait_until_ns(std::unique_lock<std::mutex> &held, std::condition_variable &cv,
                        uint64_t deadlineNs, const std::function<bool()> &pred)
{
    for (;;) {
        if (pred()) {
            return true;
        }
        uint64_t now = xsim_now_ns();
        if (now >= deadlineNs) {
            return pred();
        }
        auto hostWait = std::chrono::nanoseconds((deadlineNs - now) / kFactor + 1);
        cv.wait_for(held, hostWait < kJumpSlice ? hostWait : std::chrono::nanoseconds(kJumpSlice));
    }
}

uint64_t xsim_timer_add(uint64_t deadlineNs, void (*fire)(void *), void (*drop)(void *), void *arg)
{
    std::lock_guard<std::mutex> guard(sTimerLock);
    uint64_t id = sNextTimer++;
    sTimers.emplace(deadlineNs, Timer{id, fire, drop, arg});
    sTimerChanged.notify_all();
    return id;
}

bool xsim_timer_cancel(uint64_t id)
{
    std::lock_guard<std::mutex> guard(sTimerLock);
    for (auto it = sTimers.begin(); it != sTimers.end(); ++it) {
        if (it->second.id == id) {
            if (it->second.drop) {
                it->second.drop(it->second.arg);
            }
            sTimers.erase(it);
            sTimerChanged.notify_all();
            return true;
        }
    }
    return false;
}

void xsim_timers_reset()
{
    std::lock_guard<std::mutex> guard(sTimerLock);
    for (auto &entry : sTimers) {
        if (entry.second.drop) {
            entry.second.drop(entry.second.arg);
        }
    }
    sTimers.clear();
    sDesktop = Desktop();
}

void xsim_timer_thread_start()
{
    static std::once_flag started;
    std::call_once(started, [] { std::thread(timerMain).detach(); });
}

static void desktopSet(uint64_t everyNs, uint64_t burstNs, uint64_t quietNs)
{
    std::lock_guard<std::mutex> guard(sTimerLock);
    uint32_t seed = sDesktop.seed;
    sDesktop = Desktop();
    sDesktop.seed = seed;
    if (everyNs != 0) {
        sDesktop.on = true;
        sDesktop.everyNs = everyNs;
        sDesktop.burstNs = burstNs;
        sDesktop.quietNs = quietNs;
        /* The schedule runs from kernel time 0; publishes before now are not replayed. */
        sDesktop.nextAt = desktopAtOrAfter(sDesktop, xsim_now_ns());
    }
    sTimerChanged.notify_all();
}

void xsim_desktop_default() { desktopSet(5 * kSecond, 30 * kSecond, 75 * kSecond); }
void xsim_desktop_off() { desktopSet(0, 0, 0); }

extern "C" void xsim_desktop_set(uint64_t everyMs, uint64_t burstMs, uint64_t quietMs)
{
    if (everyMs != 0 && (burstMs < everyMs || burstMs + quietMs == 0)) {
        xsim_violation("desktop schedule: a burst must hold at least one interval");
    }
    desktopSet(everyMs * kMs, burstMs * kMs, quietMs * kMs);
}

extern "C" uint64_t xsim_now(void) { return xsim_now_ns(); }

extern "C" void xsim_jump_clock_ns(uint64_t nanoseconds)
{
    std::lock_guard<std::mutex> guard(sTimerLock);
    jump(nanoseconds);
}

extern "C" void xsim_advance_clock_ns(uint64_t nanoseconds)
{
    xsim_wait_quiet(30000);
    uint64_t target = xsim_now_ns() + nanoseconds;
    for (;;) {
        uint64_t step;
        {
            std::unique_lock<std::mutex> held(sTimerLock);
            uint64_t now = xsim_now_ns();
            uint64_t when = 0;
            if (!nextEvent(&when) || when > target) {
                if (target > now) {
                    jump(target - now);
                }
                break;
            }
            if (when > now) {
                jump(when - now);
            }
            step = when;
            /* The timer thread fires everything due up to `step`. */
            sTimerChanged.wait_for(held, std::chrono::seconds(30), [step] {
                uint64_t next = 0;
                return !sFiring && (!nextEvent(&next) || next > step);
            });
        }
        xsim_wait_quiet(30000);
    }
    xsim_wait_quiet(30000);
}

/* ---- the kernel's clock and sleeps ---- */

/* The timebase is 1 ns, as on Intel Macs. */
extern "C" uint64_t mach_absolute_time(void)
{
    xsim_gate_note_clock_read();
    return xsim_now_ns();
}

extern "C" void absolutetime_to_nanoseconds(uint64_t abstime, uint64_t *result) { *result = abstime; }

extern "C" void nanoseconds_to_absolutetime(uint64_t nanoseconds, uint64_t *result)
{
    *result = nanoseconds;
}

extern "C" void clock_interval_to_deadline(uint32_t interval, uint32_t scaleFactor, uint64_t *result)
{
    *result = xsim_now_ns() + (uint64_t)interval * scaleFactor;
}

static void sleepKernelNs(uint64_t ns)
{
    uint64_t deadline = xsim_now_ns() + ns;
    /* Counted once the deadline is fixed: a driver of the model that jumps the clock by
     * `sleep.ns` after seeing `sleep.started` grow ends exactly this sleep (fuzz/sim). */
    xsim_count("sleep.ns", ns);
    xsim_count("sleep.started");
    {
        std::unique_lock<std::mutex> held(sTimerLock);
        while (xsim_now_ns() < deadline) {
            uint64_t left = deadline - xsim_now_ns();
            sClockChanged.wait_for(held, std::chrono::nanoseconds(left / kFactor + 1));
        }
    }
    xsim_kauth_wait_earlier_stragglers(deadline);
}

extern "C" void IOSleep(unsigned milliseconds)
{
    xsim_gate_note_sleep("IOSleep", (uint64_t)milliseconds * kMs);
    sleepKernelNs((uint64_t)milliseconds * kMs);
}

/* xnu's delay() spins; the model sleeps the same kernel time (a spin or a sleep inside the
 * platform gate is the same violation). */
extern "C" void IODelay(unsigned microseconds)
{
    xsim_gate_note_sleep("IODelay", (uint64_t)microseconds * 1000);
    sleepKernelNs((uint64_t)microseconds * 1000);
}
