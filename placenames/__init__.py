"""Standard place names (地名): registry, romanization, naming rules, approvals. Built in issue 4."""
