/*
 * Internals shared by the model's translation units (never included by the shim).
 */
#ifndef XNU_SIM_MODEL_SIM_HPP
#define XNU_SIM_MODEL_SIM_HPP

#include <IOKit/IOService.h>
#include <IOKit/IOUserClient.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "xsim.h"

/* Aborts the process naming what the model does not cover. */
[[noreturn]] void xsim_unmodelled(const char *what);
/* Aborts the process: an impossibility inside the model itself (a model bug, or a test that
 * drives the model against its own rules). Driver-facing kernel rules are xsim_report()ed. */
[[noreturn]] void xsim_violation(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* A kernel rule the code under test broke (XSIM_VIOLATION_* of xsim.h): recorded, read and taken
 * by the Rust API; a Kernel dropped with violations not taken panics. `subject` is the class or
 * module, `callback` the method or hook, `heldNs` how long the platform gate was held (or 0). */
void xsim_report(int kind, const std::string &subject, const std::string &callback, uint64_t heldNs,
                 const char *format, ...) __attribute__((format(printf, 5, 6)));
/* While the model shuts the world down (Kernel drop), reports go to stderr only. */
void xsim_set_shutting_down(bool shuttingDown);
void xsim_violations_reset();

/* Named event counters (xsim_counter reads them). */
void xsim_count(const std::string &name, uint64_t by = 1);

/* The flavour chosen at boot (XSIM_FLAVOR_*). */
int xsim_flavor();
inline bool xsim_catalina() { return xsim_flavor() == XSIM_FLAVOR_CATALINA; }

/* ---- the kernel clock (clock.cpp) ----
 * Kernel time runs XSIM_TIME_FACTOR times faster than the host's steady clock, plus whatever the
 * test advanced; it starts at 0 at boot. Every kernel-time wait of the model goes through here. */
uint64_t xsim_now_ns();
void xsim_clock_boot();
/* Waits on `cv` (with `held` locked) until `pred` or kernel time `deadlineNs`; a clock jump is
 * noticed within 2 ms of host time. Returns pred(). */
bool xsim_wait_until_ns(std::unique_lock<std::mutex> &held, std::condition_variable &cv,
                        uint64_t deadlineNs, const std::function<bool()> &pred);
/* Kernel-time timers (delayed thread calls). fire() runs on the timer thread; drop() frees arg
 * of a timer cancelled (or dropped at boot) before it fired. */
uint64_t xsim_timer_add(uint64_t deadlineNs, void (*fire)(void *), void (*drop)(void *), void *arg);
bool xsim_timer_cancel(uint64_t id);
void xsim_timers_reset();
void xsim_timer_thread_start();
void xsim_desktop_default();
void xsim_desktop_off();

/* ---- model activity, for xsim_wait_quiet ----
 * Anything queued or running that a test may wait for (thread calls, terminate work, load
 * requests, desktop publishes) holds an activity count; the registry's busy count is the other
 * half of "quiet". Changes are announced with xsim_quiet_changed(). */
void xsim_activity_begin();
void xsim_activity_end();
void xsim_quiet_changed();
bool xsim_model_quiet();

/* ---- the platform expert's work loop (gate.cpp) ----
 * Runs `callback` of `subject` through the work loop of `loopOwner` (xnu's _workLoopAction):
 * inside the platform gate when loopOwner is IOResources or one of its descendants
 * (IOResources::getWorkLoop returns the platform's loop; IOService::getWorkLoop the provider's). */
void xsim_gate_run(IOService *loopOwner, IOService *subject, const char *callback,
                   const std::function<void()> &body);
/* Sleeps, spins and clock reads inside a gated callback are violations (gate.cpp records them). */
void xsim_gate_note_sleep(const char *what, uint64_t kernelNs);
void xsim_gate_note_clock_read();
void xsim_gate_reset();

/* ---- one CPU and fixed-priority kernel threads (cpu.cpp) ---- */
/* RAII around one job of a fixed-priority model thread (terminate worker 81, thread call 93,
 * matching 81): in one-CPU mode it preempts the registered user threads first. */
struct xsim_cpu_job {
    xsim_cpu_job(const char *what, int priority);
    ~xsim_cpu_job();
    xsim_cpu_job(const xsim_cpu_job &) = delete;
    void operator=(const xsim_cpu_job &) = delete;
    int slot;
};
void xsim_cpu_reset();

/* The task the current thread acts for (set around user-space entry points). */
struct xsim_task;
xsim_task *xsim_current_task();
struct xsim_task_scope {
    explicit xsim_task_scope(xsim_task *task);
    ~xsim_task_scope();
    xsim_task *previous;
};

/* Per-entry property table and identity. */
struct xsim_entry {
    std::mutex lock;
    OSDictionary *properties = nullptr;
    uint64_t id = 0;
};

struct xsim_connection;

/* Per-service registry state, guarded by xsim_registry::lock() (xnu: __state[0..1] under
 * lockForArbitration). */
struct xsim_service {
    IOService *provider = nullptr;
    std::vector<IOService *> clients;
    bool inactive = false;
    bool started = false;
    bool registered = false;
    unsigned stops = 0;
    /* terminate: kIOServiceRecursing, kIOServiceTermPhase1/2/3State, kIOServiceFinalized */
    bool recursing = false;
    bool termPhase1 = false;
    bool termPhase2 = false;
    bool termPhase3 = false;
    bool finalized = false;
    /* kIOServiceStartState (setTerminateDefer): defers the provider's phase 2 */
    bool startState = false;
    /* matching: kIOServiceNeedConfigState, kIOServiceConfigRunning */
    bool needConfig = false;
    bool configRunning = false;
    /* kIOServiceBusyStateMask */
    int busy = 0;
    /* User clients: the connection (port) that refers to it, until destroyUserReferences. */
    xsim_connection *connection = nullptr;
};

struct xsim_registry {
    static std::recursive_mutex &lock();
    static xsim_service &state(const IOService *service) { return *service->fService; }
    static xsim_entry &entry(const IORegistryEntry *e) { return *e->fEntry; }
    /* The nub drivers on IOResources attach to (gIOResources). */
    static IOService *resources();
    /* Every registered, active service whose class is or derives from className. */
    static std::vector<IOService *> copyMatching(const char *className);
    /* Every service in the service plane whose CFBundleIdentifier property equals bundleID,
     * inactive ones included (IOCatalogue::terminateDrivers walks them all). Retained. */
    static std::vector<IOService *> copyServicesOfBundle(const char *bundleID);
    /* Changes with every attach and detach (IORegistryIterator validity). */
    static uint64_t generation();
    /* IOService::_adjustBusy: the busy count of `service`, propagated to its providers and to
     * the registry root on each 0<->1 edge; the root's quiet edge calls considerUnloads. */
    static void adjustBusy(IOService *service, int delta);
    static int rootBusy();
    /* Whether service's work loop is the platform's (it is IOResources or attached below it). */
    static bool usesPlatformWorkLoop(IOService *service);
    static void reset();
};

/* kIOServiceRecursing (xnu's IOServicePrivate.h): phase 1 passes it to terminateClient. */
enum { kXsimServiceRecursing = 0x00100000 };

/* The boot's hold on the registry root ends (IOService::iokitDaemonLaunched). */
void xsim_registry_boot_done();

/* terminatePhase1 waiting for another thread's phase 1 on the same victim (registry.cpp). */
void xsim_registry_terminate_wait_phase1(IOService *victim);
void xsim_registry_phase1_done();

/* Termination (terminate.cpp). */
bool xsim_terminate_phase1(IOService *victim, IOOptionBits options);
void xsim_terminate_schedule_phase2(IOService *victim, IOOptionBits options);
void xsim_terminate_schedule_stop(IOService *client, IOService *provider);
void xsim_terminate_schedule_finalize(IOService *victim);
void xsim_terminate_start_worker();
bool xsim_terminate_idle();
void xsim_terminate_reset();

/* Matching and the IOCatalogue (catalogue.cpp). */
/* IOService::startMatching: queues a matching job for `service` on the config thread. */
void xsim_start_matching(IOService *service);
void xsim_catalogue_add(const std::string &bundleID, const std::string &name, OSDictionary *dict);
/* Removes every personality of bundleID; returns how many. */
unsigned xsim_catalogue_remove(const std::string &bundleID);
unsigned xsim_catalogue_count(const std::string &bundleID);
void xsim_catalogue_reset();
void xsim_config_thread_start();

/* Kexts (kext.cpp). */
/* IOCatalogue::isModuleLoaded for a personality's CFBundleIdentifier: true when loaded (11+: a
 * kext of the auxiliary collection is loaded in place); false when a load request to user space
 * was queued (10.15). */
bool xsim_kext_module_loaded_for_match(const char *bundleID);
/* OSKext::considerUnloads(rescheduleOnly). */
void xsim_kext_consider_unloads(bool rescheduleOnly);
/* The kext whose module defined this class, or "" (the kernel). */
std::string xsim_kext_of_class(const OSMetaClass *meta);

/* Code modules: mapped while their kext is loaded (modules.cpp). */
struct xsim_module;
const xsim_module *xsim_module_of_code(const void *address);
const xsim_module *xsim_module_named(const char *name);
bool xsim_module_mapped(const xsim_module *module);
uint64_t xsim_module_generation(const xsim_module *module);
const char *xsim_module_name(const xsim_module *module);
void xsim_module_map(const xsim_module *module);
void xsim_module_unmap(const xsim_module *module);
/* Counts a call into the module's code in flight (kauth callbacks, thread calls). */
void xsim_module_enter(const xsim_module *module);
void xsim_module_exit(const xsim_module *module);
void xsim_modules_reset();
/* A call through a pointer taken while generation `seen` was mapped: reports a crash and
 * returns false if that code is not mapped any more (the call must not be made). */
bool xsim_module_check_call(const xsim_module *module, uint64_t seen, const char *what);

/* User clients (userclient.cpp): destroyUserReferences for a terminating user client. */
void xsim_destroy_user_references(IOService *victim);

/* kauth (kauth.cpp). */
/* IOSleep past a parked straggler's release time waits for it first (kernel time order). */
void xsim_kauth_wait_earlier_stragglers(uint64_t deadlineNs);
/* Unmapping a module: its listeners' callbacks still running are crashes; parked stragglers
 * waiting for the unmap are released. */
void xsim_kauth_module_unmapped(const xsim_module *module);

/* Reset hooks for boot. */
void xsim_log_reset();
void xsim_counters_reset();
void xsim_kauth_reset();
void xsim_kauth_forget_listeners();
void xsim_tasks_reset();
void xsim_tasks_kill_all();
void xsim_userclient_hooks_reset();
void xsim_thread_call_start();
bool xsim_thread_calls_idle();

#endif
