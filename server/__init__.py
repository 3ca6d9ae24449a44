"""The network front of kvstore: HTTP parsing, X-Amz-Target routing, serving.

``server.http`` holds the asyncio Protocol (bytes on the wire),
``server.app`` the glue from request bytes to ``kvstore.api.dispatch`` and
the listener, ``server.cli`` the ``kvstore`` command.  Data semantics live
in ``kvstore``, which never imports this package.
"""
