/* RustKext kxld glue: the two NXArchInfo functions user-space kxld calls (glue.c). */
#ifndef RUSTKEXT_MACH_O_ARCH_H
#define RUSTKEXT_MACH_O_ARCH_H
#include <stdint.h>
#include <mach/machine.h>
#include <mach-o/fat.h>
#include <architecture/byte_order.h>

typedef struct {
	const char *name;
	cpu_type_t cputype;
	cpu_subtype_t cpusubtype;
	enum NXByteOrder byteorder;
	const char *description;
} NXArchInfo;

/* The architecture this process runs on. */
const NXArchInfo *NXGetLocalArchInfo(void);
/* The slice of a fat file for cputype/cpusubtype: exact subtype first, then any of the cputype. */
struct fat_arch *NXFindBestFatArch(cpu_type_t cputype, cpu_subtype_t cpusubtype,
    struct fat_arch *fat_archs, uint32_t nfat_archs);
#endif
