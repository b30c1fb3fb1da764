/*
 * xnu-sim look-alike of <libkern/c++/OSSerialize.h>: what a serialization collects. xnu writes
 * XML or its binary format for the user task to rebuild as CF objects; the model writes one line
 * per value (registry.cpp), which the simulator's user side (xnu_sim::Kernel) reads back.
 */
#ifndef XNU_SIM_LIBKERN_OSSERIALIZE_H
#define XNU_SIM_LIBKERN_OSSERIALIZE_H

#include <libkern/c++/OSObject.h>

struct xsim_serialize;

class OSSerialize : public OSObject {
    OSDeclareDefaultStructors(OSSerialize)

public:
    typedef void *Editor;
    /* is_io_registry_entry_get_properties_bin_buf's: binaryWithCapacity(4096, editor, editRef). */
    static OSSerialize *binaryWithCapacity(unsigned int capacity, Editor editor = 0, void *reference = 0);
    void free() APPLE_KEXT_OVERRIDE;

    /* The model's: the text collected so far. */
    const char *text() const;
    unsigned int getLength() const;
    xsim_serialize *impl() const { return fImpl; }

private:
    xsim_serialize *fImpl;
};

#endif
