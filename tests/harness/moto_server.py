#!/usr/bin/env python3
"""Starts moto's server with stackplan's extensions installed.

Usage: moto_server.py [-H 127.0.0.1] [-p PORT]   (moto's own server flags)

The extensions patch moto's backends, URL tables and response classes in
this process before the server builds its per-service Flask apps, so every
request, extended or not, goes through moto's normal dispatch.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_ext  # noqa: E402  (needs the path above)
from moto.server import main  # noqa: E402

if __name__ == "__main__":
    moto_ext.install()
    main()
