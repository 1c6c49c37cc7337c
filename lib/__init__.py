"""The project's small library: generic pieces that every app may use and that import no app.

Array literals (``pgarrays``) and the ``field__any`` lookup (``lookups``, registered when Django
starts, see ``apps``), advisory-lock keys (``locks``), dates, paging, CSV exports, masking of
personal values, the management API's error shape and JSON parser (``api``, ``jsonbody``), the
JSON error pages under /api/ and /sdk/ (``errors``), and the client address (``clientaddr``).

Import rule (enforced by ``tests/test_import_rules.py``): nothing here imports ``accounts``,
``sms``, ``push`` or ``pushconsole``.
"""
