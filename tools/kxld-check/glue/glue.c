/*
 * RustKext kxld glue (our own code): the BSD/Darwin functions user-space kxld calls that glibc
 * does not have. Declarations are in include/ (darwin_glue.h, mach-o/arch.h, mach-o/swap.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mach-o/arch.h>
#include <mach-o/swap.h>

#include "darwin_glue.h"

/* glibc 2.38 added strlcpy/strlcat; before that they are ours (BSD semantics: always
 * NUL-terminate when size > 0, return the length of the string that was meant). */
#if !(defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 38)))
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

size_t
strlcat(char *dst, const char *src, size_t size)
{
	size_t dlen = strnlen(dst, size);
	if (dlen == size) {
		return size + strlen(src);
	}
	return dlen + strlcpy(dst + dlen, src, size - dlen);
}
#endif

/* kxld asks for the host's byte order (get_target_machine_info in kxld_object.c). */
const NXArchInfo *
NXGetLocalArchInfo(void)
{
#if defined(__x86_64__)
	static const NXArchInfo host = { "x86_64", CPU_TYPE_X86_64, CPU_SUBTYPE_X86_64_ALL,
		                         NX_LittleEndian, "Intel x86-64" };
#elif defined(__aarch64__)
	static const NXArchInfo host = { "arm64", CPU_TYPE_ARM64, CPU_SUBTYPE_ARM64_ALL,
		                         NX_LittleEndian, "ARM64" };
#else
#error "kxld glue: add this host architecture to NXGetLocalArchInfo"
#endif
	return &host;
}

/* The slice kxld links (get_macho_slice_for_arch): the exact cpu subtype (capability bits
 * masked) if present, else the first slice of the cpu type. fat_archs are already host order. */
struct fat_arch *
NXFindBestFatArch(cpu_type_t cputype, cpu_subtype_t cpusubtype, struct fat_arch *archs,
    uint32_t n)
{
	struct fat_arch *any = NULL;
	for (uint32_t i = 0; i < n; i++) {
		if (archs[i].cputype != cputype) {
			continue;
		}
		if ((archs[i].cpusubtype & ~CPU_SUBTYPE_MASK) == (cpusubtype & ~CPU_SUBTYPE_MASK)) {
			return &archs[i];
		}
		if (!any) {
			any = &archs[i];
		}
	}
	return any;
}

static void
swap_words(void *p, size_t bytes)
{
	uint32_t *w = p;
	for (size_t i = 0; i < bytes / 4; i++) {
		w[i] = __builtin_bswap32(w[i]);
	}
}

/* Fat headers are big-endian on disk: kxld swaps them on every little-endian host. */
void
swap_fat_header(struct fat_header *h, enum NXByteOrder order __unused)
{
	swap_words(h, sizeof(*h));
}

void
swap_fat_arch(struct fat_arch *a, uint32_t n, enum NXByteOrder order __unused)
{
	swap_words(a, (size_t)n * sizeof(*a)); /* five 32-bit fields */
}

/* Only reached when the Mach-O's byte order differs from the host's (kxld_util.c
 * validate_and_swap_macho_*, kxld_object.c unswap): never for x86_64 on x86_64/arm64. */
static void
cross_endian(const char *what)
{
	fprintf(stderr, "kxld glue: %s: a Mach-O of the other byte order than this host is not "
	    "supported by this build of kxld\n", what);
	exit(70);
}

#define CROSS_ENDIAN(fn, ...) \
	void fn(__VA_ARGS__) { cross_endian(#fn); }
CROSS_ENDIAN(swap_mach_header, struct mach_header *h __unused, enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_mach_header_64, struct mach_header_64 *h __unused, enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_load_command, struct load_command *c __unused, enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_segment_command, struct segment_command *c __unused, enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_segment_command_64, struct segment_command_64 *c __unused,
    enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_section, struct section *s __unused, uint32_t n __unused,
    enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_section_64, struct section_64 *s __unused, uint32_t n __unused,
    enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_symtab_command, struct symtab_command *c __unused, enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_nlist, struct nlist *s __unused, uint32_t n __unused, enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_nlist_64, struct nlist_64 *s __unused, uint32_t n __unused,
    enum NXByteOrder o __unused)
CROSS_ENDIAN(swap_relocation_info, struct relocation_info *r __unused, uint32_t n __unused,
    enum NXByteOrder o __unused)
