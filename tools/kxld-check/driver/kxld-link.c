/*
 * kxld-link: links one kext with xnu's kext linker (libkern/kxld) the way the macOS 10.15
 * kernel does it in OSKext::loadExecutable (libkern/c++/OSKext.cpp): every library the kext
 * declares is a KXLDDependency whose `kext` is the kernel's Mach-O and whose `interface` is the
 * KPI pseudo-kext (System.kext/PlugIns/<Set>.kext/<Set>), all direct dependencies, and
 * kxld_link_file() is called once with them. The kernel file is mapped once and the same bytes
 * are passed for every dependency, as OSKext passes sKernelKext->linkedExecutable.
 *
 *   kxld-link --kernel FILE --interface BUNDLE_ID=FILE... --kext FILE --name BUNDLE_ID
 *             --address HEX --out FILE [--log-level N]
 *
 * Prints kxld's log lines (kxld_log in libkern/kxld/kxld_util.c formats them as
 * "kxld[<name>]: <message>") on stderr, writes the linked image (kxld's output buffer, laid out
 * as the kext will sit in memory at --address) to --out, and prints `kmod_info 0x...` and
 * `size 0x...` on stdout. Exit status: 0 linked, 1 kxld refused the kext, 2 usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kxld.h"

#define MAX_INTERFACES 64
#define X86_64_CPU_TYPE 0x01000007      /* CPU_TYPE_X86_64 */
#define X86_64_CPU_SUBTYPE_ALL 3        /* CPU_SUBTYPE_X86_64_ALL */

struct mapped {
	u_char *bytes;
	u_long size;
};

struct link_state {
	kxld_addr_t address;
	u_long vmsize;
};

static int log_level = kKxldLogBasic;

static void
usage(const char *why)
{
	fprintf(stderr, "kxld-link: %s\n"
	    "usage: kxld-link --kernel FILE --interface BUNDLE_ID=FILE... --kext FILE --name BUNDLE_ID\n"
	    "                 --address HEX --out FILE [--log-level 0-5]\n", why);
	exit(2);
}

/* kxld wants the files writable and private (kxld_link_file in libkern/libkern/kxld.h). */
static struct mapped
map_file(const char *path)
{
	struct mapped m = { NULL, 0 };
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		fprintf(stderr, "kxld-link: %s: %s\n", path, fd < 0 ? strerror(errno) : "empty or unreadable");
		exit(2);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "kxld-link: mmap %s: %s\n", path, strerror(errno));
		exit(2);
	}
	m.bytes = p;
	m.size = (u_long)st.st_size;
	return m;
}

/* KXLDAllocateCallback: the kext goes to the requested address. The kernel's kern_allocate
 * (OSKext.cpp) answers kKxldAllocateWritable because that address is memory kxld may write;
 * here it is not ours, so the flags stay kKxldAllocateDefault and kxld writes the same image
 * into a buffer of its own (allocate_kext in kxld.c), which is saved to --out. */
static kxld_addr_t
allocate(size_t size, KXLDAllocateFlags *flags, void *user_data)
{
	struct link_state *state = user_data;
	*flags = kKxldAllocateDefault;
	state->vmsize = size;
	return state->address;
}

static const char *
level_name(KXLDLogLevel level)
{
	switch (level) {
	case kKxldLogExplicit: return "explicit";
	case kKxldLogErr: return "error";
	case kKxldLogWarn: return "warning";
	case kKxldLogBasic: return "basic";
	case kKxldLogDetail: return "detail";
	default: return "debug";
	}
}

/* KXLDLoggingCallback: kxld's own messages, one per line, with their level. */
static void
log_line(KXLDLogSubsystem sys, KXLDLogLevel level, const char *format, va_list ap,
    void *user_data)
{
	(void)user_data;
	if ((int)level > log_level) {
		return;
	}
	fprintf(stderr, "%s %s: ", sys == kKxldLogPatching ? "patching" : "linking", level_name(level));
	vfprintf(stderr, format, ap);
	size_t n = strlen(format);
	if (n == 0 || format[n - 1] != '\n') {
		fputc('\n', stderr);
	}
}

