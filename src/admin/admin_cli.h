/* SPDX-License-Identifier: Apache-2.0 */
/* admin_cli.h - `cxlflash status`, `cxlflash lun mode`, `cxlflash vlun list`:
 * requests to a running cxlflashd; and `cxlflash powercut` (powercut_cli.c),
 * which works on a LUN file directly. */
#ifndef CXLFLASH_ADMIN_CLI_H
#define CXLFLASH_ADMIN_CLI_H

int admin_status_main(int argc, char **argv);
int admin_lun_main(int argc, char **argv);
int admin_vlun_main(int argc, char **argv);
int admin_powercut_main(int argc, char **argv);

#endif
