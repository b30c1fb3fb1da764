/*
 * libkern object model: OSMetaClass (class table, per-class instance counts), OSObject
 * (reference counting, zero-filled allocation), and the collection classes the shim reads.
 */
#include <libkern/c++/OSBoolean.h>
#include <libkern/c++/OSDictionary.h>
#include <libkern/c++/OSIterator.h>
#include <libkern/c++/OSNumber.h>
#include <libkern/c++/OSSerialize.h>
#include <libkern/c++/OSString.h>
#include <IOKit/IOMemoryDescriptor.h>
#include <kern/debug.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "sim.hpp"

/* ---- OSMetaClass ---- */

/* Constant-initialized, so classes may register from any static constructor. */
static const OSMetaClass *sClassList = nullptr;

OSMetaClass::OSMetaClass(const char *className, const OSMetaClass *superclass,
                         unsigned int classSize, const char *module)
    : fClassName(className), fSuperClass(superclass), fClassSize(classSize), fModule(module),
      fInstanceCount(0), fNext(sClassList)
{
    sClassList = this;
}

const OSMetaClass *OSMetaClass::xsimFirst() { return sClassList; }

unsigned int OSMetaClass::getInstanceCount() const
{
    return (unsigned int)__atomic_load_n(&fInstanceCount, __ATOMIC_SEQ_CST);
}

void OSMetaClass::instanceConstructed() const
{
    __atomic_add_fetch(&fInstanceCount, 1, __ATOMIC_SEQ_CST);
}

void OSMetaClass::instanceDestructed() const
{
    if (__atomic_sub_fetch(&fInstanceCount, 1, __ATOMIC_SEQ_CST) < 0) {
        xsim_violation("OSMetaClass: instance count of %s went negative", fClassName);
    }
}

const OSMetaClass *OSMetaClass::getMetaClassWithName(const char *name)
{
    for (const OSMetaClass *meta = sClassList; meta; meta = meta->fNext) {
        if (name && strcmp(meta->fClassName, name) == 0) {
            return meta;
        }
    }
    return nullptr;
}

/* A kext's classes are registered while its code is mapped (OSMetaClass::postModLoad at load,
 * removeClasses at unload). */
static bool classRegistered(const OSMetaClass *meta)
{
    const char *module = meta->xsimModule();
    return strcmp(module, "kernel") == 0 || xsim_module_mapped(xsim_module_named(module));
}

OSObject *OSMetaClass::allocClassWithName(const char *name)
{
    const OSMetaClass *meta = getMetaClassWithName(name);
    return meta && classRegistered(meta) ? meta->alloc() : nullptr;
}

/* retain/release are virtuals of the object's class: in a kext's code for a kext class. */
static void checkMapped(const OSObject *object, const char *what)
{
    const char *module = object->getMetaClass()->xsimModule();
    if (module[0] == 'k' && strcmp(module, "kernel") == 0) {
        return;
    }
    const xsim_module *m = xsim_module_named(module);
    if (m && !xsim_module_mapped(m)) {
        xsim_report(XSIM_VIOLATION_UNMAPPED_CALL, module, what, 0,
                    "%s of a %s: a virtual of a class of %s, whose code is unmapped (kernel panic)",
                    what, object->getMetaClass()->getClassName(), module);
    }
}

bool OSMetaClassBase::metaCast(const OSMetaClass *toMeta) const
{
    for (const OSMetaClass *meta = getMetaClass(); meta; meta = meta->getSuperClass()) {
        if (meta == toMeta) {
            return true;
        }
    }
    return false;
}

OSMetaClassBase *OSMetaClassBase::safeMetaCast(const OSMetaClassBase *anObject,
                                               const OSMetaClass *toMeta)
{
    if (!anObject || !anObject->metaCast(toMeta)) {
        return nullptr;
    }
    return const_cast<OSMetaClassBase *>(anObject);
}

/* ---- OSObject ---- */

const OSMetaClass *const OSObject::metaClass = &OSObject::gMetaClass;
OSObject::MetaClass OSObject::gMetaClass;
OSObject::MetaClass::MetaClass() : OSMetaClass("OSObject", nullptr, sizeof(OSObject), "kernel") {}
OSObject *OSObject::MetaClass::alloc() const { return nullptr; }
const OSMetaClass *OSObject::getMetaClass() const { return &gMetaClass; }

OSObject::OSObject(const OSMetaClass *) : fRetainCount(1) {}
OSObject::~OSObject() {}

/* xnu hands out zero-filled objects; drivers rely on it. */
void *OSObject::operator new(size_t size)
{
    void *mem = calloc(1, size);
    if (!mem) {
        panic("OSObject::operator new: out of memory");
    }
    return mem;
}

void OSObject::operator delete(void *mem, size_t) { ::free(mem); }

bool OSObject::init() { return true; }

