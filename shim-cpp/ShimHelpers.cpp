/*
 * The helpers rustkext.h promises to Rust: logging (IOLog is variadic, so Rust cannot call it)
 * and the fatal path behind the Rust panic handler.
 */
#include <IOKit/IOLib.h>
#include <kern/debug.h>

#include "rustkext.h"

extern "C" void rk_shim_log(const char *message, uint64_t value)
{
    IOLog("RustKext: %s %llu\n", message ? message : "(null)", (unsigned long long)value);
}

extern "C" void rk_shim_fatal(const char *message)
{
    panic("RustKext: %s", message ? message : "(null)");
}
