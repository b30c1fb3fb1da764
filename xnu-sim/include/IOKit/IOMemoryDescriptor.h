/* xnu-sim look-alike of <IOKit/IOMemoryDescriptor.h>: out-of-line method structs. */
#ifndef XNU_SIM_IOKIT_IOMEMORYDESCRIPTOR_H
#define XNU_SIM_IOKIT_IOMEMORYDESCRIPTOR_H

#include <IOKit/IOTypes.h>
#include <libkern/c++/OSObject.h>

class IOMemoryDescriptor : public OSObject {
    OSDeclareDefaultStructors(IOMemoryDescriptor)

public:
    /* Simulator: describes [bytes, bytes + length) of the calling task. */
    static IOMemoryDescriptor *xsimWithBytes(void *bytes, IOByteCount length);

    virtual IOByteCount getLength() const { return fLength; }
    virtual IOByteCount readBytes(IOByteCount offset, void *bytes, IOByteCount withLength);
    virtual IOByteCount writeBytes(IOByteCount offset, const void *bytes, IOByteCount withLength);

private:
    unsigned char *fBytes;
    IOByteCount fLength;
};

#endif