void OSObject::free()
{
    getMetaClass()->instanceDestructed();
    delete this;
}

void OSObject::retain() const
{
    checkMapped(this, "retain()");
    if (__atomic_fetch_add(&fRetainCount, 1, __ATOMIC_SEQ_CST) <= 0) {
        xsim_violation("retain() of a freed %s", getMetaClass()->getClassName());
    }
}

void OSObject::release() const
{
    checkMapped(this, "release()");
    int before = __atomic_fetch_sub(&fRetainCount, 1, __ATOMIC_SEQ_CST);
    if (before <= 0) {
        xsim_violation("release() of a freed %s (over-release)", getMetaClass()->getClassName());
    }
    if (before == 1) {
        const_cast<OSObject *>(this)->free();
    }
}

int OSObject::getRetainCount() const { return __atomic_load_n(&fRetainCount, __ATOMIC_SEQ_CST); }

/* ---- OSIterator ---- */

OSDefineMetaClassAndAbstractStructors(OSIterator, OSObject)

/* ---- OSBoolean: two immortal singletons ---- */

OSDefineMetaClassAndStructors(OSBoolean, OSObject)

OSBoolean *OSBoolean::xsimMake(bool value)
{
    OSBoolean *b = new OSBoolean(&gMetaClass); /* not counted: immortal, like xnu's */
    b->fValue = value;
    return b;
}

static OSBoolean *sTrue = OSBoolean::xsimMake(true);
static OSBoolean *sFalse = OSBoolean::xsimMake(false);
OSBoolean *const &kOSBooleanTrue = sTrue;
OSBoolean *const &kOSBooleanFalse = sFalse;

OSBoolean *OSBoolean::withBoolean(bool value) { return value ? sTrue : sFalse; }
void OSBoolean::free() { xsim_violation("OSBoolean::free: the singletons are never freed"); }

/* ---- OSNumber ---- */

OSDefineMetaClassAndStructors(OSNumber, OSObject)

bool OSNumber::init(unsigned long long value, unsigned int numberOfBits)
{
    if (!OSObject::init() || numberOfBits == 0 || numberOfBits > 64) {
        return false;
    }
    fBits = numberOfBits;
    fValue = numberOfBits == 64 ? value : value & ((1ULL << numberOfBits) - 1);
    return true;
}

OSNumber *OSNumber::withNumber(unsigned long long value, unsigned int numberOfBits)
{
    OSNumber *number = new OSNumber;
    if (!number->init(value, numberOfBits)) {
        number->release();
        return nullptr;
    }
    return number;
}

/* ---- OSString ---- */

OSDefineMetaClassAndStructors(OSString, OSObject)

OSString *OSString::withCString(const char *cString)
{
    if (!cString) {
        return nullptr;
    }
    OSString *string = new OSString;
    string->fString = strdup(cString);
    return string;
}

unsigned int OSString::getLength() const { return (unsigned int)strlen(fString); }
bool OSString::isEqualTo(const char *cString) const { return cString && !strcmp(fString, cString); }

void OSString::free()
{
    ::free(fString);
    OSObject::free();
}

/* ---- OSDictionary ---- */

struct xsim_dictionary {
    std::map<std::string, const OSMetaClassBase *> entries;
};

OSDefineMetaClassAndStructors(OSDictionary, OSObject)

bool OSDictionary::initWithCapacity(unsigned int)
{
    if (!OSObject::init()) {
        return false;
    }
    fImpl = new xsim_dictionary;
    return true;
}

OSDictionary *OSDictionary::withCapacity(unsigned int capacity)
{
    OSDictionary *dict = new OSDictionary;
    if (!dict->initWithCapacity(capacity)) {
        dict->release();
        return nullptr;
    }
    return dict;
}

OSDictionary *OSDictionary::withDictionary(const OSDictionary *source, unsigned int capacity)
{
    OSDictionary *dict = withCapacity(capacity);
    if (dict && source) {
        for (auto &entry : source->fImpl->entries) {
            dict->setObject(entry.first.c_str(), entry.second);
        }
    }
    return dict;
}

bool OSDictionary::setObject(const char *aKey, const OSMetaClassBase *anObject)
{
    if (!aKey || !anObject) {
        return false;
    }
    anObject->retain();
    auto found = fImpl->entries.find(aKey);
    if (found != fImpl->entries.end()) {
        found->second->release();
        found->second = anObject;
    } else {
        fImpl->entries.emplace(aKey, anObject);
    }
    return true;
}

OSObject *OSDictionary::getObject(const char *aKey) const
{
    auto found = aKey ? fImpl->entries.find(aKey) : fImpl->entries.end();
    if (found == fImpl->entries.end()) {
        return nullptr;
    }
    return static_cast<OSObject *>(OSMetaClassBase::safeMetaCast(found->second, OSObject::metaClass));
}

