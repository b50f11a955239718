"""Proving suites (issue 4): faults, histories, races, bad input, least privilege, clean logs."""
