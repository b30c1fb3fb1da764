/*
 * xnu-sim look-alike of <libkern/c++/OSMetaClass.h>: run-time type information, per-class
 * instance counts (as OSMetaClass keeps them) and the structor macros.
 *
 * Each class records the module that defined it (XNU_SIM_MODULE, set per translation unit by
 * build.rs: the kernel's own classes are "kernel"), which is how the simulator knows which
 * classes belong to a kext, as OSKext does from the kext being loaded.
 */
#ifndef XNU_SIM_LIBKERN_OSMETACLASS_H
#define XNU_SIM_LIBKERN_OSMETACLASS_H

#include <stddef.h>

#include <libkern/OSTypes.h>
#include <libkern/OSReturn.h>

#ifndef XNU_SIM_MODULE
#define XNU_SIM_MODULE "kernel"
#endif

#define APPLE_KEXT_OVERRIDE override

class OSObject;
class OSMetaClass;

class OSMetaClassBase {
public:
    virtual const OSMetaClass *getMetaClass() const = 0;
    virtual void retain() const = 0;
    virtual void release() const = 0;
    virtual int getRetainCount() const = 0;

    bool metaCast(const OSMetaClass *toMeta) const;
    static OSMetaClassBase *safeMetaCast(const OSMetaClassBase *anObject, const OSMetaClass *toMeta);

protected:
    OSMetaClassBase() {}
    virtual ~OSMetaClassBase() {}

private:
    OSMetaClassBase(const OSMetaClassBase &) = delete;
    void operator=(const OSMetaClassBase &) = delete;
};

class OSMetaClass {
public:
    OSMetaClass(const char *className, const OSMetaClass *superclass, unsigned int classSize,
                const char *module);
    virtual ~OSMetaClass() {}

    virtual OSObject *alloc() const = 0;

    const char *getClassName() const { return fClassName; }
    const OSMetaClass *getSuperClass() const { return fSuperClass; }
    unsigned int getClassSize() const { return fClassSize; }
    /* Live instances of exactly this class. */
    unsigned int getInstanceCount() const;
    void instanceConstructed() const;
    void instanceDestructed() const;

    static OSObject *allocClassWithName(const char *name);
    static const OSMetaClass *getMetaClassWithName(const char *name);

    /* Simulator only: the module that defined the class, and the walk over all classes. */
    const char *xsimModule() const { return fModule; }
    const OSMetaClass *xsimNext() const { return fNext; }
    static const OSMetaClass *xsimFirst();

private:
    const char *fClassName;
    const OSMetaClass *fSuperClass;
    unsigned int fClassSize;
    const char *fModule;
    mutable int fInstanceCount;
    const OSMetaClass *fNext;
};

#define OSTypeID(type) (type::metaClass)
#define OSTypeAlloc(type) ((type *)((type::metaClass)->alloc()))
#define OSDynamicCast(type, inst) ((type *)OSMetaClassBase::safeMetaCast((inst), OSTypeID(type)))
#define OSSafeReleaseNULL(inst) \
    do {                        \
        if (inst) {             \
            (inst)->release();  \
        }                       \
        (inst) = NULL;          \
    } while (0)

#define OSDeclareCommonStructors(className)                                 \
private:                                                                    \
    static const OSMetaClass *const superClass;                             \
                                                                            \
public:                                                                     \
    static const OSMetaClass *const metaClass;                              \
    static class MetaClass : public OSMetaClass {                           \
    public:                                                                 \
        MetaClass();                                                        \
        virtual OSObject *alloc() const APPLE_KEXT_OVERRIDE;                \
    } gMetaClass;                                                           \
    friend class className ::MetaClass;                                     \
    virtual const OSMetaClass *getMetaClass() const APPLE_KEXT_OVERRIDE;    \
                                                                            \
protected:                                                                  \
    className(const OSMetaClass *);                                         \
    virtual ~className() APPLE_KEXT_OVERRIDE

#define OSDeclareDefaultStructors(className) \
    OSDeclareCommonStructors(className);     \
                                             \
public:                                      \
    className(void);                         \
                                             \
private:

#define OSDeclareAbstractStructors(className) \
    OSDeclareCommonStructors(className);      \
                                              \
private:                                      \
    className(void);                          \
                                              \
private:

#define OSDefineMetaClassWithInit(className, superclassName, module)                       \
    const OSMetaClass *const className ::metaClass = &className ::gMetaClass;              \
    const OSMetaClass *const className ::superClass = &superclassName ::gMetaClass;        \
    className ::MetaClass className ::gMetaClass;                                          \
    className ::MetaClass::MetaClass()                                                     \
        : OSMetaClass(#className, &superclassName ::gMetaClass, sizeof(className), module) \
    {                                                                                      \
    }                                                                                      \
    const OSMetaClass *className ::getMetaClass() const { return &gMetaClass; }

#define OSDefineDefaultStructors(className, superclassName)                        \
    OSObject *className ::MetaClass::alloc() const { return new className; }       \
    className ::className(void) : superclassName(&gMetaClass)                      \
    {                                                                              \
        gMetaClass.instanceConstructed();                                          \
    }                                                                              \
    className ::className(const OSMetaClass *meta) : superclassName(meta) {}       \
    className ::~className() {}

#define OSDefineAbstractStructors(className, superclassName)                        \
    OSObject *className ::MetaClass::alloc() const { return NULL; }                 \
    className ::className(const OSMetaClass *meta) : superclassName(meta) {}        \
    className ::~className() {}

#define OSDefineMetaClassAndStructors(className, superclassName)           \
    OSDefineMetaClassWithInit(className, superclassName, XNU_SIM_MODULE) \
    OSDefineDefaultStructors(className, superclassName)

#define OSDefineMetaClassAndAbstractStructors(className, superclassName)  \
    OSDefineMetaClassWithInit(className, superclassName, XNU_SIM_MODULE) \
    OSDefineAbstractStructors(className, superclassName)

#endif
