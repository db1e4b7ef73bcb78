/*
 * Prints strerror(3)'s text for errno 0..ERRNO_MAX, one a line, in the C locale:
 * native/build/strerror.txt, from which the TypeScript side words a failed call as a C
 * tool would without loading libc through koffi (src/sys/libc.ts).
 */
#include <stdio.h>
#include <string.h>

#define ERRNO_MAX 133

int main(void)
{
	for (int e = 0; e <= ERRNO_MAX; e++)
		puts(strerror(e));
	return 0;
}
