/* Replays the committed fuzz corpus through the fuzz harness's entry point, so every build (and
 * every CI run, under ASan+UBSan too) checks the decoder against the inputs fuzzing found and the
 * seeds, without needing clang's libFuzzer. The harness aborts on any broken invariant.
 * Usage: replay_corpus DIR... (every regular file below each DIR, one level deep or flat). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    size_t got = buf ? fread(buf, 1, (size_t)(len > 0 ? len : 0), f) : 0;
    fclose(f);
    if (!buf || got != (size_t)(len > 0 ? len : 0)) {
        fprintf(stderr, "%s: read failed\n", path);
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 0;
}

static int replay_dir(const char *dir, int depth, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth > 0)
            rc |= replay_dir(path, depth - 1, count);
        else if (S_ISREG(st.st_mode) && replay_file(path) == 0)
            (*count)++;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= replay_dir(argv[i], 1, &count);
    if (count == 0) {
        fprintf(stderr, "replay_corpus: no input found\n");
        return 1;
    }
    printf("replayed %zu corpus inputs through the fuzz harness: no broken invariant\n",
           count);
    return rc ? 1 : 0;
}
