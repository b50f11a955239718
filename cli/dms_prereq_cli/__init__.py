"""dms-prereq-roles: the operator's tool for the IAM roles AWS DMS needs.

It reads (and, for ``prune --apply``, releases) the claims that
Custom::DmsPrerequisiteRoles keeps on each role, using the handler's own
catalogue and claim/release code from :mod:`dms_prereq`. It lives in its own
package so that it is never shipped in the Lambda artifact (``handler/``).
"""

from dms_prereq import __version__

__all__ = ["__version__"]
