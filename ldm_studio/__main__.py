import sys

from ldm_studio.cli import main

sys.exit(main())
