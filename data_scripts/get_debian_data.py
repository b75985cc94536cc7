"""Get the offline profile's Debian data (and espeak-ng): the same as ``python -m fusemix_lite.data.install``.

    python data_scripts/get_debian_data.py [--dest DIR] [--unpack] [--packages PKG ...] [--no-speech]
"""

import sys
from pathlib import Path

try:  # from a clone of the repository without ``pip install -e .``
    import fusemix_lite  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusemix_lite.data.install import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
