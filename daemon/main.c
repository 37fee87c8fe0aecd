/* placeholder while the daemon is written; replaced in the next commit */
#include <stdio.h>
int main(void) { fputs("spectrad: not built yet\n", stderr); return 1; }
