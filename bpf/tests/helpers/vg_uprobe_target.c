// SPDX-License-Identifier: Apache-2.0
/*
 * Target of the generic uprobe tests: calls vg_uprobe_target(number, text) once with its argv, then exits 0.
 * The call also fires the USDT probe vigil:target(number, text) (a .note.stapsdt entry, systemtap-sdt-dev's
 * sys/sdt.h), for the USDT tests.
 * Usage: vg_uprobe_target <number> <text>
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

__attribute__((noinline, used)) int vg_uprobe_target(long number, const char *text)
{
	/* Keeps the call (and its args in registers) from being optimized away. */
	__asm__ volatile("" : : "r"(number), "r"(text) : "memory");
	DTRACE_PROBE2(vigil, target, number, text);
	return (int)(number & 0x7f);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <number> <text>\n", argv[0]);
		return 2;
	}
	vg_uprobe_target(strtol(argv[1], NULL, 0), argv[2]);
	return 0;
}
