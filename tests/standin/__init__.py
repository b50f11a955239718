"""Proofs that the stand-ins in ``testkit`` behave as the AWS services they replace."""
