/* Prints the version and configuration it was built with; the Makefile defines both. */
#include <stdio.h>

#if !defined(VERSION) || !defined(CONFIG)
#error "build with make, which defines VERSION and CONFIG"
#endif

int main(void) {
  printf("hello-c %s (%s build)\n", VERSION, CONFIG);
  return 0;
}
