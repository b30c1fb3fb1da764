/* xnu-sim look-alike of <libkern/c++/OSString.h>. */
#ifndef XNU_SIM_LIBKERN_OSSTRING_H
#define XNU_SIM_LIBKERN_OSSTRING_H

#include <libkern/c++/OSObject.h>

class OSString : public OSObject {
    OSDeclareDefaultStructors(OSString)

public:
    static OSString *withCString(const char *cString);
    const char *getCStringNoCopy() const { return fString; }
    unsigned int getLength() const;
    bool isEqualTo(const char *cString) const;
    void free() APPLE_KEXT_OVERRIDE;

private:
    char *fString;
};

#endif
