"""`python -m search_app serve|query ...`"""

import sys

from search_app.cli import main

sys.exit(main())
