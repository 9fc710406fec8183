/*
 * path.h - the directory part of a file name, for the checks that look at
 * where a file goes (a key file to be made, the milter's socket) rather
 * than at the file itself.
 *
 * Pure string work, unlike dirname(3) it never writes into its argument.
 */
#ifndef MSSANTE_PATH_H
#define MSSANTE_PATH_H

#include <stddef.h>

/* The directory of PATH into BUF (SIZE bytes): "." when PATH has no
 * slash, "/" for a file at the root; cut to fit BUF. */
void path_dir(const char *path, char *buf, size_t size);

#endif
