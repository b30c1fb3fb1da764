/*
 * RustKext's own declarations of the kernel KPIs it uses, for building macos-kext-sys where no
 * Kernel.framework headers exist (Linux hosts, CI). Written for this project, not copied: each
 * item names the Kernel.framework header it mirrors, keeps Apple's name, type and macro structure
 * (so `drift-check.sh` compares like with like), and declares nothing the project does not use.
 * Read by bindgen only (with -nostdinc); the fixed-width types are Darwin's.
 */
#ifndef RUSTKEXT_KPI_H
#define RUSTKEXT_KPI_H

/* mirrors <sys/_types/_uint64_t.h>, <sys/_types/_uintptr_t.h> */
typedef unsigned long long uint64_t;
typedef unsigned long uintptr_t;

/* mirrors <mach/i386/kern_return.h> and <mach/arm/kern_return.h> */
typedef int kern_return_t;

/* mirrors <mach/kern_return.h> */
#define KERN_SUCCESS 0
#define KERN_FAILURE 5

/* mirrors <mach/message.h> */
typedef kern_return_t mach_msg_return_t;
#define MACH_SEND_INVALID_DEST 0x10000003

/* mirrors <mach/error.h> */
#define err_system(x) ((signed)((((unsigned)(x)) & 0x3f) << 26))
#define err_sub(x) (((x) & 0xfff) << 14)

/* mirrors <IOKit/IOReturn.h> */
typedef kern_return_t IOReturn;
#define sys_iokit err_system(0x38)
#define sub_iokit_common err_sub(0)
#define iokit_common_err(return) (sys_iokit | sub_iokit_common | return)
#define kIOReturnSuccess KERN_SUCCESS
#define kIOReturnError iokit_common_err(0x2bc)
#define kIOReturnNoMemory iokit_common_err(0x2bd)
#define kIOReturnNoResources iokit_common_err(0x2be)
#define kIOReturnIPCError iokit_common_err(0x2bf)
#define kIOReturnNotPrivileged iokit_common_err(0x2c1)
#define kIOReturnBadArgument iokit_common_err(0x2c2)
#define kIOReturnExclusiveAccess iokit_common_err(0x2c5)
#define kIOReturnUnsupported iokit_common_err(0x2c7)
#define kIOReturnNotOpen iokit_common_err(0x2cd)
#define kIOReturnBusy iokit_common_err(0x2d5)
#define kIOReturnTimeout iokit_common_err(0x2d6)
#define kIOReturnNotReady iokit_common_err(0x2d8)
#define kIOReturnNotAttached iokit_common_err(0x2d9)
#define kIOReturnNotPermitted iokit_common_err(0x2e2)
#define kIOReturnNoCompletion iokit_common_err(0x2ea)
#define kIOReturnAborted iokit_common_err(0x2eb)
#define kIOReturnNotFound iokit_common_err(0x2f0)

/* mirrors <libkern/OSReturn.h> */
typedef kern_return_t OSReturn;
#define sys_libkern err_system(0x37)

/* mirrors <libkern/OSKextLib.h> */
#define sub_libkern_kext err_sub(2)
#define libkern_kext_err(code) (sys_libkern | sub_libkern_kext | (code))
#define kOSKextReturnStartStopError libkern_kext_err(0x17)
#define kOSKextReturnInUse libkern_kext_err(0x18)

/* mirrors <mach/mach_types.h> */
typedef struct thread *thread_t;

/* mirrors <kern/thread.h> */
extern thread_t current_thread(void);

/* mirrors <mach/mach_time.h> */
uint64_t mach_absolute_time(void);

/* mirrors <kern/clock.h> */
extern void absolutetime_to_nanoseconds(uint64_t abstime, uint64_t *result);

/* mirrors <IOKit/IOLib.h> */
void IOSleep(unsigned milliseconds);
void IOLog(const char *format, ...);

/* mirrors <kern/debug.h> (__abortlike: noreturn) */
extern void panic(const char *string, ...) __attribute__((noreturn));

/* mirrors <i386/locks.h> and <arm/locks.h> outside MACH_KERNEL_PRIVATE: opaque */
typedef struct __lck_mtx_t__ lck_mtx_t;

/* mirrors <kern/locks.h> */
extern void lck_mtx_lock(lck_mtx_t *lck);
extern void lck_mtx_unlock(lck_mtx_t *lck);

/* mirrors <IOKit/IOLocks.h> without IOLOCKS_INLINE: IOLock is opaque, IOLockLock is exported as
 * an alias of lck_mtx_lock (IOKit.exports: _IOLockLock:_lck_mtx_lock) */
typedef struct _IOLock IOLock;
IOLock *IOLockAlloc(void);
void IOLockFree(IOLock *lock);

/* mirrors <sys/ucred.h> */
typedef struct ucred *kauth_cred_t;

/* mirrors <sys/kauth.h> */
typedef struct kauth_listener *kauth_listener_t;
typedef int kauth_action_t;
typedef int (*kauth_scope_callback_t)(kauth_cred_t _credential, void *_idata,
    kauth_action_t _action, uintptr_t _arg0, uintptr_t _arg1, uintptr_t _arg2, uintptr_t _arg3);
#define KAUTH_RESULT_ALLOW (1)
#define KAUTH_RESULT_DENY (2)
#define KAUTH_RESULT_DEFER (3)
extern kauth_listener_t kauth_listen_scope(const char *_identifier,
    kauth_scope_callback_t _callback, void *_idata);
extern void kauth_unlisten_scope(kauth_listener_t _scope);
#define KAUTH_SCOPE_FILEOP "com.apple.kauth.fileop"
#define KAUTH_FILEOP_OPEN 1
#define KAUTH_FILEOP_CLOSE 2
#define KAUTH_FILEOP_RENAME 3
#define KAUTH_FILEOP_EXCHANGE 4
#define KAUTH_FILEOP_LINK 5
#define KAUTH_FILEOP_EXEC 6
#define KAUTH_FILEOP_DELETE 7
#define KAUTH_FILEOP_WILL_RENAME 8
#define KAUTH_FILEOP_CLOSE_MODIFIED (1<<1) /* arg2 flag of KAUTH_FILEOP_CLOSE: the file was written */

#endif /* RUSTKEXT_KPI_H */
