/* xnu-sim look-alike of <IOKit/IORegistryEntry.h>: a property table and a name. */
#ifndef XNU_SIM_IOKIT_IOREGISTRYENTRY_H
#define XNU_SIM_IOKIT_IOREGISTRYENTRY_H

#include <IOKit/IOTypes.h>
#include <libkern/c++/OSDictionary.h>
#include <libkern/c++/OSObject.h>

class IORegistryPlane;
class OSSerialize;
struct xsim_entry;

class IORegistryEntry : public OSObject {
    OSDeclareDefaultStructors(IORegistryEntry)

public:
    virtual bool init(OSDictionary *dictionary = NULL);
    void free() APPLE_KEXT_OVERRIDE;

    /* Not retained: valid while the property stays in the table (as in xnu). */
    virtual OSObject *getProperty(const char *aKey) const;
    /* Retained: the caller releases it. */
    virtual OSObject *copyProperty(const char *aKey) const;
    virtual bool setProperty(const char *aKey, OSObject *anObject);
    virtual bool setProperty(const char *aKey, const char *aString);
    virtual bool setProperty(const char *aKey, bool aBoolean);
    virtual bool setProperty(const char *aKey, unsigned long long aValue, unsigned int aNumberOfBits);
    virtual void removeProperty(const char *aKey);
    /* A copy of the property table, made under its lock (the caller releases it). */
    virtual OSDictionary *dictionaryWithProperties(void) const;
    /* The whole table for a user task (IORegistryEntryCreateCFProperties): a copy made under
     * the lock, serialized. Subclasses may override it (IORegistryEntry.h says so). */
    virtual bool serializeProperties(OSSerialize *s) const;

    virtual const char *getName(const IORegistryPlane *plane = NULL) const;
    uint64_t getRegistryEntryID(void);

protected:
    xsim_entry *fEntry;
    friend struct xsim_registry;

private:
    using OSObject::init;
};

#endif
