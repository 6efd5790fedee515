"""Service facilities and coverage analysis. Built in issue 7."""
