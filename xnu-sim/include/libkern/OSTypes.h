/* xnu-sim look-alike of <libkern/OSTypes.h>. */
#ifndef XNU_SIM_LIBKERN_OSTYPES_H
#define XNU_SIM_LIBKERN_OSTYPES_H

#include <stdint.h>

typedef uint8_t UInt8;
typedef uint16_t UInt16;
typedef uint32_t UInt32;
typedef unsigned long long UInt64;
typedef int8_t SInt8;
typedef int16_t SInt16;
typedef int32_t SInt32;
typedef long long SInt64;
typedef unsigned char Boolean;

#endif
