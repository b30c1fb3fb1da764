/*
 * RustKext kxld glue: the kmod_info layouts kxld fills in (populate_kmod_info in
 * libkern/kxld/kxld_object.c writes address, size and hdr_size). Same field order and types as
 * the Darwin ABI's kmod_info_32_v1 / kmod_info_64_v1 (KMOD_MAX_NAME = 64), and, like every kmod
 * structure, 4-byte packed (#pragma pack(4) in xnu's osfmk/mach/kmod.h): in the 64-bit layout
 * reference_list_addr follows reference_count with no padding, so address is at 156.
 */
#ifndef RUSTKEXT_MACH_KMOD_H
#define RUSTKEXT_MACH_KMOD_H
#include <stdint.h>

#define KMOD_MAX_NAME 64

typedef struct kmod_info kmod_info_t; /* only ever used through the v1 layouts below */

#pragma pack(push, 4)

typedef struct kmod_info_32_v1 {
	uint32_t next_addr;
	int32_t  info_version;
	uint32_t id;
	uint8_t  name[KMOD_MAX_NAME];
	uint8_t  version[KMOD_MAX_NAME];
	int32_t  reference_count;
	uint32_t reference_list_addr;
	uint32_t address;
	uint32_t size;
	uint32_t hdr_size;
	uint32_t start_addr;
	uint32_t stop_addr;
} kmod_info_32_v1_t;

typedef struct kmod_info_64_v1 {
	uint64_t next_addr;
	int32_t  info_version;
	uint32_t id;
	uint8_t  name[KMOD_MAX_NAME];
	uint8_t  version[KMOD_MAX_NAME];
	int32_t  reference_count;
	uint64_t reference_list_addr;
	uint64_t address;
	uint64_t size;
	uint64_t hdr_size;
	uint64_t start_addr;
	uint64_t stop_addr;
} kmod_info_64_v1_t;
#pragma pack(pop)

#include <stddef.h>
_Static_assert(offsetof(kmod_info_64_v1_t, address) == 156 && sizeof(kmod_info_64_v1_t) == 196,
    "kmod_info_64_v1 layout");
_Static_assert(offsetof(kmod_info_32_v1_t, address) == 148 && sizeof(kmod_info_32_v1_t) == 168,
    "kmod_info_32_v1 layout");
#endif
