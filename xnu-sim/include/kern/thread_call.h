/* xnu-sim look-alike of <kern/thread_call.h>. */
#ifndef XNU_SIM_KERN_THREAD_CALL_H
#define XNU_SIM_KERN_THREAD_CALL_H

#include <mach/mach_types.h>

typedef struct thread_call *thread_call_t;
typedef void *thread_call_param_t;
typedef void (*thread_call_func_t)(thread_call_param_t param0, thread_call_param_t param1);

#ifdef __cplusplus
extern "C" {
#endif
thread_call_t thread_call_allocate(thread_call_func_t func, thread_call_param_t param0);
boolean_t thread_call_enter(thread_call_t call);
boolean_t thread_call_enter1(thread_call_t call, thread_call_param_t param1);
/* deadline: absolute time (mach_absolute_time units). */
boolean_t thread_call_enter_delayed(thread_call_t call, uint64_t deadline);
boolean_t thread_call_cancel(thread_call_t call);
boolean_t thread_call_free(thread_call_t call);
#ifdef __cplusplus
}
#endif

#endif
