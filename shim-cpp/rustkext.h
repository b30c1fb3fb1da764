/*
 * rustkext.h - the C ABI between the one C++ shim and the Rust side of a kext built with RustKext.
 *
 * Rust implements every function here (framework/runtime/src/c_abi.rs, instantiated per kext by
 * rustkext::export!), under the kext's symbol prefix: each declaration ends in RK_SYMBOL(name), so
 * several kexts can live in one process (xnu-sim). The shim calls nothing else of Rust, and Rust
 * calls the kernel only through its KPIs. framework/runtime/tests/header_in_step.rs fails when this
 * file and the Rust side disagree.
 *
 * Compile with the kext's names (rustkext shim-defines): -DRK_SERVICE_CLASS=... -DRK_USERCLIENT_CLASS=...
 * -DRK_MODULE_START=... -DRK_MODULE_STOP=... -DRK_LOG_PREFIX="..." -DRK_SYMBOL_PREFIX="...".
 *
 * Ownership: the driver state is Rust's. The shim holds the rk_driver pointer it got from
 * rk_service_start and passes it back; it never looks inside. No Rust function pointer is ever
 * handed to the kernel, and no parameter here is a function pointer: every kernel-facing callback
 * is a C++ function that calls into Rust.
 */
#ifndef RUSTKEXT_H
#define RUSTKEXT_H

#include <stdint.h>
#include <stdbool.h>

#ifndef RK_SYMBOL_PREFIX
#error "rustkext.h: compile with the kext's names (rustkext shim-defines), RK_SYMBOL_PREFIX among them"
#endif

#define RK_STRINGIFY_(x) #x
#define RK_STRINGIFY(x) RK_STRINGIFY_(x)
/* The symbol of rk_<name> for this kext: the platform's label prefix, the kext's, the name. */
#define RK_SYMBOL(name) __asm__(RK_STRINGIFY(__USER_LABEL_PREFIX__) RK_SYMBOL_PREFIX #name)

/* Settings read from the personality at most (rk_personality_key). */
#define RK_MAX_SETTINGS 8

/* Values rk_registry_values writes at most (the shim's array). */
#define RK_MAX_REGISTRY_VALUES 32

/* kauth scopes (rk_kauth_scopes). */
#define RK_SCOPE_FILEOP 1u

