/*
 * The simulator's driving ABI, called by the Rust API in src/lib.rs (and nothing else).
 * Kexts, tasks and connections are named by plain values; all functions are thread-safe.
 */
#ifndef XNU_SIM_XSIM_H
#define XNU_SIM_XSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel time runs this many times faster than the host's clock (mach_absolute_time, IOSleep,
 * IODelay, deadlines, delayed thread calls): one constant, everywhere. */
#define XSIM_TIME_FACTOR 10

/* Flavours: which xnu the model follows where they differ. */
#define XSIM_FLAVOR_CATALINA 0        /* macOS 10.15, xnu-6153 */
#define XSIM_FLAVOR_BIG_SUR_AND_LATER 1 /* macOS 11 (xnu-7195) to 15 (xnu-11417) */

/* Driver-facing violations (recorded, not fatal). */
#define XSIM_VIOLATION_SLEEP_IN_GATE 1 /* IOSleep/IODelay/a deadline sleep inside the platform gate */
#define XSIM_VIOLATION_POLL_IN_GATE 2  /* the kernel clock polled inside the platform gate */
#define XSIM_VIOLATION_LIVELOCK 3      /* a fixed-priority thread ran without blocking while the
                                          user thread it preempted held what it waited for */
#define XSIM_VIOLATION_UNMAPPED_CALL 4 /* a call into a kext's code after it was unmapped */

/* World */
void xsim_boot(int flavor);
/* Kills every task and unloads every kext (keeping what is installed when `reboot`), then, for a
 * reboot, boots the same flavour again with the installed kexts. */
void xsim_shutdown(bool reboot);
int xsim_flavor_get(void);
uint64_t xsim_now(void);
/* Steps kernel time through every timer and desktop event up to now + ns, waiting for the model
 * to go quiet after each. */
void xsim_advance_clock_ns(uint64_t nanoseconds);
/* Moves kernel time at once, without waiting for anything. */
void xsim_jump_clock_ns(uint64_t nanoseconds);
/* Waits until no termination, matching, load request or thread call is pending or running. */
bool xsim_wait_quiet(uint32_t timeout_ms);
uint64_t xsim_counter(const char *name);
size_t xsim_log_count(void);
/* Copies line `index` (NUL-terminated, truncated to capacity); returns its full length. */
size_t xsim_log_line(size_t index, char *buffer, size_t capacity);
/* Sanitizer the model was compiled with: 0 none, 1 address, 2 thread. */
int xsim_sanitizer(void);

/* Violations: count, read one (kind, subject, callback, held ns, text), drop the first n. */
size_t xsim_violation_count(void);
size_t xsim_violation_get(size_t index, int *kind, uint64_t *held_ns, char *subject,
                          size_t subject_capacity, char *callback, size_t callback_capacity,
                          char *text, size_t text_capacity);
void xsim_violations_drop(size_t count);

/* The platform gate: every callback run inside it (class, callback, kernel ns held). */
size_t xsim_gate_hold_count(void);
bool xsim_gate_hold_get(size_t index, char *subject, size_t subject_capacity, char *callback,
                        size_t callback_capacity, uint64_t *held_ns, uint32_t *sleeps);

/* The busy desktop: a publishResource(IOConsoleUsersSeed) every `every_ms` for `burst_ms`, then
 * `quiet_ms` without, repeating from kernel time 0. every_ms == 0: off. */
void xsim_desktop_set(uint64_t every_ms, uint64_t burst_ms, uint64_t quiet_ms);

/* IOResources: publishResource (string value), removeProperty, getProperty. */
void xsim_resource_publish(const char *key);
void xsim_resource_remove(const char *key);
bool xsim_resource_published(const char *key);

/* Kexts: a bundle, the code module it runs (compiled in), its personalities. */
int xsim_kext_define(const char *bundle_id, const char *module);
void xsim_kext_personality(const char *bundle_id, const char *name);
void xsim_kext_property_string(const char *bundle_id, const char *key, const char *value);
void xsim_kext_property_number(const char *bundle_id, const char *key, uint64_t value,
                               uint32_t bits);
