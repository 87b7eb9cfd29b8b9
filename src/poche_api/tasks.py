"""Imports every module that registers jobs, so a worker knows them all."""

from poche_api import maintenance

__all__ = ["maintenance"]
