"""Thin HTTP modules: parse, authorise, call a service, return a schema."""
