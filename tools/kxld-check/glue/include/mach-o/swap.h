/*
 * RustKext kxld glue: Mach-O byte swapping (glue.c). A fat header is always big-endian, so the
 * two fat functions do real work on every little-endian host; the others run only when host and
 * target byte order differ, which never happens for x86_64 kexts on x86_64/arm64 hosts: the glue
 * refuses that case with a message instead of guessing at the relocation bit-field layout.
 */
#ifndef RUSTKEXT_MACH_O_SWAP_H
#define RUSTKEXT_MACH_O_SWAP_H
#include <stdint.h>
#include <mach-o/fat.h>
#include <mach-o/loader.h>
#include <mach-o/nlist.h>
#include <mach-o/reloc.h>
#include <architecture/byte_order.h>

void swap_fat_header(struct fat_header *h, enum NXByteOrder order);
void swap_fat_arch(struct fat_arch *a, uint32_t n, enum NXByteOrder order);
void swap_mach_header(struct mach_header *h, enum NXByteOrder order);
void swap_mach_header_64(struct mach_header_64 *h, enum NXByteOrder order);
void swap_load_command(struct load_command *c, enum NXByteOrder order);
void swap_segment_command(struct segment_command *c, enum NXByteOrder order);
void swap_segment_command_64(struct segment_command_64 *c, enum NXByteOrder order);
void swap_section(struct section *s, uint32_t n, enum NXByteOrder order);
void swap_section_64(struct section_64 *s, uint32_t n, enum NXByteOrder order);
void swap_symtab_command(struct symtab_command *c, enum NXByteOrder order);
void swap_nlist(struct nlist *s, uint32_t n, enum NXByteOrder order);
void swap_nlist_64(struct nlist_64 *s, uint32_t n, enum NXByteOrder order);
void swap_relocation_info(struct relocation_info *r, uint32_t n, enum NXByteOrder order);
#endif
