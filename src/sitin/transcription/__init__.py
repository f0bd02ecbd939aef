"""Speech-to-text providers behind one interface (base.py); build one with factory.py. The package
imports nothing itself: what only names the shared model (the context) does not load numpy."""
