"""Mastra's own clients (Studio, ``@mastra/client-js``, ``mastra api``) against our server.

The Node side is ``package.json`` here (npm packages pinned, installed into
``node_modules/`` by :func:`tests.studio.harness.node_bin` when missing); the Python
side, shared by ``tests/test_studio_*.py``, is :mod:`tests.studio.harness`.
"""