int
main(int argc, char **argv)
{
	const char *kernel_path = NULL, *kext_path = NULL, *name = NULL, *out_path = NULL;
	const char *address_arg = NULL;
	char *iface_ids[MAX_INTERFACES];
	const char *iface_paths[MAX_INTERFACES];
	u_int ninterfaces = 0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (i + 1 >= argc) {
			usage("an option without its value");
		}
		const char *value = argv[++i];
		if (!strcmp(arg, "--kernel")) {
			kernel_path = value;
		} else if (!strcmp(arg, "--kext")) {
			kext_path = value;
		} else if (!strcmp(arg, "--name")) {
			name = value;
		} else if (!strcmp(arg, "--out")) {
			out_path = value;
		} else if (!strcmp(arg, "--address")) {
			address_arg = value;
		} else if (!strcmp(arg, "--log-level")) {
			log_level = atoi(value);
		} else if (!strcmp(arg, "--interface")) {
			const char *eq = strchr(value, '=');
			if (!eq || eq == value || !eq[1]) {
				usage("--interface wants BUNDLE_ID=FILE");
			}
			if (ninterfaces == MAX_INTERFACES) {
				usage("too many --interface options");
			}
			iface_ids[ninterfaces] = strndup(value, (size_t)(eq - value));
			iface_paths[ninterfaces] = eq + 1;
			ninterfaces++;
		} else {
			usage("unknown option");
		}
	}
	if (!kernel_path || !kext_path || !name || !out_path || !address_arg || !ninterfaces) {
		usage("--kernel, --interface, --kext, --name, --address and --out are required");
	}
	char *end = NULL;
	errno = 0;
	unsigned long long address = strtoull(address_arg, &end, 16);
	if (errno || !end || *end || address == 0 || (address & 0xfff)) {
		usage("--address must be a nonzero, page-aligned hex address");
	}

	struct mapped kernel = map_file(kernel_path);
	struct mapped kext = map_file(kext_path);
	KXLDDependency deps[MAX_INTERFACES];
	memset(deps, 0, sizeof(deps));
	for (u_int i = 0; i < ninterfaces; i++) {
		struct mapped iface = map_file(iface_paths[i]);
		deps[i].kext = kernel.bytes;          /* the same bytes for every KPI, as in OSKext */
		deps[i].kext_size = kernel.size;
		deps[i].kext_name = (char *)"__kernel__";
		deps[i].interface = iface.bytes;
		deps[i].interface_size = iface.size;
		deps[i].interface_name = iface_ids[i];
		deps[i].is_direct_dependency = TRUE;
	}

	struct link_state state = { (kxld_addr_t)address, 0 };
	KXLDContext *context = NULL;
	/* Flags 0, as OSKext creates sKxldContext: no relocation entries kept in the output. */
	kern_return_t kr = kxld_create_context(&context, allocate, log_line, kKxldFlagDefault,
	    X86_64_CPU_TYPE, X86_64_CPU_SUBTYPE_ALL, 4096);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "kxld-link: kxld_create_context failed (%d)\n", kr);
		return 2;
	}

	u_char *linked = NULL;
	kxld_addr_t kmod_info = 0;
	kr = kxld_link_file(context, kext.bytes, kext.size, name, &state, deps, ninterfaces,
	    &linked, &kmod_info);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "kxld-link: kxld_link_file failed (kern_return_t %d): the kernel would "
		    "log \"Can't load kext %s - link failed.\"\n", kr, name);
		kxld_destroy_context(context);
		return 1;
	}

	FILE *out = fopen(out_path, "wb");
	if (!out || fwrite(linked, 1, state.vmsize, out) != state.vmsize || fclose(out) != 0) {
		fprintf(stderr, "kxld-link: writing %s failed\n", out_path);
		return 2;
	}
	printf("kmod_info 0x%llx\nsize 0x%lx\n", (unsigned long long)kmod_info, state.vmsize);
	free(linked);
	kxld_destroy_context(context);
	return 0;
}
