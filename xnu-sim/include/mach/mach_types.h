/* xnu-sim look-alike of <mach/mach_types.h>: opaque kernel handles, as the KPI shows them. */
#ifndef XNU_SIM_MACH_MACH_TYPES_H
#define XNU_SIM_MACH_MACH_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include <mach/kern_return.h>

typedef int boolean_t;
typedef unsigned int mach_port_t;
typedef unsigned int natural_t;
typedef struct task *task_t;
typedef struct thread *thread_t;
typedef uint64_t io_user_reference_t;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#define MACH_PORT_NULL 0
#define MACH_SEND_INVALID_DEST 0x10000003

#ifdef __cplusplus
extern "C" {
#endif
thread_t current_thread(void);
task_t current_task(void);
uint64_t mach_absolute_time(void);
void absolutetime_to_nanoseconds(uint64_t abstime, uint64_t *result);
void nanoseconds_to_absolutetime(uint64_t nanoseconds, uint64_t *result);
void clock_interval_to_deadline(uint32_t interval, uint32_t scale_factor, uint64_t *result);
#ifdef __cplusplus
}
#endif

#endif
