/* xnu-sim look-alike of <libkern/c++/OSDictionary.h>: string keys, retained values. */
#ifndef XNU_SIM_LIBKERN_OSDICTIONARY_H
#define XNU_SIM_LIBKERN_OSDICTIONARY_H

#include <libkern/c++/OSObject.h>

struct xsim_dictionary;
class OSSerialize;

class OSDictionary : public OSObject {
    OSDeclareDefaultStructors(OSDictionary)

public:
    static OSDictionary *withCapacity(unsigned int capacity);
    static OSDictionary *withDictionary(const OSDictionary *dict, unsigned int capacity = 0);
    virtual bool initWithCapacity(unsigned int capacity);

    bool setObject(const char *aKey, const OSMetaClassBase *anObject);
    OSObject *getObject(const char *aKey) const;
    void removeObject(const char *aKey);
    unsigned int getCount() const;
    /* OSObject::serialize in xnu: every value, nested dictionaries included. */
    virtual bool serialize(OSSerialize *s) const;
    void free() APPLE_KEXT_OVERRIDE;

private:
    xsim_dictionary *fImpl;
};

#endif
