"""`python -m search_app serve|query ...`"""

import sys

from indexer.config import Settings
from indexer.machine import restart_with_malloc_huge_pages

restart_with_malloc_huge_pages(Settings.from_env())  # once, before any work (README "Speed")

from search_app.cli import main  # noqa: E402 - after the restart: nothing loaded twice

sys.exit(main())
