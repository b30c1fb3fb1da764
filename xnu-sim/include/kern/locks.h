/* xnu-sim look-alike of <kern/locks.h>: the lck_mtx calls an IOLock is made of (IOLockLock is
 * exported as an alias of lck_mtx_lock). A lck_mtx_t here is the IOLock it was allocated as. */
#ifndef XNU_SIM_KERN_LOCKS_H
#define XNU_SIM_KERN_LOCKS_H

typedef struct __lck_mtx_t__ lck_mtx_t;

#ifdef __cplusplus
extern "C" {
#endif
void lck_mtx_lock(lck_mtx_t *lck);
void lck_mtx_unlock(lck_mtx_t *lck);
#ifdef __cplusplus
}
#endif

#endif
