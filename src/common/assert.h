/* stet assertions: always on (STYLE.md §6).
 *
 * STET_ASSERT(cond)   checked in every build; on failure prints file:line and the
 *                     expression, then aborts. Use for invariants and arguments.
 * STET_DASSERT(cond)  for costly checks; compiled only when STET_DEBUG_ASSERTS is set.
 * STET_UNREACHABLE()  marks code paths that must never run.
 */
#ifndef STET_ASSERT_H
#define STET_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

void stet_assert_fail(const char *expr, const char *file, int line, const char *func)
    __attribute__((noreturn));

#define STET_ASSERT(cond)                                                                   \
    do {                                                                                    \
        if (__builtin_expect(!(cond), 0)) stet_assert_fail(#cond, __FILE__, __LINE__, __func__); \
    } while (0)

#ifdef STET_DEBUG_ASSERTS
#define STET_DASSERT(cond) STET_ASSERT(cond)
#else
#define STET_DASSERT(cond) ((void)0)
#endif

#define STET_UNREACHABLE() stet_assert_fail("unreachable", __FILE__, __LINE__, __func__)

#define STET_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define STET_UNUSED(x) ((void)(x))

#endif
