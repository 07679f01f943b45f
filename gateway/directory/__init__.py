"""The session directory: which sessions run on which replica, and ending one from any replica."""
