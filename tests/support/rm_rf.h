/*
 * rm_rf: removes a test's temporary directory tree (what `rm -rf` does), best effort.
 * Shared by the unit tests and fuzz targets that keep state files in a mkdtemp dir.
 */
#ifndef HOSTESS_TESTS_SUPPORT_RM_RF_H
#define HOSTESS_TESTS_SUPPORT_RM_RF_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    chmod(path, 0700); /* a test may have left it read-only */
    d = opendir(path);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char child[PATH_MAX];

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            int n = snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
            if (n < 0 || (size_t)n >= sizeof(child))
                continue; /* cannot name it: leave it rather than remove something else */
            rm_rf(child);
        }
        closedir(d);
    }
    rmdir(path);
}

#endif
