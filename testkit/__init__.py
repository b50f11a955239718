"""The test kit: one of each thing the suites, tools, demo and bench need to drive the function.

Local AWS stand-ins, in-process invokers, call recorders, console-made roles and
views of the roles as IAM reports them live here once; ``tests/``, ``tools/``
and ``bench/`` import them instead of writing their own:

* ``local_aws``: moto_server (IAM) and the HTTPS CloudFormation stand-in;
* ``stack``: requests from events/*.json, played as a stack's lifecycle;
* ``invoke``: the function's entry point called in this process, or a fresh one;
* ``calls``: the IAM calls a boto3 client makes; ``evidence``: a session's
  calls and log lines, for the least-privilege and clean-log checks;
* ``console``: roles made by hand, and an empty account again;
* ``views``: the roles as IAM reports them.
"""

#: The account and region every local stand-in plays (moto's default account). Here, not in
#: local_aws.py, so that modules measured alone (testkit.invoke in a cold bench process) can
#: name them without importing the stand-ins.
ACCOUNT = "123456789012"
REGION = "us-east-1"
