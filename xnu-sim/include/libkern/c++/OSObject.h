/* xnu-sim look-alike of <libkern/c++/OSObject.h>: the reference-counted root class. */
#ifndef XNU_SIM_LIBKERN_OSOBJECT_H
#define XNU_SIM_LIBKERN_OSOBJECT_H

#include <libkern/c++/OSMetaClass.h>

class OSObject : public OSMetaClassBase {
public:
    static const OSMetaClass *const metaClass;
    static class MetaClass : public OSMetaClass {
    public:
        MetaClass();
        virtual OSObject *alloc() const APPLE_KEXT_OVERRIDE;
    } gMetaClass;
    virtual const OSMetaClass *getMetaClass() const APPLE_KEXT_OVERRIDE;

    virtual bool init();
    virtual void free();

    virtual void retain() const APPLE_KEXT_OVERRIDE;
    virtual void release() const APPLE_KEXT_OVERRIDE;
    virtual int getRetainCount() const APPLE_KEXT_OVERRIDE;

    static void *operator new(size_t size);
    static void operator delete(void *mem, size_t size);

protected:
    OSObject(const OSMetaClass *meta);
    virtual ~OSObject() APPLE_KEXT_OVERRIDE;

private:
    mutable int fRetainCount;
};

#endif
