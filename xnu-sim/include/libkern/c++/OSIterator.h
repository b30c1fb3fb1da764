/* xnu-sim look-alike of <libkern/c++/OSIterator.h>. */
#ifndef XNU_SIM_LIBKERN_OSITERATOR_H
#define XNU_SIM_LIBKERN_OSITERATOR_H

#include <libkern/c++/OSObject.h>

class OSIterator : public OSObject {
    OSDeclareAbstractStructors(OSIterator)

public:
    virtual void reset() = 0;
    virtual bool isValid() = 0;
    virtual OSObject *getNextObject() = 0;
};

#endif