void xsim_kext_property_bool(const char *bundle_id, const char *key, bool value);
/* /Library/Extensions (10.15) or the auxiliary kext collection (11+). */
int32_t xsim_kext_install(const char *bundle_id);
int32_t xsim_kext_load(const char *bundle_id);
int32_t xsim_kext_unload(const char *bundle_id);
bool xsim_kext_loaded(const char *bundle_id);
uint32_t xsim_kext_service_count(const char *bundle_id);
uint32_t xsim_catalogue_personalities(const char *bundle_id);
/* Live instances of exactly that class; -1 if no such class. */
int64_t xsim_instance_count(const char *class_name);

/* Tasks and user clients */
uint32_t xsim_task_spawn(uint32_t euid, const char *name);
void xsim_task_kill(uint32_t task);
int32_t xsim_open(uint32_t task, const char *class_name, uint32_t type, uint64_t *connection);
int32_t xsim_call(uint64_t connection, uint32_t selector, const uint64_t *scalar_in,
                  uint32_t scalar_in_count, const void *struct_in, size_t struct_in_size,
                  uint64_t *scalar_out, uint32_t *scalar_out_count, void *struct_out,
                  size_t *struct_out_size);
int32_t xsim_close(uint64_t connection);
/* IOConnectGetService: the service's class name on success. */
int32_t xsim_connect_get_service(uint64_t connection, char *class_name, size_t capacity);

/* Hooks (one-shot unless said otherwise). */
/* The next open fails after newUserClient succeeded, with `code` (MACF, sandbox, owner). */
void xsim_hook_fail_next_open(int32_t code);
/* The next open stops after newUserClient (client attached, kIOServiceStartState set) until
 * released; wait_paused reports that it got there. */
void xsim_hook_pause_next_open(void);
bool xsim_hook_wait_open_paused(uint32_t timeout_ms);
void xsim_hook_release_open(void);
/* The next external method on `connection` stops before calling externalMethod (after taking
 * the IPC lock where the flavour takes one) until released. */
void xsim_hook_park_next_method(uint64_t connection);
bool xsim_hook_wait_method_parked(uint32_t timeout_ms);
void xsim_hook_release_method(void);
/* The terminate worker stops when it next becomes the terminate thread, holding the role, until
 * released. */
void xsim_hook_hold_terminate_worker(bool hold);
bool xsim_hook_wait_worker_held(uint32_t timeout_ms);

/* One CPU: fixed-priority model threads preempt the registered user threads. */
void xsim_cpu_set_one_cpu(bool one_cpu);
/* Called by the user thread itself; false when the table (16) is full. */
bool xsim_cpu_register_user_thread(void);
void xsim_cpu_unregister_user_thread(void);

/* kauth FILEOP: one event on the calling thread; returns how many listeners were called. */
uint32_t xsim_fileop(int32_t action, uintptr_t arg0, uintptr_t arg1, uintptr_t arg2,
                     uintptr_t arg3);
uint32_t xsim_kauth_listener_count(void);
/* Registers a listener of another kext (counted in "kauth.other_listener_calls"); false when
 * the scope is full. xsim_kauth_unlisten_others removes them all (shutdown does too). */
bool xsim_kauth_listen_other(void);
void xsim_kauth_unlisten_others(void);
/* The next FILEOP caller that reads a live slot parks after reading its callback, and calls the
 * old callback once kauth_unlisten_scope has cleared that slot:
 * mode 0: at once (unlisten returns when it is inside the callback);
 * mode 1: delay_ns of kernel time after the unlisten;
 * mode 2: after the code of the listener's kext was unmapped. */
void xsim_kauth_arm_straggler(int mode, uint64_t delay_ns);
/* Waits until the armed straggler has read its slot and parked. */
bool xsim_kauth_wait_straggler_parked(uint32_t timeout_ms);
/* Waits until the straggler returned from (or was refused) its late call. */
bool xsim_kauth_wait_straggler_done(uint32_t timeout_ms);
/* The next caller that reads a live slot parks after loading its callback; when that slot is
 * unlistened, another kext listens into it at once, and the caller loads the NEW idata and calls
 * the OLD callback with it (two separate loads in kauth_authorize_action). The other kext's
 * idata points to a 4 KiB canary; returns through xsim_kauth_torn_canary_intact. */
void xsim_kauth_arm_torn_pair(void);
bool xsim_kauth_torn_canary_intact(void);

#ifdef __cplusplus
}
#endif

#endif
