/*
 * Internals shared by the model's translation units (never included by the shim).
 */
#ifndef XNU_SIM_MODEL_SIM_HPP
#define XNU_SIM_MODEL_SIM_HPP

#include <IOKit/IOService.h>
#include <IOKit/IOUserClient.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "xsim.h"

/* Aborts the process naming what the model does not cover. */
[[noreturn]] void xsim_unmodelled(const char *what);
/* Aborts the process: the code under test broke a kernel rule the model checks. */
[[noreturn]] void xsim_violation(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Named event counters (xsim_counter reads them). */
void xsim_count(const std::string &name, uint64_t by = 1);

/* Registry activity: autounload waits until the registry has been quiet long enough. */
void xsim_busy_begin();
void xsim_busy_end();

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

/* Per-service registry state, guarded by xsim_registry::lock. */
struct xsim_service {
    IOService *provider = nullptr;
    std::vector<IOService *> clients;
    bool inactive = false;
    bool started = false;
    bool registered = false;
    unsigned stops = 0;
    /* User clients: the connection (port) that refers to it, until destroyUserReferences. */
    xsim_connection *connection = nullptr;
};

struct xsim_registry {
    static std::recursive_mutex &lock();
    static xsim_service &state(const IOService *service) { return *service->fService; }
    static xsim_entry &entry(const IORegistryEntry *e) { return *e->fEntry; }
    /* The nub drivers on IOResources attach to. */
    static IOService *resources();
    /* Every registered, active service whose class is or derives from className. */
    static std::vector<IOService *> copyMatching(const char *className);
    /* Every active service whose CFBundleIdentifier property equals bundleID. */
    static std::vector<IOService *> copyServicesOfBundle(const char *bundleID);
    static void reset();
};

/* Termination (terminate.cpp). */
bool xsim_terminate_phase1(IOService *victim, IOOptionBits options);
void xsim_terminate_start_worker();
void xsim_terminate_stop_worker();

/* User clients (userclient.cpp): destroyUserReferences for a terminating user client. */
void xsim_destroy_user_references(IOService *victim);

/* kauth (kauth.cpp): listeners unlistened during a stop() are checked when it returns. */
void xsim_kauth_stop_begin();
void xsim_kauth_stop_end(const char *className);

/* Reset hooks for boot. */
void xsim_log_reset();
void xsim_counters_reset();
void xsim_kauth_reset();
void xsim_kauth_forget_listeners();
void xsim_kexts_forget_unloaded();
void xsim_tasks_reset();
void xsim_tasks_kill_all();
void xsim_kexts_reset();
void xsim_thread_call_start();
void xsim_thread_call_stop();

#endif
