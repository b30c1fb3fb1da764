/* xnu-sim look-alike of <libkern/c++/OSNumber.h>. */
#ifndef XNU_SIM_LIBKERN_OSNUMBER_H
#define XNU_SIM_LIBKERN_OSNUMBER_H

#include <libkern/c++/OSObject.h>

class OSNumber : public OSObject {
    OSDeclareDefaultStructors(OSNumber)

public:
    static OSNumber *withNumber(unsigned long long value, unsigned int numberOfBits);
    virtual bool init(unsigned long long value, unsigned int numberOfBits);
    using OSObject::init;

    unsigned int numberOfBits() const { return fBits; }
    unsigned char unsigned8BitValue() const { return (unsigned char)fValue; }
    unsigned short unsigned16BitValue() const { return (unsigned short)fValue; }
    unsigned int unsigned32BitValue() const { return (unsigned int)fValue; }
    unsigned long long unsigned64BitValue() const { return fValue; }

private:
    unsigned long long fValue;
    unsigned int fBits;
};

#endif
