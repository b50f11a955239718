"""The test kit: one of each thing the suites, tools, demo and bench need to drive the function.

Local AWS stand-ins, in-process invokers, call recorders, console-made roles and
views of the roles as IAM reports them live here once; ``tests/``, ``tools/``
and ``bench/`` import them instead of writing their own.
"""
