"""``python -m central`` is ``retail-central``."""

from central.cli import main

if __name__ == "__main__":
    main()
