/* RustKext kxld glue: libkern's byte-swap macros, on the compiler's builtins. */
#ifndef RUSTKEXT_LIBKERN_OSBYTEORDER_H
#define RUSTKEXT_LIBKERN_OSBYTEORDER_H
#include <stdint.h>

#define OSSwapInt16(x) ((uint16_t)__builtin_bswap16((uint16_t)(x)))
#define OSSwapInt32(x) ((uint32_t)__builtin_bswap32((uint32_t)(x)))
#define OSSwapInt64(x) ((uint64_t)__builtin_bswap64((uint64_t)(x)))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define OSSwapHostToBigInt16(x)    OSSwapInt16(x)
#define OSSwapHostToBigInt32(x)    OSSwapInt32(x)
#define OSSwapHostToBigInt64(x)    OSSwapInt64(x)
#define OSSwapHostToLittleInt16(x) ((uint16_t)(x))
#define OSSwapHostToLittleInt32(x) ((uint32_t)(x))
#define OSSwapHostToLittleInt64(x) ((uint64_t)(x))
#else
#define OSSwapHostToBigInt16(x)    ((uint16_t)(x))
#define OSSwapHostToBigInt32(x)    ((uint32_t)(x))
#define OSSwapHostToBigInt64(x)    ((uint64_t)(x))
#define OSSwapHostToLittleInt16(x) OSSwapInt16(x)
#define OSSwapHostToLittleInt32(x) OSSwapInt32(x)
#define OSSwapHostToLittleInt64(x) OSSwapInt64(x)
#endif
#define OSSwapBigToHostInt16(x)    OSSwapHostToBigInt16(x)
#define OSSwapBigToHostInt32(x)    OSSwapHostToBigInt32(x)
#define OSSwapBigToHostInt64(x)    OSSwapHostToBigInt64(x)
#define OSSwapLittleToHostInt16(x) OSSwapHostToLittleInt16(x)
#define OSSwapLittleToHostInt32(x) OSSwapHostToLittleInt32(x)
#define OSSwapLittleToHostInt64(x) OSSwapHostToLittleInt64(x)
#endif
