"""Helpers for calling the management API as a persona."""

from tests.accounts.test_scoping import api


def api_client(client, user):
    return api(client, user)
