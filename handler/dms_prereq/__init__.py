"""dms-prerequisite-roles: the IAM roles AWS DMS needs, shared safely between stacks."""

__version__ = "2.0.0"
