"""dms-prereq-roles: the operator's tool for the IAM roles AWS DMS needs.

It reads the three roles and the claims Custom::DmsPrerequisiteRoles keeps on
them, and runs the function's own sweep (``prune``; a dry run in ``status``)
with the handler's code from :mod:`dms_prereq`. It lives in its own package so
that it is never shipped in the Lambda artifact (``handler/``).
"""

from dms_prereq import __version__

__all__ = ["__version__"]
