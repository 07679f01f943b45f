/* Is every byte of p[:n] in base64's alphabet (A-Z a-z 0-9 + /)?  Used by hotgate.pyx's usual-layout proof.
 *
 * Branch-free range checks the C compiler vectorizes; on x86-64 with glibc it is compiled twice (AVX2 and the
 * baseline SSE2) and the loader picks the one the CPU runs (GCC's target_clones). A frame's audio is ~1.3 KB,
 * so this loop is the hot path's largest per-frame cost after the system calls. */
#ifndef VG_B64_ALPHABET_H
#define VG_B64_ALPHABET_H

#include <limits.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
__attribute__((target_clones("avx2", "default")))
#endif
static int vg_b64_alphabet(const unsigned char *p, ptrdiff_t n)
{
    unsigned char bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        /* (c | 0x20) folds A-Z onto a-z and maps nothing else into a-z */
        bad |= ((unsigned char)((c | 0x20) - 97) >= 26) & ((unsigned char)(c - 48) >= 10) & (c != 43) & (c != 47);
    }
    return !bad;
}

#endif
