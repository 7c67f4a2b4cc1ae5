import sys

from lab.runner import main

sys.exit(main())
