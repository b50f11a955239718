"""``python -m dms_prereq_cli``: the same as the ``dms-prereq-roles`` command."""

from dms_prereq_cli.main import run

run()
