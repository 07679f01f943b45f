"""The static live-sessions page served at /admin/ui (package data)."""
