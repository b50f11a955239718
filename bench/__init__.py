"""Benchmarks of the Custom::DmsPrerequisiteRoles function: ``make bench`` runs :mod:`bench.run`."""
