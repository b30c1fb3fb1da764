/* xnu-sim look-alike of <sys/kauth.h>: listener registration and the FILEOP scope. */
#ifndef XNU_SIM_SYS_KAUTH_H
#define XNU_SIM_SYS_KAUTH_H

#include <stdint.h>

typedef struct ucred *kauth_cred_t;
typedef struct kauth_listener *kauth_listener_t;
typedef int kauth_action_t;
typedef int (*kauth_scope_callback_t)(kauth_cred_t _credential, void *_idata, kauth_action_t _action,
                                      uintptr_t _arg0, uintptr_t _arg1, uintptr_t _arg2,
                                      uintptr_t _arg3);

#define KAUTH_RESULT_ALLOW (1)
#define KAUTH_RESULT_DENY (2)
#define KAUTH_RESULT_DEFER (3)

#define KAUTH_SCOPE_FILEOP "com.apple.kauth.fileop"
#define KAUTH_FILEOP_OPEN 1
#define KAUTH_FILEOP_CLOSE 2
#define KAUTH_FILEOP_RENAME 3
#define KAUTH_FILEOP_EXCHANGE 4
#define KAUTH_FILEOP_LINK 5
#define KAUTH_FILEOP_EXEC 6
#define KAUTH_FILEOP_DELETE 7
#define KAUTH_FILEOP_WILL_RENAME 8
#define KAUTH_FILEOP_CLOSE_MODIFIED (1 << 1)

#ifdef __cplusplus
extern "C" {
#endif
kauth_listener_t kauth_listen_scope(const char *_identifier, kauth_scope_callback_t _callback,
                                    void *_idata);
void kauth_unlisten_scope(kauth_listener_t _scope);
#ifdef __cplusplus
}
#endif

#endif