#ifdef __cplusplus
extern "C" {
#endif

/* IOReturn (kern_return_t), spelled as a fixed-width type so this header needs no IOKit header. */
typedef int32_t rk_ioreturn;

/* Opaque driver state, one per kext. */
typedef struct rk_driver rk_driver;

/* One personality property, as the shim found it. */
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

/* What an rk_registry_value is. */
typedef enum rk_registry_kind {
    RK_REGISTRY_GROUP = 0,  /* starts the dictionary named key; the values after it go into it */
    RK_REGISTRY_NUMBER = 1, /* an OSNumber of 64 bits: value */
    RK_REGISTRY_BOOL = 2,   /* an OSBoolean: value 0 or 1 */
} rk_registry_kind;

/* One value the service publishes in the IORegistry (rk_registry_values). */
typedef struct rk_registry_value {
    const char *key; /* NUL-terminated, static in the kext's image */
    uint32_t kind;   /* rk_registry_kind */
    uint32_t reserved;
    uint64_t value;
} rk_registry_value;

/* ---- module (the kmod start/stop routines, RK_MODULE_START/RK_MODULE_STOP) ---- */

/* Module start, before any instance exists: the kext's kernel mutex (Rust's only lock).
 * KERN_SUCCESS, or KERN_FAILURE without memory for it (the module start fails). */
int32_t rk_module_start(void) RK_SYMBOL(rk_module_start);

/* Module stop, after the last instance is gone. KERN_SUCCESS. */
int32_t rk_module_stop(void) RK_SYMBOL(rk_module_stop);

/* ---- service lifecycle (RK_SERVICE_CLASS) ---- */

/* The personality key of setting `index` (0 .. RK_MAX_SETTINGS - 1), NULL for a setting the kext
 * does not read. The shim reads each key's property (absent for NULL) and passes the values, by
 * index, to rk_service_start. */
const char *rk_personality_key(uint32_t index) RK_SYMBOL(rk_personality_key);

/* The kauth scopes to listen to at start (RK_SCOPE_* bits). */
uint32_t rk_kauth_scopes(void) RK_SYMBOL(rk_kauth_scopes);

/* start(): Rust takes setting i from values[i], i < count (a property of the wrong type refuses
 * the start), creates the driver state and opens the callback gate. NULL (Rust logged why) if a
 * property has the wrong type, the driver refused, or the state is already in use: start() must
 * then fail. */
rk_driver *rk_service_start(const rk_property *values, uint32_t count) RK_SYMBOL(rk_service_start);

/* terminate(): see rk_terminate_answer. *open_clients is set when refused. */
rk_terminate_answer rk_service_terminate_request(rk_driver *driver, uint32_t *open_clients)
    RK_SYMBOL(rk_service_terminate_request);

/* Shutdown, after the resource is withdrawn: close the gate; every later kauth callback returns
 * at once. */
void rk_service_close_gate(rk_driver *driver) RK_SYMBOL(rk_service_close_gate);

/* Shutdown, after kauth_unlisten_scope: wait at most bound_ms for the callbacks in flight to
 * finish, then sleep grace_ms for callers still between the kernel's listener table and the gate.
 * Returns how many were still in flight when the bound expired (0 = drained); logs a timeout.
 * Sleeps: never call it inside a work-loop gate (stop() runs in the platform's). */
uint32_t rk_service_drain(rk_driver *driver, uint32_t bound_ms, uint32_t grace_ms)
    RK_SYMBOL(rk_service_drain);

/* stop(): releases the state; never sleeps. The gate stays closed, and every later call with this
 * pointer (a late kauth callback, a stale user client) is refused or ignored until the next
 * rk_service_start: the state is static, so the pointer itself stays valid while the code is
 * mapped. Client ids are never reused across a restart. */
void rk_service_release(rk_driver *driver) RK_SYMBOL(rk_service_release);

/* serializeProperties(): the values to publish, computed now, into values[0 .. capacity), which
 * the caller zero-fills; returns how many were written. Groups first name a dictionary
 * (Framework: the runtime's; Driver: the driver's). No driver pointer: the state is the kext's
 * one static, valid while an instance of the service exists (before start and after stop too).
 * Takes the kext's mutex briefly; never sleeps. */
uint32_t rk_registry_values(rk_registry_value *values, uint32_t capacity) RK_SYMBOL(rk_registry_values);

/* ---- user clients (RK_USERCLIENT_CLASS) ---- */

/* newUserClient(): admission. is_admin comes from clientHasPrivilege(task, administrator).
 * kIOReturnSuccess and *client_id (nonzero), or the refusal: kIOReturnBadArgument (connect
 * type), kIOReturnNotPrivileged (admin-only open), kIOReturnNotPermitted (not running, or an
 * unload pending and not an administrator), kIOReturnNoResources (table full; administrators have
 * slots of their own). A refusal changes nothing. */
rk_ioreturn rk_client_open(rk_driver *driver, uint32_t connect_type, bool is_admin,
                           uint32_t *client_id) RK_SYMBOL(rk_client_open);

/* clientClose() (directly, or through clientDied), and rollback of a failed open. Idempotent. */
rk_close_action rk_client_close(rk_driver *driver, uint32_t client_id) RK_SYMBOL(rk_client_close);

/* externalMethod(): the exact shape of a selector (the framework's DESCRIBE included), or the
 * refusal for an unknown one. */
rk_ioreturn rk_method_shape_for(uint32_t selector, rk_method_shape *shape) RK_SYMBOL(rk_method_shape_for);

/* externalMethod() dispatch: validates everything again, then runs the method. */
rk_ioreturn rk_external_method(rk_driver *driver, uint32_t client_id, rk_method_args *args)
    RK_SYMBOL(rk_external_method);

/* ---- kauth (the C++ listener forwards here, then answers KAUTH_RESULT_DEFER) ---- */

void rk_fileop_callback(rk_driver *driver, uintptr_t action, uintptr_t arg0, uintptr_t arg1,
                        uintptr_t arg2, uintptr_t arg3) RK_SYMBOL(rk_fileop_callback);

#ifdef __cplusplus
}
#endif

#endif /* RUSTKEXT_H */