void OSDictionary::removeObject(const char *aKey)
{
    auto found = aKey ? fImpl->entries.find(aKey) : fImpl->entries.end();
    if (found != fImpl->entries.end()) {
        found->second->release();
        fImpl->entries.erase(found);
    }
}

unsigned int OSDictionary::getCount() const { return (unsigned int)fImpl->entries.size(); }

void OSDictionary::free()
{
    if (fImpl) {
        for (auto &entry : fImpl->entries) {
            entry.second->release();
        }
        delete fImpl;
        fImpl = nullptr;
    }
    OSObject::free();
}

/* ---- OSSerialize: one line per value, "depth<TAB>kind<TAB>key<TAB>value" (keys and strings with
 * backslash, tab and newline escaped); kinds: s string, n number (bits:value), b boolean (0/1),
 * d dictionary (its values follow at depth + 1). ---- */

struct xsim_serialize {
    std::string text;
    unsigned depth = 0;
};

OSDefineMetaClassAndStructors(OSSerialize, OSObject)

OSSerialize *OSSerialize::binaryWithCapacity(unsigned int, Editor, void *)
{
    OSSerialize *s = new OSSerialize;
    if (!s->init()) {
        s->release();
        return nullptr;
    }
    s->fImpl = new xsim_serialize;
    return s;
}

const char *OSSerialize::text() const { return fImpl->text.c_str(); }
unsigned int OSSerialize::getLength() const { return (unsigned int)fImpl->text.size(); }

void OSSerialize::free()
{
    delete fImpl;
    fImpl = nullptr;
    OSObject::free();
}

static void serializeEscaped(std::string &out, const char *text)
{
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '\\': out += "\\\\"; break;
        case '\t': out += "\\t"; break;
        case '\n': out += "\\n"; break;
        default: out += *c;
        }
    }
}

static void serializeLine(xsim_serialize *s, const char *key, char kind, const std::string &value)
{
    s->text += std::to_string(s->depth);
    s->text += '\t';
    s->text += kind;
    s->text += '\t';
    serializeEscaped(s->text, key);
    s->text += '\t';
    s->text += value;
    s->text += '\n';
}

bool OSDictionary::serialize(OSSerialize *serializer) const
{
    xsim_serialize *s = serializer ? serializer->impl() : nullptr;
    if (!s) {
        return false;
    }
    for (auto &entry : fImpl->entries) {
        const char *key = entry.first.c_str();
        const OSMetaClassBase *value = entry.second;
        if (auto *dict = OSDynamicCast(OSDictionary, value)) {
            serializeLine(s, key, 'd', "");
            s->depth++;
            bool ok = dict->serialize(serializer);
            s->depth--;
            if (!ok) {
                return false;
            }
        } else if (auto *number = OSDynamicCast(OSNumber, value)) {
            serializeLine(s, key, 'n',
                          std::to_string(number->numberOfBits()) + ":" +
                              std::to_string(number->unsigned64BitValue()));
        } else if (auto *boolean = OSDynamicCast(OSBoolean, value)) {
            serializeLine(s, key, 'b', boolean->isTrue() ? "1" : "0");
        } else {
            /* OSString, and OSObject::serialize's "<class> is not serializable" for the rest. */
            auto *string = OSDynamicCast(OSString, value);
            std::string text;
            if (string) {
                serializeEscaped(text, string->getCStringNoCopy());
            } else {
                serializeEscaped(text, (std::string(value->getMetaClass()->getClassName()) +
                                        " is not serializable").c_str());
            }
            serializeLine(s, key, 's', text);
        }
    }
    return true;
}

/* ---- IOMemoryDescriptor: the out-of-line struct of an external method ---- */

OSDefineMetaClassAndStructors(IOMemoryDescriptor, OSObject)

IOMemoryDescriptor *IOMemoryDescriptor::xsimWithBytes(void *bytes, IOByteCount length)
{
    IOMemoryDescriptor *md = new IOMemoryDescriptor;
    md->fBytes = static_cast<unsigned char *>(bytes);
    md->fLength = length;
    return md;
}

IOByteCount IOMemoryDescriptor::readBytes(IOByteCount offset, void *bytes, IOByteCount withLength)
{
    if (offset >= fLength) {
        return 0;
    }
    IOByteCount n = withLength < fLength - offset ? withLength : fLength - offset;
    memcpy(bytes, fBytes + offset, n);
    return n;
}

IOByteCount IOMemoryDescriptor::writeBytes(IOByteCount offset, const void *bytes,
                                           IOByteCount withLength)
{
    if (offset >= fLength) {
        return 0;
    }
    IOByteCount n = withLength < fLength - offset ? withLength : fLength - offset;
    memcpy(fBytes + offset, bytes, n);
    return n;
}
