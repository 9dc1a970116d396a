#!/usr/bin/env bash
# The end of `make run`: what the output above shows and where to go next.
cat <<'TXT'
== what to look at
  superpipe-demo  steps 4-6: I/O through each context's own queues (no system
                  call per I/O), the afu_rc codes the AFU answers a tenant that
                  strays, and a freed chunk read back as zeroes by the next one
  blockio         iops and lat (us) of the block library on RAM and on the file;
                  a "disturbed run" warning means other busy processes shared
                  the CPUs, and the numbers understate the machine
  cxlflash status the daemon's LUN, the two clients' contexts and their vLUNs
next: README.md (the model), docs/daemon.md (cxlflashd), docs/block-library.md,
      make test (every test, normally and under ASan+UBSan)
TXT
