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

/* World */
void xsim_boot(void);
/* Counts the objects still alive after the last kext left; 0 in a clean world. */
void xsim_shutdown(void);
void xsim_advance_clock_ns(uint64_t nanoseconds);
/* Waits until no termination, matching or thread call is pending or running. */
bool xsim_wait_quiet(uint32_t timeout_ms);
uint64_t xsim_counter(const char *name);
/* How long a kIOServiceSynchronous terminate waits (15000 ms, as xnu; boot restores it). */
void xsim_set_synchronous_terminate_bound_ms(uint32_t milliseconds);
size_t xsim_log_count(void);
/* Copies line `index` (NUL-terminated, truncated to capacity); returns its full length. */
size_t xsim_log_line(size_t index, char *buffer, size_t capacity);

/* Kexts: a bundle, the code module it runs (compiled in), its personalities. */
int xsim_kext_define(const char *bundle_id, const char *module);
void xsim_kext_personality(const char *bundle_id, const char *name);
void xsim_kext_property_string(const char *bundle_id, const char *key, const char *value);
void xsim_kext_property_number(const char *bundle_id, const char *key, uint64_t value,
                               uint32_t bits);
void xsim_kext_property_bool(const char *bundle_id, const char *key, bool value);
int32_t xsim_kext_load(const char *bundle_id);
int32_t xsim_kext_unload(const char *bundle_id);
bool xsim_kext_loaded(const char *bundle_id);
uint32_t xsim_kext_service_count(const char *bundle_id);
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

/* kauth FILEOP: one event on the calling thread; returns how many listeners were called. */
uint32_t xsim_fileop(int32_t action, uintptr_t arg0, uintptr_t arg1, uintptr_t arg2,
                     uintptr_t arg3);
uint32_t xsim_kauth_listener_count(void);
/* Registers a listener of another kext (counted in "kauth.other_listener_calls"); false when
 * the scope is full. xsim_kauth_unlisten_others removes them all (shutdown does too). */
bool xsim_kauth_listen_other(void);
void xsim_kauth_unlisten_others(void);
/* The next FILEOP caller that reads a live slot parks after reading it, and calls the old
 * callback with the old idata once kauth_unlisten_scope has cleared that slot (after_stop:
 * only once the stop() that unlistened it has returned, i.e. a caller delayed past the grace). */
void xsim_kauth_arm_straggler(bool after_stop);
/* Waits until the armed straggler has read its slot and parked. */
bool xsim_kauth_wait_straggler_parked(uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
