/* venuegw — shared bits of the libFuzzer targets in tests/fuzz/.
 *
 * Each target defines LLVMFuzzerTestOneInput.  Built with clang it links
 * libFuzzer (-fsanitize=fuzzer); built with any other compiler it links
 * replay_main.c, which runs every file of the seed corpus through it. */
#ifndef VG_FUZZ_H
#define VG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test.  On violation say which one, then
 * trap: libFuzzer (and the replay runner) report it as a crash and keep the
 * input. */
#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: invariant violated: %s\n",      \
			        __FILE__, __LINE__, #cond);                     \
			__builtin_trap();                                       \
		}                                                               \
	} while (0)

#endif
