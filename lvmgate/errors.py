"""Errors that the CLI turns into one clear line and an exit code."""

from __future__ import annotations


class LvmgateError(Exception):
    """Base class for every error lvmgate raises on purpose."""

    exit_code = 1


class InputError(LvmgateError):
    """Bad input from the user (file, flag, URL, dataset name): exit code 2, nothing changed."""

    exit_code = 2


class StoreError(InputError):
    """A store cannot be opened, reached or read as asked."""


class MissingWeightsError(InputError):
    """Model weights needed offline are not on this machine; the message says how to get them."""
