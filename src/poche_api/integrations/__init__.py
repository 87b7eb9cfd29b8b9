"""Clients of the partners we call: each validates what it receives and degrades on failure."""
