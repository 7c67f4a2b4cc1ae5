import sys

from kernels.runner import main

sys.exit(main())
