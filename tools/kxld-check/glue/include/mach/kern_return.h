/* RustKext kxld glue: the kern_return_t codes kxld returns (values of the Mach ABI). */
#ifndef RUSTKEXT_MACH_KERN_RETURN_H
#define RUSTKEXT_MACH_KERN_RETURN_H
typedef int kern_return_t;
#define KERN_SUCCESS           0
#define KERN_INVALID_ARGUMENT  4
#define KERN_FAILURE           5
#define KERN_RESOURCE_SHORTAGE 6
#define KERN_NOT_SUPPORTED     46
#endif
