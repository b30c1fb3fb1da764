/*
 * rustkext.h - the C ABI between the C++ shim and the Rust core.
 *
 * Rust implements the rk_* functions (kext/src/exports.rs); the shim implements the rk_shim_*
 * helpers Rust calls back (shim-cpp/ShimHelpers.cpp). kext/tests/header_in_step.rs fails when
 * this file and the Rust side disagree.
 *
 * Ownership: the driver state is Rust's. The shim holds the rk_driver pointer it got from
 * rk_service_start and passes it back; it never looks inside. No Rust function pointer is ever
 * handed to the kernel: every kernel-facing callback is a C++ function that calls into Rust.
 */
#ifndef RUSTKEXT_H
#define RUSTKEXT_H

#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* IOReturn (kern_return_t), spelled as a fixed-width type so this header needs no IOKit header. */
typedef int32_t rk_ioreturn;

/* Opaque driver state, one per loaded kext. */
typedef struct rk_driver rk_driver;

/* One personality property, as the shim found it (rk_shim_personality_property). */
typedef enum rk_property_kind {
    RK_PROPERTY_ABSENT = 0,
    RK_PROPERTY_NUMBER = 1, /* an OSNumber: value */
    RK_PROPERTY_BOOL = 2,   /* an OSBoolean: value 0 or 1 */
    RK_PROPERTY_OTHER = 3,  /* any other type */
} rk_property_kind;

typedef struct rk_property {
    uint32_t kind; /* rk_property_kind */
    uint32_t reserved;
    uint64_t value;
} rk_property;

/* What the service's terminate() must do. */
typedef enum rk_terminate_answer {
    RK_TERMINATE_REFUSE = 0,    /* return false; *open_clients are open, the request is kept */
    RK_TERMINATE_SHUT_DOWN = 1, /* first allowed request: withdraw the resource, close the gate,
                                   unlisten, drain, then terminate */
    RK_TERMINATE_PROCEED = 2,   /* terminate; nothing of ours is left to shut down */
} rk_terminate_answer;

/* What the shim must do after a client closed. */
typedef enum rk_close_action {
    RK_CLOSE_NOTHING = 0,           /* nothing more to do */
    RK_CLOSE_TERMINATE_SERVICE = 1, /* last client after a refused unload: terminate the service,
                                       asynchronously and outside any lock; said exactly once */
} rk_close_action;

/* Counts and sizes a selector takes (all exact; no wildcard). */
typedef struct rk_method_shape {
    uint32_t scalar_input_count;
    uint32_t struct_input_size;
    uint32_t scalar_output_count;
    uint32_t struct_output_size;
} rk_method_shape;

/* One external-method call, flattened from IOExternalMethodArguments. */
typedef struct rk_method_args {
    uint32_t selector;
    uint32_t scalar_input_count;
    uint32_t struct_input_size;
    uint32_t scalar_output_count; /* in: capacity of scalar_output; out: scalars written */
    uint32_t struct_output_size;  /* in: capacity of struct_output; out: bytes written */
    uint32_t reserved;            /* zero */
    const uint64_t *scalar_input;
    const void *struct_input;
    uint64_t *scalar_output;
    void *struct_output;
} rk_method_args;

/* ---- service lifecycle (org_rustkext_Service) ---- */

/* start(): Rust reads its settings through rk_shim_personality_property(personality, ...), creates
 * the driver state and opens the callback gate. NULL (Rust logged why) if a property has the wrong
 * type or the state is already in use: start() must then fail. */
rk_driver *rk_service_start(const void *personality);

/* terminate(): see rk_terminate_answer. *open_clients is set when refused. */
rk_terminate_answer rk_service_terminate_request(rk_driver *driver, uint32_t *open_clients);

/* Shutdown, after the resource is withdrawn: close the gate; every later FILEOP callback returns
 * at once. */
void rk_service_close_gate(rk_driver *driver);

/* Shutdown, after kauth_unlisten_scope: wait at most bound_ms for the callbacks in flight to
 * finish, then sleep grace_ms for callers still between the kernel's listener table and the gate.
 * Returns how many were still in flight when the bound expired (0 = drained); logs a timeout.
 * Sleeps: never call it inside a work-loop gate (stop() runs in the platform's). */
uint32_t rk_service_drain(rk_driver *driver, uint32_t bound_ms, uint32_t grace_ms);

/* stop(): releases the state; never sleeps. The gate stays closed, and every later call with this
 * pointer (a late kauth callback, a stale user client) is refused or ignored until the next
 * rk_service_start: the state is static, so the pointer itself stays valid while the code is
 * mapped. Client ids are never reused across a restart. */
void rk_service_release(rk_driver *driver);

/* ---- user clients (org_rustkext_UserClient) ---- */

/* newUserClient(): admission. is_admin comes from clientHasPrivilege(task, administrator).
 * kIOReturnSuccess and *client_id (nonzero), or the refusal: kIOReturnBadArgument (connect
 * type), kIOReturnNotPrivileged (admin-only open), kIOReturnNotPermitted (not running, or an
 * unload pending and not an administrator), kIOReturnNoResources (table full; administrators have
 * slots of their own). A refusal changes nothing. */
rk_ioreturn rk_client_open(rk_driver *driver, uint32_t connect_type, bool is_admin,
                           uint32_t *client_id);

/* clientClose() (directly, or through clientDied), and rollback of a failed open. Idempotent. */
rk_close_action rk_client_close(rk_driver *driver, uint32_t client_id);

/* externalMethod(): the exact shape of a selector, or the refusal for an unknown one. */
rk_ioreturn rk_method_shape_for(uint32_t selector, rk_method_shape *shape);

/* externalMethod() dispatch: validates everything again, then runs the method. */
rk_ioreturn rk_external_method(rk_driver *driver, uint32_t client_id, rk_method_args *args);

/* ---- kauth (the C++ listener forwards here, then answers KAUTH_RESULT_DEFER) ---- */

void rk_fileop_callback(rk_driver *driver, uintptr_t action, uintptr_t arg0, uintptr_t arg1,
                        uintptr_t arg2, uintptr_t arg3);

/* ---- helpers the shim provides to Rust ---- */

/* IOLog("RustKext: %s %llu\n", message, value). message is a static NUL-terminated string. */
void rk_shim_log(const char *message, uint64_t value);

/* IOLog("RustKext: %s%s%s\n", first, second, third); each a static NUL-terminated string. */
void rk_shim_log_text(const char *first, const char *second, const char *third);

/* The property `key` of the object given to rk_service_start (the service: its personality). */
void rk_shim_personality_property(const void *personality, const char *key, rk_property *out);

/* The kext's kernel mutex (an IOLock the module start routine allocates): Rust's only lock.
 * Blocks; never taken on the kauth path, never nested. */
void rk_shim_mutex_lock(void);
void rk_shim_mutex_unlock(void);

/* Unreachable in a correct build (release objects contain no panic path): panic("%s", message). */
void rk_shim_fatal(const char *message);

#ifdef __cplusplus
}
#endif

#endif /* RUSTKEXT_H */
