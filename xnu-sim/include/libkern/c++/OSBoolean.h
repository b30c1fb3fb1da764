/* xnu-sim look-alike of <libkern/c++/OSBoolean.h>: two immortal singletons. */
#ifndef XNU_SIM_LIBKERN_OSBOOLEAN_H
#define XNU_SIM_LIBKERN_OSBOOLEAN_H

#include <libkern/c++/OSObject.h>

class OSBoolean : public OSObject {
    OSDeclareDefaultStructors(OSBoolean)

public:
    static OSBoolean *withBoolean(bool value);
    bool isTrue() const { return fValue; }
    bool isFalse() const { return !fValue; }
    bool getValue() const { return fValue; }

    void retain() const APPLE_KEXT_OVERRIDE {}
    void release() const APPLE_KEXT_OVERRIDE {}
    void free() APPLE_KEXT_OVERRIDE;

    /* Simulator: builds the two singletons. */
    static OSBoolean *xsimMake(bool value);

private:
    bool fValue;
};

extern OSBoolean *const &kOSBooleanTrue;
extern OSBoolean *const &kOSBooleanFalse;

#endif
