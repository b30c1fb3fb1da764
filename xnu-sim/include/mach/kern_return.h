/* xnu-sim look-alike of <mach/kern_return.h>: the codes the shim and the model use. */
#ifndef XNU_SIM_MACH_KERN_RETURN_H
#define XNU_SIM_MACH_KERN_RETURN_H

typedef int kern_return_t;

#define KERN_SUCCESS 0
#define KERN_FAILURE 5

#endif
