/*
 * The platform expert's work loop. xnu runs phase 2 and 3 of a termination through
 * _workLoopAction(action, service, ...) (IOService.cpp), i.e. wl->runAction(...) under the gate
 * of service->getWorkLoop(): actionWillTerminate, actionDidTerminate, actionFinalize on the
 * victim's loop, actionStop(provider, client) on the provider's. IOService::getWorkLoop returns
 * the provider's loop and IOResources::getWorkLoop returns getPlatform()->getWorkLoop(), so every
 * one of those callbacks of a driver on IOResources, and of its user clients, runs inside ONE
 * gate (an IORecursiveLock), shared with every other IOResources driver and with every runAction
 * on the platform's loop.
 *
 * The model holds that gate around each such callback, records how long each one held it, and
 * reports any sleep (IOSleep, IODelay, a deadline sleep) or kernel-clock poll inside it.
 */
#include <deque>
#include <mutex>

#include "sim.hpp"

namespace {

/* The gate: recursive, as IOWorkLoop's. Never destroyed. */
std::recursive_mutex &sGate = *new std::recursive_mutex;

struct Hold {
    std::string subject;
    const char *callback;
    uint64_t startNs;
    unsigned sleeps = 0;
    uint64_t sleptNs = 0;
    const char *firstSleep = nullptr;
    unsigned clockReads = 0;
};

thread_local std::vector<Hold> tHolds;

struct Record {
    std::string subject;
    std::string callback;
    uint64_t heldNs;
    unsigned sleeps;
};
std::mutex sRecordsLock;
std::deque<Record> sRecords;
const size_t kRecordsKept = 4096;

/* Reading the clock this often inside one callback is a poll loop. */
const unsigned kPollReads = 3;

} // namespace

void xsim_gate_run(IOService *loopOwner, IOService *subject, const char *callback,
                   const std::function<void()> &body)
{
    if (!loopOwner || !xsim_registry::usesPlatformWorkLoop(loopOwner)) {
        body();
        return;
    }
    std::lock_guard<std::recursive_mutex> gate(sGate);
    Hold hold;
    hold.subject = subject->getMetaClass()->getClassName();
    hold.callback = callback;
    hold.startNs = xsim_now_ns();
    tHolds.push_back(hold);
    body();
    Hold done = tHolds.back();
    tHolds.pop_back();
    uint64_t heldNs = xsim_now_ns() - done.startNs;
    {
        std::lock_guard<std::mutex> guard(sRecordsLock);
        sRecords.push_back({done.subject, callback, heldNs, done.sleeps});
        if (sRecords.size() > kRecordsKept) {
            sRecords.pop_front();
        }
    }
    if (done.sleeps > 0) {
        xsim_report(XSIM_VIOLATION_SLEEP_IN_GATE, done.subject, callback, heldNs,
                    "%s::%s slept inside the platform work-loop gate (%u sleep(s), first %s, "
                    "%llu ms asked in all) and held the gate for %llu ms; every other IOResources "
                    "driver waited",
                    done.subject.c_str(), callback, done.sleeps, done.firstSleep,
                    (unsigned long long)(done.sleptNs / 1000000),
                    (unsigned long long)(heldNs / 1000000));
    } else if (done.clockReads >= kPollReads) {
        xsim_report(XSIM_VIOLATION_POLL_IN_GATE, done.subject, callback, heldNs,
                    "%s::%s polled the kernel clock %u times inside the platform work-loop gate "
                    "and held it for %llu ms",
                    done.subject.c_str(), callback, done.clockReads,
                    (unsigned long long)(heldNs / 1000000));
    }
}

void xsim_gate_note_sleep(const char *what, uint64_t kernelNs)
{
    if (!tHolds.empty()) {
        Hold &hold = tHolds.back();
        if (hold.sleeps++ == 0) {
            hold.firstSleep = what;
        }
        hold.sleptNs += kernelNs;
    }
}

void xsim_gate_note_clock_read()
{
    if (!tHolds.empty()) {
        tHolds.back().clockReads++;
    }
}

void xsim_gate_reset()
{
    std::lock_guard<std::mutex> guard(sRecordsLock);
    sRecords.clear();
}

extern "C" size_t xsim_gate_hold_count(void)
{
    std::lock_guard<std::mutex> guard(sRecordsLock);
    return sRecords.size();
}

extern "C" bool xsim_gate_hold_get(size_t index, char *subject, size_t subjectCapacity,
                                   char *callback, size_t callbackCapacity, uint64_t *heldNs,
                                   uint32_t *sleeps)
{
    std::lock_guard<std::mutex> guard(sRecordsLock);
    if (index >= sRecords.size()) {
        return false;
    }
    const Record &r = sRecords[index];
    snprintf(subject, subjectCapacity, "%s", r.subject.c_str());
    snprintf(callback, callbackCapacity, "%s", r.callback.c_str());
    *heldNs = r.heldNs;
    *sleeps = r.sleeps;
    return true;
}
