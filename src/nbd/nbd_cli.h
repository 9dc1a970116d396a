/* SPDX-License-Identifier: Apache-2.0 */
/* nbd_cli.h - `cxlflash nbd`: serve one LUN over NBD in the foreground. */
#ifndef CXLFLASH_NBD_CLI_H
#define CXLFLASH_NBD_CLI_H

/* @argv[0] is "nbd". Return: the exit status (0, 1 on failure, 2 on usage). */
int nbd_cli_main(int argc, char **argv);

#endif
