/*
 * The Kernel.framework headers macos-kext-sys is generated from when real headers are found
 * (build.rs adds -I<Kernel.framework/Headers>). include/kpi.h declares the same items.
 */
#include <mach/kern_return.h>
#include <mach/message.h>
#include <mach/mach_time.h>
#include <kern/clock.h>
#include <kern/thread.h>
#include <IOKit/IOReturn.h>
#include <IOKit/IOLib.h>
#include <IOKit/IOLocks.h>
#include <kern/debug.h>
#include <kern/locks.h>
#include <libkern/OSReturn.h>
#include <libkern/OSKextLib.h>
#include <sys/kauth.h>
