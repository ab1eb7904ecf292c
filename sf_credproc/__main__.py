"""``python -m sf_credproc``: the same as the ``sf-credproc`` console script."""

from .launch import main

raise SystemExit(main())
