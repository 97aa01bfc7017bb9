import os
import sys

from workbench.cli import main

code = main()
if code == 130:
    # Ctrl-C, handled: the verb has said what it kept. Leave with 130 at once: once (a CI run under load) the
    # interpreter's own shutdown after that message ended the process by SIGINT instead (Popen's -2), which
    # os._exit cannot do; there is nothing left to clean up (caches are written atomically, bars closed).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
raise SystemExit(code)
