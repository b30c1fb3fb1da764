/*
 * The helpers rustkext.h promises to Rust: logging (IOLog is variadic, so Rust cannot call it),
 * the personality's properties, and the fatal path behind the Rust panic handler. (The mutex
 * helpers live with the mutex, in Module.cpp.)
 */
#include <IOKit/IOLib.h>
#include <IOKit/IOService.h>
#include <kern/debug.h>
#include <libkern/c++/OSBoolean.h>
#include <libkern/c++/OSNumber.h>

#include "rustkext.h"

extern "C" void rk_shim_log(const char *message, uint64_t value)
{
    IOLog("RustKext: %s %llu\n", message ? message : "(null)", (unsigned long long)value);
}

extern "C" void rk_shim_log_text(const char *first, const char *second, const char *third)
{
    IOLog("RustKext: %s%s%s\n", first ? first : "", second ? second : "", third ? third : "");
}

extern "C" void rk_shim_personality_property(const void *personality, const char *key,
                                             rk_property *out)
{
    const IOService *service = static_cast<const IOService *>(personality);
    OSObject *value = service ? service->getProperty(key) : NULL;
    out->kind = RK_PROPERTY_ABSENT;
    out->reserved = 0;
    out->value = 0;
    if (OSNumber *number = OSDynamicCast(OSNumber, value)) {
        out->kind = RK_PROPERTY_NUMBER;
        out->value = number->unsigned64BitValue();
    } else if (OSBoolean *boolean = OSDynamicCast(OSBoolean, value)) {
        out->kind = RK_PROPERTY_BOOL;
        out->value = boolean->isTrue() ? 1 : 0;
    } else if (value) {
        out->kind = RK_PROPERTY_OTHER;
    }
}

extern "C" void rk_shim_fatal(const char *message)
{
    panic("RustKext: %s", message ? message : "(null)");
}
